"""SVG, DOT and HTML text for a laid-out :class:`~chainrule.viz._model.Model`.

Boxes are sized from an estimate of the text width in a monospace font (the SVG asks
for one), so a label always fits its box; every text is XML-escaped.
"""

from __future__ import annotations

import itertools
import unicodedata

__all__ = ["FONT", "SIZES", "STYLES", "box_size", "dot", "html", "svg", "text_width"]

FONT = "DejaVu Sans Mono, Menlo, Consolas, Liberation Mono, monospace"
SIZES = {"title": 12.0, "sub": 10.0, "attr": 10.0}
CHAR_W = 0.62      # advance of a monospace glyph, in em (DejaVu Sans Mono: 0.602)
LINE_H = 1.35      # line height, in em
PAD_X, PAD_Y = 10.0, 6.0
LABEL_SIZE = 10.0

# kind: (fill, stroke, dash, corner radius, stroke width)
STYLES = {
    "op": ("#e8f0fe", "#3b5b92", "", 6, 1.2),
    "leaf": ("#dcf5e0", "#2f7d3c", "", 0, 1.4),
    "saved": ("#fff3dc", "#b7791f", "4 3", 10, 1.0),
    "output": ("#fde2e1", "#a33a3a", "", 0, 2.2),
    "collapsed": ("#ece3fa", "#6b4fa0", "", 6, 2.4),
    "more": ("#f2f2f2", "#888888", "2 3", 6, 1.0),
}
EDGE_STYLES = {  # kind: (stroke, dash, width)
    "data": ("#4a5568", "", 1.2),
    "saved": ("#b7791f", "4 3", 1.0),
    "output": ("#a33a3a", "", 1.8),
}


def text_width(text: str, size: float) -> float:
    """Estimated width of ``text`` at font ``size`` (wide East Asian glyphs count twice)."""
    n = 0.0
    for ch in text:
        n += 2.0 if unicodedata.east_asian_width(ch) in ("W", "F") else 1.0
    return n * CHAR_W * size


def box_size(lines):
    """``(width, height)`` of a box holding ``lines`` [(text, style)]."""
    w = max((text_width(t, SIZES[s]) for t, s in lines), default=0.0) + 2 * PAD_X
    h = sum(SIZES[s] * LINE_H for _, s in lines) + 2 * PAD_Y
    return max(w, 40.0), h


def _clean(text: str) -> str:
    """Drop characters XML 1.0 cannot hold (control characters, lone surrogates)."""
    out = []
    for ch in str(text):
        o = ord(ch)
        if o in (0x9, 0xA, 0xD) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD \
                or 0x10000 <= o <= 0x10FFFF:
            out.append(ch)
        else:
            out.append("\ufffd" if 0xD800 <= o <= 0xDFFF else " ")
    return "".join(out)


