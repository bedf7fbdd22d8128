"""Higher order, one-pass Jacobians and the functional APIs, mirrored against PyTorch.

Each script runs unchanged on chainrule and on torch (``assert_mirrors``); chainrule-only
tests cover what torch cannot run (integer leaves) or must not be compared (memory).
"""

from __future__ import annotations

import gc
import importlib
import tracemalloc

import numpy as np
import pytest
from conftest import assert_mirrors

chainrule_only = pytest.mark.chainrule_only


def _seed_f(lib):
    def f(x):
        y = lib.zeros(2, dtype=x.dtype)
        y[0] = 2 * x[0] + x[1] ** 2
        y[1] = x[0] ** 2 + 2 * x[1] ** 3
        return y
    return f


def test_third_derivative_and_mixed_partials(cr, torch):
    def script(lib):
        x = lib.tensor(1.5, dtype=lib.float64, requires_grad=True)
        y = lib.tensor(-0.5, dtype=lib.float64, requires_grad=True)
        (d1,) = lib.autograd.grad(x ** 4, x, create_graph=True)
        (d2,) = lib.autograd.grad(d1, x, create_graph=True)
        (d3,) = lib.autograd.grad(d2, x)
        f = (x * y).sin() * x ** 2
        (fx,) = lib.autograd.grad(f, x, create_graph=True)
        (fxy,) = lib.autograd.grad(fx, y)
        return d1, d2, d3, fxy
    assert_mirrors(script, cr, torch)


def test_gradient_penalty_backward(cr, torch):
    def script(lib):
        lib.manual_seed(0)
        w = lib.tensor([[0.3, -0.2], [0.5, 0.1]], dtype=lib.float64, requires_grad=True)
        x = lib.tensor([[1.0, 2.0], [-1.0, 0.5]], dtype=lib.float64, requires_grad=True)
        out = (x @ w).tanh().sum()
        (gx,) = lib.autograd.grad(out, x, create_graph=True)
        penalty = ((gx.norm(dim=1) - 1) ** 2).mean()
        penalty.backward()
        return w.grad, x.grad
    assert_mirrors(script, cr, torch)


def test_backward_create_graph_then_backward_again(cr, torch):
    def script(lib):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        (x ** 3).sum().backward(create_graph=True)
        g = x.grad
        x.grad = None
        g.sum().backward()
        return g.detach(), x.grad
    assert_mirrors(script, cr, torch)


