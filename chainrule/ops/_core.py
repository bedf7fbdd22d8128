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
from math import copysign as _copysign

import numpy as np

from .._dtype import float_default, result_type, wrap_int
from .._grad_mode import STATE
from .._tensor import Tensor, refresh_view, wrap
from ..autograd.forward_ad import STATE as _FW
from ..autograd.forward_ad import attach_view as _fw_view
from ..autograd.forward_ad import move_tangents as _fw_inplace
from ..autograd.forward_ad import push as _fw_push
from ..autograd.node import FIRST_ONLY as _FIRST_ONLY
from ..autograd.node import Node, creation_site, next_seq, node_class
from ..backend.array_api import np_dtype
from ..backend.numpy_backend import (
    BIG,
    FP_ERRORS,
    RAW,
    WFILTER,
    pin_filter,
    quiet_call,
    times,
    wmod,
)
from ..backend.registry import backend_of

_new = object.__new__

_ndarray = np.ndarray
_asarray = np.asarray
SCALARS = frozenset((int, float, bool))
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


# ---- recording ---------------------------------------------------------------------

# Note [slow saves]: None, or ``fn(node, inputs, out_tensor)`` that every new node runs
# once it saved its values: set only while saved-tensor hooks are active or inference
# tensors are alive (autograd/_saved.py), so the hot path pays one global check.
SAVE_HOOK = None

def _record(op, out, inputs, params, datas=None):
    """Make the grad_fn for ``out = op(*inputs)`` (some input requires grad)."""
    nodes = []
    needs = []
    for x in inputs:
        if type(x) is Tensor or isinstance(x, Tensor):
            nodes.append(x._node)
            needs.append(x._rg)
        else:
            nodes.append(None)
            needs.append(False)
    needs = tuple(needs)
    plan = op.save_plan(needs)
    if plan:
        n = len(inputs)
        saved = [None] * (n + 1)
        checks = []
        for p in plan:
            if p == n:
                saved[p] = out
            else:
                x = inputs[p]
                if type(x) is Tensor or isinstance(x, Tensor):
                    saved[p] = x._data if datas is None else datas[p]
                    checks.append((x._vc, x._vc[0], p))
                else:  # a number: as the forward saw it (an array off NumPy)
                    saved[p] = x if datas is None or type(datas[p]) is np.ndarray \
                        or type(datas[p]) in SCALARS else datas[p]
        node = op.node_cls(tuple(nodes), tuple(saved), tuple(checks), params, needs,
                           creation_site())
    else:
        node = op.node_cls(tuple(nodes), (), (), params, needs, creation_site())
    if SAVE_HOOK is not None:
        SAVE_HOOK(node, inputs, None)
    return node


def _out_checks(node, t):
    """Saved outputs are checked against the output tensor's version counter."""
    if node._saved and node._saved[-1] is t._data:
        node._checks = node._checks + ((t._vc, 0, len(node._next)),)


# ---- dispatch: unary, binary, n-ary --------------------------------------------------

def unary(op, x, *params):
    """Apply a one-input row: ``op.forward(x, *params)``."""
    return op.apply1(x, *params)


