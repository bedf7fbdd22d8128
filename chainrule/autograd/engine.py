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
import operator
import sys
import threading

import numpy as np

from .. import _tensor as T
from .._dtype import grad_dtype
from .._grad_mode import STATE
from ..backend.numpy_backend import BIG, QUIET, RAW, quiet, unquiet
from . import _hooks
from ._saved import unpack_saved
from .anomaly_mode import ANOMALY, check_nan, report_error
from .forward_ad import STATE as _FW
from .node import _NONES, AccumulateGrad, raise_freed
from .node import FIRST_ONLY as _FIRST_ONLY

_heappush = heapq.heappush
_heappop = heapq.heappop
_getrefcount = sys.getrefcount
_FRESH_REFS = [0]  # calibrated by _calibrate()


def run_backward(roots, retain_graph: bool, create_graph: bool = False, targets=None,
                 capture=None, accumulate: bool = True, nb: int = 0):
    """Propagate cotangents from ``roots`` [(node, g)] to the leaves.

    ``targets``: only nodes on a path to these run.  ``capture``: dict node -> None;
    the cotangent arriving at those nodes is stored there (``autograd.grad``), and
    leaves' ``.grad`` are left alone unless ``accumulate``.  ``nb``: the cotangents
    carry that many leading batch dims (one pass for many cotangents).
    """
    anomaly = ANOMALY.enabled  # the one check of anomaly mode per pass when it is off
    prev_valid = PASS.checkpoint_valid
    PASS.checkpoint_valid = targets is None
    tok = quiet(QUIET)  # Note [floating-point warnings] in backend/numpy_backend.py
    try:
        if create_graph or _FW.on:
            # a live forward-mode tangent must flow through the backward too: a raw-array
            # pass would silently drop it (DESIGN.md, forward-over-reverse)
            from . import _higher
            return _higher.run_backward_differentiable(roots, retain_graph, targets,
                                                       capture, accumulate, nb, anomaly)
        return _run_raw(roots, retain_graph, targets, capture, accumulate, nb, anomaly)
    except Exception:
        if anomaly:
            report_error(sys.exc_info()[2])
        raise
    finally:
        PASS.checkpoint_valid = prev_valid
        unquiet(tok)


class _Pass(threading.local):
    """What the running backward pass is; ``checkpoint_valid``: a plain ``backward()``
    (reentrant checkpointing cannot serve ``autograd.grad`` or ``inputs=``)."""

    checkpoint_valid = True


PASS = _Pass()


def _run_raw(roots, retain_graph, targets, capture, accumulate, nb, anomaly):
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
    xp = RAW if nb == 0 else RAW.with_nb(nb)
    try:
        _loop(heap, buffers, retain_graph, relevant, capture, accumulate, xp, anomaly)
    finally:
        STATE.enabled = prev_mode


