"""compile's array library: arrays that record every function applied to them.

Note [tracing as an array library]: ``chainrule.compile`` runs the user's function once
on tensors whose data is a ``TraceArray``: a NumPy array (its real value, so the run is
an ordinary eager run and every shape, dtype and branch is the real one) plus the number
of a variable in a ``Graph``.  This module implements the Array API standard's functions
on such arrays: each one calls NumPy's function of that name on the values and appends a
statement ``v7 = np.multiply(v3, v5)`` to the graph.  ``ArrayApiNamespace`` over it is a
rule namespace like any other (as for vmap's batched arrays and the meta device), so
every row's forward and every VJP rule is recorded by running it unchanged: the forward
and the backward pass of any program become straight-line code (``_compile/codegen.py``).

What a traced value cannot give without ending the straight line is a concrete Python
value: ``.item()``, ``bool()``, ``int()``, ``tolist()`` and conversion to a NumPy array
return the real value and record a *guard*; the generated code checks it and asks for a
new trace when a later call sees another value.
"""

from __future__ import annotations

import numpy as np

from . import _operators

__all__ = ["TraceArray", "TRACE", "Graph", "Stmt", "active", "tracing"]


class Stmt:
    """One line of a traced program.

    ``kind``: ``"call"`` (``outs = fn(*args, **kw)``), ``"getitem"`` (``out =
    args[0][args[1]]``), ``"setitem"`` (``args[0][args[1]] = args[2]``), ``"inplace"``
    (``fn(*args, out=args[0])``), ``"guard"`` (``args[0]`` must give ``kw['value']``
    through ``fn``), ``"input"``, ``"const"``.  ``args``/``kw`` hold ``Var`` where a traced
    array was passed.  ``outs``: a var id, a tuple of ids (unpacked) or None."""

    __slots__ = ("kind", "name", "fn", "args", "kw", "outs", "note", "as_array", "reads")

    def __init__(self, kind, name, fn, args, kw, outs, note, as_array=False, reads=None):
        self.reads = reads  # the vars in args and kw, where the recorder knew them
        self.kind = kind
        self.name = name
        self.fn = fn
        self.args = args
        self.kw = kw
        self.outs = outs
        self.note = note
        self.as_array = as_array

    def __repr__(self) -> str:
        return f"Stmt({self.kind}, {self.name}, {self.args!r}, {self.kw!r} -> {self.outs})"


class Var:
    """A traced array inside a statement's arguments."""

    __slots__ = ("id",)

    def __init__(self, i: int) -> None:
        self.id = i

    def __repr__(self) -> str:
        return f"v{self.id}"

    def __eq__(self, other):
        return type(other) is Var and other.id == self.id

    def __hash__(self):
        return hash(("var", self.id))


