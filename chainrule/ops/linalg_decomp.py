"""Solvers and decompositions: solve, inv, det, slogdet, cholesky, eigh, svd, qr.

Real matrices; ``A`` is ``(..., m, n)`` (square where the op needs it), ``g`` the
cotangent of the output, ``t`` the tangent of ``A``, ``X^T`` the transpose of the last
two dims, ``sym(X) = (X + X^T) / 2``, ``skew(X) = (X - X^T) / 2``, ``∘`` elementwise::

    X = solve(A, B)     dX = A^{-1} (dB - dA X)          gB = A^{-T} g,  gA = -gB X^T
    X = inv(A)          dX = -X dA X                      gA = -X^T g X^T
    d = det(A)          dd = d tr(A^{-1} dA)              gA = g cof(A) = g d A^{-T}
    l = log|det(A)|     dl = tr(A^{-1} dA)                gA = g A^{-T}
    L = cholesky(A)     dL = L Φ(L^{-1} sym(dA) L^{-T})   gA = L^{-T} Ψ(L^T gL) L^{-1}
                        Φ(X) = tril(X) - diag(X)/2,  Ψ(X) = sym of tril(X) with diag(X)/2
    λ, V = eigh(A)      dλ = diag(V^T sym(dA) V)          gA = V (diag(gλ) + F ∘ K) V^T
                        dV = V (F ∘ V^T sym(dA) V),   K = skew(V^T gV),
                        F_ij = 1 / (λ_j - λ_i), F_ii = 0
    U, S, Vh = svd(A)   PyTorch's svd_backward (F_ij = 1 / (s_j² - s_i²)), see _svd_vjp
    Q, R = qr(A)        gA = (gQ + Q copyltu(R gR^T - gQ^T Q)) R^{-T}   (m >= n)

Rule names as in the rest of ``ops/``: ``rule(xp, g, *inputs, out, *params)``, with ``g``
carrying ``xp.nb`` leading batch dims; JVPs are ``jvp(xp, ts, *inputs, out, *params)``
with one tangent per input (``None``: no tangent), also with ``xp.nb`` batch dims.
Everything addresses the last two dims (``xp.swapaxes(x, -1, -2)``, ``xp.matmul``), so
matrix batch dims and cotangent batch dims pass through alike.

Note [packed outputs]: a node has one output, but eigh, svd, qr and slogdet return
several tensors whose gradients must meet in one node.  Each such row returns ONE
array, its outputs flattened over their trailing (matrix) dims and concatenated along
a last axis (``xp.pack``); the public function returns views of it (``unpack``: a
narrow and a reshape per output).  Like a multi-output custom Function's output slots,
the node of each view shows the decomposition's node as ``grad_fn`` (``Node._gather``),
so ``U.grad_fn`` is LinalgSvdBackward0 and its ``next_functions`` lead to ``A``, as in
PyTorch; hooks and ``retain_grad`` of an output live on its own view node.  Rules
split ``g`` and the saved ``out`` with ``xp.unpack``, which addresses trailing dims
only, so it serves batched cotangents and unbatched saved values alike.  The outputs
share one version counter: changing one in place invalidates the saved output, as
PyTorch's saved outputs do.

Note [degenerate spectrum]: F is 0 where λ_j = λ_i (including the diagonal) and 1/s
is taken as 0 where s = 0, with double ``where`` so no inf or NaN is formed.  PyTorch
divides by zero there and returns inf/NaN.  For a loss that does not depend on the
basis chosen inside a repeated eigenspace (or on the singular vectors of s = 0) our
value is the true gradient; for other losses no gradient exists.  Because cotangents of
unused outputs are zeros, not "undefined", this also keeps ``svdvals`` and the norms
built on it finite for rank-deficient and repeated-singular-value matrices.

Note [singular det]: the gradient of det is the cofactor matrix ``adj(A)^T``, which
``_cofactor`` computes as ``det(A) A^{-T}``, or, when some det(A) == 0 exactly, from the
SVD ``det(U) det(Vh) U diag(c) Vh`` with ``c_i = prod_{j != i} s_j`` (PyTorch's singular
formula).  It is one rule text for every namespace, so the derivative of the gradient
(create_graph, func.hessian) goes through the SVD's own rule at a singular matrix
instead of raising in ``inv``.  It is right there too (finite differences agree);
PyTorch 2.13 returns zeros for exactly singular matrices of rank n-1 (e.g. [[1, 2],
[2, 4]], where the true gradient is [[4, -2], [-2, 1]]), and NaN at second order where
zero singular values repeat (Note [degenerate spectrum]: we give finite values).
"""

