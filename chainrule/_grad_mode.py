"""Grad modes: ``no_grad``, ``enable_grad``, ``set_grad_enabled`` (thread-local).

Each works as a context manager and as a decorator, like PyTorch's.
"""

from __future__ import annotations

import functools
import threading

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]


class _State(threading.local):
    enabled = True


STATE = _State()


def is_grad_enabled() -> bool:
    """True when new operations are recorded for backward."""
    return STATE.enabled


class _GradMode:
    """Base: a context manager that sets grad mode and restores it on exit."""

    _target = True

    def __enter__(self):
        self._prev = STATE.enabled
        STATE.enabled = self._target
        return self

    def __exit__(self, *exc):
        STATE.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.clone():
                return fn(*args, **kwargs)
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
        self._target = bool(mode)
        STATE.enabled = self._target

    def __enter__(self):
        return self

    def __call__(self, fn):
        STATE.enabled = self._prev  # as a decorator it must not change the mode now
        return super().__call__(fn)

    def clone(self):
        return set_grad_enabled(self._target)