class Graph:
    """The statements of one trace, with the real value of every variable."""

    def __init__(self) -> None:
        self.stmts: list[Stmt] = []
        self.values: dict[int, object] = {}
        self.roots: dict[int, int] = {}   # var -> var owning its memory (views)
        self._owners: dict[int, tuple] = {}  # id(owner ndarray) -> (owner, var)
        self.consts: dict[int, object] = {}  # const var -> the constant
        self.mutated: set[int] = set()    # root vars written in place
        self.inputs: list[int] = []
        self.note = None      # (op name, site) of the op being recorded
        self.draws = []       # generators drawn from
        self.draw_states = []  # their states before the trace's first draw
        self.adopted = {}     # id(ndarray) -> (ndarray, TraceArray): see adopt()
        self.eager_reason = None  # set by refuse()
        self.n = 0

    # -- variables ---------------------------------------------------------------------
    def _new(self, value) -> TraceArray:
        i = self.n
        self.n += 1
        if isinstance(value, np.generic):
            value = np.asarray(value)
        self.values[i] = value
        owner = value
        while getattr(owner, "base", None) is not None:  # (through as_strided's DummyArray)
            owner = owner.base
        hit = self._owners.get(id(owner))
        if hit is not None and hit[0] is owner:
            self.roots[i] = hit[1]
        else:
            self._owners[id(owner)] = (owner, i)
            self.roots[i] = i
        return TraceArray(value, i, self)

    def input(self, value, label) -> TraceArray:
        t = self._new(np.asarray(value) if not isinstance(value, np.ndarray) else value)
        self.inputs.append(t.id)
        self.stmts.append(Stmt("input", label, None, (), {}, t.id, None))
        return t

    def scalar_input(self, value: float, label) -> TracedScalar:
        """A Python float read fresh on every call (``TracedScalar``)."""
        i = self.n
        self.n += 1
        self.values[i] = value
        self.roots[i] = i
        self.inputs.append(i)
        self.stmts.append(Stmt("input", label, None, (), {}, i, None))
        return TracedScalar(value, i, self)

    def const(self, value) -> TraceArray:
        value = np.asarray(value)
        t = self._new(value)
        # the program's copy: the trace may go on to write into ``value``
        kept = value.copy()
        self.consts[t.id] = kept
        self.stmts.append(Stmt("const", "const", None, (kept,), {}, t.id, self.note))
        return t

    # -- statements --------------------------------------------------------------------
    def call(self, name, fn, args, kw, *, kind="call", note=None):
        """Run ``fn`` on the values of ``args`` and record it; returns the result with
        every array in it traced."""
        a = _unwrap(args, self)
        k = {key: _unwrap(v, self) for key, v in kw.items()} if kw else kw
        if kind == "getitem":
            res = a[0][a[1]]
        else:
            res = fn(*a, **k)
        return self._record(kind, name, fn, args, kw, res, note)

    def _record(self, kind, name, fn, args, kw, res, note):
        reads = []
        sa = _symbolic(args, self, reads)
        sk = {key: _symbolic(v, self, reads) for key, v in kw.items()} if kw else {}
        note = note or self.note
        if isinstance(res, (np.ndarray, np.generic)):
            t = self._new(res)
            self.stmts.append(Stmt(kind, name, fn, sa, sk, t.id, note,
                                   isinstance(res, np.generic), reads))
            if name.rsplit(".", 1)[-1] in DYNAMIC_SHAPES:
                self._shape_guard(t.id, res.shape)
            return t
        if isinstance(res, tuple) and res and all(isinstance(r, (np.ndarray, np.generic))
                                                  for r in res):
            ts = [self._new(r) for r in res]
            self.stmts.append(Stmt(kind, name, fn, sa, sk, tuple(t.id for t in ts), note,
                                   any(isinstance(r, np.generic) for r in res)))
            if name.rsplit(".", 1)[-1] in DYNAMIC_SHAPES:
                for t, r in zip(ts, res):
                    self._shape_guard(t.id, np.shape(r))
            return type(res)(*ts) if hasattr(res, "_fields") else tuple(ts)
        if isinstance(res, list) and res and all(isinstance(r, np.ndarray) for r in res):
            ts = [self._new(r) for r in res]
            self.stmts.append(Stmt(kind, name, fn, sa, sk, tuple(t.id for t in ts), note))
            return ts
        # a Python value (a shape, a dtype): the function read no values
        return res

    def _shape_guard(self, var: int, shape) -> None:
        """A result whose shape depends on values (nonzero, unique): the code after it
        was traced for this shape, so a call that gives another one traces again."""
        self.stmts.append(Stmt("guard", "shape", None, (Var(var),), {"value": tuple(shape)},
                               None, self.note))

    def mutate(self, kind, name, fn, args, kw, target: TraceArray):
        """Record a write into ``target``: ``setitem`` (``args = (target, key, value)``)
        or ``inplace`` (``fn(*args, **kw, out=target)``, ``x += y``, a ufunc's ``out=``,
        ``np.add.at``)."""
        a = _unwrap(args, self)
        k = {key: _unwrap(v, self) for key, v in kw.items()} if kw else {}
        if kind == "setitem":
            a[0][a[1]] = a[2]
            sk = {}
        elif name.endswith(".at"):  # ufunc.at(target, ...) writes into its first argument
            fn(*a, **k)
            sk = {key: _symbolic(v, self) for key, v in kw.items()}
        else:
            fn(*a, **k, out=target.value)
            sk = {key: _symbolic(v, self) for key, v in kw.items()}
            sk["out"] = Var(target.id)
        self.stmts.append(Stmt(kind, name, fn, _symbolic(args, self), sk, None, self.note))
        self.mutated.add(self.roots[target.id])

    def adopt(self, arr) -> TraceArray:
        """A NumPy array that traced code writes into (a ufunc's ``out=``, an optimizer's
        scratch buffer): from now on the same array object is this traced value."""
        hit = self.adopted.get(id(arr))
        if hit is not None and hit[0] is arr:
            return hit[1]
        t = self.const(arr)
        t.value = arr  # the trace goes on writing into the array itself
        self.values[t.id] = arr
        self.adopted[id(arr)] = (arr, t)
        return t

    def guard(self, t: TraceArray, how: str, value):
        """``how(t)`` was read as a Python value: later calls must read the same."""
        import sys

        from ..autograd.node import _find_site
        site = _find_site(sys._getframe(1))  # the user's line that read the value
        kept = value.copy() if isinstance(value, np.ndarray) else value  # (as read now)
        self.stmts.append(Stmt("guard", how, None, (Var(t.id),), {"value": kept}, None,
                               (f"value read by {how}()", site)))
        return value


