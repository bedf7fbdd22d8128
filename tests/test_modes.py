"""Modes: ``inference_mode``, saved-tensor hooks, anomaly detection.

Mirrored scripts pin PyTorch's behaviour; chainrule-only tests pin what makes the modes
free when unused (the recording code's single ``SAVE_HOOK`` check, the creation-site
switch).
"""

import gc
import warnings

import pytest
from conftest import Raised, assert_mirrors, square_function


def raises(ours, exc_type, *substrings):
    assert isinstance(ours, Raised), f"expected {exc_type.__name__}: {ours!r}"
    assert issubclass(ours.type, exc_type), ours
    for text in substrings:
        assert text in ours.message, (text, ours.message)


# ------------------------------------------------------------- inference mode


def test_inference_mode_flags(cr, torch):
    def script(lib):
        w = lib.ones(2, requires_grad=True)
        with lib.inference_mode():
            x = lib.ones(2)
            y = w * 2
            inside = (lib.is_inference_mode_enabled(), lib.is_grad_enabled(),
                      x.is_inference(), y.is_inference(), y.requires_grad)
            with lib.enable_grad():
                z = w * 2
                enabled = (lib.is_grad_enabled(), z.requires_grad, z.is_inference())
            with lib.inference_mode(False):
                q = w * 2
                off = (lib.is_grad_enabled(), lib.is_inference_mode_enabled(),
                       q.requires_grad, q.is_inference())
            x.add_(1)
        after = (lib.is_inference_mode_enabled(), w.is_inference(), x.tolist())
        return inside, enabled, off, after

    assert_mirrors(script, cr, torch)


def test_inference_tensors_outside(cr, torch):
    def script(lib):
        with lib.inference_mode():
            x = lib.ones(2)
        w = lib.ones(2, requires_grad=True)
        return ((x + w).requires_grad, (x * 2).is_inference(), x[0].is_inference(),
                x.clone().is_inference(), x.detach().is_inference(),
                lib.exp(x).is_inference(), x.view(2).is_inference())

    assert_mirrors(script, cr, torch)


@pytest.mark.parametrize("case", ["saved_by_mul", "saved_by_chain", "inplace", "version",
                                  "requires_grad"])
def test_inference_tensor_errors(cr, torch, case):
    def script(lib):
        with lib.inference_mode():
            x = lib.ones(2)
        w = lib.ones(2, requires_grad=True)
        if case == "saved_by_mul":
            return x * w
        if case == "saved_by_chain":
            return w.exp().mul(x)
        if case == "inplace":
            return x.add_(1)
        if case == "version":
            return x._version
        return x.requires_grad_()

    ours = assert_mirrors(script, cr, torch)
    expected = {"saved_by_mul": "Inference tensors cannot be saved for backward",
                "saved_by_chain": "Inference tensors cannot be saved for backward",
                "inplace": "Inplace update to inference tensor outside InferenceMode",
                "version": "Inference tensors do not track version counter",
                "requires_grad": "Setting requires_grad=True on inference tensor"}[case]
    raises(ours, RuntimeError, expected)


def test_inference_mode_decorators(cr, torch):
    def script(lib):
        w = lib.ones(2, requires_grad=True)

        @lib.inference_mode()
        def f(a):
            return a * 2, lib.is_inference_mode_enabled()

        @lib.inference_mode
        def g(a):
            return a * 2
        out, flag = f(w)
        return out.is_inference(), flag, g(w).is_inference(), lib.is_inference_mode_enabled()

    assert_mirrors(script, cr, torch)


