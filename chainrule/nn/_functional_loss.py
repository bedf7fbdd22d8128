"""Loss functions of ``chainrule.nn.functional`` (PyTorch's formulas and reductions).

The argument checks live here; each loss PyTorch computes in one kernel is one row of
``ops/losses.py`` (mse_loss, smooth_l1_loss, huber_loss, binary_cross_entropy(_with_logits),
nll_loss), so ``grad_fn`` names PyTorch's node.  Where PyTorch composes (l1_loss, a
weighted mse/huber, cross_entropy's label smoothing and class probabilities, kl_div)
the loss is composed of recorded ops too.  Class-index losses take the target as a
constant: ``ignore_index`` and ``weight`` become a per-element weight ``w``, and
``reduction='mean'`` divides by ``sum(w)``, as PyTorch does.
"""

from __future__ import annotations

import warnings

import numpy as np

import chainrule as _cr

from .._tensor import Tensor, wrap
from ..backend.array_api import np_dtype
from ..backend.registry import backend_of
from ..ops import losses as _rows
from ..ops._core import nary as _nary
from ..ops.reductions import TORCH_TYPE_NAMES as _TYPE_NAMES

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "mse_loss",
    "nll_loss",
    "smooth_l1_loss",
]


def legacy_reduction(size_average, reduce) -> str:
    """PyTorch's mapping of the deprecated ``size_average``/``reduce`` flags."""
    warnings.warn("size_average and reduce args will be deprecated, please use "
                  "reduction='mean' (or 'sum', 'none') instead.", stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:  # PyTorch's order: a tensor flag is a RuntimeError here
        return "mean"
    return "sum" if reduce else "none"


def _reduction(size_average, reduce, reduction, allowed=("none", "mean", "sum")):
    """The reduction a loss applies, checked first as PyTorch's ``_Reduction.get_enum``
    does (a ValueError for anything but 'none', 'mean', 'sum'; no ``==`` on a tensor)."""
    if size_average is not None or reduce is not None:
        return legacy_reduction(size_average, reduce)
    if type(reduction) is str and reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use "
                      "reduction='mean' instead.", stacklevel=3)
        return "mean"
    if type(reduction) is not str or reduction not in allowed:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _check_pair(name, input, target):
    for arg, v in (("input", input), ("target", target)):
        if not isinstance(v, Tensor):
            raise TypeError(f"{name}(): argument '{arg}' must be Tensor, not "
                            f"{type(v).__name__}")


def _size_warning(input, target):
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input "
                      f"size ({input.shape}). This will likely lead to incorrect results due "
                      f"to broadcasting. Please ensure they have the same size.",
                      stacklevel=3)


def _broadcast(name, *tensors):
    """PyTorch's RuntimeError for operands that do not broadcast (checked before a row)."""
    shapes = [tuple(t.shape) for t in tensors if isinstance(t, Tensor)]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        sa, sb = list(shapes[0]), list(shapes[1])
        for a, b in zip(shapes[:-1], shapes[1:]):
            try:
                np.broadcast_shapes(a, b)
            except ValueError:
                sa, sb = list(a), list(b)
                break
        raise RuntimeError(
            f"{name}: the size of tensor a ({sa}) must match the size of tensor b ({sb}) at "
            f"every non-singleton dimension (shapes {sa} and {sb} cannot be broadcast "
            f"together). Fix: reshape or unsqueeze one operand so that, aligned from the "
            f"right, each dimension is equal or 1.") from None


def _promoted(input, target):
    """``input`` and ``target`` in their promoted dtype (PyTorch's rules: a 0-d int target
    keeps a float32 input float32), as ``input - target`` computes."""
    dt = _cr.result_type(input, target)
    return (input if input.dtype == dt else input.to(dt),
            target if target.dtype == dt else target.to(dt))


def _bool_as(target, input):
    """A bool target counts as 0/1 of the input's dtype (PyTorch's loss kernels)."""
    return target.to(input.dtype) if np_dtype(target._data.dtype).kind == "b" else target


