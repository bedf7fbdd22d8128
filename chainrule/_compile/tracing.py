"""Running a function once on traced tensors (Note [tracing as an array library]).

``trace_call`` swaps every input of the trace (the arguments' copies, and the reachable
tensors of Note [trace inputs], whose data is swapped in place for the duration of the
trace) for a traced value, runs the function (an ordinary eager run: the real values
flow through), runs the backward of its differentiable outputs with placeholder
cotangents (the rules run on the recording namespace), puts every swapped tensor back,
and hands the graph to the code generator.
"""

from __future__ import annotations

import numpy as np

from .. import _tensor as T
from .._grad_mode import STATE
from ..autograd.node import AccumulateGrad, Node
from ..backend import trace as TR
from ..backend.registry import FOREIGN, trace_backend
from . import codegen
from .externals import scan


class EagerOnly(Exception):
    """The call cannot be compiled (it runs eagerly); ``args[0]`` says why."""


class Trace:
    """What one trace produced: the program and how to feed and read it."""

    def __init__(self) -> None:
        self.program = None
        self.arg_pos: list = []      # leaf index of each tensor argument input
        self.ext: list = []          # (tensor, Source) of each reachable tensor input
        self.ext_grads: list = []    # ext index whose .grad data is an input
        self.grad_none: tuple = ()   # per ext requiring grad: was .grad None
        self.grad_inputs: list = []  # ("arg", k) | ("ext", k): the backward's inputs
        self.out_leaves = None       # rebuild(list) -> the output structure
        self.out_kinds: list = []    # per output leaf: ("tensor", pos, diff) | ("value", v)
        #                              | ("alias", ...) | ("share", ...) (see _alias)
        self.aliases: list = []      # output leaves built from another tensor, in order
        self.plan: list = []         # ("leaf"|"hidden", j, position, diff) per tensor made
        self.hidden: list = []       # per hidden base (a view output's _base): a leaf j
        self.vc_shares: list = []    # ("leaf"|"hidden", j, "arg"|"ext"|"out", k)
        self.view_of: list = []      # (leaf j, hidden k, view steps): j's _view
        self.n_out = 0
        self.bumps: list = []        # ("arg"|"ext"|"grad", k, delta)
        self.rebinds: list = []      # ("arg"|"ext"|"grad", k, output position)
        self.scalars: list = []      # (Source, value)
        self.modules: list = []      # (module, training)
        self.found = None
        self.freed = False  # the outputs' graph was used by a backward inside the call
        self.backward_error = None  # what eager's backward would raise (raised then)
        self.draw_gens: list = []  # generators the program draws from
        self.first_draw_states: list = []
        self.scalar_inputs: list = []  # Sources of Python floats read fresh each call
        self.written: list = []      # inputs the call writes into (see _written)
        self.first_snaps: dict = {}  # their values before the traced call


class _TraceInput(Node):
    """The node of a reachable tensor that has a history (``G = w * 1`` in a closure),
    while the trace runs: not a leaf (in-place writes through its views are allowed, as
    eager allows them), and no edge into the graph outside the call."""

    __slots__ = ()
    op = None

    def __init__(self) -> None:
        Node.__init__(self, (), (), (), (), (), None)

    def apply(self, xp, g):
        return ()

    apply_differentiable = apply


def _entry_of(node, t):
    """A tensor like ``t`` whose node is ``node``, the ``_TraceInput`` where a non-leaf
    input enters the trace: the gradient is captured there, before any in-place write
    inside the call gave the input another node."""
    proxy = T.wrap(t._data)
    proxy._rg = True
    proxy._node = node
    return proxy


class _Swap:
    """A reachable tensor's state during the trace, put back afterwards."""

    __slots__ = ("t", "data", "node", "rg", "view", "grad", "grad_data", "vc", "gvc",
                 "fresh")


def _refresh(t):
    if t._view is not None:
        T.refresh_view(t)
    return t._data


