"""Elementwise rows: each gives its partial derivative per input; the VJP
``sum_to(g * d, shape)`` is derived in ``_row``.

Partials are ``d(xp, x, out)`` for one input and ``d(xp, x, y, out)`` for two, where
``out`` is the primal output.  ``reads`` names the values a partial needs, so a call
keeps only those.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend.numpy_backend import RAW
from ._core import Op, elementwise
from ._row import _unary_vjp

_SQRT_PI_2 = 2.0 / math.sqrt(math.pi)
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


# ---- bool inputs: PyTorch refuses some rows and keeps bool for others ---------------------
_BOOL = np.dtype(np.bool_)
_BOOL_REFUSED = {
    "neg": (RuntimeError, "Negation, the `-` operator, on a bool tensor is not supported. "
                          "If you are trying to invert a mask, use the `~` or "
                          "`logical_not()` operator instead."),
    "abs": (NotImplementedError, "\"abs_cpu\" not implemented for 'Bool'"),
    "floor": (NotImplementedError, "\"floor_vml_cpu\" not implemented for 'Bool'"),
    "ceil": (NotImplementedError, "\"ceil_vml_cpu\" not implemented for 'Bool'"),
    "round": (NotImplementedError, "\"round_vml_cpu\" not implemented for 'Bool'"),
    "trunc": (NotImplementedError, "\"trunc_vml_cpu\" not implemented for 'Bool'"),
    "relu": (RuntimeError, "Boolean inputs not supported for relu"),
}
_BOOL_RESULT = {"sign": lambda xp, x: xp.copy(x),
                "square": lambda xp, x: xp.astype(x, np.int64)}


def _bool_array(xp, x):
    # NumPy's bool dtype is one object (fast); other libraries' dtypes are mapped
    return x.dtype is _BOOL or (xp is not RAW and xp.dtype_of(x) == _BOOL)


def _bool_aware(name, word):
    """The forward of row ``name`` (vocabulary word ``word``) with PyTorch's handling of
    a bool input: ``f(xp, x, *params)``, and ``f.numpy``, the same on NumPy arrays
    (one call less on the hot path: relu)."""
    raw = getattr(RAW, word)
    if name in _BOOL_REFUSED:
        exc, msg = _BOOL_REFUSED[name]

        def refuse(x):
            raise exc(f"{msg} ({name} of a bool tensor of shape {list(x.shape)}; "
                      f"convert it first, e.g. x.long() or x.float())")

        def checked(xp, x, *params):  # (round's params: decimals)
            if _bool_array(xp, x):
                refuse(x)
            return getattr(xp, word)(x, *params)

        if name == "round":
            def numpy(x, *params):
                if x.dtype is _BOOL:
                    refuse(x)
                return raw(x, *params)
        else:  # (no params to pass: one tuple less on the hot path)
            def numpy(x):
                if x.dtype is _BOOL:
                    refuse(x)
                return raw(x)
    elif name in _BOOL_RESULT:
        special = _BOOL_RESULT[name]

        def checked(xp, x):
            return special(xp, x) if _bool_array(xp, x) else getattr(xp, word)(x)

        def numpy(x):
            return special(RAW, x) if x.dtype is _BOOL else raw(x)
    else:
        return word
    checked.__name__ = numpy.__name__ = name
    checked.numpy = numpy
    return checked


def _zero(xp, x, out):
    return 0


def _zero_vjp(xp, g, needs, saved, params, into=False):
    """Note [piecewise constant]: the gradient is zeros, also where the input is inf or
    nan (0 * inf would be nan), as PyTorch's zeros_like(grad)."""
    if len(needs) == 1:
        return (xp.zeros(g, g.shape[xp.nb:]),)
    shapes = params or (None,) * len(needs)  # input shapes where broadcast
    return tuple(xp.zeros(g, g.shape[xp.nb:] if s is None else s) if n else None
                 for n, s in zip(needs, shapes))