from __future__ import annotations

import copy
import math

import numpy as np

from .._tensor import Tensor
from ..backend.array_api import np_dtype
from ..backend.numpy_backend import LinAlgError
from . import views as _views
from ._core import Op, nary, unary
from .reductions import TORCH_TYPE_NAMES, check_tensor
from .sorting import _return_type

LinAlgError.__module__ = "chainrule.linalg"

RETURN_TYPES = {name: _return_type(name, fields) for name, fields in (
    ("linalg_eigh", ("eigenvalues", "eigenvectors")), ("linalg_svd", ("U", "S", "Vh")),
    ("linalg_qr", ("Q", "R")), ("linalg_slogdet", ("sign", "logabsdet")),
    ("slogdet", ("sign", "logabsdet")))}


# ---- packing (Note [packed outputs]) ---------------------------------------------------

def pack(parts, shapes) -> Tensor:
    """``xp.pack`` on Tensors: trailing ``shapes`` flattened, concatenated on a new last axis."""
    from .shape import cat
    flat = [_views.reshape(p, tuple(p.shape[:p.ndim - len(s)]) + (math.prod(s),))
            for p, s in zip(parts, shapes)]
    return cat(flat, -1)


_SLICE_OUT = _views.output_row(_views.GETITEM, "SliceBackward0")
_VIEW_OUT = _views.output_row(_views.RESHAPE, "ViewBackward0")


def unpack(p: Tensor, shapes) -> list:
    """``xp.unpack`` on Tensors: views of ``p`` with trailing ``shapes``; each one's
    ``grad_fn`` is ``p``'s (Note [packed outputs])."""
    out, o, lead = [], 0, tuple(p.shape[:-1])
    node = p._node if p._rg else None
    nd = p.ndim
    for s in shapes:
        k = math.prod(s)
        key = (slice(None),) * (nd - 1) + (slice(o, o + k), Ellipsis)
        if len(s) == 1:
            piece = _views.view(_SLICE_OUT, p, key, tuple(p.shape))
        else:
            piece = _views.view(_views.GETITEM, p, key, tuple(p.shape))
            piece = _views.view(_VIEW_OUT, piece, lead + tuple(s), tuple(piece.shape))
        if node is not None and piece._rg:
            piece._node._of = node
        out.append(piece)
        o += k
    return out


def _mT(xp, x):
    return xp.swapaxes(x, -1, -2)


def _sym(xp, x):
    return 0.5 * (x + _mT(xp, x))


def _inv_gaps(xp, lam):
    """F_ij = 1 / (lam_j - lam_i), 0 where lam_j == lam_i (Note [degenerate spectrum])."""
    e = xp.expand_dims(lam, -2) - xp.expand_dims(lam, -1)
    same = e == 0
    return xp.where(same, 0, 1 / xp.where(same, 1, e))


def _recip(xp, s):
    zero = s == 0
    return xp.where(zero, 0, 1 / xp.where(zero, 1, s))


def _right_solve(xp, z, a):
    """``z a^{-1}`` as ``(a^{-T} z^T)^T``."""
    return _mT(xp, xp.solve(_mT(xp, a), _mT(xp, z)))


# ---- solve -------------------------------------------------------------------------------

def _solve_forward(xp, a, b, vector, a_shape, b_shape, x_shape):
    try:
        if vector:
            return xp.solve(a, b[..., None])[..., 0]
        return xp.solve(a, b)
    except LinAlgError:
        raise _solve_error(a, x_shape, vector) from None


def _solve_backward(op, xp, g, needs, saved, params):
    a, _, x = saved
    vector, a_shape, b_shape, x_shape = params
    gm = xp.reshape(g, x_shape + (1,)) if vector else g
    gbm = xp.solve(_mT(xp, a), gm)  # A^{-T} g, shared by both cotangents
    ga = gb = None
    if needs[0]:
        xm = xp.expand_dims(x, -1) if vector else x
        ga = xp.sum_to(-xp.matmul(gbm, _mT(xp, xm)), a_shape)
    if needs[1]:
        gb = xp.sum_to(gbm, b_shape + (1,) if vector else b_shape)
        if vector:
            gb = xp.reshape(gb, b_shape)
    return (ga, gb)


def _lift(xp, t, shape, rank):
    """A tangent of an input of ``shape`` with size-1 dims in front up to ``rank``
    unbatched dims, so its batch dims cannot meet the other operand's matrix batch."""
    k = rank - len(shape)
    return t if k == 0 else xp.reshape(t, (1,) * k + tuple(shape))


