"""Readable text for graph nodes and values, shared by ``explain()`` and ``chainrule.viz``.

Nothing here runs a rule or changes a node: it only reads a node's class, op row,
``_saved``, ``_params`` and creation site, and formats numbers and shapes.
"""

from __future__ import annotations

import math
import os

import numpy as np

from .node import AccumulateGrad, describe_site

__all__ = [
    "SMALL",
    "fmt_array",
    "fmt_num",
    "fmt_shape",
    "format_key",
    "formula",
    "role_names",
    "short_site",
    "steps_text",
]

SMALL = 10  # tensors with at most this many elements are shown in full


def fmt_num(v) -> str:
    """``6.0`` → ``6``, ``0.5`` → ``0.5``, ``1/3`` → ``0.333333``: short, exact when it can."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (complex, np.complexfloating)):
        return str(complex(v))
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6g}"


def fmt_array(a, limit: int = SMALL) -> str:
    """Nested-list text of a small array (``[[6, 52]]``); shape and norm when larger."""
    a = np.asarray(a)
    if a.size > limit:
        norm = float(np.linalg.norm(a.astype(np.float64).ravel())) if a.size else 0.0
        return f"<{fmt_shape(a.shape)} {a.dtype}, norm {fmt_num(norm)}>"
    if a.ndim == 0:
        return fmt_num(a.item())
    return _nested(a.tolist())


def _nested(x) -> str:
    if isinstance(x, list):
        return "[" + ", ".join(_nested(e) for e in x) + "]"
    return fmt_num(x)


def fmt_shape(shape) -> str:
    """``(1, 2)``, ``(3,)`` and ``()`` as in NumPy."""
    shape = tuple(int(s) for s in shape)
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def short_site(node) -> str:
    """``'seed.py:6'`` for where the user created ``node`` ('' when unknown)."""
    site = getattr(node, "_site", None)
    if site is None:
        return ""
    full = describe_site(site)  # 'path:line in fn'
    where = full.rsplit(" in ", 1)[0]
    path, _, line = where.rpartition(":")
    return f"{os.path.basename(path) or path}:{line}"


def format_key(key) -> str:
    """An indexing key as the user wrote it: ``(0, 1, Ellipsis)`` → ``0, 1``."""
    if not isinstance(key, tuple):
        key = (key,)
    parts = [_key_part(k) for k in key]
    while parts and parts[-1] == "...":
        parts.pop()
    return ", ".join(parts) if parts else "..."


def _key_part(k) -> str:
    if k is Ellipsis:
        return "..."
    if k is None:
        return "None"
    if isinstance(k, slice):
        a = "" if k.start is None else str(k.start)
        b = "" if k.stop is None else str(k.stop)
        return f"{a}:{b}" + ("" if k.step is None else f":{k.step}")
    if isinstance(k, (int, np.integer)):
        return str(int(k))
    arr = np.asarray(k)
    if arr.dtype == bool:
        return f"mask{fmt_shape(arr.shape)}"
    if arr.size <= 4:
        return _nested(arr.tolist())
    return f"index{fmt_shape(arr.shape)}"


def role_names(node):
    """Names of the positions of ``node._saved`` as PyTorch names saved tensors:
    ``self``, ``other`` (or ``input i``), then ``result``."""
    n_in = len(node._next)
    if n_in == 1:
        names = ["self"]
    elif n_in == 2:
        names = ["self", "other"]
    else:
        names = [f"input {i}" for i in range(n_in)]
    return names + ["result"]


def _const(node, i):
    """The Python number at input ``i`` of a binary node, when that input is a constant
    the rules kept (``2`` in ``x ** 2``); ``None`` otherwise."""
    saved = node._saved
    if node._next[i] is not None or not saved or i >= len(saved):
        return None
    v = saved[i]
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return v.item()
    return None


def _binary_formula(node):
    """Specialized formulas for a binary op with one constant operand (``d/dx x**3 =
    3*x**2`` instead of the general two-variable rule)."""
    name = node.op.name
    if len(node._next) != 2 or name not in ("add", "sub", "mul", "div", "pow"):
        return None
    a, b = node._next
    if a is not None and b is None:  # x op c
        c = _const(node, 1)
        cs = "c" if c is None else fmt_num(c)
        if name == "pow":
            if c is None:
                return "d/dx x**c = c*x**(c-1)"
            if c == 0:
                return "d/dx x**0 = 0"
            if c == 1:
                return "d/dx x**1 = 1"
            if c == 2:
                return "d/dx x**2 = 2*x"
            return f"d/dx x**{cs} = {cs}*x**{fmt_num(c - 1)}"
        return {"add": f"d/dx (x + {cs}) = 1", "sub": f"d/dx (x - {cs}) = 1",
                "mul": f"d/dx (x * {cs}) = {cs}", "div": f"d/dx (x / {cs}) = 1/{cs}"}[name]
    if a is None and b is not None:  # c op y
        c = _const(node, 0)
        cs = "c" if c is None else fmt_num(c)
        return {"add": f"d/dy ({cs} + y) = 1", "sub": f"d/dy ({cs} - y) = -1",
                "mul": f"d/dy ({cs} * y) = {cs}", "div": f"d/dy ({cs} / y) = -{cs}/y**2",
                "pow": f"d/dy {cs}**y = {cs}**y * log({cs})"}[name]
    return None


# formulas that read better in words than the op table's short form
_BETTER = {
    "add": "d(x + y) = dx + dy: g passes unchanged to both inputs",
    "sub": "d(x - y) = dx - dy: g to x, -g to y",
    "mul": "d(x * y) = y dx + x dy: g*y to x, g*x to y",
    "div": "d(x / y) = dx/y - x/y**2 dy: g/y to x, -g*x/y**2 to y",
    "pow": "d(x**y) = y*x**(y-1) dx + x**y*log(x) dy",
    "neg": "d/dx (-x) = -1: -g passes to x",
}


def formula(node) -> str:
    """The local derivative of ``node`` in words (specialized to the call when the row's
    general formula reads badly there)."""
    if type(node) is AccumulateGrad:
        return "AccumulateGrad: adds g into the leaf's .grad"
    fn = getattr(node, "_fn", None)
    if fn is not None and getattr(node, "_steps", None) is not None:  # CopySlices
        where = steps_text(node._steps)
        if getattr(fn.op, "name", None) == "copy":
            return (f"base{where} = value, written in place: g{where} goes to the value; "
                    f"the rest of g to the earlier base (0 at {where})")
        return (f"base{where} changed in place by {fn.name()} ({formula(fn)}): g{where} "
                f"goes through that rule; the rest of g passes to the base unchanged")
    op = getattr(node, "op", None)
    if op is None:
        doc = (type(node).__doc__ or "").strip().splitlines()
        return doc[0] if doc else f"{node.name()}: a custom backward"
    name = op.name
    if name in ("getitem", "index") and node._params:
        k = format_key(node._params[0])
        return f"out = x[{k}]: g is written into zeros of x's shape at [{k}]"
    special = _binary_formula(node)
    if special is not None:
        return special
    if name in _BETTER:
        return _BETTER[name]
    if op.formula:
        return op.formula
    if not op.differentiable:
        return f"{name} is not differentiable (no gradient flows)"
    return f"{name}: see chainrule.ops ({op.kind} rule)"


def steps_text(steps) -> str:
    parts = []
    for op, params in steps:
        if op.name in ("getitem", "index") and params:
            parts.append(f"[{format_key(params[0])}]")
        else:
            parts.append(f".{op.name}(...)")
    return "".join(parts)
