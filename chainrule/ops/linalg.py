"""Linear-algebra rows: matmul and its special cases, dot, einsum.

Every row here is bilinear (einsum: multilinear).  Each input's VJP is the transpose of
the op in that input with the other inputs held fixed, so an input's rule reads the
*other* operands, never its own value, and no row reads its output.

Names in rules: ``g`` is the output's cotangent, ``a``/``b`` the saved operands, ``out``
the output (never read here).  ``g`` may carry ``xp.nb`` leading batch dims (one-pass
Jacobians): rules address matrix axes from the end (``xp.swapaxes(.., -1, -2)``), let
``xp.matmul`` broadcast the batch dims, and undo broadcasting with ``xp.sum_to``, which
keeps them.  Saved operands never carry batch dims.

JVPs: a bilinear row's tangent is ``ta @ b + a @ tb``; einsum's, the sum over operands of
the einsum with that operand replaced by its tangent, is derived from its forward.
Tangents carry ``xp.nb`` leading batch dims; primal operands never do.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .._grad_mode import STATE
from .._tensor import Tensor, refresh_view, wrap
from ..autograd.forward_ad import STATE as _FW
from ..autograd.forward_ad import push as _fw_push
from ..backend.array_api import np_dtype
from ..backend.registry import common_backend
from ._core import Op, _out_checks, _record, nary

_ndarray = np.ndarray


def _fmt(shape) -> str:
    return "x".join(map(str, shape)) if len(shape) > 1 else str(list(shape))


# ---- matmul family: rows ---------------------------------------------------------------

def _flat(xp):
    """``xp`` without batch dims: for reshaping saved (unbatched) values."""
    return xp.with_nb(-xp.nb) if xp.nb else xp


def _mm_da(xp, g, a, b, out, b_t=False):
    return xp.matmul(g, xp.swapaxes(b, -1, -2))


def _mm_db(xp, g, a, b, out, b_t=False):
    # Note [gradient layout]: ``b_t`` says b was a transposed view (nn.Linear's
    # weight.t()); gb = (g^T a)^T then has b's layout, so the weight's grad arrives
    # C-contiguous (one BLAS call either way) instead of needing a strided copy or
    # strided optimizer updates.  Same value, so every namespace may take either form.
    if b_t:
        return xp.swapaxes(xp.matmul(xp.swapaxes(g, -1, -2), a), -1, -2)
    return xp.matmul(xp.swapaxes(a, -1, -2), g)


def _matmul_da(xp, g, a, b, out, sa, sb, folded):
    """Cotangent of ``a`` in ``a @ b`` for any ranks (``sa``, ``sb``: operand shapes)."""
    if folded:  # (..., m, k) @ (k, n) ran as one (M, k) @ (k, n) product
        g2 = xp.reshape(g, (math.prod(sa[:-1]), sb[-1]))
        return xp.reshape(xp.matmul(g2, xp.swapaxes(b, -1, -2)), sa)
    if len(sb) == 1:
        # out[..., m] = sum_k a[..., m, k] b[k]  =>  ga[..., m, k] = g[..., m] b[k]
        return xp.reshape(g, sa[:-1] + (1,)) * b
    if len(sa) == 1:
        # a is a row vector: ga[k] = sum_{..., n} g[..., n] b[..., k, n]
        ga = xp.matmul(xp.reshape(g, sb[:-2] + (1, sb[-1])), xp.swapaxes(b, -1, -2))
        return xp.reshape(xp.sum_to(ga, (1, sa[0])), sa)
    return xp.sum_to(xp.matmul(g, xp.swapaxes(b, -1, -2)), sa)


def _matmul_db(xp, g, a, b, out, sa, sb, folded):
    """Cotangent of ``b`` in ``a @ b`` for any ranks."""
    if folded:  # fold a's batch dims into rows: one product, no sum_to
        a2 = _flat(xp).reshape(a, (math.prod(sa[:-1]), sa[-1]))
        return xp.matmul(xp.swapaxes(a2, -1, -2), xp.reshape(g, (a2.shape[0], sb[-1])))
    if len(sa) == 1:
        if len(sb) == 1:
            return xp.reshape(g, (1,)) * a
        # out[..., n] = sum_k a[k] b[..., k, n]  =>  gb[..., k, n] = a[k] g[..., n]
        return xp.swapaxes(xp.reshape(g, sb[:-2] + (sb[-1], 1)) * a, -1, -2)
    if len(sb) == 1:
        if len(sa) == 2:
            # gb[k] = sum_m g[m] a[m, k]; batched cotangents make this one BLAS product
            return xp.matmul(g, a)
        # gb[k] = sum_{..., m} g[..., m] a[..., m, k]
        gb = xp.matmul(xp.reshape(g, sa[:-2] + (1, sa[-2])), a)
        return xp.reshape(xp.sum_to(gb, (1, sb[0])), sb)
    return xp.sum_to(xp.matmul(xp.swapaxes(a, -1, -2), g), sb)


def _tangent_product(xp, t, p, out_shape, t_left):
    """``t @ p`` (``t_left``) or ``p @ t`` for a tangent ``t`` with ``xp.nb`` batch dims and
    a primal ``p``.  1-D operands are lifted to matrices and ``t``'s own dims are padded to
    ``p``'s rank, so ``t``'s batch dims stay in front of ``p``'s; ``out_shape`` (the
    product's unbatched shape) then drops the lifted dims."""
    st, sp = tuple(t.shape[xp.nb:]), tuple(p.shape)
    if t_left and len(sp) == 2 and sp[0]:  # fold t's leading dims into one BLAS product
        flat = xp.matmul(_flat(xp).reshape(t, (-1, sp[0])), p)
        return xp.reshape(_flat(xp).reshape(flat, tuple(t.shape[:-1]) + sp[1:]), out_shape)
    if t_left:
        lt, lp = (st if len(st) > 1 else (1,) + st), (sp if len(sp) > 1 else sp + (1,))
    else:
        lt, lp = (st if len(st) > 1 else st + (1,)), (sp if len(sp) > 1 else (1,) + sp)
    t = xp.reshape(t, (1,) * (len(lp) - len(lt)) + lt)
    p = _flat(xp).reshape(p, lp) if lp != sp else p
    return xp.reshape(xp.matmul(t, p) if t_left else xp.matmul(p, t), out_shape)


