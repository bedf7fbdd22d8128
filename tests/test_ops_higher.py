"""Second-order and batched properties, run over the whole op table (``tests/opinfo``).

- gradgrad: with ``create_graph=True`` the backward is itself recorded; differentiating
  ⟨vᵀJ(x), w⟩ again passes a finite-difference check in float64 (no torch needed), so
  every rule is differentiable and its vocabulary is closed under differentiation;
- batched cotangents: one backward with ``is_grads_batched=True`` and a stack of B
  cotangents equals B separate backward passes (B = 3 matches no dimension in the table).
"""

from __future__ import annotations

import numpy as np
import pytest
from opinfo import ALL_CASES
from opinfo._harness import NO_FD, NO_FD2, cotangents, diff_positions, run, to_numpy

import chainrule

EPS = 1e-6
BATCH = 3
GRAD_CASES = [c for c in ALL_CASES if c.grad]
CASES = pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: c.id)


def _setup(case, arrays):
    pos = diff_positions(case, arrays)
    inputs, outs = run(chainrule, case, arrays, pos)
    used = [o for o in outs if o.requires_grad]
    if not used:
        pytest.skip("no output requires grad")
    return pos, inputs, used


def _first_order(case, arrays, vs, ws, pos):
    """⟨vᵀJ(x), w⟩ and its gradient, first order only (for finite differences)."""
    inputs, outs = run(chainrule, case, arrays, pos)
    used = [o for o in outs if o.requires_grad]
    gs = chainrule.autograd.grad(used, [inputs[i] for i in pos],
                                 [chainrule.tensor(v) for v in vs], allow_unused=True)
    return sum(float(np.sum(to_numpy(g) * w)) for g, w in zip(gs, ws) if g is not None)


@CASES
def test_gradgrad_matches_finite_differences(case):
    """Differentiate s(x, v) = ⟨vᵀJ(x), w⟩ again, with respect to the inputs x AND the
    cotangent v, and compare with central differences of s along (u, t).  The v part
    checks that every VJP rule is itself differentiable (for a linear op it is the only
    part: its vᵀJ does not depend on x)."""
    if NO_FD in case.tags or NO_FD2 in case.tags:
        pytest.skip("the input sits on a kink of the row or of its derivative")
    arrays = case.arrays(dtype=np.float64)
    pos, inputs, used = _setup(case, arrays)
    if any(o.dtype != chainrule.float64 for o in used):
        pytest.skip("an output is not float64")
    vs = cotangents([to_numpy(o) for o in used], seed=1)
    rng = np.random.default_rng(3)
    ws = [rng.standard_normal(arrays[i].shape) for i in pos]
    us = [rng.standard_normal(arrays[i].shape) for i in pos]
    ts = [rng.standard_normal(v.shape) for v in vs]
    diff = [inputs[i] for i in pos]
    v_leaves = [chainrule.tensor(v, requires_grad=True) for v in vs]
    gs = chainrule.autograd.grad(used, diff, v_leaves, create_graph=True, allow_unused=True)
    terms = [(g * chainrule.tensor(w)).sum() for g, w in zip(gs, ws)
             if g is not None and g.requires_grad]
    if not terms:
        pytest.skip("no gradient flows to the inputs")
    second = chainrule.autograd.grad(sum(terms[1:], terms[0]), diff + v_leaves,
                                     allow_unused=True)
    analytic = sum(float(np.sum(to_numpy(h) * u)) for h, u in zip(second, us + ts)
                   if h is not None)

    def at(step):
        xs = list(arrays)
        for i, u in zip(pos, us):
            xs[i] = arrays[i] + step * u
        return _first_order(case, xs, [v + step * t for v, t in zip(vs, ts)], ws, pos)

    numeric = (at(EPS) - at(-EPS)) / (2 * EPS)
    scale = 1.0 + abs(analytic) + abs(numeric)
    assert abs(analytic - numeric) <= max(case.fd_tol, 1e-5) * scale, (
        f"{case.id}: second order {analytic!r}, finite differences {numeric!r}")


@CASES
def test_batched_cotangents_equal_stacked_backward(case):
    arrays = case.arrays(dtype=np.float64)
    pos, inputs, used = _setup(case, arrays)
    rng = np.random.default_rng(4)
    vs = [rng.standard_normal((BATCH,) + tuple(o.shape)).astype(to_numpy(o).dtype)
          for o in used]
    diff = [inputs[i] for i in pos]
    batched = chainrule.autograd.grad(used, diff, [chainrule.tensor(v) for v in vs],
                                      retain_graph=True, allow_unused=True,
                                      is_grads_batched=True)
    for b in range(BATCH):
        single = chainrule.autograd.grad(used, diff, [chainrule.tensor(v[b]) for v in vs],
                                         retain_graph=True, allow_unused=True)
        for i, (gb, gs) in zip(pos, zip(batched, single)):
            if gs is None:
                assert gb is None or not np.any(to_numpy(gb)[b]), f"input {i}"
                continue
            np.testing.assert_allclose(to_numpy(gb)[b], to_numpy(gs), rtol=1e-10,
                                       atol=1e-12, err_msg=f"{case.id} input {i} batch {b}")
