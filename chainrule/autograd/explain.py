"""``explain(y, v)``: the backward pass of ``y.backward(v)`` told node by node.

For each node, in the order backward runs them (decreasing sequence number, Note
[topological order] in engine.py), it prints the op and where it was created, its local
derivative (the op table's formula, specialized to the call: ``d/dx x**3 = 3*x**2``),
the cotangent arriving and the cotangents sent to each input, with the numbers for
tensors of at most ten elements.  A summary writes each leaf's gradient as the
vector-Jacobian product of the founding example: ``x.grad += vᵀJ = 1·[2, 4] + 2·[2, 24]
= [6, 52]``, the rows of J coming from one batched pass (every rule accepts cotangents
with a leading batch dim, as ``autograd.grad(..., is_grads_batched=True)`` uses them).

Note [explain does not touch the graph]: the passes here call each node's own rules
(``node.apply``, exactly what the engine runs) on copies of the cotangents, keep every
saved value (retain semantics), write no ``.grad``, and run no hooks (a hook may have
side effects; a node that has hooks is flagged in the text).  After ``explain`` a
``backward`` gives what it would have given before.
"""

from __future__ import annotations

import heapq
import re
import sys

import numpy as np

from .. import _tensor as T
from .._grad_mode import no_grad
from ..backend.numpy_backend import RAW
from . import _describe as D
from .node import AccumulateGrad

__all__ = ["explain"]


def explain(y, gradient=None, file=None, params=None) -> str:
    """Print how ``y.backward(gradient)`` propagates its cotangent, and return the text.

    Parameters
    ----------
    y : Tensor or sequence of Tensors
        The output(s) backward would start from.
    gradient : Tensor, array or sequence, optional
        The vector ``v`` of ``y.backward(v)`` (one per output; ``None`` for a
        one-element output, meaning 1).
    file : file object, optional
        Where to print (``sys.stdout`` by default).
    params : dict, optional
        Names for tensors (``{"x": x}``, ``dict(model.named_parameters())``); by default
        the names the caller's local variables give them.

    Returns
    -------
    str
        The explanation, as printed.
    """
    from . import _root_grads
    outputs = [y] if isinstance(y, T.Tensor) else list(y)
    if gradient is None:
        grads = None
    elif isinstance(gradient, T.Tensor) or len(outputs) == 1:
        grads = [gradient]
    else:
        grads = list(gradient)
    roots = [(node, np.array(g, copy=True)) for node, g in
             _root_grads(outputs, grads, "explain")]
    names = _names(params, sys._getframe(1))
    for j, t in enumerate(outputs):
        names.setdefault(id(t), "y" if len(outputs) == 1 else f"y{j}")

    records = _propagate(roots, RAW)
    unnamed = [n.variable for n, _, _, outs in records if outs is None
               and n.variable is not None and id(n.variable) not in names]
    for k, t in enumerate(unnamed):
        names[id(t)] = "leaf" if len(unnamed) == 1 else f"leaf{k}"
    lines = _header(outputs, roots, names)
    for node, g, contribs, outs in records:
        lines.extend(_describe_node(node, g, contribs, outs, names))
    lines.extend(_summary(outputs, roots, records, names))
    text = "\n".join(lines)
    print(text, file=sys.stdout if file is None else file)
    return text


def _names(params, frame):
    """id(tensor) → name, from ``params`` or else from the caller's local variables."""
    names = {}
    if params:
        for name, t in params.items():
            if isinstance(t, T.Tensor):
                names.setdefault(id(t), str(name))
    else:
        for name, val in list(frame.f_locals.items()):
            if isinstance(val, T.Tensor) and not name.startswith("_"):
                names.setdefault(id(val), name)
    del frame
    return names


# ---- the passes -----------------------------------------------------------------------

