"""The rule namespace of vmap's arrays: ``ArrayApiNamespace`` over ``batched.MODULE``,
plus the index words for indices that are themselves batched.

``ArrayApiNamespace`` computes the positions an index addresses on the host, from a NumPy
index.  Under vmap an index can differ per sample (a ``BatchedArray``: ``gather`` with a
batched index, the VJP of ``sort``, ``topk``, ``nll_loss``...); then the word runs on
the physical arrays, where the batch is one more leading dim of every operand (the
"along an axis" words address each position along ``axis`` independently of the other
dims, and their axes are negative), on the physical arrays' own rule namespace.
"""

from __future__ import annotations

from .array_api import ArrayApiNamespace
from .batched import MODULE, BatchedArray, _batch_of, _expand_key, _inner, _materialize, batched_key


def _permute(a, order):
    return MODULE.permute_dims(a, order) if type(a) is BatchedArray else \
        _inner(a).permute_dims(a, order)


def _level(*arrays) -> int:
    return max((a.level for a in arrays if type(a) is BatchedArray), default=0)


class BatchedNamespace(ArrayApiNamespace):
    def __init__(self, nb: int = 0) -> None:
        super().__init__(MODULE, "vmap", nb, lib=MODULE)

    def with_nb(self, k: int) -> BatchedNamespace:
        if k == 0:
            return self
        nb = self.nb + k
        ns = self._with.get(nb)
        if ns is None:
            ns = self._with[nb] = BatchedNamespace(nb)
        return ns

    def _lift(self, word, data, idx, axis, *, shape=None, value=None):
        """``word`` on the physical arrays: ``data`` (with ``self.nb`` leading dims) and
        ``idx`` get the batch as a leading dim, after the ``nb`` dims for ``data``."""
        from .registry import common_backend
        if axis >= 0:  # (the words count axes from the end)
            axis -= idx.ndim
        lv = _level(data, idx, value)
        size = _batch_of([a for a in (data, idx, value) if hasattr(a, "shape")], lv)
        dv, iv = _materialize([data, idx], lv, size)
        if hasattr(value, "shape"):
            value = _materialize([value], lv, size)[0]
        nb = self.nb
        if nb:  # (B, nb.., S) -> (nb.., B, S)
            dv = _permute(dv, tuple(range(1, nb + 1)) + (0,) + tuple(range(nb + 1, dv.ndim)))
        ns = common_backend([dv, iv]).xp.with_nb(nb)
        if word == "fill_along":
            out = ns.fill_along(dv, iv, axis, value)
        elif shape is not None:
            out = getattr(ns, word)(dv, (size,) + tuple(shape), iv, axis)
        else:
            out = getattr(ns, word)(dv, iv, axis)
        if nb:  # (nb.., B, R) -> (B, nb.., R)
            out = _permute(out, (nb,) + tuple(range(nb)) + tuple(range(nb + 1, out.ndim)))
        return BatchedArray(out, lv)

    @staticmethod
    def _batched_index(*idx) -> bool:
        return any(type(i) is BatchedArray for i in idx)

    @staticmethod
    def _raw(key):
        """A key whose index arrays may be Tensors (saved values rebuilt for a
        differentiable pass) as raw arrays."""
        if isinstance(key, tuple):
            return tuple(getattr(k, "_data", k) for k in key)
        return getattr(key, "_data", key)

    def gather(self, x, idx, axis):
        idx = self._raw(idx)
        if self._batched_index(idx):
            return self._lift("gather", x, idx, axis)
        return super().gather(x, idx, axis)

    def take_along(self, x, idx, axis):
        idx = self._raw(idx)
        if self._batched_index(idx):
            return self._lift("take_along", x, idx, axis)
        return super().take_along(x, idx, axis)

    def scatter_along(self, g, shape, idx, axis):
        idx = self._raw(idx)
        if self._batched_index(idx):
            return self._lift("scatter_along", g, idx, axis, shape=shape)
        return super().scatter_along(g, shape, idx, axis)

    def fill_along(self, g, idx, axis, value):
        idx = self._raw(idx)
        if self._batched_index(idx):
            return self._lift("fill_along", g, idx, axis, value=value)
        return super().fill_along(g, idx, axis, value)

    def take(self, a, idx, axis):
        idx = self._raw(idx)
        if self._batched_index(idx):
            if self.nb:
                axis = axis % (a.ndim - self.nb) + self.nb if axis is not None else None
            return MODULE.take(a, idx, axis=axis)
        return super().take(a, idx, axis)

    def index(self, g, key):
        key = self._raw(key)
        keys = key if isinstance(key, tuple) else (key,)
        if not self._batched_index(*keys):
            return super().index(g, key)
        nb = self.nb
        out = MODULE.getitem(g, (slice(None),) * nb + keys)
        arrays = [k for k in keys if hasattr(k, "shape")]
        pos = [i for i, k in enumerate(keys) if hasattr(k, "shape") or type(k) is int]
        if nb and pos[-1] - pos[0] + 1 != len(pos):
            # NumPy put the (non-adjacent) advanced dims first, before the nb dims
            nd = len(MODULE.broadcast_arrays(*arrays)[0].shape)
            order = tuple(range(nd, nd + nb)) + tuple(range(nd)) + \
                tuple(range(nd + nb, out.ndim))
            out = MODULE.permute_dims(out, order)
        return out

    def _key_parts(self, key, shape, *arrays):
        """The level, batch size, physical key and layout order of a key that holds
        batched index arrays (see ``batched.batched_key``)."""
        key = _expand_key(key if isinstance(key, tuple) else (key,), len(shape))
        lv = _level(*arrays, *key)
        size = _batch_of([a for a in (*arrays, *key) if hasattr(a, "shape")], lv)
        pkey, order = batched_key(key, lv, size, True, self.nb)
        return lv, size, pkey, order

    def _to_key_layout(self, a, order, lv, size, region):
        """A per-sample region value (B first) in the layout ``phys[pkey]`` has."""
        a = _materialize([MODULE.broadcast_to(a, region) if tuple(a.shape) != region else a],
                         lv, size)[0]
        if order is None:
            return a
        inv = tuple(order.index(i) for i in range(len(order)))
        return _permute(a, inv)

    def scatter(self, g, shape, key, accumulate):
        key = self._raw(key)
        keys = key if isinstance(key, tuple) else (key,)
        if not self._batched_index(*keys):
            return super().scatter(g, shape, key, accumulate)
        from .registry import common_backend
        lv, size, pkey, order = self._key_parts(keys, tuple(shape), g)
        nbshape = tuple(g.shape[:self.nb])
        gl = self._to_key_layout(g, order, lv, size, tuple(g.shape))
        ns = common_backend([gl]).xp
        return BatchedArray(ns.scatter(gl, (size,) + nbshape + tuple(shape), pkey,
                                       accumulate), lv)

    def scatter_set(self, g, key, value):
        key = self._raw(key)
        keys = key if isinstance(key, tuple) else (key,)
        if not self._batched_index(*keys):
            return super().scatter_set(g, key, value)
        from .registry import common_backend
        shape = tuple(g.shape[self.nb:])
        lv, size, pkey, order = self._key_parts(keys, shape, g, value)
        gv = _materialize([g], lv, size)[0]
        if hasattr(value, "shape"):
            region = tuple(self.index(BatchedArray(gv, lv), keys).shape)
            value = self._to_key_layout(value, order, lv, size, region)
        ns = common_backend([gv]).xp
        return BatchedArray(ns.scatter_set(gv, pkey, value), lv)

