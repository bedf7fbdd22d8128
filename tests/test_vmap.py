"""``vmap``'s API against ``torch.func.vmap``: in_dims/out_dims pytrees, nesting, the
compositions with grad/jacrev/jacfwd/hessian, randomness modes, chunking and PyTorch's
errors (same exception types and messages).  Values are compared with PyTorch running
the same code; the per-row checks are in ``test_vmap_table.py``."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 3, 5))
W = RNG.standard_normal((2, 5))


def both(fn, *arrays, **kw):
    """``fn(lib, *tensors)`` on chainrule and torch, results as NumPy (flat list)."""
    out = []
    for lib in (cr, torch):
        res = fn(lib, *[lib.tensor(a) for a in arrays], **kw)
        leaves = res if isinstance(res, (tuple, list)) else [res]
        out.append([np.asarray(r.detach().numpy()) for r in leaves])
    return out


def assert_same(fn, *arrays, tol=1e-10):
    got, want = both(fn, *arrays)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


def test_in_dims_out_dims_negative_and_none():
    assert_same(lambda lib, x, w: lib.vmap(lambda a, b: (b @ a.T).tanh(), in_dims=(1, None),
                                           out_dims=-1)(x, w), X, W)
    assert_same(lambda lib, x: lib.vmap(lambda a: a.sum(0), in_dims=-1)(x), X)
    assert_same(lambda lib, x: lib.vmap(lambda a: (a, a * 2), out_dims=(0, 1))(x), X)


def test_pytree_inputs_and_outputs():
    def fn(lib, x, w):
        f = lib.vmap(lambda d, s: {"y": d["a"] @ s[0].T, "z": [d["a"].sum()]},
                     in_dims=({"a": 0}, None))
        out = f({"a": x}, [w])
        return [out["y"], out["z"][0]]
    assert_same(fn, X, W)


def test_nested_vmap_and_closure_of_outer_level():
    def fn(lib, x, w):
        def outer(a):  # a: (3, 5)
            return lib.vmap(lambda row: (row * a.mean(0)).sum() + w.sum())(a)
        return lib.vmap(outer)(x)
    assert_same(fn, X, W)
    assert_same(lambda lib, x: lib.vmap(lib.vmap(lambda v: v.dot(v)), in_dims=1)(x), X)


def test_per_sample_gradients_and_jacobians():
    def loss(lib, w, x):
        return ((w @ x).sin() ** 2).sum()
    assert_same(lambda lib, x, w: lib.vmap(lib.func.grad(lambda w_, x_: loss(lib, w_, x_)),
                                           in_dims=(None, 0))(w, x[:, 0]), X, W)
    assert_same(lambda lib, x: lib.vmap(lib.func.jacrev(lambda a: a.sin() * a.sum()))(x[:, 0]),
                X)
    assert_same(lambda lib, x: lib.vmap(lib.func.jacfwd(lambda a: a.exp() / a.norm()))(x[:, 0]),
                X)
    assert_same(lambda lib, x: lib.vmap(lib.func.hessian(lambda a: (a.sin() * a.sum()).sum()))(
        x[:, 0]), X)
    assert_same(lambda lib, x: lib.vmap(lib.func.jacrev(lib.func.jacrev(
        lambda a: (a ** 3).prod())))(x[:, 0]), X)
    assert_same(lambda lib, x: lib.vmap(lib.func.grad(lambda a: lib.func.grad(
        lambda b: (b.exp() * b[0]).sum())(a).pow(2).sum()))(x[:, 0]), X)
    # outside in: the gradient of a vmapped function
    assert_same(lambda lib, x: lib.func.grad(lambda a: lib.vmap(lambda r: r.tanh().sum())(a)
                                             .pow(2).sum())(x), X)
    assert_same(lambda lib, x: lib.func.jacrev(lib.vmap(lambda r: r.cos() * r[0]))(x[:, 0]), X)


def test_chunk_size_gives_the_same_values():
    assert_same(lambda lib, x: lib.vmap(lambda a: a.softmax(-1) @ a.T, chunk_size=3)(x), X)


def test_randomness_modes():
    x = cr.zeros(5, 3)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        cr.vmap(lambda a: a + cr.randn(3))(x)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        cr.vmap(lambda a: cr.nn.functional.dropout(a + 1, 0.5))(x)
    same = cr.vmap(lambda a: a + cr.rand(3), randomness="same")(x)
    assert np.allclose(same.numpy(), same.numpy()[0])
    diff = cr.vmap(lambda a: a + cr.rand(3), randomness="different")(x)
    assert diff.shape == (5, 3) and not np.allclose(diff.numpy(), diff.numpy()[0])
    drop = cr.vmap(lambda a: cr.nn.functional.dropout(a + 1, 0.5), randomness="different")(
        cr.zeros(200, 50))
    kept = (drop.numpy() != 0).mean()
    assert 0.4 < kept < 0.6 and set(np.unique(drop.numpy())) <= {0.0, 2.0}


def _errors(fn, *args):
    """The (type, message) each library raises for ``fn(lib, *args)``."""
    out = []
    for lib in (cr, torch):
        with pytest.raises(Exception) as info:
            fn(lib, *[lib.tensor(a) if isinstance(a, np.ndarray) else a for a in args])
        out.append((type(info.value), str(info.value)))
    return out


@pytest.mark.parametrize("name,fn,args", [
    ("item", lambda lib, x: lib.vmap(lambda a: a.sum().item())(x), (X,)),
    ("bool", lambda lib, x: lib.vmap(lambda a: bool(a.sum() > 0))(x), (X,)),
    ("backward", lambda lib, x: lib.vmap(lambda a: a.sum().backward())(x.requires_grad_()),
     (X,)),
    ("sizes", lambda lib, x, y: lib.vmap(lambda a, b: a + b)(x, y), (X, X[:2])),
    ("in_dim range", lambda lib, x: lib.vmap(lambda a: a, in_dims=3)(x), (X,)),
    ("non-tensor", lambda lib, x: lib.vmap(lambda a, n: a, in_dims=(0, 0))(x, 3), (X,)),
    ("returns int", lambda lib, x: lib.vmap(lambda a: 3)(x), (X,)),
    ("no batched input", lambda lib, x: lib.vmap(lambda a, b: a, in_dims=(None, None))(x, x),
     (X,)),
    ("in_dims list", lambda lib, x: lib.vmap(lambda a: a, in_dims=[0])(x), (X,)),
    ("out_dim None", lambda lib, x: lib.vmap(lambda a: a, out_dims=None)(x), (X,)),
    ("randomness", lambda lib, x: lib.vmap(lambda a: a, randomness="foo"), (X,)),
    ("chunk_size", lambda lib, x: lib.vmap(lambda a: a, chunk_size=0)(x), (X,)),
    ("inplace into unbatched", lambda lib, x, w: lib.vmap(lambda a: w[0].mul_(a[0]))(x),
     (X, W)),
    ("nonzero", lambda lib, x: lib.vmap(lambda a: a.nonzero())(x), (X,)),
])
def test_errors_match_pytorch(name, fn, args):
    (ct, cm), (tt, tm) = _errors(fn, *args)
    assert ct is tt, (name, cm, tm)
    assert cm.split("(")[0].split(":")[0] == tm.split("(")[0].split(":")[0], (name, cm, tm)


def test_inplace_on_a_batched_tensor_and_views():
    def fn(lib, x):
        def f(a):
            b = a.clone()
            b[0] += 1
            b.t()[1].mul_(2)
            return b
        return lib.vmap(f)(x)
    assert_same(fn, X)


def _functions(lib):
    class Old(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin()

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * x.cos()

    class New(lib.autograd.Function):
        @staticmethod
        def forward(x):
            return x.sin()

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * x.cos()

    class Generated(New):
        generate_vmap_rule = True

    class Rule(New):
        @staticmethod
        def vmap(info, in_dims, x):
            assert info.batch_size == 4 and in_dims == (0,)
            return Rule.apply(x) * 1, in_dims[0]
    return Old, New, Generated, Rule


def test_autograd_function_under_vmap():
    for k in (0, 1):  # PyTorch's refusals, same types and texts
        (ct, cm), (tt, tm) = _errors(lambda lib, x: lib.vmap(_functions(lib)[k].apply)(x), X)
        assert ct is tt and cm == tm
    for k in (2, 3):
        assert_same(lambda lib, x: lib.vmap(_functions(lib)[k].apply)(x), X)
        assert_same(lambda lib, x: lib.vmap(lib.func.grad(
            lambda a: _functions(lib)[k].apply(a).pow(2).sum()))(x), X)


def test_batched_indexing_fuzz():
    """Random keys mixing ints, slices, None and index arrays (shared or per-sample)
    against NumPy per sample: the batch dim must land where each sample's result says."""
    from chainrule.backend.batched import BatchedArray, getitem
    rng = np.random.default_rng(0)
    size, checked = 3, 0
    for _ in range(1500):
        shape = tuple(int(s) for s in rng.integers(1, 4, size=rng.integers(1, 4)))
        key = []
        for n in shape:
            c = rng.integers(0, 5)
            key.append(slice(None) if c == 0 else
                       slice(int(rng.integers(0, n)), None, int(rng.integers(1, 3))) if c == 1
                       else int(rng.integers(-n, n)) if c == 2 else
                       rng.integers(-n, n, size=(2,)) if c == 3 else
                       ("per-sample", rng.integers(-n, n, size=(size, 2))))
            if rng.random() < 0.15:
                key.append(None)
        x_batched = rng.random() < 0.7
        if not x_batched and not any(isinstance(k, tuple) for k in key):
            continue
        x = rng.standard_normal((size,) + shape)
        want = np.stack([(x[b] if x_batched else x[0])[tuple(
            k[1][b] if isinstance(k, tuple) else k for k in key)] for b in range(size)])
        got = getitem(BatchedArray(x, 1) if x_batched else x[0],
                      tuple(BatchedArray(k[1], 1) if isinstance(k, tuple) else k for k in key))
        np.testing.assert_array_equal(got.v, want)
        checked += 1
    assert checked > 1000


