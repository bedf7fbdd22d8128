"""``CopySlices``: the grad_fn an in-place op through a view leaves on the base."""

from __future__ import annotations

from ..autograd.node import Node
from ..backend._replay import assign_view, replay_raw


class CopySlices(Node):
    """An in-place op applied through a view, seen from the base: the view's region of
    the base's cotangent goes through the op's node, the rest passes unchanged."""

    __slots__ = ("_fn", "_steps")

    def __init__(self, base, fn: Node, steps):
        needs = (base._rg,) + fn._needs[1:]
        Node.__init__(self, (base._node,) + fn._next[1:], (), (), (), needs, fn._site)
        self._fn = fn
        self._steps = steps

    def apply(self, xp, g):
        steps = self._steps
        nb = xp.nb
        fn = self._fn
        if fn.op is not None and fn.op.name == "copy" and type(fn) is fn.op.node_cls and \
                fn._extra is None:
            # x[key] = v (copy_ through a view): the region's old value gets zero, so the
            # zeros are written as a number; v gets the region (summed to its shape)
            src = xp.sum_to(replay_raw(g, steps, nb), fn._params[0]) if fn._needs[1] \
                else None
            return assign_view(xp.copy(g), steps, nb, 0), src
        grads = fn.apply(xp, replay_raw(g, steps, nb))
        g0 = grads[0]
        res = assign_view(xp.copy(g), steps, nb, 0 if g0 is None else g0)
        return (res, *grads[1:])

    def apply_differentiable(self, xp, g):
        """The same with Tensors (``create_graph=True``): every step is recorded."""
        from ..autograd._higher import _run_node
        grads = _run_node(self._fn, xp, xp.view_of(g, self._steps, 0), True)
        g0 = grads[0]
        res = xp.view_replace(g, self._steps, 0 if g0 is None else g0, 0)
        return (res, *grads[1:])

    def _release(self):
        self._fn._release()

    @property
    def next_functions(self):
        return tuple((n, 0) for n in self._next)