def _pointwise(name, input, target, loss, reduction, weight=None, weighted_mean=True):
    """Reduce a pointwise loss; with ``weight``, 'mean' is ``sum(w l) / sum(w)`` (mse, l1)
    or the plain mean of ``w l`` (huber), as in PyTorch."""
    if weight is None:
        return _reduce(loss, reduction)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"Invalid reduction mode: {reduction}. Expected one of 'none', "
                         f"'mean', 'sum'.")
    loss = loss * weight
    if reduction == "mean" and weighted_mean:
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error ``(input - target)**2``."""
    _check_pair("mse_loss", input, target)
    _size_warning(input, target)
    reduction = _reduction(size_average, reduce, reduction)
    _broadcast("mse_loss", input, target)
    input, target = _promoted(input, _bool_as(target, input))
    if weight is None:
        return _nary(_rows.MSE_LOSS, (input, target), (reduction,))
    loss = _nary(_rows.MSE_LOSS, (input, target), ("none",))
    return _pointwise("mse_loss", input, target, loss, reduction, weight)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error ``|input - target|``."""
    _check_pair("l1_loss", input, target)
    _size_warning(input, target)
    reduction = _reduction(size_average, reduce, reduction)
    return _pointwise("l1_loss", input, target, (input - target).abs(), reduction, weight)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean",
                   beta=1.0):
    """``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta``."""
    _check_pair("smooth_l1_loss", input, target)
    _size_warning(input, target)
    reduction = _reduction(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _broadcast("smooth_l1_loss", input, target)
    input, target = _promoted(input, _bool_as(target, input))
    if beta == 0.0:  # PyTorch's l1_loss: abs, then a mean or sum node
        return _reduce((input - target).abs(), reduction)
    return _nary(_rows.SMOOTH_L1_LOSS, (input, target), (reduction, float(beta)))


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """``0.5 d**2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``."""
    _check_pair("huber_loss", input, target)
    _size_warning(input, target)
    reduction = _reduction(None, None, reduction)
    if isinstance(delta, int):  # a double in PyTorch: an int beyond int64 is fine there
        delta = float(delta)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    if np_dtype(input._data.dtype).kind == "f":  # the result has the input's dtype
        target = target.to(input.dtype)
    delta = float(delta) if type(delta) is int else delta  # a float to PyTorch (10**20)
    _broadcast("huber_loss", input, target)
    input, target = _promoted(input, _bool_as(target, input))
    if weight is None:
        return _nary(_rows.HUBER_LOSS, (input, target), (reduction, delta))
    loss = _nary(_rows.HUBER_LOSS, (input, target), ("none", delta))
    return _pointwise("huber_loss", input, target, loss, reduction, weight,
                      weighted_mean=False)


# ---- class-index losses -----------------------------------------------------------------

def _class_targets(name, input, target, ignore_index):
    """``(target as int64 array with ignored entries set to 0, valid mask)``, checked.
    Raw arrays of the target's library (its namespace ``xp`` does the work)."""
    t = target._data
    if input.dim() > 1 and (t.shape[0] if t.ndim else 0) != input.shape[0]:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target "
                         f"batch_size ({t.shape[0] if t.ndim else 0}).")
    if np_dtype(t.dtype).kind not in "iu":
        raise RuntimeError(f"{name}: expected target of an integer dtype (class indices), "
                           f"got {target.dtype}")
    cdim = 1 if input.dim() > 1 else 0
    n_cls = input.shape[cdim]
    want = tuple(input.shape[:cdim]) + tuple(input.shape[cdim + 1:])
    if tuple(t.shape) != want:
        raise RuntimeError(f"{name}: expected target of shape {list(want)} for input of shape "
                           f"{list(input.shape)}, got {list(t.shape)}")
    xp = backend_of(t).xp
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= n_cls))
    if not xp.all_nonzero(~bad):  # (a lazy target is computed here)
        tn, bn = np.asarray(target.tolist()), np.asarray(wrap(bad).tolist())
        raise IndexError(f"Target {int(tn[bn].flat[0])} is out of bounds.")
    return xp.astype(xp.where(valid, t, 0), np.int64), valid, cdim


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """``-w[t] * input[t]`` per element, for log-probabilities ``input``."""
    _check_pair("nll_loss", input, target)
    reduction = _reduction(size_average, reduce, reduction)
    if input.dim() < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.dim()})")
    dim = input.dim()
    if dim in (3,) or dim > 4:  # PyTorch's nll_loss_nd: a 4-D nll_loss2d, then a view
        _class_targets("nll_loss", input, target, ignore_index)
        n, c = input.shape[:2]
        out = nll_loss(input.reshape(n, c, 1, -1), target.reshape(n, 1, -1), weight, None,
                       ignore_index, None, reduction)
        return out.reshape((n,) + tuple(input.shape[2:])) if reduction == "none" else out
    safe, valid, cdim = _class_targets("nll_loss", input, target, ignore_index)
    xp = backend_of(safe).xp
    w = xp.asarray(xp.astype(valid, np_dtype(input._data.dtype)))  # (0-d: an array)
    if weight is not None:
        flat = xp.take(weight.detach()._data, xp.reshape(safe, (-1,)), 0)
        w = w * xp.reshape(flat, tuple(safe.shape))
    row = _rows.NLL_LOSS2D if dim == 4 else _rows.NLL_LOSS
    return _nary(row, (input, wrap(xp.expand_dims(safe, cdim)), wrap(w)),
                 (reduction, cdim - dim, tuple(input.shape)))


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """``nll_loss(log_softmax(input, class dim), target)`` for class indices, or
    ``-sum(target * log_softmax(input))`` for class probabilities (same shape as input);
    ``label_smoothing`` mixes in the uniform distribution."""
    _check_pair("cross_entropy", input, target)
    reduction = _reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: "
                           f"{label_smoothing}")
    cdim = 1 if input.dim() > 1 else 0
    n_cls = input.shape[cdim]
    logp = input.log_softmax(cdim)
    wshape = [1] * input.dim()
    wshape[cdim] = n_cls
    if tuple(target.shape) == tuple(input.shape) and \
            np_dtype(target._data.dtype).kind != "b":
        if np_dtype(target._data.dtype).kind != "f":
            raise RuntimeError(f"Expected floating point type for target with class "
                               f"probabilities, got {target.dtype}")
        t = target
        if label_smoothing > 0:
            t = t * (1 - label_smoothing) + label_smoothing / n_cls
        prod = logp * t
        if weight is not None:
            prod = prod * weight.reshape(tuple(wshape))
        if reduction == "none":
            return -prod.sum(cdim)
        if reduction == "sum":
            return -prod.sum()
        if reduction == "mean":
            return -prod.sum() / (input.numel() // n_cls if input.numel() else float("nan"))
        raise ValueError(f"{reduction} is not a valid value for reduction")
    nll = nll_loss(logp, target, weight, None, ignore_index, None, reduction)
    if label_smoothing <= 0:
        return nll
    safe, valid, _ = _class_targets("cross_entropy", input, target, ignore_index)
    smooth = logp if weight is None else logp * weight.reshape(tuple(wshape))
    xp = backend_of(safe).xp
    w = wrap(xp.astype(valid, np_dtype(input._data.dtype)))
    smooth = -smooth.sum(cdim) * w
    if reduction == "mean":
        if weight is not None:
            w = w * _cr.take(weight.detach(), wrap(safe))
        smooth = smooth.sum() / w.sum()
    else:
        smooth = _reduce(smooth, reduction)
    return (1 - label_smoothing) * nll + smooth * (label_smoothing / n_cls)


# ---- binary and divergence losses --------------------------------------------------------

def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """``-(t log x + (1 - t) log(1 - x))``, each log clamped at -100 as in PyTorch."""
    _check_pair("binary_cross_entropy", input, target)
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the "
                         f"input size ({input.shape}) is deprecated. Please ensure they have "
                         f"the same size.")
    x = input._data
    if 0 not in x.shape and not backend_of(x).xp.all_nonzero(~((x < 0) | (x > 1))):
        raise RuntimeError("all elements of input should be between 0 and 1")
    if isinstance(weight, Tensor) and weight.requires_grad and _cr.is_grad_enabled():
        raise RuntimeError("The function 'binary_cross_entropy' is not differentiable with "
                           "respect to argument 'weight'. This input cannot have "
                           "requires_grad True.")
    if weight is not None and not isinstance(weight, Tensor):
        weight = _cr.tensor(weight, dtype=input.dtype)
    _broadcast("binary_cross_entropy", input, target, weight)
    return _nary(_rows.BCE, (input, target, weight), (reduction,))


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction="mean", pos_weight=None):
    """``(1 - t) x - (1 + (pos_weight - 1) t) logsigmoid(x)``: BCE on logits, stable."""
    _check_pair("binary_cross_entropy_with_logits", input, target)
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size "
                         f"({input.shape})")
    if np_dtype(target._data.dtype).kind in "iu":
        raise RuntimeError(f"result type Float can't be cast to the desired output type "
                           f"{_TYPE_NAMES.get(target._data.dtype.name, target.dtype)}")
    if np_dtype(target._data.dtype).kind == "b":
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not "
                           "supported. Use the `^` or `logical_xor()` operator instead.")
    _broadcast("binary_cross_entropy_with_logits", input, target, weight, pos_weight)
    for arg, v in (("weight", weight), ("pos_weight", pos_weight)):
        if isinstance(v, Tensor) and v.requires_grad and _cr.is_grad_enabled():
            raise RuntimeError(f"The function 'binary_cross_entropy_with_logits' is not "
                               f"differentiable with respect to argument '{arg}'. This input "
                               f"cannot have requires_grad True.")
    if weight is not None and not isinstance(weight, Tensor):
        weight = _cr.tensor(weight, dtype=input.dtype)
    return _nary(_rows.BCE_WITH_LOGITS, (input, target, weight, pos_weight), (reduction,))


def kl_div(input, target, size_average=None, reduce=None, reduction="mean",
           log_target=False):
    """Pointwise ``target * (log target - input)`` (``input`` holds log-probabilities);
    ``reduction='batchmean'`` divides the sum by the batch size."""
    _check_pair("kl_div", input, target)
    reduction = _reduction(size_average, reduce, reduction, ("none", "mean", "sum",
                                                             "batchmean"))
    if size_average is None and reduce is None and reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and "
                      "the support size.'batchmean' divides only by the batch size, and "
                      "aligns with the KL div math definition.'mean' will be changed to "
                      "behave the same as 'batchmean' in the next major release.",
                      stacklevel=2)
    if np_dtype(input._data.dtype).kind in "biu" or np_dtype(target._data.dtype).kind in "biu":
        raise RuntimeError("kl_div: Integral inputs not supported.")
    if log_target:
        loss = target.exp() * (target - input)
    else:
        zero = target == 0
        safe = _cr.where(zero, 1.0, target)
        loss = _cr.where(zero, 0.0, target * safe.log()) - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.dim() else loss.sum()
    return _reduce(loss, reduction)
