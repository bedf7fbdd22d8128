"""``chainrule.compile``: the API, guards and retraces, eager fallbacks, training steps.

Every compiled result is compared with the same program run eagerly (the reference the
compiler must reproduce); the API checks compare with ``torch.compile``'s own errors.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F

pytestmark = pytest.mark.chainrule_only


def _twin(make):
    """Two identical modules (the second runs eagerly)."""
    cr.manual_seed(0)
    a = make()
    b = make()
    b.load_state_dict(a.state_dict())
    return a, b


# ---- the API ----------------------------------------------------------------------------

def test_api_errors_as_torch():
    torch = pytest.importorskip("torch")
    for kw in (dict(mode="x"), dict(mode="default", options={}), dict(backend="nope")):
        with pytest.raises(Exception) as theirs:
            torch.compile(lambda x: x, **kw)
        with pytest.raises(RuntimeError) as ours:
            cr.compile(lambda x: x, **kw)
        assert str(ours.value).split(",")[0].split(";")[0] == \
            str(theirs.value).split(",")[0].split(";")[0]


def test_decorator_forms_and_disable():
    @cr.compile
    def f(x):
        return x * 2

    @cr.compile(fullgraph=True, dynamic=False, mode="reduce-overhead")
    def g(x):
        return x + 1

    def h(x):
        return x

    assert cr.compile(h, disable=True) is h
    x = cr.tensor([1.0, 2.0])
    assert cr.equal(f(x), x * 2) and cr.equal(g(x), x + 1)
    assert f.__name__ == "f" and f.__wrapped__ is not None


def test_module_compile_wraps_as_torch():
    m, ref = _twin(lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)))
    cm = cr.compile(m)
    assert cm._orig_mod is m
    assert list(cm.state_dict()) == ["_orig_mod." + k for k in m.state_dict()]
    assert [p is q for p, q in zip(cm.parameters(), m.parameters())] == [True] * 4
    x = cr.randn(3, 4)
    for _ in range(2):
        y = cm(x)
        assert y.grad_fn.name() == "CompiledFunctionBackward"
        assert cr.equal(y, ref(x))
    y.sum().backward()
    ref(x).sum().backward()
    for p, q in zip(m.parameters(), ref.parameters()):
        assert cr.equal(p.grad, q.grad)
    assert cm.__dict__.get("_modules")["_orig_mod"] is m


def test_module_compile_in_place():
    m, ref = _twin(lambda: nn.Linear(4, 2))
    m.compile()
    assert list(m.state_dict()) == ["weight", "bias"]
    x = cr.randn(5, 4)
    for _ in range(3):
        y = m(x)
    assert y.grad_fn.name() == "CompiledFunctionBackward" and cr.equal(y, ref(x))


# ---- the backward ------------------------------------------------------------------------

def _seed(x):
    y = cr.zeros(1, 2)
    y[0, 0] = 2 * x[0, 0] + x[0, 1] ** 2
    y[0, 1] = x[0, 0] ** 2 + 2 * x[0, 1] ** 3
    return y


def test_seed_transcript_compiled():
    """The founding example, compiled: same numbers as eager."""
    f = cr.compile(_seed)
    for _ in range(3):
        x = cr.tensor([[1.0, 2.0]], requires_grad=True)
        y = f(x)
        assert y.tolist() == [[6.0, 17.0]]
        grads = []
        for v in ([[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 2.0]], [[2.0, 1.0]]):
            y.backward(cr.tensor(v), retain_graph=True)
            grads.append(x.grad.tolist())
            x.grad.zero_()
        assert grads == [[[2.0, 4.0]], [[2.0, 24.0]], [[6.0, 52.0]], [[6.0, 32.0]]]
    assert f.traces == 1


def test_seed_backward_reads_through_the_written_copy():
    """Note [reading through copies]: the seed's backward reads the cotangent's regions
    where the forward's writes did not land, with no copy of it."""
    f = cr.compile(_seed)
    f(cr.tensor([[1.0, 2.0]], requires_grad=True))
    src = f.source
    assert "view_replace" not in src and "ns.copy" not in src and "ns.scatter" not in src


@pytest.mark.parametrize("seed", range(40))
def test_writes_then_reads_of_regions_match_eager(seed):
    """Random writes into regions of a new tensor, then reads of regions (disjoint or
    overlapping): compiled values and gradients equal eager's, bit for bit."""
    rng = np.random.default_rng(seed)

    def key():
        k = []
        for n in (3, 4):
            c = rng.integers(4)
            if c == 0:
                k.append(int(rng.integers(-n, n)))
            elif c == 1:
                a, b = sorted(rng.integers(0, n + 1, 2).tolist())
                k.append(slice(a, b))
            elif c == 2:
                k.append(slice(int(rng.integers(0, n)), None, int(rng.integers(1, 3))))
            else:
                k.append(slice(None))
        return tuple(k[:int(rng.integers(1, 3))])

    writes = [key() for _ in range(int(rng.integers(1, 4)))]
    reads = [key() for _ in range(int(rng.integers(1, 4)))]

    def fn(x):
        y = cr.zeros(3, 4)
        for j, k in enumerate(writes):
            y[k] = x[k] * (j + 2)
        return sum((y[k] * (i + 1)).sum() for i, k in enumerate(reads)) + (y * y).sum()

    data = rng.standard_normal((3, 4))
    results = []
    compiled = cr.compile(fn)
    for run in (fn, compiled):
        for _ in range(2):
            x = cr.tensor(data, requires_grad=True)
            out = run(x)
            out.backward()
            results.append((out.detach().numpy(), x.grad.numpy()))
    assert compiled.traces == 1
    for got in results[1:]:
        np.testing.assert_array_equal(got[0], results[0][0])
        np.testing.assert_array_equal(got[1], results[0][1])