def trace_call(fn, leaves, rebuild, name: str, extra_roots=()) -> Trace:
    """Trace ``fn(*args, **kwargs)`` (``rebuild(leaves)`` gives them back)."""
    found = scan(fn)
    for root in extra_roots:  # modules and optimizers passed as arguments
        sub = scan(root)
        known = found.tensor_ids()
        found.tensors += [(t, s) for t, s in sub.tensors if id(t) not in known]
        found.modules += sub.modules
        found.scalars += sub.scalars
    trace_backend()  # (registered before any traced value exists)
    tr = Trace()
    tr.found = found
    graph = TR.Graph()
    arg_ids = {id(x) for x in leaves if isinstance(x, T.Tensor)}
    ext = [(t, s) for t, s in found.tensors if id(t) not in arg_ids]
    tr.ext = ext
    tr.scalars = [(s, v) for v, s in found.scalars]
    tr.modules = [(m, m.training) for m, _ in found.modules]
    swaps = []
    scalar_swaps = []
    targs = []
    arg_tensors = []
    hooks = _Hooks(graph)
    arg_nodes = []
    ran = started = False
    keep_run = False
    with TR.tracing(graph), hooks:
        try:
            # the arguments: fresh leaves over traced values
            new_leaves = []
            for i, x in enumerate(leaves):
                if isinstance(x, T.Tensor):
                    ta = graph.input(_refresh(x), f"arg{i}")
                    t = T.wrap(ta)
                    if x._rg:
                        if x._node is None or type(x._node) is AccumulateGrad:
                            t.requires_grad_()
                        else:  # a non-leaf argument stays one (in-place writes allowed)
                            t._rg = True
                            t._node = _TraceInput()
                        arg_nodes.append((t._node, x))
                    tr.arg_pos.append(i)
                    targs.append(t)
                    arg_tensors.append(x)
                    new_leaves.append(t)
                else:
                    new_leaves.append(x)
            # the reachable tensors: their data swapped for traced inputs
            for k, (t, src) in enumerate(ext):
                sw = _Swap()
                sw.t = t
                sw.data = _refresh(t)
                sw.node, sw.rg, sw.view, sw.grad = t._node, t._rg, t._view, t._grad
                sw.vc = t._vc[0]
                swaps.append(sw)
                t._data = graph.input(sw.data, _label(src.label, k))
                t._view = None
                sw.fresh = None
                if t._rg:  # the trace's own node: gradients stop (and are captured) here
                    leaf = sw.node is None or type(sw.node) is AccumulateGrad
                    t._node = sw.fresh = AccumulateGrad(t) if leaf else _TraceInput()
                if sw.grad is not None:
                    sw.grad_data = _refresh(sw.grad)
                    sw.gvc = sw.grad._vc[0]
                    sw.grad._data = graph.input(sw.grad_data, _label(src.label, k) + "_grad")
                    sw.grad._view = None
                    tr.ext_grads.append(k)
            tr.grad_none = tuple(sw.grad is None for sw in swaps if sw.rg)
            scalar_swaps = _lift_hyper(found, graph, tr)
            n_inputs = len(graph.inputs)
            snapshot = [np.array(graph.values[v], copy=True)
                        if isinstance(graph.values[v], np.ndarray) else graph.values[v]
                        for v in graph.inputs]
            args, kwargs = rebuild(new_leaves)
            started = True
            out = fn(*args, **kwargs)
            ran = True
            _gained_history(swaps, targs, arg_tensors)
            hooks.check()
            from .._vmap import _flatten
            out_leaves, out_rebuild = _flatten(out)
            tr.out_leaves = out_rebuild
            tr.single = isinstance(out, T.Tensor)
            fwd_outputs = []
            diff_outs = []
            _outputs(tr, graph, out_leaves, targs, swaps, fwd_outputs, diff_outs)
            # what the call did to its inputs: versions, rebound data and .grad
            for k, t in enumerate(targs):
                _effects(tr, graph, fwd_outputs, "arg", k, t, graph.inputs[k], 0)
            for k, sw in enumerate(swaps):
                _effects(tr, graph, fwd_outputs, "ext", k, sw.t, None, sw.vc, sw)
            # the backward: placeholder cotangents through the recorded rules
            split = len(graph.stmts)
            grad_targets = []
            stand_ins = {id(real): node for node, real in arg_nodes}
            for k, (t, real) in enumerate(zip(targs, arg_tensors)):
                node = stand_ins.get(id(real))
                if type(node) is _TraceInput:  # (captured where the input enters)
                    grad_targets.append((("arg", k), _entry_of(node, t)))
                elif t._rg and t._node is not None and type(t._node) is AccumulateGrad:
                    grad_targets.append((("arg", k), t))
            for k, sw in enumerate(swaps):
                if sw.rg:
                    grad_targets.append((("ext", k), sw.t if type(sw.fresh) is not _TraceInput
                                         else _entry_of(sw.fresh, sw.t)))
            bwd_inputs, bwd_outputs = [], []
            if diff_outs and grad_targets and STATE.enabled:
                from ..autograd import grad as _grad
                gouts = []
                for j, (pos, _leaf) in enumerate(diff_outs):
                    v = graph.values[fwd_outputs[pos]]
                    g = graph.input(np.ones(v.shape, v.dtype), f"grad_out{j}")
                    bwd_inputs.append((g.id, f"grad_out{j}" if len(diff_outs) > 1 else "grad_out"))
                    gouts.append(T.wrap(g))
                try:
                    res = _grad([leaf for _, leaf in diff_outs], [t for _, t in grad_targets],
                                grad_outputs=gouts, retain_graph=True, allow_unused=True)
                except EagerOnly:
                    raise
                except Exception as exc:  # noqa: BLE001 (raised again at backward time)
                    if "second time" in str(exc):
                        # the call ran its own backward (a training step returning its
                        # loss): the outputs' graph is freed, as eager's would be
                        tr.freed = True
                    else:  # eager raises it in backward(), not in the call
                        tr.backward_error = exc
                    del graph.stmts[split:]
                    bwd_inputs = []
                    res = [None] * len(grad_targets)
                hooks.check()
                for r in res:
                    if r is None:
                        bwd_outputs.append(None)
                        continue
                    d = r._data
                    if type(d) is not TR.TraceArray:
                        d = graph.const(np.asarray(d))
                    bwd_outputs.append(d.id)
                tr.grad_inputs = [w for w, _ in grad_targets]
            tr.diff_positions = [pos for pos, _ in diff_outs]
            tr.diff_meta = [(graph.values[fwd_outputs[pos]].shape,
                             graph.values[fwd_outputs[pos]].dtype) for pos, _ in diff_outs]
            # names of the program's inputs
            names = []
            for k, i in enumerate(tr.arg_pos):
                names.append((graph.inputs[k], _arg_name(fn, i, len(tr.arg_pos))))
            for v in graph.inputs[len(tr.arg_pos):n_inputs]:
                names.append((v, _input_label(graph, v)))
            tr.program = codegen.generate(graph, split, names, fwd_outputs, bwd_inputs,
                                          bwd_outputs, name)
            tr.graph_guards = [s for s in graph.stmts if s.kind == "guard"]
            tr.first_outputs = [graph.values[v] for v in fwd_outputs]
            tr.first_saved = [graph.values[v] for v in tr.program.saved]
            tr.saved_checks = _saved_checks(tr, graph, fwd_outputs, n_inputs)
            tr.saved_checks += _eager_checks(tr, targs, swaps, tr.saved_checks)
            tr.made = None
            tr.draw_gens = list(graph.draws)
            tr.first_draw_states = list(graph.draw_states)
            tr.written = _written(tr)
            tr.first_snaps = {w: np.array(snapshot[_input_index(tr, *w)], copy=True)
                              for w in tr.written}
            _verify(tr, graph, snapshot, fwd_outputs, bwd_inputs, bwd_outputs)
        except EagerOnly as exc:
            if ran:  # Note [an eager fallback after the traced run]
                keep_run = True
                exc.result = (out, targs, arg_tensors)
            raise
        except BaseException:
            # the function raised: what it did before is done, as in eager mode
            keep_run = started
            out = None
            raise
        finally:
            for group, key, value in reversed(scalar_swaps):
                group[key] = value
            if keep_run:
                _keep_run(swaps, targs, arg_tensors, arg_nodes, hooks, graph, out)
            else:
                _put_back(swaps)
                _materialize(hooks.created, graph)
    return tr


