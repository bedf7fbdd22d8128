"""What a compiled function reads besides its arguments.

Note [trace inputs]: the trace's inputs are the function's tensor arguments AND every
tensor it can reach: the tensors, modules (parameters, buffers, tensor attributes) and
optimizers (parameters, state) found in its closure cells, the globals its code names,
its defaults and, for a bound method or a module, ``self``, searched a few levels deep
through containers, functions and plain objects.  Each is found again on every call
through the path it was found by (``Source``), so a rebound global or a replaced
parameter is a guard miss, not a stale value.  Module ``training`` flags and the Python
numbers among those values (a global learning rate, an optimizer's hyper-parameters)
are guarded by value.
"""

from __future__ import annotations

import types

from .._tensor import Tensor

_DEPTH = 4
_SCALARS = (int, float, bool)


class Source:
    """How to find one value again: ``get()`` follows the path from a root object."""

    __slots__ = ("root", "steps", "label")

    def __init__(self, root, steps, label) -> None:
        self.root = root
        self.steps = steps
        self.label = label

    def get(self):
        v = self.root
        try:
            for kind, key in self.steps:
                if kind == "cell":
                    v = v[key].cell_contents
                elif kind == "item":
                    if isinstance(v, dict) and key not in v:  # (never a defaultdict's insert)
                        return _GONE
                    v = v[key]
                else:
                    v = getattr(v, key)
        except (KeyError, IndexError, AttributeError, ValueError, TypeError):
            return _GONE
        return v

    def set(self, value) -> None:
        """Rebind the slot ``get()`` reads (a closure cell, an item, an attribute)."""
        *path, (kind, key) = self.steps
        v = self.root
        for k, name in path:
            v = v[name].cell_contents if k == "cell" else v[name] if k == "item" else \
                getattr(v, name)
        if kind == "cell":
            v[key].cell_contents = value
        elif kind == "item":
            v[key] = value
        else:
            setattr(v, key, value)

    def then(self, kind, key, label) -> Source:
        return Source(self.root, self.steps + ((kind, key),), label)


_GONE = object()


class Found:
    """Everything reachable: tensors (with their sources), modules, scalars."""

    def __init__(self) -> None:
        self.tensors: list = []      # (tensor, Source)
        self.modules: list = []      # (module, Source)
        self.scalars: list = []      # (value, Source)
        self.optimizers: list = []
        self._seen: set = set()

    def tensor_ids(self) -> set:
        return {id(t) for t, _ in self.tensors}


def scan(fn) -> Found:
    """The tensors, modules, optimizers and numbers ``fn`` can reach."""
    found = Found()
    _visit(fn, Source(fn, (), _name(fn)), found, 0)
    return found


