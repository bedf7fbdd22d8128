"""``autograd.gradcheck`` / ``gradgradcheck`` against PyTorch's, plus chainrule's extras
(float32 promotion, the worst entry in the message, one batched backward per output)."""

import warnings

import numpy as np
import pytest
from conftest import TESTING_TORCH, Raised, assert_mirrors, batched_scale_function


def inputs(lib, *shapes, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(lib.tensor(rng.uniform(0.5, 1.5, s), dtype=lib.float64, requires_grad=True)
                 for s in shapes)


def wrong_exp(lib, second_order_only=False):
    """exp with a wrong first derivative, or a right one whose own derivative is wrong."""
    class WrongExp(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            y, = ctx.saved_tensors
            return g * y.detach() if second_order_only else g * y * 1.01
    return WrongExp


def test_gradcheck_passes_on_correct_functions(cr, torch):
    def script(lib):
        ag = lib.autograd
        a, b = inputs(lib, (3,), (2, 3))
        return (ag.gradcheck(lambda x, y: (x * y).sin().sum(1), (a, b)),
                ag.gradcheck(lambda x: (x.exp(), x ** 2), (a,)),
                ag.gradcheck(lambda x, k: x * k, (a, 3.0)),
                ag.gradcheck(lambda x: x.sum(), a))

    assert_mirrors(script, cr, torch)


def test_gradcheck_catches_a_wrong_backward(cr, torch):
    def script(lib):
        (a,) = inputs(lib, (4,))
        quiet = lib.autograd.gradcheck(wrong_exp(lib).apply, (a,), raise_exception=False)
        lib.autograd.gradcheck(wrong_exp(lib).apply, (a,))
        return quiet

    ours = assert_mirrors(script, cr, torch)
    assert isinstance(ours, Raised) and "Jacobian mismatch" in ours.message
    if not TESTING_TORCH:
        from chainrule.autograd.gradcheck import GradcheckError
        assert issubclass(ours.type, GradcheckError)


@pytest.mark.parametrize("option", ["check_batched_grad", "fast_mode", "check_forward_ad"])
def test_gradcheck_options_pass_on_correct_functions(cr, torch, option):
    def script(lib):
        a, b = inputs(lib, (3,), (3,))
        return lib.autograd.gradcheck(lambda x, y: (x * y.exp()).tanh(), (a, b),
                                      **{option: True})

    assert_mirrors(script, cr, torch)


def test_fast_mode_catches_a_wrong_backward(cr, torch):
    def script(lib):
        (a,) = inputs(lib, (4,))
        return lib.autograd.gradcheck(wrong_exp(lib).apply, (a,), fast_mode=True,
                                      raise_exception=False)

    assert assert_mirrors(script, cr, torch) is False


def test_forward_ad_check_catches_a_wrong_jvp(cr, torch):
    def script(lib):
        class Sin(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                ctx.save_for_forward(x)
                return x.sin()

            @staticmethod
            def backward(ctx, g):
                x, = ctx.saved_tensors
                return g * x.cos()

            @staticmethod
            def jvp(ctx, t):
                x, = ctx.saved_tensors
                return t * x.cos() * 2

        (a,) = inputs(lib, (3,))
        return (lib.autograd.gradcheck(Sin.apply, (a,)),
                lib.autograd.gradcheck(Sin.apply, (a,), check_forward_ad=True,
                                       raise_exception=False))

    assert assert_mirrors(script, cr, torch) == (True, False)


def test_nondeterministic_backward(cr, torch):
    def script(lib):
        class Noisy(lib.autograd.Function):
            calls = [0]

            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                Noisy.calls[0] += 1
                return g * (2 + Noisy.calls[0] * 1e-9)

        (a,) = inputs(lib, (2,))
        return (lib.autograd.gradcheck(Noisy.apply, (a,), raise_exception=False),
                lib.autograd.gradcheck(Noisy.apply, (a,), nondet_tol=1e-6))

    assert assert_mirrors(script, cr, torch) == (False, True)


def test_backward_must_be_multiplied_by_grad_output(cr, torch):
    def script(lib):
        class Offset(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g * 2 + 1e-9

        (a,) = inputs(lib, (2,))
        lib.autograd.gradcheck(Offset.apply, (a,))

    ours = assert_mirrors(script, cr, torch)
    assert isinstance(ours, Raised) and "multiplied by grad_output" in ours.message


def test_gradcheck_needs_an_input_that_requires_grad(cr, torch):
    def script(lib):
        return lib.autograd.gradcheck(lambda x: x * 2, (lib.ones(2, dtype=lib.float64),))

    assert isinstance(assert_mirrors(script, cr, torch), Raised)


def test_gradgradcheck(cr, torch):
    def script(lib):
        ag = lib.autograd
        a, b = inputs(lib, (3,), (3,))
        good = ag.gradgradcheck(lambda x, y: (x * y).sin() * x, (a, b))
        given = ag.gradgradcheck(lambda x: x.exp() * x, (a,),
                                 (lib.tensor([1.0, -1.0, 0.5], dtype=lib.float64,
                                             requires_grad=True),))
        non_contig = ag.gradgradcheck(lambda x: x ** 3, (a,),
                                      gen_non_contig_grad_outputs=True)
        batched = ag.gradgradcheck(lambda x: x.tanh(), (a,), check_batched_grad=True)
        wrong = ag.gradgradcheck(wrong_exp(lib, second_order_only=True).apply, (a,),
                                 raise_exception=False)
        first_ok = ag.gradcheck(wrong_exp(lib, second_order_only=True).apply, (a,))
        return good, given, non_contig, batched, wrong, first_ok

    assert assert_mirrors(script, cr, torch) == (True, True, True, True, False, True)


def test_gradgradcheck_refuses_once_differentiable(cr, torch):
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

        (a,) = inputs(lib, (2,))
        return lib.autograd.gradgradcheck(Cube.apply, (a,))

    assert isinstance(assert_mirrors(script, cr, torch), Raised)


# -------------------------------------------------------- chainrule extras


@pytest.mark.chainrule_only
def test_float32_inputs_are_promoted_with_a_warning(cr):
    x = cr.tensor([0.5, 1.0, 2.0], requires_grad=True)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert cr.autograd.gradcheck(lambda t: (t * t).sin(), (x,))
    assert any("promotes it to float64" in str(m.message) for m in w)


@pytest.mark.chainrule_only
def test_mismatch_names_the_worst_entry(cr):
    class OffByOne(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            bump = cr.zeros(3, dtype=cr.float64)
            bump[2] = 5.0
            return g * 2 + bump * g

    x = cr.tensor([1.0, 2.0, 3.0], dtype=cr.float64, requires_grad=True)
    from chainrule.autograd.gradcheck import GradcheckError
    with pytest.raises(GradcheckError) as info:
        cr.autograd.gradcheck(OffByOne.apply, (x,))
    msg = str(info.value)
    assert "output 0 with respect to input 0" in msg
    assert "d output0[2] / d input0[2] is 7 (analytical) but 2 (numerical)" in msg, msg


@pytest.mark.chainrule_only
def test_analytical_jacobian_is_one_batched_backward_per_output(cr):
    shapes = []
    Scale = batched_scale_function(cr, 3, shapes)
    x = cr.tensor(np.linspace(0.5, 1.5, 6), requires_grad=True)
    assert cr.autograd.gradcheck(Scale.apply, (x,))
    # two batched passes (the check and the reentrancy check), each with all 6 rows,
    # then one zero cotangent (backward must multiply by grad_output)
    assert shapes == [(6, 6), (6, 6), (6,)]
