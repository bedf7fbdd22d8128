"""The compiled function: a cache of traces, their guards, and the call that runs one.

Note [compiled calls]: a call looks up the traces made for its signature (the shapes,
dtypes and requires_grad of its tensor arguments, the values of its other arguments,
grad mode and the default dtype).  A trace is used when its guards hold: every
reachable tensor is still the same object with the same shape, dtype, requires_grad and
``.grad`` presence, modules are in the same train/eval mode and the Python numbers it
read are unchanged (Note [trace inputs]); its generated forward then runs on the current
data of its inputs, and a value guard that fails inside it (Note [value guards]) tries
the next trace.  A miss traces again, until ``recompile_limit`` traces exist; after that
the function runs eagerly, with one warning.

The outputs are ordinary tensors; the differentiable ones share one node,
``CompiledFunctionBackward``, which runs the generated backward on the values the
forward kept.  ``create_graph=True`` goes through the eager path: the node runs the
function again eagerly, isolated from the call's effects, and differentiates that
(Note [create_graph through a compiled call]); batched cotangents (``is_grads_batched``,
Jacobians) run the generated backward once per row.
"""

from __future__ import annotations

import warnings
import weakref

import numpy as np

from .. import _tensor as T
from .._dtype import get_default_dtype
from .._grad_mode import STATE
from ..autograd._function_node import _OutputSlot
from ..autograd._hooks import outputs_of, per_element
from ..autograd.node import Node, creation_site, raise_freed
from ..autograd.node import next_seq as _next_seq
from ..backend.numpy_backend import QUIET, quiet, unquiet
from ..ops._record import view as _view
from .codegen import GuardMiss
from .externals import _GONE
from .tracing import EagerOnly, trace_call

_new = object.__new__
_wrap = T.wrap
_Tensor = T.Tensor


