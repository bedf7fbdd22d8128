"""The shape on each edge of a drawing (Note [edge shapes]).

Nodes do not store the shapes of their inputs and outputs, and running the rules to
find out is not possible after a backward has freed the saved values, so the shapes
are inferred from what nodes keep:

- the outputs' shapes (the roots) and each leaf's shape;
- saved arrays: an input or output a rule reads;
- params that carry shapes: the broadcast shapes an elementwise row records, the input
  shape of getitem, reshape, expand and the reductions (``_IN_SHAPE``);
- shape rules: an elementwise row without recorded shapes has inputs of its output's
  shape; reshape/expand know their result; a reduction's result follows from its input
  shape, dims and keepdim; a basic index's result from a zero-stride view.

A few sweeps (children first, then parents first) propagate them.  An edge whose shape
cannot be told is left unlabelled rather than guessed.
"""

from __future__ import annotations

import numpy as np

from ..autograd.node import AccumulateGrad

__all__ = ["in_shape", "infer", "saved_tuple"]

# op row name -> index of the param holding the shape of input 0
_IN_SHAPE = {"sum": 2, "sum_dim": 2, "mean": 2, "mean_dim": 2, "reshape": 1, "expand": 1,
             "getitem": 1, "index": 1, "max": 2, "min": 2, "max_dim": 3, "min_dim": 3,
             "amax": 2, "amin": 2, "norm": 3}
# reductions: op name -> (index of dims param, index of keepdim param)
_REDUCE = {"sum": (0, 1), "sum_dim": (0, 1), "mean": (0, 1), "mean_dim": (0, 1),
           "max": (0, 1), "min": (0, 1), "amax": (0, 1), "amin": (0, 1), "norm": (1, 2)}


def _is_shape(s) -> bool:
    return type(s) is tuple and all(type(d) is int and d >= 0 for d in s)


def _row(node):
    return getattr(type(node), "op", None)


def _copy_slices_fn(node):
    fn = getattr(node, "_fn", None)
    return fn if fn is not None and getattr(node, "_steps", None) is not None else None


def saved_tuple(node):
    """The node's saved tuple in the op-row layout ``(*inputs, out)``, or None."""
    saved = getattr(node, "_saved", None)
    extra = getattr(node, "_extra", None)
    if getattr(extra, "packed", None) is not None:
        return None  # packed by saved-tensor hooks: not readable without unpacking
    if type(saved) is tuple and len(saved) == len(node._next) + 1:
        return saved
    return None


def in_shape(p, i, known):
    """Shape of input ``i`` of node ``p`` (the cotangent ``p`` sends there), or None."""
    fn = _copy_slices_fn(p)
    if fn is not None:
        return known.get(p) if i == 0 else in_shape(fn, i, {})
    op = _row(p)
    params = getattr(p, "_params", ())
    if op is not None:
        name = op.name
        if i == 0 and name in _IN_SHAPE and len(params) > _IN_SHAPE[name] \
                and _is_shape(params[_IN_SHAPE[name]]):
            return params[_IN_SHAPE[name]]
        if name == "copy" and i == 1 and params and _is_shape(params[0]):
            return params[0]
        if op.kind == "elementwise":
            if params and i < len(params) and _is_shape(params[i]):
                return params[i]
            if not params or len(p._next) == 1:
                return known.get(p)
    saved = saved_tuple(p)
    if saved is not None and type(saved[i]) is np.ndarray:
        return saved[i].shape
    return None


def _out_from_inputs(n, kids_shapes, known):
    """The output shape of ``n`` from what is known of its inputs, or None."""
    fn = _copy_slices_fn(n)
    if fn is not None:
        return kids_shapes.get(0)  # the base keeps its shape
    op = _row(n)
    if op is None:
        return None
    params = n._params
    name = op.name
    if op.kind == "elementwise":
        if params:
            shapes = [s for s in params if _is_shape(s)]
            if len(shapes) == len(params):
                try:
                    return np.broadcast_shapes(*shapes)
                except ValueError:
                    return None
            return kids_shapes.get(0) if len(n._next) == 1 else None
        return next(iter(kids_shapes.values()), None)
    if name in ("reshape", "expand") and params and _is_shape(params[0]):
        return params[0]
    x = in_shape(n, 0, known) or kids_shapes.get(0)
    if x is None:
        return None
    if name == "getitem" and params:
        try:
            return np.broadcast_to(np.zeros((), np.int8), x)[params[0]].shape
        except (IndexError, TypeError, ValueError):
            return None
    if name in _REDUCE:
        di, ki = _REDUCE[name]
        if len(params) <= ki:
            return None
        dims, keep = params[di], params[ki]
        if dims is None:
            dims = tuple(range(len(x)))
        if type(dims) is int:
            dims = (dims,)
        if type(dims) is not tuple or not all(type(d) is int for d in dims):
            return None
        axes = {d % len(x) for d in dims} if x else set()
        if keep:
            return tuple(1 if a in axes else s for a, s in enumerate(x))
        return tuple(s for a, s in enumerate(x) if a not in axes)
    if name == "permute" and params and type(params[0]) is tuple \
            and sorted(params[0]) == list(range(len(x))):
        return tuple(x[a] for a in params[0])
    if name in ("clone", "to_copy"):
        return x
    return None


def infer(nodes, kids, parents, known):
    """Fill ``known`` (node → output shape) for ``nodes``; ``kids[i]``: indices of the
    children of node i; ``parents[i]``: its ``(parent index, input position)`` pairs."""
    for n in nodes:
        if n in known:
            continue
        if type(n) is AccumulateGrad:
            v = n.variable
            if v is not None:
                known[n] = tuple(v._data.shape)
            continue
        saved = saved_tuple(n) if _row(n) is not None else None
        if saved is not None and type(saved[-1]) is np.ndarray:
            known[n] = saved[-1].shape
    by_seq = sorted(range(len(nodes)), key=lambda i: nodes[i]._seq)
    for _ in range(4):
        before = len(known)
        for i in by_seq:  # children first: a result from its inputs
            n = nodes[i]
            if n in known:
                continue
            ks = {}
            for pos, c in enumerate(getattr(n, "_next", ())):
                if c is not None and c in known:
                    ks[pos] = known[c]
            s = _out_from_inputs(n, ks, known)
            if s is not None:
                known[n] = tuple(s)
        for i in reversed(by_seq):  # parents first: an input's shape is its producer's
            n = nodes[i]
            if n in known:
                continue
            for p, pos in parents[i]:
                s = in_shape(nodes[p], pos, known)
                if s is not None:
                    known[n] = tuple(s)
                    break
        if len(known) == before:
            break
    return known
