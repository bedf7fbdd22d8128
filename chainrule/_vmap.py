"""``vmap``: run a per-sample function once on a whole batch (``torch.func.vmap``).

The batch dim is carried by the tensors' data (a ``BatchedArray``, Note [vmap as an array
library] in ``backend/batched.py``) and hidden from ``f``: ``f`` sees one sample's shape,
and every op it calls runs once, on the whole batch, through the same op table, rules and
engine as eager code, so ``vmap`` composes with ``grad``, ``vjp``, ``jvp``, ``jacrev``,
``jacfwd`` and ``hessian`` in any order, and with itself.
"""

from __future__ import annotations

import functools

from ._tensor import Tensor
from .backend.batched import LEVELS, BatchedArray
from .ops.batching import add_batch_dim, remove_batch_dim

__all__ = ["vmap"]

_RANDOMNESS = ("error", "different", "same")


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """``func`` mapped over a dim of its inputs, in one batched call.

    ``in_dims``: an int (every argument), or a tuple with one entry per positional
    argument, each an int, ``None`` (not batched) or a nested structure matching that
    argument (dicts, lists, tuples of tensors).  ``out_dims`` likewise for the outputs.
    ``randomness``: ``"error"`` (random ops raise), ``"different"`` (each sample draws its
    own values) or ``"same"`` (one draw shared by the batch).  ``chunk_size`` runs the
    batch in chunks of that many samples (one call each) to cap memory.
    """
    if randomness not in _RANDOMNESS:
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', "
                           f"or 'same'. Got {randomness}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. "
                         f"(got {chunk_size})")

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        name = getattr(func, "__name__", repr(func))
        where = f"vmap({name}, in_dims={in_dims}, ...)(<inputs>)"
        if not isinstance(in_dims, (int, tuple)) or isinstance(in_dims, bool):
            raise ValueError(f"{where}: expected `in_dims` to be int or a (potentially "
                             f"nested) tuple matching the structure of inputs, got: "
                             f"{type(in_dims)}.")
        flat, rebuild = _flatten(args)
        dims = _broadcast(in_dims if isinstance(in_dims, tuple) else (in_dims,) * len(args),
                          args, where, "in_dims", "inputs")
        size = _batch_size(flat, dims, where)
        if chunk_size is not None and chunk_size < size:
            return _chunked(func, flat, dims, rebuild, kwargs, size, name)
        return _run(func, flat, dims, rebuild, kwargs, size, name)

    def _run(f, flat, dims, rebuild, kwargs, size, name):
        level = LEVELS[-1][0] + 1 if LEVELS else 1
        LEVELS.append((level, size, randomness))
        try:
            batched = [x if d is None else add_batch_dim(x, level, d % max(x.dim(), 1), size)
                       for x, d in zip(flat, dims)]
            out = f(*rebuild(batched), **kwargs)
        finally:
            LEVELS.pop()
        return _unbatch(out, level, size, name)

    def _chunked(f, flat, dims, rebuild, kwargs, size, name):
        from .ops.shape import cat
        parts = []
        for start in range(0, size, chunk_size):
            n = min(chunk_size, size - start)
            piece = [x if d is None else x.narrow(d, start, n) for x, d in zip(flat, dims)]
            parts.append(_run(f, piece, dims, rebuild, kwargs, n, name))
        outs = [_flatten(p)[0] for p in parts]
        _, rebuild_out = _flatten(parts[0])
        odims = _broadcast(out_dims, parts[0], f"vmap({name}, ...)", "out_dims", "outputs") \
            if isinstance(out_dims, tuple) else [out_dims] * len(outs[0])
        joined = [cat([o[i] for o in outs], dim=d) if d is not None else outs[0][i]
                  for i, d in enumerate(odims)]
        return rebuild_out(joined)

    def _unbatch(out, level, size, name):
        flat, rebuild = _flatten(out)
        where = f"vmap({name}, ..., out_dims={out_dims})(<inputs>)"
        if isinstance(out_dims, tuple):
            odims = _broadcast(out_dims, out, where, "out_dims", "outputs")
        elif out_dims is None or isinstance(out_dims, int):
            odims = [out_dims] * len(flat)
        else:
            raise ValueError(f"{where}: expected `out_dims` to be int or a (potentially "
                             f"nested) tuple matching the structure of outputs, got: "
                             f"{type(out_dims)}.")
        res = []
        for t, d in zip(flat, odims):
            if d is None:
                if isinstance(t, Tensor) and _level_of(t) == level:
                    raise ValueError(f"vmap({name}, ...): `{name}` can not return a "
                                     f"BatchedTensor when out_dim is None")
                res.append(t)
                continue
            if not isinstance(t, Tensor):
                raise ValueError(f"vmap({name}, ...): `{name}` must only return Tensors, got "
                                 f"type {type(t)}. Did you mean to set out_dims= to None for "
                                 f"output?")
            nd = t.dim() + 1
            if not -nd <= d < nd:
                raise IndexError(f"Dimension out of range (expected to be in range of "
                                 f"[{-nd}, {nd - 1}], but got {d})")
            res.append(remove_batch_dim(t, level, d % nd, size))
        return rebuild(res)

    return wrapped


