"""``grad_fn`` names and graph reach match PyTorch's for every op-table case.

Programs print ``grad_fn`` and learners compare it with PyTorch's: for each case of the
op table (``tests/opinfo``), run with both libraries on inputs that require grad, each
differentiable output's ``type(out.grad_fn).__name__`` must be PyTorch's, and walking
``next_functions`` from it must reach the same inputs (AccumulateGrad leaves).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from opinfo import ALL_CASES
from opinfo._harness import diff_positions, run

import chainrule

# case id -> why our outermost node differs from PyTorch's.  Keep short and honest.
NAME_EXCEPTIONS: dict[str, str] = {
}

# case id -> why the leaves reached differ
REACH_EXCEPTIONS: dict[str, str] = {
}


def _name(t):
    f = t.grad_fn
    return None if f is None else type(f).__name__


def _reached(t, inputs) -> set:
    """Positions of ``inputs`` whose AccumulateGrad is reachable from ``t.grad_fn``."""
    ids = {id(x): i for i, x in enumerate(inputs)}
    seen, out = set(), set()
    stack = [t.grad_fn]
    while stack:
        f = stack.pop()
        if f is None or id(f) in seen:
            continue
        seen.add(id(f))
        if type(f).__name__ == "AccumulateGrad":
            i = ids.get(id(f.variable))
            if i is not None:
                out.add(i)
            continue
        stack.extend(n for n, _ in f.next_functions)
    return out


def _graphs(lib, case, arrays, pos):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs, outs = run(lib, case, arrays, pos)
    return [(_name(o), _reached(o, inputs)) for o in outs if o.requires_grad]


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.grad], ids=lambda c: c.id)
def test_node_names_match_torch(case):
    torch = pytest.importorskip("torch")
    arrays = case.arrays(dtype=np.float64)
    pos = diff_positions(case, arrays)
    ours = _graphs(chainrule, case, arrays, pos)
    theirs = _graphs(torch, case, arrays, pos)
    assert len(ours) == len(theirs), "different outputs require grad"
    names = [n for n, _ in ours], [n for n, _ in theirs]
    reach = [r for _, r in ours], [r for _, r in theirs]
    if case.id in NAME_EXCEPTIONS:
        assert names[0] != names[1], f"{case.id} now matches: drop it from NAME_EXCEPTIONS"
    else:
        assert names[0] == names[1], f"{case.id}: grad_fn {names[0]}, torch's {names[1]}"
    if case.id in REACH_EXCEPTIONS:
        assert reach[0] != reach[1], f"{case.id} now matches: drop it from REACH_EXCEPTIONS"
    else:
        assert reach[0] == reach[1], f"{case.id}: reaches inputs {reach[0]}, torch {reach[1]}"