def _make_unary(op):
    """``op.apply1``: the dispatch of a one-input row, specialized to ``op`` (a closure,
    so operators and methods reach the row in a single call)."""

    def apply1(x, *params):
        if type(x) is not Tensor and not isinstance(x, Tensor):
            raise TypeError(f"{op.name}(): argument 'input' must be Tensor, not "
                            f"{type(x).__name__}")
        if x._view is not None:
            refresh_view(x)
        xd = x._data
        if type(xd) is not _ndarray:  # Note [backends] in _dispatch_any.py
            return _apply_any(op, (x,), params)
        if op.float_result and xd.dtype.kind != "f":
            xd = xd.astype(float_default().np)
        f = wmod.filters  # Note [floating-point warnings]
        if not f or f[0] is not WFILTER:
            pin_filter()
        if params and len(params) > op.max_params:  # x.exp(5): junk for a row's forward
            raise _extra_args_error(op, params)
        try:
            out = op.forward(xd, *params) if params else op.forward(xd)
        except MemoryError as exc:
            raise _out_of_memory(op, exc) from None
        except FP_ERRORS:
            out = quiet_call(op.forward, xd, *params)
        if type(out) is not _ndarray:
            out = _asarray(out)
        if x._rg and STATE.enabled and op.differentiable:
            keep = op.unary_keep
            if keep is None:
                plan = op.save_plan(_TRUE1)
                keep = op.unary_keep = (0 in plan, 1 in plan)
            node = _new(op.node_cls)
            node._next = (x._node,)
            t = _new(Tensor)
            vc = t._vc = [0]
            k0, k1 = keep
            if k0:
                node._saved = (xd, out if k1 else None)
                node._checks = ((x._vc, x._vc[0], 0), (vc, 0, 1)) if k1 else ((x._vc, x._vc[0], 0),)
            elif k1:
                node._saved = (None, out)
                node._checks = ((vc, 0, 1),)
            else:
                node._saved = node._checks = ()
            node._params = params
            node._needs = _TRUE1
            node._seq = next_seq()
            node._site = creation_site(2)
            node._extra = None
            t._data = out
            t._node = node
            t._rg = True
            t._grad = None
            t._view = None
            if SAVE_HOOK is not None:
                SAVE_HOOK(node, (x,), t)
        else:
            t = wrap(out)
        if _FW.on:
            _fw_push(op, (x,), (xd,), t, params)
        return t
    return apply1


_TRUE1 = (True,)


def _extra_args_error(op, params):
    """PyTorch's TypeError for arguments a one-input row does not take (``x.exp(5)``)."""
    if not op.max_params:
        return TypeError(f"Tensor.{op.name}() takes no arguments ({len(params)} given)")
    return TypeError(f"{op.name}() takes at most {op.max_params} arguments "
                     f"({len(params)} given)")



def _operand(v, like):
    """Turn a non-Tensor operand into an array or a Python scalar."""
    if type(v) in SCALARS:
        return v
    if isinstance(v, np.generic):
        # PyTorch reads a NumPy bool operand as a float (uint8 + np.True_ is float32)
        return float(v) if isinstance(v, np.bool_) else v.item()
    if isinstance(v, Tensor):
        return v
    if v is None:
        raise TypeError("received an invalid combination of arguments: got (Tensor, "
                        "NoneType), but expected (Tensor, Tensor or Number)")
    from .._creation import tensor
    return tensor(v)


def binary(op, a, b):
    """Apply a two-input elementwise row with PyTorch promotion and broadcasting."""
    return op.apply2(a, b)