def _level_of(t) -> int:
    d = t._data
    return d.level if type(d) is BatchedArray else 0


def _flatten(tree):
    """``(leaves, rebuild)`` of a pytree of tuples, lists and dicts."""
    from .func import _leaves, _rebuild
    leaves = list(_leaves(tree))
    return leaves, lambda new: _rebuild(tree, iter(new))


def _broadcast(dims, tree, where, what, whose):
    """One dim per leaf of ``tree``: ``dims`` is a prefix of its structure (an int or
    ``None`` covers a whole subtree)."""
    out = []

    def walk(d, t):
        if d is None or (isinstance(d, int) and not isinstance(d, bool)):
            out.extend([d] * len(list(_flatten(t)[0])))
            return
        ok = (isinstance(d, (tuple, list)) and isinstance(t, (tuple, list))
              and len(d) == len(t)) or (isinstance(d, dict) and isinstance(t, dict)
                                        and set(d) == set(t))
        if not ok:
            raise ValueError(f"{where}: {what} is not compatible with the structure of "
                             f"`{whose}`. {what} has structure {_structure(dims)} but "
                             f"{whose} has structure {_structure(tree)}.")
        if isinstance(d, dict):
            for k in t:
                walk(d[k], t[k])
        else:
            for di, ti in zip(d, t):
                walk(di, ti)
    walk(dims, tree)
    return out


def _structure(tree) -> str:
    if isinstance(tree, dict):
        return "{" + ", ".join(f"{k!r}: {_structure(v)}" for k, v in tree.items()) + "}"
    if isinstance(tree, (tuple, list)):
        inner = ", ".join(_structure(v) for v in tree)
        return f"({inner},)" if isinstance(tree, tuple) and len(tree) == 1 else \
            (f"({inner})" if isinstance(tree, tuple) else f"[{inner}]")
    return "*"


def _batch_size(flat, dims, where) -> int:
    sizes = []
    for x, d in zip(flat, dims):
        if d is None:
            continue
        if not isinstance(x, Tensor):
            raise ValueError(f"{where}: Got in_dim={d} for an input but the input is of type "
                             f"{type(x)}. We cannot vmap over non-Tensor arguments, please "
                             f"use None as the respective in_dim")
        nd = x.dim()
        if not -nd <= d < nd:
            raise ValueError(f"{where}: Got in_dim={d} for some input, but that input is a "
                             f"Tensor of dimensionality {nd} so expected in_dim to satisfy "
                             f"-{nd} <= in_dim < {nd}.")
        sizes.append(x.shape[d])
    if not sizes:
        raise ValueError("vmap: Expected at least one Tensor to vmap over")
    if any(s != sizes[0] for s in sizes):
        raise ValueError(f"vmap: Expected all tensors to have the same size in the mapped "
                         f"dimension, got sizes {sizes} for the mapped dimension")
    return sizes[0]
