"""Every op-table row under ``vmap``: ``vmap(f)`` equals the stack of ``f`` per sample.

For each ``Case`` of ``tests/opinfo`` (float64; also float32, and with inf, nan and -0.0
written into two samples), three samples (seeds 0, 1, 2) are stacked along a new dim and
``vmap`` runs the case once; its values must equal the three unbatched runs.  Two mixes of batched and unbatched inputs are checked (all inputs
batched; only the first, the rest shared), because the batching rules' hard part is the
alignment of a batched operand with an unbatched one.  The per-sample VJPs (``vmap`` of
``func.vjp``, cotangents batched too) must equal the per-sample ``autograd.grad``.

Where ``torch.vmap`` refuses a case (a batched value written in place into an unbatched
tensor, shapes that depend on the values), chainrule must refuse it too, and only then.
"""

from __future__ import annotations

import numpy as np
import pytest
from opinfo import ALL_CASES
from opinfo._harness import diff_positions, flat_outputs

import chainrule as cr

B = 3


def _same_shapes(case):
    shapes = [tuple(a.shape) for a in case.arrays(0)]
    return all([tuple(a.shape) for a in case.arrays(s)] == shapes for s in range(1, B))


CASES = [c for c in ALL_CASES if _same_shapes(c)]


def _np(t):
    return np.array(t.detach().numpy(), copy=True)


def _per_sample(case, samples):
    outs = [flat_outputs(cr, case.fn(cr, *[cr.tensor(a) for a in s])) for s in samples]
    return outs, lambda: [np.stack([_np(o[k]) for o in outs]) for k in range(len(outs[0]))]


def _torch_refuses(case, args, in_dims) -> bool:
    """Does ``torch.vmap`` refuse this case too (in-place writes of a batched value into
    an unbatched tensor, data-dependent shapes)?"""
    torch = pytest.importorskip("torch")
    targs = [torch.tensor(a.numpy()) for a in args]
    try:
        torch.vmap(lambda *xs: tuple(flat_outputs(torch, case.fn(torch, *xs))),
                   in_dims=in_dims)(*targs)
    except (RuntimeError, ValueError):
        return True
    return False


def _refusal_allowed(case, exc, args, in_dims) -> bool:
    assert _torch_refuses(case, args, in_dims), f"{case.id}: {type(exc).__name__}: {exc}"
    return True


def _special(samples):
    """Samples 1 and 2 with inf, nan and -0.0 written into their float inputs."""
    out = [list(s) for s in samples]
    for b, values in ((1, (np.inf, np.nan)), (2, (-0.0, -np.inf))):
        for i, a in enumerate(out[b]):
            if a.dtype.kind == "f" and a.size:
                a = a.copy()
                flat = a.reshape(-1)
                flat[:len(values)] = values[:flat.size]
                out[b][i] = a
    return out


