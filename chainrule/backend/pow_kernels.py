"""``x ** c`` for a Python-number exponent ``c``, as PyTorch computes it: two words of
the NumPy rule namespace (``pow_scalar``, ``pow_scalar_grad``), so the eager rule and
the code ``chainrule.compile`` generates run the same kernel.

Note [pow special exponents]: PyTorch computes x ** 2 as x * x, x ** 3 as x * x * x,
x ** -1 as 1 / x, x ** -2 as 1 / (x * x), and, for float32/float64 only, x ** 0.5 as
sqrt(x) and x ** -0.5 as 1 / sqrt(x) (so (-0.0) ** 0.5 is -0.0, unlike C's pow);
float16 computes in float32 and rounds once.  NumPy's general power is up to 80x
slower on negative bases (x ** 3) and may differ in the last bit.
"""

from __future__ import annotations

import numpy as np

_F16 = np.dtype(np.float16)


def _cube(x):
    r = x * x
    r *= x
    return r


def _inv_square(x):
    r = x * x  # (a NumPy scalar for a 0-d x: no out=)
    return np.divide(1, r, out=r) if type(r) is np.ndarray else 1 / r


def rsqrt(x):
    """``1 / sqrt(x)``."""
    r = np.sqrt(x)
    return np.divide(1, r, out=r) if type(r) is np.ndarray else 1 / r


_FAST = {
    2: lambda x: x * x,
    3: _cube,
    -1: lambda x: 1 / x,
    -2: _inv_square,
    0.5: np.sqrt,
    -0.5: rsqrt,
}


def pow_scalar(x, c):
    """``x ** c`` (Note [pow special exponents])."""
    fast = _FAST.get(c)
    if fast is not None and type(x) is np.ndarray and x.dtype.kind == "f":
        if x.dtype != _F16:
            return fast(x)
        if c == 3 or c == -2:
            return fast(x.astype(np.float32)).astype(np.float16)
        if c == 2 or c == -1:
            return fast(x)
    return np.power(x, c)


# exponents of a derivative (c - 1) that NumPy's general power computes slowly on
# negative bases; within an ulp of PyTorch's pow (which takes its general path there)
def _inv_cube(x):
    r = _cube(x)  # (in place on one new array: one allocation, as PyTorch's one pass)
    return np.divide(1, r, out=r) if type(r) is np.ndarray else 1 / r


def _inv_x_sqrt_x(x):
    r = np.sqrt(x)
    if type(r) is not np.ndarray:
        return np.float64(0).astype(x.dtype) if x == -np.inf else 1 / (x * r)
    np.multiply(r, x, out=r)
    np.divide(1, r, out=r)
    np.copyto(r, 0, where=x == -np.inf)  # (-inf) ** -1.5 is 0, as C's pow
    return r


_DERIV = {
    -3: _inv_cube,
    4: lambda x: (x * x) * (x * x),
    -1.5: _inv_x_sqrt_x,
}


def pow_scalar_grad(x, c):
    """``c * x ** (c - 1)``, the derivative of ``x ** c`` (``c`` not 0), with the same
    special exponents as the forward."""
    m = c - 1
    fast = _DERIV.get(m)
    if fast is not None and type(x) is np.ndarray and x.dtype.kind == "f" and \
            x.dtype != _F16:
        r = fast(x)
    else:
        r = pow_scalar(x, m)
    if type(r) is np.ndarray and r.dtype.kind == "f" and r is not x:
        r *= c  # a new array: scaled in place, no second allocation
        return r
    return c * r
