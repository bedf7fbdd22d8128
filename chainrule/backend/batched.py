"""vmap's array library: arrays that carry a hidden batch dim.

Note [vmap as an array library]: ``func.vmap`` runs ``f`` once on tensors whose data is a
``BatchedArray``: an array of another library (NumPy, CuPy, Dask, or a ``BatchedArray``
of an outer vmap) with the batch at dim 0, that shows only the per-sample shape.  This
module implements the Array API standard's functions on such arrays (each function lifts
the batch out of its arguments, aligns the per-sample ranks and calls the same function
of the underlying library once), so ``ArrayApiNamespace`` over it is a rule namespace
like any other: every row's forward and every VJP/JVP rule run batched, unchanged, in
one call per op — there are batching rules for the ~150 words of the standard, not for
the rows.  Nested vmaps nest arrays: a level-2 array wraps level-1 arrays, and each
function works at the highest level among its arguments (lower levels are unbatched
there and are handled by the recursive call).

What a batched value cannot do raises PyTorch's vmap errors: reading its values
(``.item()``, ``bool()``, ``tolist()``), data-dependent shapes (``nonzero``, boolean
masks that are batched), writing a batched value into an unbatched array.
"""

from __future__ import annotations

import math

import numpy as np

from . import _operators

__all__ = ["BatchedArray", "MODULE", "add_batch_dim", "remove_batch_dim", "level_of"]

_ITEM = ("vmap: It looks like you're calling .item() on a Tensor. We don't support vmap "
         "over calling .item() on a Tensor, please try to rewrite what you're doing with "
         "other operations. If error is occurring somewhere inside PyTorch internals, please "
         "file a bug report.")
_CONTROL = ("vmap: It looks like you're attempting to use a Tensor in some data-dependent "
            "control flow. We don't support that yet, please file an issue at "
            "https://github.com/pytorch/pytorch/issues .")
_DYNAMIC = ("vmap: We do not support batching operators that can output dynamic shape. "
            "Attempted to vmap over {}. Please file an issue at "
            "https://github.com/pytorch/pytorch/issues if you need this feature.")
_MASK = ("vmap: We do not support batching operators that can support dynamic shape. "
         "Attempting to batch over indexing with a boolean mask.")


def inplace_error():
    """PyTorch's error for an in-place op writing a batched value into an unbatched
    tensor."""
    return RuntimeError(
        "vmap: inplace arithmetic(self, *extra_args) is not possible because there exists a "
        "Tensor `other` in extra_args that has more elements than `self`. This happened due "
        "to `other` being vmapped over but `self` not being vmapped over in a vmap. Please "
        "try to use out-of-place operators instead of inplace arithmetic. If said operator "
        "is being called inside the PyTorch framework, please file a bug report instead.")


class BatchedArray:
    """``v`` (any array, batch at dim 0) seen by vmap level ``level`` as one sample."""

    __slots__ = ("v", "level", "shape")
    __array_ufunc__ = None  # ndarray + BatchedArray defers to __radd__

    def __init__(self, v, level: int) -> None:
        self.v = v
        self.level = level
        self.shape = tuple(v.shape[1:])

    # metadata ---------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self):
        return self.v.dtype

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def device(self):
        return getattr(self.v, "device", "cpu")

    @property
    def batch_size(self) -> int:
        return self.v.shape[0]

    def __array_namespace__(self, api_version=None):
        return MODULE

    def __repr__(self) -> str:
        return f"BatchedArray(lvl={self.level}, bdim=0, value={self.v!r})"

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    # values cannot be read inside vmap ---------------------------------------------------
    def item(self, *args, **kwargs):
        raise RuntimeError(_ITEM)

    __float__ = __int__ = __index__ = __complex__ = tolist = __array__ = item

    def __bool__(self):
        raise RuntimeError(_CONTROL)

    def __iter__(self):
        n = self.shape[0] if self.shape else 0
        return (self[i] for i in range(n))

    # NumPy-style methods chainrule's host code uses ----------------------------------------
    def astype(self, dtype, copy=True):
        return MODULE.astype(self, dtype)

    def reshape(self, *shape):
        return MODULE.reshape(self, shape[0] if len(shape) == 1 and not
                              isinstance(shape[0], int) else shape)

    def copy(self):
        return BatchedArray(_inner(self.v).asarray(self.v, copy=True), self.level)

    def transpose(self, *axes):
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = axes[0]
        return MODULE.permute_dims(self, tuple(axes) or tuple(range(self.ndim))[::-1])

    @property
    def T(self):
        return MODULE.permute_dims(self, tuple(range(self.ndim))[::-1])

    @property
    def mT(self):
        return MODULE.matrix_transpose(self)

    def __getitem__(self, key):
        return getitem(self, key)

    def __setitem__(self, key, value):
        setitem(self, key, value)


def physical(a):
    """All of ``a``'s values, every level's batch included (for argument checks)."""
    while type(a) is BatchedArray:
        a = a.v
    return a


def rewrap(like, phys):
    """``phys`` (every level's batch dims leading, as ``physical(like)``) wrapped in the
    levels of ``like``."""
    levels = []
    while type(like) is BatchedArray:
        levels.append(like.level)
        like = like.v
    for level in reversed(levels):
        phys = BatchedArray(phys, level)
    return phys


def level_of(a) -> int:
    return a.level if type(a) is BatchedArray else 0


# ---- the underlying library of physical arrays -------------------------------------------

