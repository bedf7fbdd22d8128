"""Misuse raises PyTorch's exception type, with a message that helps.

Each case runs on both libraries: the exception type must agree with
torch's. Message contents (op name, shapes, the fix) are chainrule's own
promise and are checked only when chainrule is under test, since torch's
texts do not always include them.
"""

import operator

import pytest
from conftest import (
    TESTING_TORCH,
    Raised,
    assert_mirrors,
    mentions_number,
    mentions_shape,
)
from hypothesis import given, settings
from hypothesis import strategies as st


def expect_error(script, cr, torch, exc_type):
    """Assert both libraries raise ``exc_type``; return chainrule's message
    (``None`` in the torch self-check, where messages are not checked)."""
    ours = assert_mirrors(script, cr, torch)
    assert isinstance(ours, Raised) and issubclass(ours.type, exc_type), ours
    return None if TESTING_TORCH else ours.message


def assert_mentions(message, *, shapes=(), words=(), numbers=()):
    if message is None:
        return
    for shape in shapes:
        assert mentions_shape(message, shape), (shape, message)
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    for number in numbers:
        assert mentions_number(message, number), (number, message)


BINARY_OPS = {"add": operator.add, "sub": operator.sub,
              "mul": operator.mul, "div": operator.truediv}


@pytest.mark.parametrize("op", sorted(BINARY_OPS))
def test_broadcasting_mismatch(cr, torch, op):
    def script(lib):
        BINARY_OPS[op](lib.ones(2, 3), lib.ones(4))

    message = expect_error(script, cr, torch, RuntimeError)
    assert_mentions(message, shapes=[(2, 3), (4,)], words=[op])


@given(left=st.lists(st.integers(1, 4), max_size=3),
       right=st.lists(st.integers(1, 4), max_size=3))
@settings(max_examples=60, deadline=None)
def test_broadcasting_fuzz(cr, torch, left, right):
    def script(lib):
        return tuple((lib.ones(left) + lib.ones(right)).shape)

    assert_mirrors(script, cr, torch)


def test_matmul_shape_mismatch(cr, torch):
    def script(lib):
        lib.ones(2, 3) @ lib.ones(4, 5)

    message = expect_error(script, cr, torch, RuntimeError)
    assert_mentions(message, shapes=[(2, 3), (4, 5)], words=["matmul"])


@pytest.mark.parametrize("index, shape, dim_size", [
    (5, (3,), 3), (-4, (3,), 3), ((1, 5), (3, 2), 2), ([0, 5], (3,), 3),
], ids=["positive", "negative", "second_dim", "index_list"])
def test_index_out_of_range(cr, torch, index, shape, dim_size):
    def script(lib):
        lib.ones(shape)[index]

    message = expect_error(script, cr, torch, IndexError)
    bad = index[-1] if isinstance(index, (tuple, list)) else index
    assert_mentions(message, numbers=[bad, dim_size])


def test_wrong_gradient_shape_in_backward(cr, torch):
    def script(lib):
        x = lib.ones(2, 3, requires_grad=True)
        (x * 2).backward(lib.ones(3, 2))

    message = expect_error(script, cr, torch, RuntimeError)
    assert_mentions(message, shapes=[(2, 3), (3, 2)])


def test_backward_on_tensor_not_requiring_grad(cr, torch):
    def script(lib):
        lib.ones(3).sum().backward()

    message = expect_error(script, cr, torch, RuntimeError)
    assert_mentions(message, words=["requires_grad"])


@pytest.mark.parametrize("data", ["abc", [1, "a"], ["a"]],
                         ids=["str", "mixed", "str_list"])
def test_non_numeric_data(cr, torch, data):
    def script(lib):
        lib.tensor(data)

    ours = assert_mirrors(script, cr, torch)
    assert isinstance(ours, Raised) and issubclass(
        ours.type, (TypeError, ValueError)), ours


def test_ragged_data(cr, torch):
    def script(lib):
        lib.tensor([[1, 2], [3]])

    expect_error(script, cr, torch, ValueError)


@pytest.mark.parametrize("dtype", ["foo", "float32", 3],
                         ids=["unknown_name", "numpy_style_name", "int"])
def test_unsupported_dtype(cr, torch, dtype):
    def script(lib):
        lib.tensor([1], dtype=dtype)

    message = expect_error(script, cr, torch, TypeError)
    assert_mentions(message, words=["dtype"])
