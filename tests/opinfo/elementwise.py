"""Cases for the elementwise rows (``chainrule/ops/elementwise.py``) and the three-input
rows in ``chainrule/_functions.py`` (clamp, where, lerp).

Inputs are drawn inside each op's safe domain: log and sqrt on positive values, asin
and acos inside (-1, 1), divisors away from zero, floor/round... away from their jumps
(random uniforms never land within the finite-difference step of one).  Ties and
boundaries are built with ``make=`` where a convention is pinned (maximum splits the
gradient on ties, clamp passes it on the closed interval, relu gives 0 at 0).
"""

from __future__ import annotations

import numpy as np

from ._case import Case
from ._harness import F32_INSIDE, INT_LEAF, NO_FD, NO_FD2, NO_TORCH_GRAD

# ---- input makers: ``make(rng) -> list of arrays`` --------------------------------------

def uniform(shape, lo=-2.0, hi=2.0):
    return lambda rng: rng.uniform(lo, hi, shape)


def away(shape, lo=0.5, hi=2.0):
    """Values of either sign with ``lo <= |x| <= hi`` (divisors, reciprocals)."""
    return lambda rng: rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


def ints(shape, lo=-3, hi=4):
    return lambda rng: rng.integers(lo, hi, shape)


def bools(shape):
    return lambda rng: rng.random(shape) > 0.5


def make(*makers):
    return lambda rng: [m(rng) for m in makers]


def with_ties(shape_x, shape_y, lo=-2.0, hi=2.0):
    """``x`` and ``y`` equal at about half of the positions (y broadcast to x)."""
    def mk(rng):
        x = rng.uniform(lo, hi, shape_x)
        y = rng.uniform(lo, hi, shape_y)
        b = np.broadcast_to(y, np.broadcast_shapes(shape_x, shape_y))
        tie = rng.random(b.shape) > 0.5
        x = np.where(tie, b, np.broadcast_to(x, b.shape))
        return [x, y]
    return mk


def with_specials(shape):
    """Finite values, nan, +inf, -inf, 0.0 and -0.0."""
    def mk(rng):
        x = rng.uniform(-2, 2, shape).ravel()
        x[:6] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0]
        return [x.reshape(shape)]
    return mk


# ---- unary rows ---------------------------------------------------------------------

# name -> domain for a random float input
UNARY_DOMAINS = {
    "neg": (-2, 2), "abs": (-2, 2), "square": (-2, 2), "reciprocal": "away",
    "exp": (-2, 2), "exp2": (-2, 2), "expm1": (-2, 2),
    "log": (0.5, 3), "log2": (0.5, 3), "log10": (0.5, 3), "log1p": (-0.5, 2),
    "sqrt": (0.5, 3), "rsqrt": (0.5, 3),
    "sin": (-3, 3), "cos": (-3, 3), "tan": (-1.2, 1.2),
    "asin": (-0.9, 0.9), "acos": (-0.9, 0.9), "atan": (-3, 3),
    "sinh": (-2, 2), "cosh": (-2, 2), "tanh": (-3, 3), "sigmoid": (-4, 4),
    "relu": (-2, 2), "erf": (-2, 2),
    # piecewise constant: zero gradient; random inputs stay away from the jumps
    "sign": (-2, 2), "floor": (-3, 3), "ceil": (-3, 3), "round": (-3, 3), "trunc": (-3, 3),
}


def _unary_cases(name, domain):
    def fn(lib, x):
        return getattr(lib, name)(x)

    def method(lib, x):
        return getattr(x, name)()

    def inplace(lib, x):
        return getattr(x.clone(), name + "_")()

    def kw(shape):
        if domain == "away":
            return {"make": make(away(shape))}
        return {"shapes": [shape], "domain": domain}

    return [
        Case(name, fn, **kw((3, 4))),
        Case(name, fn, name="0d", **kw(())),
        Case(name, fn, name="empty", **kw((0, 3))),
        Case(name, method, name="method", **kw((2, 1, 3))),
        Case(name, inplace, name="inplace", **kw((5,))),
    ]


def _int_unary(name, lo, hi):
    """An integer input: computed in the default float dtype where PyTorch does."""
    return Case(name, lambda lib, x: getattr(lib, name)(x), make=make(ints((4,), lo, hi)),
                grad=False, name="int")