def _solve_jvp(xp, ts, a, b, x, vector, a_shape, b_shape, x_shape):
    ta, tb = ts
    rank = len(x_shape) + vector
    xm = xp.expand_dims(x, -1) if vector else x
    rhs = None
    if tb is not None:
        bm_shape = b_shape + (1,) if vector else b_shape
        rhs = _lift(xp, xp.expand_dims(tb, -1) if vector else tb, bm_shape, rank)
    if ta is not None:
        r = -xp.matmul(_lift(xp, ta, a_shape, rank), xm)
        rhs = r if rhs is None else rhs + r
    dx = xp.solve(a, rhs)
    return xp.reshape(dx, x_shape) if vector else dx


SOLVE = Op("linalg_solve", _solve_forward, None, nin=2, reads=((0, 2), (0,)),
           node="LinalgSolveExBackward0", backward=_solve_backward, jvp=_solve_jvp,
           formula="X = A^{-1} B:  gB = A^{-T} g,  gA = -gB X^T;  dX = A^{-1}(dB - dA X)")


# ---- inv, det, slogdet ----------------------------------------------------------------

def _inv_forward(xp, a):
    try:
        return xp.inv(a)
    except LinAlgError:
        raise _singular_error("linalg.inv", a) from None


INV = Op("linalg_inv", _inv_forward,
         (lambda xp, g, a, out: -xp.matmul(_mT(xp, out), xp.matmul(g, _mT(xp, out))),),
         reads=((1,),), node="LinalgInvExBackward0",
         jvp=lambda xp, ts, a, out: -xp.matmul(out, xp.matmul(ts[0], out)),
         formula="X = A^{-1}:  gA = -X^T g X^T;  dX = -X dA X")

def _cofactor(xp, a):
    """``adj(a)^T``, the derivative of ``det`` at ``a`` (Note [singular det])."""
    d = xp.det(a)
    if xp.all_nonzero(d):
        return xp.expand_dims(d, (-2, -1)) * _mT(xp, xp.inv(a))
    n = a.shape[-1]
    if n <= _POLY_ADJ_MAX:
        return _mT(xp, _adjugate_poly(xp, a, n))
    u, s, vh = xp.svd(a)
    others = xp.where(np.eye(n, dtype=bool), 1, xp.expand_dims(s, -2))
    c = xp.prod(others, -1) * xp.expand_dims(xp.det(u) * xp.det(vh), -1)
    return xp.matmul(u * xp.expand_dims(c, -2), vh)


# Note [polynomial adjugate]: adj(A) is a polynomial in A's entries; the Faddeev-LeVerrier
# recurrence computes it with products and traces only, M_k = A M_{k-1} + c_{n-k+1} I,
# c_{n-k} = -tr(A M_k) / k, adj(A) = (-1)^(n+1) M_n, so its derivatives of every order
# are exact at singular matrices too (the SVD form's are not where singular values
# repeat, e.g. the zero matrix).  The recurrence loses accuracy as n grows: it serves
# exactly singular matrices up to this size, the SVD form larger ones.
_POLY_ADJ_MAX = 8


def _adjugate_poly(xp, a, n):
    eye = np.eye(n, dtype=bool)
    m = xp.where(eye, 1, a * 0)  # M_1 = I (a's dtype and batch dims)
    c = -_trace(xp, a)
    for k in range(2, n + 1):
        m = xp.matmul(a, m) + xp.where(eye, xp.expand_dims(c, (-2, -1)), 0)
        if k < n:
            c = -_trace(xp, xp.matmul(a, m)) / k
    return m if n % 2 else 0 - m  # 0 - m: no -0.0 where the adjugate is 0


def _trace(xp, x):
    return xp.sum(xp.diagonal(x, 0, -2, -1), -1)


DET = Op("linalg_det", "det",
         (lambda xp, g, a, out: xp.expand_dims(g, (-2, -1)) * _cofactor(xp, a),),
         reads=((0,),), node="LinalgDetBackward0",
         jvp=lambda xp, ts, a, out: xp.sum(_cofactor(xp, a) * ts[0], (-2, -1)),
         formula="d = det(A):  gA = g cof(A) = g d A^{-T};  dd = <cof(A), dA>")


def _slogdet_forward(xp, a):
    sign, logabs = xp.slogdet(a)
    return xp.pack((sign, logabs), ((), ()))