def test_unused_input_error_and_materialize(cr, torch):
    def script(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        z = lib.tensor([3.0], requires_grad=True)
        y = (x * 2).sum()
        a = lib.autograd.grad(y, [x, z], allow_unused=True, retain_graph=True)
        b = lib.autograd.grad(y, [x, z], materialize_grads=True, retain_graph=True)
        lib.autograd.grad(y, [x, z])
        return a, b
    assert_mirrors(script, cr, torch)


@chainrule_only
def test_unused_input_message_names_the_input(cr):
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    z = cr.tensor([3.0, 4.0, 5.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"at index 1 appears .*shape \[3\]"):
        cr.autograd.grad((x * 2).sum(), [x, z])


def test_is_grads_batched_matches_rows(cr, torch):
    def script(lib):
        x = lib.tensor([[1.0, 2.0]], dtype=lib.float64, requires_grad=True)
        y = _seed_f(lib)(x[0])
        (J,) = lib.autograd.grad(y, x, lib.eye(2, dtype=lib.float64),
                                 is_grads_batched=True)
        return J
    assert_mirrors(script, cr, torch)


@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_seed_jacobian_both_strategies(cr, torch, strategy):
    def script(lib):
        f = _seed_f(lib)
        x = lib.tensor([1.0, 2.0], dtype=lib.float64)
        return lib.autograd.functional.jacobian(f, x, strategy=strategy,
                                                vectorize=strategy == "forward-mode")
    assert_mirrors(script, cr, torch)
    J = script(cr)
    np.testing.assert_allclose(J.numpy(), [[2, 4], [2, 24]])


@chainrule_only
def test_forward_mode_jacobian_without_vectorize(cr):
    """PyTorch refuses vectorize=False with forward mode; chainrule always vectorizes."""
    J = cr.autograd.functional.jacobian(_seed_f(cr), cr.tensor([1.0, 2.0]),
                                        strategy="forward-mode")
    np.testing.assert_allclose(J.numpy(), [[2, 4], [2, 24]])


def test_functional_api_structures(cr, torch):
    def script(lib):
        F = lib.autograd.functional

        def f(a, b):
            return (a * b).sum(), a.exp() + b

        def g(a, b):
            return (a ** 2 * b).sum()

        a = lib.tensor([0.5, -1.0], dtype=lib.float64)
        b = lib.tensor([2.0, 3.0], dtype=lib.float64)
        v = (lib.tensor(1.0, dtype=lib.float64), lib.ones(2, dtype=lib.float64))
        u = (lib.ones(2, dtype=lib.float64), lib.ones(2, dtype=lib.float64))
        return (F.jacobian(f, (a, b)), F.hessian(g, (a, b)), F.vjp(f, (a, b), v),
                F.jvp(f, (a, b), u), F.hvp(g, (a, b), u), F.vhp(g, (a, b), u),
                F.jacobian(lambda t: t.sin(), a), F.hessian(lambda t: t.pow(3).sum(), a))
    assert_mirrors(script, cr, torch)


def test_chunked_jacobian_equals_full(cr):
    W = cr.tensor(np.random.default_rng(0).standard_normal((7, 5)))
    f = lambda v: (W @ v).tanh()  # noqa: E731
    x = cr.tensor(np.linspace(-1, 1, 5))
    full = cr.autograd.functional.jacobian(f, x)
    chunked = cr.autograd.functional.jacobian(f, x, chunk_size=3)
    np.testing.assert_allclose(chunked.numpy(), full.numpy(), rtol=1e-12)


def test_func_transforms(cr, torch):
    def script(lib):
        fn = importlib.import_module(lib.__name__ + ".func")

        def f(x, y):
            return (x.sin() * y).sum()

        def h(x):
            return (x ** 3).sum(), x.mean()

        x = lib.tensor([0.5, 1.5], dtype=lib.float64)
        y = lib.tensor([2.0, -1.0], dtype=lib.float64)
        out, vjp_fn = fn.vjp(lambda t: t.exp(), x)
        return (fn.grad(f)(x, y), fn.grad(f, argnums=(0, 1))(x, y),
                fn.grad_and_value(f)(x, y), fn.grad(h, has_aux=True)(x),
                vjp_fn(lib.ones(2, dtype=lib.float64)),
                fn.jvp(lambda t: t.exp(), (x,), (lib.ones(2, dtype=lib.float64),)),
                fn.jacrev(f, argnums=1)(x, y), fn.jacfwd(lambda t: t.cos() * t)(x),
                fn.hessian(f)(x, y), fn.jacfwd(fn.jacrev(f))(x, y),
                fn.jacfwd(fn.jacfwd(f))(x, y), fn.grad(fn.grad(lambda t: t.sin().sum()
                                                               ))(lib.tensor(0.3)))
    assert_mirrors(script, cr, torch)


@chainrule_only
def test_create_graph_loop_keeps_memory_flat(cr):
    """PyTorch documents a parameter<->grad reference cycle for backward(create_graph=
    True); chainrule's AccumulateGrad holds its leaf weakly, so nothing leaks even with
    the cyclic collector off."""
    x = cr.tensor(np.linspace(-1, 1, 64), requires_grad=True)

    def step():
        y = (x.tanh() * x).sum()
        y.backward(create_graph=True)
        x.grad.sum().backward()  # use the graph of the gradient too
        x.grad = None

    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            step()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(1000):
            step()
        grown = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
    finally:
        gc.enable()
    assert grown < 200_000, f"traced memory grew by {grown} bytes over 1000 iterations"


def test_norm_nuc_matches_torch(cr, torch):
    def script(lib):
        a = lib.tensor([[1.0, 2.0], [3.0, 4.0], [0.5, -1.0]], dtype=lib.float64,
                       requires_grad=True)
        n = lib.norm(a, p="nuc")
        n.backward()
        return n, a.grad
    assert_mirrors(script, cr, torch)


def test_forward_mode_jacobian_refuses_create_graph(cr, torch):
    def script(lib):
        lib.autograd.functional.jacobian(lambda x: x * 2, lib.ones(2), create_graph=True,
                                         strategy="forward-mode", vectorize=True)
    assert_mirrors(script, cr, torch)


def test_create_graph_through_promoted_inputs(cr, torch):
    """float32 inputs of a float64 op get float32 cotangents (PyTorch's engine casts
    them), so a later float32 matmul meets its own dtype at every order."""
    def script(lib):
        x = lib.tensor([[0.5, -1.25]], requires_grad=True)
        w = lib.tensor([[1.5, 0.25, -2.0], [0.75, -0.5, 1.0]], requires_grad=True)
        c = lib.tensor([1.0, -3.0, 0.5], dtype=lib.float64)
        y = ((x @ w) * c).sin().sum()
        gx, gw = lib.autograd.grad(y, [x, w], create_graph=True)
        (ggx,) = lib.autograd.grad((gx * gx).sum() + gw.sum(), x)
        return gx, gw, ggx, gx.dtype == x.dtype
    assert_mirrors(script, cr, torch)


def test_create_graph_through_index_select(cr, torch):
    def script(lib):
        a = lib.arange(24.0, dtype=lib.float64).reshape(1, 2, 3, 4).requires_grad_()
        out = a.index_select(3, lib.tensor([1, 1, 3])) ** 2
        (g,) = lib.autograd.grad(out.sum(), a, create_graph=True)
        (gg,) = lib.autograd.grad(g.sum(), a)
        return g, gg
    assert_mirrors(script, cr, torch)