_NS_CACHE: dict = {}


def _inner(*arrays):
    """The Array-API namespace that computes on these (physical) arrays."""
    top = None
    for a in arrays:
        if type(a) is BatchedArray:
            return MODULE
        if top is None and hasattr(a, "shape") and not isinstance(a, (np.ndarray, np.generic)):
            top = a
    if top is None:
        return np
    t = type(top)
    ns = _NS_CACHE.get(t)
    if ns is None:
        import array_api_compat
        ns = _NS_CACHE[t] = _LibraryDtypes(array_api_compat.array_namespace(top))
    return ns


class _LibraryDtypes:
    """A library's namespace taking NumPy dtypes (chainrule's) where it wants its own
    dtype objects (array-api-strict's are not NumPy's)."""

    def __init__(self, ns) -> None:
        self._ns = ns

    def __getattr__(self, name):
        f = getattr(self._ns, name)
        if not callable(f) or isinstance(f, type):
            return f
        ns = self._ns

        def call(*args, **kw):
            if kw.get("dtype") is not None:
                kw["dtype"] = _library_dtype(ns, kw["dtype"])
            if name == "astype":
                args = (args[0], _library_dtype(ns, args[1])) + args[2:]
            return f(*args, **kw)
        setattr(self, name, call)
        return call


def _library_dtype(ns, dt):
    if isinstance(dt, np.dtype) or isinstance(dt, type):
        return getattr(ns, np.dtype(dt).name)
    return dt


def _on(ns, arrays):
    """``arrays`` with NumPy arrays (chainrule's host constants) moved to ``ns``'s
    library when that is another one (array-api-strict refuses to mix)."""
    if ns is np or ns is MODULE:
        return arrays
    return [ns.asarray(a) if type(a) is np.ndarray else a for a in arrays]


def _top(args) -> int:
    lv = 0
    for a in args:
        if type(a) is BatchedArray and a.level > lv:
            lv = a.level
    return lv


def _batch_of(args, lv) -> int:
    size = None
    for a in args:
        if type(a) is BatchedArray and a.level == lv:
            b = a.v.shape[0]
            if size is None:
                size = b
            elif b != size:
                raise ValueError(f"vmap: Expected all tensors to have the same size in the "
                                 f"mapped dimension, got sizes {[size, b]} for the mapped "
                                 f"dimension")
    return size


def _phys(a, lv, rank):
    """``a``'s physical array at level ``lv``, per-sample rank padded to ``rank`` (ones
    inserted after the batch dim) so that broadcasting lines samples up."""
    if type(a) is BatchedArray and a.level == lv:
        v = a.v
        pad = rank - len(a.shape)
        if pad > 0:
            v = _inner(v).reshape(v, (v.shape[0],) + (1,) * pad + a.shape)
        return v
    return a


def _wrap(v, lv):
    return BatchedArray(v, lv)


def _ndim(a) -> int:
    return len(a.shape) if hasattr(a, "shape") else 0


# ---- function makers ------------------------------------------------------------------------

def _elementwise(name):
    def f(*args, **kw):
        lv = _top(args)
        if not lv:
            return _finish(getattr(_inner(*args), name)(*args, **kw))
        _batch_of(args, lv)
        rank = max(_ndim(a) for a in args)
        phys = [_phys(a, lv, rank) for a in args]
        ns = _inner(*phys)
        return _wrap(getattr(ns, name)(*_on(ns, phys), **kw), lv)
    f.__name__ = name
    return f


def _finish(r):
    return np.asarray(r) if isinstance(r, np.generic) else r


def _axis(axis, nd):
    """Per-sample axis (or tuple, or None = all) to physical axes."""
    if axis is None:
        return tuple(range(1, nd + 1))
    if isinstance(axis, (tuple, list)):
        return tuple(_norm(a, nd) + 1 for a in axis)
    return _norm(axis, nd) + 1


def _norm(a, nd):
    a = int(a)
    if not -max(nd, 1) <= a < max(nd, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{-max(nd, 1)}, {max(nd, 1) - 1}], but got {a})")
    return a % max(nd, 1)


def _unary_axis(name, *, none_flattens=False):
    """A function of one array and an ``axis`` keyword (reductions, sort, flip ...)."""
    def f(x, *args, axis=None, **kw):
        lv = _top((x,))
        if not lv:
            return _finish(getattr(_inner(x), name)(x, *args, axis=axis, **kw))
        nd = x.ndim
        if none_flattens and axis is None:  # argmax(axis=None): over the flat sample
            v = _inner(x.v).reshape(x.v, (x.v.shape[0], -1))
            r = getattr(_inner(v), name)(v, *args, axis=1, **kw)
            if kw.get("keepdims"):
                r = _inner(r).reshape(r, (r.shape[0],) + (1,) * nd)
            return _wrap(r, lv)
        if nd == 0:  # a scalar per sample: reducing it over its (only) dim keeps it
            if name == "argsort":
                return _wrap(_inner(x.v).zeros(x.v.shape, dtype=np.int64), lv)
            if name == "sort":
                return x
            if name == "count_nonzero":
                return _wrap(_inner(x.v).astype(x.v != 0, np.int64), lv)
            return _wrap(getattr(_inner(x.v), name)(x.v, *args, axis=(), **kw), lv)
        return _wrap(getattr(_inner(x.v), name)(x.v, *args, axis=_axis(axis, nd), **kw), lv)
    f.__name__ = name
    return f


