"""The rule vocabulary on any Array-API library (CuPy, Dask, array-api-strict ...).

``ArrayApiNamespace(module)`` gives the same words as ``NumpyNamespace`` (see
``numpy_backend.py`` for what each means), written only with the Array API standard
(``module`` is the library's array-api-compat namespace), so one rule text runs on every
library.  Two kinds of word need more than the standard:

- words the standard lacks but most libraries have under NumPy's name (``einsum``,
  ``pad``, ``add.at``-style scatters): taken from the library when it has them, otherwise
  written with standard functions (scatters as one-hot contractions, windows as
  strided slices);
- words no standard function can express on a library (a Dask boolean mask has an
  unknown size): ``BackendError``, naming the word and the library.

dtypes: chainrule speaks NumPy dtypes (``float32`` is ``np.dtype('float32')``) everywhere
above this layer; ``dtype(dt)`` maps one to the library's own object and ``np_dtype(a)``
maps back.
"""

from __future__ import annotations

import math

import numpy as np

from . import _windows


class BackendError(RuntimeError):
    """An op or a rule needs something the array library cannot do."""


def np_dtype(dt) -> np.dtype:
    """The NumPy dtype of a library's dtype object (identity for NumPy's own)."""
    if isinstance(dt, np.dtype):
        return dt
    inner = getattr(dt, "_np_dtype", None)  # array-api-strict
    if inner is not None:
        return np.dtype(inner)
    return np.dtype(str(dt).rsplit(".", 1)[-1])