def _slogdet_vjp(xp, g, a, out):
    g_log = xp.unpack(g, ((), ()))[1]  # the sign is locally constant: its g is ignored
    return xp.expand_dims(g_log, (-2, -1)) * _mT(xp, xp.inv(a))


def _slogdet_jvp(xp, ts, a, out):
    t_log = xp.sum(_mT(xp, xp.inv(a)) * ts[0], (-2, -1))  # tr(A^{-1} dA)
    return xp.pack((xp.zeros(t_log, tuple(a.shape[:-2])), t_log), ((), ()))


SLOGDET = Op("linalg_slogdet", _slogdet_forward, (_slogdet_vjp,), reads=((0,),),
             node="LinalgSlogdetBackward0", jvp=_slogdet_jvp,
             formula="packed (sign, log|det A|):  gA = g_logabsdet A^{-T};  "
                     "d log|det A| = tr(A^{-1} dA), d sign = 0")


# ---- cholesky ----------------------------------------------------------------------------

def _cholesky_forward(xp, a, upper):
    try:
        return xp.cholesky(a, upper)
    except LinAlgError:
        raise _not_pd_error(a) from None


def _cholesky_vjp(xp, g, a, out, upper):
    # PyTorch's cholesky_backward: the gradient is symmetric (A is read as sym(A))
    lo = _mT(xp, out) if upper else out
    g_lo = _mT(xp, g) if upper else g
    p = xp.tril(xp.matmul(_mT(xp, lo), g_lo), 0)
    s = 0.5 * (p + _mT(xp, xp.tril(p, -1)))  # Ψ: sym of tril(p), diagonal halved
    return _right_solve(xp, xp.solve(_mT(xp, lo), s), lo)  # L^{-T} Ψ L^{-1}


def _cholesky_jvp(xp, ts, a, out, upper):
    lo = _mT(xp, out) if upper else out
    x = _right_solve(xp, xp.solve(lo, _sym(xp, ts[0])), _mT(xp, lo))  # L^{-1} dA L^{-T}
    low = xp.tril(x, 0)
    d_lo = xp.matmul(lo, low - 0.5 * xp.triu(low, 0))  # L Φ(x)
    return _mT(xp, d_lo) if upper else d_lo


CHOLESKY = Op("linalg_cholesky", _cholesky_forward, (_cholesky_vjp,), reads=((1,),),
              node="LinalgCholeskyExBackward0", jvp=_cholesky_jvp,
              formula="A = L L^T:  gA = L^{-T} Ψ(L^T gL) L^{-1};  dL = L Φ(L^{-1} dA L^{-T}), "
                      "Φ(X) = tril(X) - diag(X)/2, Ψ(P) = sym of tril(P), diagonal halved")


# ---- eigh ----------------------------------------------------------------------------------

def _eigh_shapes(n):
    return ((n,), (n, n))


def _eigh_forward(xp, a, uplo, a_shape):
    lam, v = xp.eigh(a, uplo)
    return xp.pack((lam, v), _eigh_shapes(a.shape[-1]))


def _eigh_vjp(xp, g, a, out, uplo, a_shape):
    shapes = _eigh_shapes(a_shape[-1])
    lam, v = xp.unpack(out, shapes)
    g_lam, g_v = xp.unpack(g, shapes)
    m = xp.matmul(_mT(xp, v), g_v)
    k = 0.5 * (m - _mT(xp, m)) * _inv_gaps(xp, lam)
    k = k + xp.diag_embed(g_lam, 0, -2, -1, a_shape)
    return xp.matmul(v, xp.matmul(k, _mT(xp, v)))


def _eigh_jvp(xp, ts, a, out, uplo, a_shape):
    shapes = _eigh_shapes(a_shape[-1])
    lam, v = xp.unpack(out, shapes)
    x = xp.matmul(_mT(xp, v), xp.matmul(_sym(xp, ts[0]), v))
    d_lam = xp.diagonal(x, 0, -2, -1)
    d_v = xp.matmul(v, x * _inv_gaps(xp, lam))
    return xp.pack((d_lam, d_v), shapes)


EIGH = Op("linalg_eigh", _eigh_forward, (_eigh_vjp,), reads=((1,),),
          node="LinalgEighBackward0", jvp=_eigh_jvp,
          formula="packed (λ, V), A = V diag(λ) V^T:  gA = V (diag(gλ) + F ∘ skew(V^T gV)) "
                  "V^T, F_ij = 1/(λ_j - λ_i);  dλ = diag(V^T dA V), dV = V (F ∘ V^T dA V)")


