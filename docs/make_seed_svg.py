"""Draw the founding example's autograd graph into ``docs/seed_graph.svg``.

The graph of shared/seed/000_9690b22d7bea17b5.txt: y = f(x) with
f(x1, x2) = (2 x1 + x2², x1² + 2 x2³), written into a zeros tensor element by element,
after ``y.backward(v)`` with v = (1, 2), so each leaf shows its ``.grad`` (vᵀJ = [6, 52]).

    python docs/make_seed_svg.py [OUT.svg]
"""

from __future__ import annotations

import os
import sys

import chainrule as torch
from chainrule import viz


def seed_graph():
    """The seed's x and y (after backward with v = (1, 2)) and the drawing."""
    x = torch.tensor([[1, 2]], requires_grad=True)
    y = torch.zeros(1, 2)
    y[0, 0] = 2 * x[0, 0] + x[0, 1] ** 2
    y[0, 1] = x[0, 0] ** 2 + 2 * x[0, 1] ** 3
    y.backward(torch.tensor([[1, 2]]), retain_graph=True)
    drawing = viz.graph(y, params={"x": x, "y": y}, show_grad=True,
                        title="chainrule: the founding example, y.backward(v = (1, 2))")
    return x, y, drawing


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "-h" in argv or "--help" in argv:
        print(__doc__.strip())
        return 0
    out = argv[0] if argv else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "seed_graph.svg")
    _, _, drawing = seed_graph()
    drawing.save(out)
    print(f"wrote {out}: {drawing}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