def test_disjoint_regions_are_never_claimed_for_overlapping_ones():
    """``_disjoint`` against the element sets NumPy's indexing selects (soundness: it
    may miss a disjoint pair, never call an overlapping pair disjoint)."""
    from chainrule._compile.codegen import _disjoint

    rng = np.random.default_rng(0)
    shape = (4, 5)
    ids = np.arange(20).reshape(shape)

    def entry(n):
        c = rng.integers(3)
        if c == 0:
            return int(rng.integers(-n, n))
        start, stop = (int(v) if v is not None else None
                       for v in rng.choice([None, *range(-n - 1, n + 2)], 2))
        return slice(start, stop, int(rng.choice([1, 1, 2, 3, -1])) if c == 2 else None)

    claimed = 0
    for _ in range(3000):
        k1 = tuple(entry(n) for n in shape[:rng.integers(1, 3)])
        k2 = tuple(entry(n) for n in shape[:rng.integers(1, 3)])
        overlap = bool(set(ids[k1].ravel()) & set(ids[k2].ravel()))
        if _disjoint(k1, k2, shape):
            claimed += 1
            assert not overlap, (k1, k2)
    assert claimed > 300  # (the rule does find disjoint pairs)


def test_retain_graph_and_freed_graph():
    f = cr.compile(lambda x: (x * x).sum())
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = f(x)
    y.backward(retain_graph=True)
    y.backward()
    assert cr.equal(x.grad, 4 * x.detach())
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_hooks_on_inputs_and_accumulation():
    f = cr.compile(lambda x: (x * x).sum())
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.clone()))
    f(x).backward()
    f(x).backward()
    assert len(seen) == 2 and cr.equal(seen[0], 2 * x.detach())
    assert cr.equal(x.grad, 4 * x.detach())


def test_multiple_outputs_share_one_node():
    f = cr.compile(lambda x: (x.sin(), x.cos(), x.sum()))
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    for _ in range(2):
        a, b, c = f(x)
        assert a.grad_fn.name() == b.grad_fn.name() == "CompiledFunctionBackward"
        (a.sum() * 2 + b.sum()).backward()
    xd = x.detach()
    assert cr.allclose(x.grad, 2 * (2 * xd.cos() - xd.sin()), rtol=1e-6, atol=0)


def test_autograd_grad_of_nonleaf_input():
    f = cr.compile(lambda h: (h.exp() * h).sum())
    w = cr.tensor([0.5, -1.0], requires_grad=True)
    for _ in range(2):
        h = w * 3
        g, = cr.autograd.grad(f(h), w)
    h = w * 3
    ref, = cr.autograd.grad((h.exp() * h).sum(), w)
    assert cr.equal(g, ref)


def test_create_graph_runs_the_function_eagerly():
    f = cr.compile(lambda x: (x ** 3).sum())
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    f(x)
    g, = cr.autograd.grad(f(x), x, create_graph=True)
    h, = cr.autograd.grad(g.sum(), x)
    assert cr.equal(g, 3 * x.detach() ** 2) and cr.equal(h, 6 * x.detach())


def _write_add(x, p):
    x.add_(1.0)


def _write_view(x, p):
    x[0] = 5.0  # through a view: the version counter is shared


def _write_zero(x, p):
    with cr.no_grad():
        x.zero_()  # (the unrecorded fast path of fill_)


def _write_sgd(x, p):
    p.grad = cr.ones_like(p)
    cr.optim.SGD([p], lr=0.5).step()


@pytest.mark.parametrize("write", [_write_add, _write_view, _write_zero, _write_sgd])
def test_create_graph_after_the_caller_wrote_an_input(write):
    """Note [copy before write]: an input written in place after the call (eager's graph
    saved exp(x), not x) is copied before the write, so the create_graph re-run sees the
    value the call saw: gradients and second derivatives equal eager's."""
    results = []
    for compiled in (False, True):
        p = cr.tensor([0.5, -1.0, 2.0], requires_grad=True)
        w = cr.tensor([1.5, 2.0, -0.5], requires_grad=True)

        def f(x):
            return (x.exp() * w).sum() + (p.exp() * 3).sum()

        fn = cr.compile(f) if compiled else f
        x = w * 1.0  # a non-leaf input (written in place below)
        target = p if write is _write_sgd else x
        y = fn(x)
        write(x, p)
        assert target._version > 0
        g = cr.autograd.grad(y, [w, p], create_graph=True)
        gg = cr.autograd.grad(g[0].sum() + g[1].sum(), [w, p])
        results.append([t.detach().numpy().copy() for t in g + gg])
        if compiled:
            assert fn.traces == 1
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_create_graph_after_an_input_was_rebound_or_resized():
    """``t.data = ...`` and an ``out=`` that resizes replace a read tensor's memory
    without a write into it: the call's view of it is kept as well (eager's graph keeps
    the old memory)."""
    results = []
    for compiled in (False, True):
        w = cr.tensor([1.5, 2.0, -0.5], requires_grad=True)
        buf = cr.tensor([1.0, 2.0, 3.0])
        o = cr.tensor([1.0, 2.0, 0.5])

        def f(x):
            return ((x * buf).exp() * w).sum() + ((x + o).exp()).sum()

        fn = cr.compile(f) if compiled else f
        y = fn(w * 1.0)
        buf.data = cr.tensor([5.0, 5.0, 5.0])
        cr.add(cr.ones(4), cr.ones(4), out=o)  # (resized to 4 elements)
        (g,) = cr.autograd.grad(y, w, create_graph=True)
        (gg,) = cr.autograd.grad(g.sum(), w)
        results.append((g.tolist(), gg.tolist()))
    assert results[0] == results[1]