def _loop(heap, buffers, retain_graph, relevant, capture, accumulate, xp, anomaly=False):
    plain = capture is None and relevant is None
    node = _heappop(heap)[1]
    g = buffers.pop(node)
    gi = grads = None
    hooked = False  # the tensor hooks of a target already ran (Note [capture])
    while True:
        if not plain:
            node, g, hooked = _visit_target(node, g, capture, relevant, accumulate, xp.nb)
        if node is None:
            pass
        elif type(node) is AccumulateGrad:
            if accumulate:
                _accumulate(node, g, hooked)
        else:
            extra = node._extra
            g_hooks = None
            if extra is not None:
                if extra.pre_hooks or extra.retain is not None:
                    g = _hooks.run_pre(node, g, xp.nb, hooked)
                if extra.hooks:
                    g_hooks = g
                if extra.packed is not None:
                    unpack_saved(node, retain_graph)  # Note [saved-tensor hooks]
            saved = node._saved
            if saved is None:
                raise_freed(node)
            checks = node._checks
            if checks:
                for counter, seen, _ in checks:
                    if counter[0] != seen:
                        node._check_versions()
            elif not saved:
                saved = _NONES[len(node._next)]
            op = node.op
            if op is None:
                grads = node.apply(xp, g)
            elif op.partial1 is not None and g.size < BIG:
                # Note [inline unary VJP]: g * d(x) without a call through op.backward
                # (a mask partial selects: Note [mask partials] in ops/_core.py)
                gi = op.partial1(xp, *saved)
                gi = xp.where(gi, g, 0) if op.mask1 else g * gi
                grads = (gi if gi.dtype is g.dtype else gi.astype(g.dtype),)
                gi = None
            elif node._needs is _FIRST_ONLY and op.partials is not None and not node._params \
                    and g.size < BIG:
                # the same for a binary row whose second operand needs no grad (x * 2.0)
                d = op.partials[0](xp, *saved)
                if type(d) is int and d == 1:
                    grads = (g, None)
                else:
                    gi = xp.where(d, g, 0) if op.masks[0] else g * d
                    grads = (gi if gi.dtype is g.dtype else gi.astype(g.dtype), None)
                    gi = None
                d = None
            else:
                grads = op.backward(xp, g, node._needs, saved, node._params)
            if g_hooks is not None:
                grads = _hooks.post_stage(node, grads, g_hooks, xp.nb)
            if anomaly:
                check_nan(node, grads)
            if not retain_graph:
                if op is None:
                    node._release()
                elif saved is node._saved:
                    node._saved = None
            nxt = node._next
            if not heap and len(nxt) <= 2:
                # Note [chain fast path]: nothing else is pending, so when a single child
                # receives a cotangent (x * 2.0 has one tensor input) it runs next
                # without touching the heap.
                child = nxt[0]
                g = grads[0]
                if len(nxt) == 2 and (child is None or g is None):
                    child = nxt[1]
                    g = grads[1]
                elif len(nxt) == 2 and nxt[1] is not None and grads[1] is not None:
                    child = None  # two children: the general path below
                if child is not None or len(nxt) == 1:
                    grads = None  # Note [gradient ownership]: g's refcount must be exact
                    if child is not None and g is not None and (plain or relevant is None
                                                                or child in relevant):
                        node = child
                        continue
                    return
                g = None
            for child, gi in zip(nxt, grads):
                if gi is None or child is None:
                    continue
                if relevant is not None and child not in relevant:
                    continue
                b = buffers.get(child)
                if b is None:
                    buffers[child] = gi
                    _heappush(heap, (-child._seq, child))
                else:
                    buffers[child] = b + gi
        if not heap:
            return
        grads = gi = None
        node = _heappop(heap)[1]
        g = buffers.pop(node)


def _visit_target(node, g, capture, relevant, accumulate, nb=0):
    """``autograd.grad``/``inputs=``: store the cotangent reaching a target (Note
    [capture] in _hooks.py); returns ``(node or None when it need not run, g, whether
    its tensor hooks ran)``."""
    if capture is None or node not in capture:
        return node, g, False
    runs = type(node) is not AccumulateGrad and (relevant is None or any(
        c is not None and c in relevant for c in node._next))
    extra = node._extra
    hooked = False
    value = g
    if (accumulate or not runs) and extra is not None and _hooks.has_pre(extra):
        # backward(inputs=...): .grad gets the value after the tensor hooks
        g = value = _hooks.tensor_stage(node, g, nb)
        hooked = True
    prev = capture[node]
    capture[node] = value if prev is None else prev + value
    if accumulate and not runs and extra is not None:
        # PyTorch still runs such a node's own hooks, with no input gradients
        if extra.pre_hooks:
            g = _hooks.run_pre(node, g, nb, True)
        if extra.hooks:
            _hooks.post_stage(node, (None,) * len(node._next), g, nb)
    return (node if runs else None), g, hooked