UNARY_CASES = [c for n, d in UNARY_DOMAINS.items() for c in _unary_cases(n, d)]
UNARY_CASES += [
    _int_unary("neg", -3, 4), _int_unary("abs", -3, 4), _int_unary("square", -3, 4),
    _int_unary("exp", -3, 4), _int_unary("sqrt", 1, 9), _int_unary("log", 1, 9),
    _int_unary("sin", -3, 4), _int_unary("sigmoid", -3, 4), _int_unary("sign", -3, 4),
    _int_unary("floor", -3, 4), _int_unary("reciprocal", 1, 5),
    Case("exp", lambda lib, x: x.exp(), shapes=[(3,)], name="int_leaf", tags=(INT_LEAF,)),
    Case("sin", lambda lib, x: lib.sin(x), shapes=[(3,)], name="int_leaf", tags=(INT_LEAF,)),
    Case("square", lambda lib, x: x.square(), shapes=[(3,)], name="int_leaf",
         tags=(INT_LEAF,)),
    # wide range: both branches of the stable sigmoid, saturated tanh
    Case("sigmoid", lambda lib, x: x.sigmoid(), shapes=[(20,)], domain=(-30, 30), name="wide"),
    Case("tanh", lambda lib, x: x.tanh(), shapes=[(20,)], domain=(-20, 20), name="wide"),
    Case("neg", lambda lib, x: -x, shapes=[(3,)], name="operator"),
    Case("abs", lambda lib, x: abs(x), shapes=[(3,)], name="operator"),
    # Note [relu at 0]: PyTorch's derivative at 0 is 0, the central difference is 1/2
    Case("relu", lambda lib, x: x.relu(), make=make(lambda rng: np.array([0.0, -1.0, 1.0, 0.0])),
         name="at_zero", tags=(NO_FD,)),
    # abs at 0: derivative sign(0) = 0, which is also the central difference (but the
    # derivative jumps there, so no second-order difference)
    Case("abs", lambda lib, x: x.abs(), make=make(lambda rng: np.array([0.0, -1.0, 1.5])),
         name="at_zero", tags=(NO_FD2,)),
    Case("sign", lambda lib, x: x.sign(), make=make(lambda rng: np.array([0.0, -1.0, 1.5])),
         name="at_zero", tags=(NO_FD,)),
    # Note [sign of NaN]: PyTorch's sign(nan) is 0
    Case("sign", lambda lib, x: x.sign(), make=with_specials((3, 4)), name="specials",
         grad=False),
    Case("round", lambda lib, x: x.round(), make=make(lambda rng: np.array([0.5, 1.5, -2.5, 2.4])),
         name="half_to_even", tags=(NO_FD,)),
]


# ---- binary arithmetic --------------------------------------------------------------

def _binary_cases(name, op, lhs=uniform, rhs=uniform):
    """Broadcasting, 0-d tensors and Python scalars on either side, for ``op(lib, x, y)``."""
    return [
        Case(name, op, make=make(lhs((3, 4)), rhs((3, 4)))),
        Case(name, op, make=make(lhs((3, 1)), rhs((1, 4))), name="bcast_both"),
        Case(name, op, make=make(lhs((2, 3, 4)), rhs((4,))), name="bcast_rank"),
        Case(name, op, make=make(lhs((5,)), rhs((2, 1))), name="bcast_rank_lhs"),
        Case(name, op, make=make(lhs(()), rhs((3,))), name="0d_lhs"),
        Case(name, op, make=make(lhs((3,)), rhs(())), name="0d_rhs"),
        Case(name, op, make=make(lhs(()), rhs(())), name="0d_both"),
        Case(name, op, make=make(lhs((0, 3)), rhs((3,))), name="empty"),
    ]


def _fn(name):
    return lambda lib, x, y: getattr(lib, name)(x, y)