class CompiledFunctionBackward(Node):
    """The backward of one call of a compiled function (Note [compiled calls])."""

    __slots__ = ("_entry", "_call", "_watch", "_cow")
    op = None
    fresh_out = True  # the generated backward returns new arrays (Note [gradient ownership])

    def apply(self, xp, g):
        saved = self._saved
        if saved is None:
            raise_freed(self)
        if self._entry.trace.backward_error is not None:
            raise self._entry.trace.backward_error
        if self._checks:
            self._check_versions()
        entry = self._entry
        grads = list(outputs_of(g))
        if xp.nb:
            return tuple(per_element(lambda row: list(self._run(entry, saved, row)), grads,
                                     xp.nb))
        return self._run(entry, saved, grads)

    @staticmethod
    def _run(entry, saved, grads):
        if len(grads) < len(entry.trace.diff_meta):
            grads = grads + [None] * (len(entry.trace.diff_meta) - len(grads))
        for k, gk in enumerate(grads):
            if gk is None:
                shape, dt = entry.trace.diff_meta[k]
                grads[k] = np.zeros(shape, dt)
        try:
            return entry.program.backward(saved, *grads)
        except GuardMiss:
            raise RuntimeError("compile: a value read in the backward differs from the "
                               "traced one; this should not happen (please report it)") \
                from None

    def apply_differentiable(self, xp, g):
        """``create_graph=True``: differentiate an eager run of the same call (batched
        cotangents: once per row)."""
        if self._saved is None:
            raise_freed(self)
        if self._checks:
            self._check_versions()
        grads = [None if x is None else x if isinstance(x, T.Tensor) else T.wrap(x)
                 for x in outputs_of(g)]
        if xp.nb:
            return tuple(per_element(self._eager_vjp, grads, xp.nb))
        return tuple(self._eager_vjp(grads))

    def _eager_vjp(self, grads):
        """Note [create_graph through a compiled call]: the call is run again eagerly and
        differentiated with ``create_graph``.  The run sees what the call saw: the
        generators are put back where the call found them, the inputs the call wrote
        into hold (copies of) their values from before it, and those the caller wrote
        into since hold the copies taken before that write (Note [copy before write] in
        _tensor.py), with the history they had at the call.  The run is differentiated
        with respect to each input alone (partial derivatives: an input computed from
        another one passes its part on through this node's edge for it).  What the run
        does to the tensors it reads (writes, version bumps, new ``.grad``) is undone
        afterwards, so the call's effects happen once."""
        fn, leaves, rebuild, inputs, draws, snaps, versions = self._call
        entry = self._entry
        tr = entry.trace
        touched = _touched(entry, leaves)
        written = entry.written
        cow = self._cow or {}
        for i, (t, v, label) in enumerate(zip(touched, versions, entry.labels)):
            if t._vc[0] != v and label not in written and i not in cow:
                what = (f"argument {label[1]}" if label[0] == "arg"
                        else entry.sources[label[1]].label)
                raise RuntimeError(
                    f"compile: a gradient with create_graph=True through the compiled "
                    f"{tr.program.title} runs the call again eagerly, and {what} "
                    f"({list(t.shape)}) was changed in place since the call (version "
                    f"{v} -> {t._vc[0]}), so the run would not see what the call saw. "
                    f"Fix: take the gradient before changing it, or call the function "
                    f"uncompiled where you need create_graph=True.")
        gens = tr.draw_gens
        now = [g.get_state() for g in gens]
        for g, state in zip(gens, draws):
            g.set_state(state)
        kept = [_State(t) for t in touched]
        bound = [src.get() for src in entry.sources]
        for (kind, k), value in (snaps or {}).items():
            t = leaves[tr.arg_pos[k]] if kind == "arg" else entry.ext[k]
            if kind == "grad":
                t = t._grad
                if t is None:
                    continue
            t._data = value.copy()
            t._view = None
            t._vc = [t._vc[0]]  # (the run's own: its nodes check the copy's versions)
        for i, value in cow.items():  # Note [copy before write] in _tensor.py
            t = touched[i]  # (the value the call saw, even if only rebound since)
            t._data = value.copy()
            t._view = None
            t._vc = [versions[i]]
        for (kind, k), t, n in zip(tr.grad_inputs, inputs, self._next):
            if t._node is not n and (kind, k) not in written:
                t._node = n  # (written in place since: the run differentiates the call's)
                t._rg = True
        prev = STATE.enabled
        STATE.enabled = True
        try:
            args, kwargs = rebuild(leaves)
            out = fn(*args, **kwargs)
            from .._vmap import _flatten
            outs, _ = _flatten(out)
            diff = [outs[k]._base if base else outs[k]
                    for k, base in entry.diff_leaves + entry.hidden_leaves]
            pairs = [(o, gk) for o, gk in zip(diff, grads) if gk is not None]
            from ..autograd import partial_grads
            # partials: an input computed from another input (x = w * 2 with w read
            # inside) passes its cotangent to the node's edge for it, not on to w here
            res = partial_grads([o for o, _ in pairs], list(inputs),
                                [gk for _, gk in pairs], True, True, True)
        finally:
            STATE.enabled = prev
            for g, state in zip(gens, now):
                g.set_state(state)
            for st in reversed(kept):
                st.restore()
            for src, was in zip(entry.sources, bound):
                if src.get() is not was:  # (the run rebound a slot, as the call did)
                    try:
                        src.set(was)
                    except Exception:  # noqa: BLE001 (a read-only slot: left as is)
                        pass
        return list(res)

    def _release(self):
        self._saved = None
        self._unwatch()

    def __del__(self):
        try:
            self._unwatch()
        except Exception:  # noqa: BLE001 (interpreter shutdown: the module is gone)
            pass

    def _watch_inputs(self, touched):
        """Note [copy before write] in _tensor.py: list the inputs the call did not write,
        so that a later write into one first lets this node copy its old value."""
        ref = weakref.ref(self)
        nid = id(self)
        keys = []
        watch = T.WRITE_WATCH
        for i in self._entry.watch:
            key = id(touched[i]._vc)
            d = watch.get(key)
            if d is None:
                watch[key] = {nid: ref}
            else:
                d[nid] = ref
            keys.append(key)
        self._watch = keys

    def _unwatch(self):
        keys = self._watch
        if keys:
            self._watch = None
            nid = id(self)
            watch = T.WRITE_WATCH
            for key in keys:
                d = watch.get(key)
                if d is not None:
                    d.pop(nid, None)
                    if not d:
                        del watch[key]

    def _copy_before_write(self, vc):
        """An in-place write into ``vc``'s memory is about to happen: keep the value of
        each input there as the call saw it (same version), for a create_graph re-run."""
        if self._saved is None:
            return
        _fn, leaves, _rebuild, _inputs, _draws, _snaps, versions = self._call
        touched = _touched(self._entry, leaves)
        for i in self._entry.watch:
            t = touched[i]
            if t._vc is vc and vc[0] == versions[i] and type(t._data) is np.ndarray:
                if self._cow is None:
                    self._cow = {}
                if i not in self._cow:
                    self._cow[i] = np.array(t._data, copy=True)

    def _check_versions(self):
        tr = self._entry.trace
        for counter, seen, (_, kind, k, value) in self._checks:
            if counter[0] != seen:
                if kind == "out":
                    what = f"output {k} of the compiled {tr.program.title}"
                elif kind == "arg":
                    what = f"argument {k} of the compiled {tr.program.title}"
                else:
                    what = f"{self._entry.sources[k].label}" + (".grad" if kind == "grad"
                                                               else "")
                from .._dtype import from_numpy_dtype
                from ..autograd.node import describe_site
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been "
                    f"modified by an inplace operation: [{from_numpy_dtype(value.dtype)} "
                    f"{list(value.shape)}], which is {what}, is at version {counter[0]}; "
                    f"expected version {seen} instead. The compiled call was made at "
                    f"{describe_site(self._site)}; the tensor was changed in place after "
                    f"that. Fix: use the out-of-place form (e.g. `y = y + 1` instead of "
                    f"`y += 1`) or .clone() the tensor before changing it.")