# ---- svd -------------------------------------------------------------------------------------

def _svd_shapes(m, n, full):
    k = min(m, n)
    return ((m, m if full else k), (k,), (n if full else k, n))


def _svd_forward(xp, a, full, a_shape):
    u, s, vh = xp.svd(a, full)
    return xp.pack((u, s, vh), _svd_shapes(a.shape[-2], a.shape[-1], full))


def _svd_parts(xp, packed, m, n, full):
    """U, S, Vh from a packed array, the extra columns of a full U (rows of Vh) dropped."""
    u, s, vh = xp.unpack(packed, _svd_shapes(m, n, full))
    k = min(m, n)
    if full and m != n:
        u, vh = xp.narrow(u, -1, 0, k), xp.narrow(vh, -2, 0, k)
    return u, s, vh


def _svd_vjp(xp, g, a, out, full, a_shape):
    """PyTorch's svd_backward.  With ``full_matrices=True`` the gradients of the columns
    of U (rows of Vh) past min(m, n) are ignored, as PyTorch documents."""
    m, n = a_shape[-2:]
    k = min(m, n)
    u, s, vh = _svd_parts(xp, out, m, n, full)
    gu, gs, gvh = _svd_parts(xp, g, m, n, full)
    s_row, s_col = xp.expand_dims(s, -2), xp.expand_dims(s, -1)
    uhgu = xp.matmul(_mT(xp, u), gu)
    vhgv = xp.matmul(vh, _mT(xp, gvh))
    core = ((uhgu - _mT(xp, uhgu)) * s_row + s_col * (vhgv - _mT(xp, vhgv)))
    core = core * _inv_gaps(xp, s * s) + xp.diag_embed(gs, 0, -2, -1, a_shape[:-2] + (k, k))
    if m > n:  # gA = [U core + (I - U U^T) gU S^{-1}] Vh
        gu_s = gu * _recip(xp, s_row)
        ga = xp.matmul(u, core) + gu_s - xp.matmul(u, xp.matmul(_mT(xp, u), gu_s))
        return xp.matmul(ga, vh)
    if m < n:  # gA = U [core Vh + S^{-1} gVh (I - V Vh)]
        s_gvh = gvh * _recip(xp, s_col)
        ga = xp.matmul(core, vh) + s_gvh - xp.matmul(xp.matmul(s_gvh, _mT(xp, vh)), vh)
        return xp.matmul(u, ga)
    return xp.matmul(u, xp.matmul(core, vh))


def _svd_jvp(xp, ts, a, out, full, a_shape):
    """dP = U^T dA V, dS = diag(dP), U^T dU = F ∘ (dP S + S dP^T),
    V^T dV = F ∘ (S dP + dP^T S), plus the parts outside span(U) (m > n) or span(V)
    (m < n); the extra columns of full U / Vh get a zero tangent, as in PyTorch."""
    m, n = a_shape[-2:]
    k = min(m, n)
    t = ts[0]
    u, s, vh = _svd_parts(xp, out, m, n, full)
    v = _mT(xp, vh)
    s_row, s_col = xp.expand_dims(s, -2), xp.expand_dims(s, -1)
    tv = xp.matmul(t, v)
    dp = xp.matmul(_mT(xp, u), tv)
    f = _inv_gaps(xp, s * s)
    du = xp.matmul(u, f * (dp * s_row + s_col * _mT(xp, dp)))
    dv = xp.matmul(v, f * (s_col * dp + _mT(xp, dp) * s_row))
    if m > k:
        du = du + (tv - xp.matmul(u, dp)) * _recip(xp, s_row)
    if n > k:
        dv = dv + (xp.matmul(_mT(xp, t), u) - xp.matmul(v, _mT(xp, dp))) * _recip(xp, s_row)
    dvh = _mT(xp, dv)
    if full and m != n:
        du = xp.pad(du, [(0, 0), (0, m - k)])
        dvh = xp.pad(dvh, [(0, n - k), (0, 0)])
    return xp.pack((du, xp.diagonal(dp, 0, -2, -1), dvh), _svd_shapes(m, n, full))


SVD = Op("linalg_svd", _svd_forward, (_svd_vjp,), reads=((1,),),
         node="LinalgSvdBackward0", jvp=_svd_jvp,
         formula="packed (U, S, Vh), A = U diag(S) Vh:  gA = U [(skew(U^T gU) S + S "
                 "skew(Vh gVh^T)) ∘ F + diag(gS)] Vh + off-span terms, "
                 "F_ij = 1/(s_j² - s_i²)")


