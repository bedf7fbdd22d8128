"""Rows for the linear helpers of the rule vocabulary (``xp.sum_to``, ``xp.scatter`` ...).

Derivative rules call these helpers on cotangents.  With ``create_graph=True`` the rules
run on Tensors, so each helper must itself be an op with a rule: it is linear in its
first argument, and its VJP is another helper (its transpose), which closes the
vocabulary under differentiation to any order (DESIGN.md, "Closure").

Each row's forward is the helper on the array's namespace with ``k`` more leading batch
dims (the batch dims of the cotangent when the rule ran); its VJP calls the transpose on
a namespace with ``xp.nb + k`` batch dims, since a cotangent of a cotangent carries both
batches.
"""

from __future__ import annotations

from .._tensor import Tensor
from ._core import Op


def _row(name, forward, transpose, formula):
    """``forward(ns, a, *params)`` and ``transpose(xp, g, a_shape, *params)``."""
    def fwd(xp, a, k, a_shape, *params):
        return forward(xp.with_nb(k), a, *params)

    def vjp(xp, g, a, out, k, a_shape, *params):
        return transpose(xp.with_nb(k), g, a_shape, *params)

    op = Op("xp_" + name, fwd, (vjp,), kind="linear",
            node="".join(p.capitalize() for p in name.split("_")) + "Backward",
            formula=formula)

    def jvp(xp, ts, a, out, k, a_shape, *params):
        # linear: the op itself, on a tangent with xp.nb more leading batch dims
        t = ts[0]
        if not isinstance(t, Tensor):
            return fwd(xp, t, k, a_shape, *params)
        return op.apply1(t, k + xp.nb, a_shape, *params)

    op.jvp = jvp
    return op


SUM_TO = _row("sum_to", lambda ns, g, shape: ns.sum_to(g, shape),
              lambda xp, g, a_shape, shape: xp.broadcast_to(
                  xp.reshape(g, _padded(shape, a_shape)), a_shape),
              "transpose of sum_to is broadcast_to")
UNREDUCE = _row("unreduce", lambda ns, g, shape, axes, keepdim: ns.unreduce(g, shape, axes,
                                                                          keepdim),
                lambda xp, g, a_shape, shape, axes, keepdim: xp.reshape(
                    xp.sum_to(g, _keep(shape, axes)), a_shape),
                "transpose of unreduce is a sum over the reduced axes")
RESHAPE = _row("reshape", lambda ns, g, shape: ns.reshape(g, shape),
               lambda xp, g, a_shape, shape: xp.reshape(g, a_shape),
               "transpose of reshape is reshape back")
BROADCAST_TO = _row("broadcast_to", lambda ns, g, shape: ns.broadcast_to(g, shape),
                    lambda xp, g, a_shape, shape: xp.sum_to(g, a_shape),
                    "transpose of broadcast_to is sum_to")
PERMUTE = _row("permute", lambda ns, g, axes: ns.permute(g, axes),
               lambda xp, g, a_shape, axes: xp.permute(g, _inverse(axes)),
               "transpose of permute is the inverse permutation")
INDEX = _row("index", lambda ns, g, key: ns.index(g, key),
             lambda xp, g, a_shape, key: xp.scatter(g, a_shape, key, True),
             "transpose of x[key] adds g into zeros at key")
SCATTER = _row("scatter", lambda ns, g, shape, key, acc: ns.scatter(g, shape, key, acc),
               lambda xp, g, a_shape, shape, key, acc: xp.index(g, key),
               "transpose of scatter is indexing")
SCATTER_ZERO = _row("scatter_zero", lambda ns, g, key: ns.scatter_set(g, key, 0),
                    lambda xp, g, a_shape, key: xp.scatter_set(g, key, 0),
                    "zeroing positions is its own transpose")
SCATTER_ALONG = _row("scatter_along",
                     lambda ns, g, shape, idx, axis: ns.scatter_along(g, shape, idx, axis),
                     lambda xp, g, a_shape, shape, idx, axis: xp.gather(g, idx, axis),
                     "transpose of scatter_along is gather")
GATHER = _row("gather", lambda ns, g, idx, axis: ns.gather(g, idx, axis),
              lambda xp, g, a_shape, idx, axis: xp.scatter_along(g, a_shape, idx, axis),
              "transpose of gather is scatter_along")