# Note [an eager fallback after the traced run]: a call is found uncompilable (a tensor
# hook, a custom Function, a tensor compile did not find, a trace the generated code
# does not reproduce) only after the traced run, which was an eager run on real
# values: running the function again would apply its effects twice (an optimizer step,
# random draws).  The traced run is kept as this call's eager result instead: every
# tensor it made or changed gets its real value, the graph it recorded its real saved
# values, and the edges to the trace's stand-in leaves go to the real tensors' nodes.

def _gained_history(swaps, targs, arg_tensors):
    """An input that did not require grad written in place with one that does gains a
    history in eager mode (``buf.add_(w)``): such a call runs eagerly."""
    from ..backend.trace import refuse
    for sw in swaps:
        if not sw.rg and sw.t._rg:
            refuse("a tensor read by the function gains a gradient history in it (an "
                   "in-place write of a value that requires grad)")
    for t, real in zip(targs, arg_tensors):
        if not real._rg and t._rg:
            refuse("an argument gains a gradient history in the function (an in-place "
                   "write of a value that requires grad)")
    # a non-leaf input written in place with grad mode on has a new history after the
    # call (its grad_fn is the write's): the generated code gives inputs none
    for sw in swaps:
        if type(sw.fresh) is _TraceInput and sw.t._node is not sw.fresh:
            refuse("a tensor read by the function that has a gradient history (not a "
                   "leaf) is written in place in it with grad mode on")
    for t in targs:
        if t._rg and type(t._node) is not AccumulateGrad and t._node is not None and \
                not isinstance(t._node, _TraceInput):
            refuse("an argument that has a gradient history (not a leaf) is written in "
                   "place in the function with grad mode on")


