"""Dtypes with PyTorch's names and PyTorch's type promotion.

NumPy and PyTorch disagree on promotion in three places that users hit daily:
``int64_tensor * 1.5`` (NumPy float64, PyTorch float32), ``int / int`` (NumPy
float64, PyTorch the default float) and ``float32 + 0-d float64`` (NumPy 2
float64, PyTorch float32).  `result_type` follows PyTorch and is cached, since
``np.result_type`` alone costs about a microsecond.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "dtype", "float16", "float32", "float64", "bfloat16_unsupported",
    "int8", "int16", "int32", "int64", "uint8", "bool_",
    "get_default_dtype", "set_default_dtype", "to_dtype", "from_numpy_dtype",
]


class dtype:
    """A tensor element type, printed as PyTorch prints it (``torch.float32``).

    Printing ``torch.`` keeps transcripts identical after ``import chainrule as torch``.
    """

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize")

    def __init__(self, name: str, np_dtype) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = self.np.kind == "f"
        self.is_signed = self.np.kind in "fi"
        self.itemsize = self.np.itemsize

    is_complex = False

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self):
        return (to_dtype, (self.name,))


float16 = dtype("float16", np.float16)
float32 = dtype("float32", np.float32)
float64 = dtype("float64", np.float64)
int8 = dtype("int8", np.int8)
int16 = dtype("int16", np.int16)
int32 = dtype("int32", np.int32)
int64 = dtype("int64", np.int64)
uint8 = dtype("uint8", np.uint8)
bool_ = dtype("bool", np.bool_)
bfloat16_unsupported = None

_ALL = (float16, float32, float64, int8, int16, int32, int64, uint8, bool_)
_BY_NP = {d.np: d for d in _ALL}
_BY_NAME = {d.name: d for d in _ALL}
_BY_NAME.update(half=float16, float=float32, double=float64, short=int16,
                int=int32, long=int64)
_PY_TYPES = {float: float32, int: int64, bool: bool_}


def from_numpy_dtype(np_dtype) -> dtype:
    """Map a NumPy dtype to ours; raise TypeError for one PyTorch lacks."""
    if isinstance(np_dtype, np.dtype):  # not another library's dtype (array-api-strict)
        try:
            return _BY_NP[np_dtype]
        except KeyError:
            pass
    inner = getattr(np_dtype, "_np_dtype", None)
    np_dtype = np.dtype(np_dtype if inner is None else inner)
    if np_dtype in _BY_NP:
        return _BY_NP[np_dtype]
    if np_dtype.kind == "c":
        raise TypeError(
            f"chainrule supports real dtypes only for now; got complex dtype {np_dtype}. "
            "Pass the real and imaginary parts as separate tensors.")
    raise TypeError(
        f"unsupported dtype {np_dtype}: chainrule tensors hold "
        f"{', '.join(d.name for d in _ALL)}. Convert with .astype() first.")


def to_dtype(spec) -> dtype:
    """Accept chainrule dtypes, NumPy dtypes/types, Python types and names."""
    if type(spec) is dtype:
        return spec
    if spec in _PY_TYPES and isinstance(spec, type):
        return float_default() if spec is float else _PY_TYPES[spec]
    if isinstance(spec, str):
        raise TypeError(f"dtype must be a chainrule dtype such as chainrule.float32, not the "
                        f"string {spec!r}; use one of "
                        f"{', '.join('chainrule.' + d.name for d in _ALL)}")
    try:
        return from_numpy_dtype(np.dtype(spec))
    except TypeError as exc:
        if "complex" in str(exc) or "unsupported dtype" in str(exc):
            raise
        raise TypeError(f"dtype must be a chainrule dtype such as chainrule.float32, "
                        f"got {spec!r}") from None


_default = [float32]


def get_default_dtype() -> dtype:
    """The dtype of Python floats turned into tensors (float32 unless changed)."""
    return _default[0]


def float_default() -> dtype:
    return _default[0]


def set_default_dtype(d) -> None:
    """Set the default floating dtype (float32 or float64), as torch does."""
    if not isinstance(d, (dtype, str, type, np.dtype)):
        raise TypeError(f"invalid dtype object: only floating-point types are supported as "
                        f"the default type, got {type(d).__name__}")
    d = to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default[0] = d
    _RESULT_CACHE.clear()


# ---- promotion -------------------------------------------------------------------
# Note [promotion categories]: operands rank as dimensioned tensor > 0-d tensor >
# Python scalar; a lower rank only matters when its category (bool < int < float)
# is higher.  This is c10's ResultTypeState, written for NumPy dtypes.

def _cat(d) -> int:
    return -1 if d is None else (2 if d.kind == "f" else 0 if d.kind == "b" else 1)


def promote_types(a, b):
    """PyTorch's promote_types on NumPy dtypes (int + float16 stays float16)."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    ca, cb = _cat(a), _cat(b)
    if ca != cb:
        if ca == 0:
            return b
        if cb == 0:
            return a
        if ca == 2 and cb == 1:
            return a
        if cb == 2 and ca == 1:
            return b
    return np.promote_types(a, b)


