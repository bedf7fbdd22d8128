"""Helpers of ``module.py``: PyTorch's ``typename``, repr indentation, hook handles and
the ``load_state_dict`` result."""

from __future__ import annotations

import itertools
from collections import namedtuple

import numpy as np

from ..._tensor import Tensor, wrap

__all__ = ["RemovableHandle", "typename"]


def typename(obj) -> str:
    """``torch.typename``: ``'torch.FloatTensor'`` for tensors, else the qualified name."""
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    if hasattr(obj, "__qualname__"):
        qualname = obj.__qualname__
    elif hasattr(obj, "__name__"):
        qualname = obj.__name__
    else:
        module = obj.__class__.__module__ or ""
        qualname = obj.__class__.__qualname__
    return qualname if module in ("", "builtins") else f"{module}.{qualname}"


def _addindent(s: str, spaces: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class RemovableHandle:
    """Returned by ``register_*_hook``; ``remove()`` unregisters the hook."""

    _next_id = itertools.count()

    def __init__(self, *dicts) -> None:
        self._dicts = dicts
        self.id = next(RemovableHandle._next_id)

    def remove(self) -> None:
        for d in self._dicts:
            d.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _as_tensor(value):
    """A checkpoint value as a Tensor: chainrule tensors as they are; NumPy arrays and
    objects with ``__array__`` (e.g. CPU torch tensors) converted; None otherwise."""
    if isinstance(value, Tensor):
        return value
    if hasattr(value, "__array__"):
        arr = np.asarray(value.detach() if hasattr(value, "detach") else value)
        return wrap(np.array(arr, copy=True))
    return None
