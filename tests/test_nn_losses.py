"""Losses of ``chainrule.nn`` against PyTorch: values and gradients in float64 for every
reduction and option, through both the module and the functional form."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn

torch = pytest.importorskip("torch")

REDUCTIONS = ("mean", "sum", "none")


def _rand(shape, seed, kind="normal"):
    rng = np.random.default_rng(seed)
    if kind == "prob":
        return rng.uniform(0.05, 0.95, shape)
    if kind == "simplex":
        a = rng.uniform(0.1, 1.0, shape)
        return a / a.sum(axis=1, keepdims=True)
    return rng.standard_normal(shape)


def _check(make, arrays, grad_positions=(0,), rtol=1e-10):
    """``make(lib, *tensors)`` on both libraries: the value and the gradients of the
    float inputs at ``grad_positions`` must agree."""
    outs, grads = [], []
    for lib in (torch, cr):
        ts = [lib.tensor(a, requires_grad=(i in grad_positions)) for i, a in enumerate(arrays)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = make(lib, *ts)
        v = _rand(tuple(out.shape), 9)
        out.backward(lib.tensor(v))
        outs.append(out.detach().numpy())
        grads.append([ts[i].grad.numpy() for i in grad_positions])
    np.testing.assert_allclose(outs[1], outs[0], rtol=rtol, atol=1e-12, err_msg="value")
    for k, (a, b) in enumerate(zip(grads[0], grads[1])):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=1e-12, err_msg=f"grad {k}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kw", [("MSELoss", {}), ("L1Loss", {}),
                                     ("SmoothL1Loss", {"beta": 0.5}),
                                     ("SmoothL1Loss", {"beta": 0.0}),
                                     ("HuberLoss", {"delta": 0.7})])
def test_regression_losses(name, kw, reduction):
    x, y = _rand((4, 3), 0), _rand((4, 3), 1)
    _check(lambda L, a, b: getattr(L.nn, name)(reduction=reduction, **kw)(a, b), [x, y],
           grad_positions=(0, 1))


@pytest.mark.parametrize("fn", ["mse_loss", "l1_loss", "huber_loss"])
def test_weighted_regression_losses(fn):
    x, y, w = _rand((4, 3), 0), _rand((4, 3), 1), _rand((4, 3), 2, "prob")
    for reduction in REDUCTIONS:
        _check(lambda L, a, b, c, r=reduction: getattr(L.nn.functional, fn)(
            a, b, reduction=r, weight=c), [x, y, w])


def test_regression_broadcast_warns_like_torch():
    with pytest.warns(UserWarning, match="Using a target size"):
        F.mse_loss(cr.zeros(3, 1), cr.zeros(3))


CE_CASES = [
    ("plain", (5, 4), {}),
    ("weight", (5, 4), {"weight": True}),
    ("ignore_index", (6, 4), {"ignore_index": 1}),
    ("weight_ignore", (6, 4), {"weight": True, "ignore_index": 2}),
    ("smoothing", (5, 4), {"label_smoothing": 0.2}),
    ("smoothing_weight_ignore", (6, 4), {"label_smoothing": 0.1, "weight": True,
                                         "ignore_index": 0}),
    ("spatial", (2, 4, 3, 2), {"weight": True}),
    ("unbatched", (4,), {}),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,shape,kw", CE_CASES, ids=[c[0] for c in CE_CASES])
def test_cross_entropy_class_indices(name, shape, kw, reduction):
    c = shape[1] if len(shape) > 1 else shape[0]
    rng = np.random.default_rng(3)
    tshape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
    target = rng.integers(0, c, size=tshape)
    weight = _rand(c, 4, "prob")

    def make(L, x, t, w):
        opts = dict(kw)
        if opts.pop("weight", False):
            opts["weight"] = w
        return L.nn.CrossEntropyLoss(reduction=reduction, **opts)(x, t)

    _check(make, [_rand(shape, 0), target, weight])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_probabilities(reduction, smoothing, weighted):
    def make(L, x, t, w):
        return L.nn.functional.cross_entropy(x, t, weight=w if weighted else None,
                                             reduction=reduction, label_smoothing=smoothing)

    _check(make, [_rand((5, 4), 0), _rand((5, 4), 1, "simplex"), _rand(4, 2, "prob")],
           grad_positions=(0, 1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(reduction):
    rng = np.random.default_rng(0)
    target = rng.integers(0, 3, size=(6,))
    target[1] = -100

    def make(L, x, t, w):
        return L.nn.NLLLoss(weight=w, reduction=reduction)(x.log_softmax(1), t)

    _check(make, [_rand((6, 3), 0), target, _rand(3, 1, "prob")])


def test_class_index_errors():
    x = cr.randn(3, 4)
    with pytest.raises(IndexError, match="Target 4 is out of bounds"):
        F.cross_entropy(x, cr.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match="Expected input batch_size \\(3\\) to match target "
                                         "batch_size \\(2\\)"):
        F.nll_loss(x, cr.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="Expected floating point type for target"):
        F.cross_entropy(x, cr.zeros(3, 4, dtype=cr.int64))
    nan = F.cross_entropy(x, cr.tensor([-100, -100, -100]))
    assert np.isnan(nan.item())


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce(reduction):
    def make(L, p, t, w):
        return L.nn.BCELoss(weight=w, reduction=reduction)(p, t)

    _check(make, [_rand((4, 3), 0, "prob"), _rand((4, 3), 1, "prob"), _rand((4, 3), 2, "prob")],
           grad_positions=(0, 1))


def test_bce_clamps_log_and_checks_range():
    p = cr.tensor([0.0, 1.0, 0.5])
    t = cr.tensor([1.0, 0.0, 1.0])
    theirs = torch.nn.functional.binary_cross_entropy(torch.tensor([0.0, 1.0, 0.5]),
                                                      torch.tensor([1.0, 0.0, 1.0]),
                                                      reduction="none")
    np.testing.assert_allclose(F.binary_cross_entropy(p, t, reduction="none").numpy(),
                               theirs.numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(cr.tensor([1.5]), cr.tensor([1.0]))
    with pytest.raises(ValueError, match="Using a target size"):
        F.binary_cross_entropy(cr.tensor([0.5]), cr.tensor([[1.0]]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", ["plain", "weight", "pos_weight", "both"])
def test_bce_with_logits(reduction, options):
    def make(L, x, t, w, pw):
        return L.nn.BCEWithLogitsLoss(weight=w if options in ("weight", "both") else None,
                                      pos_weight=pw if options in ("pos_weight", "both")
                                      else None, reduction=reduction)(x, t)

    x = _rand((4, 3), 0) * 4
    x[0, 0] = 0.0  # the kink of |x| in the stable formula: PyTorch's gradient there
    x[1, 1] = 40.0  # large logits stay finite
    _check(make, [x, _rand((4, 3), 1, "prob"), _rand((4, 3), 2, "prob"),
                  _rand(3, 3, "prob") * 3], grad_positions=(0, 1))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    def make(L, x, t):
        return L.nn.KLDivLoss(reduction=reduction, log_target=log_target)(x.log_softmax(1), t)

    t = _rand((3, 4), 1, "simplex")
    if log_target:
        t = np.log(t)
    _check(make, [_rand((3, 4), 0), t], grad_positions=(0, 1))
    if not log_target:
        # 0 * log 0 = 0; at t = 0 PyTorch's gradient for the target is NaN (log 0 + 1
        # times 0), ours is finite: compare the input's gradient only
        t[0, 0] = 0.0
        _check(make, [_rand((3, 4), 0), t], grad_positions=(0,))


def test_legacy_reduction_flags():
    x, y = cr.randn(3, 2), cr.randn(3, 2)
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        loss = nn.MSELoss(size_average=False)
    assert loss.reduction == "sum"
    np.testing.assert_allclose(loss(x, y).item(), ((x - y) ** 2).sum().item())
    with pytest.warns(UserWarning):
        assert F.l1_loss(x, y, reduce=False).shape == (3, 2)
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        F.mse_loss(x, y, reduction="avg")


def test_loss_modules_state_dict_holds_weights():
    w = cr.tensor([1.0, 2.0])
    loss = nn.CrossEntropyLoss(weight=w)
    assert list(loss.state_dict()) == ["weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    assert list(nn.BCEWithLogitsLoss(pos_weight=w).state_dict()) == ["pos_weight"]