# ---- unary ------------------------------------------------------------------------
# name, forward, partial d(xp, x, out), what it reads, formula for docs/explain()
_UNARY = [
    ("neg", "negative", lambda xp, x, out: -1, "", "d/dx (-x) = -1"),
    ("abs", "abs", lambda xp, x, out: xp.sign(x), "x", "d/dx |x| = sign(x)"),
    ("square", "square", lambda xp, x, out: 2 * x, "x", "d/dx x**2 = 2*x"),
    ("reciprocal", "reciprocal", lambda xp, x, out: -(out * out), "out",
     "d/dx 1/x = -1/x**2"),
    ("exp", "exp", lambda xp, x, out: out, "out", "d/dx exp(x) = exp(x)"),
    ("exp2", "exp2", lambda xp, x, out: out * _LN2, "out", "d/dx 2**x = 2**x * ln 2"),
    ("expm1", "expm1", lambda xp, x, out: out + 1, "out", "d/dx (exp(x) - 1) = exp(x)"),
    ("log", "log", lambda xp, x, out: 1 / x, "x", "d/dx log(x) = 1/x"),
    ("log2", "log2", lambda xp, x, out: 1 / (x * _LN2), "x", "d/dx log2(x) = 1/(x ln 2)"),
    ("log10", "log10", lambda xp, x, out: 1 / (x * _LN10), "x",
     "d/dx log10(x) = 1/(x ln 10)"),
    ("log1p", "log1p", lambda xp, x, out: 1 / (x + 1), "x", "d/dx log(1+x) = 1/(1+x)"),
    ("sqrt", "sqrt", lambda xp, x, out: 0.5 / out, "out", "d/dx sqrt(x) = 1/(2 sqrt(x))"),
    ("rsqrt", "rsqrt", lambda xp, x, out: -0.5 * out * out * out, "out",
     "d/dx x**-0.5 = -0.5 * x**-1.5"),
    ("sin", "sin", lambda xp, x, out: xp.cos(x), "x", "d/dx sin(x) = cos(x)"),
    ("cos", "cos", lambda xp, x, out: -xp.sin(x), "x", "d/dx cos(x) = -sin(x)"),
    ("tan", "tan", lambda xp, x, out: 1 + out * out, "out", "d/dx tan(x) = 1 + tan(x)**2"),
    ("asin", "asin", lambda xp, x, out: 1 / xp.sqrt(1 - x * x), "x",
     "d/dx asin(x) = 1/sqrt(1 - x**2)"),
    ("acos", "acos", lambda xp, x, out: -1 / xp.sqrt(1 - x * x), "x",
     "d/dx acos(x) = -1/sqrt(1 - x**2)"),
    ("atan", "atan", lambda xp, x, out: 1 / (1 + x * x), "x",
     "d/dx atan(x) = 1/(1 + x**2)"),
    ("sinh", "sinh", lambda xp, x, out: xp.cosh(x), "x", "d/dx sinh(x) = cosh(x)"),
    ("cosh", "cosh", lambda xp, x, out: xp.sinh(x), "x", "d/dx cosh(x) = sinh(x)"),
    ("tanh", "tanh", lambda xp, x, out: 1 - out * out, "out",
     "d/dx tanh(x) = 1 - tanh(x)**2"),
    ("sigmoid", "sigmoid", lambda xp, x, out: out * (1 - out), "out",
     "d/dx sigmoid(x) = sigmoid(x) * (1 - sigmoid(x))"),
    # Note [relu at 0]: the derivative at 0 is 0, and at nan 1, as in PyTorch.
    ("relu", "relu", lambda xp, x, out: ~(out <= 0), "out", "d/dx relu(x) = 0 if x <= 0 else 1"),
    ("erf", "erf", lambda xp, x, out: _SQRT_PI_2 * xp.exp(-(x * x)), "x",
     "d/dx erf(x) = 2/sqrt(pi) * exp(-x**2)"),
    # Note [piecewise constant]: floor, ceil, round, trunc, sign have zero gradient.
    ("sign", "sign", _zero, "", "d/dx sign(x) = 0"),
    ("floor", "floor", _zero, "", "d/dx floor(x) = 0"),
    ("ceil", "ceil", _zero, "", "d/dx ceil(x) = 0"),
    ("round", "round", _zero, "", "d/dx round(x) = 0"),
    ("trunc", "trunc", _zero, "", "d/dx trunc(x) = 0"),
]

