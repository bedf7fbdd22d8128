"""Tensor creation: ``tensor``, ``zeros``, ``arange``, random tensors, NumPy interop."""

from __future__ import annotations

import functools
import numbers
from itertools import chain

import numpy as np

from . import _args, _dtype
from ._dtype import get_default_dtype, to_dtype
from ._tensor import Tensor, check_device, to_device, wrap
from .backend.array_api import np_dtype
from .backend.batched import LEVELS, rng_for
from .backend.registry import backend_of

__all__ = ["tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "empty",
           "zeros_like", "ones_like", "full_like", "empty_like", "arange", "linspace",
           "logspace", "eye", "rand", "randn", "randint", "randperm", "rand_like",
           "randn_like", "randint_like", "manual_seed", "seed", "initial_seed",
           "Generator", "default_generator", "scalar_tensor", "normal"]


# ---- data into arrays ------------------------------------------------------------
# Note [creation from data]: tensor(), as_tensor(), new_tensor() and Tensor() build the
# requested dtype from the Python/NumPy values themselves, as PyTorch does: the dtype is
# PyTorch's promotion over the leaves (bool, int -> int64, float -> the default float,
# NumPy scalars and 0-d tensors -> their dtype); floats reach a floating dtype from
# their double value in one cast; integers and floats reach an integer dtype through the
# checked conversion of Note [scalar conversion].  Arrays and tensors given whole are
# cast without checks (PyTorch's copy semantics).  Leaves are read in data order, so the
# first bad leaf or uneven row raises PyTorch's error; data whose shape has a zero is
# not read at all (PyTorch accepts uneven rows then).  NumPy uint16/uint32/uint64
# scalars (dtypes chainrule lacks) need an explicit dtype=.

_PLAIN = frozenset((float, int, bool))
_SEQ = frozenset((list, tuple))
_BOOL = np.dtype(np.bool_)
_I64 = np.dtype(np.int64)
_F64 = np.dtype(np.float64)


def _plain(data):
    """The leaf types of ``data`` when it is a list/tuple nest of Python bools, ints and
    floats only (an empty set for no leaves), else None."""
    if len(data) == 1 and type(data[0]) is list:  # one row: [[1.0, 2.0]]
        return _plain(data[0])
    kinds = set(map(type, data))
    if kinds <= _PLAIN:
        return kinds
    if not kinds <= _SEQ:
        return None
    kinds = set(map(type, chain.from_iterable(data)))  # two levels in one pass
    if kinds <= _PLAIN:
        return kinds
    if not kinds <= _SEQ:
        return None
    out = set()
    for row in data:
        k = _plain(row)
        if k is None:
            return None
        out |= k
    return out


def _leaf_dtype(d):
    """The NumPy dtype PyTorch infers for one leaf of tensor() data."""
    t = type(d)
    if t is bool:
        return _BOOL
    if t is int:
        return _I64
    if t is float:
        return get_default_dtype().np
    if isinstance(d, (np.generic, np.ndarray)):
        if d.dtype.kind == "b":
            return _BOOL
        if isinstance(d, np.generic) and d.dtype.kind == "u" and d.dtype.itemsize == 8:
            raise TypeError("tensor(): an integer is required: NumPy uint64 scalars have no "
                            "PyTorch dtype; convert with int() (values below 2**63)")
        return _dtype.from_numpy_dtype(d.dtype).np
    if isinstance(d, bool):
        return _BOOL
    if isinstance(d, numbers.Integral):
        return _I64
    if isinstance(d, numbers.Real):
        return get_default_dtype().np
    if isinstance(d, numbers.Complex):
        raise TypeError("chainrule supports real dtypes only for now; got complex data. "
                        "Pass the real and imaginary parts as separate tensors.")
    if isinstance(d, str):
        raise TypeError("new(): invalid data type 'str'; tensor() takes numbers or "
                        "(nested) sequences of numbers")
    raise RuntimeError(f"Could not infer dtype of {type(d).__name__}: tensor() data must "
                       f"be numbers, (nested) lists/tuples of numbers, NumPy arrays or "
                       f"tensors, got {d!r:.60}")


