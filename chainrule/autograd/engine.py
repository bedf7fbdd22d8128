"""The backward engine: one iterative pass, no recursion, any graph depth.

Note [topological order]: every node gets an increasing sequence number when it is
created, and a node's inputs always exist before it, so visiting nodes in decreasing
sequence order is a topological order.  The engine keeps a heap of the nodes that have
received a cotangent; when a node is popped, every node that feeds it a cotangent has
already run.  One pass, no dependency counting, and a chain of a million ops uses a heap
of size one.

Note [gradient ownership]: ``.grad`` must never alias an array the user holds (the
``gradient`` passed to ``backward``, a tensor a hook returned or kept) or one still used
elsewhere, and the engine may write into a cotangent only when nobody else sees it.
Ownership is an explicit fact the engine carries with each pending cotangent (``own``
for the one being processed, the set ``owned`` for the buffered ones), as HIPS autograd
does; it is set only where a fresh array that nobody else holds is produced:
- the engine's own sums of two cotangents (after which it adds into them in place);
- the results of a row whose VJPs return either ``g`` itself or new memory
  (``Op.fresh_grads``: elementwise and matmul rows; tests/test_fuzz_namespaces.py checks
  the claim on every sample); ``g`` passed through stays owned only if ``g`` was and
  only one input receives it;
- a dtype conversion.
It is cleared whenever a hook or a custom Function may have seen the value, when
``autograd.grad`` captured it, and for root cotangents (the user's).  An owned
cotangent is adopted as ``.grad`` without a copy, and a large elementwise VJP writes its
result into an owned ``g`` (Note [large elementwise VJPs] in ops/_row.py); anything
else is copied, as PyTorch does.  Nothing depends on reference counts or array types.
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
from ..backend.numpy_backend import BIG, QUIET, RAW, quiet, times, unquiet
from ..backend.registry import FOREIGN, NUMPY, backend_of
from ..backend.trace import _ACTIVE as _TRACE_ACTIVE
from . import _hooks
from ._saved import unpack_saved
from .anomaly_mode import ANOMALY, check_nan, report_error
from .forward_ad import STATE as _FW
from .forward_ad import tangents_live
from .node import _NONES, AccumulateGrad, raise_freed
from .node import FIRST_ONLY as _FIRST_ONLY

_heappush = heapq.heappush
_heappop = heapq.heappop
_ndarray = np.ndarray


def run_backward(roots, retain_graph: bool, create_graph: bool = False, targets=None,
                 capture=None, accumulate: bool = True, nb: int = 0, values=(), stop=False):
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
        if create_graph or (_FW.on and tangents_live()):
            # a live forward-mode tangent must flow through the backward too: a raw-array
            # pass would silently drop it (DESIGN.md, forward-over-reverse); without
            # create_graph the pass pushes tangents but records nothing
            from . import _higher
            return _higher.run_backward_differentiable(roots, retain_graph, targets,
                                                       capture, accumulate, nb, anomaly,
                                                       record=create_graph, stop=stop)
        if not FOREIGN[0]:
            return _run_raw(roots, retain_graph, targets, capture, accumulate, nb, anomaly,
                            stop)
        PASS.lazy = []
        try:
            _run_raw(roots, retain_graph, targets, capture, accumulate, nb, anomaly, stop)
            _finish_lazy(PASS.lazy, values)
        finally:
            PASS.lazy = None
    except Exception:
        if anomaly:
            report_error(sys.exc_info()[2])
        raise
    finally:
        PASS.checkpoint_valid = prev_valid
        unquiet(tok)
        if _TRACE_ACTIVE[0] is not None:  # (compile: later lines are no node's)
            _TRACE_ACTIVE[0].note = None


class _Pass(threading.local):
    """What the running backward pass is; ``checkpoint_valid``: a plain ``backward()``
    (reentrant checkpointing cannot serve ``autograd.grad`` or ``inputs=``)."""

    checkpoint_valid = True
    lazy = None  # [(AccumulateGrad, g, own, hooked)]: lazy .grad of NumPy leaves


PASS = _Pass()


def _run_raw(roots, retain_graph, targets, capture, accumulate, nb, anomaly, stop=False):
    buffers = {}
    owned = set()  # nodes whose buffered cotangent the engine owns (Note [gradient ownership])
    heap = []
    for node, g in roots:
        if node in buffers:
            buffers[node] = buffers[node] + g
            owned.add(node)
        else:
            buffers[node] = g  # the user's: never owned
            _heappush(heap, (-node._seq, node))
    relevant = _relevant_nodes([n for n, _ in roots], targets, stop) if targets is not None \
        else None
    prev_mode = STATE.enabled
    STATE.enabled = False
    xp = RAW if nb == 0 else RAW.with_nb(nb)
    if FOREIGN[0]:
        xp = _ForeignNamespaces(nb)
    try:
        _loop(heap, buffers, owned, retain_graph, relevant, capture, accumulate, xp, anomaly)
    finally:
        STATE.enabled = prev_mode


def _loop(heap, buffers, owned, retain_graph, relevant, capture, accumulate, xp,
          anomaly=False):
    plain = capture is None and relevant is None
    picker = xp if type(xp) is _ForeignNamespaces else None
    foreign = picker is not None
    node = _heappop(heap)[1]
    g = buffers.pop(node)
    own = node in owned  # Note [gradient ownership]
    gi = grads = None
    hooked = False  # the tensor hooks of a target already ran (Note [capture])
    while True:
        if not plain:
            if capture is not None and node in capture:
                own = False  # autograd.grad hands this value to the user
            node, g, hooked = _visit_target(node, g, capture, relevant, accumulate, xp.nb)
        if node is None:
            pass
        elif type(node) is AccumulateGrad:
            if accumulate:
                _accumulate(node, g, own, hooked)
        else:
            extra = node._extra
            g_hooks = None
            if extra is not None:
                if extra.pre_hooks or extra.retain is not None:
                    g = _hooks.run_pre(node, g, xp.nb, hooked)
                    own = False  # a hook may keep what it was shown
                if extra.hooks:
                    g_hooks = g
                    own = False
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
            if foreign:
                xp = picker.pick(g, saved)
                if _TRACE_ACTIVE[0] is not None:  # chainrule.compile: annotate the code
                    _TRACE_ACTIVE[0].note = (node.name(), node._site)
            # fresh: the outputs are new arrays, or g itself (Note [gradient ownership])
            if op is None:
                grads = node.apply(xp, g)
                fresh = node.fresh_out
            elif op.partial1 is not None and g.size < BIG:
                # Note [inline unary VJP]: g * d(x) without a call through op.backward
                # (a mask partial selects: Note [mask partials] in ops/_row.py)
                gi = op.partial1(xp, *saved)
                gi = (xp.where(gi, g, 0) if op.mask1 is True else times(xp, g, gi, op.mask1)) \
                    if op.mask1 else g * gi
                grads = (gi if gi.dtype is g.dtype else xp.astype(gi, g.dtype),)
                gi = None
                fresh = True
            elif node._needs is _FIRST_ONLY and op.partials is not None and not node._params \
                    and g.size < BIG:
                # the same for a binary row whose second operand needs no grad (x * 2.0)
                d = op.partials[0](xp, *saved)
                if type(d) is int and d == 1:
                    grads = (g, None)
                else:
                    gi = times(xp, g, d, op.masks[0])
                    grads = (gi if gi.dtype is g.dtype else xp.astype(gi, g.dtype), None)
                    gi = None
                d = None
                fresh = True
            else:
                if own and op.writes_into_g:
                    # the engine owns g: a large elementwise VJP may write into it
                    grads = op.backward(xp, g, node._needs, saved, node._params, True)
                else:
                    grads = op.backward(xp, g, node._needs, saved, node._params)
                fresh = op.fresh_grads
            if g_hooks is not None:
                grads = _hooks.post_stage(node, grads, g_hooks, xp.nb)
                fresh = False
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
                gi = grads[0]
                if len(nxt) == 2 and (child is None or gi is None):
                    child = nxt[1]
                    gi = grads[1]
                elif len(nxt) == 2 and nxt[1] is not None and grads[1] is not None:
                    child = None  # two children: the general path below
                if child is not None or len(nxt) == 1:
                    grads = None
                    if child is not None and gi is not None and (plain or relevant is None
                                                                 or child in relevant):
                        # one receiver: g passed through stays as owned as it was
                        own = fresh and (own or gi is not g)
                        node = child
                        g = gi
                        if foreign:
                            xp = picker
                        continue
                    return
            for child, gi in zip(nxt, grads):
                if gi is None or child is None:
                    continue
                if relevant is not None and child not in relevant:
                    continue
                b = buffers.get(child)
                if b is None:
                    buffers[child] = gi
                    if fresh and (gi is not g or (own and _passed_once(grads, g))):
                        owned.add(child)
                    _heappush(heap, (-child._seq, child))
                elif child in owned and type(b) is _ndarray and type(gi) is _ndarray \
                        and b.shape == gi.shape and b.dtype == gi.dtype and b.flags.writeable:
                    b += gi  # the engine's own buffer: add in place (HIPS's mut_add)
                else:
                    buffers[child] = b + gi
                    owned.add(child)
        if not heap:
            return
        if foreign:
            xp = picker
        grads = gi = None
        node = _heappop(heap)[1]
        g = buffers.pop(node)
        own = node in owned  # a node runs once: its entry is never looked at again


def _passed_once(grads, g) -> bool:
    """``g`` itself goes to one input only (add passes it to both: owned by neither)."""
    n = 0
    for gi in grads:
        if gi is g:
            n += 1
    return n == 1


def _visit_target(node, g, capture, relevant, accumulate, nb=0):
    """``autograd.grad``/``inputs=``: store the cotangent reaching a target (Note
    [capture] in _hooks.py); returns ``(node or None when it need not run, g, whether
    its tensor hooks ran)``."""
    if capture is None or node not in capture:
        return node, g, False
    runs = type(node) is not AccumulateGrad and type(relevant) is not _StopAtTargets and (
        relevant is None or any(c is not None and c in relevant for c in node._next))
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


class _StopAtTargets(set):
    """The relevant nodes of a pass that stops at its targets (``_relevant_nodes``)."""

    __slots__ = ()


def _relevant_nodes(roots, targets, stop=False):
    """Nodes from which some target is reachable.  Children have smaller sequence
    numbers than their consumers (Note [topological order]), so one pass over the
    reachable nodes in increasing order decides each node from its children.

    ``stop``: cotangents do not flow past a target (partial derivatives with respect
    to each target, as if the targets were independent leaves; the compiled call's
    create_graph re-run needs them); the result is a ``_StopAtTargets``."""
    targets = set(targets)
    seen = set(roots)
    stack = list(roots)
    while stack:
        node = stack.pop()
        if stop and node in targets:
            continue
        for c in node._next:
            if c is not None and c not in seen:
                seen.add(c)
                stack.append(c)
    relevant = _StopAtTargets() if stop else set()
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


def _accumulate(node, g, own=False, hooked=False):
    """AccumulateGrad: leaf hooks, then ``leaf.grad += g``; ``own``: the engine owns
    ``g`` and may make it ``.grad`` without a copy (Note [gradient ownership])."""
    extra = node._extra
    if extra is None:  # (no hooks: the common case)
        leaf = node._leaf()
        if leaf is None:
            return
    else:
        leaf, g2 = _hooks.accumulate_pre(node, g, hooked)
        if leaf is None:
            return
        if g2 is not g or extra.pre_hooks:
            g = g2
            own = False  # a hook saw it, or returned a value of its own
    if type(g) is not _ndarray or type(leaf._data) is not _ndarray:
        _accumulate_foreign(node, leaf, g, own)
        return
    shape = leaf._data.shape
    want = grad_dtype(leaf._data.dtype)
    if g.dtype != want:
        g = g.astype(want)
        own = True
    if g.shape != shape:
        g = np.broadcast_to(g, shape)
        own = False
    old = leaf._grad
    if old is None:
        # Note [gradient layout]: like PyTorch's AccumulateGrad, give a C-contiguous leaf
        # a C-contiguous .grad (a weight's grad often arrives as a transposed view);
        # optimizers then update in one cache-friendly pass instead of strided ones.
        c_leaf = leaf._data.flags.c_contiguous
        if own and type(g) is _ndarray and g.flags.writeable and (
                g.flags.c_contiguous or not c_leaf):
            leaf._grad = T.wrap(g)
        else:
            leaf._grad = T.wrap(np.array(g, copy=True, order="C" if c_leaf else "K"))
    elif old._data.shape == shape and old._data.flags.writeable:
        old._data += g
        old._vc[0] += 1
    else:
        leaf._grad = T.wrap(old._data + g)
    if extra is not None:
        _hooks.accumulate_done(node, g)


def call_node(node, grads):
    """``grad_fn(g)``: run one node by hand, as PyTorch allows."""
    g = grads._data if isinstance(grads, T.Tensor) else np.asarray(grads)
    out = node.apply(RAW, g)
    return tuple(None if x is None else T.wrap(x) for x in out)



# ---- other array libraries (Note [backends] in ops/_dispatch_any.py) ---------------------

class _ForeignNamespaces:
    """Stands in for ``xp`` in a pass whose graph may hold non-NumPy arrays: each node
    runs its rules on the namespace of its cotangent and saved values."""

    def __init__(self, nb):
        self.nb = nb

    def pick(self, g, saved):
        from ..backend.registry import common_backend
        if type(g) is _hooks.GradPack:  # a multi-output Function's cotangents: pick by them
            g = next((x for x in g.grads if x is not None), np.zeros(0))
        be = common_backend([g, *saved]) if type(g) is _ndarray else backend_of(g)
        if be is NUMPY and type(g) is _ndarray:
            for a in saved:
                if a is not None and hasattr(a, "shape") and type(a) is not _ndarray:
                    be = backend_of(a)
                    break
        return be.xp.with_nb(self.nb) if self.nb else be.xp


def _accumulate_foreign(node, leaf, g, own):
    """``leaf.grad += g`` where ``g`` or the leaf is not a NumPy array.  A NumPy leaf's
    lazy (Dask) gradient waits for the end of the pass (``_finish_lazy``)."""
    data = leaf._data
    be = backend_of(g)
    if type(data) is _ndarray and be.lazy and PASS.lazy is not None:
        PASS.lazy.append((node, g, own))
        return
    target = backend_of(data)
    if be is not target and not (be.lazy and target.device_type == "cpu"):
        g = target.asarray(be.to_numpy(g)) if target is not NUMPY else be.to_numpy(g)
        be = backend_of(g)
    xp = be.xp
    want = grad_dtype(_np_dtype(data.dtype))
    if _np_dtype(g.dtype) != want:
        g = xp.astype(g, want)
    if tuple(g.shape) != tuple(data.shape):
        g = xp.m.broadcast_to(g, tuple(data.shape)) if be is not NUMPY else \
            np.broadcast_to(g, data.shape)
    if type(g) is _ndarray:
        g = np.array(g, copy=True)
    old = leaf._grad
    leaf._grad = T.wrap(g) if old is None else T.wrap(old._data + g)
    _hooks.accumulate_done(node, g)


def _np_dtype(dt):
    from ..backend.array_api import np_dtype
    return np_dtype(dt)


def _finish_lazy(pending, values):
    """One Dask compute for every NumPy leaf's pending gradient and the roots' values
    (one scan of the data), then the usual accumulation."""
    if not pending:  # Dask leaves keep lazy gradients: nothing to compute now
        return
    roots = [t for t in values if type(t._data) is not _ndarray
             and backend_of(t._data).lazy]
    import dask
    done = dask.compute(*[g for _, g, _ in pending], *[t._data for t in roots])
    for (node, _, _), g in zip(pending, done[:len(pending)]):
        _accumulate(node, np.asarray(g), True, True)
    for t, v in zip(roots, done[len(pending):]):
        t._data = np.asarray(v)
