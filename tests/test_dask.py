"""Dask tensors: lazy through forward and backward, one compute per backward (issue 9).

Values are compared with the same program on NumPy (float64, 1e-12).  Computes are
counted with a Dask callback: ``backward()`` over Dask data with NumPy parameters must
compute the loss and every ``.grad`` in ONE compute (one scan of the data).
"""

from __future__ import annotations

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
from dask.callbacks import Callback  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402


@pytest.fixture(autouse=True)
def _local_scheduler():
    """Dask callbacks see the local schedulers only: while another test's distributed
    Client is alive (tests/test_backends.py keeps one per session), these tests compute
    on the threaded scheduler so that every compute is counted."""
    with dask.config.set(scheduler="threads"):
        yield


class CountComputes(Callback):
    def __init__(self):
        super().__init__()
        self.n = 0

    def _start(self, dsk):
        self.n += 1


def _data(n=1000, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = (x @ np.arange(1.0, d + 1) > 0).astype(np.float64)
    return x, y


def _loss(x, y, w, b):
    return F.binary_cross_entropy_with_logits(x @ w + b, y)


def test_backward_computes_loss_and_numpy_grads_in_one_compute():
    xn, yn = _data()
    x = cr.as_tensor(da.from_array(xn, chunks=(250, 4)))
    y = cr.as_tensor(da.from_array(yn, chunks=250))
    w = cr.tensor([0.1, -0.2, 0.3, 0.0], dtype=cr.float64, requires_grad=True)
    b = cr.tensor(0.5, dtype=cr.float64, requires_grad=True)
    loss = _loss(x, y, w, b)
    assert isinstance(cr.unwrap(loss), da.Array)  # lazy until backward
    with CountComputes() as counter:
        loss.backward()
        value = loss.item()
        gw, gb = w.grad.numpy(), b.grad.numpy()
    assert counter.n == 1
    assert type(cr.unwrap(w.grad)) is np.ndarray and type(cr.unwrap(loss)) is np.ndarray

    wn = cr.tensor([0.1, -0.2, 0.3, 0.0], dtype=cr.float64, requires_grad=True)
    bn = cr.tensor(0.5, dtype=cr.float64, requires_grad=True)
    ref = _loss(cr.tensor(xn), cr.tensor(yn), wn, bn)
    ref.backward()
    np.testing.assert_allclose(value, ref.item(), rtol=1e-12)
    np.testing.assert_allclose(gw, wn.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gb, bn.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_training_loop_scans_once_per_step_and_graph_does_not_grow():
    xn, yn = _data(400)
    x = cr.as_tensor(da.from_array(xn, chunks=(100, 4)))
    y = cr.as_tensor(da.from_array(yn, chunks=100))
    # (not zeros: Dask names constants by content, so a zero bias would share its key
    # with a literal 0 of the loss in the first step only)
    w = cr.tensor([0.1, -0.2, 0.3, 0.05], dtype=cr.float64, requires_grad=True)
    b = cr.tensor(0.01, dtype=cr.float64, requires_grad=True)
    opt = cr.optim.SGD([w, b], lr=0.5)
    sizes = []
    with CountComputes() as counter:
        for _ in range(4):
            opt.zero_grad()
            loss = _loss(x, y, w, b)
            sizes.append(len(dict(cr.unwrap(loss).__dask_graph__())))
            loss.backward()
            opt.step()
    assert counter.n == 4
    assert len(set(sizes)) == 1, sizes
    # the same steps on NumPy data give the same parameters
    wn = cr.tensor([0.1, -0.2, 0.3, 0.05], dtype=cr.float64, requires_grad=True)
    bn = cr.tensor(0.01, dtype=cr.float64, requires_grad=True)
    opt = cr.optim.SGD([wn, bn], lr=0.5)
    for _ in range(4):
        opt.zero_grad()
        _loss(cr.tensor(xn), cr.tensor(yn), wn, bn).backward()
        opt.step()
    np.testing.assert_allclose(w.detach().numpy(), wn.detach().numpy(), rtol=1e-12)


def test_dask_leaf_grad_stays_lazy_and_compute_takes_one_pass():
    xn, _ = _data(100)
    x = cr.as_tensor(da.from_array(xn, chunks=(50, 4))).requires_grad_()
    out = (x.exp() * 2).sum()
    out.backward()
    assert isinstance(cr.unwrap(x.grad), da.Array)
    with CountComputes() as counter:
        g, v = cr.compute(x.grad, out)
    assert counter.n == 1
    np.testing.assert_allclose(g.numpy(), 2 * np.exp(xn), rtol=1e-12)
    np.testing.assert_allclose(v.item(), (2 * np.exp(xn)).sum(), rtol=1e-12)


def test_numpy_and_dask_mix_and_give_dask():
    xn, _ = _data(10)
    x = cr.as_tensor(da.from_array(xn, chunks=(5, 4)))
    z = x + cr.ones(4, dtype=cr.float64)
    assert isinstance(cr.unwrap(z), da.Array) and z.device == cr.device("cpu")
    np.testing.assert_allclose(z.numpy(), xn + 1)
    assert z.dtype == cr.float64 and tuple(z.shape) == (10, 4)


def test_printing_item_tolist_bool_compute():
    x = cr.as_tensor(da.from_array(np.array([1.5, -2.0]), chunks=1))
    assert "1.5000" in repr(x) and x.tolist() == [1.5, -2.0]
    assert x[0].item() == 1.5 and bool(x[1] < 0)


def test_persist_keeps_values_and_unwrap_is_lazy():
    xn, _ = _data(20)
    arr = da.from_array(xn, chunks=(5, 4)) * 2
    x = cr.as_tensor(arr)
    assert cr.unwrap(x) is arr
    assert x.persist() is x
    np.testing.assert_allclose(x.numpy(), 2 * xn)
