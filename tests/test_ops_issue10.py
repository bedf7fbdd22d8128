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
    if theirs.dtype.is_floating_point:  # PyTorch may fuse a multiply-add (one rounding)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-12)
    else:
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


# ---- index_add / index_copy / index_fill: integer dtypes, alpha, refusals --------------------

X = np.arange(12).reshape(3, 4)
SRC = np.arange(6).reshape(3, 2) - 2
IDX = np.array([3, 1])


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "float32", "bool"])
def test_index_ops_dtypes(dtype):
    x, s = X.astype(dtype), SRC.astype(dtype)
    same(*both(lambda lib, a, i, b: lib.index_add(a, 1, i, b), x, IDX, s))
    same(*both(lambda lib, a, i, b: a.index_add(1, i, b, alpha=2), x, IDX, s))
    same(*both(lambda lib, a, i, b: lib.index_copy(a, 1, i, b), x, IDX, s))
    same(*both(lambda lib, a, i: lib.index_fill(a, 1, i, True), x, IDX))
    same(*both(lambda lib, a, i: a.index_fill(0, i[:1] - 4, 1), x, IDX))  # negative index
    same(*both(lambda lib, a, i, b: a.clone().index_add_(1, i.int(), b, alpha=1), x, IDX, s))


@pytest.mark.parametrize("alpha", [1.5, -2.7, 0.0, True, -2, 255.9, -0.5, 300])
@pytest.mark.parametrize("dt", ["int64", "uint8", "float64"])
def test_index_add_alpha_cast(alpha, dt):
    x, s = X.astype(dt), SRC.astype(dt) % 5

    def fn(lib, a, i, b):
        return lib.index_add(a, 1, i, b, alpha=alpha)
    try:
        fn(torch, *(torch.tensor(v) for v in (x, IDX, s)))
    except RuntimeError:
        raises_like(fn, x, IDX, s)
    else:
        same(*both(fn, x, IDX, s))


def test_index_fill_value_casts():
    same(*both(lambda lib, a, i: a.index_fill(1, i, 2.7), X, IDX))
    same(*both(lambda lib, a, i: a.index_fill(1, i, lib.tensor(2.7)), X, IDX))
    same(*both(lambda lib, a, i: a.float().index_fill(1, i, lib.tensor(2, dtype=lib.int8)),
               X, IDX))


@pytest.mark.parametrize("fn", [
    lambda lib, a, i, s: lib.index_add(a, 1, i.float(), s),
    lambda lib, a, i, s: lib.index_add(a, 1, i.reshape(1, 2), s),
    lambda lib, a, i, s: lib.index_add(a, 1, i, s.float()),
    lambda lib, a, i, s: lib.index_add(a, 1, i, s[:2]),
    lambda lib, a, i, s: lib.index_add(a, 1, i, s[:, :1]),
    lambda lib, a, i, s: lib.index_add(a, 1, i, s.reshape(6)),
    lambda lib, a, i, s: lib.index_add(a, 1, i + 1, s),
    lambda lib, a, i, s: lib.index_add(a, 1, i - 4, s),
    lambda lib, a, i, s: lib.index_add(a, 2, i, s),
    lambda lib, a, i, s: lib.index_add(a.sum(), 0, i[:1], s[:1, :1]),
    lambda lib, a, i, s: lib.index_copy(a, 1, i.int(), s),
    lambda lib, a, i, s: lib.index_copy(a, 1, i, s.double()),
    lambda lib, a, i, s: lib.index_copy(a, 1, i + 1, s),
    lambda lib, a, i, s: lib.index_copy(a, 1, i, s[:, :1]),
    lambda lib, a, i, s: lib.index_copy(a, 1, i.reshape(2, 1), s),
    lambda lib, a, i, s: lib.index_copy(a, 1, i, s[0]),
    lambda lib, a, i, s: lib.index_fill(a, 1, i.int(), 1),
    lambda lib, a, i, s: lib.index_fill(a, 1, i + 1, 1),
    lambda lib, a, i, s: lib.index_fill(a, 1, i.reshape(2, 1), 1),
    lambda lib, a, i, s: lib.index_fill(a, 1, i, s),
    lambda lib, a, i, s: lib.index_fill(a.byte(), 1, i, 300),
    lambda lib, a, i, s: lib.index_fill(a, 1, i, 1j),
    lambda lib, a, i, s: lib.index_fill(a, 1, i, "1"),
])
def test_index_ops_refusals(fn):
    raises_like(fn, X, IDX, SRC)