def _name(fn) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def _visit(v, src: Source, found: Found, depth: int) -> None:
    if depth > _DEPTH:
        return
    if isinstance(v, Tensor):
        if id(v) not in found._seen:
            found._seen.add(id(v))
            found.tensors.append((v, src))
        return
    t = type(v)
    if t in _SCALARS:
        if depth:
            found.scalars.append((v, src))
        return
    if v is None or t is str or t is bytes or isinstance(v, (types.ModuleType, type)):
        return
    if id(v) in found._seen:
        return
    found._seen.add(id(v))
    from ..nn.modules.module import Module
    from ..optim.optimizer import Optimizer
    from .compiled import CompiledFunction
    if isinstance(v, CompiledFunction):  # another compiled function: what it reads
        _visit(v._fn, src.then("attr", "_fn", src.label), found, depth)
        return
    if isinstance(v, Module):
        found.modules.append((v, src))
        params = src.then("attr", "_parameters", src.label)
        for name, p in v._parameters.items():
            if p is not None:
                _visit(p, params.then("item", name, f"{src.label}.{name}"), found, depth + 1)
        buffers = src.then("attr", "_buffers", src.label)
        for name, b in v._buffers.items():
            if b is not None:
                _visit(b, buffers.then("item", name, f"{src.label}.{name}"), found, depth + 1)
        subs = src.then("attr", "_modules", src.label)
        for name, m in v._modules.items():
            if m is not None:
                _visit(m, subs.then("item", name, f"{src.label}.{name}"), found, depth)
        for name, a in vars(v).items():
            if isinstance(a, Tensor) or type(a) in _SCALARS or \
                    callable(a) and not isinstance(a, Module):
                # (numbers too: LeakyReLU's slope, Dropout's p, BatchNorm's momentum)
                _visit(a, src.then("attr", name, f"{src.label}.{name}"), found, depth + 1)
        return
    if isinstance(v, Optimizer):
        found.optimizers.append((v, src))
        groups = src.then("attr", "param_groups", f"{src.label}.param_groups")
        for k, group in enumerate(v.param_groups):
            gsrc = groups.then("item", k, f"{groups.label}[{k}]")
            for key, val in group.items():
                if key == "params":
                    for j, p in enumerate(val):
                        _visit(p, gsrc.then("item", "params", "").then(
                            "item", j, f"{gsrc.label}.params[{j}]"), found, depth + 1)
                elif type(val) in _SCALARS or isinstance(val, (tuple, list)):
                    _visit(val, gsrc.then("item", key, f"{gsrc.label}[{key!r}]"),
                           found, depth + 1)
        state = src.then("attr", "state", f"{src.label}.state")
        for j, (p, st) in enumerate(v.state.items()):
            if isinstance(st, dict):
                for key, val in st.items():
                    _visit(val, state.then("item", p, "").then(
                        "item", key, f"{src.label}.state[{j}][{key!r}]"), found, depth + 1)
        return
    if isinstance(v, (types.FunctionType, types.LambdaType)):
        code = v.__code__
        if v.__closure__:
            cells = src.then("attr", "__closure__", src.label)
            for k, name in enumerate(code.co_freevars):
                try:
                    val = v.__closure__[k].cell_contents
                except ValueError:
                    continue
                _visit(val, cells.then("cell", k, name), found, depth + 1)
        g = v.__globals__
        gsrc = src.then("attr", "__globals__", src.label)
        for name in _global_names(code):
            if name in g:
                _visit(g[name], gsrc.then("item", name, name), found, depth + 1)
        if v.__defaults__:
            dsrc = src.then("attr", "__defaults__", src.label)
            for k, d in enumerate(v.__defaults__):
                _visit(d, dsrc.then("item", k, f"default {k}"), found, depth + 1)
        if v.__kwdefaults__:
            ksrc = src.then("attr", "__kwdefaults__", src.label)
            for name, d in v.__kwdefaults__.items():
                _visit(d, ksrc.then("item", name, name), found, depth + 1)
        return
    if isinstance(v, types.MethodType):
        _visit(v.__self__, src.then("attr", "__self__", "self"), found, depth)
        _visit(v.__func__, src.then("attr", "__func__", src.label), found, depth)
        return
    if isinstance(v, types.BuiltinFunctionType) or isinstance(v, types.BuiltinMethodType):
        return
    if t is tuple or t is list:
        if len(v) > 256:
            return
        for k, item in enumerate(v):
            _visit(item, src.then("item", k, f"{src.label}[{k}]"), found, depth + 1)
        return
    if t is dict:
        if len(v) > 256:
            return
        for k, item in list(v.items()):
            _visit(item, src.then("item", k, f"{src.label}[{k!r}]"), found, depth + 1)
        return
    if getattr(v, "__dict__", None) is not None and type(v).__module__.split(".")[0] != "numpy":
        # a plain object (a dataclass, a callable class): its attributes and __call__
        d = getattr(v, "__dict__", None)
        if isinstance(d, dict) and len(d) <= 256:
            for name, item in list(d.items()):
                _visit(item, src.then("attr", name, f"{src.label}.{name}"), found, depth + 1)
        call = next((vars(k)["__call__"] for k in type(v).__mro__ if "__call__" in vars(k)),
                    None)
        if isinstance(call, types.FunctionType):
            _visit(call, src.then("attr", "__class__", src.label).then(
                "attr", "__call__", src.label), found, depth + 1)


def _global_names(code) -> list:
    """The global names ``code`` and the functions nested in it load."""
    names = list(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names.extend(_global_names(c))
    return names