BINARY_CASES = (
    _binary_cases("add", lambda lib, x, y: x + y)
    + _binary_cases("sub", lambda lib, x, y: x - y)
    + _binary_cases("mul", lambda lib, x, y: x * y)
    + _binary_cases("div", lambda lib, x, y: x / y, rhs=away)
    + _binary_cases("pow", lambda lib, x, y: x ** y, lhs=lambda s: uniform(s, 0.5, 2.0))
    + _binary_cases("atan2", _fn("atan2"), lhs=away, rhs=away)
    + _binary_cases("maximum", _fn("maximum"))
    + _binary_cases("minimum", _fn("minimum"))
    + _binary_cases("fmod", _fn("fmod"), lhs=lambda s: uniform(s, -5, 5), rhs=away)
    + _binary_cases("remainder", lambda lib, x, y: x % y, lhs=lambda s: uniform(s, -5, 5),
                    rhs=away)
)

BINARY_CASES += [
    # Python scalars on either side, keyword variants, in-place forms
    Case("add", lambda lib, x: x + 2.5, shapes=[(3,)], name="scalar_rhs"),
    Case("add", lambda lib, x: 2 + x, shapes=[(3,)], name="scalar_lhs"),
    Case("add", lambda lib, x, y: lib.add(x, y, alpha=2), shapes=[(3,), (3,)], name="alpha"),
    Case("add", lambda lib, x, y: x.clone().add_(y), shapes=[(2, 3), (3,)], name="inplace"),
    Case("add", lambda lib, x, y: x + y, make=make(ints((3,)), uniform((3,))),
         name="int_float", nondiff=(0,)),
    Case("add", lambda lib, x: x + 1, make=make(ints((3,))), name="int_int", grad=False),
    Case("add", lambda lib, x: x + 1.5, make=make(ints((3,))), name="int_pyfloat", grad=False),
    Case("add", lambda lib, x: x + True, make=make(bools((3,))), name="bool_pybool",
         grad=False),
    Case("add", lambda lib, x, y: x + y, make=make(ints((3,)), bools((3,))),
         name="int_bool", grad=False),
    # float32 + 0-d float64 stays float32 (0-d tensors do not promote across a category)
    Case("add", lambda lib, x: x + lib.tensor(1.5, dtype=lib.float64), shapes=[(3,)],
         name="0d_f64"),
    # float32 + float64 -> float64; the float32 cast hides finite differences
    Case("add", lambda lib, x: x.float() + x.double(), shapes=[(3,)], name="f32_f64",
         tags=(NO_FD, F32_INSIDE)),
    Case("add", lambda lib, x: x + 1, shapes=[(3,)], name="int_leaf", tags=(INT_LEAF,)),
    Case("sub", lambda lib, x: x - 2.5, shapes=[(3,)], name="scalar_rhs"),
    Case("sub", lambda lib, x: 3 - x, shapes=[(3,)], name="scalar_lhs"),
    Case("sub", lambda lib, x, y: lib.sub(x, y, alpha=0.5), shapes=[(3,), (3,)],
         name="alpha"),
    Case("sub", lambda lib, x, y: lib.rsub(x, y), shapes=[(3,), (2, 3)], name="rsub"),
    Case("sub", lambda lib, x, y: x.clone().sub_(y), shapes=[(2, 3), (3,)], name="inplace"),
    Case("sub", lambda lib, x, y: x - y, make=make(uniform((3,)), ints((3,))),
         name="float_int", nondiff=(1,)),
    Case("mul", lambda lib, x: x * 2.5, shapes=[(3,)], name="scalar_rhs"),
    Case("mul", lambda lib, x: 2 * x, shapes=[(3,)], name="scalar_lhs"),
    Case("mul", lambda lib, x: x * x, shapes=[(4,)], name="same_input"),
    Case("mul", lambda lib, x, y: x.clone().mul_(y), shapes=[(2, 3), (3,)], name="inplace"),
    Case("mul", lambda lib, x: x * 1.5, make=make(ints((3,))), name="int_pyfloat",
         grad=False),
    Case("mul", lambda lib, x: x * x, make=make(ints((3,))), name="int_int", grad=False),
    Case("mul", lambda lib, x, y: x * y, make=make(ints((3,)), uniform((2, 3))),
         name="int_float", nondiff=(0,)),
    Case("mul", lambda lib, x: x * 2.5, shapes=[(3,)], name="int_leaf", tags=(INT_LEAF,)),
    Case("mul", lambda lib, x, y: x * y, shapes=[(3,), (3,)], name="int_leaf_both",
         tags=(INT_LEAF,)),
    Case("div", lambda lib, x: x / 2.5, shapes=[(3,)], name="scalar_rhs"),
    Case("div", lambda lib, x: 2 / x, make=make(away((3,))), name="scalar_lhs"),
    Case("div", lambda lib, x, y: x.clone().div_(y), make=make(uniform((2, 3)), away((3,))),
         name="inplace"),
    Case("div", lambda lib, x, y: x / y, make=make(ints((3,)), ints((3,), 1, 4)),
         name="int_int", grad=False),
    Case("div", lambda lib, x, y: x / y, make=make(uniform((3,)), ints((3,), 1, 4)),
         name="float_int", nondiff=(1,)),
    Case("trunc_divide", lambda lib, x, y: lib.div(x, y, rounding_mode="trunc"),
         make=make(uniform((3, 4), -5, 5), away((4,)))),
    Case("trunc_divide", lambda lib, x, y: lib.div(x, y, rounding_mode="trunc"),
         make=make(ints((6,), -7, 8), lambda rng: np.array([1, -1, 2, -2, 3, -3])),
         name="int", grad=False),
    Case("floor_divide", lambda lib, x, y: x // y, make=make(uniform((3, 4), -5, 5), away((4,))),
         tags=(NO_TORCH_GRAD,)),
    Case("floor_divide", lambda lib, x, y: lib.div(x, y, rounding_mode="floor"),
         make=make(uniform((3, 4), -5, 5), away((4,))), name="div_floor"),
    Case("floor_divide", lambda lib, x: x // 1.5, shapes=[(5,)], domain=(-5, 5),
         name="scalar", tags=(NO_TORCH_GRAD,)),
    Case("floor_divide", lambda lib, x, y: lib.floor_divide(x, y),
         make=make(ints((6,), -7, 8), ints((6,), 1, 4)), name="int", grad=False),
    Case("floor_divide", lambda lib, x: x // -2, make=make(ints((6,), -7, 8)),
         name="int_negative_divisor", grad=False),
    Case("fmod", lambda lib, x: lib.fmod(x, 1.5), shapes=[(5,)], domain=(-5, 5),
         name="scalar"),
    Case("fmod", lambda lib, x, y: lib.fmod(x, y), make=make(ints((6,), -7, 8),
                                                              ints((6,), 1, 4)),
         name="int", grad=False),
    Case("remainder", lambda lib, x: x % -1.5, shapes=[(5,)], domain=(-5, 5), name="scalar"),
    Case("remainder", lambda lib, x: lib.remainder(x, 2.5), shapes=[(5,)], domain=(-5, 5),
         name="fn_scalar"),
    Case("remainder", lambda lib, x, y: x % y, make=make(ints((6,), -7, 8), ints((6,), 1, 4)),
         name="int", grad=False),
    Case("atan2", lambda lib, x: lib.atan2(x, lib.tensor(0.5, dtype=lib.float64)),
         shapes=[(3,)], name="0d_f64"),
    Case("atan2", lambda lib, x, y: lib.atan2(x, y), make=make(ints((3,)), ints((3,), 1, 4)),
         name="int", grad=False),
    # pow: scalar exponents (any base for integers), tensor exponents on a positive base
    Case("pow", lambda lib, x: x ** 2, shapes=[(3, 4)], name="sq"),
    Case("pow", lambda lib, x: x ** 3, shapes=[(3, 4)], name="cube"),
    Case("pow", lambda lib, x: x ** -2, make=make(away((3,))), name="neg_int"),
    Case("pow", lambda lib, x: x ** 0, shapes=[(3,)], name="zero"),
    Case("pow", lambda lib, x: x ** 1, shapes=[(3,)], name="one"),
    Case("pow", lambda lib, x: x ** 0.5, shapes=[(3,)], domain=(0.5, 2), name="half"),
    Case("pow", lambda lib, x: x ** -1.5, shapes=[(3,)], domain=(0.5, 2), name="neg_float"),
    Case("pow", lambda lib, x: lib.pow(x, 2.5), shapes=[(3,)], domain=(0.5, 2), name="fn"),
    Case("pow", lambda lib, x: 2 ** x, shapes=[(3,)], name="scalar_base"),
    Case("pow", lambda lib, x: 0.5 ** x, shapes=[(3,)], name="scalar_base_lt1"),
    Case("pow", lambda lib, x, y: x.clone().pow_(y), make=make(uniform((2, 3), 0.5, 2),
                                                               uniform((3,))),
         name="inplace"),
    Case("pow", lambda lib, x: x ** 2, make=make(ints((4,))), name="int", grad=False),
    Case("pow", lambda lib, x: x ** 0.5, make=make(ints((4,), 0, 9)), name="int_float_exp",
         grad=False),
    Case("pow", lambda lib, x: lib.float_power(x, 2), shapes=[(3,)], name="float_power"),
    Case("pow", lambda lib, x: x ** 2, shapes=[(3,)], name="int_leaf", tags=(INT_LEAF,)),
    # 0 ** y with y >= 1: d/dx = y * 0**(y-1) = 0 and d/dy = 0 (the limit), as PyTorch;
    # x - eps leaves the domain, so no finite differences here
    Case("pow", lambda lib, x, y: x ** y,
         make=lambda rng: [np.array([0.0, 0.0, 1.5]), rng.uniform(1.0, 2.0, 3)],
         name="zero_base", tags=(NO_FD,)),
    # ties: PyTorch splits the gradient evenly, which is also the central difference
    # (first order only: the derivative jumps there)
    Case("maximum", _fn("maximum"), make=with_ties((3, 4), (3, 4)), name="ties",
         tags=(NO_FD2,)),
    Case("maximum", _fn("maximum"), make=with_ties((3, 4), (4,)), name="ties_bcast",
         tags=(NO_FD2,)),
    Case("minimum", _fn("minimum"), make=with_ties((3, 4), (3, 4)), name="ties",
         tags=(NO_FD2,)),
    Case("minimum", _fn("minimum"), make=with_ties((2, 3), (3,)), name="ties_bcast",
         tags=(NO_FD2,)),
    # fmax/fmin ignore NaN; ties (and a NaN in y) send the whole gradient to x, as
    # PyTorch, where the central difference splits it: no finite differences there
    Case("fmax", _fn("fmax"), shapes=[(3, 4), (4,)]),
    Case("fmin", _fn("fmin"), shapes=[(3, 4), (4,)]),
    Case("fmax", _fn("fmax"), shapes=[(5,), ()], name="0d"),
    Case("fmin", _fn("fmin"), shapes=[(), (2, 1)], name="0d"),
    Case("fmax", _fn("fmax"), make=with_ties((3, 4), (3, 4)), name="ties", tags=(NO_FD,)),
    Case("fmin", _fn("fmin"), make=with_ties((3, 4), (3, 4)), name="ties", tags=(NO_FD,)),
    Case("fmax", _fn("fmax"), make=lambda rng: [with_specials((8,))(rng)[0],
                                                with_specials((8,))(rng)[0][::-1].copy()],
         name="nan", tags=(NO_FD,)),
    Case("fmin", _fn("fmin"), make=lambda rng: [with_specials((8,))(rng)[0],
                                                with_specials((8,))(rng)[0][::-1].copy()],
         name="nan", tags=(NO_FD,)),
    # a NaN operand: the output is NaN and both operands get the whole gradient
    Case("maximum", _fn("maximum"), make=lambda rng: [with_specials((8,))(rng)[0],
                                                      rng.uniform(-2, 2, 8)],
         name="nan", tags=(NO_FD,)),
    Case("minimum", _fn("minimum"), make=lambda rng: [rng.uniform(-2, 2, 8),
                                                      with_specials((8,))(rng)[0]],
         name="nan", tags=(NO_FD,)),
    Case("maximum", _fn("maximum"), make=make(ints((4,)), ints((4,))), name="int",
         grad=False),
    Case("maximum", _fn("maximum"), make=make(ints((4,)), uniform((4,))), name="int_float",
         nondiff=(0,)),
]



