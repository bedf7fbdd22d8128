"""Grad modes: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``
(thread-local).

Each works as a context manager and as a decorator, like PyTorch's.
"""

from __future__ import annotations

import functools
import inspect
import threading

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "inference_mode", "is_inference_mode_enabled"]


class _State(threading.local):
    enabled = True     # new ops are recorded (the only flag the hot path reads)
    inference = False  # inside inference_mode (Note [inference tensors])
    wanted = True      # the grad mode set by users; differs from ``enabled`` only in
    #                    inference mode, where nothing is recorded whatever it says


STATE = _State()


def is_grad_enabled() -> bool:
    """True when new operations are recorded for backward."""
    return STATE.enabled if not STATE.inference else STATE.wanted


class _GradMode:
    """Base: a context manager that sets grad mode and restores it on exit."""

    _target = True

    def __enter__(self):
        self._prev = STATE.enabled
        self._prev_wanted = STATE.wanted
        STATE.wanted = self._target
        STATE.enabled = self._target and not STATE.inference
        return self

    def __exit__(self, *exc):
        STATE.enabled = self._prev
        STATE.wanted = self._prev_wanted
        return False

    def __call__(self, fn):
        if inspect.isgeneratorfunction(fn):
            return self._wrap_generator(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.clone():
                return fn(*args, **kwargs)
        return wrapper

    def _wrap_generator(self, fn):
        """A generator runs its body at each resumption, not when it is called: set the
        mode around every ``next``/``send``/``throw``/``close``, as PyTorch does, and give
        the caller back its own mode in between."""

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            gen = fn(*args, **kwargs)
            try:
                with self.clone():
                    response = gen.send(None)
                while True:
                    try:
                        request = yield response
                    except GeneratorExit:
                        with self.clone():
                            gen.close()
                        raise
                    except BaseException as exc:  # noqa: BLE001 - passed into the generator
                        with self.clone():
                            response = gen.throw(exc)
                    else:
                        with self.clone():
                            response = gen.send(request)
            except StopIteration as stop:
                return stop.value
        return wrapper

    def clone(self):
        return type(self)()


class _NoParamMode(_GradMode):
    """Also usable as a bare decorator: ``@no_grad`` as well as ``@no_grad()``."""

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        if fn is None:
            return self
        return self(fn)


class no_grad(_NoParamMode):
    """Do not record operations: results have ``requires_grad=False``."""

    _target = False


class enable_grad(_NoParamMode):
    """Record operations again inside a ``no_grad`` block."""

    _target = True


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(mode)``: sets grad mode now (like PyTorch, it acts on call,
    so it also works as a plain function) and restores it when used with ``with``."""

    def __init__(self, mode: bool) -> None:
        self._prev = STATE.enabled
        self._prev_wanted = STATE.wanted
        self._target = bool(mode)
        STATE.wanted = self._target
        STATE.enabled = self._target and not STATE.inference

    def __enter__(self):
        return self

    def __call__(self, fn):
        STATE.enabled = self._prev  # as a decorator it must not change the mode now
        STATE.wanted = self._prev_wanted
        return super().__call__(fn)

    def clone(self):
        return set_grad_enabled(self._target)


# ---- inference mode ------------------------------------------------------------------------
# Note [inference tensors]: a tensor created inside ``inference_mode`` is marked by its
# version counter: an ``InferenceVC`` (a list subclass) instead of a plain ``[0]``.  Views
# and ``detach()`` share the counter, so they are inference tensors too, as in PyTorch;
# no Tensor slot is added and the hot path pays nothing: ``wrap`` is swapped for a marking
# version while some thread is inside inference mode (Note [inference wrap] in
# _tensor.py), and saving a value for backward looks at counters only while some
# InferenceVC is alive (``ops._record.SAVE_HOOK``).

ACTIVE = [0]  # how many inference_mode(True) blocks are open, all threads together
LIVE = [0]    # InferenceVC objects alive
ON_CHANGE = [None]  # set by autograd._saved: refresh the save hook when LIVE hits 0 or 1


class InferenceVC(list):
    """The version counter of inference tensors (Note [inference tensors])."""

    __slots__ = ()

    def __del__(self):
        try:
            LIVE[0] -= 1
            if not LIVE[0] and ON_CHANGE[0] is not None:
                ON_CHANGE[0]()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def new_version_counter():
    """A version counter for a new tensor: an InferenceVC inside inference mode."""
    if not STATE.inference:
        return [0]
    LIVE[0] += 1
    if LIVE[0] == 1 and ON_CHANGE[0] is not None:
        ON_CHANGE[0]()
    return InferenceVC((0,))


def _set_inference_wrap(on: bool) -> None:
    from ._tensor import set_inference_wrap
    set_inference_wrap(on)


def is_inference_mode_enabled() -> bool:
    """True inside ``inference_mode()``."""
    return STATE.inference


class inference_mode(_GradMode):
    """Like ``no_grad``, and tensors created inside are *inference tensors*: they can
    never be saved for backward later, nor changed in place outside inference mode
    (PyTorch's rules).  ``inference_mode(False)`` turns it off inside (and grad on).
    A context manager and a decorator (``@inference_mode`` or ``@inference_mode()``)."""

    def __new__(cls, mode=True):
        self = super().__new__(cls)
        if callable(mode) and not isinstance(mode, bool):
            self.__init__()
            return self(mode)
        return self

    def __init__(self, mode: bool = True) -> None:
        self.mode = bool(mode)

    def __enter__(self):
        self._prev = (STATE.enabled, STATE.wanted, STATE.inference)
        STATE.inference = self.mode
        STATE.enabled = STATE.wanted = not self.mode
        if self.mode:
            ACTIVE[0] += 1
            if ACTIVE[0] == 1:
                _set_inference_wrap(True)
        return self

    def __exit__(self, *exc):
        if self.mode:
            ACTIVE[0] -= 1
            if ACTIVE[0] == 0:
                _set_inference_wrap(False)
        STATE.enabled, STATE.wanted, STATE.inference = self._prev
        return False

    def clone(self):
        return type(self)(self.mode)