def _scan(data):
    """``(data, dtype, leaf_types)``: ``data`` with tensor leaves replaced by Python
    numbers, the dtype PyTorch infers for it, and the set of leaf types."""
    dt = None
    leaves = set()
    unsupported = []

    def promote(d):
        nonlocal dt
        try:
            dt = _dtype.promote_types(dt, _leaf_dtype(d))
        except TypeError as exc:  # a NumPy type without a tensor dtype: fine with dtype=
            if not isinstance(d, (np.unsignedinteger, np.ndarray)):
                raise
            unsupported.append(exc)

    def visit(d):
        nonlocal dt
        if type(d) is range:  # PyTorch reads any sequence; a range is the common one
            d = list(d)
        if isinstance(d, (list, tuple)):
            if d and isinstance(d[0], str):
                raise ValueError(f"too many dimensions 'str': tensor() got the string "
                                 f"{d[0]!r:.40} in its data; convert it to a number first")
            if not d:  # PyTorch: an empty sequence counts as the default float
                dt = _dtype.promote_types(dt, get_default_dtype().np)
            return [visit(e) for e in d]
        if isinstance(d, Tensor):
            a = d._data
            if a.size != 1:
                raise ValueError(f"only one element tensors can be converted to Python "
                                 f"scalars: tensor() got a tensor of shape {list(a.shape)} "
                                 f"inside a list; use torch.stack() to join tensors")
            leaves.add(("tensor", a.dtype.kind))
            dt = _dtype.promote_types(dt, a.dtype)
            return _FloatTensorLeaf(a) if a.dtype.kind == "f" else a.reshape(()).item()
        leaves.add(d.dtype.type if isinstance(d, np.ndarray) and d.ndim else type(d))
        promote(d)
        return d

    out = visit(data)
    if unsupported:  # Note [creation from data]: such data needs an explicit dtype=
        dt = unsupported[0]
    return out, (get_default_dtype().np if dt is None else dt), leaves


class _FloatTensorLeaf:
    """A floating 0-d tensor inside tensor() data (PyTorch reads integer and bool data
    through ``__index__``, which a floating tensor refuses)."""

    __slots__ = ("a",)

    def __init__(self, a):
        self.a = a

    def __float__(self):
        return float(self.a.reshape(()))


def _index_value(v, kind):
    """One leaf of integer (``kind`` "i"/"u") or bool ("b") data, refused as PyTorch's
    ``__index__`` refuses it."""
    if type(v) is _FloatTensorLeaf:
        raise TypeError("only integer tensors of a single element can be converted to an "
                        "index: tensor() got a floating tensor in data for an integer or "
                        "bool dtype; convert it with .long() first")
    if isinstance(v, np.generic) and not isinstance(v, (np.integer, float)) and not (
            kind == "b" and isinstance(v, np.bool_)):
        raise TypeError(f"'numpy.{type(v).__name__}' object cannot be interpreted as an "
                        f"integer: tensor() data for an integer or bool dtype takes Python/"
                        f"NumPy ints and Python floats; convert with int() or float() first")
    return v


def _needs_walk(leaves, kind) -> bool:
    """Whether integer/bool data has leaves that need one-by-one conversion."""
    for t in leaves:
        if type(t) is tuple:
            if t[1] == "f":
                return True
        elif issubclass(t, float):
            if kind != "b":
                return True
        elif issubclass(t, np.generic) and not issubclass(t, np.integer) and not (
                kind == "b" and issubclass(t, np.bool_)):
            return True
    return False


def _ragged(exc):
    return ValueError(f"tensor(): expected a rectangular (non-ragged) nested sequence; "
                      f"every row must have the same length ({exc})")


def _checked_ints(a, dt):
    """Integer data (int64 array) into integer dtype ``dt``, checked."""
    if dt == _I64:
        return a
    lo, hi = _dtype.int_limits(dt)
    if a.size:
        mn, mx = int(a.min()), int(a.max())
        if mn < (-hi if lo == 0 else lo) or mx > hi:
            raise _dtype.overflow_error(mn if mn < lo else mx, dt, "tensor()")
    return a.astype(dt)


def _torch_shape(data) -> list:
    """The shape PyTorch reads from nested data: the lengths along the first elements."""
    shape = []
    d = data
    while isinstance(d, (list, tuple)) or (isinstance(d, np.ndarray) and d.ndim):
        shape.append(len(d))
        if not len(d):
            break
        d = d[0]
    return shape


def _leaf_value(v, kind, dt):
    """One leaf converted for dtype ``dt`` (of ``kind``), as PyTorch's store does."""
    if kind == "f":
        if isinstance(v, (list, tuple)):
            raise TypeError(f"must be real number, not {type(v).__name__}: tensor() data "
                            f"nests sequences unevenly")
        return float(v)
    v = _index_value(v, kind)
    if isinstance(v, (list, tuple)):
        raise TypeError(f"'{type(v).__name__}' object cannot be interpreted as an integer: "
                        f"tensor() data nests sequences unevenly")
    if isinstance(v, np.generic):
        v = v.item()
    if kind == "b":
        return bool(v)
    if isinstance(v, int) and not isinstance(v, bool) and not -2**63 <= v < 2**63:
        raise ValueError(f"Overflow when unpacking long long: tensor() got the integer {v} "
                         f"outside int64")
    return _dtype.checked_scalar(v, dt, "tensor()")


