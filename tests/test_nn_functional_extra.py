"""normalize, cosine_similarity, pairwise_distance, scaled_dot_product_attention and
broadcast_tensors: values and gradients equal PyTorch's (float64)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
rng = np.random.default_rng(0)
X, Y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
Q, K, V = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), \
    rng.standard_normal((2, 5, 6))
MASK = np.ones((3, 5), bool)
MASK[1] = False  # a query that sees no key: zeros, not NaN (PyTorch's safe softmax)
MASK[2, :2] = False

CASES = {
    "normalize": ("normalize", (X,), {}),
    "normalize_p1_dim0": ("normalize", (X,), {"p": 1.0, "dim": 0}),
    "normalize_tiny": ("normalize", (X * 1e-14,), {}),
    "cosine": ("cosine_similarity", (X, Y), {}),
    "cosine_broadcast": ("cosine_similarity", (X, Y[:1]), {"dim": -1}),
    "cosine_zero": ("cosine_similarity", (X, 0 * Y), {}),
    "pairwise": ("pairwise_distance", (X, Y), {}),
    "pairwise_p1_keepdim": ("pairwise_distance", (X, Y), {"p": 1.0, "keepdim": True}),
    "sdpa": ("scaled_dot_product_attention", (Q, K, V), {}),
    "sdpa_causal": ("scaled_dot_product_attention", (Q, Q, V[:, :3]), {"is_causal": True}),
    "sdpa_bool_mask": ("scaled_dot_product_attention", (Q, K, V, MASK), {}),
    "sdpa_float_mask": ("scaled_dot_product_attention", (Q, K, V, rng.standard_normal((3, 5))),
                        {}),
    "sdpa_scale": ("scaled_dot_product_attention", (Q, K, V), {"scale": 0.3}),
    "sdpa_gqa": ("scaled_dot_product_attention",
                 (rng.standard_normal((2, 4, 3, 4)), rng.standard_normal((2, 2, 5, 4)),
                  rng.standard_normal((2, 2, 5, 6))), {"enable_gqa": True}),
}


def _run(lib, fn, arrays, kw):
    f = getattr(F if lib is cr else TF, fn)
    ts = [lib.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = f(*ts, **kw)
    (out * lib.tensor(np.linspace(-1, 2, out.numel()).reshape(tuple(out.shape)))).sum().backward()
    return out.detach().numpy(), [None if t.grad is None else t.grad.numpy() for t in ts]


@pytest.mark.parametrize("name", CASES)
def test_matches_pytorch(name):
    fn, arrays, kw = CASES[name]
    (a, ga), (b, gb) = _run(cr, fn, arrays, kw), _run(torch, fn, arrays, kw)
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for x, y in zip(ga, gb):
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12)


def test_sdpa_mask_with_causal_raises_as_pytorch():
    for lib, f in ((cr, F), (torch, TF)):
        q = lib.ones(1, 2, 2)
        with pytest.raises(RuntimeError, match="attn_mask should not be set"):
            f.scaled_dot_product_attention(q, q, q, attn_mask=lib.ones(2, 2, dtype=lib.bool),
                                           is_causal=True)


def test_broadcast_tensors_and_shapes():
    a, b = cr.broadcast_tensors(cr.ones(3, 1), cr.arange(4.0))
    ta, tb = torch.broadcast_tensors(torch.ones(3, 1), torch.arange(4.0))
    assert tuple(a.shape) == tuple(ta.shape) and b.tolist() == tb.tolist()
    assert cr.broadcast_shapes((2, 1), (3,)) == torch.broadcast_shapes((2, 1), (3,))
    with pytest.raises(RuntimeError):
        cr.broadcast_shapes((2,), (3,))
