"""A small layered (Sugiyama-style) layout, in pure Python.

The four classic steps, each kept simple and near-linear so that a graph of a few
thousand boxes lays out in well under a second:

1. **Layering** by longest path from the sinks: a sink is on the bottom layer, every
   other node one layer above its highest successor.  Edges then point downwards.
2. **Dummy nodes** split an edge that spans several layers into one-layer segments, so
   long edges are routed between the boxes.  Their total is capped (Note [dummy
   budget]); edges beyond the cap are drawn straight.
3. **Crossing reduction** by barycenter sweeps, down then up, keeping the ordering with
   the fewest crossings (counted exactly with a Fenwick tree, O(E log V) per layer pair).
4. **Coordinates**: each layer is placed as close as possible to the barycenters of
   its neighbours subject to its order and the boxes' widths, which is an isotonic
   regression solved exactly by pool-adjacent-violators (O(n) per layer).  Sweeps
   alternate down and up.  Boxes in a layer never overlap by construction.

Note [dummy budget]: a leaf used at layer 1 and at layer 1000 needs 999 dummies for
one edge; a weight shared by every step of a long recurrence needs O(n²) in all.  The
shortest edges get dummies first, up to ``4 * n`` in total; the rest are drawn as
direct curves.
"""

from __future__ import annotations

import itertools
from collections import deque

__all__ = ["Layout", "layout"]

H_GAP = 24.0      # horizontal space between boxes in a layer
V_GAP = 46.0      # vertical space between layers (edge labels sit there)
MARGIN = 16.0
DUMMY_WIDTH = 8.0
SWEEPS = 6


class Layout:
    """Result of :func:`layout`: centers ``x``, ``y`` of each node (box ``w`` × ``h``),
    its ``layer``, and per edge the polyline ``points`` from source to target."""

    def __init__(self, x, y, w, h, layer, points, width, height):
        self.x = x
        self.y = y
        self.w = w
        self.h = h
        self.layer = layer
        self.points = points
        self.width = width
        self.height = height

    def box(self, i):
        """``(left, top, right, bottom)`` of node ``i``."""
        return (self.x[i] - self.w[i] / 2, self.y[i] - self.h[i] / 2,
                self.x[i] + self.w[i] / 2, self.y[i] + self.h[i] / 2)


def layout(sizes, edges, order_hint=None):
    """Lay out nodes ``0..n-1`` of sizes ``[(w, h)]`` with directed ``edges`` [(u, v)]
    drawn from ``u`` (above) to ``v`` (below).  The graph must be acyclic; ``order_hint``
    gives each node's initial rank inside its layer (e.g. the order of discovery)."""
    n = len(sizes)
    w = [float(s[0]) for s in sizes]
    h = [float(s[1]) for s in sizes]
    succ = [[] for _ in range(n)]
    for u, v in edges:
        succ[u].append(v)
    layer = _longest_path_layers(n, succ)
    n_layers = (max(layer) + 1) if n else 0
    hint = list(order_hint) if order_hint is not None else list(range(n))

    # dummy nodes: each segment of an edge is (a, b) with layer[b] == layer[a] + 1
    ids = list(range(n))                     # node id per position; dummies appended
    chains = []                              # per edge: the node ids it passes through
    budget = 4 * n + 64
    spans = sorted(range(len(edges)), key=lambda k: layer[edges[k][1]] - layer[edges[k][0]])
    for k in spans:
        u, v = edges[k]
        span = layer[v] - layer[u]
        if 1 < span <= budget + 1:
            budget -= span - 1
            path = [u]
            for lv in range(layer[u] + 1, layer[v]):
                d = len(ids)
                ids.append(d)
                layer.append(lv)
                w.append(DUMMY_WIDTH)
                h.append(0.0)
                hint.append(hint[u])
                path.append(d)
            path.append(v)
        else:
            path = [u, v]
        chains.append((k, path))
    total = len(ids)
    up = [[] for _ in range(total)]      # neighbours one layer above
    down = [[] for _ in range(total)]    # neighbours one layer below
    for _, path in chains:
        for a, b in itertools.pairwise(path):
            if layer[b] == layer[a] + 1:
                down[a].append(b)
                up[b].append(a)

    layers = [[] for _ in range(n_layers)]
    for i in sorted(range(total), key=lambda i: hint[i]):
        layers[layer[i]].append(i)
    layers = _reduce_crossings(layers, up, down, total)
    x = _assign_x(layers, up, down, w, total, is_dummy=lambda i: i >= n)

    # y: layer tops from the tallest box in each layer
    y = [0.0] * total
    top = MARGIN
    for nodes in layers:
        lh = max((h[i] for i in nodes), default=0.0)
        for i in nodes:
            y[i] = top + lh / 2
        top += lh + V_GAP
    height = top - V_GAP + MARGIN if layers else 2 * MARGIN
    left = min((x[i] - w[i] / 2 for i in range(total)), default=0.0)
    shift = MARGIN - left
    x = [xi + shift for xi in x]
    width = max((x[i] + w[i] / 2 for i in range(total)), default=0.0) + MARGIN

    points = [None] * len(edges)
    for k, path in chains:
        pts = []
        for j, i in enumerate(path):
            if j == 0:
                pts.append((x[i], y[i] + h[i] / 2))
            elif j == len(path) - 1:
                pts.append((x[i], y[i] - h[i] / 2))
            else:
                pts.append((x[i], y[i]))
        points[k] = pts
    _spread_ports(points, edges, x, w)
    return Layout(x[:n], y[:n], w[:n], h[:n], layer[:n], points, max(width, 2 * MARGIN),
                  height)


