"""Issue 10's plain (non-differentiable) functions and creation fixes, against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule

torch = pytest.importorskip("torch")

INT_DTYPES = ("uint8", "int8", "int16", "int32", "int64")


def same(ours, theirs):
    """Values, dtype and shape equal (nan where torch has nan)."""
    if isinstance(theirs, (tuple, list)):
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            same(o, t)
        return
    assert str(ours.dtype) == str(theirs.dtype), (ours.dtype, theirs.dtype)
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def both(fn, *arrays):
    return (fn(chainrule, *(chainrule.tensor(a) for a in arrays)),
            fn(torch, *(torch.tensor(a) for a in arrays)))


def raises_like(fn, *arrays):
    """chainrule raises the exception type torch raises."""
    with pytest.raises(Exception) as theirs:
        fn(torch, *(torch.tensor(a) for a in arrays))
    with pytest.raises(type(theirs.value)):
        fn(chainrule, *(chainrule.tensor(a) for a in arrays))


# ---- torch.tensor(range) -------------------------------------------------------------------

@pytest.mark.parametrize("data", [range(3), range(0), range(5, -3, -2), [range(2), range(2)],
                                  (range(3), [4, 5, 6]), [range(2), [1.5, 2.0]],
                                  [range(0), range(0)]],
                         ids=str)
def test_tensor_from_range(data):
    same(chainrule.tensor(data), torch.tensor(data))
    same(chainrule.as_tensor(data), torch.as_tensor(data))
    same(chainrule.tensor(data, dtype=chainrule.float32),
         torch.tensor(data, dtype=torch.float32))


def test_tensor_from_ragged_ranges():
    with pytest.raises(ValueError):
        torch.tensor([range(2), range(3)])
    with pytest.raises(ValueError):
        chainrule.tensor([range(2), range(3)])


# ---- shifts ---------------------------------------------------------------------------------

SHIFTS = [lambda lib, x, y: x << y, lambda lib, x, y: x >> y,
          lambda lib, x, y: lib.bitwise_left_shift(x, y),
          lambda lib, x, y: lib.bitwise_right_shift(x, y),
          lambda lib, x, y: x.bitwise_left_shift(y), lambda lib, x, y: x.bitwise_right_shift(y)]


@pytest.mark.parametrize("dx", INT_DTYPES)
@pytest.mark.parametrize("dy", INT_DTYPES)
@pytest.mark.parametrize("k", range(len(SHIFTS)))
def test_shift_every_int_dtype(dx, dy, k):
    rng = np.random.default_rng(0)
    info = np.iinfo(dx)
    x = rng.integers(info.min, int(info.max) + 1, 40).astype(dx)
    lo = max(int(np.iinfo(dy).min), -80)
    y = rng.integers(lo, min(int(np.iinfo(dy).max), 80) + 1, 40).astype(dy)
    same(*both(SHIFTS[k], x, y))


@pytest.mark.parametrize("dx", INT_DTYPES)
@pytest.mark.parametrize("amount", [-200, -65, -1, 0, 1, 7, 8, 15, 16, 31, 32, 63, 64, 100,
                                    300, 2 ** 40, True])
def test_shift_python_amounts(dx, amount):
    x = np.array([0, 1, -1, 5, -5, 100, -100, 127], dtype=np.int64).astype(dx)
    for f in (lambda lib, t: t << amount, lambda lib, t: t >> amount,
              lambda lib, t: amount << t if abs(amount) < 2 ** 31 else t,
              lambda lib, t: amount >> t if abs(amount) < 2 ** 31 else t):
        same(*both(f, x))


def test_shift_promotion_and_inplace():
    x = np.array([1, -2, 3], np.int8)
    y = np.array([1, 2, 9], np.int32)
    same(*both(lambda lib, a, b: a << b, x, y))
    same(*both(lambda lib, a, b: lib.bitwise_left_shift(3, b), x, y))
    same(*both(lambda lib, a: a.bool() << 1, x))

    def ip(lib, a, b):
        a <<= b
        a >>= 1
        a.bitwise_left_shift_(b)
        return a.bitwise_right_shift_(2)
    same(*both(ip, x, y))
    same(*both(lambda lib, a: a << lib.tensor([], dtype=lib.int8), np.zeros(0, np.int8)))


@pytest.mark.parametrize("fn", [lambda lib, x: x.float() << 1, lambda lib, x: x >> 1.5,
                                lambda lib, x: x.bool() << x.bool(),
                                lambda lib, x: 1.5 << x,
                                lambda lib, x: x << x.double(),
                                lambda lib, x: x.bitwise_right_shift_(x.reshape(3, 1)),
                                lambda lib, x: x.char().__ilshift__(x.float())])
def test_shift_refusals(fn):
    raises_like(fn, np.array([1, 2, 3]))