def _passthrough(name):
    def f(*args, **kw):
        ns = _inner(*args)
        if ns is np:  # (creation on the host: another library's dtype as NumPy's)
            from .array_api import np_dtype
            if kw.get("dtype") is not None:
                kw["dtype"] = np_dtype(kw["dtype"])
            kw.pop("device", None)
        return _finish(getattr(ns, name)(*args, **kw))
    f.__name__ = name
    return f


def _like(name):
    def f(x, *args, **kw):
        if type(x) is not BatchedArray:
            return _finish(getattr(_inner(x), name)(x, *args, **kw))
        return _wrap(getattr(_inner(x.v), name)(x.v, *args, **kw), x.level)
    f.__name__ = name
    return f


# ---- shapes ---------------------------------------------------------------------------------

def reshape(x, shape, copy=None):
    if type(x) is not BatchedArray:
        return _finish(_inner(x).reshape(x, tuple(shape)))
    shape = tuple(int(s) for s in shape)
    return _wrap(_inner(x.v).reshape(x.v, (x.v.shape[0],) + shape), x.level)


def permute_dims(x, axes):
    if type(x) is not BatchedArray:
        return _inner(x).permute_dims(x, tuple(axes))
    return _wrap(_inner(x.v).permute_dims(x.v, (0,) + tuple(_norm(a, x.ndim) + 1
                                                             for a in axes)), x.level)


def matrix_transpose(x):
    nd = x.ndim
    return permute_dims(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


def moveaxis(x, source, destination):
    if type(x) is not BatchedArray:
        return _inner(x).moveaxis(x, source, destination)
    nd = x.ndim
    src = [_norm(s, nd) + 1 for s in (source if isinstance(source, (tuple, list)) else (source,))]
    dst = [_norm(s, nd) + 1 for s in (destination if isinstance(destination, (tuple, list))
                                      else (destination,))]
    order = [i for i in range(nd + 1) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return _wrap(_inner(x.v).permute_dims(x.v, tuple(order)), x.level)


def expand_dims(x, axis=0):
    if type(x) is not BatchedArray:
        return _inner(x).expand_dims(x, axis=axis)
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    nd = x.ndim + len(axes)
    new = {_norm(a, nd) for a in axes}
    rest = iter(x.shape)
    return reshape(x, tuple(1 if i in new else next(rest) for i in range(nd)))


def squeeze(x, axis):
    if type(x) is not BatchedArray:
        return _inner(x).squeeze(x, axis=axis)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    axes = {_norm(a, x.ndim) for a in axes}
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError("cannot squeeze an axis whose size is not one")
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in axes))


def broadcast_to(x, shape):
    shape = tuple(int(s) for s in shape)
    if type(x) is not BatchedArray:
        return _inner(x).broadcast_to(x, shape)
    v = _phys(x, x.level, len(shape))
    return _wrap(_inner(v).broadcast_to(v, (v.shape[0],) + shape), x.level)


def broadcast_arrays(*arrays):
    shape = np.broadcast_shapes(*(tuple(a.shape) for a in arrays))
    return [broadcast_to(a, shape) for a in arrays]


def _materialize(arrays, lv, size=None):
    """Every array of the list as a level-``lv`` array (unbatched ones broadcast)."""
    if size is None:
        size = _batch_of(arrays, lv)
    out = []
    for a in arrays:
        if type(a) is BatchedArray and a.level == lv:
            out.append(a.v)
        else:
            ns = _inner(a)
            out.append(ns.broadcast_to(ns.reshape(a, (1,) + tuple(a.shape)),
                                       (size,) + tuple(a.shape)))
    ns = _inner(*out)
    return _on(ns, out)


def concat(arrays, axis=0):
    arrays = list(arrays)
    lv = _top(arrays)
    if not lv:
        return _inner(*arrays).concat(arrays, axis=axis)
    nd = arrays[0].ndim
    phys = _materialize(arrays, lv)
    ax = None if axis is None else _norm(axis, nd) + 1
    if axis is None:
        phys = [_inner(p).reshape(p, (p.shape[0], -1)) for p in phys]
        ax = 1
    return _wrap(_inner(*phys).concat(phys, axis=ax), lv)


def stack(arrays, axis=0):
    arrays = list(arrays)
    lv = _top(arrays)
    if not lv:
        return _inner(*arrays).stack(arrays, axis=axis)
    nd = arrays[0].ndim + 1
    phys = _materialize(arrays, lv)
    return _wrap(_inner(*phys).stack(phys, axis=_norm(axis, nd) + 1), lv)


def unstack(x, axis=0):
    return tuple(take(x, np.asarray([i]), axis=axis) for i in range(x.shape[axis]))


def tril(x, k=0):
    if type(x) is not BatchedArray:
        return _inner(x).tril(x, k=k)
    return _wrap(_inner(x.v).tril(x.v, k=k), x.level)


def triu(x, k=0):
    if type(x) is not BatchedArray:
        return _inner(x).triu(x, k=k)
    return _wrap(_inner(x.v).triu(x.v, k=k), x.level)


def roll(x, shift, axis=None):
    if type(x) is not BatchedArray:
        return _inner(x).roll(x, shift, axis=axis)
    if axis is None:
        flat = reshape(x, (-1,))
        return reshape(roll(flat, shift, axis=0), x.shape)
    return _wrap(_inner(x.v).roll(x.v, shift, axis=_axis(axis, x.ndim)), x.level)


