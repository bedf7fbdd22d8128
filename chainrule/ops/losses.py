"""Loss rows: each loss is one node named as PyTorch's (``MseLossBackward0`` ...).

Forwards and rules are written against the vocabulary (Note [forwards on xp] in
``_row.py``): they run on NumPy, other array libraries, and on the Tensor namespace
when a backward is differentiated (``create_graph=True``).  ``g`` may carry ``xp.nb``
leading batch dims; saved inputs never do.  The argument checks live in
``nn/_functional_loss.py``; a row receives checked arrays and its ``reduction``
('none', 'mean' or 'sum') as a parameter.
"""

from __future__ import annotations

import math

import numpy as np

from ._core import Op

__all__ = ["BCE_WITH_LOGITS", "MSE_LOSS"]


def _numel(shape) -> int:
    return int(math.prod(shape))


def _reduce(xp, loss, reduction):
    """``loss`` reduced over its unbatched dims."""
    if reduction == "none":
        return loss
    s = xp.sum(loss)
    if reduction == "sum":
        return s
    n = _numel(loss.shape[xp.nb:])
    return s / n if n else s * math.nan


def _unreduce(xp, g, shape, reduction):
    """The cotangent of ``_reduce`` spread over the elementwise loss of ``shape``."""
    if reduction == "none":
        return g
    g = xp.unreduce(g, shape, None, False)
    if reduction == "mean":
        n = _numel(shape)
        return g / n if n else g * math.nan
    return g


def _bshape(*arrays):
    return tuple(np.broadcast_shapes(*(tuple(a.shape) for a in arrays if a is not None)))


def _add(a, b):
    return b if a is None else a if b is None else a + b


# ---- mse_loss --------------------------------------------------------------------------

def _mse_forward(xp, x, t, reduction):
    d = x - t
    return _reduce(xp, d * d, reduction)


def _mse_dx(xp, g, x, t, out, reduction):
    gd = _unreduce(xp, g, _bshape(x, t), reduction) * (2 * (x - t))
    return xp.sum_to(gd, tuple(x.shape))


def _mse_dt(xp, g, x, t, out, reduction):
    gd = _unreduce(xp, g, _bshape(x, t), reduction) * (2 * (t - x))
    return xp.sum_to(gd, tuple(t.shape))


def _mse_jvp(xp, ts, x, t, out, reduction):
    tx, tt = ts
    dt = _add(tx, None if tt is None else -tt)
    return _reduce(xp, (2 * (x - t)) * dt, reduction)


MSE_LOSS = Op("mse_loss", _mse_forward, (_mse_dx, _mse_dt), nin=2, reads=((0, 1), (0, 1)),
              node="MseLossBackward0", jvp=_mse_jvp,
              formula="d reduce((x - t)^2) = 2 (x - t) g (over n for 'mean'), "
                      "and its negative for t")
