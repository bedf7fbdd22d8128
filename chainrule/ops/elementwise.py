"""Elementwise rows: each gives its partial derivative per input; the VJP
``sum_to(g * d, shape)`` is derived in ``_core``.

Partials are ``d(xp, x, out)`` for one input and ``d(xp, x, y, out)`` for two, where
``out`` is the primal output.  ``reads`` names the values a partial needs, so a call
keeps only those.
"""

from __future__ import annotations

import math

import numpy as np

from ._core import Op, elementwise

_SQRT_PI_2 = 2.0 / math.sqrt(math.pi)
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


_ERF_UFUNC = np.frompyfunc(math.erf, 1, 1)


def _erf_forward(x):
    return np.asarray(_ERF_UFUNC(x), dtype=x.dtype).reshape(x.shape)


def _sigmoid(x):
    # exp(-|x|) never overflows; pick the stable branch per sign
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _relu(x):
    return np.maximum(x, 0)


def _rsqrt(x):
    return 1 / np.sqrt(x)


def _sign(x):
    # Note [sign of NaN]: PyTorch's sign(nan) is 0; NumPy's is nan
    if x.dtype.kind == "b":  # sign(True) is True, as in PyTorch
        return x.copy()
    out = np.sign(x)
    return np.where(np.isnan(out), 0, out) if x.dtype.kind == "f" else out


def _zero(xp, x, out):
    return 0 * out


# ---- unary ------------------------------------------------------------------------
# name, forward, partial d(xp, x, out), what it reads, formula for docs/explain()
_UNARY = [
    ("neg", np.negative, lambda xp, x, out: -1, "", "d/dx (-x) = -1"),
    ("abs", np.abs, lambda xp, x, out: xp.sign(x), "x", "d/dx |x| = sign(x)"),
    ("square", np.square, lambda xp, x, out: 2 * x, "x", "d/dx x**2 = 2*x"),
    ("reciprocal", np.reciprocal, lambda xp, x, out: -(out * out), "out",
     "d/dx 1/x = -1/x**2"),
    ("exp", np.exp, lambda xp, x, out: out, "out", "d/dx exp(x) = exp(x)"),
    ("exp2", np.exp2, lambda xp, x, out: out * _LN2, "out", "d/dx 2**x = 2**x * ln 2"),
    ("expm1", np.expm1, lambda xp, x, out: out + 1, "out", "d/dx (exp(x) - 1) = exp(x)"),
    ("log", np.log, lambda xp, x, out: 1 / x, "x", "d/dx log(x) = 1/x"),
    ("log2", np.log2, lambda xp, x, out: 1 / (x * _LN2), "x", "d/dx log2(x) = 1/(x ln 2)"),
    ("log10", np.log10, lambda xp, x, out: 1 / (x * _LN10), "x",
     "d/dx log10(x) = 1/(x ln 10)"),
    ("log1p", np.log1p, lambda xp, x, out: 1 / (x + 1), "x", "d/dx log(1+x) = 1/(1+x)"),
    ("sqrt", np.sqrt, lambda xp, x, out: 0.5 / out, "out", "d/dx sqrt(x) = 1/(2 sqrt(x))"),
    ("rsqrt", _rsqrt, lambda xp, x, out: -0.5 * out * out * out, "out",
     "d/dx x**-0.5 = -0.5 * x**-1.5"),
    ("sin", np.sin, lambda xp, x, out: xp.cos(x), "x", "d/dx sin(x) = cos(x)"),
    ("cos", np.cos, lambda xp, x, out: -xp.sin(x), "x", "d/dx cos(x) = -sin(x)"),
    ("tan", np.tan, lambda xp, x, out: 1 + out * out, "out", "d/dx tan(x) = 1 + tan(x)**2"),
    ("asin", np.arcsin, lambda xp, x, out: 1 / xp.sqrt(1 - x * x), "x",
     "d/dx asin(x) = 1/sqrt(1 - x**2)"),
    ("acos", np.arccos, lambda xp, x, out: -1 / xp.sqrt(1 - x * x), "x",
     "d/dx acos(x) = -1/sqrt(1 - x**2)"),
    ("atan", np.arctan, lambda xp, x, out: 1 / (1 + x * x), "x",
     "d/dx atan(x) = 1/(1 + x**2)"),
    ("sinh", np.sinh, lambda xp, x, out: xp.cosh(x), "x", "d/dx sinh(x) = cosh(x)"),
    ("cosh", np.cosh, lambda xp, x, out: xp.sinh(x), "x", "d/dx cosh(x) = sinh(x)"),
    ("tanh", np.tanh, lambda xp, x, out: 1 - out * out, "out",
     "d/dx tanh(x) = 1 - tanh(x)**2"),
    ("sigmoid", _sigmoid, lambda xp, x, out: out * (1 - out), "out",
     "d/dx sigmoid(x) = sigmoid(x) * (1 - sigmoid(x))"),
    # Note [relu at 0]: the derivative at 0 is 0, as in PyTorch.
    ("relu", _relu, lambda xp, x, out: (out > 0) * 1, "out", "d/dx relu(x) = 1 if x > 0 else 0"),
    ("erf", _erf_forward, lambda xp, x, out: _SQRT_PI_2 * xp.exp(-(x * x)), "x",
     "d/dx erf(x) = 2/sqrt(pi) * exp(-x**2)"),
    # Note [piecewise constant]: floor, ceil, round, trunc, sign have zero gradient.
    ("sign", _sign, _zero, "out", "d/dx sign(x) = 0"),
    ("floor", np.floor, _zero, "out", "d/dx floor(x) = 0"),
    ("ceil", np.ceil, _zero, "out", "d/dx ceil(x) = 0"),
    ("round", np.round, _zero, "out", "d/dx round(x) = 0"),
    ("trunc", np.trunc, _zero, "out", "d/dx trunc(x) = 0"),
]