def flip(x, axis=None):
    if type(x) is not BatchedArray:
        return _inner(x).flip(x, axis=axis)
    if x.ndim == 0:
        return x
    return _wrap(_inner(x.v).flip(x.v, axis=_axis(axis, x.ndim)), x.level)


# ---- dtypes and creation ------------------------------------------------------------------

def astype(x, dtype, copy=True):
    if type(x) is not BatchedArray:
        return _inner(x).astype(x, dtype)
    return _wrap(_inner(x.v).astype(x.v, dtype), x.level)


def asarray(a, dtype=None, copy=None, device=None):
    if type(a) is BatchedArray:
        if dtype is not None and a.dtype != dtype:
            return astype(a, dtype)
        return a.copy() if copy else a
    if hasattr(a, "shape") and not isinstance(a, (np.ndarray, np.generic)):
        ns = _inner(a)
        return ns.asarray(a, dtype=dtype, copy=copy) if copy is not None else \
            ns.asarray(a, dtype=dtype)
    return np.asarray(a, dtype=dtype) if not copy else np.array(a, dtype=dtype, copy=True)


def isdtype(dtype, kind):
    from .array_api import np_dtype
    return np.isdtype(np_dtype(dtype), kind)


# ---- matmul ---------------------------------------------------------------------------------

def matmul(a, b):
    lv = _top((a, b))
    if not lv:
        return _finish(_inner(a, b).matmul(a, b))
    size = _batch_of((a, b), lv)
    # an operand that repeats one sample (a parameter under vmap, expand_batch) is one
    # matrix for the whole batch: the products below then use one BLAS call
    if type(a) is BatchedArray and a.level == lv and shared(a.v) is not None:
        if not (type(b) is BatchedArray and b.level == lv):
            return expand_batch(matmul(shared(a.v), b), lv, size)
        a = shared(a.v)
    if type(b) is BatchedArray and b.level == lv and shared(b.v) is not None:
        if not (type(a) is BatchedArray and a.level == lv):
            return expand_batch(matmul(a, shared(b.v)), lv, size)
        b = shared(b.v)
    ba = type(a) is BatchedArray and a.level == lv
    bb = type(b) is BatchedArray and b.level == lv
    if not ba:
        a = _on(_inner(b.v), [a])[0]
    if not bb:
        b = _on(_inner(a.v), [b])[0]
    na, nbd = a.ndim, b.ndim
    if na == 0 or nbd == 0:
        raise ValueError("matmul: both arguments must have at least one dimension")
    if ba and bb:
        rank = max(na, nbd, 2)
        av = a.v if na > 1 else _inner(a.v).reshape(a.v, (a.v.shape[0], 1, a.shape[0]))
        bv = b.v if nbd > 1 else _inner(b.v).reshape(b.v, b.v.shape + (1,))
        av = _phys(BatchedArray(av, lv), lv, rank)
        bv = _phys(BatchedArray(bv, lv), lv, rank)
        ns = _inner(av, bv)
        if av.shape[-1] == 1 and ns is np:
            # a batch of rank-1 products (per-sample weight gradients): one einsum is
            # several times cheaper than a batched matmul of k=1 matrices
            out = np.einsum("...ik,...kj->...ij", av, bv)
        else:
            out = ns.matmul(av, bv)
        if na == 1:
            out = ns.reshape(out, out.shape[:-2] + out.shape[-1:])
        if nbd == 1:
            out = ns.reshape(out, out.shape[:-1])
        return _wrap(out, lv)
    if ba:  # a batched, b not
        av = a.v
        ns = _inner(av, b)
        if na == 1:
            if nbd <= 2:
                return _wrap(ns.matmul(av, b), lv)  # (B, k) @ (k,[n]): one product
            av = ns.reshape(av, (av.shape[0],) + (1,) * (nbd - 2) + (1, a.shape[0]))
            out = ns.matmul(av, b)
            return _wrap(ns.reshape(out, out.shape[:-2] + out.shape[-1:]), lv)
        if nbd <= 2 and na >= 2:  # all samples' rows in one product
            k = a.shape[-1]
            flat = ns.reshape(av, (math.prod(av.shape[:-1]), k))
            out = ns.matmul(flat, b)
            return _wrap(ns.reshape(out, (av.shape[0],) + a.shape[:-1] +
                                    ((b.shape[-1],) if nbd == 2 else ())), lv)
        av = _phys(a, lv, max(na, nbd))
        return _wrap(ns.matmul(av, b), lv)
    # b batched, a not
    bv = b.v
    ns = _inner(a, bv)
    if nbd == 1:
        if na == 1:
            return _wrap(ns.matmul(bv, a), lv)
        if na == 2:
            return _wrap(ns.matmul(bv, ns.permute_dims(a, (1, 0))), lv)
        bv = ns.reshape(bv, (bv.shape[0],) + (1,) * (na - 2) + (b.shape[0], 1))
        out = ns.matmul(a, bv)
        return _wrap(ns.reshape(out, out.shape[:-1]), lv)
    if na <= 2 and nbd == 2:
        # a (m, k) @ b_i (k, n) for every i: one product a @ [b_1 ... b_B]
        size, k, n = bv.shape
        wide = ns.reshape(ns.permute_dims(bv, (1, 0, 2)), (k, size * n))
        out = ns.matmul(a, wide)
        if na == 1:
            return _wrap(ns.reshape(out, (size, n)), lv)
        return _wrap(ns.permute_dims(ns.reshape(out, (a.shape[0], size, n)), (1, 0, 2)), lv)
    bv = _phys(b, lv, max(na, nbd))
    return _wrap(ns.matmul(a, bv), lv)