def _rebase(real, node, stand_in, redirect) -> None:
    """``real`` was written in place in the kept traced run: ``node`` is its history now.
    Through a view, each write rewrites the base's history as eager's does: the writes'
    nodes chain through their first input (the value written into) down to the
    argument's stand-in node, and each gets its ``CopySlices`` on the base; what used the
    view after a write uses a view of the base from then on (``redirect``), so every
    node runs once."""
    if real._view is None:
        real._node, real._rg = node, True
        return
    chain = []
    n = node
    while n is not stand_in and n is not None:
        chain.append(n)
        if not n._next or len(chain) > 100_000:
            raise RuntimeError("compile: a view argument written in place in the "
                               "function could not be given its history (please report)")
        n = n._next[0]
    from ..ops._copyslices import CopySlices
    from ..ops._record import replay_view
    base, steps, _ = real._view
    prev, STATE.enabled = STATE.enabled, True
    try:
        for n in reversed(chain):
            cs = base._node = CopySlices(base, n, steps)
            base._rg = True
            view = replay_view(base, steps)._node
            redirect[id(n)] = view
            # Note [topological order] in autograd/engine.py: the new nodes sit between
            # the write and the nodes that used its result (made later in the run)
            made = [view]
            while made[-1]._next and made[-1]._next[0] is not cs:
                made.append(made[-1]._next[0])
            cs._seq = n._seq + 0.25
            for k, m in enumerate(reversed(made)):
                m._seq = n._seq + 0.5 + 0.25 * k / len(made)
    finally:
        STATE.enabled = prev
    real._rg = True
    if chain:  # (the view's grad_fn is the one its later uses in the run recorded)
        real._node = redirect[id(chain[0])]
        real._view = (base, steps, base._vc[0])


def _put_back(swaps):
    """The reachable tensors as they were before the trace (Note [trace inputs])."""
    for sw in reversed(swaps):
        t = sw.t
        t._data, t._node, t._rg, t._view = sw.data, sw.node, sw.rg, sw.view
        if sw.grad is not None:
            sw.grad._data = sw.grad_data
            sw.grad._view = None
        t._grad = sw.grad
        t._vc[0] = sw.vc


def _real(v):
    return v.value if type(v) is TR.TraceArray else v


