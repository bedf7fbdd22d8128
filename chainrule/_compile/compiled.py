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
forward kept.  ``create_graph=True`` and batched cotangents (``is_grads_batched``,
Jacobians) go through the eager path: the node runs the function again eagerly and
differentiates that.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import _tensor as T
from .._dtype import get_default_dtype
from .._grad_mode import STATE
from ..autograd._function_node import _OutputSlot
from ..autograd._hooks import outputs_of, per_element
from ..autograd.node import Node, creation_site, raise_freed
from ..autograd.node import next_seq as _next_seq
from ..backend.numpy_backend import QUIET, quiet, unquiet
from .codegen import GuardMiss
from .externals import _GONE
from .tracing import EagerOnly, trace_call

_new = object.__new__
_wrap = T.wrap
_Tensor = T.Tensor


class CompiledFunctionBackward(Node):
    """The backward of one call of a compiled function (Note [compiled calls])."""

    __slots__ = ("_entry", "_call")
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
        grads = [None if x is None else x if isinstance(x, T.Tensor) else T.wrap(x)
                 for x in outputs_of(g)]
        if xp.nb:
            return tuple(per_element(self._eager_vjp, grads, xp.nb))
        return tuple(self._eager_vjp(grads))

    def _eager_vjp(self, grads):
        """The call run again eagerly (its random draws the same: the generators are
        put back where the call found them) and differentiated with ``create_graph``."""
        fn, leaves, rebuild, inputs, draws = self._call
        gens = self._entry.trace.draw_gens
        now = [g.get_state() for g in gens]
        for g, state in zip(gens, draws):
            g.set_state(state)
        prev = STATE.enabled
        STATE.enabled = True
        try:
            args, kwargs = rebuild(leaves)
            out = fn(*args, **kwargs)
            from .._vmap import _flatten
            outs, _ = _flatten(out)
            diff = [outs[k] for k in self._entry.diff_leaves]
            pairs = [(o, gk) for o, gk in zip(diff, grads) if gk is not None]
            from ..autograd import grad as _grad
            res = _grad([o for o, _ in pairs], list(inputs),
                        grad_outputs=[gk for _, gk in pairs], create_graph=True,
                        allow_unused=True)
        finally:
            STATE.enabled = prev
            for g, state in zip(gens, now):
                g.set_state(state)
        return list(res)

    def _release(self):
        self._saved = None


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
        self.ext_meta = [(tuple(t._data.shape), t._data.dtype, t._rg) for t in self.ext]
        self.rg_ext = [t for t in self.ext if t._rg]
        self.node_cls = CompiledFunctionBackward if trace.program.fresh else _NotFresh
        self.diff_leaves = [j for j, kind in enumerate(trace.out_kinds)
                            if kind[0] == "tensor" and kind[2]]
        self.has_grad = bool(trace.grad_inputs)
        self.needs = (True,) * len(trace.grad_inputs)
        self.n_diff = len(self.diff_leaves)

    def holds(self) -> bool:
        """The guards that do not depend on the call's arguments."""
        ext = self.ext
        for k, src in enumerate(self.sources):
            if src.get() is not ext[k]:
                return False
        for k, t in enumerate(ext):
            d = t._data
            shape, dt, rg = self.ext_meta[k]
            if d.shape != shape or d.dtype != dt or t._rg is not rg:
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
                            tr.first_draw_states)

    def _run(self, entry, leaves, rebuild):
        tr = entry.trace
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
        tok = quiet(QUIET)
        try:
            outs, saved = entry.program.forward(*ins)
        finally:
            unquiet(tok)
        return self._finish(entry, leaves, rebuild, outs, saved, draws)

    def _finish(self, entry, leaves, rebuild, outs, saved, draws):
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
            node._call = (self._fn, leaves, rebuild, inputs, draws)
        results = []
        n_diff = entry.n_diff
        d = 0
        out_tensors = {}
        for kind in tr.out_kinds:
            if kind[0] == "value":
                results.append(kind[1])
                continue
            _, pos, diff = kind
            if diff and node is not None:
                t = _wrap(outs[pos], node if n_diff == 1 else _OutputSlot(node, d, n_diff))
                d += 1
            else:
                t = _wrap(outs[pos])
            out_tensors[pos] = t
            results.append(t)
        if node is not None and tr.saved_checks and node._saved is not None:
            node._checks = self._checks(entry, leaves, out_tensors)
        if tr.single:
            return results[0]
        return tr.out_leaves(results)

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
                checks.append((t._vc, t._vc[0], p))
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
    for x in leaves:
        if isinstance(x, T.Tensor):
            d = x._data
            if type(d) is not np.ndarray:
                return None  # another array library, a batched or traced value
            parts.append((type(x), d.shape, d.dtype, x._rg))
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