# Hand JVPs kept for the matmul family and linear: their forward (np.matmul) takes no
# batch dims, it reads a batched vector as a matrix and misaligns operands of other
# ranks, so default_jvp's multilinear rule (forward_ad.py) cannot run it on a tangent.
def _matmul_jvp(xp, ts, a, b, out, *params):
    # d(a @ b) = ta @ b + a @ tb, for every row of the matmul family
    ta, tb = ts
    res = None if ta is None else _tangent_product(xp, ta, b, out.shape, True)
    if tb is not None:
        term = _tangent_product(xp, tb, a, out.shape, False)
        res = term if res is None else res + term
    return res


_BILINEAR = {"nin": 2, "reads": ((1,), (0,)), "kind": "bilinear", "jvp": _matmul_jvp}
MM = Op("mm", "matmul", (_mm_da, _mm_db), node="MmBackward0", **_BILINEAR,
        formula="d(a @ b) = da @ b + a @ db:  ga = g @ b^T,  gb = a^T @ g")
BMM = Op("bmm", "matmul", (_mm_da, _mm_db), node="BmmBackward0", **_BILINEAR,
         formula="d(a @ b) per batch:  ga = g @ b^T,  gb = a^T @ g")
MV = Op("mv", "matmul", (_matmul_da, _matmul_db), node="MvBackward0", **_BILINEAR,
        formula="d(A @ v):  gA = outer(g, v),  gv = A^T @ g")
DOT = Op("dot", "matmul", (_matmul_da, _matmul_db), node="DotBackward0", **_BILINEAR,
         formula="d(a . b) = da . b + a . db:  ga = g b,  gb = g a")
VDOT = Op("vdot", "matmul", (_matmul_da, _matmul_db), node="VdotBackward0",
          **_BILINEAR, formula="d vdot(a, b) (real) = g b da + g a db")
# Note [matmul grad_fn]: PyTorch names the node after the kernel it dispatched to:
# MmBackward0 (2-D @ 2-D), DotBackward0 (1-D @ 1-D), MvBackward0 (2-D @ 1-D), and
# UnsafeViewBackward0 for batched products, whose 1-D operands are unsqueezed and whose
# batch dims are folded.  We keep those names; 1-D @ 2-D (SqueezeBackward4 in PyTorch)
# and 2-D @ 3-D (CloneBackward0) also use the general row, named UnsafeViewBackward0.
MATMUL = Op("matmul", "matmul", (_matmul_da, _matmul_db), node="UnsafeViewBackward0",
            **_BILINEAR,
            formula="d(a @ b):  ga = sum_to(g @ b^T, a.shape),  gb = sum_to(a^T @ g, b.shape)")


# ---- linear: x @ W^T + b, one row (nn.Linear's hot path) -----------------------------------

def _linear_forward(xp, x, w, b):
    out = xp.matmul(x, w.T if w.ndim == 2 else xp.swapaxes(w, -1, -2))
    if b is not None:
        out += b  # out is new: adding in place saves a temporary
    return out


def _linear_dx(xp, g, x, w, b, out):
    return xp.matmul(g, w)  # g (..., out) @ W (out, in)


def _linear_dw(xp, g, x, w, b, out):
    # gW = sum over x's leading dims of g^T x, computed directly in W's layout
    if x.ndim == 2:
        return xp.matmul(xp.swapaxes(g, -1, -2), x)
    return xp.sum_to(xp.matmul(xp.swapaxes(g, -1, -2), x), w.shape)


def _linear_db(xp, g, x, w, b, out):
    return xp.sum_to(g, b.shape)


def _linear_jvp(xp, ts, x, w, b, out):
    tx, tw, tb = ts
    res = None if tx is None else xp.matmul(tx, xp.swapaxes(w, -1, -2))
    if tw is not None:  # x's leading dims sit between tW's batch dims and its matrix
        tw_t = xp.reshape(xp.swapaxes(tw, -1, -2), (1,) * (x.ndim - 2) + tuple(w.shape[::-1]))
        term = xp.matmul(x, tw_t)
        res = term if res is None else res + term
    if tb is not None:
        tb = xp.reshape(tb, (1,) * (out.ndim - b.ndim) + tuple(b.shape))  # batch dims first
        res = xp.broadcast_to(tb, out.shape) if res is None else res + tb
    return res


LINEAR = Op("linear", _linear_forward, (_linear_dx, _linear_dw, _linear_db), nin=3,
            reads=((1,), (0, 1), (2,)), kind="bilinear", node="AddmmBackward0",
            jvp=_linear_jvp, formula="d(x W^T + b):  gx = g W,  gW = g^T x,  gb = sum(g)")


