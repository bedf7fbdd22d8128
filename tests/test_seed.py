"""The founding transcript (shared/seed/000_9690b22d7bea17b5.txt).

    x = torch.tensor([[1, 2]], requires_grad=True)
    y = torch.zeros(1, 2)
    y[0, 0] = 2 * x[0, 0] + x[0, 1] ** 2
    y[0, 1] = x[0, 0] ** 2 + 2 * x[0, 1] ** 3
    y.backward(torch.tensor([[1, 0]]), retain_graph=True)   # x.grad [[2, 4]]

The Jacobian at x = (1, 2) is [[2, 2*x2], [2*x1, 6*x2**2]] = [[2, 4], [2, 24]],
so a gradient (k1, k2) gives k1 * [2, 4] + k2 * [2, 24].

chainrule runs the transcript unchanged, integer leaf included: an integer
leaf may require grad and its ``.grad`` is floating. PyTorch 2.x refuses
integer leaves that require grad, so the oracle always uses ``[[1., 2.]]``,
and so does the library under test in the CHAINRULE_TEST_LIB=torch run.
"""

import numpy as np
import pytest
from conftest import TESTING_TORCH, dtype_name, to_np

# (gradient passed to y.backward, x.grad it produces), checked by hand above.
TRANSCRIPT = [
    ([[1, 0]], [[2.0, 4.0]]),
    ([[0, 1]], [[2.0, 24.0]]),
    ([[1, 2]], [[6.0, 52.0]]),
    ([[2, 1]], [[6.0, 32.0]]),
]

LEAVES = pytest.mark.parametrize("int_leaf", [True, False],
                                 ids=["int_leaf", "float_leaf"])


def leaf_data(int_leaf):
    if int_leaf and not TESTING_TORCH:
        return [[1, 2]]
    return [[1.0, 2.0]]


def build(lib, data):
    x = lib.tensor(data, requires_grad=True)
    y = lib.zeros(1, 2)
    y[0, 0] = 2 * x[0, 0] + x[0, 1] ** 2
    y[0, 1] = x[0, 0] ** 2 + 2 * x[0, 1] ** 3
    return x, y


@LEAVES
def test_forward_values(cr, torch, int_leaf):
    x, y = build(cr, leaf_data(int_leaf))
    _, ty = build(torch, [[1.0, 2.0]])
    np.testing.assert_array_equal(to_np(y), [[6.0, 17.0]])
    np.testing.assert_array_equal(to_np(y), to_np(ty))
    assert dtype_name(y.dtype) == dtype_name(ty.dtype) == "float32"
    assert y.requires_grad and not y.is_leaf


@LEAVES
def test_backward_with_zeroing(cr, torch, int_leaf):
    x, y = build(cr, leaf_data(int_leaf))
    tx, ty = build(torch, [[1.0, 2.0]])
    assert x.grad is None
    for step, (gradient, expected) in enumerate(TRANSCRIPT):
        if step:
            x.grad.zero_()
            tx.grad.zero_()
        y.backward(cr.tensor(gradient), retain_graph=True)
        ty.backward(torch.tensor(gradient), retain_graph=True)
        np.testing.assert_array_equal(to_np(x.grad), expected)
        np.testing.assert_array_equal(to_np(x.grad), to_np(tx.grad))
        assert dtype_name(x.grad.dtype).startswith("float")
        assert tuple(x.grad.shape) == (1, 2)


@LEAVES
def test_backward_accumulates_without_zeroing(cr, torch, int_leaf):
    x, y = build(cr, leaf_data(int_leaf))
    tx, ty = build(torch, [[1.0, 2.0]])
    for gradient, _ in TRANSCRIPT:
        y.backward(cr.tensor(gradient), retain_graph=True)
        ty.backward(torch.tensor(gradient), retain_graph=True)
    total = np.sum([expected for _, expected in TRANSCRIPT], axis=0)
    np.testing.assert_array_equal(total, [[16.0, 112.0]])
    np.testing.assert_array_equal(to_np(x.grad), total)
    np.testing.assert_array_equal(to_np(x.grad), to_np(tx.grad))


def test_float_leaf_printing_matches_torch(cr, torch, capsys):
    x, y = build(cr, [[1.0, 2.0]])
    tx, ty = build(torch, [[1.0, 2.0]])
    assert repr(x) == repr(tx) == "tensor([[1., 2.]], requires_grad=True)"
    assert str(y) == str(ty) == "tensor([[ 6., 17.]], grad_fn=<CopySlices>)"
    print(x, y)
    assert capsys.readouterr().out == (
        "tensor([[1., 2.]], requires_grad=True) "
        "tensor([[ 6., 17.]], grad_fn=<CopySlices>)\n")
    y.backward(cr.tensor([[1, 0]]), retain_graph=True)
    ty.backward(torch.tensor([[1, 0]]), retain_graph=True)
    assert repr(x.grad) == repr(tx.grad) == "tensor([[2., 4.]])"


@pytest.mark.chainrule_only
def test_int_leaf_printing(cr):
    x, y = build(cr, [[1, 2]])
    assert dtype_name(x.dtype) == "int64"
    assert repr(x) == str(x) == "tensor([[1, 2]], requires_grad=True)"
    assert str(y) == "tensor([[ 6., 17.]], grad_fn=<CopySlices>)"
