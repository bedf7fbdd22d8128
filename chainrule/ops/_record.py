"""How a call is recorded: the dispatch of rows to their forwards (``unary``,
``binary``, ``nary``, ``elementwise_n``), the grad_fn each recorded call gets, views and
in-place ops.  The ``apply1``/``apply2`` closures made here are the hot path of every
small op."""

from __future__ import annotations

import numpy as np

from .._dtype import float_default, result_type
from .._grad_mode import STATE
from .._tensor import WRITE_WATCH, Tensor, before_write, refresh_view, wrap
from ..autograd.forward_ad import STATE as _FW
from ..autograd.forward_ad import attach_view as _fw_view
from ..autograd.forward_ad import move_tangents as _fw_inplace
from ..autograd.forward_ad import push as _fw_push
from ..autograd.node import FIRST_ONLY as _FIRST_ONLY
from ..autograd.node import AccumulateGrad, creation_site, next_seq, promoted_class
from ..backend.array_api import np_dtype
from ..backend.numpy_backend import FP_ERRORS, WFILTER, pin_filter, quiet_call, wmod
from ..backend.batched import BatchedArray, inplace_error, level_of, levels_of
from ..backend.registry import backend_of
from ._copyslices import CopySlices
from ._errors import (
    _broadcast_error,
    _broadcast_error_n,
    _extra_args_error,
    _out_of_memory,
    _overflow_error,
    _type_error,
)
from ._promote import _SCALAR_CACHE, _can_cast, _cast_error, _promote, _scalar_array

_new = object.__new__

_ndarray = np.ndarray
_asarray = np.asarray
SCALARS = frozenset((int, float, bool))


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
    if type(out) is BatchedArray and not op.batching:
        _expand_unbatched(nodes, inputs, datas, out)
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
    if datas is not None and _any_promoted(inputs, datas):  # Note [promoted inputs]
        cast = tuple(_promoted_from(x, d) for x, d in zip(inputs, datas))
        if any(c is not None for c in cast):
            promoted = _new(promoted_class(op.node_cls))
            for slot in ("_next", "_saved", "_checks", "_params", "_needs", "_seq", "_site",
                         "_extra"):
                setattr(promoted, slot, getattr(node, slot))
            promoted._cast = cast
            node = promoted
    if SAVE_HOOK is not None:
        SAVE_HOOK(node, inputs, None)
    return node


def _any_promoted(inputs, datas) -> bool:
    """Whether a row ran on another array than some input's own data (a promotion)."""
    for x, d in zip(inputs, datas):
        if d is not x and (type(x) is Tensor or isinstance(x, Tensor)) and d is not x._data:
            return True
    return False


def _promoted_from(x, d):
    """The NumPy dtype of input ``x`` (floating, requiring grad) where its row computed on
    ``d``, a promotion of it to another dtype (Note [promoted inputs]); else None."""
    if not (isinstance(x, Tensor) and x._rg):
        return None
    dt = getattr(d, "dtype", None)
    if dt is None or dt == x._data.dtype:
        return None
    own = np_dtype(x._data.dtype)
    return own if own.kind in "fc" else None


def _expand_unbatched(nodes, inputs, datas, out):
    """Note [unbatched inputs inside vmap] (ops/batching.py): an input that requires grad
    and is not batched at some level of ``out`` reaches the node through ``expand_batch``
    nodes (one per missing level, innermost first), which sum the per-sample cotangents
    over those batches."""
    from .batching import EXPAND_BATCH
    out_levels = None
    for i, x in enumerate(inputs):
        if nodes[i] is not None or (isinstance(x, Tensor) and x._rg):
            d = x._data if datas is None else datas[i]
            if level_of(d) >= out.level and type(d) is BatchedArray and \
                    len(levels_of(d)) == len(levels_of(out)):
                continue
            if out_levels is None:
                out_levels = levels_of(out)
            have = {lv for lv, _ in levels_of(d)}
            node = nodes[i]
            for lv, size in reversed(out_levels):
                if lv not in have:
                    node = EXPAND_BATCH.node_cls((node,), (), (), (lv, size), (True,),
                                                 creation_site())
            nodes[i] = node


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
    ca = _promoted_from(a, ad) if ra and ad.dtype is not a._data.dtype else None
    cb = _promoted_from(b, bd) if rb and bd.dtype is not b._data.dtype else None
    if ca is None and cb is None:
        node = _new(op.node_cls)
    else:
        node = _new(promoted_class(op.node_cls))  # Note [promoted inputs]
        node._cast = (ca, cb)
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
    if WRITE_WATCH:
        before_write(self)  # Note [copy before write] in _tensor.py
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
    out = res._data
    if level_of(out) > level_of(data):  # a batched value into an unbatched tensor
        raise inplace_error()
    be = backend_of(data)
    xp = be.xp
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


def _check_leaf_inplace(self, op):
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
        raise _broadcast_error_n(op, vals, exc) from None
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


from ._dispatch_any import apply_any as _apply_any  # noqa: E402  (imports _record lazily)
