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
from .views import _renamed

__all__ = ["BCE", "BCE_WITH_LOGITS", "EMBEDDING", "HUBER_LOSS", "MSE_LOSS", "NLL_LOSS",
           "NLL_LOSS2D", "SMOOTH_L1_LOSS"]


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


# ---- binary_cross_entropy_with_logits ----------------------------------------------------

def _sig_neg(xp, x):
    """``sigmoid(-x)`` and ``log1p(exp(-|x|))`` without overflow."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x < 0, 1 / (1 + e), e / (1 + e)), xp.log1p(e)


def _bcel_parts(xp, x, t, w, pw):
    """The elementwise loss and its partials in ``x`` and ``t`` (PyTorch's formula:
    ``(1 - t) x - (1 + (pw - 1) t) logsigmoid(x)``, times ``w``)."""
    s, lp = _sig_neg(xp, x)
    ls = xp.where(x < 0, x, 0) - lp  # logsigmoid(x)
    if pw is None:
        loss = (1 - t) * x - ls
        dx = (1 - t) - s
        dt = -x
    else:
        c = (pw - 1) * t + 1
        loss = (1 - t) * x - c * ls
        dx = (1 - t) - c * s
        dt = -x - (pw - 1) * ls
    if w is not None:
        loss, dx, dt = loss * w, dx * w, dt * w
    return loss, dx, dt


def _cast(xp, a, like):
    return a if a.dtype == like.dtype else xp.astype(a, like.dtype)


def _bcel_forward(xp, x, t, w, pw, reduction):
    # the result has the target's dtype (PyTorch's kernel writes into a target-like tensor)
    loss = _bcel_parts(xp, x, t, w, pw)[0]
    return _reduce(xp, _cast(xp, loss, t), reduction)


def _bcel_dx(xp, g, x, t, w, pw, out, reduction):
    _, dx, _ = _bcel_parts(xp, x, t, w, pw)
    gx = _unreduce(xp, g, _bshape(x, t, w, pw), reduction) * dx
    return _cast(xp, xp.sum_to(gx, tuple(x.shape)), x)


def _bcel_dt(xp, g, x, t, w, pw, out, reduction):
    _, _, dt = _bcel_parts(xp, x, t, w, pw)
    gt = _unreduce(xp, g, _bshape(x, t, w, pw), reduction) * dt
    return _cast(xp, xp.sum_to(gt, tuple(t.shape)), t)


def _bcel_jvp(xp, ts, x, t, w, pw, out, reduction):
    _, dx, dt = _bcel_parts(xp, x, t, w, pw)
    tx, tt = ts[0], ts[1]
    d = _add(None if tx is None else tx * dx, None if tt is None else tt * dt)
    return _reduce(xp, _cast(xp, d, t), reduction)


BCE_WITH_LOGITS = Op(
    "binary_cross_entropy_with_logits", _bcel_forward, (_bcel_dx, _bcel_dt), nin=4,
    reads=((0, 1, 2, 3), (0, 1, 2, 3), (), ()), node="BinaryCrossEntropyWithLogitsBackward0",
    jvp=_bcel_jvp,
    formula="d bce(x, t) = w ((1 - t) - (1 + (pw - 1) t) sigmoid(-x)) g for x, "
            "w (-x - (pw - 1) logsigmoid(x)) g for t")


# ---- nll_loss ----------------------------------------------------------------------------
# Inputs: ``x`` (log-probabilities, classes along ``axis``, negative), ``idx`` (the class
# of each element, int64, with a size-1 dim at ``axis``; ignored entries point at class
# 0) and ``w`` (each element's weight: the class weight, 0 where ignored), both constant.

def _flat(xp):
    return xp.with_nb(-xp.nb) if xp.nb else xp


def _nll_forward(xp, x, idx, w, reduction, axis, xshape):
    loss = -xp.reshape(xp.gather(x, idx, axis), tuple(w.shape)) * w
    if reduction == "none":
        return loss
    s = xp.sum(loss)
    return s if reduction == "sum" else s / _flat(xp).sum(w)


def _nll_dx(xp, g, x, idx, w, out, reduction, axis, xshape):
    if reduction != "none":
        g = xp.unreduce(g, tuple(w.shape), None, False)
        if reduction == "mean":
            g = g / _flat(xp).sum(w)
    gp = xp.reshape(-g * w, tuple(idx.shape))
    return xp.scatter_along(gp, xshape, idx, axis)


def _nll_jvp(xp, ts, x, idx, w, out, reduction, axis, xshape):
    return _nll_forward(xp, ts[0], idx, w, reduction, axis, xshape)


NLL_LOSS = Op("nll_loss", _nll_forward, (_nll_dx,), nin=3, reads=((1, 2), (), ()),
              node="NllLossBackward0", jvp=_nll_jvp,
              formula="d -w[t] x[t] = -w[t] g at each element's class t (over sum(w[t]) "
                      "for 'mean')")
NLL_LOSS2D = _renamed(NLL_LOSS, "NllLoss2DBackward0")


# ---- embedding ---------------------------------------------------------------------------
# Inputs: ``w`` (the (V, D) table), ``idx`` (the row of each lookup, int64 (K, D): the
# flat indices broadcast along D) and ``keep`` ((K, 1), 0 at padding_idx lookups, whose
# gradient is cut; None without padding_idx); ``shape`` is the indices' shape.

def _embedding_forward(xp, w, idx, keep, shape):
    return xp.reshape(xp.gather(w, idx, -2), tuple(shape) + (w.shape[-1],))


def _embedding_dw(xp, g, w, idx, keep, out, shape):
    g = xp.reshape(g, tuple(idx.shape))
    if keep is not None:
        g = g * keep
    return xp.scatter_along(g, tuple(w.shape), idx, -2)


EMBEDDING = Op("embedding", _embedding_forward, (_embedding_dw,), nin=3,
               reads=((0, 1, 2), (), ()), node="EmbeddingBackward0",
               jvp=lambda xp, ts, w, idx, keep, out, shape: _embedding_forward(
                   xp, ts[0], idx, keep, shape),
               formula="d w[i] = g added into row i of the table (none into padding_idx)")


# ---- smooth_l1_loss and huber_loss: pointwise losses of d = x - t ------------------------

def _smooth_l1(xp, d, beta):
    """``(loss, d loss / d d)``: ``0.5 d^2 / beta`` inside ``|d| < beta``, else
    ``|d| - 0.5 beta`` (``beta > 0``: ``beta == 0`` is l1_loss, a composite)."""
    ad = xp.abs(d)
    inside = ad < beta
    return (xp.where(inside, (0.5 / beta) * (d * d), ad - 0.5 * beta),
            xp.where(inside, d / beta, xp.sign(d)))


def _huber(xp, d, delta):
    """``0.5 d^2`` inside ``|d| < delta``, else ``delta (|d| - 0.5 delta)``."""
    ad = xp.abs(d)
    inside = ad < delta
    return (xp.where(inside, 0.5 * (d * d), delta * (ad - 0.5 * delta)),
            xp.where(inside, d, delta * xp.sign(d)))


def _pointwise_row(name, node, parts, formula):
    def forward(xp, x, t, reduction, c):
        return _reduce(xp, parts(xp, x - t, c)[0], reduction)

    def dx(xp, g, x, t, out, reduction, c):
        gd = _unreduce(xp, g, _bshape(x, t), reduction) * parts(xp, x - t, c)[1]
        return xp.sum_to(gd, tuple(x.shape))

    def dt(xp, g, x, t, out, reduction, c):
        gd = _unreduce(xp, g, _bshape(x, t), reduction) * parts(xp, x - t, c)[1]
        return -xp.sum_to(gd, tuple(t.shape))

    def jvp(xp, ts, x, t, out, reduction, c):
        tx, tt = ts
        return _reduce(xp, parts(xp, x - t, c)[1] * _add(tx, None if tt is None else -tt),
                       reduction)

    return Op(name, forward, (dx, dt), nin=2, reads=((0, 1), (0, 1)), node=node, jvp=jvp,
              formula=formula)


SMOOTH_L1_LOSS = _pointwise_row(
    "smooth_l1_loss", "SmoothL1LossBackward0", _smooth_l1,
    "d smooth_l1(x - t) = g (x - t) / beta inside |x - t| < beta, g sign(x - t) outside")
HUBER_LOSS = _pointwise_row(
    "huber_loss", "HuberLossBackward0", _huber,
    "d huber(x - t) = g (x - t) inside |x - t| < delta, g delta sign(x - t) outside")


# ---- binary_cross_entropy ----------------------------------------------------------------

def _clamped_log(xp, a):
    la = xp.log(a)
    return xp.where(la < -100, -100, la)  # PyTorch clamps each log at -100 (log 0 = -inf)


def _bce_parts(xp, x, t, w):
    """The elementwise loss ``-w (t log x + (1 - t) log(1 - x))`` and its partials in
    ``x`` (``w (x - t) / max(x (1 - x), 1e-12)``, PyTorch's) and ``t``."""
    lx, l1x = _clamped_log(xp, x), _clamped_log(xp, 1 - x)
    loss = -(t * lx + (1 - t) * l1x)
    v = x * (1 - x)
    dx = (x - t) / xp.where(v < 1e-12, 1e-12, v)
    dt = l1x - lx
    if w is not None:
        loss, dx, dt = loss * w, dx * w, dt * w
    return loss, dx, dt


def _bce_forward(xp, x, t, w, reduction):
    return _reduce(xp, _bce_parts(xp, x, t, w)[0], reduction)


def _bce_dx(xp, g, x, t, w, out, reduction):
    gx = _unreduce(xp, g, _bshape(x, t, w), reduction) * _bce_parts(xp, x, t, w)[1]
    return _cast(xp, xp.sum_to(gx, tuple(x.shape)), x)


def _bce_dt(xp, g, x, t, w, out, reduction):
    gt = _unreduce(xp, g, _bshape(x, t, w), reduction) * _bce_parts(xp, x, t, w)[2]
    return _cast(xp, xp.sum_to(gt, tuple(t.shape)), t)


def _bce_jvp(xp, ts, x, t, w, out, reduction):
    _, dx, dt = _bce_parts(xp, x, t, w)
    tx, tt = ts[0], ts[1]
    d = _add(None if tx is None else tx * dx, None if tt is None else tt * dt)
    return _reduce(xp, d, reduction)


BCE = Op("binary_cross_entropy", _bce_forward, (_bce_dx, _bce_dt), nin=3,
         reads=((0, 1, 2), (0, 1, 2), ()), node="BinaryCrossEntropyBackward0", jvp=_bce_jvp,
         formula="d bce(x, t) = w (x - t) / max(x (1 - x), 1e-12) g for x, "
                 "w (log(1 - x) - log x) g for t (logs clamped at -100)")