def _make_binary(op):
    """``op.apply2``: the dispatch of a two-input elementwise row, specialized to ``op``."""

    def apply2(a, b):
        ta = type(a) is Tensor
        tb = type(b) is Tensor
        if not (ta and tb):
            # Python numbers stay numbers; subclasses (nn.Parameter) are tensors; the rest
            # (lists, arrays, NumPy scalars) is converted
            if not ta and type(a) not in SCALARS:
                ta = isinstance(a, Tensor)
                if not ta:
                    a = _operand(a, b)
                    ta = isinstance(a, Tensor)
            if not tb and type(b) not in SCALARS:
                tb = isinstance(b, Tensor)
                if not tb:
                    b = _operand(b, a)
                    tb = isinstance(b, Tensor)
            if not (ta or tb):  # torch.mul(2, 3): two numbers give a 0-d tensor
                from .._creation import tensor
                a = tensor(a)
                ta = True
        if ta:
            if a._view is not None:
                refresh_view(a)
            ad = a._data
        else:
            ad = a
        if tb:
            if b._view is not None:
                refresh_view(b)
            bd = b._data
        else:
            bd = b
        if ta and tb:
            if type(ad) is not _ndarray or type(bd) is not _ndarray:
                return _apply_any(op, (a, b), ())  # Note [backends] in _dispatch_any.py
            fast = (ad.dtype is bd.dtype and ad.dtype.kind == "f"
                    and (ad.ndim == 0) == (bd.ndim == 0))
        else:
            if type(ad if ta else bd) is not _ndarray:
                return _apply_any(op, (a, b), ())
            # a Python number never upcasts a float tensor (bools go the checked way)
            fast = (ad if ta else bd).dtype.kind == "f" and type(bd if ta else ad) is not bool
            if fast and op.scalar_as_array:
                if ta:
                    per = _SCALAR_CACHE.get(ad.dtype)
                    z = None if per is None else per.get(bd)
                    bd = _scalar_array(bd, ad.dtype) if z is None else z
                else:
                    ad = _scalar_array(ad, bd.dtype)
        if not fast:
            ad, bd = _promote(op, ad, bd)
        f = wmod.filters  # Note [floating-point warnings]
        if not f or f[0] is not WFILTER:
            pin_filter()
        try:
            out = op.forward(ad, bd)
        except ValueError as exc:
            raise _broadcast_error(op, ad, bd, exc) from None
        except TypeError:
            raise _type_error(op, ad, bd) from None
        except MemoryError as exc:
            raise _out_of_memory(op, exc) from None
        except FP_ERRORS:
            out = quiet_call(op.forward, ad, bd)
        except OverflowError:
            raise _overflow_error(op, ad, bd) from None
        if type(out) is not _ndarray:
            out = _asarray(out)
        ra = ta and a._rg
        rb = tb and b._rg
        if (ra or rb) and STATE.enabled and op.differentiable:
            t = _binary_result(op, a, b, ta, tb, ra, rb, ad, bd, out)
        else:
            t = wrap(out)
        if _FW.on:
            _fw_push(op, (a, b), (ad, bd), t, ())
        return t
    return apply2


def _binary_result(op, a, b, ta, tb, ra, rb, ad, bd, out):
    """The output tensor of a recorded binary op, with its grad_fn."""
    needs = _FIRST_ONLY if (ra and not rb) else (ra, rb)
    keep = op._keep_cache.get(needs)
    if keep is None:
        plan = op.save_plan(needs)
        keep = op._keep_cache[needs] = (0 in plan, 1 in plan, 2 in plan)
    k0, k1, k2 = keep
    node = _new(op.node_cls)
    t = _new(Tensor)
    vc = t._vc = [0]
    if k0 or k1 or k2:
        node._saved = (ad if k0 else None, bd if k1 else None, out if k2 else None)
        checks = ()
        if k0 and ta:
            checks = ((a._vc, a._vc[0], 0),)
        if k1 and tb:
            checks += ((b._vc, b._vc[0], 1),)
        if k2:
            checks += ((vc, 0, 2),)
        node._checks = checks
    else:
        node._saved = node._checks = ()
    shape = out.shape
    if (ra and ad.shape != shape) or (rb and bd.shape != shape):
        node._params = (ad.shape if ra else None, bd.shape if rb else None)
    else:
        node._params = ()
    node._next = (a._node if ra else None, b._node if rb else None)
    node._needs = needs
    node._seq = next_seq()
    node._site = creation_site(3)
    node._extra = None
    t._data = out
    t._node = node
    t._rg = True
    t._grad = None
    t._view = None
    if SAVE_HOOK is not None:
        SAVE_HOOK(node, (a, b), t)
    return t


_SCALAR_CACHE: dict = {}  # dtype -> {number: read-only 0-d array}


def _scalar_array(v, dtype):
    """A read-only 0-d array for a Python number: NumPy multiplies an array by a 0-d
    array of its dtype about twice as fast as by a Python float, with the same result
    (NEP 50 casts the weak scalar to the array's dtype either way)."""
    per = _SCALAR_CACHE.get(dtype)
    if per is None:
        per = _SCALAR_CACHE[dtype] = {}
    a = per.get(v)
    if a is None:
        if type(v) is bool:
            return v
        if type(v) is int and not -2 ** 63 <= v < 2 ** 64:
            wrap_int(v, np.dtype(np.int8))  # raises PyTorch's OverflowError
        if not v:
            # 0.0 == -0.0 (and their hashes agree): zeros are kept apart, by sign, so a
            # key cannot give one zero the other's sign (1 / (x * -0.0) is -inf)
            return _signed_zero(v, dtype)
        a = np.array(v, dtype)
        if len(per) > 4096:
            per.clear()
        a.flags.writeable = False
        per[v] = a
    return a


