"""The Tensor surface: creation, dtypes and promotion, attributes, printing.

Scripts take the library module and run on both ``cr`` and real ``torch``
(see ``assert_mirrors`` in conftest.py); values, dtypes and exception types
must agree.
"""

import itertools
import operator

import numpy as np
import pytest
from conftest import (
    TESTING_TORCH,
    Raised,
    assert_mirrors,
    assert_same,
    dtype_name,
    outcome,
    to_np,
)

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64",
          "float16", "float32", "float64"]
NUMPY_DTYPES = {name: np.dtype(name) for name in DTYPES}


# ----------------------------------------------------------------- creation


CREATIONS = {
    "tensor_floats": lambda lib: lib.tensor([[1.0, 2.0], [3.0, 4.0]]),
    "tensor_ints": lambda lib: lib.tensor([1, 2, 3]),
    "tensor_bools": lambda lib: lib.tensor([True, False]),
    "tensor_mixed": lambda lib: lib.tensor([1, 2.5]),
    "tensor_scalar": lambda lib: lib.tensor(3),
    "tensor_empty": lambda lib: lib.tensor([]),
    "tensor_dtype": lambda lib: lib.tensor([1, 2], dtype=lib.float64),
    "tensor_ndarray": lambda lib: lib.tensor(np.array([1.0, 2.0])),
    "tensor_int32_ndarray": lambda lib: lib.tensor(
        np.array([1, 2], dtype=np.int32)),
    "as_tensor_list": lambda lib: lib.as_tensor([1, 2]),
    "as_tensor_dtype": lambda lib: lib.as_tensor([1, 2], dtype=lib.float32),
    "zeros_args": lambda lib: lib.zeros(2, 3),
    "zeros_tuple": lambda lib: lib.zeros((2, 3)),
    "zeros_list": lambda lib: lib.zeros([2, 3], dtype=lib.int64),
    "ones": lambda lib: lib.ones(3, dtype=lib.int32),
    "ones_0d": lambda lib: lib.ones(()),
    "full_float": lambda lib: lib.full((2, 2), 1.5),
    "full_int": lambda lib: lib.full((2,), 7),
    "full_bool": lambda lib: lib.full((2,), True),
    "full_dtype": lambda lib: lib.full((2,), 7, dtype=lib.float64),
    "zeros_like": lambda lib: lib.zeros_like(lib.tensor([1, 2])),
    "ones_like": lambda lib: lib.ones_like(lib.tensor([1.0, 2.0])),
    "ones_like_dtype": lambda lib: lib.ones_like(lib.tensor([1, 2]),
                                                 dtype=lib.float32),
    "full_like": lambda lib: lib.full_like(lib.tensor([1, 2]), 3.7),
    "arange_stop": lambda lib: lib.arange(5),
    "arange_float_stop": lambda lib: lib.arange(5.0),
    "arange_start_stop": lambda lib: lib.arange(1, 4),
    "arange_step": lambda lib: lib.arange(0, 5, 2),
    "arange_float_step": lambda lib: lib.arange(0, 1, 0.25),
    "linspace": lambda lib: lib.linspace(0, 1, 5),
    "eye": lambda lib: lib.eye(3),
    "eye_rect": lambda lib: lib.eye(2, 3),
}


@pytest.mark.parametrize("name", sorted(CREATIONS))
def test_creation(cr, torch, name):
    def script(lib):
        t = CREATIONS[name](lib)
        return t, tuple(t.shape), t.requires_grad, t.is_leaf

    assert_mirrors(script, cr, torch)


def test_creation_with_requires_grad(cr, torch):
    def script(lib):
        made = [lib.tensor([1.0, 2.0], requires_grad=True),
                lib.zeros(2, requires_grad=True),
                lib.ones(2, requires_grad=True),
                lib.full((2,), 3.0, requires_grad=True),
                lib.arange(3.0, requires_grad=True)]
        return [(t.requires_grad, t.is_leaf, t.grad_fn is None, t.grad)
                for t in made]

    assert_mirrors(script, cr, torch)