def vecdot(a, b, axis=-1):
    return MODULE.sum(MODULE.multiply(a, b), axis=axis)


def einsum(spec, *ops, **kw):
    lv = _top(ops)
    if not lv:
        return _finish(np.einsum(spec, *ops, **kw) if _inner(*ops) is np
                       else _inner(*ops).einsum(spec, *ops))
    _batch_of(ops, lv)
    spec = spec.replace(" ", "")
    ins, _, out = spec.partition("->")
    terms = ins.split(",")
    used = set(spec) - set(",->.")
    letter = next(c for c in "zyxwvutsrqponmlkjihgfedcbaZYXWVUTSRQPONMLKJIHGFEDCBA"
                  if c not in used)
    if not _:
        counts = {}
        for c in ins.replace(",", ""):
            counts[c] = counts.get(c, 0) + 1
        out = "".join(sorted(c for c, n in counts.items() if n == 1 and c != "."))
        if "..." in ins:
            out = "..." + out
    phys, new_terms = [], []
    for t, o in zip(terms, ops):
        if type(o) is BatchedArray and o.level == lv:
            phys.append(o.v)
            new_terms.append(letter + t)
        else:
            phys.append(o)
            new_terms.append(t)
    new = ",".join(new_terms) + "->" + letter + out
    ns = _inner(*phys)
    if ns is np:
        return _wrap(np.einsum(new, *phys, **kw), lv)
    return _wrap(ns.einsum(new, *phys), lv)


def tensordot(a, b, axes=2):
    if isinstance(axes, int):
        xa = list(range(a.ndim - axes, a.ndim))
        xb = list(range(axes))
    else:
        xa, xb = ([int(i) % a.ndim for i in axes[0]], [int(i) % b.ndim for i in axes[1]])
    letters = "abcdefghijklmnopqrstuvw"
    la = list(letters[:a.ndim])
    lb = list(letters[a.ndim:a.ndim + b.ndim])
    for i, j in zip(xa, xb):
        lb[j] = la[i]
    out = [c for i, c in enumerate(la) if i not in xa] + [c for j, c in enumerate(lb)
                                                          if j not in xb]
    return einsum("".join(la) + "," + "".join(lb) + "->" + "".join(out), a, b)


# ---- indexing ------------------------------------------------------------------------------

def _is_index_array(k) -> bool:
    return hasattr(k, "shape") and hasattr(k, "dtype")


def _expand_key(key, nd):
    """``key`` as a tuple without Ellipsis (slices stand for the dims it covered)."""
    if not isinstance(key, tuple):
        key = (key,)
    n_dims = 0
    for k in key:
        if k is None or k is Ellipsis:
            continue
        if _is_index_array(k) and _is_bool(k):
            n_dims += max(len(k.shape), 1)
        elif type(k) is bool or isinstance(k, np.bool_):
            continue
        else:
            n_dims += 1
    out = []
    seen = False
    for k in key:
        if k is Ellipsis:
            if not seen:
                out.extend([slice(None)] * max(nd - n_dims, 0))
            seen = True
        else:
            out.append(k)
    return tuple(out)


def _is_bool(k) -> bool:
    return np.dtype(k.dtype) == np.bool_ if not hasattr(k.dtype, "_np_dtype") else \
        str(k.dtype) == "bool"


def getitem(x, key):
    if isinstance(key, list):
        key = np.asarray(key)
    keys = key if isinstance(key, tuple) else (key,)
    lv = _top((x,) + keys)
    if not lv:
        return x[key]
    xb = type(x) is BatchedArray and x.level == lv
    key = _expand_key(key, x.ndim)
    for k in key:
        if type(k) is BatchedArray and k.level == lv and _is_bool(k):
            raise RuntimeError(_MASK)
    size = _batch_of((x,) + key, lv)
    pkey, order = batched_key(key, lv, size, xb)
    out = _index_phys(x.v if xb else x, pkey)
    if order is not None:
        out = _inner(out).permute_dims(out, order)
    return _wrap(out, lv)


def batched_key(key, lv, size, x_batched, nb=0):
    """``(pkey, order)`` for indexing per-sample arrays with ``key`` (Ellipsis expanded;
    it may hold level-``lv`` index arrays) on their physical arrays: ``phys[pkey]``
    permuted by ``order`` (None: already in order) is the batch of per-sample results,
    batch first.  ``x_batched``: the indexed array carries the batch (else it is shared).
    ``nb``: leading dims (before the batch's per-sample dims) kept in front of the
    result, as the rule namespaces' ``index`` keeps them."""
    arrays = [k for k in key if _is_index_array(k)]
    batched = any(type(k) is BatchedArray and k.level == lv for k in arrays)
    # dims of the advanced block: the index arrays' broadcast (a mask gives one dim)
    adv_nd = max([len(k.shape) for k in arrays if not _is_bool(k)] +
                 [1 for k in arrays if _is_bool(k)], default=0)
    # per-sample layout (numpy's rule), with the nb dims in front
    items = []  # (is_advanced, label)
    r = 0
    for k in key:
        if k is None or type(k) is slice:
            items.append((False, ("r", r)))
            r += 1
        elif _is_index_array(k) or (type(k) is int and arrays):
            items.append((True, None))
    block = [("a", i) for i in range(adv_nd)]
    want = ["B"] + [("n", i) for i in range(nb)] + _layout(items, block)
    # the physical key and its layout
    pitems = []
    pkey = []
    if x_batched and not batched:
        pkey.append(slice(None))
        pitems.append((False, "B"))
    elif x_batched:
        pkey.append(np.arange(size).reshape((size,) + (1,) * adv_nd))
        pitems.append((True, None))
    for i in range(nb):
        pkey.append(slice(None))
        pitems.append((False, ("n", i)))
    for k in key:
        pkey.append(_phys(k, lv, adv_nd) if type(k) is BatchedArray and k.level == lv else k)
    pitems += items
    # batched index arrays (and the batch's arange) lead the advanced block with the batch
    have = _layout(pitems, ["B"] + block if batched else block)
    order = tuple(have.index(lab) for lab in want)
    return tuple(pkey), (None if order == tuple(range(len(order))) else order)