_ZEROS: dict = {}  # (dtype, sign) -> read-only 0-d zero


def _signed_zero(v, dtype):
    key = (dtype, _copysign(1.0, v))
    a = _ZEROS.get(key)
    if a is None:
        a = _ZEROS[key] = np.array(v, dtype)
        a.flags.writeable = False
    return a


def _promote(op, ad, bd):
    """Cast operands so NumPy computes in PyTorch's result dtype.  Python scalars stay
    scalars: NumPy treats them as weak, which matches PyTorch once the arrays are cast."""
    mode = op.promote
    if mode == "none":
        return ad, bd
    for v, w in ((ad, bd), (bd, ad)):  # PyTorch refuses these before anything else
        if type(v) is int and not -2 ** 63 <= v < 2 ** 63:
            if 0 < v < 2 ** 64:
                _check_uint64(v, np.asarray(w))
            else:
                wrap_int(v, np.dtype(np.int8))
    if op.name == "sub" and (np.asarray(ad).dtype.kind == "b" or np.asarray(bd).dtype.kind == "b"
                             or type(ad) is bool or type(bd) is bool):
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
            "trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    rt = result_type(ad, bd)
    if mode == "float" and rt.kind != "f":
        rt = float_default().np
    elif rt.kind in "iu":  # Note [scalar conversion]: a Python int wraps into rt
        if type(ad) is int:
            ad = _wrap_int(ad, rt, bd)
        elif type(bd) is int:
            bd = _wrap_int(bd, rt, ad)
    if type(ad) is _ndarray and ad.dtype != rt:
        ad = ad.astype(rt)
    if type(bd) is _ndarray and bd.dtype != rt:
        bd = bd.astype(rt)
    return ad, bd


def _wrap_int(v, rt, other):
    _check_uint64(v, other)
    return wrap_int(v, rt)


def _check_uint64(v, other):
    if v >= 2 ** 63 and other.dtype.kind == "b":
        raise RuntimeError(f"Promotion for uint16, uint32, uint64 types is not supported, "
                           f"attempted to promote Bool and UInt64: the Python int {v} is "
                           f"above int64; convert the bool tensor with .long() first")


def _type_error(op, ad, bd):
    """NumPy refused the operand dtypes (bitwise ops on floats): PyTorch's error."""
    names = {"b": "Bool", "f": "Float" if np.result_type(ad, bd).itemsize == 4 else "Double"}
    kind = np.result_type(ad, bd).kind
    return NotImplementedError(
        f"\"{op.name}_cpu\" not implemented for '{names.get(kind, kind)}': {op.name} takes "
        f"integer or bool tensors (got {np.asarray(ad).dtype} and {np.asarray(bd).dtype})")
def _overflow_error(op, *vals):
    """A Python number that does not fit the dtype it is computed in (PyTorch's text)."""
    arrays = [v for v in vals if isinstance(v, _ndarray)]
    dt = arrays[0].dtype if arrays else np.dtype(np.int64)
    big = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, _ndarray)]
    shown = big[0] if big else "a value"
    return RuntimeError(f"{op.name}: value {shown} cannot be converted to type {dt} without "
                        f"overflow")


def _broadcast_error(op, ad, bd, exc):
    sa = list(np.shape(ad))
    sb = list(np.shape(bd))
    if "broadcast" in str(exc):
        return RuntimeError(
            f"{op.name}: the size of tensor a ({sa}) must match the size of tensor b ({sb}) "
            f"at every non-singleton dimension (shapes {sa} and {sb} cannot be broadcast "
            f"together). Fix: reshape or unsqueeze one operand so that, aligned from the "
            f"right, each dimension is equal or 1.")
    return RuntimeError(f"{op.name}: {exc} (shapes {sa} and {sb})")