def test_arguments_that_share_memory_run_eagerly():
    """Arguments that alias (``f(x, x)``, two views of one tensor) or alias a tensor the
    function reads: the trace gives each its own memory and version counter, so such a
    call runs eagerly (before, a write through one was missed by reads of the other:
    the generated code shared the two reads)."""
    def f(a, b):
        s1 = (a * 2).sum()
        b.add_(1)
        return s1 + (a * 2).sum()

    cf = cr.compile(f)
    assert cf(cr.tensor([1.0, 2.0]), cr.tensor([5.0, 6.0])).item() == 12.0
    x = cr.tensor([1.0, 2.0])
    assert cf(x, x).item() == 16.0 and x.tolist() == [2.0, 3.0]
    h = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert cf(h[0], h[0]).item() == 16.0
    assert cf.traces == 1

    G = cr.tensor([1.0, 2.0])

    def g(a):
        s1 = (G * 2).sum()
        a.add_(1)
        return s1 + (G * 2).sum()

    cg = cr.compile(g)
    assert cg(cr.tensor([0.0, 0.0])).item() == 12.0
    assert cg(G).item() == 16.0 and cg.traces == 1

    def d(a, b):  # create_graph through f(x, x): eager's derivatives
        return (a * b.exp()).sum()

    results = []
    for fn in (d, cr.compile(d)):
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        (gr,) = cr.autograd.grad(fn(x, x), x, create_graph=True)
        (gg,) = cr.autograd.grad(gr.sum(), x)
        results.append((gr.tolist(), gg.tolist()))
    assert results[0] == results[1]


def test_write_watch_forgets_released_and_freed_calls():
    """The watch list of Note [copy before write] holds no call whose graph is gone."""
    from chainrule._tensor import WRITE_WATCH

    f = cr.compile(lambda x: x.exp().sum())
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    before = len(WRITE_WATCH)
    y = f(x)
    assert len(WRITE_WATCH) == before + 1
    y.backward()  # (no retain_graph: the graph is released)
    assert len(WRITE_WATCH) == before
    y = f(x)
    del y
    assert len(WRITE_WATCH) == before
    y = f(x)
    with cr.no_grad():
        x.mul_(2)  # the first write takes the copy and ends the watch
    assert len(WRITE_WATCH) == before
    (g,) = cr.autograd.grad(y, x, create_graph=True)  # at the value the call saw
    np.testing.assert_array_equal(g.detach().numpy(), np.exp(np.float32([1.0, 2.0])))


def test_create_graph_input_computed_from_a_read_tensor():
    """An argument computed from a tensor the function also reads (x = w * 1, w in a
    closure): the re-run takes partial derivatives (the node's edge for x carries x's
    part back to w once), so gradients and second derivatives equal eager's."""
    results = []
    for compiled in (False, True):
        w = cr.tensor([1.5, 2.0, -0.5], requires_grad=True)

        def f(x):
            return (x.exp() * w).sum()

        fn = cr.compile(f) if compiled else f
        y = fn(w * 1.0)
        (g,) = cr.autograd.grad(y, w, create_graph=True)
        (gg,) = cr.autograd.grad(g.sum(), w)
        results.append((g.tolist(), gg.tolist()))
    assert results[0] == results[1]


def _nonleaf_arg_written(w, x):
    x.relu_()
    return x * w


def _nonleaf_arg_returned(w, x):
    x.add_(w)
    return x


def _nonleaf_read_written(w, x, state={}):  # noqa: B006 (the closure tensor G)
    G = state.setdefault(id(w), w * 1.0)
    G.mul_(x)
    return G * 2


@pytest.mark.parametrize("fn", [_nonleaf_arg_written, _nonleaf_arg_returned,
                                _nonleaf_read_written])
def test_nonleaf_input_written_with_grad_runs_eagerly(fn):
    """A non-leaf input written in place inside the function with grad mode on has a new
    history after the call (its grad_fn is the write's): that call runs eagerly, so the
    input's later use differentiates as eager's does."""
    results = []
    for compiled in (False, True):
        w = cr.tensor([1.5, 2.0, -0.5], requires_grad=True)
        x = w * 1.0 if fn is not _nonleaf_read_written else cr.tensor([1.0, 2.0, 3.0])
        g = cr.compile(lambda a: fn(w, a)) if compiled else (lambda a: fn(w, a))
        y = g(x)
        later = x if fn is not _nonleaf_read_written else fn.__defaults__[0][id(w)]
        (y.sum() + (later * 3).sum()).backward()
        results.append((y.tolist(), w.grad.tolist(), type(later.grad_fn).__name__))
    assert results[0] == results[1]


@pytest.mark.parametrize("kind", ["arg-view", "arg-leaf-view", "read-view",
                                  "read-buffer-view", "read-nonleaf"])
