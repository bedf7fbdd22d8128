"""From output tensors to a drawable graph: nodes (op, leaf, saved, output, collapsed,
more) with their text lines, and labelled edges.

The walk over ``next_functions`` is iterative (a graph may be a million nodes deep).
Graphs larger than ``max_nodes`` are condensed (Note [collapsing]).

Note [collapsing]: first, runs of three or more nodes of the same op that form a
simple chain (each node's only input comes from the next, which feeds nothing else)
become one "Op ×N" node; then runs of any ops; if the graph is still too large, only
the nodes nearest the outputs are kept and each cut is marked by a "… N more" node.

Note [edge shapes] is in ``_shapes.py``.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .._tensor import Tensor
from ..autograd import _describe as D
from ..autograd.node import AccumulateGrad
from ._shapes import in_shape as _in_shape
from ._shapes import infer as _infer_shapes
from ._shapes import saved_tuple

__all__ = ["Model", "VEdge", "VNode", "build"]

MIN_RUN = 3


class VNode:
    """A box in the drawing: ``kind`` is op, leaf, saved, output, collapsed or more;
    ``lines`` are ``(text, style)`` with style title, sub or attr; ``tip`` a tooltip."""

    __slots__ = ("hint", "kind", "lines", "tip")

    def __init__(self, kind, lines, tip="", hint=0):
        self.kind = kind
        self.lines = lines
        self.tip = tip
        self.hint = hint

    def __repr__(self) -> str:
        return f"VNode({self.kind}, {self.lines[0][0]!r})"


class VEdge:
    """An arrow from ``src`` (drawn above) to ``dst``; ``kind`` is data, saved or output."""

    __slots__ = ("dst", "kind", "label", "src")

    def __init__(self, src, dst, label="", kind="data"):
        self.src = src
        self.dst = dst
        self.label = label
        self.kind = kind


class Model:
    """The drawable graph, plus what was condensed away (``hidden`` node count)."""

    def __init__(self):
        self.nodes = []
        self.edges = []
        self.hidden = 0
        self.saved_ids = {}  # id(array) -> node index of its saved box

    def add(self, node) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1


# ---- walk ---------------------------------------------------------------------------------

def _walk(roots):
    """Every node reachable from ``roots``, breadth first (the list of nodes is its own
    queue), with the children of each (indices, distinct, in input order)."""
    index = {}
    nodes = []
    for r in roots:
        if r is not None and r not in index:
            index[r] = len(nodes)
            nodes.append(r)
    kids = []
    i = 0
    while i < len(nodes):
        ks = []
        for c in nodes[i]._next:
            if c is None:
                continue
            j = index.get(c)
            if j is None:
                j = index[c] = len(nodes)
                nodes.append(c)
            if j not in ks:
                ks.append(j)
        kids.append(ks)
        i += 1
    return nodes, kids, index


def _parents(nodes, kids, index):
    """``(parent index, input position)`` pairs of each node."""
    parents = [[] for _ in nodes]
    for i, n in enumerate(nodes):
        for pos, c in enumerate(n._next):
            if c is not None:
                parents[index[c]].append((i, pos))
    return parents


# ---- condensing -------------------------------------------------------------------------

def _condense(members, ukids, leafy, roots, key):
    """Merge simple chains (each link: a node's only child, which has no other parent
    and is not an output) of at least MIN_RUN units with equal ``key`` (any if None)."""
    n = len(members)
    nparents = [0] * n
    for ks in ukids:
        for k in ks:
            nparents[k] += 1
    for r in roots:
        nparents[r] += 1
    link = {}
    for i in range(n):
        if leafy[i] or len(ukids[i]) != 1:
            continue
        c = ukids[i][0]
        if not leafy[c] and nparents[c] == 1 and (key is None or key[c] == key[i]):
            link[i] = c
    targets = set(link.values())
    unit_of = list(range(n))
    runs = []
    for head in link:
        if head in targets:
            continue
        run = [head]
        while run[-1] in link:
            run.append(link[run[-1]])
        if len(run) >= MIN_RUN:
            runs.append(run)
            for u in run:
                unit_of[u] = head
    if not runs:
        return members, ukids, leafy, roots, 0
    new_id = {}
    order = []
    for i in range(n):
        u = unit_of[i]
        if u not in new_id:
            new_id[u] = len(order)
            order.append(u)
    run_of = {run[0]: run for run in runs}
    m2, k2, l2 = [], [], []
    for u in order:
        run = run_of.get(u, [u])
        m2.append([m for r in run for m in members[r]])
        ks = []
        for k in ukids[run[-1]]:
            nk = new_id[unit_of[k]]
            if nk not in ks:
                ks.append(nk)
        k2.append(ks)
        l2.append(leafy[u])
    return m2, k2, l2, [new_id[unit_of[r]] for r in roots], len(runs)


def _truncate(members, ukids, roots, limit):
    """Keep the ``limit`` units nearest the outputs (breadth first)."""
    keep = {}
    queue = deque()
    for r in roots:
        if r not in keep:
            keep[r] = len(keep)
            queue.append(r)
    while queue and len(keep) < limit:
        u = queue.popleft()
        for k in ukids[u]:
            if k not in keep and len(keep) < limit:
                keep[k] = len(keep)
                queue.append(k)
    return keep


# ---- labels --------------------------------------------------------------------------------

def _clip(text, limit=60) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _tensor_desc(t) -> str:
    return f"{D.fmt_shape(t._data.shape)} {str(t.dtype).replace('torch.', '')}"


def _op_lines(node):
    lines = [(node.name(), "title")]
    site = D.short_site(node)
    if site:
        lines.append((site, "sub"))
    fn = getattr(node, "_fn", None)
    if fn is not None and getattr(node, "_steps", None) is not None:
        lines.append((_clip(f"{fn.name()} into base" + D.steps_text(node._steps)), "attr"))
        node = fn
    op = getattr(type(node), "op", None)
    if op is not None and op.name in ("getitem", "index") and node._params:
        lines.append((_clip(f"key [{D.format_key(node._params[0])}]"), "attr"))
    saved = getattr(node, "_saved", ())
    if getattr(node._extra, "packed", None) is not None:
        lines.append(("saved values packed by hooks", "attr"))
    elif saved is None:
        lines.append(("saved values freed", "attr"))
    elif type(saved) is tuple and op is not None and len(saved) == len(node._next) + 1:
        names = D.role_names(node)
        for pos, v in enumerate(saved):
            if isinstance(v, (int, float, np.generic)) and not isinstance(v, bool):
                lines.append((_clip(f"{names[pos]} = {D.fmt_num(v)}"), "attr"))
            elif type(v) is np.ndarray and v.ndim == 0 and node._next[pos] is None:
                lines.append((_clip(f"{names[pos]} = {D.fmt_num(v.item())}"), "attr"))
    return lines


def _leaf_lines(node, names, show_grad):
    t = node.variable
    if t is None:
        return [("leaf (freed)", "title"), ("AccumulateGrad", "sub")]
    name = names.get(id(t))
    lines = [(_clip(name) if name else "leaf", "title"), (_tensor_desc(t), "sub"),
             (f"requires_grad={t._rg}", "attr")]
    if show_grad:
        g = t._grad
        if g is None:
            lines.append(("grad None", "attr"))
        else:
            text = D.fmt_array(g._data)
            if len(text) <= 56:
                lines.append((f"grad {text}", "attr"))
            elif g._data.size <= D.SMALL and g._data.ndim >= 2:
                lines.append(("grad", "attr"))
                for row in g._data.reshape(-1, g._data.shape[-1]):
                    lines.append((_clip("  " + D.fmt_array(row)), "attr"))
            else:
                norm = float(np.linalg.norm(g._data.astype(np.float64).ravel()))
                lines.append((f"grad {D.fmt_shape(g._data.shape)} norm {D.fmt_num(norm)}",
                              "attr"))
    return lines


def _group_lines(group):
    counts = {}
    for n in group:
        counts[n.name()] = counts.get(n.name(), 0) + 1
    if len(counts) == 1:
        title = f"{group[0].name()} ×{len(group)}"
    else:
        title = f"{len(group)} ops in a chain"
    lines = [(title, "title")]
    first, last = D.short_site(group[-1]), D.short_site(group[0])
    if first:
        lines.append((first if first == last else f"{first} … {last}", "sub"))
    if len(counts) > 1:
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:3]
        lines.append((_clip(", ".join(f"{k} ×{v}" for k, v in top)
                            + (", …" if len(counts) > 3 else "")), "attr"))
    return lines


# ---- build -------------------------------------------------------------------------------

def build(outputs, params=None, show_saved=True, show_grad=False, max_nodes=2000):
    """The :class:`Model` of the graph behind ``outputs`` (tensors)."""
    outs = []
    for t in outputs:
        if isinstance(t, (list, tuple)):
            outs.extend(t)
        else:
            outs.append(t)
    for t in outs:
        if not isinstance(t, Tensor):
            raise TypeError(f"chainrule.viz.graph: expected Tensors, got {type(t).__name__}")
    names = {}
    data_names = {}
    for name, t in (params or {}).items():
        if isinstance(t, Tensor):
            names.setdefault(id(t), str(name))
            data_names.setdefault(id(t._data), str(name))
    root_nodes = []
    for t in outs:
        gf = t.grad_fn  # refreshes views
        root_nodes.append(gf if gf is not None else t._node)
    nodes, kids, index = _walk([r for r in root_nodes if r is not None])

    members = [[i] for i in range(len(nodes))]
    ukids = kids
    leafy = [type(n) is AccumulateGrad or not n._next for n in nodes]
    roots = sorted({index[r] for r in root_nodes if r is not None})
    model = Model()
    if len(members) > max_nodes:
        key = [type(n).__name__ for n in nodes]
        members, ukids, leafy, roots, _ = _condense(members, ukids, leafy, roots, key)
    if len(members) > max_nodes:
        members, ukids, leafy, roots, _ = _condense(members, ukids, leafy, roots, None)
    keep = _truncate(members, ukids, roots, max_nodes) if len(members) > max_nodes else None

    known = {}
    for t, r in zip(outs, root_nodes):
        if r is not None:
            known.setdefault(r, tuple(t._data.shape))
    if len(nodes) <= 200_000:
        _infer_shapes(nodes, kids, _parents(nodes, kids, index), known)

    unit_v = {}
    kept = range(len(members)) if keep is None else sorted(keep, key=keep.get)
    for u in kept:
        group = [nodes[i] for i in members[u]]
        head = group[0]
        if len(group) > 1:
            v = VNode("collapsed", _group_lines(group), f"{len(group)} nodes collapsed", u)
        elif type(head) is AccumulateGrad:
            v = VNode("leaf", _leaf_lines(head, names, show_grad), "AccumulateGrad", u)
        else:
            v = VNode("op", _op_lines(head), D.formula(head), u)
        unit_v[u] = model.add(v)
    model.hidden = len(nodes) - sum(len(members[u]) for u in unit_v)
    for u, vu in unit_v.items():  # a leaf's own array, saved, is drawn from the leaf box
        head = nodes[members[u][0]]
        if type(head) is AccumulateGrad and head.variable is not None:
            model.saved_ids.setdefault(id(head.variable._data), vu)

    for u, vu in list(unit_v.items()):
        tail = nodes[members[u][-1]]
        cut = 0
        for k in ukids[u]:
            vk = unit_v.get(k)
            if vk is None:
                cut += len(members[k])
                continue
            head_k = nodes[members[k][0]]
            positions = [i for i, c in enumerate(tail._next) if c is head_k]
            shape = _in_shape(tail, positions[0], known) if positions else None
            if shape is None:
                shape = known.get(head_k)
            label = "" if shape is None else D.fmt_shape(shape)
            if len(positions) > 1:
                label = (label + f" ×{len(positions)}").strip()
            model.edges.append(VEdge(vk, vu, label, "data"))
        if cut:
            more = model.add(VNode(
                "more", [(f"… {cut} more node{'s' if cut > 1 else ''} below", "title")],
                f"not drawn: {model.hidden} nodes in all (the graph is larger than "
                f"max_nodes={max_nodes})", u))
            model.edges.append(VEdge(more, vu, "", "data"))
        if show_saved and len(members[u]) == 1:
            _add_saved(model, nodes[members[u][0]], vu, data_names, u)

    unit_of = {}
    for u in unit_v:
        for i in members[u]:
            unit_of[i] = u
    for j, (t, r) in enumerate(zip(outs, root_nodes)):
        name = names.get(id(t)) or ("output" if len(outs) == 1 else f"output {j}")
        lines = [(_clip(name), "title"), (_tensor_desc(t), "sub")]
        if r is None:
            lines.append(("does not require grad", "attr"))
        u = unit_of.get(index[r]) if r is not None else None
        vo = model.add(VNode("output", lines, "output tensor", -1 if u is None else u))
        if u is not None:
            model.edges.append(VEdge(unit_v[u], vo, D.fmt_shape(t._data.shape), "output"))
    return model


def _add_saved(model, node, vnode, data_names, hint):
    """Boxes for the arrays a node saved (one box per array, shared between nodes)."""
    if getattr(node, "_steps", None) is not None and getattr(node, "_fn", None) is not None:
        node = node._fn
    saved = saved_tuple(node)
    if saved is None or getattr(type(node), "op", None) is None:
        return
    names = D.role_names(node)
    seen = model.saved_ids
    for pos, v in enumerate(saved):
        if type(v) is not np.ndarray:
            continue
        if v.ndim == 0 and node._next[pos] is None:
            continue  # a constant operand: shown on the op's box
        key = id(v)
        vs = seen.get(key)
        if vs is None:
            owner = data_names.get(key)
            base = data_names.get(id(v.base)) if v.base is not None else None
            title = (f"saved {owner}" if owner else f"saved (view of {base})" if base
                     else "saved")
            lines = [(title, "title"), (f"{D.fmt_shape(v.shape)} {v.dtype}", "sub")]
            if v.size <= 4:
                lines.append((_clip(D.fmt_array(v)), "attr"))
            vs = seen[key] = model.add(VNode("saved", lines, "saved for backward", hint))
        label = names[pos] if model.nodes[vs].kind == "saved" else f"saved {names[pos]}"
        model.edges.append(VEdge(vs, vnode, label, "saved"))