def test_empty_has_shape_and_dtype(cr, torch):
    def script(lib):
        return [(tuple(t.shape), dtype_name(t.dtype))
                for t in (lib.empty(2, 3), lib.empty((4,), dtype=lib.int64))]

    assert_mirrors(script, cr, torch)


@pytest.mark.parametrize("dtype", DTYPES)
def test_from_numpy_keeps_dtype(cr, torch, dtype):
    def script(lib):
        return lib.from_numpy(np.array([1, 0, 1], dtype=NUMPY_DTYPES[dtype]))

    assert_mirrors(script, cr, torch)


def test_as_tensor_shares_memory_with_matching_array(cr, torch):
    def script(lib):
        source = np.array([1.0, 2.0], dtype=np.float32)
        t = lib.as_tensor(source)
        source[0] = 9.0
        return t

    assert_mirrors(script, cr, torch)


def test_random_creation(cr, torch):
    def script(lib):
        draws = {"rand": lib.rand(2, 3), "randn": lib.randn(4, 5),
                 "rand64": lib.rand(3, dtype=lib.float64),
                 "randint": lib.randint(0, 10, (50,)),
                 "randint_high": lib.randint(5, (3,)),
                 "randint_int32": lib.randint(0, 3, (2,), dtype=lib.int32)}
        return {k: (tuple(t.shape), dtype_name(t.dtype))
                for k, t in draws.items()}

    assert_mirrors(script, cr, torch)


def test_random_ranges_and_manual_seed(cr):
    cr.manual_seed(0)
    first = [to_np(cr.rand(1000)), to_np(cr.randn(10_000)),
             to_np(cr.randint(3, 7, (1000,)))]
    cr.manual_seed(0)
    second = [to_np(cr.rand(1000)), to_np(cr.randn(10_000)),
              to_np(cr.randint(3, 7, (1000,)))]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    uniform, normal, ints = first
    assert uniform.min() >= 0.0 and uniform.max() < 1.0
    assert abs(normal.mean()) < 0.1 and 0.9 < normal.std() < 1.1
    assert set(np.unique(ints)) == {3, 4, 5, 6}
    cr.manual_seed(1)
    assert not np.array_equal(to_np(cr.rand(1000)), uniform)


# ------------------------------------------------------------------- dtypes


def test_dtype_objects(cr, torch):
    def script(lib):
        dtypes = [getattr(lib, name) for name in DTYPES]
        return [(dtype_name(d), d.is_floating_point,
                 dtype_name(lib.tensor([1, 0], dtype=d).dtype),
                 lib.tensor([1, 0], dtype=d).dtype == d)
                for d in dtypes]

    assert_mirrors(script, cr, torch)


def test_dtype_aliases(cr, torch):
    def script(lib):
        return [dtype_name(getattr(lib, alias))
                for alias in ("half", "float", "double", "short", "int",
                              "long")]

    assert_mirrors(script, cr, torch)


def test_default_dtype(cr, torch, restore_default_dtype):
    def script(lib):
        seen = [dtype_name(lib.get_default_dtype())]
        lib.set_default_dtype(lib.float64)
        try:
            seen += [dtype_name(t.dtype) for t in (
                lib.tensor([1.5]), lib.zeros(2), lib.ones(2), lib.rand(2),
                lib.arange(3.0), lib.linspace(0, 1, 3), lib.tensor([1]),
                lib.tensor([1]) / lib.tensor([2]), lib.tensor([1]) * 1.5)]
            seen.append(dtype_name(lib.get_default_dtype()))
        finally:
            lib.set_default_dtype(lib.float32)
        seen.append(dtype_name(lib.tensor([1.5]).dtype))
        return seen

    assert assert_mirrors(script, cr, torch)[:2] == ["float32", "float64"]


# ---------------------------------------------------------- type promotion


OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
       "truediv": operator.truediv, "floordiv": operator.floordiv}

SCALARS = {"int": 2, "float": 2.5, "bool": True}


def operand(lib, kind):
    """A tensor ``dims:<dtype>`` / ``0d:<dtype>``, or a Python scalar."""
    if kind in SCALARS:
        return SCALARS[kind]
    rank, dtype = kind.split(":")
    value = True if dtype == "bool" else 2
    data = [value, value] if rank == "dims" else value
    return lib.tensor(data, dtype=getattr(lib, dtype))


