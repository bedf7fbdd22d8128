"""Graph nodes: one ``Node`` per recorded op (``grad_fn``), ``AccumulateGrad`` per leaf.

A node holds only what its op's rules read (Note [saved values]), the edges to the
nodes that produced its inputs, and where the user created it.  Nodes never hold the
tensors they produced, and ``AccumulateGrad`` holds its leaf weakly, so a graph is
freed by reference counting alone.

Note [saved values]: ``_saved`` is the tuple ``(*inputs, out)`` of raw arrays (or Python
scalars), with ``None`` where the rules of the needed inputs do not read a value.
``_checks`` lists ``(version_counter, version_seen, position)`` for each saved tensor, so
a value changed in place since it was saved is refused instead of silently used.
After a backward without ``retain_graph`` ``_saved`` becomes ``None``; a node that saved
nothing keeps ``()`` and may run again, as in PyTorch.
"""

from __future__ import annotations

import itertools
import sys
import weakref

import numpy as np

__all__ = ["Node", "AccumulateGrad", "node_class", "creation_site", "describe_site"]

_SEQ = itertools.count(1)
next_seq = _SEQ.__next__
_PKG_DIR = __file__.rsplit("/autograd/", 1)[0]


# the needs tuple of every binary node whose second operand needs no grad (x * 2.0);
# the engine recognizes it by identity to inline that VJP
FIRST_ONLY = (True, False)

_INTERNAL_FILES: dict = {}
# private switch: record creation sites (benchmarks/bench_sites.py measures the cost)
_RECORD_SITES = True
_getframe = sys._getframe
_last_user_code = None  # the code of the last user frame found (compared by identity)
# the user's site while the rules of a create_graph backward run: every node they record
# was made by that backward() / grad() call (found once per pass, not once per op)
FIXED_SITE: list = [None]


def creation_site(depth=2):
    """``(code, lasti)`` of the first frame outside chainrule: cheap to keep, and it
    never pins the frame's locals (Note [creation site]).  ``depth``: where the caller
    knows the user's frame usually is (frames above it are never internal)."""
    if not _RECORD_SITES:
        return None
    site = FIXED_SITE[0]
    if site is not None:
        return site
    f = _getframe(depth)
    code = f.f_code
    if code is _last_user_code:
        return (code, f.f_lasti)  # the common case: the same user function as last time
    return _find_site(f)


def _find_site(f):
    global _last_user_code
    while f is not None:
        fn = f.f_code.co_filename
        internal = _INTERNAL_FILES.get(fn)
        if internal is None:
            internal = _INTERNAL_FILES[fn] = fn.startswith(_PKG_DIR) or \
                fn.startswith("<chainrule") or fn.startswith("<compiled")
        if not internal:
            _last_user_code = f.f_code
            return (f.f_code, f.f_lasti)
        f = f.f_back
    return None


def site_line(site) -> int:
    """The source line of a stored creation site ``(code, lasti)``."""
    code, lasti = site
    for start, end, ln in code.co_lines():
        if start <= lasti < end and ln is not None:
            return ln
    return code.co_firstlineno


def describe_site(site) -> str:
    """'file.py:42 in fn' for a stored creation site, resolved only when shown."""
    if site is None:
        return "an unknown location"
    code = site[0]
    return f"{code.co_filename}:{site_line(site)} in {code.co_name}"


class Extra:
    """Rarely used per-node state, kept out of the hot path (one slot on the node)."""

    __slots__ = ("pre_hooks", "hooks", "retain", "post_acc_hooks", "metadata", "packed")

    def __init__(self) -> None:
        self.pre_hooks = []       # ("tensor" | "node", fn), run before the node
        self.hooks = []           # fn(grad_inputs, grad_outputs), run after it
        self.retain = None        # weakref to a tensor that called retain_grad()
        self.post_acc_hooks = []  # AccumulateGrad only: fn(leaf) after .grad changed
        self.metadata = {}
        self.packed = None        # saved values passed through pack hooks (_saved.py)


