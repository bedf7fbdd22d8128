"""Fuzzer: random per-sample programs under ``vmap``, against ``torch.vmap``.

Each program maps a batched float64 input ``x`` (batch at a random ``in_dim``, possibly
negative) together with a shared parameter ``w`` (no batch, requires grad) and a shared
or per-sample integer index through a random chain of steps:

- elementwise ops, with a batched or a shared second operand whose rank may be larger
  or smaller than the sample's (broadcasting on both sides);
- reductions over a random dim (``keepdim`` or not), softmax;
- views and copies: reshape, flatten, permute, transpose, unsqueeze, basic slicing with
  steps and negative ints, ``t()``, ``expand``;
- advanced indexing with a shared or a per-sample index, ``gather`` along a random dim;
- products with the shared ``w`` or with the sample itself (matmul, einsum-free);
- in-place ops on a clone and through a view of it (``add_``, ``mul_``, setitem);
- ``cat``/``stack`` with a shared tensor;
- a nested ``vmap`` over the sample's first dim, and ``func.grad`` inside.

Values, the gradients of a weighted sum with respect to ``x`` and ``w`` (through the
vmap rows and the expand nodes of shared inputs), and refusals are compared; the program
is generated while it runs on torch (shapes come from torch).
"""

from __future__ import annotations

import fuzzing
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import chainrule  # noqa: E402

NAME = "vmap"
B = 3


def _steps(rng, shape):
    """A random program: a list of (name, params) for a sample of ``shape``."""
    return [_step(rng) for _ in range(int(rng.integers(2, 7)))]


def _step(rng):
    kinds = ["unary", "binary_shared", "binary_self", "reduce", "softmax", "reshape",
             "permute", "slice", "unsqueeze", "index_shared", "index_batched", "gather",
             "matmul_w", "inplace", "cat", "nested", "grad", "expand", "t"]
    return (kinds[int(rng.integers(len(kinds)))], int(rng.integers(1 << 30)))


def _apply(lib, kind, seed, t, w, idx):
    """One step on a sample ``t`` (the same code for both libraries); ``None`` when the
    step does not apply to this shape."""
    r = np.random.default_rng(seed)
    nd = t.dim()
    if kind == "unary":
        f = ["sin", "exp", "tanh", "relu", "abs", "sigmoid", "square"][int(r.integers(7))]
        return getattr(t, f)() if f != "exp" else (t * 0.3).exp()
    if kind == "binary_shared":
        rank = int(r.integers(0, nd + 2))
        shape = tuple(t.shape[nd - rank:]) if rank <= nd else (2,) + tuple(t.shape)
        c = lib.tensor(r.standard_normal(shape))
        op = int(r.integers(3))
        return t * c if op == 0 else t + c if op == 1 else t / (c.abs() + 1)
    if kind == "binary_self":
        return t * t.flip(-1) if nd else t * t
    if kind == "reduce":
        if not nd:
            return None
        d = int(r.integers(-nd, nd))
        f = ["sum", "mean", "amax", "prod"][int(r.integers(4))]
        return getattr(t, f)(d, keepdim=bool(r.integers(2)))
    if kind == "softmax":
        return t.softmax(-1) if nd else None
    if kind == "reshape":
        return t.reshape(-1) if r.integers(2) else t.flatten().reshape(1, -1)
    if kind == "permute":
        return t.permute(*r.permutation(nd).tolist()) if nd > 1 else None
    if kind == "t":
        return t.t() if nd == 2 else None
    if kind == "slice":
        if not nd or t.shape[0] < 2:
            return None
        return t[1::2] if r.integers(2) else t[-1]
    if kind == "unsqueeze":
        return t.unsqueeze(int(r.integers(-nd - 1, nd + 1)))
    if kind == "expand":
        return t.unsqueeze(0).expand(2, *t.shape) * 1.5
    if kind in ("index_shared", "index_batched"):
        if not nd or t.shape[0] == 0:
            return None
        n = t.shape[0]
        if kind == "index_shared":
            return t[lib.tensor(r.integers(-n, n, size=(2, 2)))]
        return t[idx % n]
    if kind == "gather":
        if not nd or 0 in t.shape:
            return None
        d = int(r.integers(-nd, nd))
        shape = list(t.shape)
        shape[d] = 2
        return t.gather(d, lib.tensor(r.integers(0, t.shape[d], size=shape)))
    if kind == "matmul_w":
        if not nd:
            return None
        k = t.shape[-1]
        m = w[:k, :2] if k <= w.shape[0] else None
        return None if m is None else t @ m
    if kind == "inplace":
        if not nd:
            return None
        u = t.clone()
        if r.integers(2):
            u[..., 0] = u[..., -1] * 2
        v = u[0] if u.shape[0] else u
        v.mul_(1.5).add_(0.25)
        return u
    if kind == "cat":
        c = lib.tensor(r.standard_normal((1,) + tuple(t.shape[1:]))) if nd else None
        return lib.cat([t, c], 0) if nd else lib.stack([t, t * 2])
    if kind == "nested":
        if not nd:
            return None
        return lib.vmap(lambda row: (row * 2).sin() + row.sum())(t)
    if kind == "grad":
        return lib.func.grad(lambda a: (a.sin() * a).sum())(t)
    raise AssertionError(kind)


