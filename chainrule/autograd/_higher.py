"""The differentiable backward pass (``create_graph=True``).

The same traversal as ``engine._loop`` (decreasing sequence numbers), but cotangents
are Tensors, every rule runs with ``TensorNamespace`` while grad mode is on, and saved
values are rebuilt as Tensors connected to the graph (Note [saved values]): a saved
input is reconnected to the node that produced it, a saved output to the node itself.
The backward is therefore recorded and can be differentiated again, to any order.
"""

from __future__ import annotations

import heapq

import numpy as np

from ..backend.array_api import np_dtype

from .. import _tensor as T
from .._dtype import grad_dtype
from .._grad_mode import STATE
from . import _hooks, forward_ad
from ._saved import unpack_saved
from .anomaly_mode import check_nan
from .node import _NONES, FIXED_SITE, AccumulateGrad, creation_site, raise_freed


def run_backward_differentiable(roots, retain_graph, targets, capture, accumulate, nb=0,
                                anomaly=False, record=True, stop=False):
    """``record``: the rules' ops are recorded (``create_graph``); without it only
    forward-mode tangents flow through them (forward-over-reverse)."""
    from ..backend.tensor_backend import TensorNamespace
    from .engine import _relevant_nodes, _visit_target
    xp = TensorNamespace.get(nb)
    buffers = {}
    heap = []
    for node, g in roots:
        g = g if isinstance(g, T.Tensor) else T.wrap(g)
        if node in buffers:
            buffers[node] = buffers[node] + g
        else:
            buffers[node] = g
            heapq.heappush(heap, (-node._seq, node))
    relevant = _relevant_nodes([n for n, _ in roots], targets, stop) if targets is not None \
        else None
    prev = STATE.enabled
    STATE.enabled = record
    prev_site = PASS_SITE[0]
    PASS_SITE[0] = creation_site(2) if record else None
    try:
        while heap:
            node = heapq.heappop(heap)[1]
            g = buffers.pop(node)
            hooked = False
            if capture is not None:
                node, g, hooked = _visit_target(node, g, capture, relevant, accumulate, nb)
                if node is None:
                    continue
            if type(node) is AccumulateGrad:
                if accumulate:
                    _accumulate(node, g, hooked)
                continue
            grads = _run_node(node, xp, g, retain_graph, hooked)
            if anomaly:
                check_nan(node, grads)
            for child, gi in zip(node._next, grads):
                if gi is None or child is None:
                    continue
                if relevant is not None and child not in relevant:
                    continue
                b = buffers.get(child)
                if b is None:
                    buffers[child] = gi
                    heapq.heappush(heap, (-child._seq, child))
                else:
                    buffers[child] = b + gi
    finally:
        STATE.enabled = prev
        PASS_SITE[0] = prev_site


# the user's site of the running create_graph pass (Note [creation site] in node.py)
PASS_SITE: list = [None]


def _run_node(node, xp, g, retain_graph, hooked=False):
    extra = node._extra
    if extra is not None:
        if _hooks.has_pre(extra):
            g = _hooks.run_pre(node, g, xp.nb, hooked)
        if extra.packed is not None:
            unpack_saved(node, retain_graph)  # Note [saved-tensor hooks]
    op = node.op
    if op is None:  # CopySlices and custom Functions know how to run differentiably
        grads = node.apply_differentiable(xp, g)
        if not retain_graph:
            node._release()
    else:
        saved = node._saved
        if saved is None:
            raise_freed(node)
        if node._checks:
            node._check_versions()
        saved = rebuild_saved(node) if saved else _NONES[len(node._next)]
        site = PASS_SITE[0]
        if site is not None and FIXED_SITE[0] is None:
            FIXED_SITE[0] = site  # (a row's rules run no user code: their nodes' site)
            try:
                grads = op.backward(xp, g, node._needs, saved, node._params)
            finally:
                FIXED_SITE[0] = None
        else:
            grads = op.backward(xp, g, node._needs, saved, node._params)
        if not retain_graph:
            node._release()
    if extra is not None and extra.hooks:
        grads = _hooks.post_stage(node, grads, g, xp.nb)
    return grads


def rebuild_saved(node):
    """Saved raw values as Tensors wired into the graph (inputs to their producers, the
    output to ``node`` itself), so rules run on them are recorded."""
    n = len(node._next)
    out = []
    for p, v in enumerate(node._saved):
        if type(v) is np.ndarray or (v is not None and not isinstance(v, T.Tensor)
                                     and hasattr(v, "shape") and hasattr(v, "dtype")
                                     and np_dtype(v.dtype).kind in "fc"):
            # (a floating array of any library: NumPy, vmap's, Dask's ...; another
            # library's indices stay raw, as the rules' keys)
            src = node._next[p] if p < n else node
            if src is not None and src.op is not None and src.op.name == "expand_batch":
                v = _as_expanded(v, src)
            t = T.wrap(v, src) if src is not None else T.wrap(v)
            out.append(t)
        else:
            out.append(v)
    for level, tangents in forward_ad.saved_tangents(node):
        for t, tan in zip(out, tangents):
            if tan is not None and isinstance(t, T.Tensor):
                forward_ad.set_tangent(t, tan, level)
    return tuple(out)


def _accumulate(node, g, hooked=False):
    """``leaf.grad`` becomes (or adds) a Tensor that is itself differentiable."""
    leaf, g = _hooks.accumulate_pre(node, g, hooked)
    if leaf is None:
        return
    if leaf._grad is None:
        # PyTorch's AccumulateGrad copies here (CopyBackwards), casting and broadcasting:
        # .grad never aliases a tensor the user holds, such as the gradient passed in
        shape = leaf._data.shape
        leaf._grad = T.wrap(np.empty(shape, grad_dtype(leaf._data.dtype))).copy_(g)
    else:
        if g._data.dtype != leaf._grad._data.dtype:
            g = g.to(leaf._grad.dtype)
        if tuple(g.shape) != leaf._data.shape:
            g = g.expand(leaf._data.shape)
        leaf._grad = leaf._grad + g
    _hooks.accumulate_done(node, g)


def _as_expanded(v, src):
    """A shared input behind vmap's expand nodes, seen batched as their output is
    (Note [unbatched inputs inside vmap] in ops/batching.py): the chain of expand nodes
    from ``src`` down, applied innermost first."""
    from ..backend.batched import expand_batch, levels_of
    chain = []
    while src is not None and src.op is not None and src.op.name == "expand_batch":
        chain.append(src._params)
        src = src._next[0]
    have = {lv for lv, _ in levels_of(v)}
    for level, size in reversed(chain):
        if level not in have:
            v = expand_batch(v, level, size)
    return v