class Node:
    """A recorded op: what backward runs to turn the output's cotangent into its inputs'."""

    __slots__ = ("_next", "_saved", "_checks", "_params", "_needs", "_seq", "_site",
                 "_extra", "__weakref__")
    op = None  # the op-table row; set on each generated subclass
    fresh_out = False  # op-less nodes: apply() returns arrays nobody else holds
    _gather = None  # a multi-output custom Function's node, shown as grad_fn (function.py)

    def __init__(self, next_nodes, saved, checks, params, needs, site):
        self._next = next_nodes
        self._saved = saved
        self._checks = checks
        self._params = params
        self._needs = needs
        self._seq = next_seq()
        self._site = site
        self._extra = None

    # -- public, PyTorch-shaped --------------------------------------------------
    def name(self) -> str:
        return type(self).__name__

    @property
    def next_functions(self):
        return tuple((n, 0) for n in self._next)

    @property
    def metadata(self) -> dict:
        return self.extra().metadata

    def extra(self) -> Extra:
        if self._extra is None:
            self._extra = Extra()
        return self._extra

    def register_hook(self, fn):
        """``fn(grad_inputs, grad_outputs)`` runs after this node; may return new grad_inputs."""
        return _Handle(self.extra().hooks, fn)

    def register_prehook(self, fn):
        """``fn(grad_outputs)`` runs before this node; may return new grad_outputs."""
        return _Handle(self.extra().pre_hooks, ("node", fn))

    @property
    def created_at(self) -> str:
        """Where the user created this node, as 'file:line in function'."""
        return describe_site(self._site)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {hex(id(self))}>"

    def __call__(self, *grads):
        from . import engine
        return engine.call_node(self, grads[0] if len(grads) == 1 else grads)

    # -- what the engine runs -------------------------------------------------------
    def _describe(self) -> str:
        return f"{type(self).__name__} (created at {describe_site(self._site)})"

    def apply(self, xp, g):
        """Cotangents for each input edge (``None`` where not needed)."""
        return self.op.backward(xp, g, self._needs, self._saved_values(), self._params)

    def _saved_values(self):
        """The saved values, unpacked and version-checked (one None per input if none)."""
        extra = self._extra
        if extra is not None and extra.packed is not None:
            from ._saved import unpack_saved
            unpack_saved(self, True)
        saved = self._saved
        if saved is None:
            raise_freed(self)
        if self._checks:
            self._check_versions()
        elif not saved:
            saved = _NONES[len(self._next)]
        return saved

    def _check_versions(self):
        for counter, seen, pos in self._checks:
            if counter[0] != seen:
                value = self._saved[pos]
                n_in = len(self._next)
                what = (f"output 0 of {type(self).__name__}" if pos == n_in
                        else f"input {pos} of {type(self).__name__}")
                from .._dtype import from_numpy_dtype
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been "
                    f"modified by an inplace operation: [{from_numpy_dtype(value.dtype)} "
                    f"{list(value.shape)}], which is {what}, is at version {counter[0]}; "
                    f"expected version {seen} instead. The op was created at "
                    f"{describe_site(self._site)}; the tensor was changed in place after "
                    f"that. Fix: use the out-of-place form (e.g. `y = y + 1` instead of "
                    f"`y += 1`, `x = x.mul(2)` instead of `x.mul_(2)`) or .clone() the "
                    f"tensor before changing it.")

    def _release(self):
        if self._saved:
            self._saved = None
        if self._extra is not None:
            self._extra.packed = None


def raise_freed(node):
    raise RuntimeError(
        f"Trying to backward through the graph a second time (or directly access saved "
        f"tensors after they have already been freed): {node._describe()} already released "
        f"its saved values in an earlier backward. Saved intermediate values of the graph "
        f"are freed when you call .backward() or autograd.grad(). Specify retain_graph=True "
        f"if you need to backward through the graph a second time or if you need to access "
        f"saved tensors after calling backward.")


class _Nones(dict):
    """``_NONES[n]``: the ``saved`` tuple ``(None,) * (n + 1)`` of a node with ``n`` inputs
    that saved nothing, made on first use (any number of inputs)."""

    def __missing__(self, n):
        v = self[n] = (None,) * (n + 1)
        return v


_NONES = _Nones()