class _HiddenBase(Node):
    """The grad_fn of a view output's unseen base (Note [outputs that alias] in
    tracing.py): reached only after an in-place write into the view; it differentiates
    the eager re-run of the call."""

    __slots__ = ("_of", "_k")
    op = None

    def __init__(self, of, k) -> None:
        Node.__init__(self, of._next, (), (), of._needs, (), None)
        self._of, self._k = of, k

    def _grads(self, g):
        of = self._of
        grads = [None] * (of._entry.n_diff + len(of._entry.hidden_leaves))
        grads[of._entry.n_diff + self._k] = g if isinstance(g, T.Tensor) else T.wrap(g)
        if of._saved is None:
            raise_freed(of)
        if of._checks:
            of._check_versions()
        return of._eager_vjp(grads)

    def apply(self, xp, g):
        if xp.nb:
            return tuple(per_element(lambda row: [None if r is None else r._data
                                                  for r in self._grads(row[0])],
                                     [g], xp.nb))
        return tuple(None if r is None else r.detach()._data for r in self._grads(g))

    def apply_differentiable(self, xp, g):
        if xp.nb:
            return tuple(per_element(lambda row: self._grads(row[0]), [g], xp.nb))
        return tuple(self._grads(g))


class _State:
    """A tensor's autograd state and data, put back after a ``create_graph`` re-run."""

    __slots__ = ("t", "data", "node", "rg", "view", "vcl", "vc", "grad", "gdata", "gvc")

    def __init__(self, t) -> None:
        self.t = t
        self.data, self.node, self.rg, self.view = t._data, t._node, t._rg, t._view
        self.vcl = t._vc
        self.vc = t._vc[0]
        g = self.grad = t._grad
        if g is not None:
            self.gdata, self.gvc = g._data, g._vc[0]

    def restore(self) -> None:
        t = self.t
        t._data, t._node, t._rg, t._view = self.data, self.node, self.rg, self.view
        t._vc = self.vcl
        t._vc[0] = self.vc
        g = t._grad = self.grad
        if g is not None:
            g._data = self.gdata
            g._vc[0] = self.gvc


def _reads_an_argument(entry, leaves) -> bool:
    """Whether a tensor the function reads shares memory (a version counter) with an
    argument of this call: the trace gave them memory of their own, so it runs eagerly."""
    ext = {id(t._vc) for t in entry.ext}
    return any(id(leaves[i]._vc) in ext for i in entry.trace.arg_pos)


def _touched(entry, leaves) -> list:
    """The tensors a call reads: its tensor arguments, then the reachable tensors."""
    return [leaves[i] for i in entry.trace.arg_pos] + entry.ext