# ---- qr --------------------------------------------------------------------------------------

def _qr_shapes(m, n, mode):
    k = min(m, n)
    if mode == "complete":
        return ((m, m), (m, n))
    return ((m, 0 if mode == "r" else k), (k, n))


def _qr_forward(xp, a, mode, a_shape):
    m, n = a.shape[-2:]
    q, r = xp.qr(a, mode)
    return xp.pack((q, r), _qr_shapes(m, n, mode))


def _qr_check(mode, m, n):
    if mode == "r":
        raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed "
                           "when mode='r'. Please use linalg.qr(A, mode='reduced') if you are "
                           "going to differentiate through linalg.qr.")
    if mode == "complete" and m > n:
        raise RuntimeError("The QR decomposition is not differentiable when mode='complete' "
                           "and nrows > ncols.")


def _qr_tall_vjp(xp, q, r, gq, gr):
    """m >= n:  gA = (gQ + Q copyltu(M)) R^{-T},  M = R gR^T - gQ^T Q."""
    mm = xp.matmul(r, _mT(xp, gr)) - xp.matmul(_mT(xp, gq), q)
    copyltu = xp.tril(mm, 0) + _mT(xp, xp.tril(mm, -1))
    return _right_solve(xp, gq + xp.matmul(q, copyltu), _mT(xp, r))


def _qr_vjp(xp, g, a, out, mode, a_shape):
    """Wide A = [X | Y] (m < n): X = Q U is a square QR and Y = Q V with R = [U | V], so
    gY = Q gV and X's rule runs with gQ + Y gV^T."""
    m, n = a_shape[-2:]
    _qr_check(mode, m, n)
    shapes = _qr_shapes(m, n, mode)
    q, r = xp.unpack(out, shapes)
    gq, gr = xp.unpack(g, shapes)
    if m >= n:
        return _qr_tall_vjp(xp, q, r, gq, gr)
    u, v = xp.narrow(r, -1, 0, m), xp.narrow(r, -1, m, n - m)
    gu, gv = xp.narrow(gr, -1, 0, m), xp.narrow(gr, -1, m, n - m)
    gx = _qr_tall_vjp(xp, q, u, gq + xp.matmul(xp.matmul(q, v), _mT(xp, gv)), gu)
    return xp.concatenate([gx, xp.matmul(q, gv)], -1)


def _qr_tall_jvp(xp, q, r, t):
    """X = Q^T dA R^{-1};  dR R^{-1} = X - C with C = skew part from tril(X, -1);
    dQ = dA R^{-1} - Q (X - C),  dR = (X - C) R."""
    ar = _right_solve(xp, t, r)
    x = xp.matmul(_mT(xp, q), ar)
    low = xp.tril(x, -1)
    w = x - (low - _mT(xp, low))
    return ar - xp.matmul(q, w), xp.matmul(w, r)


def _qr_jvp(xp, ts, a, out, mode, a_shape):
    m, n = a_shape[-2:]
    _qr_check(mode, m, n)
    shapes = _qr_shapes(m, n, mode)
    q, r = xp.unpack(out, shapes)
    t = ts[0]
    if m >= n:
        return xp.pack(_qr_tall_jvp(xp, q, r, t), shapes)
    u, v = xp.narrow(r, -1, 0, m), xp.narrow(r, -1, m, n - m)
    dq, du = _qr_tall_jvp(xp, q, u, xp.narrow(t, -1, 0, m))
    dv = (xp.matmul(_mT(xp, dq), xp.matmul(q, v))
          + xp.matmul(_mT(xp, q), xp.narrow(t, -1, m, n - m)))
    return xp.pack((dq, xp.concatenate([du, dv], -1)), shapes)


QR = Op("linalg_qr", _qr_forward, (_qr_vjp,), reads=((1,),), node="LinalgQrBackward0",
        jvp=_qr_jvp,
        formula="packed (Q, R), A = Q R (m >= n):  gA = (gQ + Q copyltu(R gR^T - gQ^T Q)) "
                "R^{-T};  wide A = [X | Y]: X by that rule with gQ + Y gV^T, gY = Q gV")


# ---- errors ----------------------------------------------------------------------------------