class _Handle:
    """Returned by every ``register_*hook``; ``.remove()`` takes the hook out."""

    __slots__ = ("_list", "_entry")

    def __init__(self, hooks: list, entry) -> None:
        self._list = hooks
        self._entry = entry
        hooks.append(entry)

    def remove(self) -> None:
        try:
            self._list.remove(self._entry)
        except ValueError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class AccumulateGrad(Node):
    """Sink for a leaf that requires grad: adds the incoming cotangent into ``leaf.grad``."""

    __slots__ = ("_leaf",)

    def __init__(self, leaf) -> None:
        Node.__init__(self, (), (), (), (), (), None)
        self._leaf = weakref.ref(leaf)

    @property
    def variable(self):
        return self._leaf()

    def _describe(self) -> str:
        return "AccumulateGrad"


def node_class(op, name: str):
    """The ``grad_fn`` class for an op row, named as PyTorch names it.  Each row gets its
    own class (two rows may share a PyTorch name, e.g. the two ``max`` forms)."""
    return type(name, (Node,), {"__slots__": (), "op": op, "__module__": "chainrule.autograd"})


# Note [promoted inputs]: ``a * b`` with a float32 ``a`` and a float64 ``b`` computes in
# float64; PyTorch's engine hands each input its cotangent in the input's own dtype.
# Such a node is of a subclass of its row's class (same name) that casts the row's
# cotangents back.  Under ``create_graph`` its saved promoted inputs are rebuilt as a
# recorded cast of the input, so higher orders meet the same dtypes.

_PROMOTED: dict = {}


def promoted_class(cls):
    """The grad_fn class of row class ``cls`` for inputs that were promoted."""
    sub = _PROMOTED.get(cls)
    if sub is None:
        sub = _PROMOTED[cls] = type(cls.__name__, (cls,), {
            "__slots__": ("_cast",), "op": None, "row": cls.op, "apply": _promoted_apply,
            "apply_differentiable": _promoted_apply_differentiable,
            "__module__": "chainrule.autograd"})
    return sub


def _cast_back(xp, g, dtype):
    """Cotangent ``g`` in the input's NumPy dtype ``dtype`` (any array library, Tensors
    under ``create_graph``); a complex cotangent of a real input keeps its real part."""
    if g is None or dtype is None:
        return g
    from .. import _tensor as T
    from ..backend.array_api import np_dtype
    if isinstance(g, T.Tensor):
        from .._dtype import from_numpy_dtype
        if g.is_complex() and dtype.kind != "c":
            g = g.real
        return g.to(from_numpy_dtype(dtype))
    if type(g) in (int, float, bool):  # (a rule's exact zero)
        return g
    if isinstance(g, (np.ndarray, np.generic)):
        if g.dtype.kind == "c" and dtype.kind != "c":
            g = g.real
        return np.asarray(g).astype(dtype)
    if np_dtype(g.dtype).kind == "c" and dtype.kind != "c":
        g = xp.real(g)
    return xp.astype(g, xp.dtype(dtype))


def _promoted_apply(self, xp, g):
    grads = self.row.backward(xp, g, self._needs, self._saved_values(), self._params)
    return tuple(_cast_back(xp, gi, dt) for gi, dt in zip(grads, self._cast))


def _promoted_apply_differentiable(self, xp, g):
    from .. import _tensor as T
    from ._higher import rebuild_saved
    if self._saved is None:
        raise_freed(self)
    if self._checks:
        self._check_versions()
    if self._saved:
        saved = list(rebuild_saved(self))
        for p, dt in enumerate(self._cast):
            v = self._saved[p] if p < len(self._saved) else None
            if dt is not None and v is not None and self._next[p] is not None:
                wide = saved[p]
                low = _cast_back(xp, wide.detach(), dt)
                saved[p] = T.wrap(low._data, self._next[p]).to(wide.dtype)
    else:
        saved = _NONES[len(self._next)]
    grads = self.row.backward(xp, g, self._needs, tuple(saved), self._params)
    return tuple(_cast_back(xp, gi, dt) for gi, dt in zip(grads, self._cast))


def is_array(x) -> bool:
    return type(x) is np.ndarray
