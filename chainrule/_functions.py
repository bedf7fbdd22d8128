"""Public elementwise functions (``chainrule.add``, ``chainrule.exp`` ...).

Each is a thin call into the op table; the derivative facts live in ``ops/``.
"""

from __future__ import annotations

import builtins

import numpy as np

from . import _args, _dtype
from ._tensor import Tensor, wrap
from .backend.array_api import np_dtype
from .ops import elementwise as E
from .ops._core import _wrap_int, binary, elementwise, elementwise_n, inplace, unary

__all__ = ["nonzero", "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide",
           "floor_divide", "remainder", "fmod", "pow", "atan2", "arctan2", "maximum",
           "minimum", "fmax", "fmin", "clamp", "clip", "clamp_min", "clamp_max", "where",
           "lerp", "isclose", "allclose", "equal", "eq", "ne", "lt", "le", "gt", "ge",
           "greater", "less", "greater_equal", "less_equal", "not_equal",
           "logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and",
           "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift",
           "bitwise_right_shift", "isnan", "isinf", "isfinite",
           "isposinf", "isneginf", "signbit", "rsub", "float_power", "nan_to_num",
           "positive"] + list(E.UNARY)


def _check_bool_sub(a, b):
    for v in (a, b):
        if type(v) is int and not -2 ** 63 <= v < 2 ** 64:  # PyTorch's first complaint
            _dtype.wrap_int(v, _dtype.int8.np)
    for v in (a, b):
        if (isinstance(v, Tensor) and np_dtype(v._data.dtype).kind == "b") or type(v) is bool:
            raise RuntimeError(
                "Subtraction, the `-` operator, with a bool tensor is not supported. If you "
                "are trying to invert a mask, use the `~` or `logical_not()` operator instead.")


def _alpha(input, other, alpha, op):
    """``alpha * other`` with ``alpha`` checked against the result dtype (PyTorch)."""
    if isinstance(alpha, Tensor):  # a 0-d tensor is a Number to PyTorch's parser
        alpha = alpha._data.item()
    if isinstance(other, np.generic):  # as binary ops read them (np.bool_ is a float)
        other = float(other) if isinstance(other, np.bool_) else other.item()
    if type(other) is int and not -2 ** 63 <= other < 2 ** 64:
        _dtype.wrap_int(other, _dtype.int8.np)  # PyTorch's OverflowError comes first
    if isinstance(input, Tensor) and isinstance(other, (Tensor, int, float)):
        datas = (input._data, other._data if isinstance(other, Tensor) else other)
        if all(type(d) is np.ndarray or type(d) in (int, float, bool) for d in datas):
            rt = _dtype.result_type(*datas)
        else:  # Note [backends] in ops/_dispatch_any.py
            from .ops._dispatch_any import promoted_dtype
            rt = promoted_dtype(datas)
        alpha = _dtype.check_alpha(alpha, rt, op)
        if rt.kind in "iu" and type(other) is int:  # both wrap into rt, so does the product
            lo, hi = _dtype.int_limits(rt)
            other = _wrap_int(other, rt, input._data)
            return (other * alpha - lo) % (hi - lo + 1) + lo
        if rt.kind == "f" and not isinstance(other, Tensor):  # the product in rt, as PyTorch
            with np.errstate(all="ignore"):
                return float(np.array(other, rt) * np.array(alpha, rt))
    if isinstance(other, Tensor):
        return mul(other, alpha)
    return (other and alpha) if type(other) is bool and type(alpha) is bool else other * alpha


def add(input, other, *, alpha=1, out=None):
    """``input + alpha * other``."""
    if alpha != 1 or type(alpha) is not int:
        other = _alpha(input, other, alpha, "add")
    return binary(E.ADD, input, other)


def sub(input, other, *, alpha=1, out=None):
    """``input - alpha * other``."""
    _check_bool_sub(input, other)
    if alpha != 1 or type(alpha) is not int:
        other = _alpha(input, other, alpha, "sub")
    return binary(E.SUB, input, other)


subtract = sub


def rsub(input, other, *, alpha=1):
    return sub(other, input, alpha=alpha)


def mul(input, other, *, out=None):
    return binary(E.MUL, input, other)


multiply = mul


def div(input, other, *, rounding_mode=None, out=None):
    """True division; ``rounding_mode='floor'`` or ``'trunc'`` rounds the quotient."""
    if rounding_mode is None:
        return binary(E.DIV, input, other)
    if rounding_mode == "floor":
        return floor_divide(input, other)
    if rounding_mode == "trunc":
        return binary(E.TRUNC_DIVIDE, input, other)
    raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                       f"but found '{rounding_mode}'")