def _walk(data, shape, dt) -> np.ndarray:
    """PyTorch's recursive store: every row checked against ``shape`` and every leaf
    converted in data order, so the first problem raises PyTorch's error."""
    kind = dt.kind
    flat = []

    def store(d, dim):
        if dim == len(shape):
            flat.append(_leaf_value(d, kind, dt))
            return
        if not isinstance(d, (list, tuple, np.ndarray)):
            raise TypeError(f"not a sequence: tensor() expected a sequence of length "
                            f"{shape[dim]} at dim {dim}, got {type(d).__name__}")
        if len(d) != shape[dim]:
            raise ValueError(f"expected sequence of length {shape[dim]} at dim {dim} (got "
                             f"{len(d)}): tensor() data must be rectangular")
        for e in d:
            store(e, dim + 1)

    store(data, 0)
    arr = np.array(flat, dtype=_F64 if kind == "f" else dt).reshape(shape)
    return _dtype.cast(arr, dt)


def _from_data(data, dtype=None) -> np.ndarray:
    """Python/NumPy data (numbers, nested sequences) as a new array of ``dtype`` (or the
    inferred one), Note [creation from data]."""
    data, inferred, leaves = _scan(data)
    if dtype is None and isinstance(inferred, Exception):
        raise inferred
    dt = inferred if dtype is None else to_dtype(dtype).np
    kind = dt.kind
    shape = _torch_shape(data)
    if 0 in shape:  # PyTorch reads no element then, so ragged rows pass unnoticed
        return np.zeros(shape, dt)
    if kind != "f" and _needs_walk(leaves, kind):
        return _walk(data, shape, dt)
    try:
        if kind == "f":
            return _dtype.cast(np.array(data, dtype=_F64), dt)
        if kind == "b":
            return np.array(data, dtype=_BOOL)
        a = np.array(data)
    except (ValueError, TypeError):
        return _walk(data, shape, dt)
    if a.dtype == object or a.dtype.kind == "f" or a.shape != tuple(shape):
        return _walk(data, shape, dt)
    if a.dtype.kind == "u" and a.dtype.itemsize == 8:
        if a.size and int(a.max()) >= 2**63:
            return _walk(data, shape, dt)
        a = a.astype(_I64)
    if a.dtype.kind == "b":
        return a.astype(dt)
    return _checked_ints(a.astype(_I64, copy=False), dt)


def _to_array(data, dtype=None) -> np.ndarray:
    """``data`` as an array of ``dtype`` (inferred when None); may share memory with an
    ndarray or tensor that already has that dtype."""
    if isinstance(data, Tensor):
        arr = data._data
        if type(arr) is not np.ndarray:
            return _foreign_array(arr, dtype)
    elif _is_foreign(data):
        return _foreign_array(data, dtype)
    elif isinstance(data, np.ndarray):
        if data.dtype.kind in "USO":
            raise TypeError(f"tensor(): new(): invalid data type '{data.dtype.name}'; data "
                            f"must be numeric")
        arr = data
        if dtype is None:
            _dtype.from_numpy_dtype(arr.dtype)
    else:
        return _from_data(data, dtype)
    if dtype is not None:
        arr = _dtype.cast(arr, to_dtype(dtype).np)
    return arr


