"""Moving a tensor between devices (``.to('cuda')``, ``.cpu()``): one linear row.

The VJP moves the cotangent back to the device the input came from, so a loss computed
on the GPU gives CPU parameters a CPU ``.grad`` (PyTorch's ``ToCopyBackward0``).
"""

from __future__ import annotations

from .._tensor import check_device, device_of, to_device
from ._dispatch_any import apply_any
from ._core import Op, unary


def _move(xp, a, dev, src):
    return to_device(a, dev)


TO_DEVICE = Op("to_device", _move,
               [lambda xp, g, a, out, dev, src: xp.to_device(g, src)],
               reads=[()], node="ToCopyBackward0", formula="d/dx to(x, device) = identity, "
               "the cotangent moves back to x's device")
TO_DEVICE.jvp = lambda xp, ts, a, out, dev, src: xp.to_device(ts[0], dev)


def move(x, dev):
    """``x`` on device ``dev`` (``x`` itself when it is there already)."""
    src = device_of(x._data)
    d = check_device(dev)
    if d is None or d == src or (d.type == src.type and d.index is None):
        return x
    # (the general dispatch: the NumPy hot path expects a NumPy result)
    return apply_any(TO_DEVICE, (x,), (str(d), str(src)))