def binary_script(op, left, right):
    return lambda lib: OPS[op](operand(lib, left), operand(lib, right))


DIMS = ["dims:" + d for d in DTYPES]
ZERO_D = ["0d:" + d for d in DTYPES]
PAIRINGS = {
    "dims_dims": (DIMS, DIMS),
    "dims_0d": (DIMS, ZERO_D),
    "0d_dims": (ZERO_D, DIMS),
    "0d_0d": (ZERO_D, ZERO_D),
    "dims_scalar": (DIMS, list(SCALARS)),
    "scalar_dims": (list(SCALARS), DIMS),
    "0d_scalar": (ZERO_D, list(SCALARS)),
}


@pytest.mark.parametrize("pairing", sorted(PAIRINGS))
@pytest.mark.parametrize("op", sorted(OPS))
def test_type_promotion_matches_torch(cr, torch, op, pairing):
    left_kinds, right_kinds = PAIRINGS[pairing]
    mismatches = []
    for left, right in itertools.product(left_kinds, right_kinds):
        script = binary_script(op, left, right)
        try:
            assert_same(outcome(script, cr), outcome(script, torch))
        except AssertionError as error:
            mismatches.append(f"{left} {op} {right}: {error}")
    assert not mismatches, "\n".join(mismatches)


def test_int_true_division_gives_default_float(cr, torch):
    def script(lib):
        return (lib.tensor([1, 2]) / lib.tensor([2, 2]), lib.tensor(3) / 2,
                lib.tensor([True]) / lib.tensor([True]))

    ours = assert_mirrors(script, cr, torch)
    assert [r[1] for r in ours] == ["float32"] * 3


# --------------------------------------------------------------- attributes


def test_shape_and_size(cr, torch):
    def script(lib):
        t = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        size = t.size()
        scalar = lib.tensor(2.0)
        return (tuple(t.shape), tuple(size), t.size(1), t.size(-1), t.dim(),
                t.ndim, t.numel(), scalar.dim(), scalar.numel(),
                t.shape == (2, 3), size == t.shape, t.shape[0],
                type(size).__name__, isinstance(size, tuple), repr(size),
                str(size), repr(lib.Size([2, 3])), lib.Size([2, 3]) == (2, 3),
                tuple(t.shape[1:]), type(t.shape[1:]).__name__)

    assert_mirrors(script, cr, torch)


def test_basic_attributes(cr, torch):
    def script(lib):
        t = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        return (dtype_name(t.dtype), str(t.device), t.device.type,
                t.requires_grad, t.grad, t.grad_fn, t.is_leaf,
                x.requires_grad, x.is_leaf, y.requires_grad, y.is_leaf,
                type(y.grad_fn).__name__, t.is_floating_point(),
                lib.tensor([1]).is_floating_point())

    assert_mirrors(script, cr, torch)


def test_transposes_and_data(cr, torch):
    def script(lib):
        t = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        batch = lib.arange(24.0).reshape(2, 3, 4)
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        return (t.T, t.mT, batch.mT, x.data, x.data.requires_grad,
                x.data.is_leaf)

    assert_mirrors(script, cr, torch)


def test_python_conversions(cr, torch):
    def script(lib):
        t = lib.tensor([[1.0, 2.0], [3.0, 4.0]])
        return (lib.tensor(3.5).item(), lib.tensor([7]).item(),
                lib.tensor(True).item(), lib.tensor([[2]]).item(),
                t.tolist(), lib.tensor(1.5).tolist(),
                lib.tensor([1, 2]).tolist(),
                lib.tensor([True]).tolist(), t.numpy(), np.asarray(t),
                np.asarray(t).dtype == np.float32, len(t), [row for row in t],
                [v for v in lib.tensor([5, 6])])

    assert_mirrors(script, cr, torch)


def test_asarray_of_tensor_requiring_grad_raises(cr, torch):
    def script(lib):
        np.asarray(lib.tensor([1.0], requires_grad=True))

    assert isinstance(assert_mirrors(script, cr, torch), Raised)