def typed(shape, dtype, lo=-3, hi=4):
    return lambda rng: rng.integers(lo, hi, shape).astype(dtype)


# PyTorch's promotion across integer widths, signedness and 0-d tensors (forward only)
BINARY_CASES += [
    Case("add", lambda lib, x, y: x + y, make=make(typed((3,), np.int32), typed((3,), np.int64)),
         name="int32_int64", grad=False),
    Case("add", lambda lib, x, y: x + y, make=make(typed((3,), np.uint8, 0, 9),
                                                   typed((3,), np.int8)),
         name="uint8_int8", grad=False),
    Case("mul", lambda lib, x, y: x * y, make=make(typed((3,), np.int32), typed((), np.int64)),
         name="int32_0d_int64", grad=False),
    Case("mul", lambda lib, x, y: x * y, make=make(typed((3,), np.int16), typed((3,), np.int16)),
         name="int16", grad=False),
    Case("sub", lambda lib, x, y: x - y, make=make(typed((3,), np.uint8, 0, 9),
                                                   typed((), np.int64)),
         name="uint8_0d_int64", grad=False),
    Case("div", lambda lib, x: x / 2, make=make(typed((3,), np.int32)), name="int32_pyint",
         grad=False),
    Case("add", lambda lib, x, y: x + y, make=make(typed((3,), np.int64), typed((), np.float64)),
         name="int_0d_float", grad=False),
    Case("bitwise_and", lambda lib, x, y: x & y,
         make=make(typed((4,), np.uint8, 0, 255), typed((4,), np.int8, -8, 8)),
         name="uint8_int8", grad=False),
]