def _keep_run(swaps, targs, arg_tensors, arg_nodes, hooks, graph, out):
    redirect = {id(node): real._node for node, real in arg_nodes}
    for sw in swaps:
        t = sw.t
        if sw.fresh is not None:
            redirect[id(sw.fresh)] = sw.node
            if t._node is sw.fresh:
                t._node = sw.node
        t._data = _real(t._data)
        t._view = sw.view
        if t._view is not None and t._rg and t._node is not sw.node:
            _rebase(t, t._node, sw.fresh, redirect)  # (written through: the base's history)
        if t._grad is not None:
            t._grad._data = _real(t._grad._data)
    # the stand-in arguments' version counters and view bases are the real ones' from
    # now on (a view made in the call, a node's version check of a saved argument)
    counters = {}  # id(stand-in counter) -> (real counter, version offset)
    bases = {}
    for t, real in zip(targs, arg_tensors):
        counters[id(t._vc)] = (real._vc, real._vc[0])
        bases[id(t)] = real
    stand_ins = {id(real): node for node, real in arg_nodes}
    for k, (t, real) in enumerate(zip(targs, arg_tensors)):
        real._vc[0] += t._vc[0]
        if t._data is not _real(t._data) and t._data.id != graph.inputs[k]:
            real._data = _real(t._data)  # (rebound inside the call)
        if t._rg and (not real._rg or t._node is not stand_ins.get(id(real)) and
                      type(t._node) is not AccumulateGrad):
            # it gained a history (buf.add_(w)), or a new one (a non-leaf written)
            _rebase(real, t._node, stand_ins.get(id(real)), redirect)
    _materialize(hooks.created, graph)
    for t in targs:
        t._data = _real(t._data)
    for ref in hooks.created:
        x = ref()
        if x is not None and id(x) not in bases:
            _to_real_arguments(x, counters, bases)
    starts = [sw.t._node for sw in swaps] + [t._node for t in targs]
    starts += [t._node for t in _tensors_of(out)]
    for ref in hooks.created:
        t = ref()
        if t is not None:
            starts.append(t._node)
    seen = set()
    stack = [n for n in starts if n is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        saved = getattr(node, "_saved", None)
        if saved:
            node._saved = tuple(_real(v) for v in saved)
        checks = getattr(node, "_checks", None)
        if checks:
            node._checks = tuple((counters[id(c)][0], seen + counters[id(c)][1], p)
                                 if id(c) in counters else (c, seen, p)
                                 for c, seen, p in checks)
        nxt = getattr(node, "_next", None)
        if nxt:
            node._next = tuple(redirect.get(id(n), n) if n is not None else None
                               for n in nxt)
            stack.extend(n for n in node._next if n is not None)
        for attr in ("_fn", "_gather", "_of"):
            inner = getattr(node, attr, None)
            if isinstance(inner, AccumulateGrad.__mro__[1]):
                stack.append(inner)


# Note [outputs that alias]: an output that is an input of the call, a view of one, or a
# view of another output is built at call time as eager builds it: the input itself, or
# the recorded view steps replayed on the real base (so it has ``_base``, shares the
# version counter, and its grad_fn is the view's own, into the base's history); such
# outputs take no part in the generated backward.  An output that shares only the
# version counter (``x.detach()``) is the generated value given that counter.
#
# A view of an intermediate (``return h[0]``) stays an output of the node (its cotangent
# goes into the generated backward as eager's would, summed in eager's order), and its
# base is returned too, unseen, as its ``_base``: it shares the base's version counter,
# so an in-place write into it after the call rewrites the base's history as eager's
# does.  The base's own grad_fn (reached only after such a write) differentiates an
# eager re-run of the call (Note [create_graph through a compiled call]).

def _outputs(tr, graph, out_leaves, targs, swaps, fwd_outputs, diff_outs) -> None:
    """Classify the output leaves (Note [outputs that alias]): ``tr.out_kinds``,
    ``tr.plan`` (the tensors the forward returns, in node-slot order), ``tr.hidden``
    and ``tr.aliases``; appends to ``fwd_outputs`` and ``diff_outs``."""
    inputs_by_id = {id(t): ("arg", k) for k, t in enumerate(targs)}
    inputs_by_id.update((id(sw.t), ("ext", k)) for k, sw in enumerate(swaps))
    vcs = {id(t._vc): ("arg", k) for k, t in enumerate(targs)}
    vcs.update((id(sw.t._vc), ("ext", k)) for k, sw in enumerate(swaps))
    outs_by_id = {}
    for j, leaf in enumerate(out_leaves):
        if isinstance(leaf, T.Tensor):
            outs_by_id.setdefault(id(leaf), ("out", j))
            had = vcs.get(id(leaf._vc))  # (an input, or the output that requires grad)
            if leaf._view is None and (had is None or had[0] == "out" and leaf._rg and
                                       not out_leaves[had[1]]._rg):
                vcs[id(leaf._vc)] = ("out", j)
    hidden = {}  # id(base) -> index in tr.hidden
    made = []  # the traced tensor of each entry of tr.plan

    def returned(t, target, j):
        d = t._data
        if type(d) is not TR.TraceArray or d.graph is not graph:
            d = graph.const(np.asarray(d)) if type(d) is np.ndarray else None
            if d is None:
                raise EagerOnly("an output is not a tensor of this call")
        diff = bool(t._rg and STATE.enabled)
        pos = len(fwd_outputs)
        fwd_outputs.append(d.id)
        tr.plan.append((target, j, pos, diff))
        made.append(t)
        hit = vcs.get(id(t._vc))
        if hit is not None and hit != ("out", j):
            tr.vc_shares.append((target, j, *hit))  # (x.detach(): one version counter)
        if diff and target == "leaf":
            diff_outs.append((pos, t))
        return pos, diff

    for j, leaf in enumerate(out_leaves):
        if not isinstance(leaf, T.Tensor):
            tr.out_kinds.append(("value", leaf))
            continue
        if leaf._view is not None:
            T.refresh_view(leaf)  # (its base may have gained a history)
        alias = _alias(leaf, j, inputs_by_id, outs_by_id)
        if alias is None and leaf._view is not None and not _traced_in(leaf._view[1]):
            base = leaf._view[0]  # an intermediate: returned too, unseen (eager's _base)
            hk = hidden.get(id(base))
            if hk is None:
                hk = hidden[id(base)] = len(tr.hidden)
                tr.hidden.append(j)
                returned(base, "hidden", hk)
            tr.view_of.append((j, hk, leaf._view[1]))
        if alias is None:
            pos, diff = returned(leaf, "leaf", j)
            tr.out_kinds.append(("tensor", pos, diff))
            continue
        tr.out_kinds.append(alias)
    tr.n_out = len(fwd_outputs)
    tr.made = made
    # views first, then the outputs that are another object (a view among them)
    tr.aliases = sorted((j for j, kind in enumerate(tr.out_kinds) if kind[0] == "alias"),
                        key=lambda j: (tr.out_kinds[j][3] is None, j))


def _alias(leaf, j, inputs_by_id, outs_by_id):
    """How output leaf ``j`` aliases an input or another output, or None:
    ``("alias", where, k, steps, rg)`` (``steps`` None: the same object)."""
    hit = inputs_by_id.get(id(leaf))
    if hit is not None:
        return ("alias", *hit, None, leaf._rg)
    hit = outs_by_id.get(id(leaf))
    if hit is not None and hit[1] != j:
        return ("alias", *hit, None, leaf._rg)
    view = leaf._view
    if view is not None:
        base, steps, _ = view
        hit = inputs_by_id.get(id(base)) or outs_by_id.get(id(base))
        if hit is None:
            return None
        if _traced_in(steps):
            from ..backend.trace import refuse
            refuse("an output is a view of an input at a position read from a tensor")
        return ("alias", *hit, steps, leaf._rg)  # (as eager's: a refreshed view's)
    return None


def _traced_in(v) -> bool:
    t = type(v)
    if t is TR.TraceArray or t is TR.TracedScalar:
        return True
    if t is tuple or t is list:
        return any(_traced_in(x) for x in v)
    if t is slice:
        return _traced_in((v.start, v.stop, v.step))
    if isinstance(v, T.Tensor):
        return type(v._data) is TR.TraceArray
    return False


def _to_real_arguments(x, counters, bases) -> None:
    """A tensor the kept run made: its version counter and view base, where they are a
    stand-in argument's, become the real argument's (Note [an eager fallback after the
    traced run])."""
    hit = counters.get(id(x._vc))
    if hit is None:
        return
    x._vc = hit[0]
    view = x._view
    if view is not None and id(view[0]) in bases:
        real = bases[id(view[0])]
        steps, seen = view[1], view[2] + hit[1]
        if real._view is not None:  # (the base of a view is never a view)
            steps = real._view[1] + steps
            real = real._view[0]
        x._view = (real, steps, seen)


def _tensors_of(out):
    from .._vmap import _flatten
    return [x for x in _flatten(out)[0] if isinstance(x, T.Tensor)]


def _saved_checks(tr, graph, fwd_outputs, n_inputs) -> list:
    """Which values kept for the backward live in an input's memory or are an output:
    ``(position in saved, "arg"|"ext"|"grad"|"out", k)``, so the node checks their
    version counters as eager's nodes do (a later in-place write is refused, not used)."""
    owner = {}
    inputs = graph.inputs
    for k in range(len(tr.arg_pos)):
        owner[inputs[k]] = ("arg", k)
    j = len(tr.arg_pos)
    for k in range(len(tr.ext)):
        owner[inputs[j]] = ("ext", k)
        j += 1
        if k in tr.ext_grads:
            owner[inputs[j]] = ("grad", k)
            j += 1
    out_pos = {}
    for i, v in enumerate(fwd_outputs[:tr.n_out]):  # (an output, or the memory it views)
        out_pos.setdefault(v, i)
        out_pos.setdefault(graph.roots.get(v, v), i)
    checks = []
    for p, v in enumerate(tr.program.saved):
        root = graph.roots.get(v, v)
        if root in owner:
            checks.append((p,) + owner[root])
        elif v in out_pos or root in out_pos:
            checks.append((p, "out", out_pos.get(v, out_pos.get(root))))
    return checks


def _eager_checks(tr, targs, swaps, have) -> list:
    """The version checks eager's nodes would make that the kept values do not cover
    (eager's ``torch.fmax(a, b)`` saves ``b``, the generated backward keeps a mask):
    ``(None, "arg"|"ext"|"grad"|"out", k)`` for each input or output whose version
    counter a node of the traced call checks."""
    owner = {}
    for k, t in enumerate(targs):
        owner[id(t._vc)] = ("arg", k)
    for k, sw in enumerate(swaps):
        owner.setdefault(id(sw.t._vc), ("ext", k))
        if sw.grad is not None:
            owner.setdefault(id(sw.grad._vc), ("grad", k))
    stops = {id(t._node) for t in targs if t._node is not None}
    stops |= {id(sw.fresh) for sw in swaps if sw.fresh is not None}
    for (_target, _j, pos, _diff), t in zip(tr.plan, tr.made):
        owner.setdefault(id(t._vc), ("out", pos))
    found = {(kind, k) for _, kind, k in have}
    out = []
    stack = [t._node for t in tr.made if t._node is not None]
    seen = set()
    while stack:
        node = stack.pop()
        if id(node) in seen or id(node) in stops:
            continue
        seen.add(id(node))
        for counter, version, _ in getattr(node, "_checks", None) or ():
            hit = owner.get(id(counter))
            if hit is not None and hit not in found and counter[0] == version:
                found.add(hit)
                out.append((None,) + hit)
        stack.extend(n for n in getattr(node, "_next", None) or () if n is not None)
        for attr in ("_fn", "_gather", "_of"):
            inner = getattr(node, attr, None)
            if isinstance(inner, Node):
                stack.append(inner)
    return out


def _verify(tr, graph, snapshot, fwd_outputs, bwd_inputs, bwd_outputs) -> None:
    """Note [verified traces]: the generated code is run once on a copy of the inputs as
    they were before the trace (generators put back to where the trace drew from them)
    and must reproduce what the traced run computed: its outputs, the values kept for
    the backward, the inputs it wrote into, and the backward's results.  Anything the
    function computed outside the recorded ops (NumPy on a tensor's data that no traced
    value touched) would differ: then the call runs eagerly, never with a stale value."""
    from ..backend.numpy_backend import QUIET, quiet, unquiet
    prog = tr.program
    after = [gen.get_state() for gen in graph.draws]
    for gen, state in zip(graph.draws, graph.draw_states):
        gen.set_state(state)
    tok = quiet(QUIET)
    try:
        outs, saved = prog.forward(*snapshot)
        grads = prog.backward(saved, *[graph.values[v] for v, _ in bwd_inputs]) \
            if prog.backward is not None and bwd_outputs else ()
    except codegen.GuardMiss:
        outs = None
    finally:
        unquiet(tok)
        for gen, state in zip(graph.draws, after):
            gen.set_state(state)
    why = "a guard failed on the same inputs" if outs is None else None
    if why is None:
        pairs = list(zip(outs, tr.first_outputs)) + list(zip(saved, tr.first_saved))
        pairs += [(snapshot[k], graph.values[v]) for k, v in enumerate(graph.inputs)
                  if v in graph.mutated]
        pairs += [(g, graph.values[v]) for g, v in zip(grads, bwd_outputs) if v is not None]
        if not all(_same_values(a, b) for a, b in pairs):
            why = "values differ"
    if why is not None:
        raise EagerOnly("the function computes values the trace could not record (NumPy "
                        "work on tensor data outside chainrule's ops?): the generated "
                        f"code does not reproduce the traced call ({why})")


def _same_values(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
        return True
    # (a BLAS may round the same product differently from call to call)
    return a.dtype.kind in "fc" and bool(np.allclose(a, b, rtol=1e-5, atol=0, equal_nan=True))


def _lift_hyper(found, graph, tr) -> list:
    """Note [hyper-parameters]: an optimizer's float hyper-parameters (``lr``, ``betas``,
    ``weight_decay`` ...) are inputs of the program, read on every call, so a scheduler
    that changes ``lr`` every epoch needs no new trace.  Returns what to put back."""
    swaps = []
    lifted = set()
    for opt, osrc in found.optimizers:
        groups = osrc.then("attr", "param_groups", "")
        for gi, group in enumerate(opt.param_groups):
            gsrc = groups.then("item", gi, "")
            for key, val in list(group.items()):
                label = _label(f"{osrc.label}_{key}" + (f"_{gi}" if gi else ""), 0)
                if type(val) is float:
                    src = gsrc.then("item", key, f"{osrc.label}.param_groups[{gi}][{key!r}]")
                    swaps.append((group, key, val))
                    group[key] = graph.scalar_input(val, label)
                    tr.scalar_inputs.append(src)
                    lifted.add(src.steps)
                elif type(val) is tuple and val and all(type(v) is float for v in val):
                    swaps.append((group, key, val))
                    new = []
                    for j, v in enumerate(val):
                        src = gsrc.then("item", key, "").then(
                            "item", j, f"{osrc.label}.param_groups[{gi}][{key!r}][{j}]")
                        new.append(graph.scalar_input(v, f"{label}{j}"))
                        tr.scalar_inputs.append(src)
                        lifted.add(src.steps)
                    group[key] = tuple(new)
    tr.scalars = [(s, v) for s, v in tr.scalars if s.steps not in lifted]
    return swaps


def _effects(tr, graph, fwd_outputs, kind, k, t, in_var, vc0, sw=None):
    """Record what the traced call did to input tensor ``t``: version bumps, rebound
    data (returned as extra outputs) and, for reachable tensors, ``.grad``."""
    d = t._data
    if sw is not None:
        in_var = None
    delta = t._vc[0] - vc0
    if delta:
        tr.bumps.append((kind, k, delta))
    if type(d) is TR.TraceArray and d.graph is graph:
        if in_var is None:
            in_var = graph.inputs[len(tr.arg_pos) + _ext_input_index(tr, k)] if \
                kind == "ext" else None
        if d.id != in_var:
            tr.rebinds.append((kind, k, len(fwd_outputs)))
            fwd_outputs.append(d.id)
    if sw is not None:
        g = t._grad
        if g is not sw.grad:
            if g is None:
                tr.rebinds.append(("grad_none", k, None))
            else:
                gd = g._data
                if type(gd) is not TR.TraceArray:
                    gd = graph.const(np.asarray(gd))
                tr.rebinds.append(("grad", k, len(fwd_outputs)))
                fwd_outputs.append(gd.id)
        elif g is not None:
            if g._vc[0] != sw.gvc:
                tr.bumps.append(("grad", k, g._vc[0] - sw.gvc))
            gd = g._data
            kin = graph.inputs[len(tr.arg_pos) + _ext_input_index(tr, k) + 1]
            if type(gd) is TR.TraceArray and gd.id != kin:
                tr.rebinds.append(("graddata", k, len(fwd_outputs)))
                fwd_outputs.append(gd.id)


def _written(tr) -> list:
    """The inputs the call writes into or rebinds: ``("arg"|"ext"|"grad", k)``; their
    values before the call are kept for a ``create_graph`` re-run (Note [create_graph
    through a compiled call] in compiled.py)."""
    seen = []
    for kind, k, _ in tr.bumps + tr.rebinds:
        kind = {"graddata": "grad"}.get(kind, kind)
        if kind in ("arg", "ext", "grad") and (kind, k) not in seen:
            seen.append((kind, k))
    return seen


def _input_index(tr, kind, k) -> int:
    """Position among the program's inputs of an argument, a reachable tensor's data or
    its ``.grad`` data."""
    if kind == "arg":
        return k
    return len(tr.arg_pos) + _ext_input_index(tr, k) + (kind == "grad")


def _ext_input_index(tr, k) -> int:
    """Position among the reachable tensors' inputs of ext ``k``'s data (each ext with a
    ``.grad`` has two inputs: data, then grad data)."""
    return k + sum(1 for j in tr.ext_grads if j < k)


def _label(label, k):
    s = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in label).strip("_")
    while "__" in s:
        s = s.replace("__", "_")
    if not s or s[0].isdigit():
        s = f"t{k}_{s}"
    return s


def _input_label(graph, v):
    for s in graph.stmts:
        if s.kind == "input" and s.outs == v:
            return s.name
    return f"v{v}"


def _arg_name(fn, i, n):
    import inspect
    try:
        target = fn.forward if hasattr(fn, "forward") and not inspect.isfunction(fn) else fn
        params = [p.name for p in inspect.signature(target).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if i < len(params):
            return params[i]
    except (TypeError, ValueError):
        pass
    return f"arg{i}"


def _materialize(created, graph):
    """Tensors made during the trace that outlive it (an optimizer's new state, a
    module's cache) get their real values: the trace ran on real values."""
    for ref in created:
        t = ref()
        if t is None:
            continue
        d = t._data
        if type(d) is TR.TraceArray and d.graph is graph:
            t._data = d.value
        g = t._grad
        if g is not None and type(g._data) is TR.TraceArray and g._data.graph is graph:
            g._data = g._data.value


class _Hooks:
    """The process-wide switches of a trace: new tensors get traced data (constants of
    the program), random draws are recorded, and what cannot be compiled is noted."""

    def __init__(self, graph) -> None:
        self.graph = graph
        self.created = []

    def __enter__(self):
        from .. import _creation
        from ..ops import _record
        self.prev_rng = _creation.TRACE_RNG[0]
        _creation.TRACE_RNG[0] = self._rng
        T.set_trace_wrap(self)
        self.prev_save = _record.SAVE_HOOK
        self.prev_foreign = FOREIGN[0]
        FOREIGN[0] = True  # the engine's path for non-NumPy arrays, while the trace runs
        return self

    def __exit__(self, *exc):
        from .. import _creation
        _creation.TRACE_RNG[0] = self.prev_rng
        T.set_trace_wrap(None)
        FOREIGN[0] = self.prev_foreign

    def _rng(self, gen):
        return TR.TracedDraws(gen, self.graph)

    def check(self) -> None:
        """Raise ``EagerOnly`` if the call met something that runs only eagerly."""
        from ..autograd._saved import HOOKS
        why = self.graph.eager_reason
        if why is None and HOOKS.stack:
            why = "saved-tensor hooks"
        if why is not None:
            raise EagerOnly(why)