def _relevant_nodes(roots, targets):
    """Nodes from which some target is reachable.  Children have smaller sequence
    numbers than their consumers (Note [topological order]), so one pass over the
    reachable nodes in increasing order decides each node from its children."""
    targets = set(targets)
    seen = set(roots)
    stack = list(roots)
    while stack:
        for c in stack.pop()._next:
            if c is not None and c not in seen:
                seen.add(c)
                stack.append(c)
    relevant = set()
    for node in sorted(seen, key=_SEQ):
        if node in targets:
            relevant.add(node)
            continue
        for c in node._next:
            if c in relevant:
                relevant.add(node)
                break
    return relevant


_SEQ = operator.attrgetter("_seq")


def _accumulate(node, g, hooked=False):
    """AccumulateGrad: leaf hooks, then ``leaf.grad += g`` (Note [gradient ownership])."""
    leaf, g = _hooks.accumulate_pre(node, g, hooked)
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
        fresh = (g.flags.writeable and _getrefcount(g) <= _FRESH_REFS[0]
                 and (g.base is None or _owns_base(g)))
        # Note [gradient layout]: like PyTorch's AccumulateGrad, give a C-contiguous leaf
        # a C-contiguous .grad (a weight's grad often arrives as a transposed view);
        # optimizers then update in one cache-friendly pass instead of strided ones.
        leaf._grad = T.wrap(g if fresh else np.array(
            g, copy=True, order="C" if leaf._data.flags.c_contiguous else "K"))
    elif old._data.shape == shape and old._data.flags.writeable:
        old._data += g
        old._vc[0] += 1
    else:
        leaf._grad = T.wrap(old._data + g)
    _hooks.accumulate_done(node, g)


def _base_refs(g) -> int:
    base = g.base
    return sys.getrefcount(base)


# references to the base of a view that nothing else holds, as seen by _owns_base
_OWNED_BASE_REFS = _base_refs(np.ones((2, 2)).T)


def _owns_base(g) -> bool:
    """``g`` is a C-contiguous view covering the whole of a base array that no other
    array views (e.g. ``(gᵀ a)ᵀ`` from Note [gradient layout]): using ``g`` as ``.grad``
    aliases nothing, so no copy is needed."""
    base = g.base
    if not (type(base) is np.ndarray and base.base is None and base.nbytes == g.nbytes
            and g.flags.c_contiguous):
        return False
    del base  # _base_refs must see only g's own reference
    return _base_refs(g) <= _OWNED_BASE_REFS


def _calibrate():
    """Reference counts of a cotangent that nothing else holds, as seen inside
    ``_accumulate`` and inside an elementwise VJP: run one-node graphs whose parent
    hands over a new array (Note [gradient ownership], Note [large elementwise VJPs])."""
    global _getrefcount
    from ..ops import _core
    from .node import Node
    seen = []
    real = sys.getrefcount

    def probe(a):
        seen.append(real(a) - 1)  # minus this probe's own argument
        return real(a) + 1000     # and report "not fresh", so nothing is modified

    class _Fresh(Node):
        __slots__ = ()

        def apply(self, xp, g):
            return (np.ones(_core.BIG),)

    def run(child):
        parent = _Fresh((child,), (), (), (), (True,), None)
        run_backward([(parent, np.ones(2))], retain_graph=True)

    leaf = T.wrap(np.zeros(_core.BIG))
    leaf.requires_grad_()
    _getrefcount = probe
    try:
        run(leaf._node)
    finally:
        _getrefcount = real
    _FRESH_REFS[0] = seen.pop()

    probe_op = _core.elementwise("_refcount_probe", np.negative,
                                 (lambda xp, x, out: -1,), reads=("x",),
                                 formula="calibration only")
    del _core._REGISTRY["_refcount_probe"]
    node = probe_op.node_cls((None,), (np.zeros(_core.BIG), None), (), (), (True,), None)
    _core._getrefcount = probe
    try:
        run(node)
    finally:
        _core._getrefcount = real
    _core.G_FRESH[0] = seen.pop()


def call_node(node, grads):
    """``grad_fn(g)``: run one node by hand, as PyTorch allows."""
    g = grads._data if isinstance(grads, T.Tensor) else np.asarray(grads)
    out = node.apply(RAW, g)
    return tuple(None if x is None else T.wrap(x) for x in out)