class ArrayApiNamespace:
    """Arrays of one Array-API library in, the same kind out; nothing recorded."""

    def __init__(self, module, name: str, nb: int = 0, *, lib=None) -> None:
        self.m = module  # the array-api-compat namespace
        self.lib = lib if lib is not None else module  # the library's own module (extras)
        self.name = name
        self.nb = nb
        self._with = {0: self} if nb == 0 else {}
        self.pi = math.pi
        m = module
        for word in ("exp", "log", "sin", "cos", "tan", "tanh", "sinh", "cosh", "sqrt",
                     "abs", "trunc", "floor_divide", "square", "maximum", "minimum",
                     "log1p", "isnan", "matmul", "floor", "ceil", "expm1", "log2", "log10",
                     "isinf", "isfinite", "negative", "sinh", "cosh", "asin", "acos", "atan",
                     "atan2", "asinh", "acosh", "atanh", "signbit", "remainder",
                     "argsort", "sort", "nonzero", "broadcast_arrays",
                     "expand_dims", "squeeze", "arange", "full", "ones", "empty",
                     "zeros_like", "ones_like", "full_like", "empty_like", "eye",
                     "greater", "greater_equal", "less", "less_equal", "not_equal",
                     "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_invert",
                     "bitwise_left_shift", "bitwise_right_shift", "pow",
                     "subtract", "divide", "max", "min", "any", "all",
                     "argmax", "argmin", "clip", "linspace", "count_nonzero"):
            f = getattr(m, word, None)
            if f is not None:
                setattr(self, word, f)

    def __repr__(self) -> str:
        return f"<namespace {self.name} nb={self.nb}>"

    def with_nb(self, k: int) -> ArrayApiNamespace:
        """This namespace with ``k`` more leading batch dims."""
        if k == 0:
            return self
        nb = self.nb + k
        ns = self._with.get(nb)
        if ns is None:
            ns = self._with[nb] = ArrayApiNamespace(self.m, self.name, nb, lib=self.lib)
        return ns

    def missing(self, word: str, why: str = ""):
        return BackendError(
            f"{word}: not available on {self.name} arrays{': ' + why if why else ''}. "
            f"Move the tensor to NumPy first (t.cpu() / chainrule.compute(t)), or compute "
            f"this step with another op.")

    # dtypes ----------------------------------------------------------------------------
    def dtype(self, dt):
        """The library's dtype object for a NumPy dtype (or a library dtype)."""
        if not isinstance(dt, (np.dtype, type)) and dt is not float and dt is not int:
            return dt
        name = np.dtype(dt).name
        try:
            return getattr(self.m, name)
        except AttributeError:
            raise self.missing(f"dtype {name}") from None

    def astype(self, x, dtype):
        want = self.dtype(dtype)
        return x if x.dtype == want else self.m.astype(x, want)

    def asarray(self, a, dtype=None):
        """``a`` (an array of any library, or Python data) as this library's array."""
        if isinstance(a, np.ndarray) or isinstance(a, np.generic):
            a = np.asarray(a)
            if dtype is None:
                dtype = a.dtype
            try:
                return self.m.asarray(a, dtype=self.dtype(dtype))
            except (TypeError, ValueError):
                return self.m.asarray(a.tolist(), dtype=self.dtype(dtype))
        if dtype is None:
            return self.m.asarray(a)
        return self.m.asarray(a, dtype=self.dtype(dtype))

    def copy(self, x):
        return self.m.asarray(x, copy=True)

    def contiguous_copy(self, x):
        return self.m.asarray(x, copy=True)

    def cast(self, x, dtype):
        return self.astype(x, dtype)

    # elementwise ------------------------------------------------------------------------
    def where(self, c, x, y):
        m = self.m
        if not hasattr(c, "dtype"):
            c = m.asarray(c)
        elif isinstance(c, np.ndarray):  # a constant mask computed on the host
            c = self.asarray(c)
        if c.dtype != m.bool:
            c = c != 0
        like = x if hasattr(x, "dtype") else y if hasattr(y, "dtype") else None
        if like is None:
            x = m.asarray(x, dtype=m.float64)
            like = x
        if not hasattr(x, "dtype"):
            x = m.asarray(x, dtype=like.dtype)
        if not hasattr(y, "dtype"):
            y = m.asarray(y, dtype=like.dtype)
        return m.where(c, x, y)

    def sign(self, x):
        # PyTorch's sign of nan is 0 (Note [sign of NaN] in numpy_backend.py)
        s = self.m.sign(x)
        if self.m.isdtype(s.dtype, "real floating"):
            s = self.m.where(self.m.isnan(s), self.m.zeros_like(s), s)
        return s

    def reciprocal(self, x):
        return 1 / x

    def trunc_divide(self, x, y):
        return self.m.trunc(x / y)

    def equal(self, a, b):
        return a == b

    # forwards of elementwise rows (ops/elementwise.py) ---------------------------------
    def exp2(self, x):
        f = getattr(self.lib, "exp2", None)
        return f(x) if f is not None else self.m.pow(2.0, x)

    def round(self, x, decimals=0):
        """Half to even, at ``decimals`` digits after the point (as NumPy computes it)."""
        m = self.m
        if not decimals:
            return m.round(x)
        if decimals > 0:
            y = 10.0 ** decimals
            return m.round(x * y) / y
        y = 10.0 ** -decimals
        return m.round(x / y) * y

    def _as_bool(self, x):
        return x if self.m.isdtype(x.dtype, "bool") else x != 0

    def logical_and(self, x, y):  # NumPy's: any dtype, by truth value
        return self.m.logical_and(self._as_bool(x), self._as_bool(y))

    def logical_or(self, x, y):
        return self.m.logical_or(self._as_bool(x), self._as_bool(y))

    def logical_xor(self, x, y):
        return self.m.logical_xor(self._as_bool(x), self._as_bool(y))

    def logical_not(self, x):
        return self.m.logical_not(self._as_bool(x))

    def add(self, x, y):  # bool + bool is or, as NumPy's and PyTorch's
        if self.m.isdtype(x.dtype, "bool") and self.m.isdtype(y.dtype, "bool"):
            return self.m.logical_or(x, y)
        return self.m.add(x, y)

    def multiply(self, x, y):
        if self.m.isdtype(x.dtype, "bool") and self.m.isdtype(y.dtype, "bool"):
            return self.m.logical_and(x, y)
        return self.m.multiply(x, y)

    def fmod(self, x, y):
        """C's fmod (the sign of ``x``), exactly: the Array API has only the floored
        remainder, which is exact for non-negative operands."""
        m = self.m
        r = m.remainder(m.abs(x), m.abs(y))
        if m.isdtype(r.dtype, "real floating"):
            return m.copysign(r, x)
        return m.where(x < 0, -r, r)

    def erf(self, x):
        f = getattr(self.lib, "erf", None)
        if f is not None:
            return f(x)
        if self.name == "dask":  # NumPy blocks: the NumPy word per block
            from .numpy_backend import RAW
            return self.lib.map_blocks(RAW.erf, x, dtype=x.dtype)
        if self.name == "cupy":
            from cupyx.scipy.special import erf
            return erf(x)
        raise self.missing("erf", "the Array API standard has no error function")

    def isposinf(self, x):
        return self.m.isinf(x) & (x > 0)

    def isneginf(self, x):
        return self.m.isinf(x) & (x < 0)

    def sigmoid(self, x):
        m = self.m
        e = m.exp(-m.abs(x))
        return m.where(x >= 0, 1 / (1 + e), e / (1 + e))

    def relu(self, x):
        return self.m.maximum(x, 0)

    def rsqrt(self, x):
        return 1 / self.m.sqrt(x)

    def dtype_of(self, a):
        return np_dtype(a.dtype)

    def result_kind(self, x, y):
        return np.result_type(*(np_dtype(v.dtype) if hasattr(v, "dtype") else v
                                for v in (x, y))).kind

    # forwards of reductions and order rows (ops/reductions.py, ops/sorting.py) -----------
    def _reduce(self, f, a, axis, dtype, keepdims):
        if dtype is not None:
            a = self.astype(a, dtype)
        elif self.m.isdtype(a.dtype, "bool"):
            a = self.astype(a, np.int64)
        return f(a, axis=axis, keepdims=keepdims)

    def add_reduce(self, a, axis=None, dtype=None, keepdims=False):
        return self._reduce(self.m.sum, a, axis, dtype, keepdims)

    def multiply_reduce(self, a, axis=None, dtype=None, keepdims=False):
        return self._reduce(self.m.prod, a, axis, dtype, keepdims)

    def maximum_reduce(self, a, axis=None, keepdims=False):
        return self.m.max(a, axis=axis, keepdims=keepdims)

    def minimum_reduce(self, a, axis=None, keepdims=False):
        return self.m.min(a, axis=axis, keepdims=keepdims)

    def add_accumulate(self, a, axis, dtype=None):
        if dtype is not None:
            a = self.astype(a, dtype)
        return self.m.cumulative_sum(a, axis=axis)

    def multiply_accumulate(self, a, axis, dtype=None):
        if dtype is not None:
            a = self.astype(a, dtype)
        return self.cumprod(a, axis)

    def kth(self, a, k):
        return self.m.sort(a, axis=-1)[..., k]

    # shapes -----------------------------------------------------------------------------
    def sum_to(self, g, shape):
        shape = tuple(shape)
        nb = self.nb
        if tuple(g.shape[nb:]) == shape:
            return g
        lead = g.ndim - nb - len(shape)
        axes = tuple(range(nb, nb + lead))
        axes += tuple(nb + lead + i for i, s in enumerate(shape)
                      if s == 1 and g.shape[nb + lead + i] != 1)
        out = self.m.sum(g, axis=axes, keepdims=True) if axes else g
        return self.m.reshape(out, tuple(g.shape[:nb]) + shape)

    def unreduce(self, g, shape, axes, keepdim):
        nd = len(shape)
        if axes is None:
            axes = tuple(range(-nd, 0))
        if not keepdim:
            full = tuple(g.shape[:self.nb]) + tuple(
                1 if i - nd in axes else shape[i] for i in range(nd))
            g = self.m.reshape(g, full)
        return self.m.broadcast_to(g, tuple(g.shape[:self.nb]) + tuple(shape))

    def reshape(self, g, shape):
        shape = tuple(g.shape[:self.nb]) + tuple(shape)
        if self.name == "dask":
            return _dask_reshape(self.m, g, shape, self.nb)
        return self.m.reshape(g, shape)

    def expand(self, a, shape):
        return self.m.broadcast_to(a, tuple(a.shape[:self.nb]) + tuple(shape))

    def broadcast_to(self, g, shape):
        return self.m.broadcast_to(g, tuple(g.shape[:self.nb]) + tuple(shape))

    def permute(self, g, axes):
        nb = self.nb
        return self.m.permute_dims(g, tuple(range(nb)) + tuple(a + nb for a in axes))

    def swapaxes(self, g, a, b):
        axes = list(range(g.ndim))
        axes[a], axes[b] = axes[b], axes[a]
        return self.m.permute_dims(g, tuple(axes))

    def zeros(self, g, shape):
        return self.m.zeros(tuple(g.shape[:self.nb]) + tuple(shape), dtype=g.dtype,
                            **self._device_of(g))

    def _device_of(self, a):
        dev = getattr(a, "device", None)
        return {} if dev is None or self.name == "dask" else {"device": dev}

    def mean(self, x, axis, keepdims=False):
        if np_dtype(x.dtype) == np.float16:
            w = self.m.astype(x, self.m.float32)
            return self.m.astype(self.m.mean(w, axis=axis, keepdims=keepdims), x.dtype)
        return self.m.mean(x, axis=axis, keepdims=keepdims)

    def sum(self, x, axis=None, keepdims=False):
        if axis is None and self.nb:
            axis = tuple(range(self.nb - x.ndim, 0))
        if isinstance(axis, list):
            axis = tuple(axis)
        if self.m.isdtype(x.dtype, "bool"):  # NumPy counts the True entries
            x = self.m.astype(x, self.m.int64)
        if np_dtype(x.dtype) == np.float16:
            return self.m.sum(x, axis=axis, keepdims=keepdims, dtype=self.m.float32
                              ).astype(x.dtype)
        return self.m.sum(x, axis=axis, keepdims=keepdims)

    def prod(self, x, axis, keepdims=False):
        return self.m.prod(x, axis=axis, keepdims=keepdims)

    def concatenate(self, xs, axis, dtype=None):
        if dtype is not None:
            xs = [self.astype(x, dtype) for x in xs]
        return self.m.concat(list(xs), axis=axis)

    def stack(self, xs, axis, dtype=None):
        if dtype is not None:
            xs = [self.astype(x, dtype) for x in xs]
        return self.m.stack(list(xs), axis=axis)

    def take(self, a, idx, axis):
        idx = self._numpy_index(idx, "take").reshape(-1)
        m = self.m
        return m.take(a, m.asarray(idx.astype(np.int64), **self._device_of(a)),
                      axis=axis % a.ndim)

    def flip(self, g, axes):
        return self.m.flip(g, axis=axes)

    def roll(self, g, shifts, axes):
        return self.m.roll(g, shift=shifts, axis=axes)

    def cumsum(self, g, axis):
        if self.m.isdtype(g.dtype, "bool"):  # NumPy counts the True entries
            g = self.m.astype(g, self.m.int64)
        dt = np_dtype(g.dtype)
        if dt in (np.float16, np.float32):  # Note [low-precision accumulation]
            wide = self.m.astype(g, self.m.float64)
            return self.m.astype(self.m.cumulative_sum(wide, axis=axis), g.dtype)
        return self.m.cumulative_sum(g, axis=axis)

    def reverse_cumsum(self, g, axis):
        return self.m.flip(self.cumsum(self.m.flip(g, axis=axis), axis), axis=axis)

    def cumprod(self, x, axis):
        cp = getattr(self.m, "cumulative_prod", None)
        if cp is None:
            raise self.missing("cumprod")
        return cp(x, axis=axis)

    def tril(self, g, k):
        return self.m.tril(g, k=k)

    def triu(self, g, k):
        return self.m.triu(g, k=k)

    def pad(self, g, widths, value=0):
        """Pad the trailing dims with ``widths`` [(before, after), ...] of ``value``."""
        m = self.m
        nd = g.ndim
        out = g
        for i, (lo, hi) in enumerate(widths):
            ax = nd - len(widths) + i
            parts = []
            if lo:
                s = list(out.shape)
                s[ax] = lo
                parts.append(m.full(tuple(s), value, dtype=g.dtype, **self._device_of(g)))
            parts.append(out)
            if hi:
                s = list(out.shape)
                s[ax] = hi
                parts.append(m.full(tuple(s), value, dtype=g.dtype, **self._device_of(g)))
            if len(parts) > 1:
                out = m.concat(parts, axis=ax)
        return out

    def diagonal(self, g, offset, a1, a2):
        """The (offset) diagonal of axes ``a1``, ``a2`` (negative), as a new last axis."""
        m = self.m
        nd = g.ndim
        a1, a2 = a1 % nd, a2 % nd
        rest = [i for i in range(nd) if i not in (a1, a2)]
        h = m.permute_dims(g, tuple(rest) + (a1, a2))
        n1, n2 = h.shape[-2:]
        i0, j0 = (0, offset) if offset >= 0 else (-offset, 0)
        k = max(0, min(n1 - i0, n2 - j0))
        lead = tuple(h.shape[:-2])
        flat = m.reshape(h, lead + (n1 * n2,))
        idx = np.arange(k) * (n2 + 1) + (i0 * n2 + j0)
        return self.take_last(flat, idx)

    def getitem(self, a, key):
        """``a[key]`` for a basic key, out-of-range slices clipped as NumPy does."""
        return a[_in_bounds(tuple(a.shape), key if isinstance(key, tuple) else (key,))]

    def diagonal_view(self, a, offset, a1, a2):
        return self.diagonal(a, offset, a1, a2)

    def unfold(self, a, axis, size, step):
        """Windows of ``size`` every ``step`` along ``axis`` (negative), as a new last
        dim (gathered: this library has no strided views)."""
        m = self.m
        ax = a.ndim + axis
        n = (a.shape[ax] - size) // step + 1
        idx = (np.arange(n)[:, None] * step + np.arange(size)).reshape(-1)
        w = m.take(a, m.asarray(idx.astype(np.int64), **self._device_of(a)), axis=ax)
        w = m.reshape(w, tuple(a.shape[:ax]) + (n, size) + tuple(a.shape[ax + 1:]))
        order = tuple(range(ax + 1)) + tuple(range(ax + 2, a.ndim + 1)) + (ax + 1,)
        return m.permute_dims(w, order)

    def as_layout(self, a, strides):
        return a  # no layouts here: every array is row-major to its users

    def take_last(self, a, idx):
        """``a[..., idx]`` for a NumPy integer array ``idx`` (1-d)."""
        m = self.m
        return m.take(a, m.asarray(np.asarray(idx, dtype=np.int64), **self._device_of(a)),
                      axis=a.ndim - 1)

    def diag_embed(self, g, offset, a1, a2, shape):
        """Zeros of ``shape`` with ``g`` on the (offset) diagonal of axes a1, a2."""
        # the transpose of diagonal(): each position of the (n1, n2) plane takes its
        # diagonal entry of g, or a zero appended to g (a gather: no arithmetic, so inf
        # and nan stay where they are)
        m = self.m
        nd = len(shape)
        a1, a2 = a1 % nd, a2 % nd
        n1, n2 = shape[a1], shape[a2]
        i0, j0 = (0, offset) if offset >= 0 else (-offset, 0)
        k = g.shape[-1]
        src = np.full(n1 * n2, k, dtype=np.int64)  # k: the appended zero
        src[np.arange(k) * (n2 + 1) + (i0 * n2 + j0)] = np.arange(k)
        lead = tuple(g.shape[:-1])
        padded = m.concat([g, m.zeros(lead + (1,), dtype=g.dtype, **self._device_of(g))],
                          axis=-1)
        flat = self.take_last(padded, src)  # (..., n1 * n2)
        rest = [i for i in range(nd) if i not in (a1, a2)]
        h = m.reshape(flat, tuple(flat.shape[:-1]) + (n1, n2))
        order = rest + [a1, a2]
        inv = [order.index(i) for i in range(nd)]
        nb = h.ndim - nd
        return m.permute_dims(h, tuple(range(nb)) + tuple(i + nb for i in inv))

    def einsum(self, spec, *ops, optimize=True):
        f = getattr(self.lib, "einsum", None)
        if f is not None:
            return f(spec, *ops)
        return _einsum_by_matmul(self, spec, *ops)

    # indexing ---------------------------------------------------------------------------
    def _linear(self, shape, key):
        """Flat positions (a NumPy int array shaped like ``zeros(shape)[key]``) of a key."""
        pos = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
        if not isinstance(key, tuple):
            key = (key,)
        return pos[tuple(k if k is None or k is Ellipsis or type(k) in (int, slice, bool)
                         else self._numpy_index(k, "index") for k in key)]

    def index(self, g, key):
        if not isinstance(key, tuple):
            key = (key,)
        nb = self.nb
        if _basic(key):
            key = _in_bounds(tuple(g.shape[nb:]), key)
            return g[(slice(None),) * nb + key if nb else key]
        shape = tuple(g.shape[nb:])
        lin = self._linear(shape, key)
        flat = self.m.reshape(g, tuple(g.shape[:nb]) + (-1,))
        return self.m.reshape(self.take_last(flat, lin.reshape(-1)),
                              tuple(g.shape[:nb]) + lin.shape)

    def scatter(self, g, shape, key, accumulate):
        """Zeros of ``shape`` with ``g`` added (``accumulate``) or written at ``key``."""
        nb = self.nb
        if _basic(key):  # slicing's transpose: padding, no positions on the host
            return self._scatter_basic(g, tuple(shape), key)
        lin = self._linear(tuple(shape), key)
        if not accumulate or np.unique(lin).size == lin.size:  # the last write wins
            return self._put(self.zeros(g, shape), lin, g)
        lin = lin.reshape(-1)
        size = int(np.prod(shape))
        keep = None
        gf = self.m.reshape(g, tuple(g.shape[:nb]) + (lin.size,))
        return self.m.reshape(self._scatter_flat(gf, lin, size, keep),
                              tuple(g.shape[:nb]) + tuple(shape))

    def _scatter_flat(self, gf, lin, size, keep=None):
        """``out[..., lin[j]] += gf[..., j]`` into zeros of ``(..., size)``."""
        w = np.zeros((lin.size, size), dtype=np_dtype(gf.dtype))
        rows = np.arange(lin.size) if keep is None else np.nonzero(keep)[0]
        np.add.at(w, (rows, lin[rows]), 1)
        return self.m.matmul(gf, self.asarray(w))

    def _scatter_basic(self, g, shape, key):
        """Zeros of ``shape`` with ``g`` at a basic key (ints, slices, None, ...): the
        dims ``None`` added are dropped, the ones ints removed come back, and each
        slice's elements are spread ``step`` apart and padded into place."""
        m = self.m
        nb = self.nb
        key = _in_bounds(shape, key if isinstance(key, tuple) else (key,))
        n_dims = sum(1 for k in key if k is not None and k is not Ellipsis)
        items = []
        for k in key:
            items.extend([slice(None)] * (len(shape) - n_dims) if k is Ellipsis else [k])
        kept, gi = [], nb
        for k in items:
            if type(k) is slice:
                kept.append(g.shape[gi])
            if type(k) is not int:
                gi += 1
        out = m.reshape(g, tuple(g.shape[:nb]) + tuple(kept))
        d = nb
        for k, n in zip([k for k in items if k is not None], shape):
            if type(k) is int:
                i = k % n
                out = self._pad_axis(m.expand_dims(out, axis=d), d, i, n - i - 1)
            else:
                start, stop, step = k.indices(n)
                cnt = len(range(start, stop, step))
                span = cnt
                if step > 1 and cnt:
                    out = self._pad_axis(m.expand_dims(out, axis=d + 1), d + 1, 0, step - 1)
                    span = cnt * step
                    out = m.reshape(out, tuple(out.shape[:d]) + (span,)
                                    + tuple(out.shape[d + 2:]))
                if span > n - start:
                    out = out[(slice(None),) * d + (slice(0, n - start),) + (Ellipsis,)]
                    span = n - start
                out = self._pad_axis(out, d, start, n - start - span)
            d += 1
        return out

    def _pad_axis(self, x, ax, lo, hi):
        """``x`` with ``lo`` zeros before and ``hi`` after along axis ``ax``."""
        if not lo and not hi:
            return x
        parts = []
        for k in (lo, hi):
            s = list(x.shape)
            s[ax] = k
            parts.append(self.m.zeros(tuple(s), dtype=x.dtype, **self._device_of(x)))
        return self.m.concat([p for p in (parts[0], x, parts[1]) if p.shape[ax]] or [x],
                             axis=ax)

    def scatter_set(self, g, key, value):
        return self._put(g, self._linear(tuple(g.shape[self.nb:]), key), value)

    def _put(self, g, lin, value):
        """A copy of ``g`` with ``value`` written at the flat positions ``lin`` (a NumPy
        int array shaped like the region) of its unbatched dims; the last write wins.
        Written as a gather and a ``where``, so values elsewhere (inf, nan) stay put."""
        m = self.m
        nb = self.nb
        batch, shape = tuple(g.shape[:nb]), tuple(g.shape[nb:])
        flat = lin.reshape(-1)
        if not flat.size:
            return g
        src = np.full(int(np.prod(shape)), -1, np.int64)
        src[flat] = np.arange(flat.size)  # repeated positions: the last assignment wins
        mask = self.asarray((src >= 0).reshape(shape))
        if not hasattr(value, "shape"):
            return self.where(mask, value, g)
        v = m.broadcast_to(self.astype(value, g.dtype), batch + lin.shape)
        v = m.reshape(v, batch + (flat.size,))
        placed = m.reshape(self.take_last(v, np.maximum(src, 0)), batch + shape)
        return m.where(mask, placed, g)

    def view_of(self, g, steps, k=0):
        from ._replay import replay_raw
        return replay_raw(g, steps, self.nb + k)

    def view_replace(self, g, steps, value, k=0):
        """A copy of ``g`` with the region of the view ``steps`` set to ``value``: the
        region's positions come from replaying the view on an index array (this
        library's views share no memory, so a write through one is rebuilt here)."""
        from ._replay import replay_raw
        ns = self.with_nb(k)
        shape = tuple(g.shape[ns.nb:])
        pos = replay_raw(np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape), steps)
        return ns._put(g, pos, value)

    def take_along(self, x, idx, axis):
        return self._take_along_axis(x, self.asarray(idx) if isinstance(idx, np.ndarray)
                                     else idx, axis)

    def _take_along_axis(self, x, idx, axis):
        """``take_along_axis`` (``idx`` of x's rank, same sizes off ``axis``); where the
        library lacks it (Dask), one ``take`` at flat positions."""
        m = self.m
        f = getattr(m, "take_along_axis", None) or getattr(self.lib, "take_along_axis", None)
        if f is not None:
            return f(x, idx, axis=axis)
        nd = x.ndim
        ax = axis % nd
        order = tuple(i for i in range(nd) if i != ax) + (ax,)
        xt = m.permute_dims(x, order)
        it = m.permute_dims(idx, order)
        lead = tuple(it.shape[:-1])
        n, k = xt.shape[-1], it.shape[-1]
        rows = int(np.prod(lead))
        inv = tuple(order.index(i) for i in range(nd))
        if rows * k == 0:  # nothing to take (and Dask cannot flatten an empty array)
            return m.permute_dims(m.zeros(lead + (k,), dtype=x.dtype, **self._device_of(x)),
                                  inv)
        base = self.asarray((np.arange(rows, dtype=np.int64) * n).reshape(lead + (1,)))
        pos = m.reshape(self.astype(it, np.int64) + base, (rows * k,))
        out = m.reshape(m.take(m.reshape(xt, (rows * n,)), pos), lead + (k,))
        return m.permute_dims(out, inv)

    def gather(self, x, idx, axis):
        # ``idx`` may be smaller than ``x`` in the other dims: x is sliced to it first
        nb = self.nb
        ax = idx.ndim + axis
        key = tuple(slice(None) if d == ax else slice(0, n) for d, n in enumerate(idx.shape))
        idx = self.asarray(idx) if isinstance(idx, np.ndarray) else idx
        if nb:
            idx = self.m.broadcast_to(idx, tuple(x.shape[:nb]) + tuple(idx.shape))
            key = (slice(None),) * nb + key
        return self._take_along_axis(x[key], idx, axis)

    def _along_positions(self, shape, idx, axis):
        """Flat positions in ``shape`` that ``idx`` (NumPy) points to along ``axis``."""
        grid = list(np.ix_(*[np.arange(s) for s in idx.shape]))
        grid[len(shape) + axis] = idx
        return np.ravel_multi_index(tuple(grid), shape).reshape(-1)

    def scatter_along(self, g, shape, idx, axis):
        idx = self._numpy_index(idx, "scatter_along")
        lin = self._along_positions(tuple(shape), idx, axis)
        if lin.size == 0:  # nothing selected (Dask cannot flatten an empty array)
            return self.zeros(g, shape)
        nb = self.nb
        gf = self.m.reshape(g, tuple(g.shape[:nb]) + (lin.size,))
        return self.m.reshape(self._scatter_flat(gf, lin, int(np.prod(shape))),
                              tuple(g.shape[:nb]) + tuple(shape))

    def fill_along(self, g, idx, axis, value):
        """A copy of ``g`` with ``value`` (a number, or an array shaped like ``idx``)
        written where ``idx`` points along ``axis``."""
        idx = self._numpy_index(idx, "fill_along")
        shape = tuple(g.shape[self.nb:])
        lin = self._along_positions(shape, idx, axis).reshape(idx.shape)
        return self._put(g, lin, value)

    def _numpy_index(self, idx, word):
        if isinstance(idx, np.ndarray):
            return idx
        try:
            from .registry import backend_of
            return np.asarray(backend_of(idx).to_numpy(idx))
        except Exception:
            raise self.missing(word, "the index must be readable on the host") from None

    # windows (nn_ops) -------------------------------------------------------------------
    def im2col(self, x, kernel, stride, padding, dilation):
        return _windows.im2col_sliced(self, x, kernel, stride, padding, dilation)

    def col2im(self, cols, hw, kernel, stride, padding, dilation):
        return _windows.col2im_sliced(self, cols, hw, kernel, stride, padding, dilation)

    def window_argmax(self, x, kernel, stride, padding, dilation):
        return _windows.window_argmax_sliced(self, x, kernel, stride, padding, dilation)

    def window_max(self, x, kernel, stride, padding, dilation):
        return _windows.window_max_sliced(self, x, kernel, stride, padding, dilation)

    def window_sum(self, x, kernel, stride, padding):
        return _windows.window_sum_sliced(self, x, kernel, stride, padding)

    # matrices -------------------------------------------------------------------------------
    # The standard's linalg extension where the library has it (array-api-strict: when
    # the "linalg" extension is enabled, as by default); on Dask, whose linalg handles
    # only single 2-D matrices in square chunks, each batch of whole matrices runs the
    # chunk library's own linalg (map_blocks: lazy, one task per batch chunk).
    def _linalg(self, word):
        la = getattr(self.m, "linalg", None)
        f = getattr(la, word, None) if la is not None else None
        if f is None:
            raise self.missing(f"linalg.{word}", "the library has no linalg extension "
                               "(array-api-strict: enable the 'linalg' extension)")
        return f

    def _matrix_call(self, word, arrays, shapes, *args, **kw):
        """``linalg.word(*arrays, *args, **kw)`` as a tuple of outputs with trailing
        ``shapes`` (batch dims broadcast over ``arrays``' leading dims)."""
        if self.name != "dask":
            try:
                out = self._linalg(word)(*arrays, *args, **kw)
            except BackendError:
                raise
            except Exception as exc:
                if type(exc).__name__ == "LinAlgError":
                    from .numpy_backend import LinAlgError
                    raise LinAlgError(f"linalg.{word}: {exc}") from None
                raise
            return tuple(out) if isinstance(out, tuple) else (out,)
        return self._dask_matrix_call(word, arrays, shapes, args, kw)

    def _dask_matrix_call(self, word, arrays, shapes, args, kw):
        da = self.lib
        cores = [a.ndim - 2 for a in arrays]
        batch = np.broadcast_shapes(*[tuple(a.shape[:k]) for a, k in zip(arrays, cores)])
        nbat = len(batch)
        arrays = [da.broadcast_to(a, batch + tuple(a.shape[k:]))
                  for a, k in zip(arrays, cores)]
        chunks = arrays[0].chunks[:nbat]
        arrays = [a.rechunk(chunks + ((a.shape[-2],), (a.shape[-1],))) for a in arrays]
        sizes = [math.prod(s) for s in shapes]
        total = sum(sizes)

        def block(*bs):
            import array_api_compat
            ns = array_api_compat.array_namespace(*bs)
            out = getattr(ns.linalg, word)(*bs, *args, **kw)
            out = tuple(out) if isinstance(out, tuple) else (out,)
            lead = tuple(bs[0].shape[:nbat])
            flat = [ns.reshape(o, lead + (k,)) for o, k in zip(out, sizes)]
            return ns.concat(flat, axis=-1) if len(flat) > 1 else flat[0]

        dt = arrays[0].dtype
        meta = np.empty((0,) * (nbat + 1), dtype=dt)
        bidx = tuple(range(nbat))
        pairs = []
        for t, a in enumerate(arrays):  # own indices for each operand's matrix dims
            pairs += [a, bidx + (nbat + 1 + 2 * t, nbat + 2 + 2 * t)]
        packed = da.blockwise(block, bidx + (nbat,), *pairs, new_axes={nbat: total},
                              concatenate=True, dtype=dt, meta=meta)
        out, o = [], 0
        for s, k in zip(shapes, sizes):
            piece = packed[..., o:o + k]
            out.append(_dask_reshape(self.m, piece, batch + tuple(s), nbat))
            o += k
        return tuple(out)

    def solve(self, a, b):
        shapes = (tuple(b.shape[-2:]),)
        return self._matrix_call("solve", (a, b), shapes)[0]

    def inv(self, a):
        return self._matrix_call("inv", (a,), (tuple(a.shape[-2:]),))[0]

    def det(self, a):
        return self._matrix_call("det", (a,), ((),))[0]

    def slogdet(self, a):
        return self._matrix_call("slogdet", (a,), ((), ()))

    def cholesky(self, a, upper=False):
        return self._matrix_call("cholesky", (a,), (tuple(a.shape[-2:]),), upper=upper)[0]

    def eigh(self, a, uplo="L"):
        # the standard's eigh takes no UPLO: give it the symmetric matrix that
        # triangle defines
        m = self.m
        if uplo == "L":
            low = m.tril(a)
            a = low + self.swapaxes(m.tril(a, k=-1), -1, -2)
        else:
            up = m.triu(a)
            a = up + self.swapaxes(m.triu(a, k=1), -1, -2)
        n = a.shape[-1]
        if self.name == "dask" or a.ndim == 2 or self.all_nonzero(m.isfinite(a)):
            return self._matrix_call("eigh", (a,), ((n,), (n, n)))
        # a stack with a non-finite matrix: LAPACK would refuse the whole stack; as
        # PyTorch (and NumPy's own stacked eigh), that matrix's results are nan
        bad = m.logical_not(m.all(m.isfinite(a), axis=(-2, -1)))[..., None, None]
        eye = m.broadcast_to(self.asarray(np.eye(n, dtype=np_dtype(a.dtype))), a.shape)
        lam, vec = self._matrix_call("eigh", (m.where(bad, eye, a),), ((n,), (n, n)))
        nan = self.asarray(np.array(np.nan, dtype=np_dtype(a.dtype)))
        return m.where(bad[..., 0], nan, lam), m.where(bad, nan, vec)

    def svd(self, a, full_matrices=False):
        mm, n = a.shape[-2:]
        k = min(mm, n)
        shapes = ((mm, mm if full_matrices else k), (k,), (n if full_matrices else k, n))
        if self.name != "dask" and not self.all_nonzero(self.m.isfinite(a)):
            from .numpy_backend import SVD_NONFINITE, LinAlgError
            raise LinAlgError(SVD_NONFINITE)  # PyTorch's check (LAPACK may loop on inf)
        return self._matrix_call("svd", (a,), shapes, full_matrices=full_matrices)

    def qr(self, a, mode="reduced"):
        mm, n = a.shape[-2:]
        k = min(mm, n)
        if mode == "r":
            q, r = self.qr(a, "reduced")
            return self.m.zeros(tuple(a.shape[:-2]) + (mm, 0), dtype=a.dtype,
                                **self._device_of(a)), r
        shapes = ((mm, mm), (mm, n)) if mode == "complete" else ((mm, k), (k, n))
        return self._matrix_call("qr", (a,), shapes, mode=mode)

    def all_nonzero(self, x) -> bool:
        """An argument check over all the values (every sample's, under vmap)."""
        from .batched import physical
        x = physical(x)
        if type(x).__name__ == "MetaArray":
            return True  # no values to check (the meta device)
        m = self.m if not isinstance(x, np.ndarray) else np
        return bool(m.all(x if x.dtype == m.bool else x != 0))

    def to_device(self, g, dev):
        from .._tensor import to_device
        return to_device(g, dev)

    def narrow(self, x, axis, start, length):
        return x[(Ellipsis, slice(start, start + length)) + (slice(None),) * (-1 - axis)]

    def pack(self, parts, shapes):
        flat = [self.m.reshape(p, tuple(p.shape[:p.ndim - len(s)]) + (int(np.prod(s)),))
                for p, s in zip(parts, shapes)]
        return self.m.concat(flat, axis=-1)

    def unpack(self, p, shapes):
        out, o = [], 0
        for s in shapes:
            k = int(np.prod(s))
            out.append(self.m.reshape(p[..., o:o + k], tuple(p.shape[:-1]) + tuple(s)))
            o += k
        return out