def _finish(arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = wrap(arr)
    if requires_grad:
        t.requires_grad_()
    return t


def tensor(data, dtype=None, device=None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of ``data``.

    Unlike PyTorch 2.x, integer tensors may require grad; their ``.grad`` is floating
    (the default float dtype), see the PyTorch guide in the docs.
    """
    if device is not None:
        check_device(device)
    t = type(data)
    if dtype is None:
        if t is float:
            return _finish(_dtype.cast(np.array(data), get_default_dtype().np), requires_grad)
        if t is int and -2 ** 63 <= data < 2 ** 63:
            return _finish(np.array(data, dtype=_I64), requires_grad)
    if t is list:
        kinds = _plain(data)
        if kinds is not None:
            arr = _fast_list(data, dtype, kinds)
            if arr is not None:
                t = wrap(arr)
                return t.requires_grad_() if requires_grad else t
    arr = _to_array(data, dtype)
    if type(arr) is np.ndarray:
        arr = np.array(arr, copy=True, order="C")
    elif not backend_of(arr).lazy and (arr is data or isinstance(data, Tensor)):
        arr = backend_of(arr).xp.copy(arr)
    return _finish(to_device(arr, device if device is not None else _DEFAULT_DEVICE[0]),
                   requires_grad)


def _is_foreign(data) -> bool:
    """An array of another library (CuPy, Dask, any Array-API array)."""
    if isinstance(data, (np.ndarray, np.generic, list, tuple, Tensor)) or type(data) in (
            int, float, bool, complex):
        return False
    return hasattr(data, "__array_namespace__") or type(data).__module__.split(".")[0] in (
        "dask", "cupy")


def _foreign_array(arr, dtype):
    """A CuPy/Dask/Array-API array in ``dtype`` (no copy when it already has it)."""
    be = backend_of(arr)
    _dtype.from_numpy_dtype(np_dtype(arr.dtype))  # refuses dtypes chainrule lacks
    if dtype is None:
        return arr
    return be.xp.astype(arr, to_dtype(dtype).np)


def _fast_list(data, dtype, kinds):
    """Nested lists of Python numbers: NumPy's inference matches PyTorch's here (bool <
    int64 < float64, then the default float); None when the slow path must decide."""
    if dtype is not None:
        dt = to_dtype(dtype).np
        try:
            if dt.kind == "f":
                return _dtype.cast(np.array(data, dtype=_F64), dt)
            if dt.kind == "b":
                return np.array(data, dtype=_BOOL)
            arr = np.array(data)
        except (ValueError, TypeError, OverflowError):
            return None
        if arr.dtype == _I64:
            return _checked_ints(arr, dt)
        return arr.astype(dt) if arr.dtype.kind == "b" else None
    try:
        if float in kinds or not kinds:  # one cast from each double, as PyTorch
            default = _dtype._default[0].np
            return np.array(data, dtype=_F64) if default is _F64 else \
                _dtype.quiet_array(data, default)
        arr = np.array(data)
    except (ValueError, TypeError, OverflowError):
        return None
    if arr.dtype == _I64 or arr.dtype.kind == "b":
        return arr
    return None  # integers beyond int64: the slow path raises PyTorch's error


def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A 0-d tensor of ``s`` (the default float dtype unless ``dtype`` is given)."""
    check_device(device)
    dt = _np_dtype(dtype)
    if isinstance(s, Tensor):
        s = s.item()
    value = _dtype.checked_scalar(s, dt, "scalar_tensor", dt.itemsize != 2)
    return _finish(np.array(value, dtype=dt), requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory with an ndarray or tensor when it can."""
    check_device(device)
    if isinstance(data, Tensor) and (dtype is None or to_dtype(dtype).np == data._data.dtype):
        return data
    if type(data) is list:
        kinds = _plain(data)
        arr = None if kinds is None else _fast_list(data, dtype, kinds)
        if arr is not None:
            return wrap(to_device(arr, device))
    if isinstance(data, Tensor) and device is not None:
        return data.to(device=device, dtype=dtype)
    return wrap(to_device(_to_array(data, dtype), device))


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``ndarray`` (writes show on both sides)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    _dtype.from_numpy_dtype(ndarray.dtype)
    return wrap(ndarray)


def _size(size) -> tuple:
    if not size:
        raise TypeError("missing 1 required positional arguments: \"size\"; pass a shape "
                        "such as (2, 3), or () for a 0-d tensor")
    out = _args.star_int_list(size, "tensor", "size")  # PyTorch's int-list parsing
    for s in out:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: "
                               f"{list(out)}")
    return out


def _np_dtype(dtype, default=None):
    if dtype is None:
        return (default or get_default_dtype()).np
    return to_dtype(dtype).np


def _filled(fill, size, dtype, device, requires_grad, out=None, op=None):
    """``op`` names the public function whose fill value is checked (full); zeros and
    ones fill numbers every dtype holds."""
    check_device(device)
    shape = _size(size)
    dt = _np_dtype(dtype)
    if op is None and fill == 0:
        arr = np.zeros(shape, dtype=dt)  # (np.full is a Python function: slower)
    else:
        arr = np.full(shape, fill if op is None else _dtype.checked_scalar(fill, dt, op),
                      dtype=dt)
    if out is not None:
        out._data = arr
        return out
    return _finish(arr, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None,
          pin_memory=False) -> Tensor:
    return _filled(0, size, dtype, device, requires_grad, out)


def ones(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None,
         pin_memory=False) -> Tensor:
    return _filled(1, size, dtype, device, requires_grad, out)


def empty(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None,
          pin_memory=False, memory_format=None) -> Tensor:
    check_device(device)
    return _finish(np.empty(_size(size), dtype=_np_dtype(dtype)), requires_grad)


def _fill_scalar(fill_value, op):
    """A fill value as a Python/NumPy number (a one-element tensor gives its value)."""
    if isinstance(fill_value, Tensor):
        if fill_value._data.ndim:
            raise TypeError(f"{op}(): argument 'fill_value' must be Number, not a Tensor of "
                            f"shape {list(fill_value.shape)}; pass .item() of one element")
        return fill_value._data.item()
    if not isinstance(fill_value, (numbers.Number, np.generic)):
        raise TypeError(f"{op}(): argument 'fill_value' must be Number, not "
                        f"{type(fill_value).__name__}")
    return fill_value


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False, out=None,
         layout=None) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``; its dtype follows the value's
    kind (bool, int64, the default float) unless ``dtype`` is given."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        raise TypeError(f"full(): argument 'size' must be tuple of ints, not int; write "
                        f"full(({size},), value)")
    fill_value = _fill_scalar(fill_value, "full")
    if dtype is None:
        if isinstance(fill_value, bool):  # not np.bool_: PyTorch gives it the default float
            dtype = _dtype.bool_
        elif isinstance(fill_value, numbers.Integral):
            dtype = _dtype.int64
    return _filled(fill_value, size, dtype, device, requires_grad, out, "full")


def _like(t, dtype):
    if not isinstance(t, Tensor):
        raise TypeError(f"expected a Tensor, got {type(t).__name__}")
    return tuple(t._data.shape), (np_dtype(t._data.dtype) if dtype is None
                                  else to_dtype(dtype).np)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False, layout=None,
               memory_format=None) -> Tensor:
    shape, dt = _like(input, dtype)
    return _finish(np.zeros(shape, dt), requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False, layout=None,
              memory_format=None) -> Tensor:
    shape, dt = _like(input, dtype)
    return _finish(np.ones(shape, dt), requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False,
              layout=None, memory_format=None) -> Tensor:
    shape, dt = _like(input, dtype)
    value = _dtype.checked_scalar(_fill_scalar(fill_value, "full_like"), dt, "full_like")
    return _finish(np.full(shape, value, dt), requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False, layout=None,
               memory_format=None) -> Tensor:
    shape, dt = _like(input, dtype)
    return _finish(np.empty(shape, dt), requires_grad)


def _num(v, op="arange", name="start"):
    if isinstance(v, Tensor):
        return v.item()
    if v is not None and not isinstance(v, (numbers.Real, np.generic)):
        raise TypeError(f"{op}(): argument '{name}' must be Number, not {type(v).__name__}")
    return v


def _count(v, op, name):
    """An integer argument such as ``steps`` or ``n`` (bools and floats refused)."""
    if isinstance(v, Tensor) and v._data.ndim == 0 and np_dtype(v._data.dtype).kind in "iu":
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{op}(): argument '{name}' must be int, not {type(v).__name__}")
    return int(v)


def arange(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad=False,
           out=None, layout=None) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive); int64 when all arguments are ints."""
    check_device(device)
    start, end, step = _num(start), _num(end, name="end"), _num(step, name="step")
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = _dtype.int64 if ints else get_default_dtype()
    dt = to_dtype(dtype).np
    for v in (start, end, step):
        if isinstance(v, numbers.Integral) and not -2 ** 63 <= v < 2 ** 63:
            raise OverflowError(f"arange(): int too big to convert: {v} is outside int64")
    if dt.kind == "b":
        raise NotImplementedError("\"arange_cpu\" not implemented for 'Bool': arange() "
                                  "makes numbers; use arange(n) > k for a mask")
    if not (step > 0 or step < 0):
        raise RuntimeError(f"arange(): step must be nonzero, got {step}")
    if not all(np.isfinite(float(v)) for v in (start, end)):
        raise RuntimeError(f"arange(): unsupported range: {start} -> {end}; start and end "
                           f"must be finite")
    _arange_sign(start, end, step)
    if dt.kind == "f":
        n = int(np.ceil((float(end) - float(start)) / float(step)))
        return _finish(_arange_float(float(start), float(step), n, dt), requires_grad)
    # integer dtypes: PyTorch converts start, end and step to int64 (checked, truncated)
    s0, e0, st = (_dtype.checked_scalar(v, _I64, "arange") for v in (start, end, step))
    if dt == _I64:
        if st == 0:
            raise ValueError(f"arange(): step must be nonzero: step={step} truncates to 0 "
                             f"for the integer dtype {to_dtype(dtype)}")
        _arange_sign(s0, e0, st)
        n = (e0 - s0 + st - (1 if st > 0 else -1)) // st
    else:  # the size from the numbers themselves
        n = int(np.ceil((float(end) - float(start)) / float(step)))
    arr = (s0 + st * np.arange(n, dtype=_I64)).astype(dt)
    return _finish(arr, requires_grad)


_LD = np.longdouble


def _arange_float(start, step, n, dt):
    """PyTorch's CPU arange kernel, value for value (Note [arange kernel])."""
    if dt.itemsize == 2 or n > 32768:  # float16 / threaded chunks: the plain formula
        return _dtype.cast(start + step * np.arange(n, dtype=_F64), dt)
    lanes_per_vec = 32 // dt.itemsize
    idx = np.arange(n)
    nvec = n // (2 * lanes_per_vec) * 2 * lanes_per_vec
    lanes = idx[:nvec] % lanes_per_vec
    base = (_LD(start) + _LD(step) * (idx[:nvec] - lanes).astype(_LD)).astype(_F64)
    if dt != _F64:
        base = _dtype.cast(base, dt).astype(_F64)
    out = np.empty(n, dt)
    out[:nvec] = _dtype.cast((base.astype(_LD) + lanes.astype(_LD) * _LD(step)).astype(_F64),
                             dt)
    out[nvec:] = _dtype.cast((_LD(start) + _LD(step) * idx[nvec:].astype(_LD)).astype(_F64),
                             dt)
    return out


# Note [arange kernel]: PyTorch's CPU arange fills 256-bit vectors, two per loop step:
# each vector starts at start + step * i (computed in double, with a fused multiply-add,
# then rounded to the dtype) and its lanes add lane * step (again fused, in double); the
# elements after the last pair of vectors use start + step * i.  The fused operations
# are computed here in x86 extended precision (exact for the lane products), which
# reproduces PyTorch's values bit for bit on the fuzzer's ranges; arrays above 32768
# elements (split between threads by PyTorch) and float16 use start + step * i and can
# differ in the last bit.


def _arange_sign(start, end, step):
    if (end - start) * step < 0:
        raise RuntimeError(f"arange(): upper bound and lower bound inconsistent with step "
                           f"sign: start={start}, end={end}, step={step}; use a "
                           f"{'negative' if end < start else 'positive'} step")


def _steps(steps, op):
    steps = _count(steps, op, "steps")
    if steps < 0:
        raise RuntimeError(f"{op}(): number of steps must be non-negative, got {steps}")
    return steps


def _linspace(start, end, n, dt, op, base=10.0):
    """PyTorch's linspace kernel: the first half counts up from ``start``, the second
    half down from ``end`` (in the dtype's own arithmetic; integer dtypes step in
    double from the converted ends)."""
    if n <= 1:  # PyTorch runs no kernel: it fills the start, converted (checked)
        if op == "logspace":
            start = float(base) ** float(start)
        return np.full(n, _dtype.checked_scalar(start, dt, op) if n else 0, dtype=dt)
    if dt.kind == "b":
        raise NotImplementedError(f"\"{op}_cpu\" not implemented for 'Bool': pass a "
                                  f"numeric dtype")
    if dt.kind == "f" and op == "linspace":
        a, b = np.array(start, dt), np.array(end, dt)
        work = dt
    else:  # PyTorch converts the ends to an integer dtype first (checked, truncated)
        work = _F64
        if dt.kind != "f":
            start = _dtype.checked_scalar(start, dt, op)
            end = _dtype.checked_scalar(end, dt, op)
        a, b = np.array(start, work), np.array(end, work)
    i = np.arange(n)
    step = (b - a) / np.array(n - 1, work)
    half = n // 2
    return np.where(i < half, a + step * i.astype(work),
                    b - step * (n - i - 1).astype(work)).astype(work)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False,
             out=None, layout=None) -> Tensor:
    check_device(device)
    dt = _np_dtype(dtype)
    n = _steps(steps, "linspace")
    arr = _linspace(_num(start, "linspace"), _num(end, "linspace", "end"), n, dt, "linspace")
    return _finish(_dtype.cast(arr, dt), requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None,
             requires_grad=False) -> Tensor:
    dt = _np_dtype(dtype)
    n = _steps(steps, "logspace")
    start, end = _num(start, "logspace"), _num(end, "logspace", "end")
    exps = _linspace(start, end, n, dt, "logspace", base)
    if n <= 1:
        return _finish(exps, requires_grad)
    with np.errstate(over="ignore", invalid="ignore"):
        arr = np.power(float(base), exps)
    return _finish(_dtype.cast(arr, dt), requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False, out=None,
        layout=None) -> Tensor:
    check_device(device)
    n = _count(n, "eye", "n")
    m = n if m is None else _count(m, "eye", "m")
    for name, v in (("n", n), ("m", m)):
        if v < 0:
            raise RuntimeError(f"eye(): {name} must be greater or equal to 0, got {v}")
    return _finish(np.eye(n, m, dtype=_np_dtype(dtype)), requires_grad)


# ---- random --------------------------------------------------------------------------
# Note [random streams]: chainrule draws from NumPy's PCG64, so manual_seed(s) makes
# runs reproducible but does not reproduce PyTorch's numbers for the same seed.

class Generator:
    """A random number generator (``torch.Generator``), backed by NumPy's PCG64."""

    def __init__(self, device="cpu") -> None:
        self._seed = 67280421310721
        self._rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed: int) -> Generator:
        seed = int(seed)  # as PyTorch: floats, numeric strings, one-element tensors too
        if not -2 ** 63 <= seed < 2 ** 64:
            raise ValueError(f"manual_seed(): Overflow when unpacking long long ({seed} does "
                             f"not fit in 64 bits)")
        self._seed = seed % 2 ** 64  # a negative seed is its uint64 bits, as PyTorch
        self._rng = np.random.default_rng(self._seed)
        return self

    def seed(self) -> int:
        s = int(np.random.SeedSequence().entropy % (2 ** 63))
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self):
        return self._rng.bit_generator.state

    def set_state(self, state) -> None:
        self._rng.bit_generator.state = state


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (reproducible runs; not PyTorch's stream)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


TRACE_RNG = [None]  # chainrule.compile: records the draws of a traced call


def _rng(generator):
    if TRACE_RNG[0] is not None:
        return TRACE_RNG[0](generator or default_generator)
    rng = (generator or default_generator)._rng
    return rng if not LEVELS else rng_for(rng)  # vmap's randomness= modes


def _float_only(dt, op, kernel, shape=(1,)):
    if dt.kind != "f" and 0 not in shape:  # PyTorch runs no kernel for empty results
        name = {"b": "Bool", "u": "Byte"}.get(dt.kind) or {1: "Char", 2: "Short", 4: "Int",
                                                          8: "Long"}[dt.itemsize]
        raise NotImplementedError(
            f"\"{kernel}\" not implemented for '{name}': {op}() draws floating-point "
            f"samples; pass a floating dtype (or use randint for integers)")
    return dt


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False,
         out=None) -> Tensor:
    """Uniform samples on [0, 1)."""
    check_device(device)
    shape = _size(size)
    dt = _float_only(_np_dtype(dtype), "rand", "check_uniform_bounds")
    return _finish(_rng(generator).random(shape).astype(dt), requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False,
          out=None) -> Tensor:
    """Standard normal samples."""
    check_device(device)
    shape = _size(size)
    dt = _float_only(_np_dtype(dtype), "randn", "normal_kernel_cpu", shape)
    return _finish(_rng(generator).standard_normal(shape).astype(dt), requires_grad)