FILL_ZERO_ALONG = _row("fill_zero_along", lambda ns, g, idx, axis: ns.fill_along(g, idx,
                                                                                 axis, 0),
                       lambda xp, g, a_shape, idx, axis: xp.fill_along(g, idx, axis, 0),
                       "zeroing positions is its own transpose")
DIAG_EMBED = _row("diag_embed",
                  lambda ns, g, off, a1, a2, shape: ns.diag_embed(g, off, a1, a2, shape),
                  lambda xp, g, a_shape, off, a1, a2, shape: xp.diagonal(g, off, a1, a2),
                  "transpose of diag_embed is diagonal")
DIAGONAL = _row("diagonal", lambda ns, g, off, a1, a2: ns.diagonal(g, off, a1, a2),
                lambda xp, g, a_shape, off, a1, a2: xp.diag_embed(g, off, a1, a2, a_shape),
                "transpose of diagonal is diag_embed")
PAD = _row("pad", lambda ns, g, widths: ns.pad(g, widths),
           lambda xp, g, a_shape, widths: xp.index(g, _crop(a_shape, widths)),
           "transpose of zero padding is cropping")
ROLL = _row("roll", lambda ns, g, shifts, axes: ns.roll(g, shifts, axes),
            lambda xp, g, a_shape, shifts, axes: xp.roll(g, _neg(shifts), axes),
            "transpose of roll is the opposite roll")
FLIP = _row("flip", lambda ns, g, axes: ns.flip(g, axes),
            lambda xp, g, a_shape, axes: xp.flip(g, axes), "flip is its own transpose")
CUMSUM = _row("cumsum", lambda ns, g, axis: ns.cumsum(g, axis),
              lambda xp, g, a_shape, axis: xp.reverse_cumsum(g, axis),
              "transpose of cumsum is the reversed cumsum")
REVERSE_CUMSUM = _row("reverse_cumsum", lambda ns, g, axis: ns.reverse_cumsum(g, axis),
                      lambda xp, g, a_shape, axis: xp.cumsum(g, axis),
                      "transpose of the reversed cumsum is cumsum")
TRIL = _row("tril", lambda ns, g, k: ns.tril(g, k), lambda xp, g, a_shape, k: xp.tril(g, k),
            "tril is its own transpose")
TRIU = _row("triu", lambda ns, g, k: ns.triu(g, k), lambda xp, g, a_shape, k: xp.triu(g, k),
            "triu is its own transpose")


def _padded(shape, a_shape):
    """``shape`` with leading ones up to ``a_shape``'s rank: sum_to dropped those dims,
    and a batch prefix must not meet them when broadcasting back."""
    return (1,) * (len(a_shape) - len(shape)) + tuple(shape)


def _keep(shape, axes):
    nd = len(shape)
    axes = tuple(range(-nd, 0)) if axes is None else axes
    return tuple(1 if i - nd in axes else s for i, s in enumerate(shape))


def _inverse(axes):
    inv = [0] * len(axes)
    for i, a in enumerate(axes):
        inv[a] = i
    return tuple(inv)


def _crop(shape, widths):
    lead = len(shape) - len(widths)
    return (slice(None),) * lead + tuple(
        slice(lo, lo + n) for (lo, _), n in zip(widths, shape[lead:]))


def _neg(shifts):
    return tuple(-s for s in shifts) if isinstance(shifts, tuple) else -shifts


def _view_of_forward(ns, g, steps, nb):
    # (``ns`` carries the cotangent's batch dims; the replay's own count is ``nb``)
    return ns.contiguous_copy(ns.view_of(g, steps, nb - ns.nb))


VIEW_OF = _row("view_of", _view_of_forward,
               lambda xp, g, a_shape, steps, nb: xp.view_replace(xp.zeros(g, a_shape), steps,
                                                                 g, 0),
               "transpose of taking a view's region is writing it into zeros")


def _view_of_jvp(xp, ts, a, out, k, a_shape, steps, nb):
    # the batch count is a param too (the replay's ``nb``): both it and ``k`` grow
    t = ts[0]
    if not isinstance(t, Tensor):
        return _view_of_forward(xp.with_nb(k), t, steps, nb + xp.nb)
    return VIEW_OF.apply1(t, k + xp.nb, a_shape, steps, nb + xp.nb)


VIEW_OF.jvp = _view_of_jvp