def _out_of_memory(op, exc):
    """NumPy could not allocate the result: PyTorch's allocator error is a RuntimeError."""
    return RuntimeError(f"{op.name}: not enough memory: {exc}. Work on smaller pieces "
                        f"(chunks of the batch) or check the shapes broadcast as intended.")


def _forward(op, args):
    """``op.forward(*args)`` under Note [floating-point warnings] (apply1 and apply2 inline
    the same steps)."""
    f = wmod.filters
    if not f or f[0] is not WFILTER:
        pin_filter()
    try:
        return op.forward(*args)
    except MemoryError as exc:
        raise _out_of_memory(op, exc) from None
    except FP_ERRORS:
        return quiet_call(op.forward, *args)


def nary(op, inputs, params=(), forward_args=None):
    """Apply a row to a list of tensor inputs (cat, stack, where, einsum ...)."""
    datas = []
    rg = False
    foreign = False
    for x in inputs:
        if isinstance(x, Tensor):
            if x._view is not None:
                refresh_view(x)
            datas.append(x._data)
            rg = rg or x._rg
            foreign = foreign or type(x._data) is not _ndarray
        else:
            datas.append(x)
    if foreign and forward_args is None:
        return _apply_any(op, inputs, params, promote=(False,) * len(inputs))
    out = _forward(op, (*datas, *params) if forward_args is None else forward_args)
    if type(out) is not _ndarray:
        out = _asarray(out)
    if rg and STATE.enabled and op.differentiable:
        node = _record(op, out, inputs, params, datas)
        t = wrap(out, node)
        _out_checks(node, t)
    else:
        t = wrap(out)
    if _FW.on:
        _fw_push(op, inputs, datas, t, params)
    return t


# ---- views ----------------------------------------------------------------------------

def view(op, x, *params):
    """Apply a view row: the result shares memory and the version counter with ``x``.

    Rows that only sometimes can be views (reshape) decide before calling this, from
    shape and strides (Note [view or copy] in ``_strides.py``)."""
    t = unary(op, x, *params)
    base = x._view[0] if x._view is not None else x
    steps = (x._view[1] if x._view is not None else ()) + ((op, params),)
    t._vc = base._vc
    t._view = (base, steps, base._vc[0])
    if _FW.on:
        _fw_view(t)
    return t


def replay_view(base: Tensor, steps) -> Tensor:
    """Re-run the view ops ``steps`` on ``base`` (recorded, no copies)."""
    t = base
    for op, params in steps:
        t = unary(op, t, *params)
    return t


def replay_raw(a, steps, nb=0):
    """Apply view ``steps`` to a raw array (of any library) with ``nb`` leading batch
    dims.  A view of ``a`` where ``a``'s layout allows it; a reshape step may copy
    (reading is fine, for writing use ``assign_view``)."""
    if type(a) is _ndarray:
        if not nb:
            for op, params in steps:
                a = op.forward(a, *params)
            return a
        xp = RAW.with_nb(nb)
    else:
        xp = backend_of(a).xp.with_nb(nb)
    for op, params in steps:
        a = op.forward_on(xp)(a, *params)
    return a


def assign_view(out, steps, nb, value):
    """Write ``value`` into the region of ``out`` (an array the caller owns) that the
    view ``steps`` selects, and return ``out`` (or a row-major copy of it that holds
    the write).

    Note [replaying views on other layouts]: ``steps`` were views of the base's memory,
    but ``out`` (a cotangent, a copy) may be laid out differently, and a reshape step
    that viewed the base may need a copy on ``out``: writing into that copy would be
    lost.  Then the region is addressed by its flat positions instead, which does not
    depend on any layout."""
    if type(out) is not _ndarray:  # Note [writes without shared memory]
        return backend_of(out).xp.view_replace(out, steps, value, nb)
    a = out
    xp = RAW.with_nb(nb)
    for op, params in steps:
        if op.may_copy and not op.viewable(a, nb, *params):
            break
        a = op.forward(a, *params) if not nb else op.forward_on(xp)(a, *params)
    else:
        if a.size:
            a[...] = value
        return out
    out = np.ascontiguousarray(out)
    pos = replay_raw(np.arange(out.size).reshape(out.shape), steps, nb)
    out.reshape(-1)[pos] = value
    return out