# ---- the active graph ------------------------------------------------------------------

_ACTIVE: list = [None]


# functions whose result's shape depends on the values of their arguments
DYNAMIC_SHAPES = frozenset((
    "nonzero", "argwhere", "flatnonzero", "unique", "unique_values", "unique_counts",
    "unique_inverse", "unique_all", "extract", "compress", "repeat", "trim_zeros"))


def active() -> Graph | None:
    return _ACTIVE[0]


def refuse(why: str) -> None:
    """A traced call met something that runs only eagerly (a tensor hook, a custom
    Function, saved-tensor hooks): ``chainrule.compile`` runs such calls eagerly."""
    g = _ACTIVE[0]
    if g is not None and g.eager_reason is None:
        g.eager_reason = why


class tracing:
    """``with tracing(graph):`` new traced values go to ``graph``."""

    def __init__(self, graph) -> None:
        self.graph = graph

    def __enter__(self):
        self.prev = _ACTIVE[0]
        _ACTIVE[0] = self.graph
        return self.graph

    def __exit__(self, *exc):
        _ACTIVE[0] = self.prev


def _unwrap(v, graph):
    t = type(v)
    if t is TracedScalar:
        return float.__float__(v)
    if t is TraceArray:
        if v.graph is not graph:
            raise _stale(v)
        return v.value
    if t in _PLAIN:
        return v
    if t is tuple or t is list:
        return t([_unwrap(x, graph) for x in v])
    if t is dict:
        return {k: _unwrap(x, graph) for k, x in v.items()}
    if t is slice and (type(v.start) is TraceArray or type(v.stop) is TraceArray
                       or type(v.step) is TraceArray):
        return slice(*(_unwrap(x, graph) for x in (v.start, v.stop, v.step)))
    return v


_PLAIN = frozenset((int, float, bool, str, type(None)))


def _symbolic(v, graph, reads=None):
    """``v`` with each traced value replaced by its ``Var`` (their ids appended to
    ``reads`` when given)."""
    t = type(v)
    if t is TraceArray:
        i = v.id
    elif t in _PLAIN:
        return v
    elif t is TracedScalar:
        i = v.var
    elif t is tuple or t is list:
        return t([_symbolic(x, graph, reads) for x in v])
    elif t is slice and any(type(x) is TraceArray for x in (v.start, v.stop, v.step)):
        return slice(*(_symbolic(x, graph, reads) for x in (v.start, v.stop, v.step)))
    elif t is np.ndarray or isinstance(v, np.generic) and t is not np.bool_:
        hit = graph.adopted.get(id(v)) if t is np.ndarray else None
        # (a NumPy array that met a traced one is a constant of the program)
        i = hit[1].id if hit is not None and hit[0] is v else graph.const(v).id
    else:
        return v
    if reads is not None:
        reads.append(i)
    return Var(i)