# ---- comparisons, logic, predicates: not differentiable ------------------------------

def _cmp_cases(name, op):
    return [
        Case(name, op, make=with_ties((3, 4), (3, 4)), grad=False),
        Case(name, op, make=with_ties((3, 4), (4,)), grad=False, name="bcast"),
        Case(name, lambda lib, x: op(lib, x, 0.5), shapes=[(5,)], grad=False, name="scalar"),
        Case(name, op, make=make(ints((5,)), uniform((5,))), grad=False, name="int_float"),
        Case(name, op, make=make(ints((5,)), ints(())), grad=False, name="int_0d"),
    ]


COMPARE_CASES = (
    _cmp_cases("eq", lambda lib, x, y: x == y) + _cmp_cases("ne", lambda lib, x, y: x != y)
    + _cmp_cases("lt", lambda lib, x, y: x < y) + _cmp_cases("le", lambda lib, x, y: x <= y)
    + _cmp_cases("gt", lambda lib, x, y: x > y) + _cmp_cases("ge", lambda lib, x, y: x >= y)
)
COMPARE_CASES += [
    Case("eq", _fn("eq"), shapes=[(3,), (3,)], name="fn", grad=False),
    Case("ne", _fn("not_equal"), shapes=[(3,), (3,)], name="fn", grad=False),
    Case("lt", _fn("less"), shapes=[(3,), (3,)], name="fn", grad=False),
    Case("ge", lambda lib, x, y: x.ge(y), shapes=[(3,), (3,)], name="method", grad=False),
    Case("gt", lambda lib, x: 0.0 < x, shapes=[(3,)], name="reflected", grad=False),
    Case("eq", lambda lib, x: x == x, make=with_specials((8,)), name="nan",  # noqa: PLR0124
         grad=False),
]
for _name in ("logical_and", "logical_or", "logical_xor"):
    COMPARE_CASES += [
        Case(_name, _fn(_name), make=make(bools((3, 4)), bools((4,))), grad=False),
        Case(_name, _fn(_name), make=make(uniform((6,), -1, 1), bools((6,))),
             name="float_bool", grad=False),
        Case(_name, _fn(_name), make=make(ints((6,), -1, 2), ints((6,), -1, 2)),
             name="int", grad=False),
    ]
