"""The ``meta`` device: tensors with a shape and a dtype and no data.

``MetaArray`` is one more array library for chainrule (Note [backends]): its namespace
answers every function of the Array API standard with the result's shape and dtype.  It
finds them by running NumPy's function on zero-stride stand-ins of the inputs (one
element of memory each), so every row and rule works on meta tensors without a shape
rule of its own; an op's output is allocated for that moment only and dropped.  Reading
values (``.item()``, ``.numpy()``, moving to another device) raises PyTorch's errors:
``Module.to_empty(device=...)`` gives a model on the meta device real memory.
"""

from __future__ import annotations

import math

import numpy as np

from . import _operators

__all__ = ["MetaArray", "META", "meta_like"]

_NO_DATA = ("Cannot copy out of meta tensor; no data! Please use torch.nn.Module.to_empty() "
            "instead of torch.nn.Module.to() when moving module from meta to a different "
            "device.")


class MetaArray:
    """The shape and dtype of an array that has no values."""

    __slots__ = ("shape", "dtype")
    __array_ufunc__ = None

    def __init__(self, shape, dtype) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    device = "meta"

    def __array_namespace__(self, api_version=None):
        return META

    def __repr__(self) -> str:
        return f"MetaArray(shape={self.shape}, dtype={self.dtype})"

    def stand_in(self) -> np.ndarray:
        """A read-only NumPy array of this shape and dtype holding one element."""
        return np.broadcast_to(np.zeros((), self.dtype), self.shape)

    def __array__(self, dtype=None, copy=None):
        raise NotImplementedError(_NO_DATA)

    def item(self, *args):
        raise RuntimeError("Tensor.item() cannot be called on meta tensors")

    __bool__ = __float__ = __int__ = __index__ = item

    def tolist(self):
        raise NotImplementedError(_NO_DATA)

    def astype(self, dtype, copy=True):
        return MetaArray(self.shape, dtype)

    def reshape(self, *shape):
        return META.reshape(self, shape[0] if len(shape) == 1 and not
                            isinstance(shape[0], int) else shape)

    def copy(self):
        return MetaArray(self.shape, self.dtype)

    @property
    def T(self):
        return MetaArray(self.shape[::-1], self.dtype)

    @property
    def mT(self):
        return MetaArray(self.shape[:-2] + self.shape[-2:][::-1], self.dtype)

    def __getitem__(self, key):
        return META.getitem(self, key)

    def __setitem__(self, key, value):
        META.getitem(self, key)  # (shape checks only: there is nothing to write)


def _in(a):
    if type(a) is MetaArray:
        return a.stand_in()
    if isinstance(a, (list, tuple)):
        return type(a)(_in(v) for v in a)
    return a


def _out(r):
    if isinstance(r, np.ndarray) or isinstance(r, np.generic):
        return MetaArray(np.shape(r), r.dtype)
    if isinstance(r, tuple):
        return type(r)(*(_out(v) for v in r)) if hasattr(r, "_fields") else \
            tuple(_out(v) for v in r)
    if isinstance(r, list):
        return [_out(v) for v in r]
    return r


def _lift(f):
    def g(*args, **kw):
        kw.pop("device", None)  # (the stand-ins are NumPy's: device "cpu")
        with np.errstate(all="ignore"):  # (the stand-ins' zeros: 0/0 means nothing here)
            return _out(f(*_in(args), **{k: _in(v) for k, v in kw.items()}))
    return g


class _Namespace:
    """The meta device's Array API namespace (``META``): NumPy's functions on
    zero-stride stand-ins, results as ``MetaArray``."""

    __name__ = "chainrule.meta"

    def __init__(self, module=np) -> None:
        self._m = module

    def __getattr__(self, name):
        f = getattr(self._m, name)
        if isinstance(f, type) or isinstance(f, np.dtype) or not callable(f):
            return f
        if name in ("isdtype", "finfo", "iinfo", "result_type", "can_cast"):
            return f
        g = _lift(f)
        setattr(self, name, g)
        return g

    @property
    def linalg(self):
        return _LINALG

    @staticmethod
    def all(x, axis=None, keepdims=False):  # (argument checks: no values to refuse)
        return MetaArray((), np.bool_) if axis is None and not keepdims else \
            _lift(np.all)(x, axis=axis, keepdims=keepdims)

    def asarray(self, a, dtype=None, copy=None, device=None):
        if type(a) is MetaArray:
            return a if dtype is None else MetaArray(a.shape, dtype)
        arr = np.asarray(a, dtype=dtype)
        return MetaArray(arr.shape, arr.dtype)

    def astype(self, x, dtype, copy=True):
        return MetaArray(x.shape, dtype)

    def getitem(self, a, key):
        keys = key if isinstance(key, tuple) else (key,)
        return _out(a.stand_in()[tuple(_in(k) for k in keys)])

    def erf(self, x):
        return MetaArray(x.shape, x.dtype)

    def exp2(self, x):
        return MetaArray(x.shape, x.dtype)


META = _Namespace()


class _Linalg(_Namespace):
    """linalg on stand-ins that are identity matrices (a zero matrix is singular, and
    solve/inv/cholesky would refuse it): shapes and dtypes only, as everywhere here."""

    def __getattr__(self, name):
        f = getattr(np.linalg, name)

        def g(*args, **kw):
            kw.pop("device", None)
            ins = [_eye_like(a) if type(a) is MetaArray else a for a in args]
            return _out(f(*ins, **kw))
        setattr(self, name, g)
        return g


def _eye_like(a):
    if a.ndim >= 2 and a.shape[-1] == a.shape[-2]:
        return np.broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), a.shape)
    return a.stand_in()


_LINALG = _Linalg(np.linalg)


_operators.install(MetaArray, lambda name: _lift(getattr(np, name)), lambda f: f)
MetaArray.__neg__ = lambda self: self.copy()
MetaArray.__pos__ = lambda self: self.copy()
MetaArray.__abs__ = lambda self: self.copy()
MetaArray.__invert__ = lambda self: self.copy()


def meta_like(a) -> MetaArray:
    """A meta array with ``a``'s shape and dtype."""
    from .array_api import np_dtype
    return MetaArray(tuple(a.shape), np_dtype(a.dtype))
