"""The differentiable namespace ``xp``: the rule vocabulary on chainrule Tensors.

With ``create_graph=True`` the engine runs every derivative rule with this namespace:
the same rule text as on raw arrays, but each call is a recorded op, so the backward
pass is itself a graph that can be differentiated again.  Names and semantics match
``NumpyNamespace`` exactly, including ``nb`` leading batch dims on cotangents.
"""

from __future__ import annotations

import numpy as np

from .array_api import np_dtype


class TensorNamespace:
    """Tensors in, Tensors out, everything recorded.  ``nb``: leading batch dims."""

    _cache: dict = {}

    def __init__(self, nb: int = 0) -> None:
        self.nb = nb
        import chainrule as cr

        from ..ops import indexing, linalg, reductions, shape, transposes, views
        self._cr = cr
        self._T = transposes
        self._V = views
        self._R = reductions
        self._S = shape
        self._L = linalg
        self._I = indexing
        for name in ("exp", "log", "sin", "cos", "tan", "tanh", "sinh", "cosh", "sqrt",
                     "abs", "sign", "square", "reciprocal", "log1p", "isnan"):
            setattr(self, name, _numpy_dtypes(_unchecked(getattr(cr, name))))
        self.floor_divide = lambda x, y: cr.div(x, y, rounding_mode="floor")
        self.trunc_divide = lambda x, y: cr.div(x, y, rounding_mode="trunc")
        self.maximum = cr.maximum
        self.minimum = cr.minimum

    pi = np.pi

    @classmethod
    def get(cls, nb: int) -> TensorNamespace:
        ns = cls._cache.get(nb)
        if ns is None:
            ns = cls._cache[nb] = cls(nb)
        return ns

    def with_nb(self, k: int) -> TensorNamespace:
        return self if k == 0 else self.get(self.nb + k)

    @staticmethod
    def to_device(g, dev):
        return g.to(dev)

    # elementwise ---------------------------------------------------------------------
    def where(self, c, x, y):
        # Note [rule constants]: Python numbers in rules mean what they mean to NumPy;
        # two of them give float64 here too (PyTorch would pick the default float)
        if not isinstance(x, _Tensor()) and not isinstance(y, _Tensor()):
            x, y = _f64(x), _f64(y)
        return self._cr.where(self._as_bool(c), x, y)

    def _as_bool(self, c):
        from .._tensor import Tensor, wrap
        if isinstance(c, Tensor):
            return c
        return wrap(c if hasattr(c, "shape") and type(c) is not np.ndarray else np.asarray(c))

    def astype(self, x, dtype):
        from .._dtype import to_dtype
        return self._V.to_dtype(x, to_dtype(dtype).np)

    def copy(self, x):
        return self._V.clone(x)

    @staticmethod
    def asarray(a, dtype=None):
        """A constant (host data) as a Tensor that requires no grad."""
        from .._tensor import wrap
        if hasattr(a, "shape") and not isinstance(a, (np.ndarray, np.generic)):
            return wrap(a)  # another library's array (vmap's per-sample constants)
        return wrap(np.asarray(a, dtype))

    def diagonal_view(self, g, offset, a1, a2):
        return self.diagonal(g, offset, a1, a2)

    def equal(self, a, b):
        return self._cr.eq(a, b)

    def matmul(self, a, b):
        return self._L.matmul(a, b)

    def einsum(self, spec, *ops, optimize=False):
        return self._L.einsum(spec, *ops)  # (``optimize``: how NumPy contracts)

    def swapaxes(self, g, a, b):
        return self._V.transpose(g, a, b)

    def concatenate(self, xs, axis, dtype=None):
        out = self._S.cat(list(xs), axis)
        return out if dtype is None else self.astype(out, dtype)

    # words of row forwards (Note [forwards on xp] in ops/_core.py): nested forward-mode
    # levels run a linear row's forward on batched tangents here (autograd/forward_ad.py)
    def stack(self, xs, axis, dtype=None):
        out = self._S.stack(list(xs), axis)
        return out if dtype is None else self.astype(out, dtype)

    def contiguous_copy(self, x):
        return self._V.clone(x)

    @staticmethod
    def getitem(x, key):
        return x[key]  # (``key`` addresses the batch dims too)

    def expand(self, x, shape):
        return self.broadcast_to(x, shape)

    def add_reduce(self, x, axis=None, keepdims=False, dtype=None):
        out = self.sum(x, axis, keepdims)
        return out if dtype is None else self.astype(out, dtype)

    def add_accumulate(self, x, axis, dtype=None):
        out = self.cumsum(x, axis)
        return out if dtype is None else self.astype(out, dtype)

    @staticmethod
    def dtype_of(x):
        return np_dtype(x._data.dtype)

    def expand_dims(self, a, axis):
        axes = axis if isinstance(axis, tuple) else (axis,)
        nd = a.ndim + len(axes)
        for ax in sorted(ax % nd for ax in axes):
            a = self._V.unsqueeze(a, ax)
        return a

    def zeros(self, g, shape):
        from .._tensor import wrap
        d = g._data
        if type(d) is not np.ndarray:  # another library's: zeros there
            from .registry import backend_of
            return wrap(backend_of(d).xp.zeros(d, tuple(shape)) if not self.nb else
                        backend_of(d).xp.with_nb(self.nb).zeros(d, tuple(shape)))
        return wrap(np.zeros(tuple(g.shape[:self.nb]) + tuple(shape), dtype=d.dtype))

    # reductions ----------------------------------------------------------------------------
    def sum(self, x, axis=None, keepdims=False):
        if axis == ():
            return x  # NumPy's axis=() reduces nothing (PyTorch's dim=() reduces all)
        if axis is None:
            axis = tuple(range(self.nb - x.ndim, 0)) if self.nb else None
        if axis is None:
            return self._R.sum(x)
        return self._R.sum(x, dim=axis, keepdim=keepdims)

    def mean(self, x, axis, keepdims=False):
        if axis == ():
            return x
        return self._R.mean(x, dim=axis, keepdim=keepdims)

    def prod(self, x, axis, keepdims=False):
        axes = axis if isinstance(axis, tuple) else (axis,)
        nd = x.ndim
        for ax in sorted((a % nd for a in axes), reverse=True):
            x = self._R.prod(x, ax, keepdim=True)
        if not keepdims:
            x = self._V.squeeze(x, tuple(a % nd for a in axes)) if axes else x
        return x

    def cumprod(self, x, axis):
        return self._R.cumprod(x, axis)

    # linear helpers: rows of ops/transposes.py ------------------------------------------
    def _linear(self, row, g, *params):
        shape = tuple(g.shape[self.nb:])
        return row.apply1(g, self.nb, shape, *params)

    def view_of(self, g, steps, k=0):
        return self._linear(self._T.VIEW_OF, g, steps, self.nb + k)

    def view_replace(self, g, steps, value, k=0):
        from ..ops._core import VIEW_REPLACE, nary
        return nary(VIEW_REPLACE, (g, value), (steps, self.nb + k))

    def sum_to(self, g, shape):
        if tuple(g.shape[self.nb:]) == tuple(shape):
            return g
        return self._linear(self._T.SUM_TO, g, tuple(shape))

    def unreduce(self, g, shape, axes, keepdim):
        return self._linear(self._T.UNREDUCE, g, tuple(shape), axes, keepdim)

    def reshape(self, g, shape):
        return self._linear(self._T.RESHAPE, g, tuple(shape))

    def broadcast_to(self, g, shape):
        return self._linear(self._T.BROADCAST_TO, g, tuple(shape))

    def permute(self, g, axes):
        return self._linear(self._T.PERMUTE, g, tuple(axes))

    def index(self, g, key):
        return self._linear(self._T.INDEX, g, _raw_key(key))

    def scatter(self, g, shape, key, accumulate):
        return self._linear(self._T.SCATTER, g, tuple(shape), _raw_key(key), accumulate)

    def scatter_set(self, g, key, value):
        if value != 0:
            raise ValueError("scatter_set with a nonzero value is not linear")
        return self._linear(self._T.SCATTER_ZERO, g, _raw_key(key))

    def scatter_along(self, g, shape, idx, axis):
        return self._linear(self._T.SCATTER_ALONG, g, tuple(shape), _raw(idx), axis)

    def gather(self, x, idx, axis):
        return self._linear(self._T.GATHER, x, _raw(idx), axis)

    def fill_along(self, g, idx, axis, value):
        if value != 0:
            raise ValueError("fill_along with a nonzero value is not linear")
        return self._linear(self._T.FILL_ZERO_ALONG, g, _raw(idx), axis)

    def diag_embed(self, g, offset, a1, a2, shape):
        return self._linear(self._T.DIAG_EMBED, g, offset, a1, a2, tuple(shape))

    def diagonal(self, g, offset, a1, a2):
        return self._linear(self._T.DIAGONAL, g, offset, a1, a2)

    def pad(self, g, widths):
        return self._linear(self._T.PAD, g, [tuple(w) for w in widths])

    def roll(self, g, shifts, axes):
        return self._linear(self._T.ROLL, g, shifts, axes)

    def flip(self, g, axes):
        return self._linear(self._T.FLIP, g, axes)

    def cumsum(self, g, axis):
        return self._linear(self._T.CUMSUM, g, axis)

    def reverse_cumsum(self, g, axis):
        return self._linear(self._T.REVERSE_CUMSUM, g, axis)

    def tril(self, g, k):
        return self._linear(self._T.TRIL, g, k)

    def triu(self, g, k):
        return self._linear(self._T.TRIU, g, k)

    # sliding windows: rows of ops/nn_ops.py (im2col and col2im transpose each other) --
    def im2col(self, x, kernel, stride, padding, dilation):
        from ..ops import nn_ops
        return nn_ops.XP_IM2COL.apply1(x, kernel, stride, padding, dilation,
                                       tuple(x.shape[-2:]))

    def col2im(self, cols, hw, kernel, stride, padding, dilation):
        from ..ops import nn_ops
        return nn_ops.XP_COL2IM.apply1(cols, tuple(hw), kernel, stride, padding, dilation)

    def window_argmax(self, x, kernel, stride, padding, dilation):
        from .._tensor import wrap
        from .registry import backend_of
        raw = _raw(x)  # a constant, on the data's own library
        return wrap(backend_of(raw).xp.window_argmax(raw, kernel, stride, padding, dilation))

    # matrices: rows of ops/linalg_decomp.py, batch-agnostic like the raw words ----------
    def solve(self, a, b):
        from ..ops import linalg_decomp
        return linalg_decomp.solve_matrix(a, b)

    def inv(self, a):
        from ..ops import linalg_decomp
        return linalg_decomp.inv(a)

    def det(self, a):
        from ..ops import linalg_decomp
        return linalg_decomp.det(a)

    def svd(self, a):
        from ..ops import linalg_decomp
        return tuple(linalg_decomp.svd(a, full_matrices=False))

    @staticmethod
    def all_nonzero(x) -> bool:
        from .registry import backend_of
        raw = _raw(x)
        if type(raw) is np.ndarray:
            return bool(np.all(raw != 0))
        return backend_of(raw).xp.all_nonzero(raw)  # (vmap's: every sample's values)

    def narrow(self, x, axis, start, length):
        return self._V.narrow(x, axis % x.ndim, start, length)

    def pack(self, parts, shapes):
        from ..ops import linalg_decomp
        return linalg_decomp.pack(parts, shapes)

    def unpack(self, p, shapes):
        from ..ops import linalg_decomp
        return linalg_decomp.unpack(p, shapes)


def _Tensor():
    from .._tensor import Tensor
    return Tensor


def _f64(v):
    from .._tensor import wrap
    return wrap(np.asarray(v, np.float64))


def _unchecked(fn):
    """A public function without its argument checks (Note [argument checks] in
    _args.py): rules call it with Tensors only."""
    return fn.__wrapped__ if getattr(fn, "__wrapped_boundary__", False) else fn


def _numpy_dtypes(fn):
    """An elementwise function whose integer or Python-number input is computed in
    float64, as NumPy does in the raw namespace (Note [rule constants])."""
    def apply(x):
        if not isinstance(x, _Tensor()) or np_dtype(x._data.dtype).kind in "biu":
            x = _f64(x._data if isinstance(x, _Tensor()) else x)
        return fn(x)
    apply.__name__ = fn.__name__
    return apply


def _raw(idx):
    from .._tensor import Tensor
    return idx._data if isinstance(idx, Tensor) else idx


def _raw_key(key):
    """An index key with its saved index tensors as arrays (a rule's key holds them as
    Tensors when it runs with ``create_graph``)."""
    return tuple(_raw(k) for k in key) if type(key) is tuple else _raw(key)