def _snapshots(entry, leaves) -> dict:
    """Copies of the inputs the call writes into, taken before it runs."""
    tr = entry.trace
    out = {}
    for kind, k in tr.written:
        t = leaves[tr.arg_pos[k]] if kind == "arg" else entry.ext[k]
        if kind == "grad":
            t = t._grad
            if t is None:
                continue
        out[(kind, k)] = np.array(t._data, copy=True)
    return out


class _NotFresh(CompiledFunctionBackward):
    __slots__ = ()
    fresh_out = False


_NotFresh.__name__ = "CompiledFunctionBackward"


class Entry:
    """One trace in the cache, with the guards that say when it applies."""

    def __init__(self, trace, key) -> None:
        self.trace = trace
        self.program = trace.program
        self.key = key
        self.ext = [t for t, _ in trace.ext]
        self.sources = [s for _, s in trace.ext]
        # (the strides too: a reshape is a view or a copy by the layout it meets)
        self.ext_meta = [(tuple(t._data.shape), t._data.dtype, t._rg,
                          getattr(t._data, "strides", None)) for t in self.ext]
        self.rg_ext = [t for t in self.ext if t._rg]
        self.node_cls = CompiledFunctionBackward if trace.program.fresh else _NotFresh
        # the eager re-run's tensors for the node's outputs, then for the hidden bases
        # (Note [outputs that alias]): (output leaf, whether its _base)
        self.diff_leaves = [(j, False) for target, j, _, diff in trace.plan
                            if diff and target == "leaf"]
        self.hidden_leaves = [(j, True) for j in trace.hidden]
        self.has_grad = bool(trace.grad_inputs)
        self.needs = (True,) * len(trace.grad_inputs)
        self.n_diff = len(self.diff_leaves)
        self.snap = bool(trace.written) and self.has_grad and not trace.freed
        # the inputs (positions in _touched) a later write must copy first (Note [copy
        # before write] in _tensor.py): those the call does not write itself
        # (labels: the inputs in _touched order; written: those the call writes into)
        self.written = {(kind, k) for kind, k in trace.written if kind != "grad"}
        self.labels = [("arg", k) for k in range(len(trace.arg_pos))] + \
            [("ext", k) for k in range(len(self.ext))]
        self.watch = [i for i, label in enumerate(self.labels) if label not in self.written] \
            if self.has_grad and not trace.freed else []

    def holds(self) -> bool:
        """The guards that do not depend on the call's arguments."""
        ext = self.ext
        for k, src in enumerate(self.sources):
            if src.get() is not ext[k]:
                return False
        for k, t in enumerate(ext):
            d = t._data
            shape, dt, rg, strides = self.ext_meta[k]
            if d.shape != shape or d.dtype != dt or t._rg is not rg or \
                    getattr(d, "strides", None) != strides:
                return False
        if self.trace.grad_none != tuple(t._grad is None for t in self.rg_ext):
            return False
        for m, training in self.trace.modules:
            if m.training is not training:
                return False
        for src, value in self.trace.scalars:
            v = src.get()
            if v is _GONE or type(v) is not type(value) or v != value and v == v:
                return False
        for src in self.trace.scalar_inputs:
            if type(src.get()) is not float:
                return False
        return True