def _propagate(roots, xp):
    """Run every node's rules from ``roots`` [(node, g)], in the engine's order, without
    freeing anything (Note [explain does not touch the graph]).  Returns, per node run,
    ``(node, g in, [(from node, g)], [(to node, g)])``; ``to`` is ``None`` for a leaf."""
    buffers, incoming, heap = {}, {}, []
    for node, g in roots:
        incoming.setdefault(node, []).append((None, g))
        if node in buffers:
            buffers[node] = buffers[node] + g
        else:
            buffers[node] = g
            heapq.heappush(heap, (-node._seq, id(node), node))
    records = []
    with no_grad():
        while heap:
            node = heapq.heappop(heap)[2]
            g = buffers.pop(node)
            if type(node) is AccumulateGrad:
                records.append((node, g, incoming.pop(node), None))
                continue
            grads = node.apply(xp, g)
            outs = []
            for child, gi in zip(node._next, grads):
                if child is None or gi is None:
                    continue
                outs.append((child, gi))
                incoming.setdefault(child, []).append((node, gi))
                if child in buffers:
                    buffers[child] = buffers[child] + gi
                else:
                    buffers[child] = gi
                    heapq.heappush(heap, (-child._seq, id(child), child))
            records.append((node, g, incoming.pop(node), outs))
    return records


def _jacobian_rows(outputs, roots):
    """Per leaf node, J as an (m, n) array (m output elements, n leaf elements), from
    one batched pass with the m×m identity as the batch of cotangents."""
    sizes = [int(t._data.size) for t in outputs]
    m = sum(sizes)
    batched, off = [], 0
    for (node, g), k in zip(roots, sizes):
        e = np.zeros((m,) + g.shape, g.dtype)
        e.reshape(m, -1)[off:off + k] = np.eye(k, dtype=g.dtype)
        batched.append((node, e))
        off += k
    rows = {}
    for node, g, _, outs in _propagate(batched, RAW.with_nb(1)):
        if outs is None and node.variable is not None:
            shape = (m,) + tuple(node.variable._data.shape)
            rows[node] = np.broadcast_to(g, shape).reshape(m, -1)
    return rows


# ---- text -----------------------------------------------------------------------------

def _tname(node, names) -> str:
    """How a node is referred to: ``#12 MulBackward0``, ``#5 AccumulateGrad (x)``."""
    text = f"#{node._seq} {node.name()}"
    if type(node) is AccumulateGrad:
        text += f" ({_leaf_name(node, names)})"
    return text


def _leaf_name(node, names) -> str:
    t = node.variable
    if t is None:
        return "a freed leaf"
    return names.get(id(t)) or f"leaf {list(t._data.shape)}"


def _val(a) -> str:
    return D.fmt_array(a)


def _header(outputs, roots, names):
    vs = "; ".join(_val(g) for _, g in roots)
    if len(outputs) == 1:
        call = f"{names[id(outputs[0])]}.backward(v) with v = {vs}"
    else:
        which = ", ".join(names[id(t)] for t in outputs)
        call = f"autograd.backward([{which}], v) with v = {vs}"
    return [
        f"explain: {call}, node by node",
        "  nodes in the order backward runs them (decreasing sequence number #);",
        "  g is the cotangent arriving at a node: vᵀ times the Jacobian of the output",
        "  with respect to that node's result; each node sends g times its local",
        "  derivative on to its inputs.",
        "",
    ]


def _describe_node(node, g, contribs, outs, names):
    lines = []
    site = D.short_site(node)
    lines.append(_tname(node, names) + (f"   created at {site}" if site else ""))
    lines.append("    " + _operand_names(D.formula(node)))
    extra = node._extra
    if extra is not None and (extra.pre_hooks or extra.hooks
                              or getattr(extra, "post_acc_hooks", None)):
        lines.append("    (this node has hooks; explain does not run them)")
    lines.extend(_incoming(g, contribs, names))
    if outs is None:
        t = node.variable
        if t is not None:
            shown = np.broadcast_to(g, t._data.shape) if g.shape != t._data.shape else g
            lines.append(f"    {_leaf_name(node, names)}.grad += {_val(shown)}")
        lines.append("")
        return lines
    local = _local_derivatives(node)
    for text in local:
        lines.append("    " + text)
    width = max((len(_tname(c, names)) for c, _ in outs), default=0)
    for child, gi in outs:
        lines.append(f"    -> {_tname(child, names).ljust(width)}   {_val(gi)}")
    lines.append("")
    return lines


