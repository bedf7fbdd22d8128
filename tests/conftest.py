"""Shared fixtures and helpers for the black-box API tests.

The library under test is reached through the ``cr`` fixture. It is
``chainrule`` by default; ``CHAINRULE_TEST_LIB=torch`` makes it PyTorch
itself, which is how the suite is checked against the oracle before (and
while) chainrule is written:

    CHAINRULE_TEST_LIB=torch python -m pytest tests/

Most tests are *mirrored*: one small script takes the library module as its
argument, runs on both ``cr`` and real ``torch``, and the two outcomes
(values, gradients, dtypes, or the exception raised) must agree. Tests that
pin behaviour only chainrule promises carry ``@pytest.mark.chainrule_only``
and are skipped in the torch self-check.

Test modules import the plain helpers with ``from conftest import ...``.
"""

import builtins
import importlib
import os
import re
import sys

import numpy as np
import pytest

# `from conftest import ...` works under every pytest import mode, including
# --import-mode=importlib, which registers this module under another name.
sys.modules.setdefault("conftest", sys.modules[__name__])

LIB_NAME = os.environ.get("CHAINRULE_TEST_LIB", "chainrule")
TESTING_TORCH = LIB_NAME == "torch"

# Tolerances for float comparisons between two implementations: NumPy and
# PyTorch kernels may round float32 results differently in the last bits.
RTOL = 1e-5
ATOL = 1e-6


# ----------------------------------------------------------------- fixtures


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "chainrule_only: behaviour promised by chainrule only; skipped when "
        "CHAINRULE_TEST_LIB=torch",
    )


def pytest_collection_modifyitems(config, items):
    if not TESTING_TORCH:
        return
    skip = pytest.mark.skip(
        reason="chainrule-only test, skipped in the CHAINRULE_TEST_LIB=torch "
        "self-check")
    for item in items:
        if "chainrule_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cr():
    """The library under test: chainrule, or torch for the self-check."""
    return importlib.import_module(LIB_NAME)


@pytest.fixture(scope="session")
def torch():
    """Real PyTorch, the oracle; tests that need it skip when it is absent."""
    return pytest.importorskip("torch")


@pytest.fixture
def restore_default_dtype(cr, torch):
    """Put both libraries' default dtype back after a test changes it."""
    saved = cr.get_default_dtype(), torch.get_default_dtype()
    yield
    cr.set_default_dtype(saved[0])
    torch.set_default_dtype(saved[1])


# ------------------------------------------------------------------ helpers


def to_np(t):
    """A tensor's values as a NumPy array (``t.detach().numpy()``)."""
    return t.detach().numpy()


def dtype_name(dtype):
    """``'float32'`` for ``torch.float32``, whatever the module prefix."""
    return str(dtype).rsplit(".", 1)[-1]


def is_tensor(obj):
    return (hasattr(obj, "detach") and hasattr(obj, "numpy")
            and hasattr(obj, "dtype"))


class Raised:
    """The outcome of a script that raised: the exception and its message."""

    def __init__(self, exc):
        self.exc = exc
        self.type = type(exc)
        self.message = str(exc)

    def __repr__(self):
        return f"Raised({self.type.__name__}: {self.message!r})"


def outcome(script, lib):
    """Run ``script(lib)``; return its normalized result, or ``Raised``."""
    try:
        return normalize(script(lib))
    except Exception as exc:  # noqa: BLE001 - the exception is the result
        return Raised(exc)


