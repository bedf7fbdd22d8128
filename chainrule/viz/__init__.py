"""Pictures of autograd graphs, with no system binary: ``chainrule.viz.graph(y)``.

>>> d = chainrule.viz.graph(y, params={"x": x})   # doctest: +SKIP
>>> d.save("graph.svg")                            # or .html, .dot   # doctest: +SKIP

In a notebook the drawing shows itself (``_repr_svg_``).  Boxes: op nodes (blue, with
PyTorch's node name and the file:line that created them), leaves (green: name, shape,
dtype, requires_grad, and ``.grad`` with ``show_grad=True``), saved values (orange,
dashed), outputs (red), collapsed chains (purple, "Op ×N").  Edges carry the shape of
the cotangent that flows along them.  The layout is computed here in Python
(``chainrule.viz._layout``, a layered Sugiyama-style drawing).
"""

from __future__ import annotations

import contextlib
import gc
import os

from . import _layout, _model, _render

__all__ = ["Drawing", "graph"]


class Drawing:
    """A graph picture: ``.svg()``, ``.dot()``, ``.html()``, ``.save(path)``."""

    def __init__(self, model, title="chainrule autograd graph"):
        self.model = model
        self.title = title
        self._layout = None

    @property
    def nodes(self):
        """The boxes (:class:`~chainrule.viz._model.VNode`), in drawing order."""
        return self.model.nodes

    @property
    def edges(self):
        """The arrows (:class:`~chainrule.viz._model.VEdge`)."""
        return self.model.edges

    def layout(self) -> _layout.Layout:
        """Box centers and sizes and edge routes (computed once, on first use)."""
        if self._layout is None:
            m = self.model
            with _gc_paused():
                sizes = [_render.box_size(n.lines) for n in m.nodes]
                edges = [(e.src, e.dst) for e in m.edges]
                self._layout = _layout.layout(sizes, edges, [n.hint for n in m.nodes])
        return self._layout

    def svg(self) -> str:
        """A standalone SVG document."""
        return _render.svg(self.model, self.layout(), self.title)

    def dot(self) -> str:
        """Graphviz DOT text (needs no layout here)."""
        return _render.dot(self.model)

    def html(self) -> str:
        """An HTML page with the SVG inline."""
        return _render.html(self.svg(), self.title)

    def save(self, path) -> str:
        """Write the drawing; the format follows the extension (.svg, .html/.htm, .dot/.gv).
        Returns the path."""
        path = os.fspath(path)
        ext = os.path.splitext(path)[1].lower()
        if ext == ".svg":
            text = self.svg()
        elif ext in (".html", ".htm"):
            text = self.html()
        elif ext in (".dot", ".gv"):
            text = self.dot()
        else:
            raise ValueError(f"chainrule.viz: cannot tell the format of {path!r} from its "
                             f"extension; use .svg, .html or .dot")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def _repr_svg_(self) -> str:
        return self.svg()

    def __repr__(self) -> str:
        kinds = {}
        for n in self.model.nodes:
            kinds[n.kind] = kinds.get(n.kind, 0) + 1
        parts = ", ".join(f"{v} {k}" for k, v in kinds.items()) or "no boxes"
        hidden = f", {self.model.hidden} collapsed away" if self.model.hidden else ""
        return f"<chainrule.viz.Drawing: {parts}; {len(self.model.edges)} edges{hidden}>"


def graph(*outputs, params=None, show_saved=True, show_grad=False, max_nodes=2000,
          title="chainrule autograd graph") -> Drawing:
    """Draw the autograd graph that produced ``outputs``.

    Parameters
    ----------
    *outputs : Tensor
        The tensors whose history is drawn (``y``, or ``loss``, or several).
    params : dict, optional
        Names for tensors, ``name -> tensor``: e.g. ``dict(model.named_parameters())`` or
        ``{"x": x, "y": y}``.  Leaves, outputs and saved copies of them take these names.
    show_saved : bool
        Draw the arrays each node saved for backward (shape, dtype).
    show_grad : bool
        Show each leaf's ``.grad`` (after a backward): small tensors in full, larger
        ones as shape and norm.
    max_nodes : int
        Larger graphs are condensed: repeated chains become one "Op ×N" node, then only
        the part nearest the outputs is drawn.

    Returns
    -------
    Drawing
        With ``.svg()``, ``.dot()``, ``.html()`` and ``.save(path)``.
    """
    with _gc_paused():
        model = _model.build(outputs, params, show_saved, show_grad, max_nodes)
    return Drawing(model, title)


@contextlib.contextmanager
def _gc_paused():
    """Note [gc during drawing]: the walk of a large graph allocates a list or two per
    node, and each burst of allocations makes the cyclic collector traverse every live
    node again (half the time of a million-node walk).  Nothing here creates cycles, so
    the collector is paused while drawing and restored after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
