"""CUDA tensors on CuPy: devices, moves, mixing rules, modules and optimizers (issue 9).

These need CuPy and an NVIDIA GPU; elsewhere (CI) they skip with that reason.  Without a
GPU, tests/test_tensor_api.py checks that "cuda" fails as PyTorch's CPU-only build does,
and tests/test_backends.py runs the op table on CuPy when one is present.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

pytestmark = pytest.mark.skipif(not cr.cuda.is_available(),
                                reason="needs CuPy and an NVIDIA GPU (pip install "
                                       "'chainrule[cuda]' on a GPU machine)")


def test_moves_and_devices():
    x = cr.tensor([1.0, 2.0], device="cuda")
    assert x.device == cr.device("cuda", 0) and x.is_cuda and x.get_device() == 0
    assert x.cpu().device == cr.device("cpu") and x.cpu().tolist() == [1.0, 2.0]
    assert cr.ones(2).cuda().is_cuda and cr.ones(2).to("cuda", non_blocking=True).is_cuda
    with pytest.raises(TypeError, match="cpu"):
        x.numpy()


def test_gradient_comes_back_to_the_cpu_leaf():
    w = cr.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = (w.cuda() ** 2).sum()
    assert type(y.grad_fn).__name__ == "SumBackward0"
    y.backward()
    assert w.grad.device == cr.device("cpu")
    np.testing.assert_allclose(w.grad.numpy(), [2.0, -4.0, 6.0])


def test_mixing_devices_raises_except_0d_cpu():
    x = cr.ones(3, device="cuda")
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        x + cr.ones(3)
    assert (x + cr.tensor(2.0)).is_cuda


def test_module_and_optimizer_on_the_gpu():
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.Tanh(), cr.nn.Linear(8, 1)).cuda()
    assert all(p.is_cuda for p in model.parameters())
    opt = cr.optim.Adam(model.parameters(), lr=1e-2)
    x = cr.randn(16, 4).cuda()
    loss = model(x).pow(2).mean()
    loss.backward()
    opt.step()
    assert all(p.grad.is_cuda for p in model.parameters())
    assert cr.cuda.memory_allocated() > 0
    cr.cuda.synchronize()


def test_pin_memory_gives_pinned_host_memory_and_keeps_the_graph():
    x = cr.arange(6.0).reshape(2, 3).requires_grad_()
    assert not x.is_pinned()
    p = x.pin_memory()
    assert p.is_pinned() and p.device.type == "cpu" and p.tolist() == x.tolist()
    p.to("cuda", non_blocking=True).sum().backward()
    assert x.grad.tolist() == [[1.0] * 3] * 2
