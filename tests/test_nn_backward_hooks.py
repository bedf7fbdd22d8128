"""``Module.register_full_backward_hook`` / ``register_full_backward_pre_hook``: the same
program run with torch and with chainrule records the same hook calls (which hook, in
which order, grad_input and grad_output, None where PyTorch gives None) and the same
gradients, including hooks that replace gradients."""

import warnings

import numpy as np
import pytest
import torch

import chainrule


def as_np(v):
    if v is None:
        return None
    if isinstance(v, tuple):
        return tuple(as_np(x) for x in v)
    return np.array(v.detach().numpy())


def same(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            same(x, y)
    elif a is None or b is None:
        assert a is None and b is None, (a, b)
    elif isinstance(a, np.ndarray):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    else:
        assert a == b


def both(program):
    """``program(lib)`` with torch and with chainrule; the records must agree."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = program(torch)
        c = program(chainrule)
    same(t, c)
    return c


def two_in_two_out(lib):
    class M(lib.nn.Module):
        def forward(self, a, b, c=None):
            return a * b, a + 1
    return M()


def test_grad_input_and_grad_output_match_torch():
    def program(lib):
        log = []
        m = two_in_two_out(lib)
        m.register_full_backward_pre_hook(lambda mod, go: log.append(("pre", as_np(go))))
        m.register_full_backward_hook(
            lambda mod, gi, go: log.append(("post", as_np(gi), as_np(go))))
        a = lib.ones(2, dtype=lib.float64, requires_grad=True)
        b = lib.full((2,), 3.0, dtype=lib.float64)
        x, y = m(a, b, 5)
        (x * 2).sum().backward()              # y gets no gradient: None in grad_output
        x, y = m(a, b)
        (x.sum() + y.sum() * 4).backward()
        log.append(("grad", as_np(a.grad)))
        return tuple(log)
    log = both(program)
    assert [e[0] for e in log] == ["pre", "post", "pre", "post", "grad"]


def test_hooks_replacing_gradients_match_torch():
    def program(lib):
        log = []
        lin = lib.nn.Linear(3, 2).double()
        with lib.no_grad():
            lin.weight.copy_(lib.arange(6, dtype=lib.float64).reshape(2, 3) / 7)
            lin.bias.fill_(0.5)
        lin.register_full_backward_pre_hook(lambda mod, go: (go[0] * 3,))
        lin.register_full_backward_hook(lambda mod, gi, go: (gi[0] + 1,))
        lin.register_full_backward_hook(
            lambda mod, gi, go: log.append(("second", as_np(gi), as_np(go))))
        h = lin.register_full_backward_hook(lambda mod, gi, go: log.append("removed"))
        h.remove()
        x = lib.linspace(-1, 1, 6, dtype=lib.float64).reshape(2, 3).requires_grad_()
        (lin(x) ** 2).sum().backward()
        log.append(("x", as_np(x.grad)))
        log.append(("w", as_np(lin.weight.grad)))
        return tuple(log)
    both(program)


def test_prepend_order_and_no_input_requires_grad_match_torch():
    def program(lib):
        log = []
        lin = lib.nn.Linear(2, 2).double()
        lin.register_full_backward_hook(lambda mod, gi, go: log.append(("a", as_np(gi))))
        lin.register_full_backward_hook(lambda mod, gi, go: log.append(("b", as_np(gi))),
                                        prepend=True)
        lin.register_full_backward_pre_hook(lambda mod, go: log.append("p1"))
        lin.register_full_backward_pre_hook(lambda mod, go: log.append("p0"), prepend=True)
        lin(lib.ones(1, 2, dtype=lib.float64)).sum().backward()
        return tuple(log)
    log = both(program)
    assert log[:2] == ("p0", "p1")


def test_no_input_requires_grad_warns_and_refuses_new_grads():
    lin = chainrule.nn.Linear(2, 2)
    lin.register_full_backward_hook(lambda mod, gi, go: (chainrule.ones(1, 2),))
    with pytest.warns(UserWarning, match="no inputs require gradients"), \
            pytest.raises(RuntimeError, match="should always return None"):
        lin(chainrule.ones(1, 2)).sum().backward()


def test_wrong_number_of_grads_raises_like_torch():
    for lib in (torch, chainrule):
        lin = lib.nn.Linear(2, 2)
        lin.register_full_backward_hook(lambda mod, gi, go: (gi[0], gi[0]))
        x = lib.ones(1, 2, requires_grad=True)
        with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but "
                                               "expected 1"):
            lin(x).sum().backward()
        lin2 = lib.nn.Linear(2, 2)
        lin2.register_full_backward_pre_hook(lambda mod, go: ())
        with pytest.raises(RuntimeError, match="invalid number of grad_output, got 0"):
            lin2(x).sum().backward()


def test_hooks_on_nested_modules_and_mha_match_torch():
    def program(lib):
        log = []
        lib.manual_seed(0)
        mha = lib.nn.MultiheadAttention(4, 2, dtype=lib.float64)
        with lib.no_grad():
            for i, p in enumerate(mha.parameters()):
                p.copy_(lib.linspace(-1, 1, p.numel(), dtype=lib.float64).reshape(p.shape)
                        * (i + 1) / 3)
        mha.register_full_backward_hook(
            lambda mod, gi, go: log.append(("mha", as_np(gi), as_np(go))))
        mha.out_proj.register_full_backward_hook(
            lambda mod, gi, go: log.append(("out_proj", as_np(gi), as_np(go))))
        q = lib.linspace(-2, 2, 24, dtype=lib.float64).reshape(3, 2, 4).requires_grad_()
        k = lib.linspace(1, -1, 16, dtype=lib.float64).reshape(2, 2, 4).requires_grad_()
        out, w = mha(q, k, k)
        (out ** 2).sum().backward()
        log.append(("q", as_np(q.grad)))
        return tuple(log)
    log = both(program)
    assert [e[0] for e in log] == ["mha", "q"]   # out_proj is called functionally


def test_hooks_on_sequential_and_children_fire_in_torchs_order():
    def program(lib):
        log = []
        lib.manual_seed(0)
        net = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 1))
        net = net.double()
        with lib.no_grad():
            for i, p in enumerate(net.parameters()):
                p.copy_(lib.linspace(-1, 1, p.numel(), dtype=lib.float64).reshape(p.shape)
                        * (i + 1) / 2)
        for name, m in net.named_modules():
            m.register_full_backward_pre_hook(
                lambda mod, go, name=name: log.append(("pre " + name, as_np(go))))
            m.register_full_backward_hook(
                lambda mod, gi, go, name=name: log.append(("post " + name, as_np(gi))))
        x = lib.linspace(-1, 1, 6, dtype=lib.float64).reshape(2, 3).requires_grad_()
        net(x).sum().backward()
        return tuple(log)
    log = both(program)
    assert [e[0] for e in log][:3] == ["pre ", "pre 2", "post 2"]