def _combine(higher, lower):
    if higher is not None and higher.kind == "f":
        return higher
    if (higher is not None and higher.kind == "b") or (lower is not None and lower.kind == "f"):
        return promote_types(higher, lower)
    return higher if higher is not None else lower


_RESULT_CACHE: dict = {}


def _wrapped(py_type):
    if py_type is float:
        return _default[0].np
    return np.dtype(np.int64) if py_type is int else np.dtype(np.bool_)


def result_type(*operands):
    """Result NumPy dtype of an op on arrays and Python scalars, PyTorch style."""
    key = tuple((o.dtype, o.ndim == 0) if isinstance(o, np.ndarray) else type(o)
                for o in operands)
    res = _RESULT_CACHE.get(key)
    if res is None:
        dim = zero = wrapped = None
        for k in key:
            if type(k) is tuple:
                if k[1]:
                    zero = promote_types(zero, k[0])
                else:
                    dim = promote_types(dim, k[0])
            else:
                wrapped = promote_types(wrapped, _wrapped(k))
        res = _RESULT_CACHE[key] = _combine(dim, _combine(zero, wrapped))
    return res


def is_float(np_dtype) -> bool:
    return np_dtype.kind == "f"


def grad_dtype(np_dtype):
    """Dtype of a gradient for a value of ``np_dtype``: integer values get the
    default float dtype (chainrule lets integer leaves require grad)."""
    if not isinstance(np_dtype, np.dtype):  # another library's dtype object
        inner = getattr(np_dtype, "_np_dtype", None)  # (array-api-strict's)
        np_dtype = np.dtype(inner if inner is not None else str(np_dtype).rsplit(".", 1)[-1])
    return np_dtype if np_dtype.kind == "f" else _default[0].np


# ---- numbers into a dtype --------------------------------------------------------
# Note [scalar conversion]: PyTorch converts a Python number into a dtype in two ways.
# - checked (tensor() data, fill_, full, setitem, scalar_tensor): an integer must fit
#   the dtype, except that a negative one wraps into an unsigned type when its magnitude
#   fits (uint8: -255..255); a float must be finite and within [lowest, max] of an
#   integer dtype, and is truncated; fill_/full also refuse finite floats beyond a
#   floating dtype's max.  Otherwise RuntimeError "value cannot be converted to type
#   ... without overflow".
# - wrapped (the scalar operand of a binary op): the number is cast like a C integer, so
#   uint8 + (-3) wraps and int8 * 300 multiplies by 44.  Only numbers outside
#   [-2**63, 2**64) raise (OverflowError "int too big to convert").
# A double becomes float16 through float32, as c10::Half does (two roundings).

_INT_LIMITS = {np.dtype(t): (int(np.iinfo(t).min), int(np.iinfo(t).max))
               for t in (np.int8, np.int16, np.int32, np.int64, np.uint8)}
_FLOAT_MAX = {np.dtype(np.float16): 65504.0,
              np.dtype(np.float32): float(np.finfo(np.float32).max),
              np.dtype(np.float64): float("inf")}
_F16 = np.dtype(np.float16)
_INF = float("inf")
_FMAX = {d.char: m for d, m in _FLOAT_MAX.items()}
_F32 = np.dtype(np.float32)


def int_limits(np_dtype):
    """(lowest, highest) of an integer NumPy dtype (Python ints)."""
    return _INT_LIMITS[np_dtype]


def overflow_error(value, np_dtype, op: str) -> RuntimeError:
    name = _BY_NP[np_dtype].name if np_dtype in _BY_NP else str(np_dtype)
    if np_dtype.kind in "iu":
        lo, hi = _INT_LIMITS[np_dtype]
        span = f"integers in [{lo}, {hi}]" + (f" (negative ones down to {-hi} wrap)"
                                              if lo == 0 else "")
    else:
        span = f"finite values in [{-_FLOAT_MAX[np_dtype]}, {_FLOAT_MAX[np_dtype]}], inf or nan"
    return RuntimeError(f"{op}: value {value!r:.40} cannot be converted to type "
                        f"torch.{name} without overflow; it holds {span}. Fix: use a wider "
                        f"dtype, or clamp the value first")


def _too_big(value, op):
    return OverflowError(f"{op}: int too big to convert: {value!r:.40} is outside "
                         f"[-2**63, 2**64), the integers a tensor operation takes")