def normalize(obj):
    """Turn tensors (at any depth) into ``(dtype name, ndarray)`` pairs."""
    if is_tensor(obj):
        return ("tensor", dtype_name(obj.dtype), np.array(to_np(obj)))
    if isinstance(obj, (list, tuple)):
        return type(obj)(normalize(o) for o in obj)
    if isinstance(obj, dict):
        return {k: normalize(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return np.array(obj)
    return obj


def builtin_exception_type(exc_type):
    """The nearest built-in ancestor of an exception type.

    torch raises ``NotImplementedError`` (a ``RuntimeError``) for kernels it
    lacks for a dtype; that is a gap, not a promise, so any RuntimeError
    counts as agreeing with it.
    """
    for klass in exc_type.__mro__:
        if getattr(builtins, klass.__name__, None) is klass:
            if klass is NotImplementedError:
                return RuntimeError
            return klass
    return Exception


def assert_same(ours, theirs, path="result"):
    """Assert two normalized outcomes agree (exception types by built-in)."""
    if isinstance(theirs, Raised):
        expected = builtin_exception_type(theirs.type)
        assert isinstance(ours, Raised), (
            f"{path}: torch raised {theirs!r}, the library returned {ours!r}")
        assert issubclass(ours.type, expected), (
            f"{path}: torch raised {theirs!r}, the library raised {ours!r}")
        return
    assert not isinstance(ours, Raised), (
        f"{path}: torch returned {theirs!r}, the library raised {ours!r}")
    if isinstance(theirs, tuple) and theirs[:1] == ("tensor",):
        assert isinstance(ours, tuple) and ours[:1] == ("tensor",), (
            f"{path}: expected a tensor, got {ours!r}")
        _, ours_dtype, ours_values = ours
        _, theirs_dtype, theirs_values = theirs
        assert ours_dtype == theirs_dtype, (
            f"{path}: dtype {ours_dtype} != torch's {theirs_dtype}")
        assert_values(ours_values, theirs_values, path)
    elif isinstance(theirs, (list, tuple)):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(theirs), (
            f"{path}: {ours!r} != {theirs!r}")
        for i, (o, t) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(o, t, f"{path}[{i}]")
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict) and ours.keys() == theirs.keys(), (
            f"{path}: {ours!r} != {theirs!r}")
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{path}[{key!r}]")
    elif isinstance(theirs, np.ndarray):
        assert_values(np.asarray(ours), theirs, path)
    elif isinstance(theirs, float):
        assert type(ours) is float, f"{path}: {ours!r} is not a float"
        assert_values(np.float64(ours), np.float64(theirs), path)
    else:
        assert type(ours) is type(theirs) and ours == theirs, (
            f"{path}: {ours!r} != torch's {theirs!r}")


def assert_values(ours, theirs, path="result"):
    assert ours.shape == theirs.shape, (
        f"{path}: shape {ours.shape} != torch's {theirs.shape}")
    if theirs.dtype.kind == "f":
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL,
                                   err_msg=path)
    else:
        np.testing.assert_array_equal(ours, theirs, err_msg=path)


def assert_mirrors(script, cr, torch):
    """Run ``script`` on both libraries and assert the outcomes agree.

    Returns the library-under-test's outcome for further checks (a
    ``Raised`` when it raised, so messages can be inspected).
    """
    ours, theirs = outcome(script, cr), outcome(script, torch)
    assert_same(ours, theirs)
    return ours


def mentions_shape(message, shape):
    """Whether ``message`` names ``shape`` as ``(2, 3)``, ``[2, 3]`` or
    ``2x3`` (the last form only for two or more dimensions)."""
    shape = tuple(shape)
    forms = [str(shape), str(list(shape))]
    if len(shape) > 1:
        forms.append("x".join(map(str, shape)))
    return any(form in message for form in forms)


def mentions_number(message, number):
    """Whether ``message`` contains ``number`` as a whole word."""
    pattern = rf"(?<!\d){re.escape(str(number))}(?!\d)"
    return re.search(pattern, message) is not None


# ---- custom Functions shared by several test files ------------------------------------

def square_function(lib):
    """``x * x`` as a custom Function saving its input (backward ``2 x g``)."""
    class Square(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 2 * x * g
    return Square


def batched_scale_function(lib, factor, shapes):
    """``x * factor`` as a Function that declares batched-grad support and records the
    shape of every cotangent its backward receives in ``shapes``."""
    class Scale(lib.autograd.Function):
        supports_batched_grads = True

        @staticmethod
        def forward(ctx, x):
            return x * factor

        @staticmethod
        def backward(ctx, g):
            shapes.append(tuple(g.shape))
            return g * factor
    return Scale


def pytest_terminal_summary(terminalreporter):
    """Print how many cases each fuzzer ran (tests/fuzzing.py)."""
    fuzzing = sys.modules.get("fuzzing")
    if fuzzing is None or not fuzzing.COUNTS:
        return
    mode = "long" if fuzzing.LONG else "CI"
    terminalreporter.write_line(f"fuzz cases run ({mode} mode):")
    for name, n in sorted(fuzzing.COUNTS.items()):
        terminalreporter.write_line(f"  {name}: {n}")
    for name, found in sorted(fuzzing.FINDINGS.items()):
        terminalreporter.write_line(f"known differences left to fix ({name}): {len(found)}")