# ops whose result is floating even for integer input (exp(int) -> float32, as PyTorch)
_FLOAT_RESULT = {"reciprocal", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p",
                 "sqrt", "rsqrt", "sin", "cos", "tan", "asin", "acos", "atan", "sinh",
                 "cosh", "tanh", "sigmoid", "erf"}

UNARY = {}
for _name, _fwd, _d, _reads, _formula in _UNARY:
    _op = elementwise(_name, _fwd, (_d,), reads=(_reads,), formula=_formula)
    _op.float_result = _name in _FLOAT_RESULT
    UNARY[_name] = _op


# ---- binary -----------------------------------------------------------------------

def _pow_dx(xp, x, y, out):
    # d/dx x**y = y * x**(y-1); a Python-int exponent keeps an integer base integer
    if type(y) is int:
        return 0 * x if y == 0 else y * x ** (y - 1)
    return y * x ** (y - 1)


def _pow_dy(xp, x, y, out):
    # d/dy x**y = x**y * log(x); 0 where x == 0 and y >= 0 (the limit), as PyTorch
    return xp.where((x == 0) & (y >= 0), 0 * out, out * xp.log(xp.where(x == 0, 1, x)))


def _fmod_forward(x, y):
    return np.fmod(x, y)


def _floor_divide(x, y):
    return np.floor_divide(x, y)


def _remainder(x, y):
    # Python/PyTorch remainder: result has the sign of the divisor
    return np.remainder(x, y)


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


ADD = elementwise("add", np.add, (lambda xp, x, y, out: 1, lambda xp, x, y, out: 1),
                  reads=("", ""), formula="d(x + y) = dx + dy")
SUB = elementwise("sub", np.subtract, (lambda xp, x, y, out: 1, lambda xp, x, y, out: -1),
                  reads=("", ""), formula="d(x - y) = dx - dy")
MUL = elementwise("mul", np.multiply, (lambda xp, x, y, out: y, lambda xp, x, y, out: x),
                  reads=("y", "x"), formula="d(x * y) = y dx + x dy")
DIV = elementwise("div", np.true_divide,
                  (lambda xp, x, y, out: 1 / y, lambda xp, x, y, out: -out / y),
                  reads=("y", "y,out"), formula="d(x / y) = dx / y - x / y**2 dy",
                  promote="float")
POW = elementwise("pow", np.power, (_pow_dx, _pow_dy), reads=("x,y", "x,y,out"),
                  formula="d(x**y) = y * x**(y-1) dx + x**y * log(x) dy")