# ops whose result is floating even for integer input (exp(int) -> float32, as PyTorch)
_FLOAT_RESULT = {"reciprocal", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p",
                 "sqrt", "rsqrt", "sin", "cos", "tan", "asin", "acos", "atan", "sinh",
                 "cosh", "tanh", "sigmoid", "erf"}

UNARY = {}
# PyTorch's node names where they are not the row's name capitalized
_NODE_NAMES = {"log1p": "Log1PBackward0", "square": "PowBackward0"}  # square is pow(x, 2)

for _name, _fwd, _d, _reads, _formula in _UNARY:
    _fwd = _bool_aware(_name, _fwd)
    _op = elementwise(_name, _fwd, (_d,), reads=(_reads,), node=_NODE_NAMES.get(_name),
                      formula=_formula, masks=(_name == "relu",))
    if _name == "relu":
        # Note [blocking masks]: the VJP needs where the cotangent is blocked, out <= 0:
        # where(out <= 0, 0, g) is two passes (zero_where), ~mask then where is three.
        # The partial (the pass mask) stays for forward mode and explain.
        _op.partial1 = lambda xp, x, out: out <= 0
        _op.mask1 = "off"
        _op.backward = _unary_vjp(_op.partial1, "off")
    if hasattr(_fwd, "numpy"):
        _op.forward = _fwd.numpy  # Note [forwards on xp]: the same forward, bound to NumPy
    _op.float_result = _name in _FLOAT_RESULT
    _op.max_params = int(_name == "round")  # decimals, from round() only
    if _d is _zero:
        _op.backward = _zero_vjp
        _op.partial1 = None
    UNARY[_name] = _op


# ---- binary -----------------------------------------------------------------------

def _pow_forward(xp, x, y):
    if type(x) is bool or type(x) is np.ndarray and x.dtype.kind == "b":
        return _bool_pow(x, y)
    if type(y) is int or type(y) is float:
        ps = getattr(xp, "pow_scalar", None)  # Note [pow special exponents]
        if ps is not None:
            return ps(x, y)
    return xp.pow(x, y)


def _bool_pow(x, y):
    """PyTorch's pow of bools: ``x ** True`` is ``x``, ``x ** False`` is all True, a bool
    tensor exponent is refused."""
    if type(y) is bool:
        return x.copy() if y else np.ones_like(x)
    if type(y) is not np.ndarray or y.dtype.kind != "b":
        return np.power(x, y)
    raise NotImplementedError("\"pow\" not implemented for 'Bool': the exponent of a bool "
                              "tensor must be a number or a non-bool tensor")


def _pow_dx(xp, x, y, out):
    # d/dx x**y = y * x**(y-1), and 0 where y == 0 (PyTorch: even at x = 0, inf, nan); a
    # Python-int exponent keeps an integer base integer.  On raw arrays x**(y-1) takes
    # the same special exponents as the forward (Note [pow special exponents]).
    if type(y) is int or type(y) is float:
        if y == 0:
            return 0
        g = getattr(xp, "pow_scalar_grad", None)
        if g is not None:
            return g(x, y)
        return y * x ** (y - 1)
    return xp.where(y == 0, 0, y * x ** (y - 1))


def _pow_dy(xp, x, y, out):
    # d/dy x**y = x**y * log(x); 0 where x == 0 and y >= 0 (the limit), as PyTorch
    # (PyTorch's formula: at x == 0, y < 0 it is inf * -inf = -inf)
    return xp.where((x == 0) & (y >= 0), 0, out * xp.log(x))


def _is_bool(xp, v):
    return type(v) is bool or (hasattr(v, "dtype") and _bool_array(xp, v))


