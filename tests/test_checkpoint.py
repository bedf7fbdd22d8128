"""``utils.checkpoint``: same values and gradients as without it, less memory."""

import tracemalloc
import warnings

import numpy as np
import pytest
from conftest import Raised, assert_mirrors


def block(lib, w1, w2):
    def f(h):
        return h + (h @ w1).tanh() @ w2
    return f


def small_net(lib):
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w1 = lib.tensor(rng.standard_normal((3, 5)) * 0.5, requires_grad=True)
    w2 = lib.tensor(rng.standard_normal((5, 3)) * 0.5, requires_grad=True)
    return x, w1, w2


@pytest.mark.parametrize("reentrant", [True, False])
def test_checkpoint_gives_the_same_values_and_gradients(cr, torch, reentrant):
    def script(lib):
        from_lib = __import__(lib.__name__ + ".utils.checkpoint", fromlist=["checkpoint"])
        x, w1, w2 = small_net(lib)
        f = block(lib, w1, w2)
        y = from_lib.checkpoint(f, from_lib.checkpoint(f, x, use_reentrant=reentrant),
                                use_reentrant=reentrant)
        (y * y).sum().backward()
        return y, x.grad, w1.grad, w2.grad

    def plain(lib):
        x, w1, w2 = small_net(lib)
        f = block(lib, w1, w2)
        y = f(f(x))
        (y * y).sum().backward()
        return y, x.grad, w1.grad, w2.grad

    ours = assert_mirrors(script, cr, torch)
    ref = assert_mirrors(plain, cr, torch)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a[2], b[2], rtol=1e-12)


def test_reentrant_checkpoint_node_and_warnings(cr, torch):
    def script(lib):
        ckpt = __import__(lib.__name__ + ".utils.checkpoint", fromlist=["x"]).checkpoint
        x, w1, w2 = small_net(lib)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            y = ckpt(block(lib, w1, w2), x)
            z = ckpt(lambda t: t * 2, lib.ones(2), use_reentrant=True)
        texts = [str(m.message) for m in w]
        return (y.grad_fn.name(), z.requires_grad,
                any("use_reentrant" in t for t in texts),
                any("None of the inputs have requires_grad=True" in t for t in texts))

    assert_mirrors(script, cr, torch)


@pytest.mark.parametrize("reentrant", [True, False])
def test_checkpoint_with_autograd_grad(cr, torch, reentrant):
    def script(lib):
        ckpt = __import__(lib.__name__ + ".utils.checkpoint", fromlist=["x"]).checkpoint
        x, w1, w2 = small_net(lib)
        y = ckpt(block(lib, w1, w2), x, use_reentrant=reentrant)
        return lib.autograd.grad(y.sum(), [x, w1])

    ours = assert_mirrors(script, cr, torch)
    if reentrant:
        assert isinstance(ours, Raised) and "use_reentrant=True" in ours.message


def test_checkpoint_arguments(cr, torch):
    def script(lib):
        ckpt = __import__(lib.__name__ + ".utils.checkpoint", fromlist=["x"]).checkpoint
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        a, b = ckpt(lambda t, k: (t * k, t.sin()), x, 2.0, use_reentrant=True)
        (a.sum() + b.sum()).backward()
        first = x.grad.clone()
        y = ckpt(lambda t, k=1.0: t * k, x, use_reentrant=False, k=3.0)
        y.sum().backward(retain_graph=True)
        y.sum().backward()
        return first, x.grad

    assert_mirrors(script, cr, torch)


def test_reentrant_checkpoint_refuses_keyword_arguments(cr, torch):
    def script(lib):
        ckpt = __import__(lib.__name__ + ".utils.checkpoint", fromlist=["x"]).checkpoint
        ckpt(lambda t, k=1.0: t * k, lib.ones(1, requires_grad=True), use_reentrant=True,
             k=2.0)

    assert isinstance(assert_mirrors(script, cr, torch), Raised)


@pytest.mark.chainrule_only
@pytest.mark.parametrize("reentrant", [True, False])
def test_random_state_is_replayed(cr, reentrant):
    from chainrule.utils.checkpoint import checkpoint

    def noisy(t):
        return t * cr.rand(t.shape[0], dtype=cr.float64)  # a dropout-like random mask

    x = cr.tensor([1.0, 2.0, 3.0], dtype=cr.float64, requires_grad=True)
    cr.manual_seed(3)
    ref = noisy(x)
    ref.sum().backward()
    want = x.grad.clone()
    x.grad = None
    cr.manual_seed(3)
    y = checkpoint(noisy, x, use_reentrant=reentrant)
    cr.rand(5)  # the stream moves on before backward
    y.sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), ref.detach().numpy())
    np.testing.assert_array_equal(x.grad.numpy(), want.numpy())


def _deep_net(cr, layers=50, width=64, hidden=256, batch=64):
    rng = np.random.default_rng(1)
    ws = [(cr.tensor(rng.standard_normal((width, hidden)) * 0.5 / np.sqrt(width)),
           cr.tensor(rng.standard_normal((hidden, width)) * 0.5 / np.sqrt(hidden)))
          for _ in range(layers)]
    x = cr.tensor(rng.standard_normal((batch, width)), requires_grad=True)
    return x, ws


def _peak(cr, reentrant):
    """Peak traced memory of forward + backward through the net (MiB), and x.grad."""
    from chainrule.utils.checkpoint import checkpoint
    x, ws = _deep_net(cr)
    block(cr, *ws[0])(x).sum().backward()  # warm up outside the trace (it slows imports)
    x.grad = None
    tracemalloc.start()
    try:
        h = x
        for w1, w2 in ws:
            f = block(cr, w1, w2)
            h = f(h) if reentrant is None else checkpoint(f, h, use_reentrant=reentrant)
        (h * h).sum().backward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / 2 ** 20, x.grad.numpy().copy()


@pytest.mark.chainrule_only
def test_checkpointing_each_layer_of_a_50_layer_mlp_cuts_peak_memory(cr):
    plain_peak, plain_grad = _peak(cr, None)
    for reentrant in (True, False):
        peak, grad = _peak(cr, reentrant)
        np.testing.assert_array_equal(grad, plain_grad)
        # without checkpoints every layer keeps its (64 x 256) tanh output; with them,
        # only its (64 x 64) input: about a quarter
        assert peak < 0.5 * plain_peak, (reentrant, peak, plain_peak)