def _spread_ports(points, edges, x, w):
    """Edges leaving (or entering) one box start (end) at distinct points along its
    bottom (top) side, ordered by where they go (come from), so they do not cross there."""
    outs, ins = {}, {}
    for k, (u, v) in enumerate(edges):
        outs.setdefault(u, []).append(k)
        ins.setdefault(v, []).append(k)
    for group, end, nbr in ((outs, 0, 1), (ins, -1, -2)):
        for node, ks in group.items():
            if len(ks) < 2:
                continue
            ks.sort(key=lambda k: points[k][nbr][0])
            span = min(w[node] * 0.6, 14.0 * (len(ks) - 1))
            step = span / (len(ks) - 1)
            for j, k in enumerate(ks):
                points[k][end] = (x[node] - span / 2 + j * step, points[k][end][1])


def _longest_path_layers(n, succ):
    """Layer 0 at the top; a sink sits on the bottom layer, any other node one layer
    above its highest successor (iterative, reverse topological order)."""
    indeg = [0] * n
    for vs in succ:
        for v in vs:
            indeg[v] += 1
    queue = deque(i for i in range(n) if indeg[i] == 0)
    topo = []
    while queue:
        u = queue.popleft()
        topo.append(u)
        for v in succ[u]:
            indeg[v] -= 1
            if indeg[v] == 0:
                queue.append(v)
    if len(topo) < n:  # a cycle cannot come from autograd; place the rest anyway
        placed = set(topo)
        topo += [i for i in range(n) if i not in placed]
    rank = [0] * n  # distance from the bottom
    for u in reversed(topo):
        r = 0
        for v in succ[u]:
            r = max(r, rank[v] + 1)
        rank[u] = r
    top = max(rank, default=0)
    return [top - r for r in rank]


# ---- crossing reduction -------------------------------------------------------------

def _reduce_crossings(layers, up, down, total):
    pos = [0] * total
    for nodes in layers:
        for p, i in enumerate(nodes):
            pos[i] = p
    best = [list(nodes) for nodes in layers]
    best_count = _crossings(layers, down, pos)
    for sweep in range(SWEEPS):
        if best_count == 0:
            break
        if sweep % 2 == 0:
            order, nbrs = range(1, len(layers)), up
        else:
            order, nbrs = range(len(layers) - 2, -1, -1), down
        for lv in order:
            layers[lv] = _by_barycenter(layers[lv], nbrs, pos)
            for p, i in enumerate(layers[lv]):
                pos[i] = p
        count = _crossings(layers, down, pos)
        if count < best_count:
            best_count = count
            best = [list(nodes) for nodes in layers]
    return best


def _by_barycenter(nodes, nbrs, pos):
    """Sort a layer by the mean position of each node's neighbours in the fixed layer;
    a node without neighbours keeps its place."""
    keys = []
    for p, i in enumerate(nodes):
        ns = nbrs[i]
        if ns:
            keys.append((sum(pos[j] for j in ns) / len(ns), p, i))
        else:
            keys.append((float(p), p, i))
    keys.sort()
    return [i for _, _, i in keys]


def _crossings(layers, down, pos):
    """Edge crossings between consecutive layers (inversions, via a Fenwick tree)."""
    total = 0
    for lv in range(len(layers) - 1):
        nxt = len(layers[lv + 1])
        ends = []
        for i in layers[lv]:
            ends.extend(sorted(pos[j] for j in down[i]))
        if len(ends) < 2:
            continue
        tree = [0] * (nxt + 1)
        for seen, e in enumerate(ends):
            # count earlier ends strictly greater than e
            k, le = e + 1, 0
            while k > 0:
                le += tree[k]
                k -= k & -k
            total += seen - le
            k = e + 1
            while k <= nxt:
                tree[k] += 1
                k += k & -k
    return total


# ---- coordinates ----------------------------------------------------------------------

def _assign_x(layers, up, down, w, total, is_dummy):
    x = [0.0] * total
    for nodes in layers:
        cur = 0.0
        for j, i in enumerate(nodes):
            if j:
                cur += (w[nodes[j - 1]] + w[i]) / 2 + H_GAP
            x[i] = cur
    for sweep in range(2 * SWEEPS):
        if sweep % 2 == 0:
            order, nbrs = range(1, len(layers)), up
        else:
            order, nbrs = range(len(layers) - 2, -1, -1), down
        for lv in order:
            nodes = layers[lv]
            want, weight = [], []
            for i in nodes:
                ns = nbrs[i]
                if ns:
                    want.append(sum(x[j] for j in ns) / len(ns))
                    weight.append(4.0 if is_dummy(i) else 1.0)  # straight long edges
                else:
                    want.append(x[i])
                    weight.append(0.25)
            gaps = [(w[nodes[j - 1]] + w[nodes[j]]) / 2 + H_GAP for j in range(1, len(nodes))]
            for i, xi in zip(nodes, _place(want, weight, gaps)):
                x[i] = xi
    return x


def _place(want, weight, gaps):
    """Positions minimizing Σ weight·(x - want)² with x[j+1] - x[j] >= gaps[j]:
    shift by the cumulative gaps, then isotonic regression (pool adjacent violators)."""
    n = len(want)
    offset = [0.0] * n
    for j in range(1, n):
        offset[j] = offset[j - 1] + gaps[j - 1]
    blocks = []  # [mean, weight, count]
    for j in range(n):
        blocks.append([want[j] - offset[j], weight[j], 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks[-1]
            ws = w1 + w2
            blocks[-1] = [(m1 * w1 + m2 * w2) / ws, ws, c1 + c2]
    out = []
    for mean, _, count in blocks:
        out.extend([mean] * count)
    return [out[j] + offset[j] for j in range(n)]