def _matrix_input(A, op: str, square: bool = True) -> tuple:
    """Check ``A`` is a floating (batch of) matrices; return its shape."""
    check_tensor(A, op)
    shape = A._data.shape
    if len(shape) < 2:
        raise RuntimeError(f"{op}: The input tensor A must have at least 2 dimensions.")
    if square and shape[-1] != shape[-2]:
        raise RuntimeError(f"{op}: A must be batches of square matrices, but they are "
                           f"{shape[-2]} by {shape[-1]} matrices")
    dt = np_dtype(A._data.dtype)
    if dt.kind != "f":
        name = TORCH_TYPE_NAMES.get(dt.name, dt.name)
        raise RuntimeError(f"{op}: Expected a floating point or complex tensor as input. "
                           f"Got {name}")
    return shape


def _first_zero_pivot(m) -> int:
    """LAPACK getrf's ``info``: the first zero diagonal element (1-based) of U in the LU
    factorization with partial pivoting, 0 if there is none."""
    u = np.array(m, dtype=np.float64)
    for j in range(u.shape[-1]):
        p = j + int(np.argmax(np.abs(u[j:, j])))
        u[[j, p]] = u[[p, j]]
        if u[j, j] == 0:
            return j + 1
        u[j + 1:, j:] -= np.outer(u[j + 1:, j] / u[j, j], u[j, j:])
    return 0


def _host(a):
    """A NumPy copy of an array of any library (error messages only; under vmap every
    sample's matrices, the batch dims leading)."""
    from ..backend.batched import physical
    a = physical(a)
    if type(a).__name__ == "MetaArray":
        return np.zeros(a.shape, a.dtype)
    try:
        return np.asarray(a)
    except Exception:  # array-api-strict refuses __array__
        return np.from_dlpack(a)


def _first_failure(a, test):
    """``(batch prefix, test's result)`` for the first matrix of ``a`` where it is nonzero."""
    a = _host(a)
    mats = a.reshape((-1,) + a.shape[-2:])
    for i, m in enumerate(mats):
        found = test(m)
        if found:
            return (f"(Batch element {i}): " if a.ndim > 2 else ""), found
    return "", 0


def _singular_error(op, a):
    prefix, k = _first_failure(a, _first_zero_pivot)
    what = f"The diagonal element {k} is zero, the" if k else "The"
    return LinAlgError(f"{op}: {prefix}{what} inversion could not be completed because the "
                       f"input matrix is singular.")


def _bad_minor(m) -> int:
    for k in range(1, m.shape[-1] + 1):
        try:
            np.linalg.cholesky(m[:k, :k])
        except np.linalg.LinAlgError:
            return k
    return 0


def _not_pd_error(a):
    prefix, k = _first_failure(a, _bad_minor)
    return LinAlgError(f"linalg.cholesky: {prefix}The factorization could not be completed "
                       f"because the input is not positive-definite (the leading minor of "
                       f"order {k} is not positive-definite).")


# ---- public functions ------------------------------------------------------------------------

def _solve_call(A, B, vector):
    """Record ``SOLVE`` after shape checks; ``vector``: B is a (batch of) vector(s)."""
    a_shape, b_shape = A._data.shape, B._data.shape
    n = a_shape[-1]
    bm_shape = b_shape + (1,) if vector else b_shape
    if len(bm_shape) < 2 or bm_shape[-2] != n:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                           f"AX = B ({n}x{n} and {bm_shape[-2]}x{bm_shape[-1]})")
    try:
        batch = np.broadcast_shapes(a_shape[:-2], bm_shape[:-2])
    except ValueError:
        raise RuntimeError(f"linalg.solve: the batch dimensions of A {list(a_shape[:-2])} "
                           f"and B {list(bm_shape[:-2])} cannot be broadcast together (shapes "
                           f"{list(a_shape)} and {list(b_shape)})") from None
    x_shape = batch + ((n,) if vector else (n, bm_shape[-1]))
    return nary(SOLVE, (A, B), (vector, a_shape, b_shape, x_shape))


def _solve_error(a, x_shape, vector):
    n = a.shape[-1]
    batch = tuple(x_shape[:-1] if vector else x_shape[:-2])
    prefix, _ = _first_failure(np.broadcast_to(_host(a), batch + (n, n)), _first_zero_pivot)
    return LinAlgError(f"torch.linalg.solve: {prefix}The solver failed because the input "
                       f"matrix is singular.")