# ---- in-place -------------------------------------------------------------------------

def inplace(op, self, *args, params=()):
    """Run ``op`` out of place, write the result into ``self``'s memory, rewire autograd.

    Through a view, the base's history is rewritten (CopySlices) and every other view
    regenerates its grad_fn from the base on next use (PyTorch's view + in-place rules).
    """
    if self._view is not None:
        refresh_view(self)
    if type(self._vc) is not list and not STATE.inference:
        raise RuntimeError(
            "Inplace update to inference tensor outside InferenceMode is not allowed.You "
            "can make a clone to get a normal tensor before doing inplace update.See "
            "https://github.com/pytorch/rfcs/pull/17 for more details.")
    recording = STATE.enabled
    if recording and self._rg:
        _check_leaf_inplace(self, op)
    data = self._data
    if type(data) is _ndarray:
        refuse = data.size and (not data.flags.writeable or overlapping(data))
    else:
        refuse = 0 not in tuple(data.shape) and _overlapping_geometry(*self._geometry()[:2])
    if refuse:
        raise RuntimeError(
            f"{op.name}_: unsupported operation: more than one element of the written-to "
            f"tensor refers to a single memory location (shape {list(self._data.shape)}, "
            f"e.g. a tensor made by expand()). Please clone() the tensor before performing "
            f"the operation.")
    try:
        if SAVE_HOOK is None:
            res = _out_of_place(op, self, args, params)
        else:
            res = _inplace_slow(op, self, args, params)
    except NotImplementedError:
        # PyTorch checks that the result type fits self before the kernel runs
        if op.nin == 2 and op.kind == "elementwise" and args:
            other = args[0]._data if isinstance(args[0], Tensor) else _operand(args[0], None)
            rt = result_type(self._data, other)
            if rt != self._data.dtype and not _can_cast(rt, self._data.dtype):
                raise _cast_error(op, rt, self._data.dtype) from None
        raise
    node = res._node if res._rg else None
    out = res._data
    if type(out) is not _ndarray or type(self._data) is not _ndarray:
        return _inplace_foreign(op, self, res, node)
    if out.dtype != self._data.dtype and not _can_cast(out.dtype, self._data.dtype):
        raise _cast_error(op, out.dtype, self._data.dtype)
    if node is not None and node._saved and node._saved[0] is self._data:
        # the rule reads the old value of self, which is about to be overwritten
        node._saved = (self._data.copy(),) + node._saved[1:]
        node._checks = tuple(c for c in node._checks if c[2] != 0)
    if out.shape != self._data.shape:
        try:
            out = np.broadcast_to(out, self._data.shape)
        except ValueError:
            raise RuntimeError(
                f"{op.name}_: output with shape {list(self._data.shape)} doesn't match the "
                f"broadcast shape {list(out.shape)}") from None
    if self._data.size:
        np.copyto(self._data, out, casting="unsafe")
    return _inplace_rewire(op, self, res, node, out)


def _inplace_rewire(op, self, res, node, out):
    """After ``self``'s data holds the result: bump the version, rewire autograd."""
    self._vc[0] += 1
    if node is not None and node._saved and node._saved[-1] is res._data and (
            out.dtype == self._data.dtype):
        # Note [saved outputs of in-place ops]: the rule reads the result, which now
        # lives in self: keep self's memory and check self's version, so a later write
        # into self makes backward raise, as in PyTorch (not silently use a stale copy)
        n = len(node._saved) - 1
        node._saved = node._saved[:-1] + (self._data,)
        node._checks = tuple(c for c in node._checks if c[2] != n) + (
            (self._vc, self._vc[0], n),)
    if _FW.on:
        _fw_inplace(self, res)
    if node is not None:
        if self._view is None:
            self._node = node
            self._rg = True
        else:
            base, steps, _ = self._view
            base._node = CopySlices(base, node, steps)
            base._rg = True
            self._rg = True
    elif self._view is not None:
        self._view = (self._view[0], self._view[1], -1)  # regenerate on next use
    return self