def linear(input: Tensor, weight: Tensor, bias=None) -> Tensor:
    """``input @ weight.T + bias`` as one row (nn.functional.linear's fast path)."""
    ad, wd = _operands("linear", input, weight)
    if wd.ndim != 2 or ad.ndim < 2:
        out = matmul(input, weight.t() if wd.ndim == 2 else weight)
        return out if bias is None else out + bias
    if ad.shape[-1] != wd.shape[1]:
        raise _inner_error("linear", ad.shape, wd.shape[::-1], ad.shape[-1], wd.shape[1])
    if bias is not None and (not isinstance(bias, Tensor) or bias._data.dtype != ad.dtype
                             or bias._data.shape not in ((wd.shape[0],), ())):
        return matmul(input, weight.t()) + bias  # unusual bias: the general ops decide
    return nary(LINEAR, (input, weight, bias))


# every VJP of the matmul family is a new product (or a view of one): Note [gradient ownership]
for _row in (MM, BMM, MV, DOT, VDOT, MATMUL, LINEAR):
    _row.fresh_grads = True
del _row


# ---- matmul family: dispatch ------------------------------------------------------------

def _bilinear(op, a, b, ad, bd, params, shape=None, folded=None):
    """Run ``op`` on checked raw operands and record it (the hot path of an MLP).
    ``folded``: ``ad`` reshaped to a matrix for one BLAS call; ``shape``: the result's
    shape then.  The node saves ``ad`` itself, so a rebuilt saved value has the shape
    its producer expects (Note [saved values])."""
    if type(ad) is not _ndarray or type(bd) is not _ndarray:
        # Note [backends] in _dispatch_any.py: the same product on the operands' library
        be = common_backend((ad, bd), op.name)
        ad, bd = (be.asarray(d) if type(d) is _ndarray else d for d in (ad, bd))
        out = op.forward_on(be.xp)(ad if folded is None else
                                   be.xp.reshape(ad, (-1, ad.shape[-1])), bd)
        if shape is not None:
            out = be.xp.reshape(out, shape)
    else:
        out = op.forward(ad if folded is None else folded, bd)
        if type(out) is not _ndarray:
            out = np.asarray(out)
        if shape is not None:
            out = out.reshape(shape)
    if STATE.enabled and (a._rg or b._rg):
        node = _record(op, out, (a, b), params, (ad, bd))
        t = wrap(out, node)
        _out_checks(node, t)
    else:
        t = wrap(out)
    if _FW.on:
        _fw_push(op, (a, b), (ad, bd), t, params)
    return t


def _operands(name, a, b):
    """Raw arrays of two Tensor operands, views refreshed, dtypes checked."""
    for pos, (arg, v) in enumerate((("input", a), ("other", b))):
        if not isinstance(v, Tensor):
            raise TypeError(f"{name}(): argument '{arg}' (position {pos + 1}) must be Tensor, "
                            f"not {type(v).__name__}")
    if a._view is not None:
        refresh_view(a)
    if b._view is not None:
        refresh_view(b)
    ad, bd = a._data, b._data
    if ad.dtype != bd.dtype and np_dtype(ad.dtype) != np_dtype(bd.dtype):
        raise RuntimeError(
            f"{name}: expected both operands to have the same dtype, but got {a.dtype} and "
            f"{b.dtype} (shapes {list(ad.shape)} and {list(bd.shape)}). Fix: convert one of "
            f"them, e.g. b.to(a.dtype).")
    if (ad.dtype.kind if type(ad.dtype) is np.dtype else np_dtype(ad.dtype).kind) == "b":
        raise NotImplementedError(f"{name}: not implemented for 'Bool' tensors (shapes "
                                  f"{list(ad.shape)} and {list(bd.shape)}). Fix: convert "
                                  f"them first, e.g. a.float() @ b.float().")
    return ad, bd