SCALAR_CONVERSIONS = {
    "bool_zero": lambda lib: bool(lib.tensor([0.0])),
    "bool_0d": lambda lib: bool(lib.tensor(2)),
    "bool_many": lambda lib: bool(lib.tensor([1, 2])),
    "bool_empty": lambda lib: bool(lib.tensor([])),
    "float_int": lambda lib: float(lib.tensor(2)),
    "float_many": lambda lib: float(lib.tensor([1.0, 2.0])),
    "int_nested": lambda lib: int(lib.tensor([[3.7]])),
    "int_negative": lambda lib: int(lib.tensor(-3.7)),
    "index_int": lambda lib: operator.index(lib.tensor(2)),
    "index_float": lambda lib: operator.index(lib.tensor(2.0)),
    "index_list": lambda lib: [10, 20, 30][lib.tensor(1)],
    "range": lambda lib: list(range(lib.tensor(3))),
    "len_0d": lambda lib: len(lib.tensor(2.0)),
    "len_2d": lambda lib: len(lib.tensor([[1, 2, 3]])),
    "iter_0d": lambda lib: list(lib.tensor(2.0)),
    "if_requires_grad": lambda lib: bool(lib.tensor(1.0, requires_grad=True)),
}


@pytest.mark.parametrize("name", sorted(SCALAR_CONVERSIONS))
def test_scalar_conversion_rules(cr, torch, name):
    assert_mirrors(SCALAR_CONVERSIONS[name], cr, torch)


COMPARISONS = {"lt": operator.lt, "le": operator.le, "gt": operator.gt,
               "ge": operator.ge, "eq": operator.eq, "ne": operator.ne}


@pytest.mark.parametrize("op", sorted(COMPARISONS))
def test_comparisons_give_bool_tensors_off_the_graph(cr, torch, op):
    def script(lib):
        a = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b = lib.tensor([2.0, 2.0, 2.0])
        return [(r, r.requires_grad, r.grad_fn is None)
                for r in (COMPARISONS[op](a, b), COMPARISONS[op](a, 2),
                          COMPARISONS[op](a * 1, b))]

    assert_mirrors(script, cr, torch)


def test_logical_ops_on_bool_tensors(cr, torch):
    def script(lib):
        p = lib.tensor([True, True, False, False])
        q = lib.tensor([True, False, True, False])
        return p & q, p | q, p ^ q, ~p, (lib.tensor([1.0, 3.0]) > 2).float()

    assert_mirrors(script, cr, torch)


def test_dtype_conversions(cr, torch):
    def script(lib):
        t = lib.tensor([1.7, -2.2])
        return (t.to(lib.float64), t.float(), t.double(), t.long(), t.int(),
                t.half(), t.bool(), t.to(dtype=lib.int16),
                lib.tensor([1, 2]).float())

    assert_mirrors(script, cr, torch)