divide = div


def true_divide(input, other, *, out=None):
    """True division: ``div`` without ``rounding_mode``."""
    return binary(E.DIV, input, other)


def floor_divide(input, other, *, out=None):
    return binary(E.FLOOR_DIVIDE, input, other)


def remainder(input, other, *, out=None):
    return binary(E.REMAINDER, input, other)


def fmod(input, other, *, out=None):
    return binary(E.FMOD, input, other)


def pow(input, exponent, *, out=None):
    """``input ** exponent`` (either may be a Python number)."""
    return binary(E.POW, input, exponent)


def float_power(input, exponent):
    x = input.double() if isinstance(input, Tensor) else input
    e = exponent.double() if isinstance(exponent, Tensor) else exponent
    if not isinstance(x, Tensor):
        from ._creation import tensor
        x = tensor(float(x), dtype=_dtype.float64)
    return binary(E.POW, x, e)


def atan2(input, other, *, out=None):
    return binary(E.ATAN2, input, other)


arctan2 = atan2


def maximum(input, other, *, out=None):
    return binary(E.MAXIMUM, input, other)


def minimum(input, other, *, out=None):
    return binary(E.MINIMUM, input, other)


def fmax(input, other, *, out=None):
    """Elementwise maximum that ignores NaN (NaN only where both are NaN)."""
    return binary(E.FMAX, input, other)


def fmin(input, other, *, out=None):
    """Elementwise minimum that ignores NaN (NaN only where both are NaN)."""
    return binary(E.FMIN, input, other)


def positive(input):
    if np_dtype(input._data.dtype).kind == "b":
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


# ---- clamp, where, lerp: elementwise rows with three inputs -------------------------------

def _clamp_dx(xp, x, lo, hi, out):
    # Note [clamp boundaries]: gradient 1 on the closed interval [min, max], as PyTorch.
    inside = True if lo is None else (x >= lo)
    return inside & (True if hi is None else (x <= hi))


def _clamp_forward(xp, x, lo, hi):
    # maximum/minimum propagate NaN from x and from a bound, as PyTorch's clamp
    if lo is not None:
        x = xp.maximum(x, lo)
    return x if hi is None else xp.minimum(x, hi)


CLAMP = elementwise("clamp", _clamp_forward,
                    (_clamp_dx, lambda xp, x, lo, hi, out: x < lo,
                     lambda xp, x, lo, hi, out: x > hi),
                    reads=("x,y,z", "x,y", "x,z"), masks=(True, True, True),
                    formula="d clamp(x, lo, hi) = dx inside [lo, hi], dlo below, dhi above")


def clamp(input, min=None, max=None, *, out=None):
    """Limit values to ``[min, max]``; bounds may be numbers or tensors."""
    _check_clamp(input, min, max, "clamp")
    return elementwise_n(CLAMP, (input, min, max))


def _check_clamp(input, lo, hi, op):
    """PyTorch's overloads of clamp: both bounds tensors or both numbers (None for one),
    number bounds that fit the dtype, no number bounds on a bool tensor."""
    if lo is None and hi is None:
        raise RuntimeError(f"torch.{op}: At least one of 'min' or 'max' must not be None")
    lt, ht = isinstance(lo, Tensor), isinstance(hi, Tensor)
    if lt != ht and lo is not None and hi is not None and (lo if lt else hi)._data.ndim:
        raise TypeError(f"{op}() received an invalid combination of arguments - got (Tensor, "
                        f"{_args.type_name(lo)}, {_args.type_name(hi)}): min and max must "
                        f"both be tensors or both be numbers")
    if lt or ht or type(lo) is float or type(hi) is float:
        return  # (a float bound makes the result floating)
    kind = np_dtype(input._data.dtype).kind
    name = "clamp_min" if hi is None else "clamp_max" if lo is None else "clamp"
    for v in (lo, hi):
        if kind == "b" and type(v) is bool:
            raise NotImplementedError(f'"{name}_scalar_cpu" not implemented for \'Bool\'')
        if type(v) is int and not -2 ** 63 <= v < 2 ** 63:
            if kind == "b" and v > 0:
                raise RuntimeError("Promotion for uint16, uint32, uint64 types is not "
                                   "supported, attempted to promote Bool and UInt64")
            if kind in "iu":
                raise RuntimeError(f"{op}: value {v} cannot be converted to type int64_t "
                                   f"without overflow")


clip = clamp


def clamp_min(input, min):
    return clamp(input, min, None)


def clamp_max(input, max):
    return clamp(input, None, max)


