"""Raw vs Tensor namespace (issue 8, item 5.6): every rule runs on raw arrays in a plain
backward and on Tensors (recorded) with ``create_graph=True``; both must give the same
gradients, on the op table's samples AND on degenerate inputs where rules branch or
divide: ties (max/min/sort/median/kthvalue, clamp and relu kinks), zeros (prod, norm,
abs, sqrt), exactly singular matrices (det, slogdet, inv, solve), repeated eigenvalues
and singular values (eigh, svd, the matrix norms).  An error must be the same error in
both namespaces.

It also checks the ownership claim the engine relies on (Note [gradient ownership] in
autograd/engine.py): every row flagged ``fresh_grads`` returns, for every input, either
the cotangent itself or memory shared with nothing else (not g, not a saved value).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from fuzzing import budget, record
from opinfo import ALL_CASES
from opinfo._harness import cotangents, diff_positions, make_inputs, to_numpy

import chainrule
from chainrule.autograd.node import AccumulateGrad
from chainrule.backend.numpy_backend import RAW

GRAD_CASES = [c for c in ALL_CASES if c.grad]


# ---- degenerate versions of a case's inputs -------------------------------------------------

def _ties(a, rng):
    return np.round(a)  # a coarse grid: ties everywhere, and zeros


def _zeros(a, rng):
    a = a.copy()
    a.reshape(-1)[rng.random(a.size) < 0.5] = 0
    return a


def _singular(a, rng):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2] or a.shape[-1] < 2:
        return None
    a = a.copy()
    a[..., -1, :] = a[..., 0, :]  # two equal rows
    return a


def _repeated(a, rng):
    """A symmetric matrix with a repeated eigenvalue (and repeated singular values)."""
    if a.ndim < 2 or a.shape[-1] != a.shape[-2] or a.shape[-1] < 2:
        return None
    n = a.shape[-1]
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.ones(n)
    lam[-1] = 3.0
    return np.broadcast_to(q @ np.diag(lam) @ q.T, a.shape).copy()


def _zero_matrix(a, rng):
    if a.ndim < 2:
        return None
    return np.zeros_like(a)


VARIANTS = {"sample": None, "ties": _ties, "zeros": _zeros, "singular": _singular,
            "repeated": _repeated, "zero_matrix": _zero_matrix}


def _variant(case, name, seed):
    arrays = case.arrays(seed=seed)
    fn = VARIANTS[name]
    if fn is None:
        return arrays
    rng = np.random.default_rng(seed)
    out, changed = [], False
    for i, a in enumerate(arrays):
        if a.dtype.kind == "f" and i not in case.nondiff and a.size:
            b = fn(a, rng)
            if b is not None:
                out.append(b)
                changed = True
                continue
        out.append(a)
    return out if changed else None


# ---- the two namespaces ---------------------------------------------------------------------

def _grads(case, arrays, create_graph):
    """Gradients of every float input for fixed cotangents; or the exception type."""
    pos = diff_positions(case, arrays)
    try:
        inputs = make_inputs(chainrule, arrays, pos)
        res = case.fn(chainrule, *inputs)
        outs = [res] if isinstance(res, chainrule.Tensor) else _flat(res)
        used = [o for o in outs if o.requires_grad]
        if not used:
            return None
        vs = [chainrule.tensor(v) for v in cotangents([to_numpy(o) for o in used], seed=5)]
        gs = chainrule.autograd.grad(used, [inputs[i] for i in pos], vs,
                                     create_graph=create_graph, allow_unused=True)
        return [None if g is None else to_numpy(g) for g in gs]
    except Exception as exc:  # noqa: BLE001 - both namespaces must raise alike
        return type(exc)


def _flat(res):
    out = []
    for r in res:
        out.extend([r] if isinstance(r, chainrule.Tensor) else _flat(r))
    return out


def _same(raw, diff, what):
    if isinstance(raw, type) or isinstance(diff, type):
        assert raw is diff, f"{what}: raw namespace {raw}, Tensor namespace {diff}"
        return
    if raw is None or diff is None:
        assert raw is diff, f"{what}: one namespace found no differentiable output"
        return
    for k, (a, b) in enumerate(zip(raw, diff)):
        if a is None or b is None:
            z = a if b is None else b
            assert z is None or not np.any(z), f"{what}: input {k} None vs nonzero"
            continue
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11, equal_nan=True,
                                   err_msg=f"{what}: input {k}")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_raw_backward_equals_differentiable_backward(variant):
    deadline = budget(8)
    ran = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # log(0) and friends on degenerate inputs
        for case in GRAD_CASES:
            arrays = _variant(case, variant, seed=0)
            if arrays is None:
                continue
            _same(_grads(case, arrays, False), _grads(case, arrays, True),
                  f"{case.id} ({variant})")
            ran += 1
            if time.monotonic() > deadline:
                break
    record(f"namespaces: raw vs create_graph backward, {variant} inputs", ran)
    assert ran


# ---- the ownership claim -------------------------------------------------------------------

def _nodes(outs):
    seen, stack = set(), [o.grad_fn for o in outs if o.grad_fn is not None]
    while stack:
        n = stack.pop()
        if n is None or n in seen or type(n) is AccumulateGrad:
            continue
        seen.add(n)
        stack.extend(n._next)
    return seen


def _shares(x, others):
    return any(type(o) is np.ndarray and np.shares_memory(x, o) for o in others)


def test_fresh_grads_rows_return_g_or_new_memory():
    deadline = budget(10)
    checked = set()
    ran = 0
    rng = np.random.default_rng(11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in GRAD_CASES:
            for variant in ("sample", "ties"):
                arrays = _variant(case, variant, seed=0)
                if arrays is None:
                    continue
                pos = diff_positions(case, arrays)
                inputs = make_inputs(chainrule, arrays, pos)
                res = case.fn(chainrule, *inputs)
                outs = [res] if isinstance(res, chainrule.Tensor) else _flat(res)
                for node in _nodes([o for o in outs if o.requires_grad]):
                    op = node.op
                    if op is None or not op.fresh_grads or not node._saved:
                        continue
                    saved = node._saved
                    out = saved[-1] if type(saved[-1]) is np.ndarray else None
                    shape = out.shape if out is not None else _out_shape(node, outs)
                    if shape is None:
                        continue
                    g = rng.standard_normal(shape)
                    grads = op.backward(RAW, g, node._needs, saved, node._params)
                    for k, gi in enumerate(grads):
                        if gi is None or gi is g or type(gi) is not np.ndarray:
                            continue
                        assert not _shares(gi, (g, *saved)), (
                            f"{case.id}: row {op.name} declares fresh_grads but its grad "
                            f"for input {k} shares memory with g or a saved value")
                    checked.add(op.name)
                    ran += 1
            if time.monotonic() > deadline:
                break
    record("namespaces: fresh_grads claims checked", ran)
    assert {"mul", "tanh", "mm", "linear", "add"} & checked


def _out_shape(node, outs):
    for o in outs:
        if o.grad_fn is node:
            return tuple(o.shape)
    return None
