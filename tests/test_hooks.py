"""Hooks on tensors and graph nodes: order, replaced values, handles, targets.

Each script records what the hooks saw and returns the log; both libraries must log
the same thing (PyTorch's documented order, Note [hook order] in autograd/_hooks.py).
"""

import pytest
from conftest import Raised, assert_mirrors


def values(gs):
    return [None if g is None else g.tolist() for g in gs]


def hooked_graph(lib, log):
    """x -> y = 2x -> z = 3y, with every kind of hook on y and x."""
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: (log.append(("tensor1", g.tolist())), g * 10)[1])
    y.grad_fn.register_prehook(
        lambda go: (log.append(("pre", values(go))), (go[0] + 1,))[1])
    y.register_hook(lambda g: log.append(("tensor2", g.tolist())))
    y.grad_fn.register_hook(lambda gi, go: log.append(("post", values(gi), values(go))))
    x.register_hook(lambda g: (log.append(("leaf", g.tolist())), g * 2)[1])
    x.register_post_accumulate_grad_hook(lambda t: log.append(("acc", t.grad.tolist())))
    acc = y.grad_fn.next_functions[0][0]
    acc.register_prehook(lambda go: log.append(("acc_pre", values(go))))
    acc.register_hook(lambda gi, go: log.append(("acc_post", values(gi), values(go))))
    return x, y


def test_documented_order_and_replacements(cr, torch):
    def script(lib):
        log = []
        x, y = hooked_graph(lib, log)
        (y * 3).sum().backward()
        return log, y.grad, x.grad

    assert_mirrors(script, cr, torch)


def test_autograd_grad_captures_before_hooks_when_the_node_runs(cr, torch):
    def script(lib):
        log = []
        x, y = hooked_graph(lib, log)
        gy, gx = lib.autograd.grad((y * 3).sum(), [y, x])
        return log, gy, gx, y.grad, x.grad

    assert_mirrors(script, cr, torch)


def test_autograd_grad_captures_after_tensor_hooks_when_the_node_is_skipped(cr, torch):
    def script(lib):
        log = []
        x, y = hooked_graph(lib, log)
        (gy,) = lib.autograd.grad((y * 3).sum(), [y])
        (gx,) = lib.autograd.grad((x * 3).sum(), [x])
        return log, gy, gx, y.grad, x.grad

    assert_mirrors(script, cr, torch)


@pytest.mark.parametrize("which", ["y", "x", "both"])
def test_backward_inputs_and_hooks(cr, torch, which):
    def script(lib):
        log = []
        x, y = hooked_graph(lib, log)
        inputs = {"y": [y], "x": [x], "both": [y, x]}[which]
        (y * 3).sum().backward(inputs=inputs)
        return log, y.grad, x.grad

    assert_mirrors(script, cr, torch)


def test_removed_hooks_do_not_run(cr, torch):
    def script(lib):
        log = []
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        h1 = y.register_hook(lambda g: log.append("tensor") or g * 100)
        h2 = y.grad_fn.register_prehook(lambda go: log.append("pre"))
        h3 = y.grad_fn.register_hook(lambda gi, go: log.append("post"))
        h4 = x.register_hook(lambda g: log.append("leaf"))
        h5 = x.register_post_accumulate_grad_hook(lambda t: log.append("acc"))
        for h in (h1, h2, h3, h4, h5):
            h.remove()
        h1.remove()  # twice is fine
        y.sum().backward()
        return log, x.grad

    assert_mirrors(script, cr, torch)