class CompiledFunction:
    """``chainrule.compile(fn)``: call it as ``fn``; ``.source`` shows the code."""

    def __init__(self, fn, *, fullgraph=False, dynamic=None, recompile_limit=None,
                 name=None) -> None:
        self._fn = fn
        self._fullgraph = fullgraph
        self._dynamic = dynamic
        self._limit = 8 if recompile_limit is None else int(recompile_limit)
        self._cache: dict = {}
        self._traces = 0
        self._eager_keys: dict = {}
        self._gave_up = False
        self._last = None
        self._name = name or getattr(fn, "__name__", type(fn).__name__)
        try:
            self.__wrapped__ = fn
            self.__name__ = getattr(fn, "__name__", self._name)
            self.__doc__ = getattr(fn, "__doc__", None)
        except AttributeError:
            pass

    # -- the call ------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if _OFF[0] is None:
            _bind_switches()
        if _STATE.inference or _FW.on or _LEVELS or _TRACE_RNG[0] is not None or \
                _SAVED_HOOKS.stack:
            return self._fn(*args, **kwargs)  # vmap, forward AD, inference, hooks: eager
        if kwargs or not all(type(a) is _Tensor for a in args):
            leaves, rebuild = _flatten_args(args, kwargs)
        else:
            leaves, rebuild = args, _positional
        key = _key(leaves)
        if key is None:
            return self._fn(*args, **kwargs)
        entries = self._cache.get(key)
        if entries:
            for entry in entries:
                if entry.holds():
                    try:
                        return self._run(entry, leaves, rebuild)
                    except GuardMiss:
                        continue
        if key in self._eager_keys or self._gave_up:
            return self._fn(*args, **kwargs)
        if self._traces >= self._limit:
            self._gave_up = True
            warnings.warn(f"chainrule.compile: {self._name} was traced {self._traces} times "
                          f"(recompile_limit={self._limit}); it now runs eagerly. The last "
                          f"guard that failed: {self._why(key)}. Pass recompile_limit=... "
                          f"to allow more traces.", UserWarning, stacklevel=2)
            return self._fn(*args, **kwargs)
        return self._trace_and_run(key, leaves, rebuild, args, kwargs)

    def _why(self, key) -> str:
        entries = self._cache.get(key)
        if not entries:
            return "a new signature (argument shapes, dtypes, requires_grad or values)"
        e = entries[0]  # (the newest)
        for k, src in enumerate(e.sources):
            if src.get() is not e.ext[k]:
                return f"{src.label} is another tensor"
        for m, training in e.trace.modules:
            if m.training is not training:
                return "a module switched between train() and eval()"
        for src, value in e.trace.scalars:
            if src.get() != value:
                return f"{src.label} changed from {value!r}"
        return "a value read with .item()/bool()/tolist() or a tensor's .grad changed"

    def _trace_and_run(self, key, leaves, rebuild, args, kwargs):
        self._traces += 1
        roots = [x for x in leaves if _is_root(x)]
        try:
            tr = trace_call(self._fn, leaves, rebuild, self._name, roots)
        except EagerOnly as exc:
            if self._fullgraph:
                raise RuntimeError(f"chainrule.compile(fullgraph=True): {self._name} cannot "
                                   f"be traced as one graph: {exc.args[0]}") from None
            self._eager_keys[key] = exc.args[0]
            kept = getattr(exc, "result", None)
            if kept is not None:  # the traced run was this call's eager run (tracing.py)
                out, targs, arg_tensors = kept
                swap = {id(t): real for t, real in zip(targs, arg_tensors)}
                from .._vmap import _flatten
                leaves_out, rebuild_out = _flatten(out)
                return rebuild_out([swap.get(id(x), x) for x in leaves_out])
            return self._fn(*args, **kwargs)
        entry = Entry(tr, key)
        if self._fullgraph and tr.program.guards:
            raise RuntimeError(
                f"chainrule.compile(fullgraph=True): {self._name} reads a tensor's value as "
                f"a Python value ({_guard_site(tr)}), which ends the graph. Keep the value "
                f"a tensor (torch.where instead of `if`), or drop fullgraph=True.")
        self._cache.setdefault(key, []).insert(0, entry)
        self._last = entry
        # the trace ran the call on real values: its values are this call's results
        return self._finish(entry, leaves, rebuild, tr.first_outputs, tr.first_saved,
                            tr.first_draw_states, tr.first_snaps)

    def _run(self, entry, leaves, rebuild):
        tr = entry.trace
        if entry.ext and _reads_an_argument(entry, leaves):
            args, kwargs = rebuild(leaves)
            return self._fn(*args, **kwargs)
        ins = []
        for i in tr.arg_pos:
            x = leaves[i]
            if x._view is not None:
                T.refresh_view(x)
            ins.append(x._data)
        grads = tr.ext_grads
        for k, t in enumerate(entry.ext):
            if t._view is not None:
                T.refresh_view(t)
            ins.append(t._data)
            if grads and k in grads:
                ins.append(t._grad._data)
        for src in tr.scalar_inputs:  # Note [hyper-parameters] in tracing.py
            ins.append(src.get())
        draws = [g.get_state() for g in tr.draw_gens] if tr.draw_gens else ()
        snaps = _snapshots(entry, leaves) if entry.snap else None
        tok = quiet(QUIET)
        try:
            outs, saved = entry.program.forward(*ins)
        finally:
            unquiet(tok)
        return self._finish(entry, leaves, rebuild, outs, saved, draws, snaps)

    def _finish(self, entry, leaves, rebuild, outs, saved, draws, snaps=None):
        tr = entry.trace
        if tr.bumps or tr.rebinds:
            self._effects(entry, leaves, outs)  # (a trace put its inputs back as it found them)
        node = None
        if (entry.has_grad or tr.backward_error is not None) and _STATE.enabled and \
                tr.grad_inputs:
            node = _new(entry.node_cls)
            inputs = [leaves[tr.arg_pos[k]] if w == "arg" else entry.ext[k]
                      for w, k in tr.grad_inputs]
            node._next = tuple([x._node for x in inputs])
            node._saved = saved if not tr.freed else None
            node._checks = ()
            node._params = ()
            node._needs = entry.needs
            node._seq = _next_seq()
            node._site = creation_site(3)
            node._extra = None
            node._entry = entry
            touched = _touched(entry, leaves)
            node._call = (self._fn, leaves, rebuild, inputs, draws, snaps,
                          [x._vc[0] for x in touched])
            node._cow = node._watch = None
            if entry.watch:
                node._watch_inputs(touched)
        results = [kind[1] if kind[0] == "value" else None for kind in tr.out_kinds]
        hidden = [None] * len(tr.hidden)
        n_diff = entry.n_diff
        d = 0
        out_tensors = {}
        for target, j, pos, diff in tr.plan:
            if not diff or node is None:
                t = _wrap(outs[pos])
            elif target == "leaf":
                t = _wrap(outs[pos], node if n_diff == 1 else _OutputSlot(node, d, n_diff))
                d += 1
            else:
                t = _wrap(outs[pos], _HiddenBase(node, j))
            out_tensors[pos] = t
            if target == "leaf":
                results[j] = t
            else:
                hidden[j] = t
        for j, k, steps in tr.view_of:
            t, base = results[j], hidden[k]
            t._vc = base._vc
            t._view = (base, steps, base._vc[0])
        if tr.vc_shares:
            for target, j, where, k in tr.vc_shares:
                t = results[j] if target == "leaf" else hidden[j]
                t._vc = (leaves[tr.arg_pos[k]] if where == "arg" else entry.ext[k]
                         if where == "ext" else results[k])._vc
        if tr.aliases:
            self._aliases(entry, leaves, results, hidden)
        if node is not None and tr.saved_checks and node._saved is not None:
            node._checks = self._checks(entry, leaves, out_tensors)
        if tr.single:
            return results[0]
        return tr.out_leaves(results)

    @staticmethod
    def _aliases(entry, leaves, results, hidden):
        """The outputs that alias an input or another output (Note [outputs that alias]
        in tracing.py), built as eager builds them."""
        tr = entry.trace
        for j in tr.aliases:
            _, where, k, steps, rg = tr.out_kinds[j]
            if where == "arg":
                t = leaves[tr.arg_pos[k]]
            elif where == "ext":
                t = entry.ext[k]
            else:
                t = results[k] if where == "out" else hidden[k]
            if steps is not None:
                prev = _STATE.enabled
                _STATE.enabled = rg
                try:
                    for op, params in steps:
                        t = _view(op, t, *params)
                finally:
                    _STATE.enabled = prev
            results[j] = t

    @staticmethod
    def _checks(entry, leaves, out_tensors):
        """Version checks of the kept values that are inputs or outputs (eager's)."""
        tr = entry.trace
        checks = []
        for p, kind, k in tr.saved_checks:
            if kind == "out":
                t = out_tensors.get(k)
            else:
                t = leaves[tr.arg_pos[k]] if kind == "arg" else entry.ext[k]
                if kind == "grad":
                    t = t._grad
            if t is not None:
                checks.append((t._vc, t._vc[0], (p, kind, k, t._data)))
        return tuple(checks)

    def _effects(self, entry, leaves, outs):
        """What the call did to its inputs, as eager would have: versions and rebound
        data or ``.grad`` (in-place writes were made by the generated code itself)."""
        tr = entry.trace
        for kind, k, delta in tr.bumps:
            t = leaves[tr.arg_pos[k]] if kind == "arg" else entry.ext[k]
            if kind == "grad":
                t = t._grad
            t._vc[0] += delta
        for kind, k, pos in tr.rebinds:
            t = leaves[tr.arg_pos[k]] if kind == "arg" else entry.ext[k]
            if kind == "grad_none":
                t._grad = None
            elif kind == "grad":
                t._grad = T.wrap(outs[pos])
            elif kind == "graddata":
                t._grad._data = outs[pos]
            else:
                t._data = outs[pos]

    # -- what users see ---------------------------------------------------------------------
    @property
    def source(self) -> str:
        """The generated forward and backward of the most recent trace, each line
        annotated with its op and the line of the user's code it came from."""
        if self._last is None:
            if self._eager_keys:
                why = next(iter(self._eager_keys.values()))
                raise RuntimeError(f"compile: {self._name} runs eagerly ({why}): there is "
                                   f"no generated code")
            raise RuntimeError(f"compile: {self._name} has not been called yet: call it "
                               f"once (that traces it), then read .source")
        p = self._last.program
        return p.forward_source + ("\n" + p.backward_source if p.backward_source else "")

    @property
    def traces(self) -> int:
        """How many times the function was traced."""
        return self._traces

    def __repr__(self) -> str:
        return f"<compiled {self._name}>"

    def __get__(self, obj, objtype=None):  # decorating a method
        if obj is None:
            return self
        import functools
        return functools.partial(self, obj)