def _where_jvp(xp, ts, c, x, y, out):
    # the tangent of the branch taken, selected (not multiplied by c: a NaN tangent in
    # the unused branch does not leak, as in PyTorch's forward AD; see Note [where and NaN])
    _, tx, ty = ts
    nd = out.ndim
    tx = 0 if tx is None else xp.reshape(tx, (1,) * (nd - x.ndim) + tuple(x.shape))
    ty = 0 if ty is None else xp.reshape(ty, (1,) * (nd - y.ndim) + tuple(y.shape))
    return xp.broadcast_to(xp.where(c, tx, ty), out.shape)


WHERE = elementwise("where", "where",
                    (lambda xp, c, x, y, out: 0 * out,
                     lambda xp, c, x, y, out: c, lambda xp, c, x, y, out: ~c),
                    reads=("out", "x", "x"), jvp=_where_jvp, masks=(False, True, True),
                    formula="d where(c, x, y) = dx where c, dy elsewhere")
WHERE.differentiable_inputs = (False, True, True)


def where(condition, input=None, other=None, *, out=None):
    """Pick ``input`` where ``condition`` holds, else ``other``.

    Note [where and NaN]: the cotangent of the unused branch is exactly 0, but a NaN or
    inf *produced* in that branch (e.g. log(x) for x <= 0) still poisons the gradient,
    as in PyTorch: compute the unsafe branch on safe inputs (the double-where trick).
    """
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError(f"where() received an invalid combination of arguments - got "
                        f"(Tensor, {_args.type_name(input)}, {_args.type_name(other)}): "
                        f"give both input and other, or only the condition")
    c = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if np_dtype(c.dtype) != np.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a "
                           f"tensor with dtype {condition.dtype}")
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        # two Python scalars: PyTorch's default dtypes (where(c, 1.0, 0.0) is float32)
        from ._creation import tensor
        input = tensor(_args.python_int(input, "where"))
    if not (isinstance(input, Tensor) and np_dtype(input._data.dtype).kind == "f"):
        other = _args.python_int(other, "where")  # a float tensor takes any number
    return elementwise_n(WHERE, (wrap(c), input, other), (False, True, True))


def _lerp_forward(xp, s, e, w):
    # PyTorch's formula: from the nearer end, so lerp(a, b, 1) is exactly b; float16 in
    # float32 (e - s may overflow float16 where the result does not)
    if np_dtype(s.dtype) == np.float16:
        def up(v):
            return xp.astype(v, np.float32) if hasattr(v, "dtype") else v
        return xp.astype(_lerp_forward(xp, up(s), up(e), up(w)), np.float16)
    d = e - s
    near = (xp.abs(w) if hasattr(w, "dtype") else builtins.abs(w)) < 0.5
    return xp.where(near, s + w * d, e - d * (1 - w))


LERP = elementwise("lerp", _lerp_forward,
                   (lambda xp, s, e, w, out: 1 - w, lambda xp, s, e, w, out: w,
                    lambda xp, s, e, w, out: e - s),
                   reads=("z", "z", "x,y"),
                   formula="d lerp(s, e, w) = (1-w) ds + w de + (e-s) dw")


def lerp(input, end, weight, *, out=None):
    return elementwise_n(LERP, (input, end, weight))


def nonzero(input, *, as_tuple=False):
    a = input._data
    if a.ndim == 0:  # PyTorch: one row of no indices when the value is nonzero
        n = int(bool(a))
        return (wrap(np.zeros(n, np.int64)),) if as_tuple else wrap(np.zeros((n, 0), np.int64))
    idx = np.nonzero(a)
    if as_tuple:
        return tuple(wrap(i.astype(np.int64)) for i in idx)
    return wrap(np.stack(idx, axis=-1).astype(np.int64))


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    nan, posinf, neginf = (None if v is None else _args.float_arg(v)
                           for v in (nan, posinf, neginf))
    mask = unary(E.NONDIFF_UNARY["isfinite"], input)
    if np_dtype(input._data.dtype).kind != "f":  # nothing to replace
        return where(mask, input, input)
    with np.errstate(over="ignore"):
        filled = np.nan_to_num(input._data, nan=0.0 if nan is None else nan, posinf=posinf,
                               neginf=neginf)
    return where(mask, input, wrap(filled))


# ---- comparisons and predicates (not differentiable) ----------------------------------------

def _cmp(name):
    op = E.COMPARE[name]

    def fn(input, other, *, out=None):
        return binary(op, input, other)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{name}``; returns a bool tensor (not differentiable)."
    return fn