def test_backward_of_an_existing_graph_inside_inference_mode(cr, torch):
    def script(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()
        with lib.inference_mode():
            y.backward()
        return x.grad

    assert_mirrors(script, cr, torch)


@pytest.mark.chainrule_only
def test_inference_checks_cost_nothing_when_unused(cr):
    from chainrule import _tensor
    from chainrule.ops import _record
    gc.collect()
    assert _record.SAVE_HOOK is None
    assert _tensor.wrap.__code__ is _tensor._WRAP_CODE[0]
    with cr.inference_mode():
        assert _tensor.wrap.__code__ is _tensor._WRAP_CODE[1]  # Note [inference wrap]
        x = cr.ones(2)
    assert _tensor.wrap.__code__ is _tensor._WRAP_CODE[0]
    assert _record.SAVE_HOOK is not None  # an inference tensor is alive
    del x
    gc.collect()
    assert _record.SAVE_HOOK is None


@pytest.mark.chainrule_only
def test_inference_mode_is_per_thread(cr):
    import threading
    made = {}
    entered = threading.Event()
    done = threading.Event()

    def other():
        with cr.inference_mode():
            entered.set()
            done.wait(5)
            made["other"] = cr.ones(1)

    t = threading.Thread(target=other)
    t.start()
    entered.wait(5)
    made["main"] = cr.ones(1)  # created while the other thread is in inference mode
    done.set()
    t.join()
    assert made["other"].is_inference() and not made["main"].is_inference()
    assert not cr.is_inference_mode_enabled()


# ----------------------------------------------------------- saved-tensor hooks


def test_saved_tensors_hooks_pack_and_unpack(cr, torch):
    def script(lib):
        log = []

        def pack(t):
            log.append(("pack", tuple(t.shape), t.requires_grad,
                        None if t.grad_fn is None else t.grad_fn.name()))
            return t.detach().numpy().copy()

        def unpack(a):
            log.append(("unpack", a.shape))
            return lib.from_numpy(a)

        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0, 4.0], requires_grad=True)
        with lib.autograd.graph.saved_tensors_hooks(pack, unpack):
            z = (x * w).exp()
            s = z.sin()
            x * 2  # a Python number is not a saved tensor
        packed = list(log)
        log.clear()
        s.sum().backward(retain_graph=True)
        first = list(log)
        s.sum().backward()
        return packed, first, len(log), x.grad, w.grad

    assert_mirrors(script, cr, torch)


def test_saved_tensors_hooks_replace_values_and_skip_version_checks(cr, torch):
    def script(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0, 4.0], requires_grad=True)
        with lib.autograd.graph.saved_tensors_hooks(lambda t: t * 0 + 1, lambda t: t):
            y = x * w
        y.sum().backward()
        a = x * 1
        with lib.autograd.graph.saved_tensors_hooks(lambda t: t.clone(), lambda t: t):
            b = a * a
        with lib.no_grad():
            a.mul_(3)
        x.grad = None
        b.sum().backward()
        return w.grad, x.grad

    assert_mirrors(script, cr, torch)


def test_saved_tensors_hooks_nesting_and_freed_values(cr, torch):
    def script(lib):
        log = []
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0, 4.0], requires_grad=True)
        hooks = lib.autograd.graph.saved_tensors_hooks
        with hooks(lambda t: ("outer", t), lambda p: p[1]):
            with hooks(lambda t: ("inner", t), lambda p: (log.append(p[0]), p[1])[1]):
                y = x * w
        y.sum().backward()
        y.sum().backward()

    ours = assert_mirrors(script, cr, torch)
    raises(ours, RuntimeError, "second time")


def test_saved_tensors_hooks_in_place_op_packs_the_old_value(cr, torch):
    def script(lib):
        seen = []
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0, 4.0], requires_grad=True)
        with lib.autograd.graph.saved_tensors_hooks(lambda t: (seen.append(t), t)[1],
                                                    lambda t: t):
            y = a * 1
            y.mul_(w)
        y.sum().backward()
        return sorted(t.tolist() for t in seen), a.grad, w.grad

    assert_mirrors(script, cr, torch)


def test_saved_tensors_hooks_with_custom_function_and_double_backward(cr, torch):
    def script(lib):
        log = []

        def pack(t):
            log.append("pack")
            return t

        def unpack(t):
            log.append("unpack")
            return t

        Sq = square_function(lib)
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        with lib.autograd.graph.saved_tensors_hooks(pack, unpack):
            y = Sq.apply(x).sum()
            c = (x * x * x).sum()
        y.backward()
        (g,) = lib.autograd.grad(c, x, create_graph=True)
        g.sum().backward()
        return sorted(log), x.grad

    assert_mirrors(script, cr, torch)