def _is_root(x) -> bool:
    """An argument searched for tensors (Note [trace inputs]): any object but a number,
    a string or a tensor."""
    return not isinstance(x, (_Tensor, int, float, bool, str, bytes, complex)) and \
        x is not None


def _guard_site(tr) -> str:
    from ..autograd.node import describe_site
    for s in tr.graph_guards:
        if s.note and s.note[1] is not None:
            how = "a read of its values" if s.name == "array" else f"{s.name}()"
            return f"{how} at {describe_site(s.note[1])}"
    return "an .item(), bool(), int() or .tolist() of a traced tensor"


_OFF = [None]


def _bind_switches():
    """The switches that make a call run eagerly, bound once (a call reads them all)."""
    global _STATE, _FW, _LEVELS, _TRACE_RNG, _SAVED_HOOKS
    from .._creation import TRACE_RNG as _TRACE_RNG
    from .._vmap import LEVELS as _LEVELS
    from ..autograd._saved import HOOKS as _SAVED_HOOKS
    from ..autograd.forward_ad import STATE as _FW
    _STATE = STATE
    _OFF[0] = True


def _positional(leaves):
    return tuple(leaves), {}


def _flatten_args(args, kwargs):
    from .._vmap import _flatten
    leaves, rebuild = _flatten((args, kwargs))
    return leaves, rebuild


def _key(leaves):
    """The signature of a call (Note [compiled calls]); None: a value compile cannot
    key on (the call runs eagerly)."""
    parts = [STATE.enabled, get_default_dtype()]
    counters = None
    for x in leaves:
        if isinstance(x, T.Tensor):
            d = x._data
            if type(d) is not np.ndarray:
                return None  # another array library, a batched or traced value
            parts.append((type(x), d.shape, d.dtype, x._rg, d.strides))
            # arguments that share memory (f(x, x), f(x, x[0])) run eagerly: the trace
            # gives each argument memory and a version counter of its own
            if counters is None:
                counters = x._vc
            elif type(counters) is not set:
                if counters is x._vc:
                    return None
                counters = {id(counters), id(x._vc)}
            elif id(x._vc) in counters:
                return None
            else:
                counters.add(id(x._vc))
        else:
            t = type(x)
            if t is float:
                parts.append((t, repr(x)))
            elif t in _VALUE_KEYED or x is None:
                parts.append((t, x))
            else:  # an object (a module, a config): its tensors were found through it
                parts.append((t, id(x)))
    return tuple(parts)


_VALUE_KEYED = (int, bool, str, bytes, complex, type(Ellipsis), slice)