def _int_division(op, kernel, fn, xp, x, y):
    """``fn(xp, x, y)`` with PyTorch's integer rules: two bools are refused, and an
    integer division by zero raises (NumPy returns 0 and warns)."""
    if _is_bool(xp, x) and _is_bool(xp, y):
        raise NotImplementedError(f'"{kernel}" not implemented for \'Bool\' ({op} of two '
                                  f'bool tensors); convert one first, e.g. x.long()')
    out = fn(xp, x, y)
    if xp.dtype_of(out).kind in "iu" and not xp.all_nonzero(y):
        raise RuntimeError(f"ZeroDivisionError: {op} of an integer tensor by zero (PyTorch "
                           f"raises too). Fix: divide floats for inf/nan, e.g. x.float(), or "
                           f"mask the zero divisors first.")
    return out


def _fmod_forward(xp, x, y):
    return _int_division("fmod", "fmod_cpu", _fmod, xp, x, y)


def _fmod(xp, x, y):
    return xp.fmod(x, y)


def _floor_quotient(xp, x, y):
    return xp.floor_divide(x, y)


def _floor_divide(xp, x, y):
    return _int_division("floor_divide", "div_floor_cpu", _floor_quotient, xp, x, y)


def _float_remainder(xp, x, y):
    # PyTorch's: fmod, moved by y where nonzero and of the other sign than y (so
    # remainder(0.0, -1.0) is 0.0, where NumPy gives -0.0)
    if xp.result_kind(x, y) != "f":
        return xp.remainder(x, y)
    m = xp.fmod(x, y)
    return xp.where((m != 0) & ((m < 0) != (y < 0)), m + y, m)


def _remainder(xp, x, y):
    # Python/PyTorch remainder: result has the sign of the divisor
    return _int_division("remainder", "remainder_cpu", _float_remainder, xp, x, y)


def _trunc_quotient(xp, x, y):
    if xp.result_kind(x, y) not in "iu":
        return xp.trunc(xp.divide(x, y))
    # integers, exactly: floor, plus one where the division is inexact and signs differ
    q = xp.floor_divide(x, y)
    fix = (xp.remainder(x, y) != 0) & ((x < 0) != (y < 0))
    return q + xp.astype(fix, xp.dtype_of(q))


def _trunc_divide(xp, x, y):
    # div(rounding_mode='trunc'): the quotient rounded toward zero
    return _int_division("div", "div_trunc_cpu", _trunc_quotient, xp, x, y)


def _max_dx(xp, x, y, out):
    # Note [ties]: maximum/minimum split the gradient equally on ties, as PyTorch; where
    # an operand is NaN (so is the output) both get the whole gradient, as PyTorch.
    return xp.where(x < y, 0.0, xp.where(x == y, 0.5, 1.0))


def _max_dy(xp, x, y, out):
    return xp.where(y < x, 0.0, xp.where(x == y, 0.5, 1.0))


def _min_dx(xp, x, y, out):
    return xp.where(x > y, 0.0, xp.where(x == y, 0.5, 1.0))


def _min_dy(xp, x, y, out):
    return xp.where(y > x, 0.0, xp.where(x == y, 0.5, 1.0))


ADD = elementwise("add", "add", (lambda xp, x, y, out: 1, lambda xp, x, y, out: 1),
                  reads=("", ""), formula="d(x + y) = dx + dy")
SUB = elementwise("sub", "subtract", (lambda xp, x, y, out: 1, lambda xp, x, y, out: -1),
                  reads=("", ""), formula="d(x - y) = dx - dy")
MUL = elementwise("mul", "multiply", (lambda xp, x, y, out: y, lambda xp, x, y, out: x),
                  reads=("y", "x"), formula="d(x * y) = y dx + x dy")
DIV = elementwise("div", "divide",
                  # dy from x and y, not from out, as PyTorch's div_tensor_other_backward:
                  # writing into the quotient in place must not break its backward
                  (lambda xp, x, y, out: 1 / y, lambda xp, x, y, out: -(x / y) / y),
                  reads=("y", "x,y"), formula="d(x / y) = dx / y - x / y**2 dy",
                  promote="float")
POW = elementwise("pow", _pow_forward, (_pow_dx, _pow_dy), reads=("x,y", "x,y,out"),
                  formula="d(x**y) = y * x**(y-1) dx + x**y * log(x) dy")