def _run(lib, steps, xa, wa, ia, in_dim):
    x = lib.tensor(xa, requires_grad=True)
    w = lib.tensor(wa, requires_grad=True)
    idx = lib.tensor(ia)

    def per_sample(t, j):
        for kind, seed in steps:
            nxt = _apply(lib, kind, seed, t, w, j)
            if nxt is not None:
                t = nxt
        return t
    out = lib.vmap(per_sample, in_dims=(in_dim, 0))(x, idx)
    weights = lib.tensor(np.random.default_rng(1).standard_normal(tuple(out.shape)))
    (out * weights).sum().backward()
    grads = [None if g is None else g.detach().numpy().copy() for g in (x.grad, w.grad)]
    return out.detach().numpy().copy(), grads


def test_random_vmap_programs_match_torch():
    rng = fuzzing.rng(NAME)
    deadline = fuzzing.budget(20)
    import time
    ran = 0
    for case in range(fuzzing.cases(600)):
        if time.monotonic() > deadline:
            break
        nd = int(rng.integers(1, 4))
        shape = tuple(int(s) for s in rng.integers(1, 4, size=nd))
        in_dim = int(rng.integers(-nd - 1, nd + 1))
        full = list(shape)
        full.insert(in_dim % (nd + 1), B)
        xa = rng.standard_normal(full)
        wa = rng.standard_normal((4, 3))
        ia = rng.integers(0, 4, size=(B, 2))
        steps = _steps(rng, shape)
        try:
            want = _run(torch, steps, xa, wa, ia, in_dim)
            torch_exc = None
        except (RuntimeError, ValueError, IndexError) as exc:
            torch_exc = exc
        try:
            got = _run(chainrule, steps, xa, wa, ia, in_dim)
        except (RuntimeError, ValueError, IndexError) as exc:
            assert torch_exc is not None, (case, steps, in_dim, shape, exc)
            continue
        if torch_exc is not None:
            # chainrule does more than torch.vmap here only where documented
            assert "mask" in str(torch_exc) or "dynamic" in str(torch_exc), (
                case, steps, torch_exc)
            continue
        np.testing.assert_allclose(got[0], want[0], rtol=1e-9, atol=1e-10,
                                   err_msg=f"values of {steps} (in_dim {in_dim}, {shape})")
        for g, wnt, name in zip(got[1], want[1], ("x", "w")):
            if wnt is None:
                assert g is None or not np.any(g), (steps, name)
                continue
            np.testing.assert_allclose(g, wnt, rtol=1e-9, atol=1e-10,
                                       err_msg=f"grad of {name}: {steps} (in_dim {in_dim})")
        ran += 1
    fuzzing.record(NAME, ran)
    assert ran >= 50