ATAN2 = elementwise("atan2", np.arctan2,
                    (lambda xp, x, y, out: y / (x * x + y * y),
                     lambda xp, x, y, out: -x / (x * x + y * y)),
                    reads=("x,y", "x,y"), formula="d atan2(x, y) = (y dx - x dy)/(x**2+y**2)",
                    promote="float")
MAXIMUM = elementwise("maximum", np.maximum, (_max_dx, _max_dy), reads=("x,y", "x,y"),
                      formula="d max(x, y) = dx where x > y, dy where y > x, half each on ties")
MINIMUM = elementwise("minimum", np.minimum, (_min_dx, _min_dy), reads=("x,y", "x,y"),
                      formula="d min(x, y) = dx where x < y, dy where y < x, half each on ties")


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


FMAX = elementwise("fmax", np.fmax, (_fmax_dx, _fmax_dy), reads=("x,y", "x,y"),
                   formula="d fmax(x, y) = dx where x >= y or y is nan, dy elsewhere")
FMIN = elementwise("fmin", np.fmin, (_fmin_dx, _fmin_dy), reads=("x,y", "x,y"),
                   formula="d fmin(x, y) = dx where x <= y or y is nan, dy elsewhere")
# Note [rounded quotients]: fmod(x, y) = x - trunc(x/y) * y, so trunc(x/y) = (x - out) / y
# (and floor(x/y) likewise for remainder): plain arithmetic, available in every namespace.
FMOD = elementwise("fmod", _fmod_forward,
                   (lambda xp, x, y, out: 1, lambda xp, x, y, out: (out - x) / y),
                   reads=("", "x,y,out"), formula="d fmod(x, y) = dx - trunc(x/y) dy")
REMAINDER = elementwise("remainder", _remainder,
                        (lambda xp, x, y, out: 1, lambda xp, x, y, out: (out - x) / y),
                        reads=("", "x,y,out"), formula="d (x % y) = dx - floor(x/y) dy")
# PyTorch names the node of div(rounding_mode='floor') DivBackward2; DivBackward0 is div's.
FLOOR_DIVIDE = elementwise("floor_divide", _floor_divide,
                           (lambda xp, x, y, out: 0 * out, lambda xp, x, y, out: 0 * out),
                           reads=("out", "out"), formula="d (x // y) = 0", node="DivBackward2")
for _op in (ADD, SUB, MUL, DIV, POW, ATAN2, MAXIMUM, MINIMUM, FMAX, FMIN, FMOD, REMAINDER,
            FLOOR_DIVIDE):
    _op.float_result = _op.promote == "float"

# ---- comparisons and logic: rows flagged non-differentiable -------------------------
COMPARE = {}
for _name, _fwd in [("eq", np.equal), ("ne", np.not_equal), ("lt", np.less),
                    ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal),
                    ("logical_and", np.logical_and), ("logical_or", np.logical_or),
                    ("logical_xor", np.logical_xor), ("bitwise_and", np.bitwise_and),
                    ("bitwise_or", np.bitwise_or), ("bitwise_xor", np.bitwise_xor)]:
    COMPARE[_name] = Op(_name, _fwd, nin=2, kind="elementwise", differentiable=False,
                        formula=f"{_name}(x, y) is not differentiable (no gradient flows)")
    COMPARE[_name].promote = "arith"
    COMPARE[_name].float_result = False

NONDIFF_UNARY = {}
for _name, _fwd in [("isnan", np.isnan), ("isinf", np.isinf), ("isfinite", np.isfinite),
                    ("logical_not", np.logical_not), ("bitwise_not", np.invert),
                    ("signbit", np.signbit), ("isposinf", np.isposinf),
                    ("isneginf", np.isneginf)]:
    NONDIFF_UNARY[_name] = Op(_name, _fwd, differentiable=False,
                              formula=f"{_name}(x) is not differentiable (no gradient flows)")
    NONDIFF_UNARY[_name].float_result = False

# a Python-number operand is passed to these as a cached 0-d array (faster in NumPy)
for _op in (ADD, SUB, MUL, DIV):
    _op.scalar_as_array = True