def _incoming(g, contribs, names):
    if len(contribs) == 1:
        src = contribs[0][0]
        whence = "v, the gradient passed to backward" if src is None else \
            f"from {_tname(src, names)}"
        return [f"    g = {_val(g)}   ({whence})"]
    lines = [f"    g = sum of {len(contribs)} incoming cotangents:"]
    for src, gi in contribs:
        whence = "v" if src is None else _tname(src, names)
        lines.append(f"          {_val(gi)}   from {whence}")
    lines.append(f"      = {_val(g)}")
    return lines


def _local_derivatives(node):
    """For an elementwise row on small values: the partial derivatives at this point."""
    op = getattr(type(node), "op", None)
    saved = node._saved
    if op is None or op.partials is None or not saved or len(saved) != len(node._next) + 1:
        return []
    if any(type(v) is np.ndarray and v.size > D.SMALL for v in saved):
        return []
    names = ["x", "y", "z"][:len(node._next)]
    out = []
    with no_grad():
        for i, need in enumerate(node._needs):
            if not need or i >= len(op.partials) or node._next[i] is None:
                continue
            d = op.partials[i](RAW, *saved)
            wrt = names[i] if i < len(names) else f"input {i}"
            out.append(f"local derivative d out/d {_NAMES.get(wrt, wrt)} = {_val(d)}")
    return out


def _summary(outputs, roots, records, names):
    leaves = [(node, g) for node, g, _, outs in records if outs is None
              and node.variable is not None]
    if not leaves:
        return ["No leaf that requires grad is reached: backward would change no .grad."]
    lines = ["Summary: backward(v) adds the vector-Jacobian product vᵀJ to each leaf's .grad"]
    m = sum(int(t._data.size) for t in outputs)
    v = np.concatenate([g.reshape(-1) for _, g in roots]).astype(np.float64)
    rows = _jacobian_rows(outputs, roots) if m <= D.SMALL else {}
    out_labels = [lab for t in outputs for lab in _element_labels(names[id(t)], t._data.shape)]
    for node, g in leaves:
        t = node.variable
        name = _leaf_name(node, names)
        total = np.broadcast_to(g, t._data.shape)
        J = rows.get(node)
        if J is None:
            lines.append(f"  {name}.grad += {_val(total)}")
            continue
        if J.shape[1] <= D.SMALL:
            cols = _element_labels(name, t._data.shape)
            outs = ", ".join(dict.fromkeys(names[id(o)] for o in outputs))
            lines.append(f"  J = d({outs})/d{name}: rows {', '.join(out_labels)}; "
                         f"columns {', '.join(cols)}")
            lines.append(f"      {D.fmt_array(J, limit=J.size)}")  # rows of <= 10 each
            terms = _terms(v, J)
            lines.append(f"  {name}.grad += vᵀJ = {terms} = {_val(total.reshape(-1))}")
        else:
            lines.append(f"  {name}.grad += vᵀJ = {_val(total)}   (J is {m}×{J.shape[1]})")
    return lines


def _terms(v, J) -> str:
    """``1·[2, 4] + 2·[2, 24]`` (a negative coefficient is written ``- 2·[...]``)."""
    out = []
    for i, c in enumerate(v):
        row = _val(J[i])
        if not out:
            out.append(f"{D.fmt_num(c)}·{row}")
        elif c < 0:
            out.append(f"- {D.fmt_num(-c)}·{row}")
        else:
            out.append(f"+ {D.fmt_num(c)}·{row}")
    return " ".join(out)


def _element_labels(name, shape):
    if len(shape) == 0:
        return [name]
    return [f"{name}[{', '.join(map(str, idx))}]" for idx in np.ndindex(*shape)]


_OPERAND = re.compile(r"(?<![A-Za-z_])(d?)([xyz])(?![A-Za-z_0-9])")
_NAMES = {"x": "a", "y": "b", "z": "c"}


def _operand_names(text: str) -> str:
    """The op table writes operands as x, y, z; the user's own variables are often named
    so too (``y = f(x)``), so the explanation calls them a, b, c (``d(a + b) = da + db``)."""
    return _OPERAND.sub(lambda m: m.group(1) + _NAMES[m.group(2)], text)