def _inner_error(name, sa, sb, ka, kb):
    return RuntimeError(
        f"{name}: mat1 and mat2 shapes cannot be multiplied ({_fmt(sa)} and {_fmt(sb)}): the "
        f"inner dimensions ({ka} and {kb}) must match. Fix: the last dim of the first operand "
        f"must equal the {'only' if len(sb) == 1 else 'second-to-last'} dim of the second; "
        f"transpose an operand (b.mT, b.t()) or reshape it.")


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product with NumPy/PyTorch semantics: 1-D @ 1-D is a dot product (0-d),
    a 1-D operand is treated as a row (left) or column (right) vector and that dim is
    removed, and dims before the last two are batch dims that broadcast."""
    ad, bd = _operands("matmul", input, other)
    sa, sb = ad.shape, bd.shape
    na, nb_ = len(sa), len(sb)
    if na == 2 and nb_ == 2:
        if sa[1] != sb[0]:
            raise _inner_error("matmul", sa, sb, sa[1], sb[0])
        flags = getattr(bd, "flags", None)  # Note [gradient layout]
        return _bilinear(MM, input, other, ad, bd,
                         (True,) if flags is not None and flags.f_contiguous
                         and not flags.c_contiguous else ())
    if na == 0 or nb_ == 0:
        raise RuntimeError(f"matmul: both arguments to matmul need to be at least 1D, but they "
                           f"are {na}D and {nb_}D (shapes {list(sa)} and {list(sb)}). Fix: "
                           f"use * for a product with a scalar.")
    ka, kb = sa[-1], sb[-2 if nb_ > 1 else -1]
    if ka != kb:
        raise _inner_error("matmul", sa, sb, ka, kb)
    if na > 2 or nb_ > 2:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            raise RuntimeError(
                f"matmul: the batch dimensions {list(sa[:-2])} and {list(sb[:-2])} of shapes "
                f"{list(sa)} and {list(sb)} cannot be broadcast together. Fix: make each "
                f"batch dim equal or 1, aligned from the right.") from None
    if na > 2 and nb_ == 2:
        # Note [folded matmul]: batch dims of a against a matrix fold into one BLAS call
        # (NumPy loops over small products otherwise, several times slower); the rule
        # folds the saved a the same way, so the gradient of b is one product too.
        return _bilinear(MATMUL, input, other, ad, bd, (sa, sb, True), sa[:-1] + sb[-1:],
                         ad.reshape(-1, ka) if type(ad) is _ndarray else True)
    op = DOT if na == 1 and nb_ == 1 else MV if na == 2 and nb_ == 1 else MATMUL
    return _bilinear(op, input, other, ad, bd, (sa, sb, False))


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """Product of two matrices (no broadcasting)."""
    ad, bd = _operands("mm", input, mat2)
    if ad.ndim != 2 or bd.ndim != 2:
        raise RuntimeError(f"mm: both arguments must be matrices (2-D), got shapes "
                           f"{list(ad.shape)} and {list(bd.shape)}. Fix: use matmul for "
                           f"vectors or batches.")
    if ad.shape[1] != bd.shape[0]:
        raise _inner_error("mm", ad.shape, bd.shape, ad.shape[1], bd.shape[0])
    return _bilinear(MM, input, mat2, ad, bd, ())


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched product of 3-D tensors with equal batch sizes (no broadcasting)."""
    ad, bd = _operands("bmm", input, mat2)
    sa, sb = ad.shape, bd.shape
    if len(sa) != 3 or len(sb) != 3:
        raise RuntimeError(f"bmm: batch1 and batch2 must be 3-D tensors, got shapes {list(sa)} "
                           f"and {list(sb)}. Fix: use matmul to broadcast.")
    if sb[0] != sa[0] or sb[1] != sa[2]:
        raise RuntimeError(
            f"bmm: expected size for first two dimensions of batch2 tensor to be: "
            f"[{sa[0]}, {sa[2]}] but got: [{sb[0]}, {sb[1]}] (shapes {list(sa)} and "
            f"{list(sb)}). Fix: batch sizes must be equal and the inner dimensions must match.")
    return _bilinear(BMM, input, mat2, ad, bd, ())


def mv(input: Tensor, vec: Tensor) -> Tensor:
    """Matrix-vector product."""
    if isinstance(input, Tensor) and input._data.ndim == 0:  # PyTorch reads its size(0)
        raise IndexError("mv(): Dimension specified as 0 but tensor has no dimensions")
    ad, bd = _operands("mv", input, vec)
    if ad.ndim != 2 or bd.ndim != 1:
        raise RuntimeError(f"mv: expected a matrix and a vector, got shapes {list(ad.shape)} "
                           f"and {list(bd.shape)}")
    if ad.shape[1] != bd.shape[0]:
        raise RuntimeError(f"mv: size mismatch, got input ({ad.shape[0]}), mat "
                           f"({_fmt(ad.shape)}), vec ({bd.shape[0]}). Fix: the vector's "
                           f"length must equal the matrix's number of columns.")
    return _bilinear(MV, input, vec, ad, bd, (ad.shape, bd.shape, False))


def _vector_product(op, name, input, other):
    ad, bd = _operands(name, input, other)
    if ad.ndim != 1 or bd.ndim != 1:
        raise RuntimeError(f"{name}: 1D tensors expected, but got {ad.ndim}D and {bd.ndim}D "
                           f"tensors (shapes {list(ad.shape)} and {list(bd.shape)})")
    if ad.shape != bd.shape:
        raise RuntimeError(f"{name}: inconsistent tensor size, expected tensors of the same "
                           f"number of elements, but got {ad.shape[0]} and {bd.shape[0]} "
                           f"(shapes {list(ad.shape)} and {list(bd.shape)})")
    return _bilinear(op, input, other, ad, bd, (ad.shape, bd.shape, False))


def dot(input: Tensor, other: Tensor) -> Tensor:
    """Inner product of two 1-D tensors (0-d result)."""
    return _vector_product(DOT, "dot", input, other)


def vdot(input: Tensor, other: Tensor) -> Tensor:
    """``dot`` with the first argument conjugated (real tensors only here: same as dot)."""
    return _vector_product(VDOT, "vdot", input, other)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """Outer product ``input[:, None] * vec2`` (recorded as a multiplication, as PyTorch)."""
    for arg, v in (("self", input), ("vec2", vec2)):
        if not isinstance(v, Tensor):
            raise TypeError(f"outer(): argument '{arg}' must be Tensor, not "
                            f"{type(v).__name__}")
        if v.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {arg}, but got {v.ndim}-D "
                               f"(shape {list(v.shape)})")
    from .views import unsqueeze
    return unsqueeze(input, 1) * vec2