def _layout(items, block):
    """NumPy's result dims for a key: ``items`` (is_advanced, label) in key order;
    adjacent advanced indices put ``block`` where the first one is, apart ones first."""
    pos = [i for i, (adv, _) in enumerate(items) if adv]
    labels = [lab for adv, lab in items if not adv]
    if not pos:
        return labels
    if pos[-1] - pos[0] + 1 == len(pos):
        before = sum(1 for adv, _ in items[:pos[0]] if not adv)
        return labels[:before] + block + labels[before:]
    return block + labels


def _index_phys(v, key):
    if type(v) is BatchedArray or any(type(k) is BatchedArray for k in key):
        return getitem(v, key)
    if type(v) is not np.ndarray:  # (index arrays on the indexed array's library)
        key = tuple(_on(_inner(v), list(key)))
    return v[key]


def _adjacent(key) -> bool:
    """Are the advanced indices (arrays, and ints beside arrays) of ``key`` adjacent?"""
    if not any(_is_index_array(k) for k in key):
        return True
    pos = [i for i, k in enumerate(key) if _is_index_array(k) or type(k) is int]
    return pos[-1] - pos[0] + 1 == len(pos)


def setitem(x, key, value):
    lv = _top((x, value) + (key if isinstance(key, tuple) else (key,)))
    if type(x) is not BatchedArray or x.level != lv:
        raise inplace_error()
    key = _expand_key(key, x.ndim)
    if any(_is_index_array(k) for k in key):
        raise RuntimeError("vmap: writes through an index array into a batched array are "
                           "done by chainrule's index_put rows, not by setitem")
    pkey = (slice(None),) + key
    if type(value) is BatchedArray and value.level == lv:
        target_nd = x.v[pkey].ndim - 1 if type(x.v) is not BatchedArray else \
            getitem(x.v, pkey).ndim - 1
        value = _phys(value, lv, target_nd)
    if type(x.v) is BatchedArray:
        setitem(x.v, pkey, value)
    else:
        x.v[pkey] = value


def take(x, indices, axis=None):
    lv = _top((x, indices))
    if not lv:
        return _finish(_inner(x, indices).take(x, indices, axis=axis))
    if axis is None:
        x = reshape(x, (-1,))
        axis = 0
    ax = _norm(axis, x.ndim)
    return getitem(x, (slice(None),) * ax + (indices,))


def take_along_axis(x, indices, axis=-1):
    lv = _top((x, indices))
    if not lv:
        return _finish(np.take_along_axis(x, indices, axis=axis) if _inner(x, indices) is np
                       else _inner(x, indices).take_along_axis(x, indices, axis=axis))
    nd = max(x.ndim, indices.ndim)
    xv, iv = _materialize([x, indices], lv, _batch_of((x, indices), lv)) if not (
        type(x) is BatchedArray and x.level == lv and type(indices) is BatchedArray
        and indices.level == lv) else (x.v, indices.v)
    ax = _norm(axis, nd) + 1
    ns = _inner(xv, iv)
    if ns is np:
        return _wrap(np.take_along_axis(xv, iv, axis=ax), lv)
    return _wrap(ns.take_along_axis(xv, iv, axis=ax), lv)


def nonzero(x):
    if _top((x,)):
        raise RuntimeError(_DYNAMIC.format("aten::nonzero"))
    return _inner(x).nonzero(x)


def _dynamic(name):
    def f(x, *a, **k):
        if _top((x,)):
            raise RuntimeError(_DYNAMIC.format(f"aten::{name}"))
        return getattr(_inner(x), name)(x, *a, **k)
    return f


# ---- reductions with their own signature -------------------------------------------------

def _cumulative(name):
    def f(x, axis=None, dtype=None, include_initial=False):
        if type(x) is not BatchedArray:
            return getattr(_inner(x), name)(x, axis=axis, dtype=dtype,
                                            include_initial=include_initial)
        ax = _axis(0 if axis is None else axis, x.ndim)
        return _wrap(getattr(_inner(x.v), name)(x.v, axis=ax, dtype=dtype,
                                                include_initial=include_initial), x.level)
    f.__name__ = name
    return f


cumulative_sum = _cumulative("cumulative_sum")
cumulative_prod = _cumulative("cumulative_prod")


def clip(x, min=None, max=None):  # noqa: A002 (the standard's names)
    bounds = (x, min, max)
    lv = _top(bounds)
    if not lv:
        return _finish(_inner(x).clip(x, min, max))
    rank = _max_ndim(bounds)
    phys = [_phys(a, lv, rank) if a is not None else None for a in bounds]
    return _wrap(_inner(*[p for p in phys if p is not None]).clip(*phys), lv)