# Note [writes without shared memory]: on a library whose views share no memory with
# their base (Dask, array-api-strict: ``Backend.shares_memory`` is False), an in-place op
# rebinds ``self._data`` to the result, and a write through a view rebuilds the base
# functionally (``xp.view_replace``: the view's positions from replaying it on an index
# array, then a ``where``); every other view of that base sees the base's version change
# and re-derives its data from the base (``refresh_view``).  Libraries that do share
# memory (CuPy) are written in place, as NumPy.
def _inplace_foreign(op, self, res, node):
    data = self._data
    be = backend_of(data)
    xp = be.xp
    out = res._data
    if type(out) is _ndarray:  # (a row not yet on xp computed on the host)
        out = be.asarray(out)
    src, dst = np_dtype(out.dtype), np_dtype(data.dtype)
    if src != dst and not _can_cast(src, dst):
        raise _cast_error(op, src, dst)
    if node is not None and node._saved and node._saved[0] is data:
        # the rule reads the old value of self: kept as it is (a copy where memory is
        # shared, the old array itself where the write rebinds)
        if be.shares_memory:
            node._saved = (xp.copy(data),) + node._saved[1:]
        node._checks = tuple(c for c in node._checks if c[2] != 0)
    shape = tuple(data.shape)
    if tuple(out.shape) != shape:
        try:
            out = xp.broadcast_to(out, shape)
        except ValueError:
            raise RuntimeError(
                f"{op.name}_: output with shape {list(shape)} doesn't match the "
                f"broadcast shape {list(out.shape)}") from None
    if src != dst:
        out = xp.cast(out, data.dtype)
    if be.shares_memory:
        if 0 not in shape:
            data[...] = out
        out = data
    else:
        if self._view is not None:
            base, steps, _ = self._view
            base._data = xp.view_replace(base._data, steps, out)
        self._data = out
    return _inplace_rewire(op, self, res, node, out if src == dst else res._data)


def _overlapping_geometry(shape, strides) -> bool:
    """``overlapping`` from a PyTorch geometry (libraries without strides)."""
    dims = sorted((abs(s), n) for n, s in zip(shape, strides) if n > 1)
    extent = 0
    for s, n in dims:
        if s <= extent:
            return True
        extent += (n - 1) * s
    return False


def overlapping(a) -> bool:
    """Whether some elements of ``a`` share memory (an expanded dim, overlapping
    ``unfold`` windows): dims by increasing stride must each step past the extent of
    the faster ones.  A sufficient test for "no overlap"; row-major is the fast path."""
    if a.flags.c_contiguous:
        return False
    dims = sorted((abs(s), n) for n, s in zip(a.shape, a.strides) if n > 1)
    extent = 0
    for s, n in dims:
        if s <= extent:
            return True
        extent += (n - 1) * s
    return False


def _out_of_place(op, self, args, params):
    if op.nin == 1:
        return unary(op, self, *params)
    if op.kind == "elementwise":
        return binary(op, self, args[0]) if op.nin == 2 else elementwise_n(op, (self, *args))
    return nary(op, (self, *args), params)


def _inplace_slow(op, self, args, params):
    """``_out_of_place`` while pack hooks may see ``self``: they get a copy of its old
    value (Note [saved-tensor hooks])."""
    from ..autograd._saved import HOOKS
    prev, HOOKS.inplace_self = HOOKS.inplace_self, self
    try:
        return _out_of_place(op, self, args, params)
    finally:
        HOOKS.inplace_self = prev


def _cast_error(op, src, dst):
    return RuntimeError(
        f"{op.name}_: result type {_tname(src)} can't be cast to the desired output type "
        f"{_tname(dst)} of the tensor changed in place. Fix: use the out-of-place form or "
        f"convert the tensor first, e.g. x = x.float().")


def _can_cast(src, dst) -> bool:
    rank = {"b": 0, "u": 1, "i": 1, "f": 2}
    return rank[src.kind] <= rank[dst.kind]


def _tname(np_dtype) -> str:
    from .._dtype import from_numpy_dtype
    return str(from_numpy_dtype(np_dtype)).replace("torch.", "")


