"""The backward engine: one iterative pass, no recursion, any graph depth.

Note [topological order]: every node gets an increasing sequence number when it is
created, and a node's inputs always exist before it, so visiting nodes in decreasing
sequence order is a topological order.  The engine keeps a heap of the nodes that have
received a cotangent; when a node is popped, every node that feeds it a cotangent has
already run.  One pass, no dependency counting, and a chain of a million ops uses a heap
of size one.

Note [gradient ownership]: ``.grad`` must never alias an array the user passed in or
one still used elsewhere.  A cotangent is adopted as ``.grad`` without a copy only when
nothing else references it (its reference count is the engine's own, measured once at
import) and it owns its memory; otherwise it is copied, as PyTorch does.
"""

from __future__ import annotations

import heapq
import sys

import numpy as np

from .. import _tensor as T
from .._dtype import grad_dtype
from .._grad_mode import STATE
from ..backend.numpy_backend import RAW
from .node import AccumulateGrad

_heappush = heapq.heappush
_heappop = heapq.heappop
_getrefcount = sys.getrefcount
_FRESH_REFS = [0]  # calibrated by _calibrate()


def run_backward(roots, retain_graph: bool, create_graph: bool = False, targets=None,
                 capture=None, accumulate: bool = True):
    """Propagate cotangents from ``roots`` [(node, g)] to the leaves.

    ``targets``: only nodes on a path to these run.  ``capture``: dict node -> None;
    the cotangent arriving at those nodes is stored there (``autograd.grad``), and
    leaves' ``.grad`` are left alone unless ``accumulate``.
    """
    if create_graph:
        from . import _higher
        return _higher.run_backward_differentiable(roots, retain_graph, targets, capture,
                                                   accumulate)
    xp = RAW
    buffers = {}
    heap = []
    for node, g in roots:
        if node in buffers:
            buffers[node] = buffers[node] + g
        else:
            buffers[node] = g
            _heappush(heap, (-node._seq, node))
    relevant = _relevant_nodes([n for n, _ in roots], targets) if targets is not None else None
    prev_mode = STATE.enabled
    STATE.enabled = False
    try:
        while heap:
            node = _heappop(heap)[1]
            g = buffers.pop(node)
            if capture is not None and node in capture:
                if node._pre_hooks:
                    g = _run_pre_hooks(node, g)
                prev = capture[node]
                capture[node] = g if prev is None else prev + g
                if type(node) is AccumulateGrad and not accumulate:
                    continue
                if relevant is not None and node not in relevant:
                    continue
            if type(node) is AccumulateGrad:
                if accumulate:
                    _accumulate(node, g, False)
                continue
            if node._pre_hooks:
                g = _run_pre_hooks(node, g)
            grads = node.apply(xp, g)
            if node._hooks:
                grads = _run_post_hooks(node, grads, g)
            if not retain_graph:
                node._release()
            for child, gi in zip(node._next, grads):
                if gi is None or child is None:
                    continue
                if relevant is not None and child not in relevant:
                    continue
                b = buffers.get(child)
                if b is None:
                    buffers[child] = gi
                    _heappush(heap, (-child._seq, child))
                else:
                    buffers[child] = _add(b, gi)
    finally:
        STATE.enabled = prev_mode


def _add(a, b):
    return a + b


def _relevant_nodes(roots, targets):
    """Nodes from which some target is reachable (iterative post-order)."""
    targets = set(targets)
    relevant = set()
    seen = set()
    stack = [(n, False) for n in roots]
    while stack:
        node, done = stack.pop()
        if done:
            if node in targets or any(c is not None and c in relevant for c in node._next):
                relevant.add(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        for c in node._next:
            if c is not None and c not in seen:
                stack.append((c, False))
    return relevant


def _run_pre_hooks(node, g):
    """Tensor hooks, then grad_fn pre-hooks, then the retain_grad update (PyTorch's order)."""
    for kind, fn in list(node._pre_hooks):
        if kind == "tensor":
            r = fn(T.wrap(g))
            if r is not None:
                g = _hook_result(r, g, node)
    for kind, fn in list(node._pre_hooks):
        if kind == "node":
            r = fn((T.wrap(g),))
            if r is not None:
                g = _hook_result(r[0], g, node)
    if node._retain is not None:
        t = node._retain()
        if t is not None and t._node is node:
            if t._grad is None:
                t._grad = T.wrap(g.copy())
            else:
                t._grad = T.wrap(t._grad._data + g)
    return g


def _hook_result(r, g, node):
    data = r._data if isinstance(r, T.Tensor) else np.asarray(r)
    if data.shape != g.shape:
        raise RuntimeError(f"hook on {node.name()} returned a gradient of shape "
                           f"{list(data.shape)}, expected {list(g.shape)}")
    return data


def _run_post_hooks(node, grads, g):
    grads = list(grads)
    wrapped_in = tuple(None if x is None else T.wrap(x) for x in grads)
    for fn in list(node._hooks):
        r = fn(wrapped_in, (T.wrap(g),))
        if r is not None:
            grads = [None if x is None else (x._data if isinstance(x, T.Tensor) else x)
                     for x in r]
            wrapped_in = tuple(None if x is None else T.wrap(x) for x in grads)
    return grads


def _accumulate(node, g, create_graph):
    """AccumulateGrad: leaf hooks, then ``leaf.grad += g`` (Note [gradient ownership])."""
    if node._pre_hooks:
        g = _run_pre_hooks(node, g)
    leaf = node._leaf()
    if leaf is None:
        return
    shape = leaf._data.shape
    want = grad_dtype(leaf._data.dtype)
    if g.dtype != want:
        g = g.astype(want)
    if g.shape != shape:
        g = np.broadcast_to(g, shape)
    old = leaf._grad
    if old is None:
        fresh = (g.base is None and g.flags.writeable
                 and _getrefcount(g) <= _FRESH_REFS[0])
        leaf._grad = T.wrap(g if fresh else np.array(g, copy=True))
    elif old._data.shape == shape and old._data.flags.writeable:
        old._data += g
        old._vc[0] += 1
    else:
        leaf._grad = T.wrap(old._data + g)
    if node._post_hooks:
        for fn in list(node._post_hooks):
            fn(leaf)


def _calibrate():
    """Reference count of a fresh cotangent that nothing else holds, as seen inside
    ``_accumulate``: run a one-node graph whose rule returns a new array."""
    global _getrefcount
    from .node import Node
    seen = []
    real = sys.getrefcount

    def probe(a):
        seen.append(real(a) - 1)  # minus this probe's own argument
        return real(a) + 1000

    class _Fresh(Node):
        __slots__ = ()

        def apply(self, xp, g):
            return (np.ones(2),)

    leaf = T.wrap(np.zeros(2))
    leaf.requires_grad_()
    fresh = _Fresh((leaf._node,), (), (), (), (True,), None)
    _getrefcount = probe
    try:
        run_backward([(fresh, np.ones(2))], retain_graph=False)
    finally:
        _getrefcount = real
    _FRESH_REFS[0] = seen[0]


def call_node(node, grads):
    """``grad_fn(g)``: run one node by hand, as PyTorch allows."""
    g = grads._data if isinstance(grads, T.Tensor) else np.asarray(grads)
    out = node.apply(RAW, g)
    return tuple(None if x is None else T.wrap(x) for x in out)


_calibrate()