def _max_ndim(arrays) -> int:
    return max(_ndim(a) for a in arrays if a is not None)


def where(c, x, y):
    return _elementwise("where")(c, x, y)


# ---- linalg ---------------------------------------------------------------------------------

class _Linalg:
    """The standard's linalg extension on batched matrices: the libraries' linalg takes
    stacks of matrices, so the batch is one more leading dim."""

    def __getattr__(self, name):
        def f(*args, **kw):
            lv = _top(args)
            if not lv:
                return getattr(_inner(*args).linalg, name)(*args, **kw)
            if name == "solve":
                a, b = args
                if b.ndim == 1:  # a vector right side: a column, so it is not a stack
                    out = f(a, expand_dims(b, -1), **kw)
                    return squeeze(out, -1)
            rank = _max_ndim(args)
            size = _batch_of(args, lv)
            phys = [_phys(a, lv, rank) if type(a) is BatchedArray and a.level == lv else
                    _materialize([reshape(a, (1,) * (rank - a.ndim) + tuple(a.shape))], lv,
                                 size)[0] for a in args]
            res = getattr(_inner(*phys).linalg, name)(*phys, **kw)
            if isinstance(res, tuple):
                return type(res)(*(_wrap(r, lv) for r in res)) if hasattr(res, "_fields") \
                    else tuple(_wrap(r, lv) for r in res)
            return _wrap(res, lv)
        return f


# ---- the module -----------------------------------------------------------------------------

class _Module:
    """The Array API namespace of ``BatchedArray`` (``MODULE``)."""

    __name__ = "chainrule.vmap"

    def __init__(self) -> None:
        for name in ("abs", "acos", "acosh", "asin", "asinh", "atan", "atanh",
                     "bitwise_invert", "ceil", "conj", "cos", "cosh", "exp", "expm1", "floor",
                     "isfinite", "isinf", "isnan", "log", "log1p", "log10", "log2",
                     "logical_not", "negative", "positive", "round", "sign", "signbit",
                     "sin", "sinh", "square", "sqrt", "tan", "tanh", "trunc", "real", "imag",
                     "add", "atan2", "bitwise_and", "bitwise_left_shift", "bitwise_or",
                     "bitwise_right_shift", "bitwise_xor", "copysign", "divide", "equal",
                     "floor_divide", "greater", "greater_equal", "hypot", "less",
                     "less_equal", "logaddexp", "logical_and", "logical_or", "logical_xor",
                     "maximum", "minimum", "multiply", "not_equal", "pow", "remainder",
                     "subtract", "nextafter", "where", "exp2", "fmod", "heaviside"):
            setattr(self, name, _elementwise(name))
        for name in ("sum", "prod", "mean", "max", "min", "any", "all", "std", "var",
                     "count_nonzero", "sort", "argsort"):
            setattr(self, name, _unary_axis(name))
        for name in ("argmax", "argmin"):
            setattr(self, name, _unary_axis(name, none_flattens=True))
        for name in ("zeros_like", "ones_like", "empty_like", "full_like"):
            setattr(self, name, _like(name))
        for name in ("arange", "zeros", "ones", "empty", "full", "eye", "linspace",
                     "result_type", "can_cast", "finfo", "iinfo", "meshgrid"):
            setattr(self, name, _passthrough(name))
        for name in ("unique_values", "unique_counts", "unique_inverse", "unique_all"):
            setattr(self, name, _dynamic(name))
        for dt in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                   "uint64", "float16", "float32", "float64", "complex64", "complex128"):
            setattr(self, dt, np.dtype(dt))
        self.linalg = _Linalg()
        self.e, self.pi, self.inf, self.nan = math.e, math.pi, math.inf, math.nan
        self.newaxis = None
        g = globals()
        for name in ("reshape", "permute_dims", "matrix_transpose", "moveaxis", "expand_dims",
                     "squeeze", "broadcast_to", "broadcast_arrays", "concat", "stack",
                     "unstack", "tril", "triu", "roll", "flip", "astype", "asarray",
                     "isdtype", "matmul", "vecdot", "tensordot", "einsum", "take",
                     "take_along_axis", "nonzero", "cumulative_sum", "cumulative_prod",
                     "clip", "getitem", "setitem"):
            setattr(self, name, g[name])

    def erf(self, x):
        from .numpy_backend import RAW
        if type(x) is not BatchedArray:
            inner = _inner(x)
            return RAW.erf(x) if inner is np else inner.erf(x)
        return _wrap(self.erf(x.v), x.level)


MODULE = _Module()


# ---- operators ------------------------------------------------------------------------------

def _inplace(f):
    def op(self, other):
        res = f(self, other)
        if type(res) is not BatchedArray or res.level != self.level:
            raise inplace_error()
        if tuple(res.shape) != tuple(self.shape):
            raise ValueError(f"non-broadcastable output operand with shape {self.shape} "
                             f"doesn't match the broadcast shape {res.shape}")
        if res.v.dtype != self.v.dtype:
            res = astype(res, self.v.dtype)
        if not _writeable(self.v):
            # a zero-stride batch (a shared value, expand_batch) has no memory of its own
            # to write: ``a += b`` rebinds ``a`` to the result instead
            return res
        setitem(self, (Ellipsis,), res)
        return self
    return op