# ---- einsum -----------------------------------------------------------------------------
# Note [einsum gradient]: the cotangent of operand i is the einsum of g with the other
# operands, producing i's letters.  Three cases need more than that one einsum:
# - a letter only in operand i (summed away, e.g. "ij->i"): g is constant along it, so
#   the result is broadcast along that letter;
# - a size-1 dim broadcast against a larger one ("bij,bjk" with b = 1 and 5): sum_to;
# - a repeated letter ("ii", "iij"): the gradient lives on the diagonal, written there
#   with diag_embed, one extra axis at a time.

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _parse_equation(equation: str, shapes):
    """Explicit subscripts (ellipses spelled out with unused letters) and the output."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) != len(shapes):
        more = "fewer" if len(shapes) < len(subs) else "more"
        raise RuntimeError(f"einsum(): {more} operands were provided than specified in the "
                           f"equation '{equation}' ({len(subs)} subscripts, {len(shapes)} "
                           f"operands)")
    for pos, ch in enumerate(eq):
        if ch not in _LETTERS and ch not in ".,->":
            raise RuntimeError(f"einsum(): invalid subscript given at index {pos} in the "
                               f"equation string '{equation}', subscripts must be in [a-zA-Z]")
    used = set(eq)
    free = [c for c in _LETTERS if c not in used]
    n_ell = 0
    for s, shape in zip(subs, shapes):
        if "..." in s:
            n_ell = max(n_ell, len(shape) - (len(s) - 3))
    ell = "".join(free[:n_ell])
    explicit = []
    for i, (s, shape) in enumerate(zip(subs, shapes)):
        if "..." in s:
            k = len(shape) - (len(s) - 3)
            if k < 0:
                raise _subscript_count_error(equation, i, len(s) - 3, len(shape), True)
            s = s.replace("...", ell[n_ell - k:] if k else "")
        if len(s) != len(shape) or "." in s:
            raise _subscript_count_error(equation, i, len(s), len(shape), False)
        explicit.append(s)
    if arrow:
        out = rhs.replace("...", ell)
        for c in out:
            if out.count(c) > 1:
                raise RuntimeError(f"einsum(): output subscript {c} appears more than once in "
                                   f"the output of '{equation}'")
            if not any(c in s for s in explicit):
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in the "
                                   f"equation for any input operand ('{equation}')")
    else:
        joined = "".join(explicit)
        out = ell + "".join(sorted(c for c in set(joined) if joined.count(c) == 1
                                   and c not in ell))
    return tuple(explicit), out


def _subscript_count_error(equation, i, n_sub, ndim, ellipsis):
    return RuntimeError(
        f"einsum(): the number of subscripts in the equation ({n_sub}) does not match the "
        f"number of dimensions ({ndim}) for operand {i}"
        + (" even with the ellipsis" if ellipsis else " and no ellipsis was given")
        + f" ('{equation}'). Fix: give one letter per dimension, or '...' for leading dims.")


def _letter_sizes(subs, shapes, equation):
    """Broadcast size of every letter, checking that operands agree."""
    sizes = {}
    for i, (s, shape) in enumerate(zip(subs, shapes)):
        own = {}
        for c, n in zip(s, shape):
            if own.setdefault(c, n) != n:
                raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {i} but "
                                   f"the sizes don't match, {own[c]} != {n} ('{equation}')")
            seen = sizes.get(c, 1)
            if n != 1 and seen != 1 and n != seen:
                raise RuntimeError(
                    f"einsum(): subscript {c} has size {n} for operand {i} which does not "
                    f"broadcast with previously seen size {seen} ('{equation}', operand "
                    f"shapes {[list(x) for x in shapes]})")
            sizes[c] = n if seen == 1 else seen
    return sizes


@functools.lru_cache(maxsize=512)
def _einsum_plan(subs, out, shapes, i):
    """How to turn ``g`` into operand ``i``'s cotangent (from shapes only; cached).

    Returns ``(spec, reduced, padded, full, embeds, final)``: the einsum, then the
    shapes for sum_to / reshape / broadcast_to (False: skip), the diagonal embeddings
    ``(perm, twin_axis, shape)``, and the final permutation (None: skip).
    """
    mine = subs[i]
    own = dict(zip(mine, shapes[i]))
    unique = "".join(dict.fromkeys(mine))
    sizes = _letter_sizes(subs, shapes, "")
    # size of each letter in the einsum's result: broadcast over g and the other operands
    bsize = {c: sizes[c] for c in out}
    for j, s in enumerate(subs):
        if j != i:
            for c, n in zip(s, shapes[j]):
                bsize[c] = n if bsize.get(c, 1) == 1 else bsize[c]
    others = [s for j, s in enumerate(subs) if j != i]
    present = "".join(c for c in unique if c in bsize)
    spec = ",".join(["..." + out] + others) + "->..." + present
    got = tuple(bsize[c] for c in present)
    reduced = tuple(1 if own[c] == 1 else bsize[c] for c in present)
    padded = tuple(reduced[present.index(c)] if c in bsize else 1 for c in unique)
    full = tuple(own[c] for c in unique)
    embeds = []
    cur = list(unique)
    for c in _repeats(mine):
        twin = cur.index(c)
        perm = tuple(k for k in range(len(cur)) if k != twin) + (twin,)
        cur.append(c)
        embeds.append((perm, twin - len(cur), tuple(own[x] for x in cur)))
    return (spec, got != reduced and reduced, padded != reduced and padded,
            padded != full and full, tuple(embeds), _match_labels(cur, mine))


def _repeats(sub):
    """Letters of ``sub`` beyond their first occurrence, in order."""
    seen = set()
    extra = []
    for c in sub:
        if c in seen:
            extra.append(c)
        seen.add(c)
    return extra


def _match_labels(cur, target):
    """A permutation taking axes labelled ``cur`` to the order ``target`` (None: same)."""
    if "".join(cur) == target:
        return None
    pool = list(range(len(cur)))
    perm = []
    for c in target:
        k = next(k for k in pool if cur[k] == c)
        pool.remove(k)
        perm.append(k)
    return tuple(perm)


def _einsum_vjp(xp, g, i, ops, subs, out, shapes):
    spec, reduced, padded, full, embeds, final = _einsum_plan(subs, out, shapes, i)
    gi = xp.einsum(spec, g, *[x for j, x in enumerate(ops) if j != i])
    if reduced:
        gi = xp.sum_to(gi, reduced)
    if padded:
        gi = xp.reshape(gi, padded)
    if full:
        gi = xp.broadcast_to(gi, full)
    for perm, twin, shape in embeds:
        gi = xp.diag_embed(xp.permute(gi, perm), 0, twin, -1, shape)
    if final is not None:
        gi = xp.permute(gi, final)
    return gi


class _Multilinear(Op):
    """A row with any number of operands, each operand's rule reading all the others."""

    def save_plan(self, needs):
        plan = self._save_cache.get(needs)
        if plan is None:
            n = len(needs)
            plan = self._save_cache[needs] = tuple(
                j for j in range(n) if any(needs[k] for k in range(n) if k != j))
        return plan