def test_hooks_on_leaves_accumulate_the_replaced_value(cr, torch):
    def script(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        x.register_hook(lambda g: g * 3)
        x.register_hook(lambda g: g + 1)
        (x * x).sum().backward()
        (x * 2).sum().backward()
        return x.grad

    assert_mirrors(script, cr, torch)


def test_hook_on_a_shared_intermediate_sees_the_summed_gradient(cr, torch):
    def script(lib):
        seen = []
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()
        y.register_hook(lambda g: seen.append(g.tolist()))
        (y * 2 + y * y).sum().backward()
        return seen, x.grad

    assert_mirrors(script, cr, torch)


def test_node_post_hook_replaces_grad_inputs(cr, torch):
    def script(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0, 4.0], requires_grad=True)
        y = x * w
        y.grad_fn.register_hook(lambda gi, go: (gi[0] * 0, gi[1] * 2))
        y.sum().backward()
        return x.grad, w.grad

    assert_mirrors(script, cr, torch)


def test_post_accumulate_grad_hook_can_step_the_optimizer(cr, torch):
    def script(lib):
        p = lib.tensor([1.0, 2.0], requires_grad=True)

        def step(t):
            with lib.no_grad():
                t.sub_(0.1 * t.grad)
            t.grad = None
        p.register_post_accumulate_grad_hook(step)
        for _ in range(3):
            (p * p).sum().backward()
        return p.detach(), p.grad

    assert_mirrors(script, cr, torch)


def test_retain_grad_accumulates_across_backward_calls(cr, torch):
    def script(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        y.retain_grad()
        z = (y * y).sum()
        z.backward(retain_graph=True)
        first = y.grad.clone()
        z.backward()
        return first, y.grad, y.retains_grad

    assert_mirrors(script, cr, torch)


@pytest.mark.parametrize("case", ["size", "dtype", "not_tensor", "pre_not_tuple",
                                  "pre_size", "post_count", "post_size"])
def test_hook_result_errors(cr, torch, case):
    def script(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        if case == "size":
            y.register_hook(lambda g: g.sum())
        elif case == "dtype":
            y.register_hook(lambda g: g.double())
        elif case == "not_tensor":
            y.register_hook(lambda g: 5)
        elif case == "pre_not_tuple":
            y.grad_fn.register_prehook(lambda go: 5)
        elif case == "pre_size":
            y.grad_fn.register_prehook(lambda go: (go[0].sum(),))
        elif case == "post_count":
            y.grad_fn.register_hook(lambda gi, go: (gi[0],))
        else:
            y.grad_fn.register_hook(lambda gi, go: (gi[0][:1], None))
        (y * 3).sum().backward()

    ours = assert_mirrors(script, cr, torch)
    assert isinstance(ours, Raised)
    assert "hook" in ours.message


def test_register_hook_errors(cr, torch):
    def no_grad_tensor(lib):
        lib.ones(2).register_hook(lambda g: g)

    def post_acc_on_non_leaf(lib):
        (lib.ones(2, requires_grad=True) * 2).register_post_accumulate_grad_hook(lambda t: t)

    for script in (no_grad_tensor, post_acc_on_non_leaf):
        assert isinstance(assert_mirrors(script, cr, torch), Raised)


def test_hooks_in_a_differentiable_backward(cr, torch):
    def script(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x ** 3
        y.register_hook(lambda g: g * x)  # the hook itself is differentiated
        (gx,) = lib.autograd.grad(y.sum(), x, create_graph=True)
        (hx,) = lib.autograd.grad(gx.sum(), x)
        return gx, hx

    assert_mirrors(script, cr, torch)


def test_hooks_see_one_cotangent_of_a_batch(cr, torch):
    def script(lib):
        shapes = set()
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        y.register_hook(lambda g: (shapes.add(tuple(g.shape)),
                                   g * lib.tensor([1.0, 10.0, 100.0]))[1])
        (g,) = lib.autograd.grad(y ** 2, x, lib.eye(3), is_grads_batched=True)
        return g, sorted(shapes)

    assert_mirrors(script, cr, torch)


def test_handle_as_context_manager(cr, torch):
    def script(lib):
        seen = []
        x = lib.tensor([1.0], requires_grad=True)
        with x.register_hook(lambda g: seen.append(1)):
            (x * 2).sum().backward()
        (x * 2).sum().backward()
        return seen, x.grad

    assert_mirrors(script, cr, torch)
