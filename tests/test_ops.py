"""Every property, run over the whole op table (``tests/opinfo``).

A new op is tested the moment it has a ``Case``; a row without one fails
``test_every_row_has_a_case``.  Properties:

- forward equals PyTorch's (values, dtypes, shapes, ``requires_grad``), float64 and float32;
- ``.grad`` after a backward equals PyTorch's (float64 to the case's tolerance; float32
  loosely, dtypes exactly);
- the VJP passes a finite-difference check in float64, ⟨u, Jᵀv⟩ = ⟨Ju, v⟩ (no torch);
- each case really runs the row it names; every row has a formula;
- integer leaves may require grad, and their gradients are floating (chainrule only).

Torch-comparing tests skip when PyTorch is absent; the rest do not need it.
"""

from __future__ import annotations

import numpy as np
import pytest
from opinfo import ALL_CASES
from opinfo._harness import (
    INT_LEAF,
    NO_FD,
    NO_TORCH_GRAD,
    counting_forward,
    diff_positions,
    dtype_name,
    outputs_at,
    run,
    to_numpy,
    vjp,
)

import chainrule
from chainrule.ops import all_ops

CASES = pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
# Both float dtypes run inside one test per case: half the tests, the same checks
# (pytest's per-test overhead is most of this file's run time).
DTYPES = (np.float64, np.float32)
GRAD_CASES = [c for c in ALL_CASES if c.grad]

# Rows that no user call reaches directly, so no Case can name them.  Keep this short:
# every entry is a row that the table-driven tests do not see.
# The ``xp_*`` rows (ops/transposes.py) and ``view_replace`` are the rule vocabulary's
# own helpers: user code never calls them; tests/test_ops_higher.py runs them through
# every second-order check (they are what a create_graph backward records).
# ``to_device`` moves between CPU and GPU: no CPU-only call reaches it (tests/test_cuda.py
# runs it where CuPy sees a GPU).
INTERNAL_ROWS: set[str] = {n for n in all_ops() if n.startswith("xp_")} | {
    "view_replace", "to_device"}

EPS = 1e-6  # central-difference step (float64)


def _tols(case, dtype):
    """The case's tolerances in float64; float32 kernels differ in the last bits."""
    if dtype == np.float64:
        return {"rtol": case.rtol, "atol": case.atol}
    return {"rtol": max(case.rtol, 1e-4), "atol": max(case.atol, 1e-5)}


def _assert_close(ours, theirs, what, **tol):
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != torch's {theirs.shape}"
    if theirs.dtype.kind == "f":
        np.testing.assert_allclose(ours, theirs, err_msg=what, **tol)
    else:
        np.testing.assert_array_equal(ours, theirs, err_msg=what)


# ---- forward ---------------------------------------------------------------------------

@CASES
def test_forward_matches_torch(case):
    torch = pytest.importorskip("torch")
    for dtype in DTYPES:
        arrays = case.arrays(dtype=dtype)
        pos = diff_positions(case, arrays)
        _, ours = run(chainrule, case, arrays, pos)
        _, theirs = run(torch, case, arrays, pos)
        assert len(ours) == len(theirs), f"{len(ours)} outputs, torch gives {len(theirs)}"
        for k, (o, t) in enumerate(zip(ours, theirs)):
            what = f"{case.id} ({np.dtype(dtype)} inputs) output {k}"
            assert dtype_name(o.dtype) == dtype_name(t.dtype), (
                f"{what}: dtype {o.dtype} != torch's {t.dtype}")
            assert tuple(o.shape) == tuple(t.shape), f"{what}: shape {o.shape} != {t.shape}"
            assert o.requires_grad == t.requires_grad, (
                f"{what}: requires_grad {o.requires_grad} != torch's {t.requires_grad}")
            _assert_close(to_numpy(o), to_numpy(t), what, **_tols(case, dtype))


@CASES
def test_case_runs_its_row(case):
    """A case named after a row must call that row's forward, in float64 or float32
    (``x.double()`` is a no-op on float64 input); no torch needed."""
    op = all_ops().get(case.op)
    assert op is not None, f"case {case.id} names {case.op!r}, which is not a row"
    with counting_forward(op) as calls:
        for dtype in DTYPES:
            arrays = case.arrays(dtype=dtype)
            run(chainrule, case, arrays, diff_positions(case, arrays))
    assert calls[0] > 0, f"case {case.id} never calls the {case.op!r} row"


# ---- gradients -------------------------------------------------------------------------