def _stale(v):
    return RuntimeError(
        "compile: a value traced in an earlier call of a compiled function was used "
        "after that call ended (a tensor created inside the function was kept in a "
        "global or a closure and read again). Return it from the function instead.")


# ---- the array -------------------------------------------------------------------------

class TraceArray:
    """A real NumPy value that is variable ``id`` of ``graph``."""

    __slots__ = ("value", "id", "graph")

    def __array_function__(self, func, types, args, kwargs):
        """NumPy's functions called on traced values by host code (``np.zeros_like(w)``
        in an optimizer's state): recorded; a Python value computed from traced values
        is guarded."""
        return _record_function(_numpy_name(func), func, args, kwargs, self.graph)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy's ufuncs called on traced values by host code (an optimizer's raw
        update): recorded, ``out=`` as a write into the traced output."""
        graph = self.graph
        fn = ufunc if method == "__call__" else getattr(ufunc, method)
        name = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        out = kwargs.pop("out", None)
        if isinstance(out, tuple):
            if len(out) != 1:
                return NotImplemented
            out = out[0]
        if method == "at":
            target = inputs[0]
            if type(target) is not TraceArray:
                target = graph.adopt(target)
            graph.mutate("inplace", name, fn, (target,) + inputs[1:], kwargs, target)
            return None
        if out is None:
            return graph.call(name, fn, inputs, kwargs)
        if type(out) is not TraceArray:
            out = graph.adopt(out)
        graph.mutate("inplace", name, fn, inputs, kwargs, out)
        return out

    def __init__(self, value, i: int, graph: Graph) -> None:
        self.value = value
        self.id = i
        self.graph = graph

    @property
    def shape(self):
        return self.value.shape

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def size(self) -> int:
        return self.value.size

    device = "cpu"

    def __array_namespace__(self, api_version=None):
        return TRACE

    def __repr__(self) -> str:
        return f"TraceArray(v{self.id}, value={self.value!r})"

    def __len__(self) -> int:
        return len(self.value)

    # concrete values: real, and guarded ------------------------------------------------
    def item(self, *args):
        return self.graph.guard(self, "item", self.value.item(*args)) if not args else \
            self.graph.guard(self, "array", self.value).item(*args)

    def tolist(self):
        return self.graph.guard(self, "tolist", self.value.tolist())

    def __bool__(self):
        return self.graph.guard(self, "bool", bool(self.value))

    def __float__(self):
        return self.graph.guard(self, "float", float(self.value))

    def __int__(self):
        return self.graph.guard(self, "int", int(self.value))

    def __index__(self):
        return self.graph.guard(self, "int", int(self.value.__index__()))

    def __complex__(self):
        return self.graph.guard(self, "complex", complex(self.value))

    def __array__(self, dtype=None, copy=None):
        v = self.graph.guard(self, "array", self.value)
        return v if dtype is None else v.astype(dtype)

    def __iter__(self):
        return (self[i] for i in range(len(self.value)))

    # NumPy-style methods chainrule's host code uses --------------------------------------
    def astype(self, dtype, copy=True):
        return TRACE.astype(self, dtype, copy=copy)

    def reshape(self, *shape):
        return TRACE.reshape(self, shape[0] if len(shape) == 1 and not
                             isinstance(shape[0], int) else shape)

    def copy(self, order="K"):
        return self.graph.call("np.copy", np.copy, (self,), {"order": order} if order != "K"
                               else {})

    def transpose(self, *axes):
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = axes[0]
        return TRACE.permute_dims(self, tuple(axes) or tuple(range(self.ndim))[::-1])

    @property
    def T(self):
        return TRACE.permute_dims(self, tuple(range(self.ndim))[::-1])

    @property
    def mT(self):
        return TRACE.matrix_transpose(self)

    def __getitem__(self, key):
        return self.graph.call("getitem", None, (self, key), {}, kind="getitem")

    def __setitem__(self, key, value):
        self.graph.mutate("setitem", "setitem", None, (self, key, value), {}, self)

    def to_device(self, device, stream=None):
        return self

    def view(self, *args, **kwargs):
        refuse("a NumPy view of a traced value's memory (ndarray.view)")
        return self.value.view(*args, **kwargs)


def _method(name):
    f = getattr(np, name)

    def method(self, *args, **kwargs):
        return self.graph.call(f"np.{name}", f, (self,) + args, kwargs)
    method.__name__ = name
    return method


# NumPy methods host code may call on a value (idx.max() in an index check)
for _m in ("max", "min", "sum", "prod", "mean", "any", "all", "argmax", "argmin", "ravel",
           "nonzero", "squeeze", "clip", "round", "cumsum", "cumprod", "swapaxes", "repeat",
           "std", "var", "dot", "take"):
    setattr(TraceArray, _m, _method(_m))
TraceArray.flatten = lambda self, order="C": TRACE.reshape(self, (-1,)).copy()


def _lift(name, f):
    key = "np." + name

    def g(*args, **kw):
        kw.pop("device", None)
        graph = _graph_of(args, kw)
        if graph is None:  # no traced argument: an ordinary NumPy call
            return f(*args, **kw)
        return graph.call(key, f, args, kw)
    g.__name__ = name
    g._np = f
    return g


def _graph_of(args, kw):
    for a in args:
        if type(a) is TraceArray:
            return a.graph
        if type(a) in (tuple, list):
            for b in a:
                if type(b) is TraceArray:
                    return b.graph
    for a in kw.values():
        if type(a) is TraceArray:
            return a.graph
    return _ACTIVE[0]


class _Namespace:
    """``TRACE``: the Array API namespace of ``TraceArray`` (NumPy's functions, recorded)."""

    __name__ = "chainrule.trace"

    def __init__(self, module=np, prefix="np") -> None:
        self._m = module
        self._prefix = prefix

    def __getattr__(self, name):
        f = getattr(self._m, name)
        if isinstance(f, type) and issubclass(f, np.generic):
            return np.dtype(f)  # the standard's dtype objects: NumPy's dtypes
        if isinstance(f, type) or isinstance(f, np.dtype) or not callable(f):
            return f
        if name in ("isdtype", "finfo", "iinfo", "result_type", "can_cast"):
            return f
        g = _lift(name, f) if self._prefix == "np" else _lift_in(self._prefix, name, f)
        setattr(self, name, g)
        return g

    @property
    def linalg(self):
        return _LINALG

    def asarray(self, a, dtype=None, copy=None, device=None):
        if type(a) is TraceArray:
            if dtype is not None and np.dtype(dtype) != a.dtype:
                return self.astype(a, dtype)
            return a.copy() if copy else a
        graph = _ACTIVE[0]
        arr = np.array(a, dtype=dtype, copy=True) if copy else np.asarray(a, dtype=dtype)
        if graph is None:
            return arr
        return graph.const(arr)

    def astype(self, x, dtype, copy=True):
        if type(x) is not TraceArray:
            return np.asarray(x).astype(dtype, copy=copy)
        if not copy and x.value.dtype == np.dtype(dtype):
            return x
        return x.graph.call("np.astype", np.astype, (x, np.dtype(dtype)), {"copy": copy})

    def getitem(self, a, key):
        return a[key]

    def setitem(self, a, key, value):
        a[key] = value

    def erf(self, x):
        from .numpy_backend import RAW
        if type(x) is not TraceArray:
            return RAW.erf(x)
        return x.graph.call("ns.erf", RAW.erf, (x,), {})


def _lift_in(prefix, name, f):
    key = f"{prefix}.{name}"

    def g(*args, **kw):
        kw.pop("device", None)
        graph = _graph_of(args, kw)
        if graph is None:
            return f(*args, **kw)
        return graph.call(key, f, args, kw)
    g.__name__ = name
    return g


TRACE = _Namespace()
_LINALG = _Namespace(np.linalg, "np.linalg")


# ---- operators ---------------------------------------------------------------------------

def _inplace(f):
    ufunc = f._np

    def op(self, other):
        if type(other) is TraceArray or np.ndim(other) or not isinstance(other, (int, float)):
            res_shape = np.broadcast_shapes(self.shape, np.shape(other) if type(other)
                                            is not TraceArray else other.shape)
            if res_shape != self.shape:
                raise ValueError(f"non-broadcastable output operand with shape {self.shape} "
                                 f"doesn't match the broadcast shape {res_shape}")
        self.graph.mutate("inplace", "np." + ufunc.__name__, ufunc, (self, other), {}, self)
        return self
    return op


_operators.install(TraceArray, lambda name: getattr(TRACE, name), _inplace)
TraceArray.__neg__ = lambda self: TRACE.negative(self)
TraceArray.__pos__ = lambda self: TRACE.positive(self)
TraceArray.__abs__ = lambda self: TRACE.abs(self)
TraceArray.__invert__ = lambda self: TRACE.bitwise_invert(self)


# ---- random draws --------------------------------------------------------------------------

class TracedDraws:
    """A generator's draws inside a trace: each draw is real (the trace consumes the
    generator as eager does) and a statement that draws again from the same
    ``chainrule.Generator`` when the compiled code runs."""

    def __init__(self, gen, graph: Graph) -> None:
        self._gen = gen
        self._graph = graph
        if gen not in graph.draws:
            graph.draws.append(gen)
            graph.draw_states.append(gen.get_state())  # (to draw again when verifying)
        self._k = graph.draws.index(gen)

    def __getattr__(self, name):
        rng = self._gen._rng
        f = getattr(rng, name)
        graph = self._graph
        k = self._k

        def draw(*args, **kw):
            res = f(*args, **kw)
            if not isinstance(res, (np.ndarray, np.generic)):
                res = np.asarray(res)
            t = graph._new(res)
            graph.stmts.append(Stmt("draw", name, k, args, kw, t.id, graph.note))
            return t
        return draw



# ---- the rule namespace ----------------------------------------------------------------------

def _display(name, fn) -> str:
    """How the generated code names ``fn`` (the NumPy rule namespace's word ``name``)."""
    own = getattr(fn, "__name__", None)
    if own and getattr(np, own, None) is fn:
        return f"np.{own}"
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, np.ufunc) and own:
        return f"np.{owner.__name__}.{own}"
    return f"ns.{name}"