for _name, _sym in (("bitwise_and", lambda x, y: x & y), ("bitwise_or", lambda x, y: x | y),
                    ("bitwise_xor", lambda x, y: x ^ y)):
    COMPARE_CASES += [
        Case(_name, _fn(_name), make=make(ints((3, 4), 0, 16), ints((4,), 0, 16)), grad=False),
        Case(_name, lambda lib, x, y, s=_sym: s(x, y), make=make(bools((5,)), bools((5,))),
             name="bool_operator", grad=False),
        Case(_name, lambda lib, x, s=_sym: s(x, 6), make=make(ints((5,), -8, 8)),
             name="int_scalar", grad=False),
    ]
# Note [shifts]: amounts < 0 and >= the bit width, every integer dtype, promotion
for _name, _sym in (("bitwise_left_shift", lambda x, y: x << y),
                    ("bitwise_right_shift", lambda x, y: x >> y)):
    COMPARE_CASES += [
        Case(_name, _fn(_name), make=make(ints((3, 4), -9, 9), ints((4,), -3, 70)),
             grad=False),
        Case(_name, lambda lib, x, y, s=_sym: s(x, y),
             make=make(typed((6,), np.int8, -128, 127), typed((6,), np.int8, -9, 12)),
             name="int8_operator", grad=False),
        Case(_name, lambda lib, x, y, s=_sym: s(x, y),
             make=make(typed((6,), np.uint8, 0, 255), typed((6,), np.int16, -3, 20)),
             name="uint8_int16", grad=False),
        Case(_name, lambda lib, x, s=_sym: s(x, 3), make=make(typed((5,), np.int32, -99, 99)),
             name="int32_scalar", grad=False),
        Case(_name, lambda lib, x, s=_sym: s(5, x), make=make(typed((5,), np.int16, -2, 18)),
             name="reflected", grad=False),
        Case(_name, lambda lib, x, y, n=_name: getattr(x, n)(y),
             make=make(typed((5,), np.int64, -50, 50), typed((), np.int64, 60, 66)),
             name="method_0d", grad=False),
    ]