def _einsum_backward(op, xp, g, needs, saved, params):
    subs, out, shapes = params
    ops = saved[:len(needs)]
    return [_einsum_vjp(xp, g, i, ops, subs, out, shapes) if n else None
            for i, n in enumerate(needs)]


def _einsum_forward(xp, *args):
    *arrays, subs, out, _ = args
    # BLAS-backed contraction paths pay off for 3+ operands or large ones; operands
    # may carry xp.nb leading batch dims (all of them: "..." stands for those)
    big = len(arrays) > 2 or max(math.prod(a.shape) for a in arrays) > 4096
    lead = "..." if xp.nb else ""
    spec = ",".join(lead + s for s in subs) + "->" + lead + out
    return xp.einsum(spec, *arrays, optimize=big)


EINSUM = _Multilinear("einsum", _einsum_forward, None, node="EinsumBackward0", nin=1,
                      kind="multilinear", backward=_einsum_backward,
                      formula="d einsum(s, x_1..x_n) = sum_i einsum(s_i, g, x_j (j != i))")


def _sublist_equation(args):
    """``einsum(a, [0, 1], b, [1, 2], [0, 2])`` -> ``("ab,bc->ac", [a, b])``."""
    def letters(sub):
        return "".join("..." if s is Ellipsis else _LETTERS[26 + s] if s < 26
                       else _LETTERS[s - 26] for s in sub)
    pairs, out = (args, None) if len(args) % 2 == 0 else (args[:-1], args[-1])
    equation = ",".join(letters(s) for s in pairs[1::2])
    if out is not None:
        equation += "->" + letters(out)
    return equation, list(pairs[0::2])


def einsum(*args) -> Tensor:
    """Einstein summation: ``einsum("ij,jk->ik", a, b)``, ``einsum("ij,jk", [a, b])`` or
    the sublist form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``.  Size-1 dims broadcast;
    ``...`` stands for leading dims, broadcast across operands."""
    if len(args) < 2:  # an equation and an operand, or an operand and its subscripts
        raise ValueError("einsum(): must specify the equation string and at least one "
                         "operand, or at least one operand and its subscripts list")
    if isinstance(args[0], str):
        equation, operands = args[0], list(args[1:])
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = list(operands[0])
    else:
        equation, operands = _sublist_equation(args)
    if not operands:
        raise ValueError("einsum(): must specify the equation string and at least one "
                         "operand, or at least one operand and its subscripts list")
    for k, x in enumerate(operands):
        if not isinstance(x, Tensor):
            raise TypeError(f"einsum(): operand {k} must be a Tensor, not "
                            f"{type(x).__name__}")
        if x._view is not None:
            refresh_view(x)
    dtypes = {x._data.dtype for x in operands}
    if len(dtypes) > 1:
        raise RuntimeError(f"einsum(): expected all operands to have the same dtype, but got "
                           f"{[str(x.dtype) for x in operands]}. Fix: convert them, e.g. "
                           f"b.to(a.dtype).")
    shapes = tuple(x._data.shape for x in operands)
    subs, out = _parse_equation(equation, shapes)
    _letter_sizes(subs, shapes, equation)
    from ._core import nary
    return nary(EINSUM, operands, (subs, out, shapes))


__all__ = ["bmm", "cartesian_prod", "cdist", "dot", "einsum", "kron", "matmul", "mm", "mv",
           "outer", "vdot"]


# ---- kron, cartesian_prod (composites, as in PyTorch), cdist -------------------------------

def kron(input: Tensor, other: Tensor, *, out=None) -> Tensor:
    """The Kronecker product: block (i, j, ...) is ``input[i, j, ...] * other``.  Built
    as PyTorch builds it: the two operands reshaped to interleaved dims, multiplied and
    reshaped (grad_fn UnsafeViewBackward0 over MulBackward0)."""
    from .. import _functions as F
    from .views import RESHAPE_COPY
    for name, t in (("self", input), ("other", other)):
        if not isinstance(t, Tensor):
            raise TypeError(f"kron(): argument '{name}' must be Tensor, not "
                            f"{type(t).__name__}")
    n = max(input._data.ndim, other._data.ndim)
    sa = (1,) * (n - input._data.ndim) + tuple(input._data.shape)
    sb = (1,) * (n - other._data.ndim) + tuple(other._data.shape)
    a = nary(RESHAPE_COPY, (input,), (tuple(x for d in sa for x in (d, 1)),
                                      tuple(input._data.shape)))
    b = nary(RESHAPE_COPY, (other,), (tuple(x for d in sb for x in (1, d)),
                                      tuple(other._data.shape)))
    prod = F.mul(a, b)
    return nary(RESHAPE_COPY, (prod,), (tuple(x * y for x, y in zip(sa, sb)),
                                        tuple(prod._data.shape)))