def test_view_input_written_with_grad_rewrites_its_base(kind):
    """A view input (an argument or a tensor the function reads) written in place with
    grad mode on: the call runs eagerly (its traced run is kept), and each write
    rewrites the base's history as eager's writes do (one CopySlices per write), so the
    output, the view and the base all differentiate as eager's."""
    results = []
    for compiled in (False, True):
        w = cr.tensor([[1.5, 2.0, -0.5], [0.5, -1.0, 3.0]], requires_grad=True)
        h = w * 1.0
        buf = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        target = {"arg-view": h[1], "arg-leaf-view": buf[1], "read-view": h[1],
                  "read-buffer-view": buf[1], "read-nonleaf": h * 1.0}[kind]
        is_arg = kind.startswith("arg")

        def f(x):
            t = x if is_arg else target
            t.add_(w[0] * 2)
            t.mul_(w[0])
            t[0] = w[1, 1] * 4
            return t * w[1] + (0 if is_arg else x)

        fn = cr.compile(f) if compiled else f
        y = fn(target if is_arg else cr.tensor([1.0, 2.0, 3.0]))
        (gt,) = cr.autograd.grad(y.sum(), target, retain_graph=True)  # (at the view's node)
        (y.sum() + (target * 3).sum() + (h * 5).sum() + (buf * 7).sum()).backward()
        results.append((gt.tolist(), y.tolist(), w.grad.tolist(), target.tolist(),
                        type(target.grad_fn).__name__, type(h.grad_fn).__name__,
                        type(buf.grad_fn).__name__))
    assert results[0] == results[1]


def test_nonleaf_argument_written_under_no_grad_is_compiled():
    def f(x, w):
        with cr.no_grad():
            x.mul_(2)
        return (x * w).sum()

    cf = cr.compile(f)
    results = []
    for fn in (f, cf, cf):
        w = cr.tensor([1.5, 2.0], requires_grad=True)
        x = w * 1.0
        fn(x, w).backward()
        results.append((x.tolist(), w.grad.tolist(), x._version))
    assert results[0] == results[1] == results[2]
    assert cf.traces == 1 and "def forward" in cf.source


def test_batched_cotangents_jacobian():
    f = cr.compile(lambda x: x.sin() * 2)
    x = cr.tensor([1.0, 2.0, 3.0])
    want = cr.diag(2 * x.cos())
    assert cr.allclose(cr.autograd.functional.jacobian(f, x, vectorize=True), want)
    assert cr.allclose(cr.autograd.functional.jacobian(f, x), want)


def test_grad_is_adopted_without_copy():
    """The generated backward's arrays are fresh (Note [gradient ownership]): .grad
    takes them as they are."""
    f = cr.compile(lambda x: (x * x).sum())
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    f(x)
    y = f(x)
    assert type(y.grad_fn).fresh_out is True
    y.backward()
    assert x.grad._data.base is None and x.grad._data.flags.writeable


# ---- guards and retraces ----------------------------------------------------------------------

def test_item_value_guard_retraces():
    @cr.compile
    def f(x):
        if x.sum().item() > 0:
            return x * 2
        return x * 3

    a, b = cr.tensor([1.0, 2.0]), cr.tensor([-1.0, -2.0])
    for _ in range(2):
        assert cr.equal(f(a), a * 2) and cr.equal(f(b), b * 3)
    assert f.traces == 2


def test_new_shape_dtype_requires_grad_retrace():
    f = cr.compile(lambda x: x * 2)
    f(cr.ones(2))
    f(cr.ones(3))
    f(cr.ones(3, dtype=cr.float64))
    y = f(cr.ones(3, requires_grad=True))
    assert f.traces == 4 and y.requires_grad
    with cr.no_grad():
        assert not f(cr.ones(3, requires_grad=True)).requires_grad


def test_closure_and_global_tensors_read_fresh():
    w = cr.tensor([1.0, 2.0])
    f = cr.compile(lambda x: x * w)
    assert cr.equal(f(cr.ones(2)), w)
    w.mul_(2)  # changed in place: read fresh
    assert cr.equal(f(cr.ones(2)), cr.tensor([2.0, 4.0]))
    globals()["_W"] = cr.tensor([1.0, 1.0])
    g = cr.compile(lambda x: x + _W)  # noqa: F821 (set just above)
    assert cr.equal(g(cr.ones(2)), cr.full((2,), 2.0))
    globals()["_W"] = cr.tensor([5.0, 5.0])  # rebound: a guard miss
    assert cr.equal(g(cr.ones(2)), cr.full((2,), 6.0))


def test_python_number_guard():
    scale = [2.0]

    @cr.compile
    def f(x):
        return x * scale[0]

    assert cr.equal(f(cr.ones(2)), cr.full((2,), 2.0))
    scale[0] = 3.0
    assert cr.equal(f(cr.ones(2)), cr.full((2,), 3.0))


def test_train_eval_switch():
    m = nn.Dropout(0.5)
    cm = cr.compile(m)
    x = cr.ones(200)
    m.eval()
    assert cr.equal(cm(x), x)
    m.train()
    assert not cr.equal(cm(x), x)