def _numpy_name(func) -> str:
    """How generated code names NumPy function ``func``: ``np.x``, ``np.linalg.x``, or
    ``@`` (bound as a constant of the code)."""
    name = getattr(func, "__name__", "")
    for prefix, mod in (("np", np), ("np.linalg", np.linalg), ("np.fft", np.fft)):
        if getattr(mod, name, None) is func:
            return f"{prefix}.{name}"
    return "@" + name


def _record_function(display, fn, args, kw, graph):
    res = graph.call(display, fn, args, kw)
    if type(res) in (bool, int, float):  # a Python value from traced values: guarded
        graph.stmts.append(Stmt("guard", "call", fn, (_symbolic(args, graph),),
                                {"value": res, "display": display, "kw": kw}, None,
                                graph.note))
    return res


def _recorded_word(name, fn):
    display = _display(name, fn)

    def word(*args, **kw):
        graph = _graph_of(args, kw)
        if graph is None:
            return fn(*args, **kw)
        if display == "ns.getitem" or name == "getitem":
            return graph.call("getitem", None, args, {}, kind="getitem")
        if not any(type(a) is TraceArray for a in args):
            return graph.call(display, fn, args, kw)
        return _record_function(display, fn, args, kw, graph)
    word.__name__ = name
    return word


def trace_namespace():
    """The rule namespace of traced arrays: every word of the NumPy rule namespace
    (``numpy_backend.RAW``) recorded as one call, so a compiled pass runs the same NumPy
    calls as the eager NumPy path; the standard's words the NumPy namespace lacks come
    from ``ArrayApiNamespace`` over ``TRACE``."""
    from .array_api import ArrayApiNamespace
    from .numpy_backend import RAW
    ns = ArrayApiNamespace(TRACE, "trace", lib=TRACE)
    for name in dir(RAW):
        if name.startswith("__") or name in ("nb", "pi", "with_nb"):
            continue
        fn = getattr(RAW, name)
        if callable(fn):
            setattr(ns, name, _recorded_word(name, fn))
    return ns