def _int_bounds(low, high, dt, op):
    """Check randint's [low, high) against each other and the dtype."""
    low, high = _count(low, op, "low"), _count(high, op, "high")
    if low >= high:
        raise RuntimeError(f"{op}(): random_ expects 'from' to be less than 'to', but got "
                           f"from={low} >= to={high}")
    if dt.kind == "b":
        lo, hi = 0, 1
    elif dt.kind == "f":
        lo, hi = (-65504, 65504) if dt.itemsize == 2 else (-2 ** 63, 2 ** 63)
    else:
        lo, hi = _dtype.int_limits(dt)
    if low < lo or high - 1 > hi:
        bad = "from" if low < lo else "to - 1"
        raise RuntimeError(f"{op}(): {bad} is out of bounds for {_dtype.from_numpy_dtype(dt)}"
                           f": [{low}, {high}) does not fit the dtype")
    return low, high


def randint(low=0, high=None, size=None, *, generator=None, dtype=None, device=None,
            requires_grad=False) -> Tensor:
    """Integers uniform on [low, high); ``randint(high, size)`` also works."""
    check_device(device)
    if size is None:
        if isinstance(high, (tuple, list)):
            low, high, size = 0, low, high
        else:
            raise TypeError("randint() missing required argument 'size'")
    if high is None:
        low, high = 0, low
    shape = _size((_args.int_list(size, "randint", "size"),))
    dt = _np_dtype(dtype, _dtype.int64)
    low, high = _int_bounds(low, high, dt, "randint")
    return _finish(_rng(generator).integers(low, high, shape).astype(dt), requires_grad)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A random permutation of ``0 .. n-1``."""
    check_device(device)
    n = _count(n, "randperm", "n")
    dt = _np_dtype(dtype, _dtype.int64)
    if n < 0:
        raise RuntimeError(f"randperm(): Trying to create tensor with negative dimension "
                           f"{n}: [{n}]")
    if dt.kind == "b":
        raise NotImplementedError("\"randperm\" not implemented for 'Bool': pass an integer "
                                  "or floating dtype")
    if n and dt.kind in "iu" and n - 1 > _dtype.int_limits(dt)[1]:
        raise _dtype.overflow_error(n - 1, dt, "randperm")
    return _finish(_rng(generator).permutation(n).astype(dt), requires_grad)


def rand_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dt = _like(input, dtype)
    dt = _float_only(dt, "rand_like", "check_uniform_bounds")
    return _finish(_rng(None).random(shape).astype(dt), requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dt = _like(input, dtype)
    dt = _float_only(dt, "randn_like", "normal_kernel_cpu", shape)
    return _finish(_rng(None).standard_normal(shape).astype(dt), requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, device=None,
                 requires_grad=False) -> Tensor:
    if high is None:  # randint_like(input, high); ``low`` is None when left out
        if low is None:
            raise TypeError('randint_like() missing 1 required positional arguments: "high"')
        low, high = 0, low
    if isinstance(high, Tensor):  # PyTorch's randint_like(input, Tensor high)
        if high._data.ndim:
            raise RuntimeError("high must be a scalar tensor and on CPU")
        high = int(high._data)
    high = _args.int_arg(high, "randint_like", "high")
    shape, dt = _like(input, dtype)
    low, high = _int_bounds(0 if low is None else low, high, dt, "randint_like")
    return _finish(_rng(None).integers(low, high, shape).astype(dt), requires_grad)


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None,
           requires_grad=False) -> Tensor:
    """PyTorch's overloads: ``normal(Tensor mean, Tensor std)``, ``(Tensor mean, float
    std)``, ``(float mean, Tensor std)`` and ``(float mean, float std, size)``; ``size`` is
    None only when left out (Note [argument checks])."""
    tensors = isinstance(mean, Tensor) or isinstance(std, Tensor)
    for v in (mean, std):
        if not isinstance(v, Tensor) and _args.KINDS["float"](v) or tensors and (
                size is not None or dtype is not None or requires_grad):
            raise TypeError(f"normal() received an invalid combination of arguments - got "
                            f"({', '.join(_args.type_name(a) for a in (mean, std, size))}), "
                            f"but expected (Tensor mean, Tensor std), (Tensor mean, float std),"
                            f" (float mean, Tensor std) or (float mean, float std, size)")
    if not tensors and size is None:
        raise TypeError(f"normal(): argument 'mean' (position 1) must be Tensor, not "
                        f"{_args.type_name(mean)}")
    m = mean._data if isinstance(mean, Tensor) else float(mean)
    s = std._data if isinstance(std, Tensor) else float(std)
    if isinstance(std, Tensor):
        if (s < 0).any():
            raise RuntimeError("normal expects all elements of std >= 0.0")
    elif not s >= 0.0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {s:g}")
    if size is not None:
        shape, dt = _size((size,)), _np_dtype(dtype)
    else:
        try:
            shape = np.broadcast_shapes(np.shape(m), np.shape(s))
        except ValueError:
            raise RuntimeError(f"normal: mean of shape {list(np.shape(m))} and std of shape "
                               f"{list(np.shape(s))} do not broadcast") from None
        dt = _float_only((m if isinstance(mean, Tensor) else s).dtype, "normal",
                         "normal_kernel_cpu")
    return _finish(_rng(generator).normal(m, s, shape).astype(dt), requires_grad)


def tensor_new(*args, **kwargs) -> np.ndarray:
    """Data for ``Tensor(...)`` (PyTorch's legacy constructor): ``Tensor(2, 3)`` is
    uninitialized, ``Tensor([1, 2])`` holds the data as the default float dtype, and
    ``Tensor(t)`` shares ``t``'s memory and dtype."""
    if args and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                    for a in args):
        return np.zeros(_size(args), dtype=get_default_dtype().np)
    if not args:
        return np.zeros((0,), dtype=get_default_dtype().np)
    if len(args) > 1:
        raise TypeError(f"new() received an invalid combination of arguments: Tensor() takes "
                        f"sizes (ints) or one sequence of data, got "
                        f"({', '.join(type(a).__name__ for a in args)})")
    data = args[0]
    if isinstance(data, Tensor):
        return data._data
    if type(data) is range:
        data = list(data)
    if not isinstance(data, (list, tuple, np.ndarray)):
        raise TypeError(f"new(): data must be a sequence (got {type(data).__name__}); "
                        f"write Tensor([{data!r:.20}]) or tensor({data!r:.20})")
    return np.array(_to_array(data, kwargs.get("dtype") or get_default_dtype()), copy=True)


