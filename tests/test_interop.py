"""Interop a NumPy user expects: DLPack both ways, NumPy ufuncs on tensors, and
``func.functional_call`` / ``func.stack_module_state``, checked against torch."""

import warnings

import numpy as np
import pytest
from conftest import assert_mirrors, assert_same, outcome, to_np

# ------------------------------------------------------------------------- DLPack


def test_from_dlpack_numpy_shares_memory(cr):
    a = np.arange(4.0)
    t = cr.from_dlpack(a)
    assert isinstance(t, cr.Tensor) and t.dtype == cr.float64
    t[0] = 10.0
    assert a[0] == 10.0
    a[1] = 20.0
    assert t[1].item() == 20.0


def test_numpy_from_dlpack_of_tensor_shares_memory(cr):
    t = cr.arange(4.0)
    a = np.from_dlpack(t)
    a[2] = -1.0
    assert t[2].item() == -1.0
    t[3] = 7.0
    assert a[3] == 7.0


def test_torch_from_dlpack_of_tensor_shares_memory(cr, torch):
    t = cr.arange(6.0).reshape(2, 3)
    u = torch.from_dlpack(t)
    assert u.dtype == torch.float32 and tuple(u.shape) == (2, 3)
    u[0, 1] = 9.0
    assert t[0, 1].item() == 9.0
    t[1, 2] = 5.0
    assert u[1, 2].item() == 5.0


def test_from_dlpack_of_torch_tensor_shares_memory(cr, torch):
    u = torch.arange(3, dtype=torch.int64)
    t = cr.from_dlpack(u)
    assert t.dtype == cr.int64
    t[0] = 42
    assert u[0].item() == 42


def test_from_dlpack_of_a_view_and_of_a_tensor(cr, torch):
    base = cr.arange(10.0).reshape(2, 5)
    v = base[:, 1::2]  # non-contiguous
    np.testing.assert_array_equal(torch.from_dlpack(v).numpy(), to_np(v))
    w = cr.from_dlpack(v)
    np.testing.assert_array_equal(to_np(w), to_np(v))
    w[0, 0] = 100.0
    assert base[0, 1].item() == 100.0


def test_capsule_round_trip(cr, torch):
    t = cr.arange(3.0)
    back = cr.utils.dlpack.from_dlpack(cr.utils.dlpack.to_dlpack(t))
    back[0] = 8.0
    assert t[0].item() == 8.0
    # a chainrule capsule into torch, and a torch capsule into chainrule
    u = torch.utils.dlpack.from_dlpack(cr.utils.dlpack.to_dlpack(t))
    np.testing.assert_array_equal(u.numpy(), to_np(t))
    s = torch.arange(2.0)
    np.testing.assert_array_equal(to_np(cr.utils.dlpack.from_dlpack(
        torch.utils.dlpack.to_dlpack(s))), s.numpy())


def test_from_dlpack_copy_and_device_as_torch(cr, torch):
    for lib in (cr, torch):
        a = np.arange(3.0)
        c = lib.from_dlpack(a, copy=True)
        c[0] = 9.0
        assert a[0] == 0.0  # a copy
        d = lib.from_dlpack(a, device="cpu")
        d[1] = 5.0
        assert a[1] == 5.0  # already there: shared
        u = lib.arange(3.0)
        e = np.from_dlpack(u, copy=True)
        e[2] = -1.0
        assert u[2].item() == 2.0
        s = np.from_dlpack(lib.utils.dlpack.from_dlpack(u.__dlpack__(stream=None)))
        s[0] = 4.0
        assert u[0].item() == 4.0


def test_dlpack_device_matches_torch(cr, torch):
    ours = cr.ones(2).__dlpack_device__()
    theirs = torch.ones(2).__dlpack_device__()
    assert tuple(int(x) for x in ours) == tuple(int(x) for x in theirs)
    assert type(ours[0]).__name__ == type(theirs[0]).__name__ == "DLDeviceType"