def test_recompile_limit_then_eager_with_one_warning():
    f = cr.compile(lambda x, n: x * n, recompile_limit=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(5):
            assert cr.equal(f(cr.ones(1), n), cr.tensor([float(n)]))
    msgs = [str(w.message) for w in caught if "recompile_limit" in str(w.message)]
    assert len(msgs) == 1 and f.traces == 2


def test_fullgraph_names_the_line():
    def f(x):
        if x.sum() > 0:
            return x * 2
        return x

    with pytest.raises(RuntimeError, match=r"fullgraph=True.*test_compile.py:\d+"):
        cr.compile(f, fullgraph=True)(cr.ones(2))


# ---- what runs eagerly ----------------------------------------------------------------------

def test_tensor_hook_inside_runs_eagerly():
    def f(x):
        y = x * 2
        y.register_hook(lambda g: g * 10)
        return y.sum()

    cf = cr.compile(f)
    x = cr.ones(3, requires_grad=True)
    cf(x).backward()
    cf(x).backward()
    assert cr.equal(x.grad, cr.full((3,), 40.0))


def test_custom_function_inside_runs_eagerly():
    class Square(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    cf = cr.compile(lambda x: Square.apply(x).sum())
    x = cr.tensor([1.0, 3.0], requires_grad=True)
    out = cf(x)
    assert out.grad_fn.name() != "CompiledFunctionBackward"
    out.backward()
    assert cr.equal(x.grad, 2 * x.detach())


def test_vmap_and_forward_ad_at_call_time_run_eagerly():
    f = cr.compile(lambda x: x.sin() * 2)
    x = cr.tensor([[0.1, 0.2], [0.3, 0.4]])
    assert cr.allclose(cr.vmap(f)(x), x.sin() * 2)
    import chainrule.autograd.forward_ad as fwAD
    with fwAD.dual_level():
        d = fwAD.make_dual(cr.tensor([0.5]), cr.tensor([1.0]))
        t = fwAD.unpack_dual(f(d)).tangent
    assert cr.allclose(t, 2 * cr.tensor([0.5]).cos())


# ---- random ops, mutations ------------------------------------------------------------------

def test_random_ops_consume_the_generator_as_eager():
    def f(x):
        return F.dropout(x, 0.5) + cr.randn(4)

    cf = cr.compile(f)
    x = cr.ones(4)
    cr.manual_seed(1)
    eager = [f(x) for _ in range(3)]
    cr.manual_seed(1)
    compiled = [cf(x) for _ in range(3)]
    for a, b in zip(eager, compiled):
        assert cr.equal(a, b)
    assert not cr.equal(compiled[1], compiled[2])


def test_value_guard_miss_gives_draws_back():
    @cr.compile
    def f(x):
        noise = cr.rand(3)
        return x * 2 + noise if x.sum().item() > 0 else x + noise

    def eager(x):
        noise = cr.rand(3)
        return x * 2 + noise if x.sum().item() > 0 else x + noise

    xs = [cr.ones(3), -cr.ones(3), cr.ones(3), -cr.ones(3)]
    cr.manual_seed(3)
    want = [eager(x) for x in xs]
    cr.manual_seed(3)
    got = [f(x) for x in xs]
    for a, b in zip(want, got):
        assert cr.equal(a, b)


def test_inplace_on_argument():
    @cr.compile
    def f(x):
        x.add_(1)
        return x * 2

    x = cr.zeros(3)
    v0 = x._version
    for _ in range(2):
        f(x)
    assert cr.equal(x, cr.full((3,), 2.0)) and x._version == v0 + 2


def test_guard_miss_after_writes_leaves_inputs_once_written():
    @cr.compile
    def f(x, buf):
        buf.add_(1)
        return x * 2 if buf.sum().item() < 10 else x

    buf = cr.zeros(2)
    for _ in range(8):
        f(cr.ones(2), buf)
    assert buf.tolist() == [8.0, 8.0]


def test_batchnorm_running_stats_updated():
    bn, ref = _twin(lambda: nn.BatchNorm1d(3))
    cbn = cr.compile(bn)
    x = cr.randn(8, 3)
    for i in range(3):
        assert cr.allclose(cbn(x * (i + 1)), ref(x * (i + 1)))
    assert cr.equal(bn.running_mean, ref.running_mean)
    assert cr.equal(bn.running_var, ref.running_var)
    assert bn.num_batches_tracked.item() == 3
    bn.eval()
    ref.eval()
    assert cr.allclose(cbn(x), ref(x))


# ---- whole training steps -----------------------------------------------------------------------

def _mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))


def test_training_step_optimizer_outside():
    m, ref = _twin(_mlp)
    opt = cr.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    ref_opt = cr.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    x, y = cr.randn(16, 4), cr.randn(16, 1)
    step = cr.compile(lambda x, y: F.mse_loss(m(x), y))
    for _ in range(5):
        opt.zero_grad()
        loss = step(x, y)
        loss.backward()
        opt.step()
        ref_opt.zero_grad()
        ref_loss = F.mse_loss(ref(x), y)
        ref_loss.backward()
        ref_opt.step()
        assert cr.equal(loss, ref_loss)
    for p, q in zip(m.parameters(), ref.parameters()):
        assert cr.equal(p, q)


