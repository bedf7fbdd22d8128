"""``chainrule.autograd.explain``: the backward pass told node by node, with numbers.

On the founding example with v = (1, 2) it must show the vector-Jacobian product the
way the post writes it, ``1·[2, 4] + 2·[2, 24] = [6, 52]``, and leave the graph and
every ``.grad`` exactly as they were.
"""

import io
import json

import numpy as np
import pytest

import chainrule as torch
from chainrule.autograd import explain

pytestmark = pytest.mark.chainrule_only


def seed():
    x = torch.tensor([[1, 2]], requires_grad=True)
    y = torch.zeros(1, 2)
    y[0, 0] = 2 * x[0, 0] + x[0, 1] ** 2
    y[0, 1] = x[0, 0] ** 2 + 2 * x[0, 1] ** 3
    return x, y


def test_seed_numbers():
    x, y = seed()
    out = io.StringIO()
    text = explain(y, torch.tensor([[1, 2]]), file=out)
    assert out.getvalue() == text + "\n"
    assert "x.grad += vᵀJ = 1·[2, 4] + 2·[2, 24] = [6, 52]" in text
    assert "[[2, 4], [2, 24]]" in text                       # J, row by row
    assert "rows y[0, 0], y[0, 1]; columns x[0, 0], x[0, 1]" in text
    assert "d/da a**3 = 3*a**2" in text                      # operands named a, b, c
    assert "d/da a**2 = 2*a" in text and "d/db (2 * b) = 2" in text
    assert "local derivative d out/d a = 12" in text         # 3 * 2**2 at x2 = 2
    assert "AccumulateGrad (x)   [[0, 48]]" in text           # 2 * (3 * x2**2) * v2
    assert "= [[6, 52]]" in text                             # the four pieces summed
    assert x.grad is None


def test_unnamed_leaves():
    _x, y = seed()  # names starting with "_" are not used
    text = explain(y, torch.tensor([[1, 2]]), file=io.StringIO())
    assert "leaf.grad += vᵀJ = 1·[2, 4] + 2·[2, 24] = [6, 52]" in text


def test_order_is_decreasing_sequence():
    _, y = seed()
    text = explain(y, torch.tensor([[1, 2]]), file=io.StringIO())
    seqs = [int(line.split()[0][1:]) for line in text.splitlines() if line.startswith("#")]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == 14


def test_graph_and_grads_untouched():
    x, y = seed()
    calls = []
    x.register_hook(lambda g: calls.append(g))
    explain(y, torch.tensor([[1, 2]]), file=io.StringIO())
    explain(y, torch.tensor([[2, 1]]), file=io.StringIO())
    assert x.grad is None and calls == []                  # no .grad, no hooks run
    v = torch.tensor([[1, 2]])
    y.backward(v)                                           # saved values still there
    assert x.grad.tolist() == [[6, 52]]
    assert v.tolist() == [[1, 2]]
    with pytest.raises(RuntimeError, match="second time"):
        explain(y, torch.tensor([[1, 2]]), file=io.StringIO())


def test_scalar_output_and_large_tensors():
    a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = torch.ones(20, requires_grad=True)
    loss = (a.exp() * 2).sum() + (b ** 2).mean()
    text = explain(loss, file=io.StringIO())
    assert "loss.backward(v) with v = 1" in text
    assert "a.grad += vᵀJ = 1·[5.43656, 14.7781, 40.1711] = [5.43656, 14.7781, 40.1711]" in text
    assert "(20,) float32, norm 0.447214" in text            # 2/20 * 20 ones: norm √0.2
    assert "(J is 1×20)" in text


def test_several_outputs_and_names():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    p, q = x * x, x.sum()
    text = explain([p, q], [torch.tensor([1.0, 1.0]), torch.tensor(3.0)],
                   file=io.StringIO(), params={"x": x, "p": p, "q": q})
    assert "autograd.backward([p, q], v)" in text
    assert "J = d(p, q)/dx: rows p[0], p[1], q; columns x[0], x[1]" in text
    assert "x.grad += vᵀJ = 1·[2, 0] + 1·[0, 4] + 3·[1, 1] = [5, 7]" in text
    x.grad = None
    torch.autograd.backward([p, q], [torch.tensor([1.0, 1.0]), torch.tensor(3.0)])
    np.testing.assert_allclose(x.grad.numpy(), [5, 7])


def test_agrees_with_backward_on_random_graphs():
    rng = np.random.default_rng(0)
    for _ in range(5):
        w = torch.tensor(rng.normal(size=(3, 2)), requires_grad=True)
        b = torch.tensor(rng.normal(size=2), requires_grad=True)
        x = torch.tensor(rng.normal(size=(4, 3)))
        y = ((x @ w + b).tanh() * (x @ w).sigmoid()).sum(0)
        v = torch.tensor(rng.normal(size=2))
        text = explain(y, v, file=io.StringIO(), params={"w": w, "b": b, "y": y})
        y.backward(v)
        for name, t in (("w", w), ("b", b)):
            line = next(s for s in text.splitlines() if s.startswith(f"  {name}.grad += vᵀJ"))
            shown = np.array(json.loads(line.rsplit("= ", 1)[1]))
            np.testing.assert_allclose(shown, t.grad.numpy().reshape(-1), rtol=1e-5)


def test_jacobian_rows_match_batched_grad():
    # the summary's J is the one autograd.grad(..., is_grads_batched=True) computes
    rng = np.random.default_rng(1)
    w = torch.tensor(rng.normal(size=(2, 3)), requires_grad=True)
    x = torch.tensor(rng.normal(size=3))
    y = (w @ x).sin() * w.sum(1)
    text = explain(y, torch.tensor([1.0, -2.0]), file=io.StringIO(), params={"w": w, "y": y})
    line = text.splitlines()[text.splitlines().index(next(
        s for s in text.splitlines() if s.startswith("  J = d(y)/dw"))) + 1]
    shown = np.array(json.loads(line.strip()))
    (J,) = torch.autograd.grad(y, w, torch.eye(2, dtype=torch.float64), retain_graph=True,
                               is_grads_batched=True)
    np.testing.assert_allclose(shown, J.numpy().reshape(2, -1), rtol=1e-5)


def test_explain_without_v_on_a_vector_says_how():
    """README writes explain(y, v) for the founding example; explain(y) tells the user."""
    _x, y = seed()
    with pytest.raises(RuntimeError, match=r"explain\(y, v\) with v of shape \[1, 2\]"):
        explain(y)
