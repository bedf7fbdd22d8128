"""Dispatch for tensors whose data is not a NumPy array (CuPy, Dask, array-api-strict ...).

Note [backends]: the NumPy hot paths (``apply1``, ``apply2``, ``nary`` in ``_record``) check
one type and hand anything else to ``apply_any``: it picks the backend from the inputs
(``backend.registry.common_backend``: PyTorch's same-device rule; Dask and NumPy mix and
give Dask), brings NumPy operands to it, applies PyTorch's type promotion, runs the row's
forward on that backend's namespace and records the node exactly as the NumPy path does,
so the engine, hooks and version checks see no difference.  The rules then run on the
same namespace in backward (``autograd/engine.py`` picks it from the cotangent).
"""

from __future__ import annotations

import numpy as np

from .._dtype import float_default, result_type
from .._grad_mode import STATE
from .._tensor import Tensor, refresh_view, wrap
from ..autograd.forward_ad import STATE as _FW
from ..autograd.forward_ad import push as _fw_push
from ..autograd.node import creation_site
from ..backend.array_api import np_dtype
from ..backend.registry import NUMPY, backend_of, common_backend
from ..backend.trace import _ACTIVE as _TRACE_ACTIVE
from ._errors import _broadcast_error, _broadcast_error_n

SCALARS = (int, float, bool)


class _DtypeOnly:
    """Stands in for an array in ``result_type`` (which reads ``dtype`` and ``ndim``)."""

    __slots__ = ("dtype", "ndim")

    def __init__(self, a):
        self.dtype = np_dtype(a.dtype)
        self.ndim = a.ndim


def promoted_dtype(values, float_only=False):
    """PyTorch's result dtype (a NumPy dtype) of arrays of any library and numbers."""
    probes = []
    for v in values:
        if v is None:
            continue
        if type(v) in SCALARS:
            probes.append(v)
        else:
            probes.append(np.empty((0,) if v.ndim else (), np_dtype(v.dtype)))
    rt = result_type(*probes)
    if float_only and rt.kind != "f":
        rt = float_default().np
    return rt


def datas_of(inputs):
    out = []
    for v in inputs:
        if isinstance(v, Tensor):
            if v._view is not None:
                refresh_view(v)
            out.append(v._data)
        else:
            out.append(v)
    return out


def apply_any(op, inputs, params=(), *, promote=None):
    """Run row ``op`` on ``inputs`` (Tensors, numbers, None) on their common backend.

    ``promote``: which inputs take part in type promotion (elementwise rows: all)."""
    from ._record import _out_checks, _record
    graph = _TRACE_ACTIVE[0]
    if graph is not None:  # chainrule.compile: the op and the user's line, for the code
        graph.note = (op.name, creation_site())
        _unfound(op, inputs)
    datas = datas_of(inputs)
    be = common_backend(datas, op.name)
    xp = be.xp
    if promote is None:
        promote = (op.kind == "elementwise" and op.promote != "none",) * len(datas)
    if any(promote):
        rt = promoted_dtype([d for d, p in zip(datas, promote) if p],
                            op.promote == "float" or op.float_result)
        want = xp.dtype(rt) if be is not NUMPY else rt
        # compile's trace keeps a Python number a number where the NumPy path does (its
        # rules branch on it: x ** 3), and a 0-d array where that path makes one
        keep = graph is not None and be.name == "trace" and not op.scalar_as_array
        datas = [_cast(be, d, want, rt) if p and d is not None and not (
                     keep and type(d) in SCALARS) else d
                 for d, p in zip(datas, promote)]
    if op.float_result:
        datas = [_cast(be, d, xp.dtype(float_default().np), float_default().np)
                 if d is not None and type(d) not in SCALARS
                 and np_dtype(d.dtype).kind != "f" else d for d in datas]
    datas = [be.asarray(d) if type(d) is np.ndarray else d for d in datas]
    try:
        with np.errstate(all="ignore"):  # Note [floating-point warnings]: PyTorch is silent
            out = op.forward_on(xp)(*datas, *params)
    except ValueError as exc:  # (the NumPy path's error, whatever library raised it)
        if op.kind != "elementwise" or "broadcast" not in str(exc):
            raise
        if len(datas) == 2:
            raise _broadcast_error(op, datas[0], datas[1], exc) from None
        raise _broadcast_error_n(op, datas, exc) from None
    if type(out) in SCALARS or isinstance(out, np.generic):
        out = be.asarray(np.asarray(out))
    rg = any(isinstance(v, Tensor) and v._rg for v in inputs)
    if rg and STATE.enabled and op.differentiable:
        node = _record(op, out, tuple(inputs), params, datas)
        if op.kind == "elementwise":
            shapes = tuple(tuple(d.shape) if hasattr(d, "shape") else () for d in datas)
            node._params = shapes if any(s != tuple(out.shape) for s in shapes) else ()
        t = wrap(out, node)
        _out_checks(node, t)
    else:
        t = wrap(out)
    if _FW.on:  # forward-mode tangents, as the NumPy paths push them
        _fw_push(op, tuple(inputs), datas, t, params)
    return t


def _unfound(op, inputs):
    """Note [trace inputs] (compile): every tensor a traced call reads is an input of the
    trace or made inside it; a NumPy tensor here was reached some way compile did not
    search, and would be baked in as a constant: that call runs eagerly instead."""
    for v in inputs:
        if isinstance(v, Tensor) and type(v._data) is np.ndarray:
            from ..backend.trace import refuse
            refuse(f"{op.name} reads a tensor of shape {list(v._data.shape)} that is not an "
                   f"argument and was not found in the function's closure, globals, "
                   f"modules or optimizers (pass it as an argument)")
            return


def _cast(be, d, want, rt):
    """``d`` (an array of any library or a number) in the promoted dtype."""
    if type(d) in SCALARS:
        return be.asarray(np.asarray(d, rt)) if be is not NUMPY else d
    if type(d) is np.ndarray:
        return be.asarray(d.astype(rt, copy=False))
    return d if d.dtype == want else be.xp.astype(d, want)


def is_foreign(data) -> bool:
    return type(data) is not np.ndarray and backend_of(data) is not NUMPY