def _atan2_scale(xp, x, y):
    # 1 / (x**2 + y**2), taken as 0 at the origin: PyTorch's gradient of atan2(0, 0) is 0
    d = x * x + y * y
    return xp.where(d == 0, 0, 1 / d)


ATAN2 = elementwise("atan2", "atan2",
                    (lambda xp, x, y, out: y * _atan2_scale(xp, x, y),
                     lambda xp, x, y, out: -x * _atan2_scale(xp, x, y)),
                    reads=("x,y", "x,y"), formula="d atan2(x, y) = (y dx - x dy)/(x**2+y**2)",
                    promote="float")
MAXIMUM = elementwise("maximum", "maximum", (_max_dx, _max_dy), reads=("x,y", "x,y"),
                      formula="d max(x, y) = dx where x > y, dy where y > x, half each on ties",
                      masks=("scaled", "scaled"))
MINIMUM = elementwise("minimum", "minimum", (_min_dx, _min_dy), reads=("x,y", "x,y"),
                      formula="d min(x, y) = dx where x < y, dy where y < x, half each on ties",
                      masks=("scaled", "scaled"))


# Note [fmax ties]: fmax/fmin ignore a NaN operand, and PyTorch gives the whole gradient
# of a tie (or of a NaN in y) to x, unlike maximum's even split.  ``y != y`` is the NaN
# test that works in every namespace and on Python scalars.
def _fmax_dx(xp, x, y, out):
    return (x >= y) | (y != y)  # noqa: PLR0124


def _fmax_dy(xp, x, y, out):
    return ~((x >= y) | (y != y))  # noqa: PLR0124


def _fmin_dx(xp, x, y, out):
    return (x <= y) | (y != y)  # noqa: PLR0124


def _fmin_dy(xp, x, y, out):
    return ~((x <= y) | (y != y))  # noqa: PLR0124


def _fmax_forward(xp, x, y):
    # PyTorch keeps x on a tie (fmax(0.0, -0.0) is 0.0); NumPy's fmax may return y
    return xp.where((x >= y) | (y != y), x, y)  # noqa: PLR0124


def _fmin_forward(xp, x, y):
    return xp.where((x <= y) | (y != y), x, y)  # noqa: PLR0124


FMAX = elementwise("fmax", _fmax_forward, (_fmax_dx, _fmax_dy), reads=("x,y", "x,y"),
                   masks=(True, True),
                   formula="d fmax(x, y) = dx where x >= y or y is nan, dy elsewhere")
FMIN = elementwise("fmin", _fmin_forward, (_fmin_dx, _fmin_dy), reads=("x,y", "x,y"),
                   masks=(True, True),
                   formula="d fmin(x, y) = dx where x <= y or y is nan, dy elsewhere")
# Note [rounded quotients]: fmod(x, y) = x - trunc(x/y) * y, remainder with floor; the
# partial in y is PyTorch's -div(x, y, rounding_mode=...), one row with a zero
# derivative (so no 0 * inf through x / y at second order), also at y = 0 or x = inf,
# where (x - out) / y would be nan.
FMOD = elementwise("fmod", _fmod_forward,
                   (lambda xp, x, y, out: 1, lambda xp, x, y, out: -xp.trunc_divide(x, y)),
                   reads=("", "x,y"), formula="d fmod(x, y) = dx - trunc(x/y) dy")
REMAINDER = elementwise("remainder", _remainder,
                        (lambda xp, x, y, out: 1, lambda xp, x, y, out: -xp.floor_divide(x, y)),
                        reads=("", "x,y"), formula="d (x % y) = dx - floor(x/y) dy")
# PyTorch names the node of div(rounding_mode='floor') DivBackward2; DivBackward0 is div's.
FLOOR_DIVIDE = elementwise("floor_divide", _floor_divide,
                           (lambda xp, x, y, out: 0, lambda xp, x, y, out: 0),
                           reads=("", ""), formula="d (x // y) = 0", node="DivBackward2")
TRUNC_DIVIDE = elementwise("trunc_divide", _trunc_divide,
                           (lambda xp, x, y, out: 0, lambda xp, x, y, out: 0),
                           reads=("", ""), formula="d trunc(x / y) = 0",
                           node="DivBackward2")
