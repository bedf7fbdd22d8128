"""PyTorch's type promotion for two-operand rows, the caches of Python numbers as 0-d
arrays, and the casting check of in-place ops."""

from __future__ import annotations

from math import copysign as _copysign

import numpy as np

from .._dtype import float_default, result_type, wrap_int

_ndarray = np.ndarray


_SCALAR_CACHE: dict = {}  # dtype -> {number: read-only 0-d array}


def _scalar_array(v, dtype):
    """A read-only 0-d array for a Python number: NumPy multiplies an array by a 0-d
    array of its dtype about twice as fast as by a Python float, with the same result
    (NEP 50 casts the weak scalar to the array's dtype either way)."""
    per = _SCALAR_CACHE.get(dtype)
    if per is None:
        per = _SCALAR_CACHE[dtype] = {}
    a = per.get(v)
    if a is None:
        if type(v) is bool:
            return v
        if type(v) is int and not -2 ** 63 <= v < 2 ** 64:
            wrap_int(v, np.dtype(np.int8))  # raises PyTorch's OverflowError
        if not v:
            # 0.0 == -0.0 (and their hashes agree): zeros are kept apart, by sign, so a
            # key cannot give one zero the other's sign (1 / (x * -0.0) is -inf)
            return _signed_zero(v, dtype)
        a = np.array(v, dtype)
        if len(per) > 4096:
            per.clear()
        a.flags.writeable = False
        per[v] = a
    return a


_ZEROS: dict = {}  # (dtype, sign) -> read-only 0-d zero


def _signed_zero(v, dtype):
    key = (dtype, _copysign(1.0, v))
    a = _ZEROS.get(key)
    if a is None:
        a = _ZEROS[key] = np.array(v, dtype)
        a.flags.writeable = False
    return a


def _promote(op, ad, bd):
    """Cast operands so NumPy computes in PyTorch's result dtype.  Python scalars stay
    scalars: NumPy treats them as weak, which matches PyTorch once the arrays are cast."""
    mode = op.promote
    if mode == "none":
        return ad, bd
    for v, w in ((ad, bd), (bd, ad)):  # PyTorch refuses these before anything else
        if type(v) is int and not -2 ** 63 <= v < 2 ** 63:
            if 0 < v < 2 ** 64:
                _check_uint64(v, np.asarray(w))
            else:
                wrap_int(v, np.dtype(np.int8))
    if op.name == "sub" and (np.asarray(ad).dtype.kind == "b" or np.asarray(bd).dtype.kind == "b"
                             or type(ad) is bool or type(bd) is bool):
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
            "trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    rt = result_type(ad, bd)
    if mode == "float" and rt.kind != "f":
        rt = float_default().np
    elif rt.kind in "iu":  # Note [scalar conversion]: a Python int wraps into rt
        if type(ad) is int:
            ad = _wrap_int(ad, rt, bd)
        elif type(bd) is int:
            bd = _wrap_int(bd, rt, ad)
    if type(ad) is _ndarray and ad.dtype != rt:
        ad = ad.astype(rt)
    if type(bd) is _ndarray and bd.dtype != rt:
        bd = bd.astype(rt)
    return ad, bd


def _wrap_int(v, rt, other):
    _check_uint64(v, other)
    return wrap_int(v, rt)


def _check_uint64(v, other):
    if v >= 2 ** 63 and other.dtype.kind == "b":
        raise RuntimeError(f"Promotion for uint16, uint32, uint64 types is not supported, "
                           f"attempted to promote Bool and UInt64: the Python int {v} is "
                           f"above int64; convert the bool tensor with .long() first")


def _cast_error(op, src, dst):
    return RuntimeError(
        f"{op.name}_: result type {_tname(src)} can't be cast to the desired output type "
        f"{_tname(dst)} of the tensor changed in place. Fix: use the out-of-place form or "
        f"convert the tensor first, e.g. x = x.float().")


def _can_cast(src, dst) -> bool:
    rank = {"b": 0, "u": 1, "i": 1, "f": 2}
    return rank[src.kind] <= rank[dst.kind]


def _tname(np_dtype) -> str:
    from .._dtype import from_numpy_dtype
    return str(from_numpy_dtype(np_dtype)).replace("torch.", "")