@pytest.mark.parametrize("make_opt", [
    lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: cr.optim.Adam(ps, lr=0.01),
    lambda ps: cr.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
    lambda ps: cr.optim.RMSprop(ps, lr=0.01),
    lambda ps: cr.optim.Adagrad(ps, lr=0.1),
    lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
], ids=["sgd", "adam", "adamw", "rmsprop", "adagrad", "nesterov"])
def test_training_step_optimizer_inside(make_opt):
    m, ref = _twin(_mlp)
    opt, ref_opt = make_opt(m.parameters()), make_opt(ref.parameters())
    x, y = cr.randn(16, 4), cr.randn(16, 1)

    @cr.compile
    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(m(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(6):
        loss = step(x, y)
        ref_opt.zero_grad()
        ref_loss = F.mse_loss(ref(x), y)
        ref_loss.backward()
        ref_opt.step()
        assert cr.equal(loss, ref_loss)
    for p, q in zip(m.parameters(), ref.parameters()):
        assert cr.equal(p, q)  # bit for bit: the same NumPy calls in the same order
    assert step.traces == 2  # (the first call has no .grad yet; no trace per step)
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()  # its graph was used by the backward inside, as eager's


def test_scheduler_lr_is_read_fresh():
    p = nn.Parameter(cr.ones(3))
    opt = cr.optim.SGD([p], lr=1.0)
    sched = cr.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5)

    @cr.compile
    def step():
        opt.zero_grad()
        (p * p).sum().backward()
        opt.step()

    q, lr = np.ones(3, np.float32), 1.0
    for _ in range(12):
        step()
        sched.step()
        q = q - np.float32(lr) * 2 * q
        lr *= 0.5
        assert np.allclose(p.detach().numpy(), q, rtol=1e-6)
    assert step.traces <= 2  # no trace per epoch


# ---- the generated code ----------------------------------------------------------------------

def test_source_is_annotated_and_deterministic():
    def f(x):
        return (x * 2).sin().sum()

    a, b = cr.compile(f), cr.compile(f)
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    a(x)
    b(x)
    assert a.source == b.source
    src = a.source
    assert "def forward(x):" in src and "def backward(saved, grad_out):" in src
    assert "np.sin(" in src and "np.cos(" in src  # the chain rule of sin, as code
    assert "# mul · test_compile.py:" in src and "SinBackward0" in src
    with pytest.raises(RuntimeError, match="not been called"):
        _ = cr.compile(f).source


def test_constants_keep_negative_zero():
    f = cr.compile(lambda x: 1.0 / (x * -0.0) + 1.0 / (x * 0.0))
    out = f(cr.tensor([1.0]))
    assert np.isnan(out.item())
    g = cr.compile(lambda x: 1.0 / (x * -0.0))
    assert g(cr.tensor([1.0])).item() == -np.inf and g(cr.tensor([1.0])).item() == -np.inf


# ---- regressions (found by adversarial review) ------------------------------------------------

def test_inplace_write_after_call_is_refused_as_eager():
    leaf = cr.ones(3, requires_grad=True)
    a = leaf * 1
    f = cr.compile(lambda a: (a * a).sum())
    for _ in range(2):
        out = f(a)
        a.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.backward()
    g = cr.compile(lambda x: x.exp())
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    for _ in range(2):
        y = g(x)
        with cr.no_grad():
            y.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_batched_cotangents_with_create_graph():
    g = cr.compile(lambda x: x ** 3)
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    g(x)
    (j,) = cr.autograd.grad(g(x), x, cr.eye(2), is_grads_batched=True, create_graph=True)
    assert cr.equal(j, cr.diag(3 * x.detach() ** 2)) and j.requires_grad


def test_live_inference_tensor_does_not_disable_compile():
    f = cr.compile(lambda x: (x * 2).sum())
    with cr.inference_mode():
        keep = cr.ones(1)  # noqa: F841 (alive while f runs)
    assert f(cr.ones(2, requires_grad=True)).grad_fn.name() == "CompiledFunctionBackward"


def test_module_numbers_are_guarded():
    m = nn.LeakyReLU(0.1)
    cm = cr.compile(m)
    assert cm(-cr.ones(1)).item() == pytest.approx(-0.1)
    m.negative_slope = 0.5
    assert cm(-cr.ones(1)).item() == pytest.approx(-0.5)


_BOX = type("Box", (), {})()


def test_a_compiled_function_does_not_guard_its_own_state():
    @cr.compile
    def f(x):
        _BOX.f = 0
        return x * 2 if x.sum().item() > 0 else x

    for v in (1.0, -1.0) * 3:
        f(cr.full((1,), v))
    assert f.traces == 2


def test_source_of_an_eager_function_says_why():
    def f(x):
        y = x * 2
        y.register_hook(lambda g: g)
        return y.sum()

    cf = cr.compile(f)
    cf(cr.ones(2, requires_grad=True))
    with pytest.raises(RuntimeError, match="runs eagerly.*tensor hook"):
        _ = cf.source


def test_uncompilable_step_runs_once_not_twice():
    """Note [an eager fallback after the traced run]: a call found uncompilable after the
    traced run keeps that run as its eager result: its optimizer step and its random
    draws happen once."""
    class Scale(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    def make():
        m, ref = _twin(_mlp)
        return (m, cr.optim.Adam(m.parameters(), lr=0.01)), \
            (ref, cr.optim.Adam(ref.parameters(), lr=0.01))

    (m, opt), (ref, ref_opt) = make()
    x, y = cr.randn(16, 4), cr.randn(16, 1)

    def step_of(model, o):
        def step(x, y):
            o.zero_grad()
            h = Scale.apply(model(x)) + F.dropout(cr.ones(1), 0.5)
            loss = F.mse_loss(h, y)
            loss.backward()
            o.step()
            return loss
        return step

    compiled = cr.compile(step_of(m, opt))
    eager = step_of(ref, ref_opt)
    for seed in range(3):
        cr.manual_seed(seed)
        loss = compiled(x, y)
        after = cr.rand(3)  # the generator was drawn from as many times as eager draws
        cr.manual_seed(seed)
        ref_loss = eager(x, y)
        assert cr.equal(loss, ref_loss) and cr.equal(after, cr.rand(3))
    for p, q in zip(m.parameters(), ref.parameters()):
        assert cr.equal(p, q)
    assert compiled.traces == 1 and "Function" in next(iter(compiled._eager_keys.values()))


def test_hooked_call_keeps_its_graph_and_inputs():
    def f(x, w):
        h = x * w
        h.register_hook(lambda g: g * 3)
        return (h * h).sum()

    cf = cr.compile(f)
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    w = cr.tensor([0.5, 0.25], requires_grad=True)
    out = cf(x, w)
    assert out.grad_fn.name() == "SumBackward0"
    out.backward()
    xe = x.detach().clone().requires_grad_()
    we = w.detach().clone().requires_grad_()
    f(xe, we).backward()
    assert cr.equal(x.grad, xe.grad) and cr.equal(w.grad, we.grad)


@pytest.mark.filterwarnings("ignore:indexing with dtype torch.uint8")
def test_value_dependent_shapes_are_guarded():
    f = cr.compile(lambda x, m: x[m].mean())
    x = cr.tensor([1.0, 2.0, 3.0])
    assert f(x, cr.tensor([1, 1, 0], dtype=cr.uint8)).item() == 1.5
    assert f(x, cr.tensor([1, 1, 1], dtype=cr.uint8)).item() == 2.0
    g = cr.compile(lambda x: (x > 1).nonzero().float().mean())
    assert g(cr.tensor([0.0, 2.0, 3.0])).item() == 1.5
    assert g(cr.tensor([2.0, 2.0, 3.0])).item() == 1.0


def test_constant_outputs_are_new_arrays():
    h = cr.compile(lambda x: (x + 1, cr.ones(2) * 3))
    for _ in range(3):
        out = h(cr.ones(2))
        assert out[1].tolist() == [3.0, 3.0]
        out[1].add_(5)


def test_user_names_never_shadow_the_generated_code():
    c1 = cr.tensor([10.0, 20.0])
    k = cr.compile(lambda x: x * c1 + 2.0)
    for _ in range(2):
        assert k(cr.ones(2)).tolist() == [12.0, 22.0]

    def uses_bool(x, m):
        mm = m.bool()
        return x[mm].sum() if bool(mm.any()) else x.sum()

    cb = cr.compile(uses_bool)
    m = cr.tensor([1, 0, 1], dtype=cr.uint8)
    for _ in range(2):
        assert cb(cr.tensor([1.0, 2.0, 3.0]), m).item() == 4.0


def test_exceptions_keep_what_the_call_did():
    def f(buf, x):
        buf.add_(1)
        return x @ cr.ones(5)

    cf = cr.compile(f)
    buf = cr.zeros(2)
    v0 = buf._version
    with pytest.raises(RuntimeError):
        cf(buf, cr.ones(3))
    assert buf._version == v0 + 1 and buf.tolist() == [1.0, 1.0]


def test_backward_errors_raise_at_backward():
    def f(x):
        y = x.exp()
        y.add_(1)  # exp kept its output: eager's backward refuses it
        return y.sum()

    cf = cr.compile(f)
    x = cr.ones(2, requires_grad=True)
    for _ in range(2):
        out = cf(x)  # the call itself works, as eager's
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.backward()


def test_writes_through_strided_views_are_undone_on_a_guard_miss():
    def f(x):
        x.unfold(0, 1, 1).add_(1.0)
        return x * 2 if x.sum().item() > 0 else x

    cf = cr.compile(f)
    a = cr.zeros(2)
    cf(a)
    b = -5 * cr.ones(2)
    cf(b)
    assert a.tolist() == [1.0, 1.0] and b.tolist() == [-4.0, -4.0]


def test_inputs_gaining_history_run_eagerly():
    w = cr.ones(2, requires_grad=True)
    buf = cr.zeros(2)
    cf = cr.compile(lambda x: buf.add_(w * x).sum())
    out = cf(cr.ones(2))
    assert buf.requires_grad and out.requires_grad
    out.backward()
    assert w.grad.tolist() == [1.0, 1.0]


def test_create_graph_rerun_draws_the_same_values():
    f = cr.compile(lambda x: (x * cr.rand(3)).sum())
    x = cr.ones(3, requires_grad=True)
    f(x)
    cr.manual_seed(7)
    noise = cr.rand(3)
    cr.manual_seed(7)
    (g,) = cr.autograd.grad(f(x), x, create_graph=True)
    assert cr.equal(g, noise)


def test_bit_views_and_empty_indices():
    vd = cr.compile(lambda x: x.view(cr.int32) + 1)
    assert vd(cr.ones(2)).tolist() == (cr.ones(2).view(cr.int32) + 1).tolist()
    ie = cr.compile(lambda x, i: x[:, i])
    assert tuple(ie(cr.ones(0, 3), cr.tensor([0, 2])).shape) == (0, 2)


def test_writes_into_outputs_never_reach_the_backward():
    def f(a, b):
        return (a / b).unsqueeze(0)

    cf = cr.compile(f)
    grads = []
    for fn in (f, cf, cf):
        a = cr.tensor([1.0, 2.0], requires_grad=True)
        b = cr.tensor([4.0, 8.0], requires_grad=True)
        out = fn(a, b)
        out.mul_(10)
        out.sum().backward()
        grads.append(b.grad)
    assert cr.equal(grads[0], grads[1]) and cr.equal(grads[0], grads[2])


def test_argument_gaining_history_keeps_it():
    w = cr.ones(2, requires_grad=True)

    def g(x, y):
        y.add_(w)
        return x * 2

    cg = cr.compile(g)
    for _ in range(2):
        y = cr.zeros(2)
        cg(cr.ones(2), y)
        assert y.requires_grad and y.grad_fn.name() == "AddBackward0"


# ---- outputs that alias (Note [outputs that alias]) -------------------------------------

def _both(fn, make, after=None):
    """``fn`` eagerly, then compiled twice (trace, replay): what ``after(inputs, out)``
    returns on each run."""
    cf = cr.compile(fn)
    runs = []
    for g in (fn, cf, cf):
        inputs = make()
        out = g(*inputs)
        runs.append(after(inputs, out))
    return runs


def test_outputs_that_are_inputs_or_their_views_alias_them():
    def f(x, y):
        return x, x[1:], (x * y).detach(), y * 2

    def after(inputs, out):
        x, y = inputs
        same, view, det, _ = out
        facts = (same is x, view._base is x, view._version == x._version,
                 view.grad_fn.name(), det.requires_grad)
        view.mul_(2)  # (x is a leaf that requires grad: refused, as eager refuses)
        return facts

    def safe_after(inputs, out):
        try:
            return after(inputs, out)
        except RuntimeError as exc:
            return str(exc)[:40]

    runs = _both(f, lambda: (cr.ones(3, requires_grad=True), cr.ones(3)), safe_after)
    assert runs[0] == runs[1] == runs[2]
    assert "leaf" in runs[0]


def test_views_of_outputs_and_inputs_share_versions_and_gradients():
    def f(x, w):
        h = x * w
        return h, h[1:], x.t()

    def after(inputs, out):
        x, w = inputs
        h, v, xt = out
        v.mul_(3)  # a write through a view of another output
        (h.sum() + v.sum() * 2).backward()
        xt.add_(1)  # a write into an input through the output's view
        return (h.tolist(), v._base is h, h._version, x._version, x.tolist(),
                w.grad.tolist())

    runs = _both(f, lambda: (cr.tensor([[1.0, 2.0], [3.0, 4.0]]),
                             cr.tensor([[0.5, -1.0], [2.0, 1.5]], requires_grad=True)), after)
    assert runs[0] == runs[1] == runs[2]


def test_view_of_an_intermediate_has_its_base():
    def f(x):
        return (x * x)[1:]

    def after(inputs, out):
        (x,) = inputs
        base = out._base
        out.mul_(x[1:] * 1)  # rewrites the base's history, as eager does
        out.sum().backward()
        return (base.tolist(), out._version == base._version, out.grad_fn.name(),
                base.grad_fn.name(), x.grad.tolist())

    runs = _both(f, lambda: (cr.tensor([1.0, 2.0, 3.0], requires_grad=True),), after)
    assert runs[0] == runs[1] == runs[2]
    assert runs[0][3] == "CopySlices"


def test_simplified_outputs_never_share_memory():
    cases = [lambda a: a ** 1, lambda a: cr.where(cr.tensor([True, True]), a, a * 2),
             lambda a: (a * 2, a * 2), lambda a: (a.sum(0), a.sum(0))]
    for fn in cases:
        def after(inputs, out):
            outs = out if isinstance(out, tuple) else (out,)
            outs[0].mul_(10)
            return inputs[0].tolist(), [o.tolist() for o in outs]

        runs = _both(fn, lambda: (cr.tensor([1.0, 2.0]),), after)
        assert runs[0] == runs[1] == runs[2]


def test_backward_refuses_an_input_eager_saved_and_the_call_did_not():
    def f(a, b):
        return cr.fmax(a, b)  # eager saves b; the generated backward keeps a mask

    for g in (f, cr.compile(f), cr.compile(f)):
        a = cr.tensor([1.0, 5.0], requires_grad=True)
        b = cr.tensor([3.0, 2.0], requires_grad=True)
        out = g(a, b)
        with cr.no_grad():
            b.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.sum().backward()


def test_create_graph_runs_the_effects_once():
    count = cr.zeros(())

    def f(x):
        with cr.no_grad():
            count.add_(1)
        return (x ** 3).sum()

    cf = cr.compile(f)
    for k in (1, 2):
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        (g,) = cr.autograd.grad(cf(x), x, create_graph=True)
        (gg,) = cr.autograd.grad(g.sum(), x)
        assert g.tolist() == [3.0, 12.0] and gg.tolist() == [6.0, 12.0]
        assert count.item() == k and count._version == k


def test_create_graph_sees_what_the_call_saw_or_says_why_not():
    def f(x, y):
        y.mul_(2)  # a write the call makes: put back for the re-run
        return (x * y).pow(2).sum()

    cf = cr.compile(f)
    for _ in range(2):
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        y = cr.tensor([1.0, 3.0])
        (g,) = cr.autograd.grad(cf(x, y), x, create_graph=True)
        assert g.tolist() == [8.0, 144.0] and y.tolist() == [2.0, 6.0]
    grads = []
    for fn in (f, cf):
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        y = cr.tensor([1.0, 3.0])
        out = fn(x, y)
        with cr.no_grad():
            x.add_(1)  # the caller changes an input eager did not save (copied first)
        (g,) = cr.autograd.grad(out, x, create_graph=True)
        grads.append((g.tolist(), cr.autograd.grad(g.sum(), x)[0].tolist()))
    # y is [2, 6] after the call's write: g = 2·x·y², its derivative 2·y²
    assert grads[0] == grads[1] == ([8.0, 144.0], [8.0, 72.0])

