"""Every op-table case compiled: ``chainrule.compile(f)`` equals eager ``f``.

For each ``Case`` of ``tests/opinfo`` the compiled function is called three times with
fresh inputs: the first call traces (its results are the trace's own values), the
second runs the generated code on the same values, the third on other values (seed 1),
so a value baked into the code would show.  Outputs and the gradients of every input
(``autograd.grad`` with a random cotangent per output) must equal eager's: bit for bit
where the generated code runs the same NumPy calls in the same order, else within 1e-12
relative (a Python scalar operand becomes a 0-d array in the trace).  float64, and
float32 within 1e-5.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from opinfo import ALL_CASES
from opinfo._harness import diff_positions, flat_outputs

import chainrule as cr

pytestmark = pytest.mark.chainrule_only


def _run(case, fn, arrays, cotangents):
    pos = diff_positions(case, arrays) if case.grad else []
    xs = [cr.tensor(a) for a in arrays]
    for p in pos:
        xs[p].requires_grad_(True)
    outs = flat_outputs(cr, fn(*xs))
    values = [np.array(o.detach().numpy(), copy=True) for o in outs]
    diff = [(o, c) for o, c in zip(outs, cotangents) if o.requires_grad and c is not None]
    grads = []
    if pos and diff:
        gs = cr.autograd.grad([o for o, _ in diff], [xs[p] for p in pos],
                              grad_outputs=[cr.tensor(c) for _, c in diff], allow_unused=True)
        grads = [None if g is None else np.array(g.numpy(), copy=True) for g in gs]
    return values, grads


def _close(a, b, rtol, atol=0.0):
    if a is None or b is None:
        return a is None and b is None
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
        return True
    return a.dtype.kind in "fc" and np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_compiled_equals_eager(case, dtype):
    # (float32: a vmap inside the function batches by another order of operations)
    rtol, atol = (1e-12, 0.0) if dtype == np.float64 else (1e-5, 1e-6)
    compiled = cr.compile(lambda *xs: case.fn(cr, *xs))
    for seed in (0, 0, 1):
        arrays = case.arrays(seed, dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            probe = flat_outputs(cr, case.fn(cr, *[cr.tensor(a) for a in arrays]))
            rng = np.random.default_rng(5)
            cots = [rng.standard_normal(tuple(o.shape)).astype(o.numpy().dtype)
                    if o.dtype.is_floating_point else None for o in probe]
            ev, eg = _run(case, lambda *xs: case.fn(cr, *xs), arrays, cots)
            cv, cg = _run(case, compiled, arrays, cots)
        assert len(ev) == len(cv) and len(eg) == len(cg)
        for k, (a, b) in enumerate(zip(ev, cv)):
            assert _close(a, b, rtol, atol), f"output {k}, seed {seed}: eager {a} compiled {b}"
        for k, (a, b) in enumerate(zip(eg, cg)):
            assert _close(a, b, rtol, atol), f"gradient {k}, seed {seed}: eager {a} compiled {b}"