def _writeable(v) -> bool:
    while type(v) is BatchedArray:
        v = v.v
    flags = getattr(v, "flags", None)
    return flags is None or bool(flags.writeable)


_operators.install(BatchedArray, lambda name: getattr(MODULE, name), _inplace)
BatchedArray.__neg__ = lambda self: MODULE.negative(self)
BatchedArray.__pos__ = lambda self: self
BatchedArray.__abs__ = lambda self: MODULE.abs(self)
BatchedArray.__invert__ = lambda self: MODULE.bitwise_invert(self)


# ---- entering and leaving a level -----------------------------------------------------------

def add_batch_dim(x, in_dim: int, level: int):
    """``x`` (any array) as a level-``level`` array batched over its dim ``in_dim``."""
    return BatchedArray(moveaxis(x, in_dim, 0) if in_dim else x, level)


def remove_batch_dim(xb, level: int, out_dim: int, size: int):
    """The array of a level-``level`` value with the batch at ``out_dim`` (a value that
    does not depend on the batch is expanded to it, as PyTorch does)."""
    if type(xb) is BatchedArray and xb.level == level:
        v = xb.v
    else:
        shape = tuple(xb.shape)
        v = broadcast_to(reshape(xb, (1,) + shape), (size,) + shape)
    return moveaxis(v, 0, out_dim) if out_dim else v


# ---- vmap levels and random draws --------------------------------------------------------

# the vmaps being run, outermost first: (level, batch size, randomness)
LEVELS: list = []

_RANDOM_ERROR = ("vmap: called random operation while in randomness error mode. Please "
                 "either use the 'same' or 'different' randomness flags on vmap or perform "
                 "the randomness operation out of vmap")


def rng_for(rng):
    """The generator a random op draws from: ``rng`` itself outside vmap (and under
    ``randomness="same"``: one draw shared by the batch); under ``"different"``, a
    drawer that gives every sample its own values; under ``"error"`` PyTorch's error."""
    if not LEVELS:
        return rng
    different = []
    for level, size, randomness in LEVELS:
        if randomness == "error":
            raise RuntimeError(_RANDOM_ERROR)
        if randomness == "different":
            different.append((level, size))
    return _BatchedDraws(rng, different) if different else rng


class _BatchedDraws:
    """NumPy ``Generator`` methods that draw one sample's values per batch element."""

    def __init__(self, rng, levels) -> None:
        self.rng = rng
        self.levels = levels  # (level, size), outermost first

    def _wrap(self, a):
        for level, _ in self.levels:
            a = BatchedArray(a, level)
        return a

    def _shape(self, shape):
        shape = () if shape is None else (shape,) if isinstance(shape, int) else tuple(shape)
        return tuple(size for _, size in self.levels) + shape

    def random(self, shape=None, dtype=np.float64):
        return self._wrap(self.rng.random(self._shape(shape), dtype=dtype))

    def standard_normal(self, shape=None, dtype=np.float64):
        return self._wrap(self.rng.standard_normal(self._shape(shape), dtype=dtype))

    def integers(self, low, high=None, size=None, dtype=np.int64):
        return self._wrap(self.rng.integers(low, high, self._shape(size), dtype=dtype))

    def normal(self, loc=0.0, scale=1.0, size=None):
        return MODULE.add(MODULE.multiply(self.standard_normal(size), scale), loc)

    def uniform(self, low=0.0, high=1.0, size=None):
        return MODULE.add(MODULE.multiply(self.random(size), high - low), low)

    def exponential(self, scale=1.0, size=None):
        return self._wrap(self.rng.exponential(scale, self._shape(size)))

    def permutation(self, n):
        lead = self._shape(())
        base = np.broadcast_to(np.arange(n), lead + (n,)).copy()
        return self._wrap(self.rng.permuted(base, axis=-1))

    def __getattr__(self, name):
        raise RuntimeError(f"vmap(randomness='different'): the random draw '{name}' has no "
                           f"batched form in chainrule; draw outside vmap, or use "
                           f"randomness='same'")


def expand_batch(x, level: int, size: int):
    """``x`` (not batched at ``level``) as a level-``level`` array: the same values for
    every sample, a zero-stride broadcast (no copy)."""
    if type(x) is BatchedArray and x.level > level:  # placed among x's own levels
        return BatchedArray(expand_batch(x.v, level, size), x.level)
    shape = tuple(x.shape)
    return BatchedArray(broadcast_to(reshape(x, (1,) + shape), (size,) + shape), level)


def sum_batch(g, level: int, size: int):
    """The transpose of ``expand_batch``: ``g`` summed over the batch of ``level`` (a
    ``g`` that is not batched there is the same cotangent for every sample)."""
    if type(g) is BatchedArray:
        if g.level == level:
            return _inner(g.v).sum(g.v, axis=0)
        if g.level > level:  # the level sits inside: sum there, keep the outer batch
            return BatchedArray(sum_batch(g.v, level, size), g.level)
    return g * size


def levels_of(a) -> list:
    """``[(level, batch size), ...]`` of an array, outermost first."""
    out = []
    while type(a) is BatchedArray:
        out.append((a.level, a.v.shape[0]))
        a = a.v
    return out


def shared(v):
    """The one sample of a physical array that repeats a single sample (a zero-stride
    batch dim, as ``expand_batch`` makes), else None."""
    st = getattr(v, "strides", None)
    if st is not None and st and st[0] == 0 and type(v) is np.ndarray:
        return v[0]
    return None