def _dask_reshape(m, g, shape, nb=0):
    """``reshape`` on Dask, which refuses empty arrays and splits of dims whose chunks do
    not line up: then the reshaped (unbatched) dims are made one chunk first."""
    if 0 in g.shape:
        shape = tuple(0 if s == -1 else s for s in shape)
        return m.zeros(shape, dtype=g.dtype)
    try:
        return m.reshape(g, shape)
    except (NotImplementedError, ValueError):
        return m.reshape(g.rechunk({i: -1 for i in range(nb, g.ndim)}), shape)


def _basic(key) -> bool:
    """A key of ints, slices, None and Ellipsis only (every library takes it as is)."""
    if not isinstance(key, tuple):
        key = (key,)
    return all(k is None or k is Ellipsis or type(k) in (int, slice) for k in key)


def _in_bounds(shape, key) -> tuple:
    """A basic key with every slice clipped to its dim, as NumPy reads out-of-range
    slices (the standard leaves them unspecified; array-api-strict refuses them)."""
    n_dims = sum(1 for k in key if k is not None and k is not Ellipsis)
    out = []
    d = 0
    for k in key:
        if k is Ellipsis:
            d += len(shape) - n_dims
        elif type(k) is slice:
            out.append(slice(*k.indices(shape[d])) if k != slice(None) else k)
            d += 1
            continue
        elif k is not None:
            d += 1
        out.append(k)
    if Ellipsis not in out and len(shape) > n_dims:
        out.append(Ellipsis)
    return tuple(out)