# ---- Python numbers read fresh on every call -----------------------------------------------

_SCALAR_OPS = {
    "add": ("+", lambda a, b: a + b), "sub": ("-", lambda a, b: a - b),
    "mul": ("*", lambda a, b: a * b), "truediv": ("/", lambda a, b: a / b),
    "pow": ("**", lambda a, b: a ** b), "floordiv": ("//", lambda a, b: a // b),
    "mod": ("%", lambda a, b: a % b),
}


def _val(x):
    """A number's plain value (a TracedScalar's, without recording a read)."""
    return float.__float__(x) if isinstance(x, float) else x


class TracedScalar(float):
    """A Python float the traced call reads from a place that changes between calls (an
    optimizer's ``lr``, which a scheduler sets every epoch): an input of the program, not
    a constant.  Arithmetic on it is recorded (``s3 = lr * 0.1``); passed to a NumPy
    function or an op it is that input; comparing it or converting it (``if lr > 0``,
    ``int(lr)``) reads its value, which becomes a guard."""

    _traced = True

    def __new__(cls, value, var: int, graph: Graph):
        obj = float.__new__(cls, value)
        obj.var = var
        obj.graph = graph
        return obj

    def __repr__(self) -> str:
        return float.__repr__(self)

    def _guarded(self, value):
        g = self.graph
        g.stmts.append(Stmt("guard", "scalar", None, (Var(self.var),),
                            {"value": _val(self)}, None, g.note))
        return value

    def __bool__(self):
        return self._guarded(float.__ne__(self, 0.0))

    def __int__(self):
        return self._guarded(int(_val(self)))

    def __float__(self):
        return self._guarded(_val(self))

    __index__ = None

    def __hash__(self):
        return float.__hash__(self)


def _scalar_op(sym, f, reflected):
    def op(self, other):
        if isinstance(other, bool) or not isinstance(other, (int, float)):
            return NotImplemented
        a, b = (other, self) if reflected else (self, other)
        res = f(_val(a), _val(b))
        if type(res) is not float:
            return res
        graph = self.graph
        i = graph.n
        graph.n += 1
        graph.values[i] = res
        graph.roots[i] = i
        args = tuple(Var(x.var) if type(x) is TracedScalar else _val(x) for x in (a, b))
        graph.stmts.append(Stmt("scalar", sym, f, args, {}, i, graph.note))
        return TracedScalar(res, i, graph)
    return op


def _scalar_cmp(f):
    def op(self, other):
        res = f(_val(self), _val(other))
        if res is NotImplemented:
            return res
        if type(other) is TracedScalar:
            other._guarded(res)
        return self._guarded(res)
    return op


for _name, (_sym, _f) in _SCALAR_OPS.items():
    setattr(TracedScalar, f"__{_name}__", _scalar_op(_sym, _f, False))
    setattr(TracedScalar, f"__r{_name}__", _scalar_op(_sym, _f, True))
for _name in ("eq", "ne", "lt", "le", "gt", "ge"):
    setattr(TracedScalar, f"__{_name}__", _scalar_cmp(getattr(float, f"__{_name}__")))
TracedScalar.__neg__ = lambda self: self * -1.0
TracedScalar.__pos__ = lambda self: self


TracedScalar.__abs__ = lambda self: self._sign_guarded_abs()


def _sign_guarded_abs(self):
    """abs(lr): the sign is read (a guard), the value stays an input."""
    v = _val(self)
    g = self.graph
    g.stmts.append(Stmt("guard", "sign", None, (Var(self.var),), {"value": v >= 0}, None,
                        g.note))
    return self if v >= 0 else -self


TracedScalar._sign_guarded_abs = _sign_guarded_abs
for _name in ("__round__", "__trunc__", "__floor__", "__ceil__", "__divmod__",
              "__rdivmod__", "is_integer", "as_integer_ratio", "hex", "conjugate"):
    def _read(self, *args, _name=_name):
        return getattr(float, _name)(self._guarded(_val(self)), *args)
    setattr(TracedScalar, _name, _read)