PREDICATE_CASES = [
    Case(n, lambda lib, x, n=n: getattr(lib, n)(x), make=with_specials((3, 4)), grad=False)
    for n in ("isnan", "isinf", "isfinite", "isposinf", "isneginf", "signbit")
] + [
    Case("isnan", lambda lib, x: x.isnan(), make=make(ints((3,))), name="int", grad=False),
    Case("isfinite", lambda lib, x: x.isfinite(), shapes=[(3,)], name="method", grad=False),
    Case("logical_not", lambda lib, x: lib.logical_not(x), make=make(bools((5,))),
         grad=False),
    Case("logical_not", lambda lib, x: x.logical_not(), make=with_specials((8,)),
         name="float", grad=False),
    Case("bitwise_not", lambda lib, x: ~x, make=make(bools((5,))), grad=False),
    Case("bitwise_not", lambda lib, x: lib.bitwise_not(x), make=make(ints((5,), -8, 8)),
         name="int", grad=False),
    Case("bitwise_not", lambda lib, x: ~x, make=make(typed((5,), np.uint8, 0, 255)),
         name="uint8", grad=False),
]


# ---- clamp, where, lerp ---------------------------------------------------------------

def _clamp_ties(rng):
    # x hits both bounds exactly; Note [clamp boundaries]: gradient 1 on [min, max]
    return [np.array([-0.5, 0.5, 0.0, -1.0, 1.0])]


def _bounds(shape):
    return lambda rng: [rng.uniform(-2, 2, shape), rng.uniform(-1, -0.2, shape),
                        rng.uniform(0.2, 1, shape)]


def _where_nan_branch(lib, x):
    with np.errstate(invalid="ignore"):  # NumPy warns about sqrt(-1); PyTorch does not
        return lib.where(x > 0, x.sqrt(), 0.0)


