"""Anomaly detection: ``detect_anomaly``, ``set_detect_anomaly``, ``is_anomaly_enabled``.

When on, the engine checks each node's output cotangents for NaN (and, unlike PyTorch,
inf) as soon as the node has run and raises PyTorch's error, plus the line where the
node was created; any error in a node's backward also warns with that line (PyTorch's
"Error detected in ...").  Every node always knows where it was created (Note [creation
site] in node.py), so anomaly mode costs only the finiteness checks; when off, the
engine reads the flag once per backward pass.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from .. import _tensor as T
from .node import describe_site

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "is_anomaly_check_nan_enabled"]


class _Anomaly:
    """Process-wide, as in PyTorch."""

    enabled = False
    check_nan = True


ANOMALY = _Anomaly()


def is_anomaly_enabled() -> bool:
    return ANOMALY.enabled


def is_anomaly_check_nan_enabled() -> bool:
    return ANOMALY.check_nan


class detect_anomaly:
    """Context manager and decorator that turns anomaly detection on inside it.

    Parameters
    ----------
    check_nan : bool
        Raise as soon as a backward node returns NaN (default True).
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan
        self.prev = ANOMALY.enabled
        self.prev_check_nan = ANOMALY.check_nan
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the "
                      "runtime and should only be enabled for debugging.", stacklevel=2)

    def __enter__(self):
        ANOMALY.enabled = True
        ANOMALY.check_nan = self.check_nan
        return self

    def __exit__(self, *exc):
        ANOMALY.enabled = self.prev
        ANOMALY.check_nan = self.prev_check_nan
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(self.check_nan):
                return fn(*args, **kwargs)
        return wrapper


class set_detect_anomaly:
    """``set_detect_anomaly(mode, check_nan=True)``: acts when called, and restores the
    previous setting when used with ``with``."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev = ANOMALY.enabled
        self.prev_check_nan = ANOMALY.check_nan
        ANOMALY.enabled = bool(mode)
        ANOMALY.check_nan = bool(check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        ANOMALY.enabled = self.prev
        ANOMALY.check_nan = self.prev_check_nan
        return False


def check_nan(node, grads) -> None:
    """Raise if a node returned NaN (anomaly mode with ``check_nan``)."""
    if not ANOMALY.check_nan:
        return
    for i, g in enumerate(grads):
        if g is None:
            continue
        a = g._data if isinstance(g, T.Tensor) else g
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            # PyTorch checks NaN only; an inf cotangent is as sure a sign of trouble
            what = "nan" if np.isnan(a).any() else "inf"
            raise RuntimeError(
                f"Function '{node.name()}' returned {what} values in its {i}th output. "
                f"The node was created at {describe_site(node._site)}.")


def report_error(tb) -> None:
    """Warn where the failing node was created (PyTorch's "Error detected in ...")."""
    from . import _higher, engine
    codes = (engine._loop.__code__, _higher._run_node.__code__)
    node = None
    while tb is not None:  # the innermost engine frame holds the node that failed
        if tb.tb_frame.f_code in codes:
            node = tb.tb_frame.f_locals.get("node", node)
        tb = tb.tb_next
    if node is not None and hasattr(node, "_site"):
        warnings.warn(f"Error detected in {node.name()}. Traceback of forward call that "
                      f"caused the error:\n  {describe_site(node._site)}", stacklevel=3)