def solve_matrix(A: Tensor, B: Tensor) -> Tensor:
    """``A^{-1} B`` with ``B`` always a (batch of) matrices: ``xp.solve`` on Tensors."""
    return _solve_call(A, B, False)


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """The solution ``X`` of ``A X = B`` (``X A = B`` when ``left=False``).

    ``A`` is ``(*, n, n)``; ``B`` is ``(*, n)`` (a batch of vectors: when it is 1-D, or has
    exactly ``A.shape[:-1]``) or ``(*, n, k)``; batch dims broadcast.
    """
    a_shape = _matrix_input(A, "linalg.solve")
    check_tensor(B, "linalg.solve")
    if A._data.dtype != B._data.dtype:
        names = [TORCH_TYPE_NAMES.get(np_dtype(x._data.dtype).name,
                                      np_dtype(x._data.dtype).name) for x in (A, B)]
        raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found "
                           f"A of type {names[0]} and B of type {names[1]} instead")
    b_shape = B._data.shape
    vector = len(b_shape) == 1 or (len(b_shape) == len(a_shape) - 1 and b_shape == a_shape[:-1])
    if left:
        return _solve_call(A, B, vector)
    n = a_shape[-1]
    if vector or b_shape[-1] != n:
        rows, cols = (b_shape[-1], 1) if vector else b_shape[-2:]
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                           f"XA = B ({n}x{n} and {rows}x{cols})")
    # X A = B  <=>  A^T X^T = B^T
    xt = _solve_call(_views.transpose(A, -2, -1), _views.transpose(B, -2, -1), False)
    return _views.transpose(xt, -2, -1)


def inv(A: Tensor) -> Tensor:
    """The inverse of a square matrix (or of each matrix in a batch)."""
    _matrix_input(A, "linalg.inv")
    return unary(INV, A)


def det(A: Tensor) -> Tensor:
    """The determinant of a square matrix (or of each matrix in a batch)."""
    _matrix_input(A, "linalg.det")
    return unary(DET, A)


def _slogdet(A, op, kind):
    _matrix_input(A, op)
    sign, logabsdet = unpack(unary(SLOGDET, A), ((), ()))
    return RETURN_TYPES[kind](sign, logabsdet)


def slogdet(A: Tensor):
    """``(sign, logabsdet)`` with ``det(A) = sign * exp(logabsdet)``; the gradient flows
    through ``logabsdet`` (the sign is locally constant)."""
    return _slogdet(A, "linalg.slogdet", "linalg_slogdet")


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """``L`` with ``A = L L^T`` for a symmetric positive-definite ``A`` (``U = L^T`` when
    ``upper``).  Only the lower triangle of ``A`` is read; the gradient is symmetric."""
    _matrix_input(A, "linalg.cholesky")
    return unary(CHOLESKY, A, bool(upper))


def eigh(A: Tensor, UPLO: str = "L"):
    """Eigenvalues (ascending) and orthonormal eigenvectors of a symmetric matrix, read
    from its lower (``UPLO='L'``) or upper triangle.  The eigenvectors' signs are
    arbitrary: differentiate only functions that do not depend on them."""
    shape = _matrix_input(A, "linalg.eigh")
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    lam, v = unpack(unary(EIGH, A, UPLO, shape), _eigh_shapes(shape[-1]))
    return RETURN_TYPES["linalg_eigh"](lam, v)


def svd(A: Tensor, full_matrices: bool = True, *, driver=None):
    """``U, S, Vh`` with ``A = U diag(S) Vh``, ``S`` descending.  The singular vectors'
    signs are arbitrary; with ``full_matrices=True`` and m != n the gradients of the extra
    columns of U (rows of Vh) are ignored, as in PyTorch."""
    shape = _matrix_input(A, "linalg.svd", square=False)
    full = bool(full_matrices)
    parts = unpack(unary(SVD, A, full, shape), _svd_shapes(shape[-2], shape[-1], full))
    return RETURN_TYPES["linalg_svd"](*parts)


def qr(A: Tensor, mode: str = "reduced"):
    """``Q, R`` with ``A = Q R``, Q with orthonormal columns, R upper triangular.
    ``mode``: 'reduced' (default), 'complete', or 'r' (Q is empty, not differentiable)."""
    shape = _matrix_input(A, "linalg.qr", square=False)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of "
                           f"'reduced' (default), 'r', or 'complete'")
    q, r = unpack(unary(QR, A, mode, shape), _qr_shapes(shape[-2], shape[-1], mode))
    if mode == "r":
        q = _views.reshape(q, 0)
    return RETURN_TYPES["linalg_qr"](q, r)


__all__ = ["LinAlgError", "cholesky", "det", "eigh", "inv", "qr", "slogdet", "solve", "svd"]
TENSOR_METHODS = {"det": det, "inverse": inv,
                  "slogdet": lambda self: _slogdet(self, "linalg.slogdet", "slogdet")}
