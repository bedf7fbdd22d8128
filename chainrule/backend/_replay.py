"""Replaying the view steps of a tensor on raw arrays (of any library): reading a view's
region and writing into it.  Functions of arrays and rows only (no Tensor), used by the
namespaces' ``view_of``/``view_replace``, by ``CopySlices`` and by ``refresh_view``."""

from __future__ import annotations

import numpy as np

from .numpy_backend import RAW
from .registry import backend_of

_ndarray = np.ndarray


def replay_raw(a, steps, nb=0):
    """Apply view ``steps`` to a raw array (of any library) with ``nb`` leading batch
    dims.  A view of ``a`` where ``a``'s layout allows it; a reshape step may copy
    (reading is fine, for writing use ``assign_view``)."""
    if type(a) is _ndarray:
        if not nb:
            for op, params in steps:
                a = op.forward(a, *params)
            return a
        xp = RAW.with_nb(nb)
    else:
        xp = backend_of(a).xp.with_nb(nb)
    for op, params in steps:
        a = op.forward_on(xp)(a, *params)
    return a


def assign_view(out, steps, nb, value):
    """Write ``value`` into the region of ``out`` (an array the caller owns) that the
    view ``steps`` selects, and return ``out`` (or a row-major copy of it that holds
    the write).

    Note [replaying views on other layouts]: ``steps`` were views of the base's memory,
    but ``out`` (a cotangent, a copy) may be laid out differently, and a reshape step
    that viewed the base may need a copy on ``out``: writing into that copy would be
    lost.  Then the region is addressed by its flat positions instead, which does not
    depend on any layout."""
    if type(out) is not _ndarray:  # Note [writes without shared memory]
        return backend_of(out).xp.view_replace(out, steps, value, nb)
    a = out
    xp = RAW.with_nb(nb)
    for op, params in steps:
        if op.may_copy and not op.viewable(a, nb, *params):
            break
        a = op.forward(a, *params) if not nb else op.forward_on(xp)(a, *params)
    else:
        if a.size:
            a[...] = value
        return out
    out = np.ascontiguousarray(out)
    pos = replay_raw(np.arange(out.size).reshape(out.shape), steps, nb)
    out.reshape(-1)[pos] = value
    return out