def _check_leaf_inplace(self, op):
    from ..autograd.node import AccumulateGrad
    if self._view is None and type(self._node) is AccumulateGrad:
        raise RuntimeError(
            f"a leaf Variable that requires grad is being used in an in-place operation "
            f"({op.name}_ on a tensor of shape {list(self._data.shape)}). Fix: wrap the update "
            f"in `with torch.no_grad():` (as optimizers do), or work on a copy: y = x.clone().")
    if self._view is not None:
        base = self._view[0]
        if type(base._node) is AccumulateGrad:
            raise RuntimeError(
                f"a view of a leaf Variable that requires grad is being used in an in-place "
                f"operation ({op.name}_ on a view of shape {list(self._data.shape)} of a "
                f"leaf of shape {list(base._data.shape)}). Fix: do it under "
                f"`with torch.no_grad():` or on base.clone().")


def _view_replace_forward(xp, base, value, steps, nb):
    return xp.view_replace(base, steps, value, nb)


def _view_replace_jvp(xp, ts, base, steps, nb):
    tb, tv = ts
    if tb is None:
        tb = xp.zeros(tv, base.shape)  # base carries its own nb batch dims in its shape
    return xp.view_replace(tb, steps, 0 if tv is None else tv, nb)


# base with the region that ``steps`` view replaced by ``value`` (linear in both)
VIEW_REPLACE = Op("view_replace", _view_replace_forward,
                  (lambda xp, g, base, value, out, steps, nb: xp.view_replace(g, steps, 0, nb),
                   lambda xp, g, base, value, out, steps, nb: xp.view_of(g, steps, nb)),
                  nin=2, kind="linear", node="CopySlicesBackward",
                  jvp=lambda xp, ts, base, value, out, steps, nb: _view_replace_jvp(
                      xp, ts, base, steps, nb),
                  formula="d base[view] = v: g outside the view to base, g[view] to v")


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
        grads = self._fn.apply(xp, replay_raw(g, steps, nb))
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


def elementwise_n(op, operands, promote_mask=None):
    """Apply an n-input elementwise row (where, lerp, clamp): promote the operands
    flagged in ``promote_mask`` together, broadcast, and record shapes for ``sum_to``."""
    vals = []
    for v in operands:
        if isinstance(v, Tensor):
            if v._view is not None:
                refresh_view(v)
            vals.append(v._data)
        elif v is None or type(v) in SCALARS:
            vals.append(v)
        else:
            v = _operand(v, None)
            vals.append(v._data if isinstance(v, Tensor) else v)
    mask = promote_mask or (True,) * len(vals)
    if any(type(v) is not _ndarray and hasattr(v, "shape") for v in vals):
        return _apply_any(op, operands, (), promote=mask)
    prom = [v for v, m in zip(vals, mask) if m and v is not None]
    if prom:
        rt = result_type(*prom)
        if op.promote == "float" and rt.kind != "f":
            rt = float_default().np
        vals = [v.astype(rt) if m and type(v) is _ndarray and v.dtype != rt else v
                for v, m in zip(vals, mask)]
    try:
        out = _forward(op, vals)
    except ValueError as exc:
        shapes = [list(np.shape(v)) for v in vals if v is not None]
        raise RuntimeError(f"{op.name}: operands of shapes {shapes} cannot be broadcast "
                           f"together ({exc})") from None
    except OverflowError:
        raise _overflow_error(op, *vals) from None
    if type(out) is not _ndarray:
        out = _asarray(out)
    rg = any(isinstance(v, Tensor) and v._rg for v in operands)
    if rg and STATE.enabled and op.differentiable:
        node = _record(op, out, tuple(operands), None, vals)
        shapes = tuple(np.shape(v) for v in vals)
        node._params = shapes if any(s != out.shape for s in shapes) else ()
        t = wrap(out, node)
        _out_checks(node, t)
    else:
        t = wrap(out)
    if _FW.on:
        _fw_push(op, tuple(operands), vals, t, ())
    return t


from ._dispatch_any import apply_any as _apply_any  # noqa: E402  (imports _core lazily)