eq, ne, lt, le, gt, ge = (_cmp(n) for n in ("eq", "ne", "lt", "le", "gt", "ge"))
greater, less, greater_equal, less_equal, not_equal = gt, lt, ge, le, ne
logical_and, logical_or, logical_xor = (_cmp(n) for n in ("logical_and", "logical_or",
                                                          "logical_xor"))
bitwise_and, bitwise_or, bitwise_xor = (_cmp(n) for n in ("bitwise_and", "bitwise_or",
                                                          "bitwise_xor"))


def bitwise_left_shift(input, other, *, out=None):
    """``input << other`` on integer tensors (Note [shifts]: an amount < 0 or >= the bit
    width gives 0); not differentiable."""
    return binary(E.SHIFTS["bitwise_left_shift"], input, other)


def bitwise_right_shift(input, other, *, out=None):
    """``input >> other`` on integer tensors, arithmetic for signed dtypes (Note [shifts]:
    an amount < 0 or >= the bit width gives the sign fill, 0 or -1); not differentiable."""
    return binary(E.SHIFTS["bitwise_right_shift"], input, other)


def _pred(name):
    op = E.NONDIFF_UNARY[name]

    def fn(input):
        if name == "bitwise_not" and np_dtype(input._data.dtype).kind == "f":
            raise NotImplementedError(f'"bitwise_not_cpu" not implemented for '
                                      f"'{_args._tname(input._data.dtype, _dtype.to_dtype)}'")
        return unary(op, input)
    fn.__name__ = name
    return fn


isnan, isinf, isfinite, logical_not, bitwise_not, signbit, isposinf, isneginf = (
    _pred(n) for n in ("isnan", "isinf", "isfinite", "logical_not", "bitwise_not", "signbit",
                       "isposinf", "isneginf"))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    rtol, atol = _args.float_arg(rtol), _args.float_arg(atol)
    for name, v in (("rtol", rtol), ("atol", atol)):
        if not v >= 0:
            raise RuntimeError(f"{name} must be greater than or equal to zero, but got {v:g}")
    a = input._data
    b = other._data if isinstance(other, Tensor) else other
    if isinstance(other, Tensor) and a.dtype != b.dtype:
        from ._dtype import to_dtype
        raise RuntimeError(f"isclose: {to_dtype(a.dtype)} did not match {to_dtype(b.dtype)}")
    try:
        return wrap(np.asarray(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)))
    except ValueError:
        raise RuntimeError(f"isclose: the size of tensor a ({list(a.shape)}) must match the "
                           f"size of tensor b ({list(np.shape(b))})") from None


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return bool(isclose(input, other, rtol, atol, equal_nan)._data.all())


def equal(input, other) -> bool:
    """True when both tensors have the same shape and elements."""
    _args.tensor_arg(input, "equal", "input", 1)
    _args.tensor_arg(other, "equal", "other", 2)
    return input._data.shape == other._data.shape and bool((input._data == other._data).all())


# ---- unary math ------------------------------------------------------------------------------

def _unary_fn(name):
    op = E.UNARY[name]

    def fn(input, *, out=None):
        return unary(op, input)

    def no_out(input):  # torch.relu has no out=
        return unary(op, input)
    fn = no_out if name == "relu" else fn
    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{name}``. Derivative: {op.formula}."
    return fn


for _n in E.UNARY:
    globals()[_n] = _unary_fn(_n)

def round(input, *, decimals=0, out=None):  # noqa: A001 - PyTorch's name
    """Round half to even; ``decimals`` digits after the point (floating tensors only)."""
    op = E.UNARY["round"]
    _args.tensor_arg(input, "round", "input", 1)
    decimals = _args.int_arg(decimals, "round", "decimals")
    kind = np_dtype(input._data.dtype).kind
    if kind == "b" or (kind != "f" and decimals):
        from ._dtype import to_dtype
        raise NotImplementedError(f'"round_cpu" not implemented for '
                                  f"'{to_dtype(input._data.dtype).name}'")
    return unary(op, input, decimals) if decimals else unary(op, input)


_ALIASES = {"negative": "neg", "absolute": "abs", "arcsin": "asin", "arccos": "acos",
            "arctan": "atan", "arcsinh": None, "fix": "trunc"}
for _a, _n in _ALIASES.items():
    if _n:
        globals()[_a] = globals()[_n]
        __all__.append(_a)


def inplace_unary(name):
    """``x.exp_()`` and friends: the row applied in place."""
    op = E.UNARY[name]

    def method(self):
        return inplace(op, self)
    method.__name__ = name + "_"
    return method