@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: c.id)
def test_grad_matches_torch(case):
    torch = pytest.importorskip("torch")
    if NO_TORCH_GRAD in case.tags:
        pytest.skip("PyTorch has no derivative for this op")
    for dtype in DTYPES:
        arrays = case.arrays(dtype=dtype)
        ours, our_dtypes, our_used, _ = vjp(chainrule, case, arrays)
        theirs, their_dtypes, their_used, _ = vjp(torch, case, arrays)
        assert our_used == their_used, "different outputs require grad"
        assert our_used, f"{case.id} is marked grad=True but no output requires grad"
        for i, o, t, od, td in zip(diff_positions(case, arrays), ours, theirs, our_dtypes,
                                   their_dtypes):
            what = f"{case.id} ({np.dtype(dtype)} inputs) grad of input {i}"
            if od is not None and td is not None:
                assert od == td, f"{what}: dtype {od} != torch's {td}"
            _assert_close(o, t, what, **_tols(case, dtype))


@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: c.id)
def test_vjp_matches_finite_differences(case):
    """⟨u, Jᵀv⟩ from backward equals ⟨(f(x+εu) - f(x-εu)) / 2ε, v⟩ in float64."""
    if NO_FD in case.tags:
        pytest.skip("the row's convention at a kink is not the central difference")
    arrays = case.arrays(dtype=np.float64)
    pos = diff_positions(case, arrays)
    grads, _, used, vs = vjp(chainrule, case, arrays)
    assert used, f"{case.id} is marked grad=True but no output requires grad"
    if any(v.dtype != np.float64 for v in vs):
        pytest.skip("an output is not float64 (too coarse for finite differences)")
    rng = np.random.default_rng(2)
    us = [rng.standard_normal(arrays[i].shape) for i in pos]

    def shifted(step):
        xs = list(arrays)
        for i, u in zip(pos, us):
            xs[i] = arrays[i] + step * u
        return outputs_at(chainrule, case, xs, used)

    jus = [(p - m) / (2 * EPS) for p, m in zip(shifted(EPS), shifted(-EPS))]
    vjp_u = sum(float(np.sum(u * g)) for u, g in zip(us, grads))
    v_ju = sum(float(np.sum(v * ju)) for v, ju in zip(vs, jus))
    scale = 1.0 + sum(float(np.sum(np.abs(u * g))) for u, g in zip(us, grads)) \
        + sum(float(np.sum(np.abs(v * ju))) for v, ju in zip(vs, jus))
    assert abs(vjp_u - v_ju) <= case.fd_tol * scale, (
        f"{case.id}: <u, J^T v> = {vjp_u!r} but finite differences give {v_ju!r}")


# ---- integer leaves --------------------------------------------------------------------

@pytest.mark.parametrize("case", [c for c in GRAD_CASES if INT_LEAF in c.tags],
                         ids=lambda c: c.id)
def test_integer_leaves_get_floating_grads(case):
    """chainrule lets integer leaves require grad; their ``.grad`` has the default float
    dtype and the values of the same call on float leaves (see Note [integer leaves])."""
    as_float = [np.round(a) if a.dtype.kind == "f" else a
                for a in case.arrays(dtype=np.float32)]
    pos = diff_positions(case, as_float)
    as_int = [a.astype(np.int64) if i in pos else a for i, a in enumerate(as_float)]
    got = _grads_for_ones(case, as_int, pos)
    want = _grads_for_ones(case, as_float, pos)
    default = dtype_name(chainrule.get_default_dtype())
    for i, g, w in zip(pos, got, want):
        assert g is not None and dtype_name(g.dtype) == default, (
            f"grad of integer input {i}: {None if g is None else g.dtype}, want {default}")
        np.testing.assert_allclose(to_numpy(g), to_numpy(w), rtol=1e-5, atol=1e-6)


def _grads_for_ones(case, arrays, pos):
    inputs, outs = run(chainrule, case, arrays, pos)
    used = [o for o in outs if o.requires_grad]
    assert used, f"{case.id}: no output requires grad"
    chainrule.autograd.backward(used, [chainrule.ones(o.shape) for o in used])
    return [inputs[i].grad for i in pos]


# ---- the table itself ------------------------------------------------------------------

def test_every_row_has_a_case():
    covered = {c.op for c in ALL_CASES}
    # (xp_ rows register when their module is first imported, possibly by an earlier test)
    internal = INTERNAL_ROWS | {n for n in all_ops() if n.startswith("xp_")}
    missing = sorted(set(all_ops()) - covered - internal)
    assert not missing, f"op-table rows without a Case in tests/opinfo: {missing}"


def test_every_row_has_a_formula():
    missing = sorted(n for n, op in all_ops().items()
                     if not (isinstance(op.formula, str) and op.formula.strip()))
    assert not missing, f"op-table rows without a formula: {missing}"


def test_case_ids_are_unique():
    seen: dict[str, int] = {}
    for c in ALL_CASES:
        seen[c.id] = seen.get(c.id, 0) + 1
    dups = sorted(i for i, n in seen.items() if n > 1)
    assert not dups, f"duplicate case ids (give the cases distinct names): {dups}"