def _esc(text: str) -> str:
    text = _clean(text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def _f(v: float) -> str:
    return f"{v:.1f}"


def _path(points) -> str:
    """A smooth path through ``points``: cubic pieces with vertical tangents."""
    (x0, y0) = points[0]
    d = [f"M{_f(x0)},{_f(y0)}"]
    for (ax, ay), (bx, by) in itertools.pairwise(points):
        my = (ay + by) / 2
        d.append(f"C{_f(ax)},{_f(my)} {_f(bx)},{_f(my)} {_f(bx)},{_f(by)}")
    return " ".join(d)


def _edge_label(pts, label, kind, src_x) -> str:
    """The label at the middle of an edge's last segment, on the side the curve leaves
    free (a piece with vertical tangents passes its midpoint heading from ``a`` to ``b``);
    a saved value's label sits just under its box instead, away from the data edges that
    converge on the op."""
    (ax, ay), (bx, by) = pts[-2], pts[-1]
    mx, my = (ax + bx) / 2, (ay + by) / 2
    if kind == "saved":  # left of the box's center: label to the left, else right
        sx, sy = pts[0]
        left = sx < src_x - 1 or (abs(sx - src_x) <= 1 and pts[1][0] < sx)
        anchor = "end" if left else "start"
        lx, ly = (sx - 5 if left else sx + 5), sy + LABEL_SIZE + 1
    elif abs(bx - ax) < 2:
        anchor, lx, ly = "start", mx + 5, my + LABEL_SIZE * 0.35
    elif bx < ax:
        anchor, lx, ly = "end", mx - 4, my - 2
    else:
        anchor, lx, ly = "start", mx + 4, my - 2
    return (f'<text class="edge-label" x="{_f(lx)}" y="{_f(ly)}" font-size="{LABEL_SIZE:g}" '
            f'text-anchor="{anchor}" fill="#4a5568" stroke="#ffffff" stroke-width="3" '
            f'paint-order="stroke">{_esc(label)}</text>')


def svg(model, lay, title="chainrule autograd graph") -> str:
    """The drawing as a standalone SVG document."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_f(lay.width)}" '
         f'height="{_f(lay.height)}" viewBox="0 0 {_f(lay.width)} {_f(lay.height)}" '
         f'font-family="{_esc(FONT)}">'),
        f"<title>{_esc(title)}</title>",
        "<defs>",
    ]
    for kind, (stroke, _, _) in EDGE_STYLES.items():
        out.append(f'<marker id="arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" '
                   f'markerWidth="7" markerHeight="7" orient="auto">'
                   f'<path d="M0,0 L10,5 L0,10 z" fill="{stroke}"/></marker>')
    out.append("</defs>")
    out.append('<rect width="100%" height="100%" fill="#ffffff"/>')
    for k, e in enumerate(model.edges):
        stroke, dash, width = EDGE_STYLES[e.kind]
        pts = lay.points[k]
        src = model.nodes[e.src].lines[0][0]
        dst = model.nodes[e.dst].lines[0][0]
        out.append(f'<g class="edge edge-{e.kind}" id="e{k}" data-src="n{e.src}" '
                   f'data-dst="n{e.dst}">')
        out.append(f"<title>{_esc(src)} → {_esc(dst)}</title>")
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<path d="{_path(pts)}" fill="none" stroke="{stroke}" '
                   f'stroke-width="{width}"{dash_attr} marker-end="url(#arrow-{e.kind})"/>')
        if e.label:
            out.append(_edge_label(pts, e.label, e.kind, lay.x[e.src]))
        out.append("</g>")
    for i, node in enumerate(model.nodes):
        fill, stroke, dash, rx, sw = STYLES[node.kind]
        left, top, right, bottom = lay.box(i)
        out.append(f'<g class="node node-{node.kind}" id="n{i}">')
        tip = node.tip or node.kind
        out.append(f"<title>{_esc(tip)}</title>")
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<rect x="{_f(left)}" y="{_f(top)}" width="{_f(right - left)}" '
                   f'height="{_f(bottom - top)}" rx="{rx}" fill="{fill}" stroke="{stroke}" '
                   f'stroke-width="{sw}"{dash_attr}/>')
        if node.kind == "collapsed":  # a second outline: "many nodes here"
            out.append(f'<rect x="{_f(left + 3)}" y="{_f(top + 3)}" '
                       f'width="{_f(right - left - 6)}" height="{_f(bottom - top - 6)}" '
                       f'rx="{max(rx - 2, 0)}" fill="none" stroke="{stroke}" '
                       f'stroke-width="0.8"/>')
        y = top + PAD_Y
        cx = lay.x[i]
        for text, style in node.lines:
            size = SIZES[style]
            y += size * LINE_H
            weight = ' font-weight="bold"' if style == "title" else ""
            color = "#1a202c" if style != "sub" else "#5a6270"
            out.append(f'<text x="{_f(cx)}" y="{_f(y - size * 0.35)}" font-size="{size:g}" '
                       f'text-anchor="middle" fill="{color}"{weight}>{_esc(text)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


_DOT_SHAPES = {
    "op": 'shape=box, style="rounded,filled"',
    "leaf": 'shape=box, style="filled", penwidth=1.4',
    "saved": 'shape=box, style="rounded,filled,dashed"',
    "output": 'shape=box, style="filled", penwidth=2.2',
    "collapsed": 'shape=box3d, style="filled"',
    "more": 'shape=box, style="rounded,filled,dotted"',
}


def _dot_str(text: str) -> str:
    text = _clean(text).replace("\\", "\\\\").replace('"', '\\"')
    return text.replace("\n", " ").replace("\r", " ")


def dot(model) -> str:
    """The graph in Graphviz DOT (for ``dot -Tpng``; chainrule itself needs no Graphviz)."""
    out = ["digraph chainrule {",
           '  graph [rankdir=TB, fontname="monospace"];',
           '  node [fontname="monospace", fontsize=10];',
           '  edge [fontname="monospace", fontsize=9];']
    for i, node in enumerate(model.nodes):
        fill, stroke = STYLES[node.kind][:2]
        label = "\\n".join(_dot_str(t) for t, _ in node.lines)
        out.append(f'  n{i} [label="{label}", {_DOT_SHAPES[node.kind]}, fillcolor="{fill}", '
                   f'color="{stroke}", tooltip="{_dot_str(node.tip)}"];')
    for e in model.edges:
        stroke, dash, width = EDGE_STYLES[e.kind]
        attrs = [f'color="{stroke}"', f"penwidth={width}"]
        if dash:
            attrs.append("style=dashed")
        if e.label:
            attrs.append(f'label="{_dot_str(e.label)}"')
        out.append(f"  n{e.src} -> n{e.dst} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def html(svg_text: str, title="chainrule autograd graph") -> str:
    """A page showing the SVG (inline, so it needs no other file)."""
    body = svg_text.split("?>", 1)[1] if svg_text.startswith("<?xml") else svg_text
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{_esc(title)}</title>\n"
            "<style>body{margin:16px;font-family:sans-serif;background:#fafafa}"
            "svg{background:#fff;box-shadow:0 1px 4px #0002}</style>\n</head>\n<body>\n"
            f"<h1 style=\"font-size:16px\">{_esc(title)}</h1>\n{body.strip()}\n"
            "</body>\n</html>\n")