# ---- devices ---------------------------------------------------------------------------
# Note [creation on a device]: every creation function builds its values on the host
# (NumPy: the same values and random streams on every device), then moves them once to
# the device asked for; ``*_like`` functions default to their input's device.

_DEFAULT_DEVICE = [None]  # set_default_device (chainrule/_compat.py)


def _placed(fn, like=False):
    @functools.wraps(fn)
    def create(*args, **kwargs):
        device = kwargs.get("device") if kwargs else None
        if device is None and not like and _DEFAULT_DEVICE[0] is None:
            return fn(*args, **kwargs)  # the common case: NumPy, no default device set
        if device is None:
            if like and args and isinstance(args[0], Tensor):
                data = args[0]._data
                if type(data) is not np.ndarray:
                    device = args[0].device
                    if device.type == "cpu":  # Dask, array-api-strict...: the same library
                        t = fn(*args, **kwargs)
                        t._data = backend_of(data).asarray(t._data)
                        return t
            else:
                device = _DEFAULT_DEVICE[0]  # set_default_device
        d = check_device(device)
        if d is None or d.type == "cpu":
            return fn(*args, **kwargs)
        kwargs["device"] = None
        t = fn(*args, **kwargs)
        t._data = to_device(t._data, d)
        return t
    return create


for _name in ("zeros", "ones", "empty", "full", "arange", "linspace", "logspace", "eye",
              "rand", "randn", "randint", "randperm", "normal", "scalar_tensor"):
    if _name in globals():
        globals()[_name] = _placed(globals()[_name])
for _name in ("zeros_like", "ones_like", "full_like", "empty_like", "rand_like",
              "randn_like", "randint_like"):
    if _name in globals():
        globals()[_name] = _placed(globals()[_name], like=True)
del _name