def cartesian_prod(*tensors) -> Tensor:
    """All combinations of the elements of 1-D tensors, one per row (the first tensor's
    element varies slowest); one tensor is returned as it is."""
    from .shape import stack
    from .views import expand, reshape
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"cartesian_prod(): argument 'tensors' (position {i + 1}) must "
                            f"be Tensor, not {type(t).__name__}")
        if t._data.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t._data.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    if len({np_dtype(t._data.dtype) for t in tensors}) > 1:
        raise RuntimeError("meshgrid expects all tensors to have the same dtype (cast them "
                           "with .to(dtype) first)")
    sizes = tuple(t._data.shape[0] for t in tensors)
    k = len(tensors)
    grids = [expand(reshape(t, tuple(-1 if j == i else 1 for j in range(k))), sizes)
             for i, t in enumerate(tensors)]
    return stack([reshape(g, (-1,)) for g in grids], 1)


def _cdist_parts(xp, x1, x2, p):
    """``diff`` (..., P, R, M) and the distances (..., P, R) of unbatched values."""
    diff = xp.expand_dims(x1, -2) - xp.expand_dims(x2, -3)
    ad = xp.abs(diff)
    if p == 0:
        d = xp.sum(xp.astype(ad != 0, xp.dtype_of(x1)), axis=-1)
    elif p == 1:
        d = xp.sum(ad, axis=-1)
    elif p == 2:
        d = xp.sqrt(xp.sum(diff * diff, axis=-1))
    elif math.isinf(p):
        d = xp.maximum_reduce(ad, (-1,)) if ad.shape[-1] else xp.sum(ad, axis=-1)
    else:
        d = xp.sum(ad ** p, axis=-1) ** (1.0 / p)
    return diff, d


def _same_rank(xp, a, b, sa, sb):
    """Batched values (``xp.nb`` leading dims) of unbatched shapes ``sa``, ``sb`` with
    leading ones so their own dims align (batch dims stay in front)."""
    nd = max(len(sa), len(sb))
    if len(sa) < nd:
        a = xp.reshape(a, (1,) * (nd - len(sa)) + tuple(sa))
    if len(sb) < nd:
        b = xp.reshape(b, (1,) * (nd - len(sb)) + tuple(sb))
    return a, b


def _cdist_forward(xp, x1, x2, p):
    if xp.nb:
        x1, x2 = _same_rank(xp, x1, x2, x1.shape[xp.nb:], x2.shape[xp.nb:])
    return _cdist_parts(xp, x1, x2, p)[1]


def _cdist_weights(xp, x1, x2, out, p):
    """d dist[..., i, j] / d x1[..., i, :] as (..., P, R, M) (PyTorch's _cdist_backward)."""
    diff = xp.expand_dims(x1, -2) - xp.expand_dims(x2, -3)
    d = xp.expand_dims(out, -1)
    zero = d == 0
    if p == 0:
        return None
    if p == 1:
        return xp.sign(diff)
    if p == 2:
        return xp.where(zero, 0, diff / xp.where(zero, 1, d))
    if math.isinf(p):
        return xp.where(xp.abs(diff) == d, xp.sign(diff), 0)
    w = xp.sign(diff) * xp.abs(diff) ** (p - 1) / xp.where(zero, 1, d) ** (p - 1)
    if p < 1:
        w = xp.where(diff == 0, 0, w)
    return xp.where(zero, 0, w)


def _cdist_dx1(xp, g, x1, x2, out, p):
    w = _cdist_weights(xp.with_nb(-xp.nb) if xp.nb else xp, x1, x2, out, p)
    if w is None:
        return xp.sum_to(xp.zeros(g, tuple(out.shape[:-1]) + (x1.shape[-1],)), x1.shape)
    return xp.sum_to(xp.sum(xp.expand_dims(g, -1) * w, axis=-2), x1.shape)


def _cdist_dx2(xp, g, x1, x2, out, p):
    w = _cdist_weights(xp.with_nb(-xp.nb) if xp.nb else xp, x1, x2, out, p)
    if w is None:
        return xp.sum_to(xp.zeros(g, tuple(out.shape[:-2]) + tuple(x2.shape[-2:])),
                         x2.shape)
    return xp.sum_to(-xp.sum(xp.expand_dims(g, -1) * w, axis=-3), x2.shape)


def _cdist_jvp(xp, ts, x1, x2, out, p):
    t1, t2 = ts
    if xp.nb and t1 is not None and t2 is not None:
        t1, t2 = _same_rank(xp, t1, t2, x1.shape, x2.shape)
    elif xp.nb:  # one tangent: its own dims padded to the other input's rank
        nd = max(x1.ndim, x2.ndim)
        if t1 is not None and x1.ndim < nd:
            t1 = xp.reshape(t1, (1,) * (nd - x1.ndim) + tuple(x1.shape))
        if t2 is not None and x2.ndim < nd:
            t2 = xp.reshape(t2, (1,) * (nd - x2.ndim) + tuple(x2.shape))
    d = 0
    if t1 is not None:
        d = xp.expand_dims(t1, -2)
    if t2 is not None:
        d = d - xp.expand_dims(t2, -3)
    w = _cdist_weights(xp.with_nb(-xp.nb) if xp.nb else xp, x1, x2, out, p)
    return xp.sum(d * (0 if w is None else w), axis=-1)