for _op in (FLOOR_DIVIDE, TRUNC_DIVIDE):
    _op.backward = _zero_vjp
for _op in (ADD, SUB, MUL, DIV, POW, ATAN2, MAXIMUM, MINIMUM, FMAX, FMIN, FMOD, REMAINDER,
            FLOOR_DIVIDE, TRUNC_DIVIDE):
    _op.float_result = _op.promote == "float"

# ---- comparisons and logic: rows flagged non-differentiable -------------------------
COMPARE = {}
for _name, _fwd in [("eq", "equal"), ("ne", "not_equal"), ("lt", "less"),
                    ("le", "less_equal"), ("gt", "greater"), ("ge", "greater_equal"),
                    ("logical_and", "logical_and"), ("logical_or", "logical_or"),
                    ("logical_xor", "logical_xor"), ("bitwise_and", "bitwise_and"),
                    ("bitwise_or", "bitwise_or"), ("bitwise_xor", "bitwise_xor")]:
    COMPARE[_name] = Op(_name, _fwd, nin=2, kind="elementwise", differentiable=False,
                        formula=f"{_name}(x, y) is not differentiable (no gradient flows)")
    COMPARE[_name].promote = "arith"
    COMPARE[_name].float_result = False

# Note [shifts]: PyTorch shifts integers only, in the promoted dtype, and reads the shift
# amount as unsigned: an amount < 0 or >= the bit width gives 0 for << and the sign fill
# (0 or -1) for >> (C++ would leave it undefined; NumPy's result differs by platform).
_FLOAT_NAMES = {2: "Half", 4: "Float", 8: "Double"}


def _shift_forward(kernel, word):
    left = kernel == "lshift"

    def forward(xp, x, y):
        dt = xp.dtype_of(x if hasattr(x, "dtype") else y)  # the promoted dtype
        if dt.kind not in "iu":
            name = "Bool" if dt.kind == "b" else _FLOAT_NAMES.get(dt.itemsize, str(dt))
            raise NotImplementedError(
                f"\"{kernel}_cpu\" not implemented for '{name}': shifts take integer "
                f"tensors (got {dt}); convert with .long() or use multiplication")
        bits = dt.itemsize * 8
        shift = getattr(xp, word)
        if not hasattr(y, "dtype"):  # a Python int, already wrapped into dt
            if 0 <= y < bits:
                return shift(x, y)
            return shift(x, bits - 1) if not left and dt.kind == "i" else xp.bitwise_and(x, 0)
        ok = (y >= 0) & (y < bits)
        if not left and dt.kind == "i":
            return shift(x, xp.where(ok, y, bits - 1))
        return xp.where(ok, shift(x, xp.where(ok, y, 0)), 0)
    return forward


SHIFTS = {}
for _name, _kernel, _word in [("bitwise_left_shift", "lshift", "bitwise_left_shift"),
                              ("bitwise_right_shift", "rshift", "bitwise_right_shift")]:
    SHIFTS[_name] = Op(_name, _shift_forward(_kernel, _word), nin=2, kind="elementwise",
                       differentiable=False,
                       formula=f"{_name}(x, y) is not differentiable (integers only)")
    SHIFTS[_name].promote = "arith"
    SHIFTS[_name].float_result = False

NONDIFF_UNARY = {}
for _name, _fwd in [("isnan", "isnan"), ("isinf", "isinf"), ("isfinite", "isfinite"),
                    ("logical_not", "logical_not"), ("bitwise_not", "bitwise_invert"),
                    ("signbit", "signbit"), ("isposinf", "isposinf"),
                    ("isneginf", "isneginf")]:
    NONDIFF_UNARY[_name] = Op(_name, _fwd, differentiable=False,
                              formula=f"{_name}(x) is not differentiable (no gradient flows)")
    NONDIFF_UNARY[_name].float_result = False

# a Python-number operand is passed to these as a cached 0-d array (faster in NumPy)
for _op in (ADD, SUB, MUL, DIV):
    _op.scalar_as_array = True