def _module(lib, name):
    lib.manual_seed(0)
    nn = lib.nn
    return {"bn": lambda: nn.BatchNorm1d(4).eval(), "ln": lambda: nn.LayerNorm(4),
            "mha": lambda: nn.MultiheadAttention(4, 2, batch_first=True),
            "enc": lambda: nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True),
            "conv1d": lambda: nn.Conv1d(4, 3, 2), "lstm": lambda: nn.LSTM(4, 5),
            "gru": lambda: nn.GRU(4, 5, batch_first=True)}[name]().double()


def _call(name, m, xb):
    if name in ("lstm", "gru"):
        return m(xb)[0]
    if name == "mha":
        return m(xb, xb, xb)[0]
    if name in ("bn", "conv1d"):
        return m(xb.transpose(1, 2))
    return m(xb)


@pytest.mark.parametrize("name", ["bn", "ln", "mha", "enc", "conv1d"])
def test_modules_under_vmap_match_torch(name):
    """nn modules inside vmap (a batch of batches), values and per-sample gradients of
    their parameters, against torch.vmap with the same weights."""
    xs = RNG.standard_normal((3, 2, 6, 4))
    res = []
    for lib in (cr, torch):
        m = _module(lib, name)
        if lib is cr:
            weights = [p.detach().numpy().copy() for p in m.parameters()]
        else:
            with torch.no_grad():
                for p, w in zip(m.parameters(), weights):
                    p.copy_(torch.tensor(w))
        params = {k: v.detach() for k, v in m.named_parameters()}
        x = lib.tensor(xs)
        out = lib.vmap(lambda xb: _call(name, m, xb))(x)
        loss = lambda p, xb: _call(name, lambda *a: lib.func.functional_call(m, p, a),
                                   xb).pow(2).sum() if name != "mha" else \
            lib.func.functional_call(m, p, (xb, xb, xb))[0].pow(2).sum()
        grads = lib.vmap(lib.func.grad(loss), in_dims=(None, 0))(params, x)
        res.append((out.detach().numpy(), {k: g.detach().numpy() for k, g in grads.items()}))
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-10, atol=1e-12)
    for k in res[1][1]:
        np.testing.assert_allclose(res[0][1][k], res[1][1][k], rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_recurrent_modules_under_vmap_equal_a_loop(name):
    """LSTM/GRU inside vmap (torch.vmap has no batching rule for them): outputs and
    per-sample parameter gradients equal a loop over the samples."""
    m = _module(cr, name)
    x = cr.tensor(RNG.standard_normal((3, 6, 2, 4)))
    params = {k: v.detach() for k, v in m.named_parameters()}
    loss = lambda p, xb: cr.func.functional_call(m, p, (xb,))[0].pow(2).sum()
    np.testing.assert_allclose(cr.vmap(lambda xb: m(xb)[0])(x).detach().numpy(),
                               np.stack([m(x[i])[0].detach().numpy() for i in range(3)]),
                               rtol=1e-12, atol=1e-13)
    batched = cr.vmap(cr.func.grad(loss), in_dims=(None, 0))(params, x)
    for i in range(3):
        one = cr.func.grad(loss)(params, x[i])
        for k in params:
            np.testing.assert_allclose(batched[k][i].numpy(), one[k].numpy(), rtol=1e-10,
                                       atol=1e-12)
