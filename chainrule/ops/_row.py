"""The op table's machinery: rows (``Op``), how a call is recorded, views and in-place.

A row holds an op's forward on raw arrays and its derivative rules side by side.
Rules are written once against a namespace ``xp`` (see ``backend/``) and are called as

    rule(xp, g, *saved, *params)

where ``saved`` is ``(*inputs, out)`` (``None`` where not kept, Note [saved values]) and
``params`` the row's non-tensor arguments recorded at call time.  Three kinds of row:

- ``elementwise``: give one partial derivative per input, ``d(xp, *inputs, out)``; the
  VJP ``sum_to(g * d, shape)`` is derived here;
- ``linear``: the VJP is the transpose of the op (it reads no values);
- anything else: a VJP per input written by hand.

``reads`` says which of ``(*inputs, out)`` each input's rule needs; a call saves only
what the rules of inputs that need grad will read.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..autograd.node import node_class
from ..backend.numpy_backend import BIG, RAW, times
from ._record import _make_binary, _make_unary

_ndarray = np.ndarray
_REGISTRY: dict = {}


class Op:
    """One row of the op table."""

    float_result = False  # integer inputs are computed in the default float dtype
    promote = "arith"
    may_copy = False  # view rows whose forward sometimes copies (reshape)
    scalar_as_array = False  # binary rows that take a Python number as a cached 0-d array
    unary_keep = None  # (keep x, keep out) when the only input needs grad (cached)
    partial1 = None  # one-input elementwise rows: the partial, inlined by the engine
    # Note [gradient ownership] in autograd/engine.py: every array the VJPs return is
    # either g itself or new memory nobody else holds (checked by the fuzzers)
    fresh_grads = False
    # ``backward(..., into=True)`` may write its result into g (the engine owns g)
    writes_into_g = False
    masks = (False, False, False)  # elementwise rows: which partials are masks
    mask1 = False  # masks[0] of a one-input row (read by the engine's inline VJP)
    # how many parameters ``apply1`` passes on to the forward (x.exp(5) is a TypeError)
    max_params = 1 << 30
    legacy = False  # a forward written before Note [forwards on xp]
    twins = ()  # copies of this row recording under other node names (views._renamed)
    batching = False  # vmap's own rows (ops/batching.py): take unbatched inputs as they are

    def __init__(self, name, forward, vjps=None, *, node=None, nin=1, reads=None,
                 kind="rule", partials=None, formula=None, differentiable=True,
                 view=False, backward=None, jvp=None):
        self.name = name
        self._set_forward(forward)
        self.nin = nin
        self.kind = kind
        self.formula = formula
        self.differentiable = differentiable
        self.view = view
        self.partials = partials
        self.jvp = jvp
        self.vjps = tuple(vjps) if vjps is not None else None
        # reads[i]: positions in (*inputs, out) that input i's rule reads
        self.reads = tuple(reads) if reads is not None else tuple(() for _ in range(nin))
        self._save_cache: dict = {}
        self._keep_cache: dict = {}
        self.node_cls = node_class(self, node or _backward_name(name))
        self.apply1 = _make_unary(self)
        self.apply2 = _make_binary(self)
        if backward is not None:
            self.backward = backward.__get__(self)
        _REGISTRY[name] = self

    def __repr__(self) -> str:
        return f"<op {self.name}>"

    # Note [forwards on xp]: a row's forward is written against the rule vocabulary,
    # ``forward(xp, *arrays, *params)``, or named by one word of it (``"exp"`` means
    # ``xp.exp``), so the same row runs on every array library (backend/).  ``forward``
    # is that function bound to the NumPy namespace (the hot path calls it directly: a
    # one-word row is the ufunc itself), ``forward_on(xp)`` binds it to any namespace.
    # A row written before this convention (a function of arrays only) is used as is
    # on NumPy and through NumPy's array-function protocol elsewhere.
    def _set_forward(self, forward):
        if isinstance(forward, str):
            word = forward
            self.xp_forward = lambda xp, *args: getattr(xp, word)(*args)
            self.forward = getattr(RAW, word)
        elif _takes_xp(forward):
            self.xp_forward = forward
            self.forward = partial(forward, RAW)
        else:
            self.xp_forward = lambda xp, *args: forward(*args)
            self.forward = forward
            self.legacy = True  # (knows nothing of xp.nb)
        self._bound = {}

    def forward_on(self, xp):
        """The forward on namespace ``xp``: ``f(*arrays, *params)``."""
        if xp is RAW:
            return self.forward
        f = self._bound.get(xp)
        if f is None:
            f = self._bound[xp] = partial(self.xp_forward, xp)
        return f

    def save_plan(self, needs):
        """Positions of ``(*inputs, out)`` to keep, given which inputs need grad."""
        plan = self._save_cache.get(needs)
        if plan is None:
            keep = set()
            for i, n in enumerate(needs):
                if n:
                    keep.update(self.reads[i] if i < len(self.reads) else self.reads[-1])
            plan = self._save_cache[needs] = tuple(sorted(keep))
        return plan

    def backward(self, xp, g, needs, saved, params):
        """Cotangents for every input (``None`` where not needed)."""
        vjps = self.vjps
        if len(needs) == 1:
            return (vjps[0](xp, g, *saved, *params),)
        out = []
        for i, n in enumerate(needs):
            out.append(vjps[i if i < len(vjps) else -1](xp, g, *saved, *params) if n else None)
        return out


def _takes_xp(f) -> bool:
    code = getattr(f, "__code__", None)
    return code is not None and code.co_argcount > 0 and code.co_varnames[0] == "xp"


def _backward_name(name: str) -> str:
    return "".join(p.capitalize() for p in name.split("_")) + "Backward0"


def all_ops() -> dict:
    """Every row of the op table, by name."""
    return dict(_REGISTRY)


# ---- derived rules for elementwise rows --------------------------------------------

def _names_to_positions(reads: str, argnames):
    return tuple(argnames.index(r) for r in reads.split(",") if r)


def elementwise(name, forward, partials, *, reads, node=None, formula=None, promote="arith",
                jvp=None, masks=None):
    """A row whose derivative is given as a partial per input: ``d(xp, *inputs, out)``.

    ``reads`` names what each partial needs, e.g. ``("y", "x")`` for mul.  ``masks``
    flags the partials that are bool masks (relu, clamp, where): Note [mask partials].
    """
    nin = len(partials)
    argnames = ["x", "y", "z"][:nin] + ["out"]
    op = Op(name, forward, None, node=node, nin=nin, kind="elementwise", partials=partials,
            reads=[_names_to_positions(r, argnames) for r in reads], formula=formula, jvp=jvp)
    op.promote = promote
    op.fresh_grads = op.writes_into_g = True
    if masks is not None:
        op.masks = tuple(masks)
        op.mask1 = op.masks[0]
    if nin == 1:
        op.backward = _unary_vjp(partials[0], op.mask1)
        op.partial1 = partials[0]
    elif nin == 2:
        op.backward = _binary_vjp(op)
    else:
        op.backward = _elementwise_backward.__get__(op)
    return op


# Note [large elementwise VJPs]: for big arrays, ``g * d(x)`` is evaluated in chunks of
# CHUNK elements, so the partial's temporaries stay small and in cache, and, when the
# engine owns ``g`` (it passes ``into=True``, Note [gradient ownership] in
# autograd/engine.py), the result is written into ``g`` itself.  Peak memory of a
# backward pass then stays near the size of the values it must keep, as in hand-written
# NumPy.
CHUNK = 1 << 15


def _chunkable(g, saved):
    if type(g) is not _ndarray or not g.flags.c_contiguous:
        return False
    shape = g.shape
    for a in saved:
        if type(a) is _ndarray and (a.shape != shape or not a.flags.c_contiguous):
            return False
    return True


# Note [mask partials]: PyTorch's masked backwards (relu's threshold_backward, clamp,
# where, hardtanh) write 0 where the mask is off, whatever the cotangent: an inf or nan
# arriving there (sqrt(x.clamp(min=0)) at x < 0 sends inf) must not become
# 0 * inf = nan.  A row flags such partials (bool arrays) and the VJP is where(d, g, 0).
def _chunked_product(d, xp, g, saved, out, mask=False):
    """``out = g * d(xp, *saved)`` chunk by chunk (``out`` may be ``g``)."""
    gf = g.reshape(-1)
    of = out.reshape(-1)
    flat = [a.reshape(-1) if type(a) is _ndarray else a for a in saved]
    n = gf.size
    for i in range(0, n, CHUNK):
        j = min(i + CHUNK, n)
        part = [a[i:j] if type(a) is _ndarray else a for a in flat]
        if mask:
            np.copyto(of[i:j], times(np, gf[i:j], d(xp, *part), mask), casting="unsafe")
        else:
            np.multiply(gf[i:j], d(xp, *part), out=of[i:j], casting="unsafe")
    return out


def _unary_vjp(d, mask=False):
    """VJP of a one-input elementwise row: ``g * d(x)`` (in g's dtype)."""
    def backward(xp, g, needs, saved, params, into=False):
        if type(g) is _ndarray and g.size >= BIG and not xp.nb and _chunkable(g, saved):
            into = into and g.flags.writeable
            return (_chunked_product(d, xp, g, saved, g if into else np.empty_like(g),
                                     mask),)
        gi = times(xp, g, d(xp, *saved), mask)
        return (gi if gi.dtype is g.dtype else xp.astype(gi, g.dtype),)
    return backward


def _binary_vjp(op):
    """VJP of a two-input elementwise row, unrolled (the hot path of small graphs)."""
    d0, d1 = op.partials
    m0, m1 = op.masks[:2]
    general = _elementwise_backward.__get__(op)

    def backward(xp, g, needs, saved, shapes, into=False):
        if type(g) is not _ndarray or g.size >= BIG:
            return general(xp, g, needs, saved, shapes, into)
        n0, n1 = needs
        g0 = g1 = None
        if n0:
            d = d0(xp, *saved)
            if type(d) is int and d == 1:
                g0 = g
            else:
                # times(), inlined
                g0 = (xp.where(d, g, 0) if m0 is True else times(xp, g, d, m0)) if m0 else g * d
                if g0.dtype is not g.dtype:
                    g0 = xp.astype(g0, g.dtype)
            if shapes:
                g0 = xp.sum_to(g0, shapes[0])
        if n1:
            d = d1(xp, *saved)
            if type(d) is int and d == 1:
                g1 = g
            else:
                g1 = (xp.where(d, g, 0) if m1 is True else times(xp, g, d, m1)) if m1 else g * d
                if g1.dtype is not g.dtype:
                    g1 = xp.astype(g1, g.dtype)
            if shapes:
                g1 = xp.sum_to(g1, shapes[1])
        return (g0, g1)
    return backward


def _elementwise_backward(op, xp, g, needs, saved, shapes, into=False):
    partials = op.partials
    big = (type(g) is _ndarray and g.size >= BIG and not shapes and not xp.nb
           and _chunkable(g, saved)
           and any(n and op.reads[i] for i, n in enumerate(needs)))
    if big:
        # write into g only when no input receives g itself (an identity partial)
        fresh = into and g.flags.writeable and all(
            op.reads[i] for i, n in enumerate(needs) if n)
        last = max(i for i, n in enumerate(needs) if n and op.reads[i])
    out = []
    for i, n in enumerate(needs):
        if not n:
            out.append(None)
            continue
        if big and op.reads[i]:
            target = g if (fresh and i == last) else np.empty_like(g)
            out.append(_chunked_product(partials[i], xp, g, saved, target, op.masks[i]))
            continue
        d = partials[i](xp, *saved)
        if type(d) is int and d == 1:
            gi = g  # Note [identity partials]: add/sub pass g through without a copy
        else:
            gi = times(xp, g, d, op.masks[i])
            if gi.dtype is not g.dtype:
                gi = xp.astype(gi, g.dtype)
        if shapes:
            gi = xp.sum_to(gi, shapes[i])
        out.append(gi)
    return out