def test_unpack_must_return_a_tensor(cr, torch):
    def script(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        with lib.autograd.graph.saved_tensors_hooks(lambda t: t, lambda p: 3):
            y = x * x
        y.sum().backward()

    raises(assert_mirrors(script, cr, torch), TypeError, "unpack_hook")


def test_disable_saved_tensors_hooks(cr, torch):
    def script(lib):
        graph = lib.autograd.graph
        out = []
        with graph.disable_saved_tensors_hooks("no hooks here"):
            try:
                with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
                    pass
            except RuntimeError as exc:
                out.append(str(exc))
        with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
            try:
                with graph.disable_saved_tensors_hooks("not while active"):
                    pass
            except RuntimeError as exc:
                out.append(str(exc))
        with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
            pass  # allowed again
        return out

    assert_mirrors(script, cr, torch)


@pytest.mark.chainrule_only
def test_saved_tensors_hooks_are_removed_on_exit(cr):
    from chainrule.ops import _record
    gc.collect()
    with cr.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
        assert _record.SAVE_HOOK is not None
    assert _record.SAVE_HOOK is None


# ------------------------------------------------------------- anomaly mode


def test_anomaly_mode_flags(cr, torch):
    def script(lib):
        ag = lib.autograd
        out = [lib.is_anomaly_enabled(), lib.is_anomaly_check_nan_enabled()]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with ag.detect_anomaly():
                out.append(lib.is_anomaly_enabled())
            with ag.detect_anomaly(check_nan=False):
                out.append(lib.is_anomaly_check_nan_enabled())
        ag.set_detect_anomaly(True)
        out.append(lib.is_anomaly_enabled())
        ag.set_detect_anomaly(False)
        with ag.set_detect_anomaly(True):
            out.append(lib.is_anomaly_enabled())
        out.append(lib.is_anomaly_enabled())
        return out

    assert_mirrors(script, cr, torch)


def test_anomaly_mode_raises_on_nan_and_warns_with_the_forward_line(cr, torch):
    def script(lib):
        x = lib.tensor([0.0, 1.0], requires_grad=True)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always", UserWarning)
            with lib.autograd.detect_anomaly():
                y = (x * 0).log()
                try:
                    (y * 0).sum().backward()
                except RuntimeError as exc:
                    message = str(exc)
        detected = [str(m.message) for m in w if "Error detected in" in str(m.message)]
        return message.split(".")[0] + ".", len(detected), detected[0].split(".")[0]

    ours = assert_mirrors(script, cr, torch)
    assert ours[0] == "Function 'LogBackward0' returned nan values in its 0th output."


def test_anomaly_mode_without_nan_check_lets_nan_through(cr, torch):
    def script(lib):
        x = lib.tensor([0.0, 1.0], requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with lib.autograd.detect_anomaly(check_nan=False):
                ((x * 0).log() * 0).sum().backward()
        return x.grad

    assert_mirrors(script, cr, torch)


@pytest.mark.chainrule_only
def test_anomaly_error_names_the_creation_line(cr):
    x = cr.tensor([0.0, 1.0], requires_grad=True)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with cr.autograd.detect_anomaly():
            y = (x * 0).log()  # the line anomaly mode must point at
            with pytest.raises(RuntimeError, match=r"created at .*test_modes.py:\d+"):
                (y * 0).sum().backward()
    assert any("test_modes.py" in str(m.message) and "LogBackward0" in str(m.message)
               for m in w)


@pytest.mark.chainrule_only
def test_anomaly_mode_in_create_graph_and_custom_functions(cr):
    class Bad(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            raise ValueError("boom")

    x = cr.tensor([1.0], requires_grad=True)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with cr.autograd.detect_anomaly():
            with pytest.raises(ValueError, match="boom"):
                Bad.apply(x).sum().backward(create_graph=True)
    assert any("Error detected in BadBackward" in str(m.message) for m in w)


@pytest.mark.chainrule_only
def test_creation_site_switch(cr):
    from chainrule.autograd import node
    node._RECORD_SITES = False
    try:
        y = cr.ones(1, requires_grad=True) * 2
        assert y.grad_fn.created_at == "an unknown location"
    finally:
        node._RECORD_SITES = True
    y = cr.ones(1, requires_grad=True) * 2
    assert "test_modes.py" in y.grad_fn.created_at


@pytest.mark.chainrule_only
def test_anomaly_mode_also_catches_inf(cr):
    """PyTorch's anomaly mode checks NaN only; chainrule also stops at an inf cotangent,
    naming the node and the line that created it."""
    x = cr.tensor([0.0, 1.0], requires_grad=True)
    with pytest.warns(UserWarning), cr.autograd.detect_anomaly():
        y = x.sqrt().sum()
        with pytest.raises(RuntimeError, match=r"SqrtBackward0.*inf values.*test_modes\.py"):
            y.backward()