def test_to_dtype_is_differentiable(cr, torch):
    def script(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x.to(lib.float64)
        (y * y).sum().backward()
        return y.requires_grad, dtype_name(y.dtype), x.grad

    assert_mirrors(script, cr, torch)


def test_clone_and_contiguous(cr, torch):
    def script(lib):
        x = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        c = x.clone()
        (c * lib.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
        t = lib.tensor([[1.0, 2.0], [3.0, 4.0]])
        copy = t.clone()
        copy.add_(10)
        transposed = t.T
        made_contiguous = transposed.contiguous()
        return (c.requires_grad, c.is_leaf, x.grad, t, copy,
                t.is_contiguous(), transposed.is_contiguous(),
                made_contiguous, made_contiguous.is_contiguous(),
                t.contiguous() is t)

    assert_mirrors(script, cr, torch)


# ------------------------------------------------------------------ devices


def test_cpu_device(cr, torch):
    def script(lib):
        t = lib.ones(2)
        cpu = lib.device("cpu")
        made = [lib.zeros(2, device="cpu"),
                lib.tensor([1.0], device=cpu),
                lib.ones(2, device=cpu)]
        return (str(cpu), cpu.type, cpu == t.device, repr(cpu),
                [str(m.device) for m in made], t.to("cpu") is t,
                t.to(cpu) is t, t.cpu() is t, t.to(lib.float32) is t,
                t.to("cpu"), lib.cuda.is_available())

    assert assert_mirrors(script, cr, torch)[-1] is False


@pytest.mark.parametrize("request_cuda", [
    lambda cr: cr.zeros(2, device="cuda"),
    lambda cr: cr.tensor([1.0], device="cuda"),
    lambda cr: cr.ones(2).to("cuda"),
    lambda cr: cr.ones(2).cuda(),
    lambda cr: cr.ones(2).to(cr.device("cuda", 0)),
], ids=["zeros", "tensor", "to", "cuda", "device_object"])
def test_asking_for_cuda_without_a_gpu_raises_as_pytorch_cpu_build(request_cuda):
    """Without CuPy and a GPU, "cuda" fails as PyTorch's CPU-only build does."""
    import chainrule
    if chainrule.cuda.is_available():
        pytest.skip("this machine has a GPU and CuPy: cuda works here")
    torch = pytest.importorskip("torch")
    for lib in (chainrule, torch):
        with pytest.raises(AssertionError, match="not compiled with CUDA enabled"):
            request_cuda(lib)


@pytest.mark.chainrule_only
def test_complex_data_is_refused(cr):
    with pytest.raises((TypeError, RuntimeError)):
        cr.tensor([1 + 2j])


# ----------------------------------------------------------------- printing


REPRS = {
    "float": lambda lib: lib.tensor([1.0, 2.0]),
    "int_2d": lambda lib: lib.tensor([[1, 2]]),
    "scalar": lambda lib: lib.tensor(3.5),
    "int_scalar": lambda lib: lib.tensor(3),
    "bool": lambda lib: lib.tensor([True, False]),
    "bool_scalar": lambda lib: lib.tensor(True),
    "empty": lambda lib: lib.tensor([]),
    "requires_grad": lambda lib: lib.tensor([1.0, 2.0], requires_grad=True),
    "grad_fn": lambda lib: lib.tensor([1.0, 2.0], requires_grad=True) * 2,
    "float64": lambda lib: lib.tensor([1.0, 2.0], dtype=lib.float64),
    "float64_grad_fn": lambda lib: lib.tensor(
        [1.0, 2.0], dtype=lib.float64, requires_grad=True) * 2,
    "int32": lambda lib: lib.tensor([1, 2], dtype=lib.int32),
    "uint8": lambda lib: lib.tensor([1, 2], dtype=lib.uint8),
    "float16": lambda lib: lib.tensor([1.5, 2.0], dtype=lib.float16),
    "fractions": lambda lib: lib.tensor([-1.5, 2.25]),
    "aligned_2d": lambda lib: lib.tensor([[1.0, -2.0], [30.0, 4.0]]),
    "wide_range": lambda lib: lib.tensor([0.1, 100.0]),
}


@pytest.mark.parametrize("name", sorted(REPRS))
def test_repr_matches_torch(cr, torch, name):
    def script(lib):
        t = REPRS[name](lib)
        return repr(t), str(t)

    assert_mirrors(script, cr, torch)


def test_repr_examples_literal(cr):
    # The strings a user copies from a PyTorch transcript, "torch." included.
    assert repr(cr.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(cr.tensor([[1, 2]])) == "tensor([[1, 2]])"
    assert repr(cr.tensor(3.5)) == "tensor(3.5000)"
    assert repr(cr.tensor([1.0, 2.0], dtype=cr.float64)) == (
        "tensor([1., 2.], dtype=torch.float64)")
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward0>)"
    assert repr(cr.ones(2, 3).size()) == "torch.Size([2, 3])"
    if not TESTING_TORCH:
        assert repr(cr.tensor([1, 2], requires_grad=True)) == (
            "tensor([1, 2], requires_grad=True)")


def test_pin_memory_without_a_gpu_raises_as_pytorch_cpu_build():
    import chainrule
    if chainrule.cuda.is_available():
        pytest.skip("this machine has a GPU and CuPy: tests/test_cuda.py pins memory")
    torch = pytest.importorskip("torch")
    for lib in (chainrule, torch):
        t = lib.ones(3)
        assert t.is_pinned() is False
        with pytest.raises(RuntimeError, match="Cannot access accelerator device when none "
                                               "is available"):
            t.pin_memory()
