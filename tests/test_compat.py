"""PyTorch names that real scripts use (issue 10, section 1), mirrored against PyTorch."""

from __future__ import annotations

import pytest

import chainrule as cr

torch = pytest.importorskip("torch")
LIBS = (cr, torch)


def test_variable_returns_a_tensor():
    for lib in LIBS:
        x = lib.autograd.Variable(lib.ones(2), requires_grad=True)
        assert type(x) is lib.Tensor and x.requires_grad
        assert isinstance(lib.ones(1), lib.autograd.Variable)
        (x * 3).sum().backward()
        assert x.grad.tolist() == [3.0, 3.0]


@pytest.mark.parametrize("name", ["FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor",
                                  "IntTensor", "ShortTensor", "CharTensor", "ByteTensor",
                                  "BoolTensor"])
def test_legacy_typed_constructors_and_isinstance(name):
    ours, theirs = getattr(cr, name), getattr(torch, name)
    for args in [(2, 3), ([1, 0, 1],), ([[1, 2], [3, 4]],), ()]:
        a, b = ours(*args), theirs(*args)
        assert tuple(a.shape) == tuple(b.shape)
        assert str(a.dtype) == str(b.dtype)
        if args and not isinstance(args[0], int):
            assert a.tolist() == b.tolist()
        assert isinstance(a, ours) and isinstance(b, theirs)
    assert not isinstance(cr.zeros(1, dtype=cr.float64 if name != "DoubleTensor"
                                   else cr.float32), ours)


def test_default_device_and_cuda_flags():
    for lib in LIBS:
        assert str(lib.get_default_device()) == "cpu"
        assert lib.backends.mps.is_available() is False
        lib.backends.cudnn.benchmark = True
        assert lib.backends.cudnn.benchmark is True
        lib.backends.cudnn.benchmark = False
        lib.backends.cudnn.deterministic = False
        assert lib.jit.is_scripting() is False
    assert cr.distributed.is_available() is False  # PyTorch's CPU build has gloo
    if not cr.cuda.is_available():
        for lib in LIBS:
            lib.set_default_device("cuda")
            try:
                with pytest.raises(AssertionError, match="not compiled with CUDA"):
                    lib.zeros(2)
            finally:
                lib.set_default_device(None)
    assert cr.zeros(1).device == cr.device("cpu")


def test_threads_determinism_and_rng_state():
    n = torch.get_num_threads()
    for lib in LIBS:
        lib.set_num_threads(1)
        assert lib.get_num_threads() == 1
        with pytest.raises(RuntimeError):
            lib.set_num_threads(0)
        lib.use_deterministic_algorithms(True)
        assert lib.are_deterministic_algorithms_enabled()
        lib.use_deterministic_algorithms(False)
        state = lib.random.get_rng_state()
        a = lib.rand(3)
        lib.random.set_rng_state(state)
        assert lib.equal(a, lib.rand(3))
    torch.set_num_threads(n)


def test_jit_decorators_pass_through_and_onnx_is_one_clear_error():
    @cr.jit.ignore
    def f(x):
        return x + 1
    assert f(1) == 2 and cr.jit.unused(f) is f
    with pytest.raises(RuntimeError, match="TorchScript"):
        cr.jit.script(f)
    with pytest.raises(ImportError, match="ONNX"):
        import chainrule.onnx  # noqa: F401
    with pytest.raises(RuntimeError, match="distributed"):
        cr.distributed.init_process_group("gloo")
