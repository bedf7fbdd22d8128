"""Running one ``Case`` on a library: inputs, outputs, cotangents, gradients.

The same helpers serve chainrule and PyTorch (``lib`` is either module), so every
property in ``tests/test_ops.py`` is a few lines on top of them.  Values leave the
libraries as NumPy arrays as soon as possible.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

#: Case tags understood by the harness.
NO_FD = "no_fd"  # the row's convention at a kink differs from the central difference
NO_FD2 = "no_fd2"  # first order is fine, but the input sits on a kink of the derivative
NO_TORCH_GRAD = "no_torch_grad"  # PyTorch has no derivative for it (floor_divide)
INT_LEAF = "int_leaf"  # also run with integer leaves that require grad (chainrule only)
# PyTorch 2.13's forward AD of the op is wrong (scatter_reduce 'prod' gives zero tangents):
# our JVP is still checked against finite differences and against our VJP
TORCH_JVP_WRONG = "torch_jvp_wrong"
F32_INSIDE = "f32_inside"  # float32 inside a float64 computation: identities hold to
#                            float32 rounding only (e.g. x.float().double())


def diff_positions(case, arrays) -> list[int]:
    """Inputs that require grad: float arrays not listed in ``case.nondiff``."""
    return [i for i, a in enumerate(arrays) if a.dtype.kind == "f" and i not in case.nondiff]


def make_inputs(lib, arrays, requires_grad=()):
    """Fresh leaf tensors holding copies of ``arrays``."""
    tensors = []
    for i, a in enumerate(arrays):
        t = lib.tensor(a)
        if i in requires_grad:
            t.requires_grad_(True)
        tensors.append(t)
    return tensors


def flat_outputs(lib, res) -> list:
    """A Tensor, or a (nested) tuple/list/namedtuple of Tensors, as a flat list."""
    if isinstance(res, lib.Tensor):
        return [res]
    if isinstance(res, (tuple, list)):
        return [t for r in res for t in flat_outputs(lib, r)]
    raise TypeError(f"case returned {type(res).__name__}, expected Tensor(s)")


def to_numpy(t) -> np.ndarray:
    return np.array(t.detach().numpy(), copy=True)


def dtype_name(dtype) -> str:
    return str(dtype).rsplit(".", 1)[-1]


def run(lib, case, arrays, requires_grad=()):
    """``(inputs, flat outputs)`` of ``case.fn`` on fresh tensors."""
    inputs = make_inputs(lib, arrays, requires_grad)
    return inputs, flat_outputs(lib, case.fn(lib, *inputs))


def cotangents(arrays_out, seed: int = 1) -> list[np.ndarray]:
    """A random cotangent per output array, in the output's dtype."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(a.shape).astype(a.dtype) for a in arrays_out]


def vjp(lib, case, arrays, seed: int = 1):
    """Backward with a random cotangent on every output that requires grad.

    Returns ``(grads, dtypes, used, vs)``: for each of ``diff_positions``, the ``.grad``
    as a NumPy array (zeros where the library left it None) and its dtype name (None
    where None); then the positions in the flat outputs that got a cotangent, and the
    cotangents themselves.
    """
    pos = diff_positions(case, arrays)
    inputs, outs = run(lib, case, arrays, pos)
    used = [k for k, o in enumerate(outs) if o.requires_grad]
    vs = cotangents([to_numpy(outs[k]) for k in used], seed)
    if used:
        lib.autograd.backward([outs[k] for k in used], [lib.tensor(v) for v in vs])
    grads, dtypes = [], []
    for i in pos:
        g = inputs[i].grad
        grads.append(np.zeros(arrays[i].shape) if g is None else to_numpy(g))
        dtypes.append(None if g is None else dtype_name(g.dtype))
    return grads, dtypes, used, vs


def outputs_at(lib, case, arrays, used) -> list[np.ndarray]:
    """The outputs at positions ``used`` of the flat outputs (nothing recorded)."""
    with lib.no_grad():
        _, outs = run(lib, case, arrays)
    return [to_numpy(outs[k]) for k in used]


@contextmanager
def counting_forward(op):
    """Count calls of ``op.forward`` inside the block: ``with counting_forward(op) as n``."""
    calls = [0]
    rows = (op, *op.twins)  # twins: the same row under other node names
    originals = [r.forward for r in rows]

    def counting(original):
        def forward(*args, **kwargs):
            calls[0] += 1
            return original(*args, **kwargs)
        return forward

    # (rows run on another array library (vmap's) through xp_forward: counted too)
    xp_originals = [r.xp_forward for r in rows]
    for r, original, xp_original in zip(rows, originals, xp_originals):
        r.forward = counting(original)
        r.xp_forward = counting(xp_original)
        r._bound = {}
    try:
        yield calls
    finally:
        for r, original, xp_original in zip(rows, originals, xp_originals):
            r.forward = original
            r.xp_forward = xp_original
            r._bound = {}
