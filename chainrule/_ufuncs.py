"""``Tensor.__array_ufunc__``: NumPy ufuncs applied to tensors run chainrule's ops.

Note [NumPy ufuncs on tensors]: ``np.sin(t)``, ``np.maximum(t, 0)``, ``ndarray * t`` call
``Tensor.__array_ufunc__``.  A plain call (``method == "__call__"``, no ``out=``, ``where=``,
``dtype=`` ...) of a ufunc that has a chainrule op runs that op, so the result is a Tensor
that keeps the graph (PyTorch instead converts through ``__array__``, which refuses tensors
that require grad).  ndarrays among the operands become tensors sharing their memory, NumPy
scalars become Python numbers (so ``np.float64(2) * t`` keeps ``t``'s dtype, as PyTorch).

Everything else behaves as PyTorch does for a tensor: the tensors are converted with
``__array__`` (a RuntimeError for one that requires grad), NumPy computes, and the result
comes back as a Tensor without history (an ``ndarray`` when ``out=`` was given, and from
``outer``, as PyTorch).  That covers
ufuncs with no chainrule op (``np.frexp``, ``np.modf`` ...), ``out=``/``where=``/``dtype=``
and the ``reduce``/``accumulate``/``outer``/``at`` methods.
"""

from __future__ import annotations

import operator

import numpy as np

from ._tensor import Tensor, wrap

__all__: list[str] = []

# ufunc name -> Python operator (binary and unary operators: dtype rules as t <op> x)
_OPERATORS = {
    "add": operator.add, "subtract": operator.sub, "multiply": operator.mul,
    "divide": operator.truediv, "true_divide": operator.truediv,
    "floor_divide": operator.floordiv, "remainder": operator.mod, "mod": operator.mod,
    "power": operator.pow, "matmul": operator.matmul,
    "less": operator.lt, "less_equal": operator.le, "greater": operator.gt,
    "greater_equal": operator.ge, "equal": operator.eq, "not_equal": operator.ne,
    "bitwise_and": operator.and_, "bitwise_or": operator.or_, "bitwise_xor": operator.xor,
    "left_shift": operator.lshift, "right_shift": operator.rshift,
    "negative": operator.neg, "invert": operator.invert,
}

# ufunc name -> chainrule function name (looked up at call time: a function chainrule
# lacks falls back to NumPy, as PyTorch's conversion does)
_FUNCTIONS = {
    "sin": "sin", "cos": "cos", "tan": "tan", "arcsin": "asin", "arccos": "acos",
    "arctan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "arcsinh": "asinh",
    "arccosh": "acosh", "arctanh": "atanh", "exp": "exp", "exp2": "exp2", "expm1": "expm1",
    "log": "log", "log2": "log2", "log10": "log10", "log1p": "log1p", "sqrt": "sqrt",
    "square": "square", "reciprocal": "reciprocal", "sign": "sign", "floor": "floor",
    "ceil": "ceil", "trunc": "trunc", "rint": "round", "isnan": "isnan", "isinf": "isinf",
    "isfinite": "isfinite", "signbit": "signbit", "deg2rad": "deg2rad",
    "rad2deg": "rad2deg", "degrees": "rad2deg", "radians": "deg2rad",
    "conjugate": "conj", "conj": "conj", "absolute": "abs", "fabs": "abs",
    "logical_not": "logical_not", "positive": "positive",
    "maximum": "maximum", "minimum": "minimum", "fmax": "fmax", "fmin": "fmin",
    "arctan2": "atan2", "hypot": "hypot", "copysign": "copysign", "logaddexp": "logaddexp",
    "logaddexp2": "logaddexp2", "heaviside": "heaviside", "nextafter": "nextafter",
    "gcd": "gcd", "lcm": "lcm", "logical_and": "logical_and", "logical_or": "logical_or",
    "logical_xor": "logical_xor", "ldexp": "ldexp", "float_power": "float_power",
    "fmod": "fmod",
}

_PLAIN = (int, float, complex, bool)


def _operand(x, as_tensor: bool):
    """An operand for a chainrule op: tensors stay, NumPy scalars become Python numbers
    (or 0-d tensors where the op takes tensors only), arrays become tensors sharing
    memory."""
    if isinstance(x, Tensor):
        return x
    from ._creation import as_tensor as _as_tensor
    if isinstance(x, np.bool_):
        x = float(x)  # PyTorch reads a NumPy bool scalar as a float (np.True_ * u8 is float)
    elif isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, _PLAIN):
        return _as_tensor(x) if as_tensor else x
    return _as_tensor(x)


def _direct(ufunc, inputs):
    """The chainrule op for ``ufunc(*inputs)``, or None."""
    name = ufunc.__name__
    op = _OPERATORS.get(name)
    if op is not None:
        return op(*[_operand(x, False) for x in inputs])
    if name == "divmod":
        a, b = (_operand(x, False) for x in inputs)
        return a // b, a % b
    fname = _FUNCTIONS.get(name)
    if fname is None:
        return None
    import chainrule
    fn = getattr(chainrule, fname, None)
    if fn is None:
        return None
    args = [_operand(x, True) for x in inputs]
    return fn(*args)


def _no_extras(kwargs) -> bool:
    for k, v in kwargs.items():
        if k == "where" and v is True:
            continue
        if k == "out" and v is None:
            continue
        return False
    return True


def _to_numpy(x):
    return np.asarray(x) if isinstance(x, Tensor) else x  # __array__: refuses requires_grad


def _wrap_result(r):
    if isinstance(r, tuple):
        return tuple(_wrap_result(x) for x in r)
    if isinstance(r, (np.ndarray, np.generic)):
        return wrap(np.asarray(r))
    return r


def array_ufunc(self, ufunc, method, *inputs, **kwargs):
    for x in inputs:
        if not isinstance(x, (Tensor, np.ndarray, np.generic) + _PLAIN) and \
                getattr(type(x), "__array_ufunc__", None) is not None and \
                not isinstance(x, (list, tuple)):
            return NotImplemented  # another array type: let it handle the call (NEP 13)
    if method == "__call__" and _no_extras(kwargs):
        r = _direct(ufunc, inputs)
        if r is not None:
            return r
    out = kwargs.get("out")
    if out is not None:
        outs = out if isinstance(out, tuple) else (out,)
        if any(isinstance(o, Tensor) for o in outs):
            raise TypeError(f"np.{ufunc.__name__}(..., out=tensor): NumPy cannot write into "
                            f"a chainrule Tensor (return arrays must be of ArrayType); use "
                            f"the chainrule op with out=, or an ndarray out")
    inputs = tuple(_to_numpy(x) for x in inputs)
    if "where" in kwargs:
        kwargs["where"] = _to_numpy(kwargs["where"])
    result = getattr(ufunc, method)(*inputs, **kwargs)
    if out is not None or method in ("at", "outer"):
        return result  # as PyTorch: NumPy's own result (``outer`` is not wrapped there)
    return _wrap_result(result)


Tensor.__array_ufunc__ = array_ufunc
