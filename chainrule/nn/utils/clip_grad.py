"""Gradient clipping, in place on ``.grad`` (PyTorch's formulas)."""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..._grad_mode import no_grad
from ..._tensor import Tensor, wrap

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm"]


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type``-norm of the norms of ``tensors`` (as one vector)."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    tensors = list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return wrap(np.asarray(0.0, dtype=np.float32))
    dt = np.result_type(*[t._data.dtype for t in tensors])
    if norm_type == math.inf:
        norms = [np.max(np.abs(t._data)) if t._data.size else 0.0 for t in tensors]
        total = np.max(norms)
    else:
        norms = [np.linalg.norm(t._data.ravel(), norm_type) for t in tensors]
        total = np.linalg.norm(np.asarray(norms, dtype=np.float64), norm_type)
    total = wrap(np.asarray(total, dtype=dt))
    if error_if_nonfinite and not np.isfinite(total._data):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                           f"`parameters` is non-finite, so it cannot be clipped. To disable "
                           f"this error and scale the gradients by the non-finite norm anyway, "
                           f"set `error_if_nonfinite=False`")
    return total


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None):
    """Scale all gradients together so that their total norm is at most ``max_norm``;
    returns the total norm before clipping (a 0-d tensor)."""
    grads = _grads(parameters)
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    if not grads:
        return total
    coef = float(max_norm) / (float(total._data) + 1e-6)
    if coef < 1.0:
        with no_grad():
            for g in grads:
                g.mul_(coef)
    return total


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                   foreach=None):
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None) -> None:
    """Clamp every gradient entry to ``[-clip_value, clip_value]`` in place."""
    clip_value = float(clip_value)
    with no_grad():
        for g in _grads(parameters):
            g.clamp_(-clip_value, clip_value)