def test_to_dlpack_exports_tensors_that_require_grad_as_torch(cr, torch):
    for lib in (cr, torch):
        t = lib.ones(3, requires_grad=True)
        u = torch.utils.dlpack.from_dlpack(lib.utils.dlpack.to_dlpack(t))
        np.testing.assert_array_equal(u.numpy(), np.ones(3, np.float32))


@pytest.mark.parametrize("how", ["method", "from_dlpack", "numpy"])
def test_dlpack_refuses_tensors_that_require_grad(cr, torch, how):
    def script(lib):
        t = lib.ones(3, requires_grad=True) * 2
        if how == "method":
            return t.__dlpack__()
        if how == "from_dlpack":
            return lib.from_dlpack(t)
        return np.from_dlpack(t)
    ours = outcome(script, cr)
    theirs = outcome(script, torch)
    assert ours.type is theirs.type is BufferError
    assert ours.message == theirs.message


def test_dlpack_junk_matches_torch(cr, torch):
    for junk in (3, "x", [1.0, 2.0], None):
        assert_mirrors(lambda lib, junk=junk: lib.from_dlpack(junk), cr, torch)
    assert_mirrors(lambda lib: lib.utils.dlpack.to_dlpack(np.ones(2)), cr, torch)


@pytest.mark.chainrule_only
def test_dlpack_on_array_api_strict_delegates(cr):
    xs = pytest.importorskip("array_api_strict")
    t = cr.as_tensor(xs.asarray([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(np.from_dlpack(t), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(to_np(cr.from_dlpack(xs.asarray([4.0, 5.0]))), [4.0, 5.0])


@pytest.mark.chainrule_only
def test_dlpack_on_dask_is_a_clear_error(cr):
    da = pytest.importorskip("dask.array")
    t = cr.as_tensor(da.from_array(np.arange(4.0), chunks=2))
    with pytest.raises(BufferError, match="Dask.*compute"):
        t.__dlpack__()
    with pytest.raises(BufferError, match="compute"):
        np.from_dlpack(t)


# ------------------------------------------------------------------- NumPy ufuncs

UNARY = ["sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
         "arcsinh", "arctanh", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p",
         "sqrt", "square", "reciprocal", "sign", "floor", "ceil", "trunc", "rint",
         "absolute", "fabs", "negative", "positive", "deg2rad", "rad2deg", "cbrt"]
BINARY = ["add", "subtract", "multiply", "divide", "true_divide", "power", "maximum",
          "minimum", "fmax", "fmin", "arctan2", "hypot", "copysign", "logaddexp",
          "fmod", "remainder", "floor_divide", "float_power"]
PREDICATES = ["isnan", "isinf", "isfinite", "signbit"]
COMPARISONS = ["less", "less_equal", "greater", "greater_equal", "equal", "not_equal"]

X = np.array([0.3, 0.5, 0.7, 0.9], np.float32)
Y = np.array([0.6, -0.4, 0.2, 1.5], np.float32)


def _torch_op(torch, name):
    """The torch function equal to the ufunc ``name`` (for reference gradients)."""
    from chainrule._ufuncs import _FUNCTIONS, _OPERATORS
    if name in _OPERATORS:
        return _OPERATORS[name]
    return getattr(torch, _FUNCTIONS[name])


def _has_op(cr, name):
    from chainrule._ufuncs import _FUNCTIONS, _OPERATORS
    return name in _OPERATORS or getattr(cr, _FUNCTIONS.get(name, "-"), None) is not None


@pytest.mark.parametrize("name", UNARY + BINARY)
def test_ufunc_values_match_torch(cr, torch, name):
    uf = getattr(np, name)
    args = (X,) if uf.nin == 1 else (X, Y)
    assert_mirrors(lambda lib: uf(*(lib.tensor(a) for a in args)), cr, torch)
    if uf.nin == 2:  # an ndarray or a NumPy scalar on one side
        assert_mirrors(lambda lib: uf(lib.tensor(X), np.float32(0.5)), cr, torch)


@pytest.mark.chainrule_only
@pytest.mark.parametrize("name", UNARY + BINARY)
def test_ufunc_keeps_the_graph(cr, torch, name):
    """Where chainrule has the op, ``np.<ufunc>(t)`` is that op: a Tensor with a
    grad_fn whose gradient is torch's.  Otherwise it behaves as torch: RuntimeError
    for a tensor that requires grad."""
    uf = getattr(np, name)
    arrays = (X,) if uf.nin == 1 else (X, Y)
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    if not _has_op(cr, name):
        with pytest.raises(RuntimeError, match="requires grad"):
            uf(*xs)
        with pytest.raises(RuntimeError, match="requires grad"):
            uf(*[torch.tensor(a, requires_grad=True) for a in arrays])
        return
    out = uf(*xs)
    assert isinstance(out, cr.Tensor) and out.requires_grad
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    ref = _torch_op(torch, name)(*ts)
    np.testing.assert_allclose(to_np(out), to_np(ref), rtol=1e-5, atol=1e-6)
    if not ref.requires_grad or name == "floor_divide":  # piecewise constant: torch
        return  # gives no grad_fn, or none for floor_divide
    out.sum().backward()
    ref.sum().backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(to_np(x.grad), to_np(t.grad), rtol=1e-5, atol=1e-6)


@pytest.mark.chainrule_only
@pytest.mark.parametrize("name", PREDICATES + COMPARISONS)
def test_ufunc_predicates_values_match_torch(cr, torch, name):
    """torch's ``__array_wrap__`` turns bool results into uint8; chainrule keeps bool
    (its comparisons are bool tensors): the values agree."""
    uf = getattr(np, name)
    x = np.array([0.0, np.nan, np.inf, -2.0], np.float32)
    args = (x,) if uf.nin == 1 else (x, Y)
    ours = uf(*(cr.tensor(a) for a in args))
    theirs = uf(*(torch.tensor(a) for a in args))
    assert isinstance(ours, cr.Tensor) and ours.dtype == cr.bool
    np.testing.assert_array_equal(to_np(ours), to_np(theirs).astype(bool))


@pytest.mark.chainrule_only
def test_ndarray_on_the_left_stays_a_tensor_with_graph(cr, torch):
    a = np.array([1.0, 2.0, 3.0, 4.0])  # float64, like torch.tensor(a)
    for op in ("add", "sub", "mul", "truediv", "pow"):
        import operator
        f = getattr(operator, op)
        x = cr.tensor(X, requires_grad=True)
        out = f(a, x)
        assert isinstance(out, cr.Tensor) and out.grad_fn is not None
        t = torch.tensor(X, requires_grad=True)
        ref = f(torch.tensor(a), t)
        assert str(out.dtype) == str(ref.dtype)
        np.testing.assert_allclose(to_np(out), to_np(ref), rtol=1e-6)
        out.sum().backward()
        ref.sum().backward()
        np.testing.assert_allclose(to_np(x.grad), to_np(t.grad), rtol=1e-5)


def test_numpy_scalar_on_the_left_keeps_dtype(cr, torch):
    assert_mirrors(lambda lib: np.float64(2) * lib.tensor(X), cr, torch)
    assert_mirrors(lambda lib: np.float64(2) * lib.tensor(X, requires_grad=True), cr, torch)
    assert_mirrors(lambda lib: np.int64(3) - lib.tensor([1, 2]), cr, torch)


def _fallbacks():
    """Calls that go through ``__array__`` in torch (and here)."""
    m = np.array([True, False, True, True])
    return {
        "reduce": lambda t: np.add.reduce(t),
        "accumulate": lambda t: np.add.accumulate(t),
        "outer": lambda t: np.multiply.outer(t, t),
        "frexp": lambda t: np.frexp(t),
        "modf": lambda t: np.modf(t),
        "spacing": lambda t: np.spacing(t),
        "out": lambda t: np.sin(t, out=np.zeros(4, np.float32)),
        "where": lambda t: np.sin(t, where=m, out=np.ones(4, np.float32)),
        "dtype": lambda t: np.exp(t, dtype=np.float64),
    }


@pytest.mark.parametrize("case", list(_fallbacks()))
def test_ufunc_fallback_matches_torch(cr, torch, case):
    f = _fallbacks()[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch's __array_wrap__
        assert_mirrors(lambda lib: f(lib.tensor(X)), cr, torch)
        assert_mirrors(lambda lib: f(lib.tensor(X, requires_grad=True)), cr, torch)
    out = f(cr.tensor(X))
    expected = np.ndarray if case in ("out", "where", "outer") else (tuple if case in (
        "frexp", "modf") else cr.Tensor)
    assert isinstance(out, expected)


@pytest.mark.parametrize("call", ["sum", "mean", "max", "argmax", "concatenate", "shape",
                                  "transpose", "clip"])
def test_numpy_functions_match_torch(cr, torch, call):
    fns = {"sum": np.sum, "mean": np.mean, "max": np.max, "argmax": np.argmax,
           "concatenate": lambda t: np.concatenate([t, t]), "shape": np.shape,
           "transpose": np.transpose, "clip": lambda t: np.clip(t, 0.4, 0.8)}
    f = fns[call]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = outcome(lambda lib: f(lib.tensor(X)), torch)
        ours = outcome(lambda lib: f(lib.tensor(X)), cr)
    assert_same(ours, theirs)
    if isinstance(theirs, tuple) and theirs[:1] == ("tensor",):
        assert isinstance(f(cr.tensor(X)), cr.Tensor)


def test_ufunc_out_tensor_is_refused(cr, torch):
    ours = outcome(lambda lib: np.sin(np.ones(3), out=lib.zeros(3)), cr)
    theirs = outcome(lambda lib: np.sin(np.ones(3), out=lib.zeros(3)), torch)
    assert ours.type is theirs.type is TypeError


# -------------------------------------------------- functional_call, stack_module_state


def _mlp(lib, seed=0):
    """The same small MLP in either library (weights from NumPy's generator)."""
    m = lib.nn.Sequential(lib.nn.Linear(4, 5), lib.nn.Tanh(), lib.nn.Linear(5, 3))
    rng = np.random.default_rng(seed)
    with lib.no_grad():
        for p in m.parameters():
            p.copy_(lib.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32)))
    return m


def _same_weights(cr_model, torch, torch_model):
    with torch.no_grad():
        for (_, p), (_, q) in zip(cr_model.state_dict().items(),
                                  torch_model.state_dict().items()):
            q.copy_(torch.tensor(to_np(p)))


XB = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
YB = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)


def _grads_both_ways(lib, model):
    x, y = lib.tensor(XB), lib.tensor(YB)
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p):
        return ((lib.func.functional_call(model, p, (x,)) - y) ** 2).mean()
    g = lib.func.grad(loss)(params)
    model.zero_grad()
    ((model(x) - y) ** 2).mean().backward()
    return g, {k: v.grad for k, v in model.named_parameters()}


def test_functional_call_grad_equals_backward_and_torch_func(cr, torch):
    m, mt = _mlp(cr), _mlp(torch)
    _same_weights(m, torch, mt)
    g, backward = _grads_both_ways(cr, m)
    gt, _ = _grads_both_ways(torch, mt)
    assert isinstance(g, dict) and list(g) == list(backward) == list(gt)
    for k in g:
        np.testing.assert_allclose(to_np(g[k]), to_np(backward[k]), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(to_np(g[k]), to_np(gt[k]), rtol=1e-5, atol=1e-6)


def test_functional_call_jacrev_matches_torch(cr, torch):
    m, mt = _mlp(cr), _mlp(torch)
    _same_weights(m, torch, mt)

    def jac(lib, model):
        x = lib.tensor(XB[:2])
        params = {k: v.detach() for k, v in model.named_parameters()}
        return lib.func.jacrev(lambda p: lib.func.functional_call(model, p, x))(params)
    assert_same(outcome(lambda lib: jac(cr, m), cr), outcome(lambda lib: jac(torch, mt), torch))


def test_grad_of_pytrees_matches_torch(cr, torch):
    def script(lib):
        a, b = lib.tensor([1.0, 2.0]), lib.tensor([[3.0], [4.0]])
        f = lambda t, w: (t["a"] * w[0] + t["b"][0].sum() * w[1]).sum()  # noqa: E731
        return lib.func.grad(f, argnums=(0, 1))({"a": a, "b": [b]}, (a, a * 2))
    assert_mirrors(script, cr, torch)


def test_functional_call_does_not_touch_the_module(cr, torch):
    def script(lib):
        m = _mlp(lib)
        before = {k: v for k, v in m.state_dict(keep_vars=True).items()}
        zeros = {k: lib.zeros_like(v) for k, v in m.named_parameters()}
        out = lib.func.functional_call(m, zeros, lib.tensor(XB))
        after = m.state_dict(keep_vars=True)
        assert all(after[k] is before[k] for k in before)
        return out, m(lib.tensor(XB)).detach()
    assert_mirrors(script, cr, torch)


def test_functional_call_restores_after_an_exception(cr):
    m = _mlp(cr)
    w = m[0].weight
    with pytest.raises(RuntimeError):
        cr.func.functional_call(m, {"0.weight": cr.zeros(2, 2)}, cr.tensor(XB))
    assert m[0].weight is w


@pytest.mark.parametrize("case", ["tuple_of_dicts", "repeated_key", "bad_type",
                                  "strict_missing", "strict_unexpected", "non_strict_extra",
                                  "kwargs", "bad_element"])
def test_functional_call_arguments_match_torch(cr, torch, case):
    def script(lib):
        m = _mlp(lib)
        x = lib.tensor(XB)
        w = {"0.weight": lib.ones(5, 4)}
        b = {"0.bias": lib.zeros(5)}
        fc = lib.func.functional_call
        if case == "tuple_of_dicts":
            return fc(m, (w, b), (x,))
        if case == "repeated_key":
            return fc(m, [w, dict(w)], (x,))
        if case == "bad_type":
            return fc(m, 3, (x,))
        if case == "strict_missing":
            return fc(m, w, (x,), strict=True)
        if case == "strict_unexpected":
            d = {k: v.detach() for k, v in m.named_parameters()}
            d["extra"] = lib.ones(1)
            return fc(m, d, (x,), strict=True)
        if case == "non_strict_extra":
            return fc(m, {**w, "extra": lib.ones(1)}, (x,))
        if case == "kwargs":
            return fc(lib.nn.Linear(4, 5), {"weight": lib.ones(5, 4), "bias": lib.ones(5)},
                      (), {"input": x})
        return fc(m, [w, 3], (x,))
    ours = assert_mirrors(script, cr, torch)
    if case.startswith("strict"):
        theirs = outcome(script, torch)
        assert ours.message == theirs.message


def test_functional_call_tied_weights(cr, torch):
    def script(lib, tie):
        lib.manual_seed(0)
        m = lib.nn.Sequential(lib.nn.Linear(3, 3, bias=False), lib.nn.Linear(3, 3, bias=False))
        m[1].weight = m[0].weight
        x = lib.ones(1, 3)
        out = lib.func.functional_call(m, {"0.weight": lib.eye(3) * 2}, (x,),
                                       tie_weights=tie)
        return out.detach() if tie else (out.detach() - m(x).detach() * 0).shape

    assert_mirrors(lambda lib: script(lib, True), cr, torch)
    assert_mirrors(lambda lib: script(lib, False), cr, torch)

    def conflicting(lib):
        m = lib.nn.Sequential(lib.nn.Linear(3, 3, bias=False), lib.nn.Linear(3, 3, bias=False))
        m[1].weight = m[0].weight
        return lib.func.functional_call(m, {"0.weight": lib.eye(3), "1.weight": lib.ones(3, 3)},
                                        (lib.ones(1, 3),))
    ours = assert_mirrors(conflicting, cr, torch)
    assert ours.message == outcome(conflicting, torch).message


def test_functional_call_buffers_match_torch(cr, torch):
    def script(lib):
        lib.manual_seed(0)
        m = lib.nn.BatchNorm1d(4)
        bufs = {k: v.clone() for k, v in m.named_buffers()}
        x = lib.tensor(XB)
        out = lib.func.functional_call(m, bufs, (x,))
        return out.detach(), bufs, dict(m.named_buffers())
    assert_mirrors(script, cr, torch)


def test_stateless_functional_call_warns_and_works(cr, torch):
    def script(lib):
        m = lib.nn.Linear(2, 1)
        with pytest.warns(FutureWarning, match="torch.func.functional_call"):
            return lib.nn.utils.stateless.functional_call(
                m, {"weight": lib.ones(1, 2), "bias": lib.zeros(1)}, lib.ones(3, 2))
    assert_mirrors(script, cr, torch)


def test_stack_module_state_matches_torch(cr, torch):
    def script(lib):
        models = [lib.nn.BatchNorm1d(3) for _ in range(3)]
        for i, m in enumerate(models):
            with lib.no_grad():
                m.weight.fill_(float(i))
        params, buffers = lib.func.stack_module_state(models)
        meta = {k: (v.requires_grad, v.is_leaf) for k, v in params.items()}
        meta.update({k: (v.requires_grad, v.is_leaf) for k, v in buffers.items()})
        return params, buffers, meta
    assert_mirrors(script, cr, torch)


@pytest.mark.parametrize("case", ["empty", "mixed_mode", "mixed_class", "mixed_grad"])
def test_stack_module_state_errors_match_torch(cr, torch, case):
    def script(lib):
        a, b = lib.nn.Linear(2, 2), lib.nn.Linear(2, 2)
        if case == "empty":
            return lib.func.stack_module_state([])
        if case == "mixed_mode":
            b.eval()
        if case == "mixed_class":
            b = lib.nn.Tanh()
        if case == "mixed_grad":
            b.weight.requires_grad_(False)
        return lib.func.stack_module_state([a, b])
    ours = assert_mirrors(script, cr, torch)
    assert ours.message == outcome(script, torch).message


def test_ensemble_with_stacked_state_matches_torch(cr, torch):
    """Ensembling by hand (a loop over the stacked dim, until vmap): each model's output
    through functional_call and the gradient of the sum, against torch on the same
    weights."""
    cr_models = [_mlp(cr, seed) for seed in range(3)]
    torch_models = [_mlp(torch, seed) for seed in range(3)]
    for m, mt in zip(cr_models, torch_models):
        _same_weights(m, torch, mt)

    def script(lib, models):
        params, buffers = lib.func.stack_module_state(models)
        x = lib.tensor(XB)
        outs = [lib.func.functional_call(models[0], ({k: v[i] for k, v in params.items()},
                                                     {k: v[i] for k, v in buffers.items()}),
                                         (x,)) for i in range(3)]
        sum(o.sum() for o in outs).backward()
        return [o.detach() for o in outs], {k: v.grad for k, v in params.items()}
    assert_same(outcome(lambda lib: script(lib, cr_models), cr),
                outcome(lambda lib: script(lib, torch_models), torch))


def test_vjp_of_a_parameter_dict_matches_torch(cr, torch):
    def script(lib):
        m = _mlp(lib)
        params = {k: v.detach() for k, v in m.named_parameters()}
        out, fn = lib.func.vjp(lambda p: lib.func.functional_call(m, p, lib.tensor(XB)),
                               params)
        return out, fn(lib.ones(6, 3))
    assert_mirrors(script, cr, torch)


def test_grad_of_live_parameters_matches_torch(cr, torch):
    """``dict(model.named_parameters())`` itself (tensors that require grad)."""
    def script(lib):
        m = _mlp(lib)
        x = lib.tensor(XB)
        g = lib.func.grad(lambda p: lib.func.functional_call(m, p, x).pow(2).sum())(
            dict(m.named_parameters()))
        return {k: v.detach() for k, v in g.items()}
    assert_mirrors(script, cr, torch)