def checked_scalar(value, np_dtype, op: str, float_range: bool = True):
    """``value`` (a Python or NumPy number) as the Python number that NumPy stores as
    ``np_dtype`` exactly as PyTorch's checked conversion does (Note [scalar conversion]).
    ``float_range=False`` skips the range check of floating dtypes (tensor() data)."""
    kind = np_dtype.kind
    if type(value) is float and kind == "f":  # the common case first
        if -_FMAX[np_dtype.char] <= value <= _FMAX[np_dtype.char] or not float_range \
                or value != value or abs(value) == _INF:
            return value if np_dtype.char != "e" else float(np.float32(value))
        raise overflow_error(value, np_dtype, op)
    if isinstance(value, np.generic):
        if isinstance(value, np.uint64) and value >= 2 ** 63:
            raise TypeError(f"{op}: an integer is required: NumPy uint64 {value} is above "
                            f"int64; convert it with int() first")
        value = value.item()
    if kind == "b":
        if isinstance(value, int) and not -2 ** 63 <= value < 2 ** 64:
            raise _too_big(value, op)
        return bool(value)
    if type(value) is bool:
        return value
    if isinstance(value, int):
        if not -2 ** 63 <= value < 2 ** 64:
            raise _too_big(value, op)
        if kind == "f":
            value = float(value)
        else:
            lo, hi = _INT_LIMITS[np_dtype]
            if lo <= value <= hi:
                return value
            if lo == 0 and -hi <= value < 0:
                return value + hi + 1
            raise overflow_error(value, np_dtype, op)
    if isinstance(value, float):
        if kind == "f":
            if float_range and abs(value) > _FLOAT_MAX[np_dtype] and abs(value) != _INF:
                raise overflow_error(value, np_dtype, op)
            return float(np.float32(value)) if np_dtype == _F16 else value
        lo, hi = _INT_LIMITS[np_dtype]
        if value != value or value < lo or value > float(hi):
            raise overflow_error(value, np_dtype, op)
        i = int(value)
        return lo if i > hi else i  # 2.0**63 -> int64: x86 gives the lowest value
    raise TypeError(f"{op}: expected a number (bool, int or float) for a tensor of dtype "
                    f"torch.{_BY_NP[np_dtype].name}, got {type(value).__name__}")


def wrap_int(value: int, np_dtype):
    """A Python int operand of a binary op on an integer tensor of ``np_dtype``, cast as
    PyTorch casts it (two's complement wrap-around)."""
    lo, hi = _INT_LIMITS[np_dtype]
    if lo <= value <= hi:
        return value
    if not -2 ** 63 <= value < 2 ** 64:
        raise _too_big(value, "binary op")
    return (value - lo) % (hi - lo + 1) + lo


try:  # NumPy's own errstate, without its context-manager overhead (about 1.5 us)
    from numpy._core.umath import _extobj_contextvar, _make_extobj
    _QUIET = _make_extobj(all="ignore")

    def quiet_array(data, np_dtype):
        """``np.array(data, dtype)`` without NumPy's overflow warnings."""
        token = _extobj_contextvar.set(_QUIET)
        try:
            return np.array(data, dtype=np_dtype)
        finally:
            _extobj_contextvar.reset(token)
except ImportError:  # pragma: no cover - other NumPy versions
    def quiet_array(data, np_dtype):
        """``np.array(data, dtype)`` without NumPy's overflow warnings."""
        with np.errstate(all="ignore"):
            return np.array(data, dtype=np_dtype)


def _quiet_astype(arr, np_dtype):
    return quiet_array(arr, np_dtype)


def cast(arr, np_dtype):
    """``arr`` converted to ``np_dtype`` as PyTorch converts (float16 from a wider type
    through float32; out-of-range floats to integers as x86 does), without warnings."""
    src = arr.dtype
    if src == np_dtype:
        return arr
    if np_dtype == _F16 and src.itemsize > 2 and src != _F32:
        arr = _quiet_astype(arr, _F32)
    if src.kind == "f" and (np_dtype.kind != "f" or np_dtype.itemsize < src.itemsize):
        return _quiet_astype(arr, np_dtype)
    return arr.astype(np_dtype)


_LEGACY_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
                 "bfloat16": "BFloat16Tensor", "int64": "LongTensor", "int32": "IntTensor",
                 "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor",
                 "bool": "BoolTensor"}


def setitem_value(value, np_dtype):
    """The scalar of ``x[key] = value`` for a tensor of ``np_dtype``: checked as PyTorch
    checks it (floats beyond float16's range become inf, as PyTorch's setitem does)."""
    if isinstance(value, np.generic) and isinstance(value, (np.integer, float)):
        value = value.item()  # PyTorch takes what has __index__ or is a float
    if not isinstance(value, (int, float)):
        name = _LEGACY_NAMES.get(_BY_NP[np_dtype].name, "Tensor")
        raise TypeError(f"can't assign a {type(value).__name__} to a torch.{name}: "
                        f"x[key] = value takes a number, a sequence of numbers or a tensor")
    if type(value) is int and not -2 ** 63 <= value < 2 ** 63:
        raise ValueError(f"Overflow when unpacking long long: setitem got the integer "
                         f"{value}, outside int64")
    return checked_scalar(value, np_dtype, "setitem", np_dtype != _F16)


def check_alpha(alpha, result_np_dtype, op: str):
    """``alpha`` of add/sub as PyTorch converts it to the result dtype (checked)."""
    if isinstance(alpha, (bool, np.bool_)) and result_np_dtype.kind != "b":
        raise RuntimeError(f"{op}: Boolean alpha only supported for Boolean results.")
    if result_np_dtype.kind in "iub":
        if isinstance(alpha, (float, np.floating)):
            raise RuntimeError(f"{op}: For integral input tensors, argument alpha must not "
                               f"be a floating point number (got {alpha!r}).")
    return checked_scalar(alpha, result_np_dtype, op)