def _einsum_by_matmul(ns, spec, *ops):
    """``einsum`` from standard functions: each operand's repeated letters taken on the
    diagonal, its axes laid out in one common letter order (size 1 where it lacks a
    letter), the product broadcast, the letters not in the output summed."""
    m = ns.m
    spec = spec.replace(" ", "")
    lhs, arrow, rhs = spec.partition("->")
    subs = lhs.split(",")
    used = set(spec)
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
            if c not in used]
    n_ell = max([x.ndim - (len(s) - 3) for x, s in zip(ops, subs) if "..." in s],
                default=0)
    ell = "".join(free[:n_ell])
    full = []
    for x, s in zip(ops, subs):
        if "..." in s:
            k = x.ndim - (len(s) - 3)
            s = s.replace("...", ell[n_ell - k:] if k else "")
        full.append(s)
    if arrow:
        out = rhs.replace("...", ell)
    else:
        joined = "".join(full)
        out = ell + "".join(sorted(c for c in set(joined) if joined.count(c) == 1
                                   and c not in ell))
    order = list(out) + sorted({c for s in full for c in s} - set(out))
    total = None
    for x, s in zip(ops, full):
        s = list(s)
        while len(set(s)) < len(s):  # a repeated letter: keep its diagonal (last axis)
            c = next(c for c in s if s.count(c) > 1)
            a1 = s.index(c)
            a2 = s.index(c, a1 + 1)
            x = ns.diagonal(x, 0, a1 - len(s), a2 - len(s))
            s = [d for i, d in enumerate(s) if i not in (a1, a2)] + [c]
        mine = [c for c in order if c in s]
        x = m.permute_dims(x, tuple(s.index(c) for c in mine))
        shape = tuple(x.shape[mine.index(c)] if c in s else 1 for c in order)
        x = m.reshape(x, shape)
        total = x if total is None else total * x
    red = tuple(range(len(out), len(order)))
    return m.sum(total, axis=red) if red else total