THREE_INPUT_CASES = [
    Case("clamp", lambda lib, x: x.clamp(-0.5, 0.7), shapes=[(3, 4)]),
    Case("clamp", lambda lib, x: lib.clamp(x, min=-0.5), shapes=[(3, 4)], name="min"),
    Case("clamp", lambda lib, x: lib.clamp(x, max=0.5), shapes=[(3, 4)], name="max"),
    Case("clamp", lambda lib, x: x.clamp_min(0.1), shapes=[(5,)], name="clamp_min"),
    Case("clamp", lambda lib, x: x.clamp_max(0.1), shapes=[(5,)], name="clamp_max"),
    Case("clamp", lambda lib, x: lib.clip(x, -1, 1), shapes=[()], name="clip_0d"),
    Case("clamp", lambda lib, x: x.clone().clamp_(-0.5, 0.5), shapes=[(2, 3)], name="inplace"),
    Case("clamp", lambda lib, x, lo, hi: lib.clamp(x, lo, hi), make=_bounds((3, 4)),
         name="tensor_bounds"),
    Case("clamp", lambda lib, x, lo, hi: lib.clamp(x, lo, hi),
         make=lambda rng: [rng.uniform(-2, 2, (3, 4)), rng.uniform(-1, -0.2, (4,)),
                           rng.uniform(0.2, 1, (3, 1))], name="tensor_bounds_bcast"),
    Case("clamp", lambda lib, x, lo: lib.clamp(x, min=lo),
         make=lambda rng: [rng.uniform(-2, 2, (3, 4)), rng.uniform(-1, 1, (4,))],
         name="tensor_min"),
    Case("clamp", lambda lib, x: x.clamp(-0.5, 0.5), make=_clamp_ties, name="at_bounds",
         tags=(NO_FD,)),
    Case("clamp", lambda lib, x: x.clamp(-1, 2), make=make(ints((5,), -3, 4)), name="int",
         grad=False),
    Case("clamp", lambda lib, x: x.clamp(-0.5, 1.5), make=make(ints((5,), -3, 4)),
         name="int_float_bounds", grad=False),
    Case("where", lambda lib, c, x, y: lib.where(c, x, y),
         make=make(bools((3, 4)), uniform((3, 4)), uniform((3, 4))), nondiff=(0,)),
    Case("where", lambda lib, c, x, y: lib.where(c, x, y),
         make=make(bools((3, 1)), uniform((4,)), uniform((2, 1, 1))), nondiff=(0,),
         name="bcast"),
    Case("where", lambda lib, c, x: lib.where(c, x, 0.0),
         make=make(bools((3, 4)), uniform((3, 4))), nondiff=(0,), name="scalar_other"),
    Case("where", lambda lib, c, y: lib.where(c, 1.5, y),
         make=make(bools((3, 4)), uniform((4,))), nondiff=(0,), name="scalar_input"),
    Case("where", lambda lib, c, x, y: x.where(c, y),
         make=make(bools((5,)), uniform((5,)), uniform(())), nondiff=(0,), name="method"),
    Case("where", lambda lib, x, y: lib.where(x > 0, x, y), shapes=[(3, 4), (3, 4)],
         name="from_compare"),
    Case("where", lambda lib, c, x, y: lib.where(c, x, y),
         make=make(bools((4,)), ints((4,)), uniform((4,))), nondiff=(0, 1), name="int_float"),
    # Note [where and NaN]: the unused branch gets a zero cotangent, but sqrt's own
    # derivative at negative x is NaN and 0 * NaN poisons the gradient, as in PyTorch ...
    Case("where", _where_nan_branch, shapes=[(6,)], name="nan_branch", tags=(NO_FD,)),
    # ... unless the unsafe branch is computed on safe inputs (the double-where trick)
    Case("where", lambda lib, x: lib.where(x > 0, lib.where(x > 0, x, 1.0).sqrt(), 0.0),
         shapes=[(6,)], name="double_where"),
    Case("where", lambda lib, c, x, y: lib.where(c, x, y),
         make=make(bools((4,)), ints((4,)), ints((4,))), name="int", grad=False),
    Case("where", lambda lib, c: lib.where(c, 1.0, 0.0), make=make(bools((4,))),
         name="two_floats", grad=False),
    Case("where", lambda lib, c: lib.where(c, 1, 0), make=make(bools((4,))),
         name="two_ints", grad=False),
    Case("where", lambda lib, c: lib.where(c, 2, 0.5), make=make(bools((4,))),
         name="int_and_float", grad=False),
    Case("lerp", lambda lib, s, e, w: lib.lerp(s, e, w),
         make=make(uniform((3, 4)), uniform((3, 4)), uniform((3, 4), 0, 1))),
    Case("lerp", lambda lib, s, e: lib.lerp(s, e, 0.3), shapes=[(3, 4), (3, 4)],
         name="scalar_weight"),
    Case("lerp", lambda lib, s, e, w: s.lerp(e, w),
         make=make(uniform((3, 4)), uniform((4,)), uniform((3, 1), 0, 1)), name="bcast"),
    Case("lerp", lambda lib, s, e, w: lib.lerp(s, e, w),
         make=make(uniform(()), uniform(()), uniform((), 0, 1)), name="0d"),
]

CASES = UNARY_CASES + BINARY_CASES + COMPARE_CASES + PREDICATE_CASES + THREE_INPUT_CASES
