"""Custom ``autograd.Function``s, each written as a script run on both libraries.

The Function classes are defined inside the scripts from ``lib.autograd.Function``, so
the same code exercises chainrule and PyTorch.
"""

import warnings

import numpy as np
import pytest
from conftest import (
    TESTING_TORCH,
    Raised,
    assert_mirrors,
    batched_scale_function,
    square_function,
)


def raises(ours, exc_type, *substrings):
    assert isinstance(ours, Raised), f"expected {exc_type.__name__}: {ours!r}"
    assert issubclass(ours.type, exc_type), ours
    for text in substrings:
        assert text in ours.message, (text, ours.message)


def exp_function(lib):
    class Exp(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            y, = ctx.saved_tensors
            return g * y
    return Exp


# ------------------------------------------------------------------ basics


def test_old_style_forward_and_backward(cr, torch):
    def script(lib):
        x = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        y = exp_function(lib).apply(x)
        node = y.grad_fn
        (y * y).sum().backward()
        return (y, x.grad, type(node).__name__, node.name(), len(node.next_functions),
                y.requires_grad, y.is_leaf)

    assert_mirrors(script, cr, torch)


def test_new_style_setup_context_and_default_args(cr, torch):
    def script(lib):
        class Scale(lib.autograd.Function):
            @staticmethod
            def forward(x, k=3.0):
                return x * k

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.k = inputs[1]
                ctx.n_inputs = len(inputs)

            @staticmethod
            def backward(ctx, g):
                return g * ctx.k, None

        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = Scale.apply(x)
        z = Scale.apply(x, 5.0)
        (y.sum() + z.sum()).backward()
        return y, z, x.grad, y.grad_fn.n_inputs, y.grad_fn.k

    assert_mirrors(script, cr, torch)


def test_needs_input_grad_and_next_functions(cr, torch):
    def script(lib):
        seen = []

        class F(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, y, k):
                seen.append(ctx.needs_input_grad)
                return x * y * k

            @staticmethod
            def backward(ctx, g):
                seen.append(ctx.needs_input_grad)
                return g, g, None

        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = lib.ones(2)
        r = F.apply(x, y, 3)
        nf = [n is None for n, _ in r.grad_fn.next_functions]
        r.sum().backward()
        with lib.no_grad():
            r2 = F.apply(x, y, 3)
        r3 = F.apply(y, y, 3)
        return seen, nf, r2.requires_grad, r3.requires_grad, r3.grad_fn is None, x.grad

    assert_mirrors(script, cr, torch)


def test_forward_runs_without_grad_and_backward_too(cr, torch):
    def script(lib):
        modes = []

        class F(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                modes.append(lib.is_grad_enabled())
                return x * 2

            @staticmethod
            def backward(ctx, g):
                modes.append(lib.is_grad_enabled())
                return g * 2

        x = lib.tensor([1.0], requires_grad=True)
        F.apply(x).sum().backward()
        return modes, x.grad

    assert_mirrors(script, cr, torch)


def test_ctx_attributes_and_non_tensor_arguments(cr, torch):
    def script(lib):
        class Pow(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, p, label):
                ctx.p = p
                ctx.label = label
                ctx.save_for_backward(x)
                return x ** p

            @staticmethod
            def backward(ctx, g):
                x, = ctx.saved_tensors
                return g * ctx.p * x ** (ctx.p - 1), None, None

        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = Pow.apply(x, 3, "cube")
        y.sum().backward()
        return y, x.grad, y.grad_fn.label

    assert_mirrors(script, cr, torch)


def test_non_tensor_outputs_pass_through(cr, torch):
    def script(lib):
        got = []

        class F(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2, 5

            @staticmethod
            def backward(ctx, g, g_number):
                got.append(g_number)
                return g * 2

        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y, n = F.apply(x)
        y.sum().backward()
        return n, got, x.grad

    assert_mirrors(script, cr, torch)


def test_input_returned_as_is_becomes_a_new_tensor(cr, torch):
    def script(lib):
        class Identity(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x

            @staticmethod
            def backward(ctx, g):
                return g * 3

        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = a * 1
        r = Identity.apply(b)
        same_memory = r.data_ptr() == b.data_ptr()
        r.sum().backward()
        return r is b, same_memory, r.grad_fn is b.grad_fn, a.grad

    assert_mirrors(script, cr, torch)


# --------------------------------------------------------- several outputs


def split_function(lib, materialize=True):
    class Split(lib.autograd.Function):
        @staticmethod
        def forward(x):
            return x * 2, x * 3, x.argmax()

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.mark_non_differentiable(output[2])
            ctx.set_materialize_grads(materialize)
            ctx.calls = []

        @staticmethod
        def backward(ctx, ga, gb, gi):
            ctx.calls.append(tuple(None if g is None else g.tolist() for g in (ga, gb, gi)))
            out = gb * 3
            return out if ga is None else out + ga * 2
    return Split


def test_multi_output_backward_runs_once_with_all_cotangents(cr, torch):
    def script(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        a, b, i = split_function(lib).apply(x)
        node = a.grad_fn
        (a * 10).sum().add((b * b).sum()).backward()
        return (node is b.grad_fn, i.requires_grad, i.grad_fn is None, node.calls, x.grad,
                str(i.dtype))

    assert_mirrors(script, cr, torch)


def test_multi_output_unused_output_gets_zeros_or_none(cr, torch):
    def script(lib):
        out = []
        for materialize in (True, False):
            x = lib.tensor([1.0, 2.0], requires_grad=True)
            a, b, _ = split_function(lib, materialize).apply(x)
            (b * b).sum().backward()
            out += [a.grad_fn.calls, x.grad]
        return out

    assert_mirrors(script, cr, torch)


def test_multi_output_hooks_and_retain_grad(cr, torch):
    def script(lib):
        log = []
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        a, b, _ = split_function(lib).apply(x)
        a.retain_grad()
        a.register_hook(lambda g: (log.append(("a", g.tolist())), g * 10)[1])
        a.grad_fn.register_prehook(
            lambda go: log.append(("pre", [None if g is None else g.tolist() for g in go])))
        a.grad_fn.register_hook(
            lambda gi, go: log.append(("post", [g.tolist() for g in gi])))
        (a.sum() + b.sum()).backward()
        return log, a.grad, x.grad

    assert_mirrors(script, cr, torch)


def test_multi_output_batched_cotangents(cr, torch):
    def script(lib):
        class SinCos(lib.autograd.Function):
            generate_vmap_rule = True

            @staticmethod
            def forward(x):
                return x.sin(), x.cos()

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_backward(inputs[0])

            @staticmethod
            def backward(ctx, ga, gb):
                x, = ctx.saved_tensors
                return ga * x.cos() - gb * x.sin()

        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        a, b = SinCos.apply(x)
        y = a * b + a
        (g,) = lib.autograd.grad(y, x, lib.eye(3), is_grads_batched=True)
        return g

    assert_mirrors(script, cr, torch)


# -------------------------------------------------------------- mark_dirty


def add_one_inplace(lib):
    class AddOne(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2
    return AddOne


def test_mark_dirty_rewires_the_modified_input(cr, torch):
    def script(lib):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = a * 2
        c = add_one_inplace(lib).apply(b)
        (c * c).sum().backward()
        return c is b, b._version, type(b.grad_fn).__name__, c, a.grad

    assert_mirrors(script, cr, torch)


def test_mark_dirty_through_a_view_rewrites_the_base(cr, torch):
    def script(lib):
        class AddK(lib.autograd.Function):
            @staticmethod
            def forward(ctx, k, x):
                x.add_(k)
                ctx.mark_dirty(x)
                return x

            @staticmethod
            def backward(ctx, g):
                return None, g * 2

        a = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b = a * 1
        v = b[1:]
        r = AddK.apply(1.0, v)
        (b * b).sum().backward()
        return r is v, b, a.grad

    assert_mirrors(script, cr, torch)


def test_mark_dirty_errors(cr, torch):
    def on_leaf(lib):
        return add_one_inplace(lib).apply(lib.tensor([1.0], requires_grad=True))

    def not_returned(lib):
        class F(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                x.add_(1)
                ctx.mark_dirty(x)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g

        return F.apply(lib.tensor([1.0], requires_grad=True) * 1)

    raises(assert_mirrors(on_leaf, cr, torch), RuntimeError, "leaf Variable")
    raises(assert_mirrors(not_returned, cr, torch), RuntimeError, "marked as dirty")


# ----------------------------------------------------------- saved tensors


def test_saved_tensors_identity_and_grad_fn(cr, torch):
    def script(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = square_function(lib).apply(x)
        saved_input = y.grad_fn.saved_tensors[0]
        z = exp_function(lib).apply(x)
        saved_output = z.grad_fn.saved_tensors[0]
        return (saved_input is x, saved_output is z, saved_output.grad_fn is z.grad_fn,
                saved_output)

    assert_mirrors(script, cr, torch)


def test_saved_tensor_modified_in_place_is_refused(cr, torch):
    def input_changed(lib):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = a * 2
        y = square_function(lib).apply(b)
        b.add_(1)
        y.sum().backward()

    def output_changed(lib):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        y = exp_function(lib).apply(a)
        with lib.no_grad():
            y.mul_(2)
        y.sum().backward()

    for script in (input_changed, output_changed):
        ours = assert_mirrors(script, cr, torch)
        raises(ours, RuntimeError, "modified by an inplace operation", "version 1")


def test_saved_tensors_freed_after_backward(cr, torch):
    def script(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = exp_function(lib).apply(x).sum()
        y.backward(retain_graph=True)
        y.backward()
        y.backward()

    ours = assert_mirrors(script, cr, torch)
    raises(ours, RuntimeError, "second time", "retain_graph=True")


def test_nothing_saved_runs_again_without_retain_graph(cr, torch):
    def script(lib):
        class Double(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g * 2

        x = lib.tensor([1.0], requires_grad=True)
        y = Double.apply(x)
        y.backward()
        y.backward()
        return x.grad

    assert_mirrors(script, cr, torch)


def test_save_for_backward_rejects_non_tensors(cr, torch):
    def script(lib):
        class F(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x, None, 3)
                return x * 1

            @staticmethod
            def backward(ctx, g):
                return g

        F.apply(lib.tensor([1.0], requires_grad=True))

    raises(assert_mirrors(script, cr, torch), TypeError, "save_for_backward")


# ---------------------------------------------------- checks on backward


@pytest.mark.parametrize("case", ["count", "not_a_tensor_input", "shape", "scalar", "float"])
def test_backward_result_errors(cr, torch, case):
    def script(lib):
        class F(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, n):
                return x * n

            @staticmethod
            def backward(ctx, g):
                return {"count": lambda: g,
                        "not_a_tensor_input": lambda: (g, g),
                        "shape": lambda: (g[:1], None),
                        "scalar": lambda: (g.sum(), None),
                        "float": lambda: (3.0, None)}[case]()

        F.apply(lib.ones(3, requires_grad=True), 2).sum().backward()

    ours = assert_mirrors(script, cr, torch)
    assert isinstance(ours, Raised)
    if not TESTING_TORCH:
        assert "FBackward" in ours.message or case == "float", ours.message


def test_backward_results_are_summed_and_cast(cr, torch):
    def script(lib):
        class F(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g.expand(4, 3).double(), None, None  # extra Nones are allowed

        x = lib.ones(3, requires_grad=True)
        F.apply(x).sum().backward()
        return x.grad

    assert_mirrors(script, cr, torch)


# -------------------------------------------------------- higher order


def test_double_backward_through_a_differentiable_backward(cr, torch):
    def script(lib):
        x = lib.tensor([1.0, 2.0, -0.5], requires_grad=True)
        y = (exp_function(lib).apply(x) * square_function(lib).apply(x)).sum()
        (gx,) = lib.autograd.grad(y, x, create_graph=True)
        (hx,) = lib.autograd.grad(gx.sum(), x)
        return gx, hx

    assert_mirrors(script, cr, torch)


def test_once_differentiable_refuses_double_backward(cr, torch):
    def script(lib):
        from_lib = lib.autograd.function.once_differentiable

        class Cube(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x ** 3

            @staticmethod
            @from_lib
            def backward(ctx, g):
                x, = ctx.saved_tensors
                return 3 * x * x * g

        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = (Cube.apply(x) ** 2).sum()
        (gx,) = lib.autograd.grad(y, x, create_graph=True)
        first = gx.detach().clone()
        gx.sum().backward()
        return first

    raises(assert_mirrors(script, cr, torch), RuntimeError, "once_differentiable")


def test_once_differentiable_first_order_is_normal(cr, torch):
    def script(lib):
        class Cube(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x ** 3

            @staticmethod
            @lib.autograd.function.once_differentiable
            def backward(ctx, g):
                x, = ctx.saved_tensors
                return 3 * x * x * g

        x = lib.tensor([1.0, 2.0], requires_grad=True)
        Cube.apply(x).sum().backward()
        return x.grad

    assert_mirrors(script, cr, torch)


# -------------------------------------------------- batched cotangents


def batch_unsafe(lib, vmap_rule):
    class F(lib.autograd.Function):
        generate_vmap_rule = vmap_rule

        @staticmethod
        def forward(x):
            return x.sin()

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            # g.sum() over a batch of cotangents would mix rows: wrong unless run per row
            return g * x.cos() + g.sum() * 0.1
    return F


@pytest.mark.parametrize("vmap_rule", [True, False])
def test_batched_cotangents_run_the_backward_per_row(cr, torch, vmap_rule):
    def script(lib):
        x = lib.tensor([0.5, 1.0, 2.0], requires_grad=True)
        y = batch_unsafe(lib, vmap_rule).apply(x)
        (jac,) = lib.autograd.grad(y, x, lib.eye(3), is_grads_batched=True)
        return jac

    assert_mirrors(script, cr, torch)


@pytest.mark.chainrule_only
def test_batched_jacobian_equals_row_loop(cr):
    F = batch_unsafe(cr, False)
    x = cr.tensor([0.5, 1.0, 2.0, -1.0], requires_grad=True)
    y = F.apply(x) * x
    jac = cr.autograd.functional.jacobian(lambda t: F.apply(t) * t, x, vectorize=True)
    rows = [cr.autograd.grad(y, x, cr.eye(4)[i], retain_graph=True)[0] for i in range(4)]
    np.testing.assert_allclose(jac.numpy(), np.stack([r.numpy() for r in rows]), rtol=1e-6)


@pytest.mark.chainrule_only
def test_supports_batched_grads_gets_the_batch(cr):
    shapes = []
    Double = batched_scale_function(cr, 2, shapes)
    x = cr.ones(3, requires_grad=True)
    (g,) = cr.autograd.grad(Double.apply(x), x, cr.eye(3), is_grads_batched=True)
    assert shapes == [(3, 3)]
    np.testing.assert_allclose(g.numpy(), 2 * np.eye(3))


# ------------------------------------------------------------ forward mode


def test_custom_jvp_in_forward_mode(cr, torch):
    def script(lib):
        fw = lib.autograd.forward_ad

        class Cube(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, k):
                ctx.save_for_forward(x)
                ctx.k = k
                return x ** 3 * k

            @staticmethod
            def jvp(ctx, tx, tk):
                x, = ctx.saved_tensors
                return 3 * x ** 2 * tx * ctx.k

            @staticmethod
            def backward(ctx, g):
                raise RuntimeError("not used")

        with fw.dual_level():
            d = fw.make_dual(lib.tensor([1.0, 2.0]), lib.tensor([1.0, 0.5]))
            out = Cube.apply(d, 2.0)
            return fw.unpack_dual(out).tangent

    assert_mirrors(script, cr, torch)


def test_missing_jvp_is_reported(cr, torch):
    def script(lib):
        fw = lib.autograd.forward_ad
        with fw.dual_level():
            d = fw.make_dual(lib.tensor([1.0, 2.0]), lib.tensor([1.0, 1.0]))
            return square_function(lib).apply(d)

    raises(assert_mirrors(script, cr, torch), NotImplementedError, "jvp")


# ------------------------------------------------------------ misc


def test_unimplemented_forward_and_backward(cr, torch):
    def no_forward(lib):
        class F(lib.autograd.Function):
            pass

        return F.apply(lib.ones(1, requires_grad=True))

    def no_backward(lib):
        class F(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

        F.apply(lib.ones(1, requires_grad=True)).sum().backward()

    raises(assert_mirrors(no_forward, cr, torch), NotImplementedError, "forward")
    raises(assert_mirrors(no_backward, cr, torch), NotImplementedError, "backward")


def test_instantiating_a_function_warns(cr, torch):
    def script(lib):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            exp_function(lib)()
        return [x.category.__name__ for x in w]

    assert_mirrors(script, cr, torch)


@pytest.mark.chainrule_only
def test_errors_in_custom_backward_name_the_creation_line(cr):
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = exp_function(cr).apply(x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"ExpBackward was created at .*test_function.py"):
        y.backward()


def test_forward_over_reverse_through_a_saved_output(cr, torch):
    def script(lib):
        class Exp(lib.autograd.Function):
            generate_vmap_rule = True

            @staticmethod
            def forward(x):
                return x.exp()

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_backward(output)
                ctx.save_for_forward(output)

            @staticmethod
            def backward(ctx, g):
                y, = ctx.saved_tensors
                return g * y

            @staticmethod
            def jvp(ctx, t):
                y, = ctx.saved_tensors
                return t * y

        x = lib.tensor([0.5, 1.0, -0.3])
        # the saved output must come back with its tangent, or the Hessian is wrong
        return (lib.func.hessian(lambda t: (Exp.apply(t) * t).sum())(x),
                lib.func.jacfwd(Exp.apply)(x))

    assert_mirrors(script, cr, torch)


@pytest.mark.chainrule_only
@pytest.mark.parametrize("multi", [False, True])
def test_function_graphs_are_freed_without_the_cycle_collector(cr, multi):
    import gc
    import weakref

    def run():
        x = cr.tensor([0.5, 1.0], requires_grad=True)
        if multi:
            a, b, _ = split_function(cr).apply(x)
            y = a * b
            node = a.grad_fn
        else:
            y = exp_function(cr).apply(x)  # saves its output: no node <-> tensor cycle
            node = y.grad_fn
        y.sum().backward(retain_graph=True)
        return weakref.ref(node)

    gc.disable()
    try:
        ref = run()
        assert ref() is None
    finally:
        gc.enable()