@pytest.mark.parametrize("mix", ["all", "first", "all-float32", "all-special"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_vmap_equals_stack(case, mix):
    dtype = np.float32 if mix.endswith("float32") else np.float64
    samples = [case.arrays(s, dtype) for s in range(B)]
    if mix.endswith("special"):
        if case.op == "linalg_eigh":
            # LAPACK's eigh of a non-finite matrix gives nan or a convergence error
            # depending on where the inf sits (alone or in a stack); vmap gives nan for
            # that sample, as PyTorch and NumPy's stacked eigh do
            return
        samples = _special(samples)
    mix = mix.split("-")[0]
    n = len(samples[0])
    batched = [True] * n if mix == "all" else [i == 0 for i in range(n)]
    if mix == "first":
        samples = [[s[0]] + samples[0][1:] for s in samples]
    args = [cr.tensor(np.stack([s[i] for s in samples])) if b else cr.tensor(samples[0][i])
            for i, b in enumerate(batched)]
    in_dims = tuple(0 if b else None for b in batched)
    run = cr.func.vmap(lambda *xs: tuple(flat_outputs(cr, case.fn(cr, *xs))), in_dims=in_dims)
    try:
        _, stacked = _per_sample(case, samples)
    except Exception as exc:  # noqa: BLE001 - a sample the op refuses (a singular matrix)
        with pytest.raises(type(exc)):
            run(*args)
        return
    try:
        want = stacked()
    except ValueError:  # samples of different shapes (a boolean mask): vmap must refuse
        with pytest.raises(RuntimeError, match="vmap"):
            run(*args)
        return
    try:
        got = cr.func.vmap(lambda *xs: tuple(flat_outputs(cr, case.fn(cr, *xs))),
                           in_dims=in_dims)(*args)
    except (RuntimeError, ValueError) as exc:
        assert _refusal_allowed(case, exc, args, in_dims)
        return
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert tuple(g.shape) == w.shape, (case.id, tuple(g.shape), w.shape)
        assert np.dtype(str(g.dtype).split(".")[-1]) == w.dtype
        tol = (1e-10, 1e-12) if dtype == np.float64 else (2e-5, 2e-6)
        np.testing.assert_allclose(_np(g), w, rtol=tol[0], atol=tol[1], equal_nan=True)


@pytest.mark.parametrize("case", [c for c in CASES if c.grad], ids=lambda c: c.id)
def test_vmap_of_vjp_equals_per_sample_grads(case):
    samples = [case.arrays(s) for s in range(B)]
    pos = diff_positions(case, samples[0])
    if not pos:
        pytest.skip("no differentiable input")  # (an index-only case of a diff row)
    rng = np.random.default_rng(7)
    want, cots = [], []
    for s in samples:
        ins = [cr.tensor(a, requires_grad=i in pos) for i, a in enumerate(s)]
        outs = flat_outputs(cr, case.fn(cr, *ins))
        used = [o for o in outs if o.requires_grad]
        vs = [rng.standard_normal(tuple(o.shape)) for o in used]
        cots.append(vs)
        gs = cr.autograd.grad(used, [ins[i] for i in pos], [cr.tensor(v) for v in vs],
                              allow_unused=True)
        want.append([np.zeros(s[i].shape) if g is None else _np(g) for g, i in zip(gs, pos)])
    args = [cr.tensor(np.stack([s[i] for s in samples])) for i in range(len(samples[0]))]
    if any(len({c[k].shape for c in cots}) > 1 for k in range(len(cots[0]))):
        # samples of different shapes (a boolean mask): vmap must refuse
        with pytest.raises(RuntimeError, match="vmap"):
            cr.func.vmap(lambda *xs: tuple(flat_outputs(cr, case.fn(cr, *xs))))(*args)
        return
    vstack = [cr.tensor(np.stack([c[k] for c in cots])) for k in range(len(cots[0]))]

    def per_sample(vs, *xs):
        def f(*diff):
            full = list(xs)
            for i, d in zip(pos, diff):
                full[i] = d
            return tuple(o for o in flat_outputs(cr, case.fn(cr, *full)) if o.requires_grad)
        _, pull = cr.func.vjp(f, *[xs[i] for i in pos])
        return pull(tuple(vs))
    try:
        got = cr.func.vmap(per_sample)(vstack, *args)
    except (RuntimeError, ValueError) as exc:
        assert _torch_refuses(case, args, 0), f"{case.id}: {type(exc).__name__}: {exc}"
        return
    for k, i in enumerate(pos):
        w = np.stack([w_[k] for w_ in want])
        np.testing.assert_allclose(_np(got[k]), w, rtol=1e-9, atol=1e-10, equal_nan=True)


@pytest.mark.parametrize("case", [c for c in CASES if c.grad], ids=lambda c: c.id)
def test_vmap_of_jvp_equals_per_sample_jvps(case):
    """Forward mode under vmap: batched primals and batched tangents."""
    samples = [case.arrays(s) for s in range(B)]
    pos = diff_positions(case, samples[0])
    if not pos:
        return
    rng = np.random.default_rng(11)
    tans = [[rng.standard_normal(s[i].shape) for i in pos] for s in samples]

    def run(xs, ts):
        def f(*diff):
            full = list(xs)
            for i, d in zip(pos, diff):
                full[i] = d
            return tuple(o for o in flat_outputs(cr, case.fn(cr, *full))
                         if o.is_floating_point())
        return cr.func.jvp(f, tuple(xs[i] for i in pos), tuple(ts))[1]
    want = [[_np(t) for t in run([cr.tensor(a) for a in s], [cr.tensor(t) for t in ts])]
            for s, ts in zip(samples, tans)]
    if any(len({w[k].shape for w in want}) > 1 for k in range(len(want[0]))):
        return  # samples of different shapes: covered by test_vmap_equals_stack
    args = [cr.tensor(np.stack([s[i] for s in samples])) for i in range(len(samples[0]))]
    targs = [cr.tensor(np.stack([t[k] for t in tans])) for k in range(len(pos))]
    try:
        got = cr.func.vmap(lambda xs, ts: run(list(xs), ts))(args, targs)
    except (RuntimeError, ValueError) as exc:
        assert _torch_refuses(case, args, 0), f"{case.id}: {type(exc).__name__}: {exc}"
        return
    for k in range(len(want[0])):
        np.testing.assert_allclose(_np(got[k]), np.stack([w[k] for w in want]), rtol=1e-9,
                                   atol=1e-10, equal_nan=True)


@pytest.mark.parametrize("mix", ["all", "first"])
@pytest.mark.parametrize("case", [c for c in CASES if c.grad], ids=lambda c: c.id)
def test_second_order_through_vmap_equals_stack(case, mix):
    """Differentiable backward passes through vmap (and through the sum of the shared
    inputs' per-sample cotangents, Note [unbatched inputs inside vmap]): the
    Hessian-vector products of ``vmap(f)`` equal those of the stack of ``f``."""
    samples = [case.arrays(s) for s in range(B)]
    pos = diff_positions(case, samples[0])
    if not pos:
        return
    n = len(samples[0])
    batched = [True] * n if mix == "all" else [i == 0 for i in range(n)]
    if mix == "first":
        samples = [[s[0]] + samples[0][1:] for s in samples]
    arrays = [np.stack([s[i] for s in samples]) if b else samples[0][i]
              for i, b in enumerate(batched)]
    rng = np.random.default_rng(5)

    def hvp(outs_of):
        xs = [cr.tensor(a, requires_grad=i in pos) for i, a in enumerate(arrays)]
        outs = [o for o in outs_of(xs) if o.requires_grad and o.is_floating_point()]
        if not outs:
            return None
        r = np.random.default_rng(5)
        vs = [cr.tensor(r.standard_normal(tuple(o.shape))) for o in outs]
        gs = cr.autograd.grad(outs, [xs[i] for i in pos], vs, create_graph=True,
                              allow_unused=True)
        ws = [cr.tensor(r.standard_normal(tuple(xs[i].shape))) for i in pos]
        inner = sum(((g * w).sum() for g, w in zip(gs, ws) if g is not None and g.requires_grad),
                    start=cr.tensor(0.0, dtype=cr.float64))
        if not inner.requires_grad:
            return [np.zeros(xs[i].shape) for i in pos]
        hs = cr.autograd.grad(inner, [xs[i] for i in pos], allow_unused=True)
        return [np.zeros(xs[i].shape) if h is None else _np(h) for h, i in zip(hs, pos)]
    del rng
    in_dims = tuple(0 if b else None for b in batched)

    def mapped(xs):
        return cr.func.vmap(lambda *a: tuple(flat_outputs(cr, case.fn(cr, *a))),
                            in_dims=in_dims)(*xs)

    def stacked(xs):
        per = [flat_outputs(cr, case.fn(cr, *[x[b] if bt else x for x, bt in zip(xs, batched)]))
               for b in range(B)]
        return [cr.stack([p[k] for p in per]) for k in range(len(per[0]))]
    try:
        want = hvp(stacked)
    except (RuntimeError, ValueError):
        return  # samples of different shapes: covered by test_vmap_equals_stack
    try:
        got = hvp(mapped)
    except (RuntimeError, ValueError) as exc:
        assert _torch_refuses(case, [cr.tensor(a) for a in arrays], in_dims), \
            f"{case.id}: {type(exc).__name__}: {exc}"
        return
    if want is None:
        return
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-8, atol=1e-9, equal_nan=True)