CDIST = Op("cdist", _cdist_forward, (_cdist_dx1, _cdist_dx2), nin=2,
           reads=((0, 1, 2), (0, 1, 2)), jvp=_cdist_jvp,
           formula="d cdist(x1, x2, p) = sum_j g_ij sign(d) |d|^(p-1) / dist^(p-1) to x1 "
                   "(d = x1_i - x2_j), minus the same to x2; 0 where dist = 0")


def _euclid_forward(xp, x1, x2):
    # PyTorch's _euclidean_dist: one matmul of padded operands, clamped at 1e-30
    n1 = xp.sum(x1 * x1, axis=-1, keepdims=True)
    n2 = xp.sum(x2 * x2, axis=-1, keepdims=True)
    sq = n1 - 2 * xp.matmul(x1, xp.swapaxes(x2, -1, -2)) + xp.swapaxes(n2, -1, -2)
    return xp.sqrt(xp.where(sq > 1e-30, sq, 1e-30))


def _euclid_ratio(xp, g, out):
    return xp.where(out == 0, 0, g / out)


def _euclid_dx1(xp, g, x1, x2, out):
    r = _euclid_ratio(xp, g, out)
    return x1 * xp.sum(r, axis=-1, keepdims=True) - xp.matmul(r, x2)


def _euclid_dx2(xp, g, x1, x2, out):
    r = _euclid_ratio(xp, g, out)
    return (x2 * xp.expand_dims(xp.sum(r, axis=-2), -1)
            - xp.matmul(xp.swapaxes(r, -1, -2), x1))


def _euclid_jvp(xp, ts, x1, x2, out):
    # d ||x1_i - x2_j|| = <x1_i - x2_j, t1_i - t2_j> / dist, in matmul form
    t1, t2 = ts
    num = 0
    if t1 is not None:
        num = xp.sum(x1 * t1, axis=-1, keepdims=True) - xp.matmul(t1, xp.swapaxes(x2, -1, -2))
    if t2 is not None:
        num = num + (xp.swapaxes(xp.sum(x2 * t2, axis=-1, keepdims=True), -1, -2)
                     - xp.matmul(x1, xp.swapaxes(t2, -1, -2)))
    return xp.where(out == 0, 0, num / xp.where(out == 0, 1, out))


EUCLIDEAN_DIST = Op("euclidean_dist", _euclid_forward, (_euclid_dx1, _euclid_dx2), nin=2,
                    reads=((0, 1, 2), (0, 1, 2)), jvp=_euclid_jvp,
                    formula="d ||x1_i - x2_j|| = (g/dist) (x1_i - x2_j) to x1, the negative "
                            "to x2 (one matmul, as PyTorch's _euclidean_dist)")

_COMPUTE_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                  "donot_use_mm_for_euclid_dist")


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0,
          compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """The p-norm distance between each row of ``x1`` (..., P, M) and each row of ``x2``
    (..., R, M): (..., P, R).  For p = 2 with more than 25 rows (or
    ``compute_mode='use_mm_for_euclid_dist'``) one matrix product, as PyTorch."""
    from .views import expand, reshape
    for name, t in (("x1", x1), ("x2", x2)):
        if not isinstance(t, Tensor):
            raise TypeError(f"cdist(): argument '{name}' must be Tensor, not "
                            f"{type(t).__name__}")
    if isinstance(p, Tensor) and p._data.size == 1:  # PyTorch reads a one-value tensor
        p = p.item()
    if not isinstance(p, (int, float, np.number)):
        raise TypeError(f"cdist(): argument 'p' must be float, not {type(p).__name__}")
    if not isinstance(compute_mode, str) or compute_mode not in _COMPUTE_MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    a, b = x1._data, x2._data
    for name, arr in (("X1", a), ("X2", b)):
        if arr.ndim < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: "
                               f"{arr.ndim}D")
    if a.shape[-1] != b.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: "
                           f"{a.shape[-1]} X2: {b.shape[-1]}")
    for name, t in (("X1", x1), ("X2", x2)):
        if np_dtype(t._data.dtype).kind != "f":
            from .._dtype import from_numpy_dtype
            kind = str(from_numpy_dtype(np_dtype(t._data.dtype))).replace("torch.", "")
            kind = {"int64": "Long", "int32": "Int", "bool": "Bool"}.get(kind, kind)
            raise RuntimeError(f"cdist only supports floating-point dtypes, {name} got: "
                               f"{kind}")
    if np_dtype(a.dtype) != np_dtype(b.dtype):
        raise RuntimeError(f"expected scalar type {x1.dtype} but found {x2.dtype} (cdist: "
                           f"x1 and x2 need one dtype)")
    p = float(p)
    if not p >= 0:  # (NaN too)
        raise RuntimeError(f"cdist only supports non-negative p values (got p = {p})")
    rows1, rows2 = a.shape[-2], b.shape[-2]
    batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    mm = p == 2 and (compute_mode == "use_mm_for_euclid_dist" or (
        compute_mode == _COMPUTE_MODES[0] and (rows1 > 25 or rows2 > 25)))
    if mm and rows1 and rows2:
        e1 = x1 if a.shape[:-2] == batch else expand(x1, batch + a.shape[-2:])
        e2 = x2 if b.shape[:-2] == batch else expand(x2, batch + b.shape[-2:])
        res = nary(EUCLIDEAN_DIST, (e1, e2), ())
        return reshape(res, batch + (rows1, rows2))
    return nary(CDIST, (x1, x2), (p,))


TENSOR_METHODS = {"matmul": matmul, "mm": mm, "bmm": bmm, "mv": mv, "dot": dot,
                  "vdot": vdot, "outer": outer, "kron": kron}
