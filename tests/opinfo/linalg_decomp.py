"""Cases for ``chainrule/ops/linalg_decomp.py`` and the norms of ``chainrule/linalg.py``.

Inputs come from ``make=`` so that they are well conditioned: matrices ``Q1 diag(s) Q2``
with chosen, well-separated singular values (inv, solve, det, svd, qr), symmetric
positive-definite ones for cholesky, and well-separated eigenvalues for eigh.
Like PyTorch's OpInfos:
- cholesky and eigh read one triangle, so their cases symmetrize the input first
  (``(a + a.mT) / 2``), which makes the finite-difference check see what the
  (symmetric) gradient describes; ``raw`` cases skip that and pin PyTorch's convention
  against torch's ``.grad`` only (NO_FD);
- eigen- and singular vectors have arbitrary signs, so cases differentiate functions
  that do not depend on them: ``V.abs()``, ``U @ Vh``, ``U diag(S) Vh`` ...
"""

from __future__ import annotations

import math

import numpy as np

from ._case import Case
from ._harness import NO_FD


def _orthogonal(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def _with_singular_values(rng, m, n, batch=(), lo=1.0, hi=3.0, signs=False):
    """Random ``(*batch, m, n)`` matrices with min(m, n) singular values spread evenly
    over [lo, hi] (shuffled per matrix), so gaps are (hi - lo) / (k - 1)."""
    k = min(m, n)
    out = np.empty(batch + (m, n))
    for idx in np.ndindex(*batch):
        s = rng.permutation(np.linspace(lo, hi, k))
        core = np.zeros((m, n))
        core[range(k), range(k)] = s
        a = _orthogonal(rng, m) @ core @ _orthogonal(rng, n).T
        out[idx] = a
    return out


def _mats(*specs):
    """``make`` for matrices ``(m, n, batch)`` with good singular values, then plain
    random arrays for tuples of another length."""
    def make(rng):
        arrays = []
        for spec in specs:
            if len(spec) == 3:
                arrays.append(_with_singular_values(rng, spec[0], spec[1], spec[2]))
            else:
                arrays.append(rng.uniform(-2, 2, spec[0]))
        return arrays
    return make


def _rhs(shape):
    return (shape,)


def _spd(n, batch=()):
    """Symmetric positive-definite matrices with eigenvalues spread over [1, 3]."""
    def make(rng):
        out = np.empty(batch + (n, n))
        for idx in np.ndindex(*batch):
            q = _orthogonal(rng, n)
            out[idx] = q @ np.diag(rng.permutation(np.linspace(1.0, 3.0, n))) @ q.T
        return [out]
    return make


def _sym(a):
    return (a + a.mT) / 2


def _eigh_both(lib, a):
    lam, v = lib.linalg.eigh(_sym(a))
    return lam, v.abs()


def _eigh_projector(lib, a):
    """The projector onto the span of the two largest eigenvalues' eigenvectors."""
    v = lib.linalg.eigh(_sym(a)).eigenvectors[..., 1:]
    return v @ v.mT


def _svd_abs(full):
    def fn(lib, a):
        u, s, vh = lib.linalg.svd(a, full_matrices=full)
        k = s.shape[-1]
        return u[..., :k].abs(), s, vh[..., :k, :].abs()
    return fn


def _usv(lib, a):
    u, s, vh = lib.linalg.svd(a, full_matrices=False)
    return (u * s.unsqueeze(-2)) @ vh, u @ vh


_INF = math.inf

CASES = [
    # ---- solve ----------------------------------------------------------------------
    Case("linalg_solve", lambda lib, a, b: lib.linalg.solve(a, b),
         make=_mats((3, 3, ()), _rhs((3, 2))), name="matrix"),
    Case("linalg_solve", lambda lib, a, b: lib.linalg.solve(a, b),
         make=_mats((3, 3, ()), _rhs((3,))), name="vector"),
    Case("linalg_solve", lambda lib, a, b: lib.linalg.solve(a, b),
         make=_mats((3, 3, (2,)), _rhs((2, 3))), name="batched_vectors"),
    Case("linalg_solve", lambda lib, a, b: lib.linalg.solve(a, b),
         make=_mats((3, 3, (2,)), _rhs((3,))), name="batched_a_vector_b"),
    Case("linalg_solve", lambda lib, a, b: lib.linalg.solve(a, b),
         make=_mats((3, 3, (2, 1)), _rhs((4, 3, 2))), name="broadcast"),
    Case("linalg_solve", lambda lib, a, b: lib.linalg.solve(a, b),
         make=_mats((3, 3, ()), _rhs((4, 3, 1))), name="broadcast_a"),
    Case("linalg_solve", lambda lib, a, b: lib.linalg.solve(a, b, left=False),
         make=_mats((3, 3, ()), _rhs((2, 3))), name="right"),
    Case("linalg_solve", lambda lib, a, b: lib.linalg.solve(a, b), nondiff=(1,),
         make=_mats((3, 3, ()), _rhs((3, 2))), name="a_only"),
    # ---- inv, det, slogdet ------------------------------------------------------------
    Case("linalg_inv", lambda lib, a: lib.linalg.inv(a), make=_mats((3, 3, ()))),
    Case("linalg_inv", lambda lib, a: lib.linalg.inv(a), make=_mats((4, 4, (2,))),
         name="batched"),
    Case("linalg_inv", lambda lib, a: a.inverse(), make=_mats((1, 1, ())), name="method"),
    Case("linalg_inv", lambda lib, a: lib.linalg.inv(a), shapes=[(2, 0, 0)], name="empty"),
    Case("linalg_det", lambda lib, a: lib.linalg.det(a), make=_mats((3, 3, ()))),
    Case("linalg_det", lambda lib, a: lib.linalg.det(a), make=_mats((4, 4, (2,))),
         name="batched"),
    Case("linalg_det", lambda lib, a: a.det(), shapes=[(1, 1)], name="method"),
    Case("linalg_slogdet", lambda lib, a: tuple(lib.linalg.slogdet(a)),
         make=_mats((3, 3, (2,)))),
    Case("linalg_slogdet", lambda lib, a: lib.linalg.slogdet(-a).logabsdet,
         make=_mats((4, 4, ())), name="logabsdet"),
    Case("linalg_slogdet", lambda lib, a: tuple(a.slogdet()), make=_mats((2, 2, ())),
         name="method"),
    # ---- cholesky --------------------------------------------------------------------
    Case("linalg_cholesky", lambda lib, a: lib.linalg.cholesky(_sym(a)), make=_spd(3)),
    Case("linalg_cholesky", lambda lib, a: lib.linalg.cholesky(_sym(a)), make=_spd(4, (2,)),
         name="batched"),
    Case("linalg_cholesky", lambda lib, a: lib.linalg.cholesky(_sym(a), upper=True),
         make=_spd(3), name="upper"),
    Case("linalg_cholesky", lambda lib, a: lib.linalg.cholesky(a), make=_spd(3), name="raw",
         tags=(NO_FD,)),
    # ---- eigh ------------------------------------------------------------------------
    Case("linalg_eigh", lambda lib, a: lib.linalg.eigh(_sym(a)).eigenvalues,
         make=_spd(4), name="eigenvalues"),
    Case("linalg_eigh", _eigh_both, make=_spd(3, (2,)), name="both"),
    Case("linalg_eigh", lambda lib, a: lib.linalg.eigh(_sym(a), UPLO="U").eigenvectors.abs(),
         make=_spd(3), name="upper"),
    Case("linalg_eigh", _eigh_projector, make=_spd(3), name="projector"),
    Case("linalg_eigh", lambda lib, a: lib.linalg.eigvalsh(a), make=_spd(3), name="raw",
         tags=(NO_FD,)),
    # ---- svd -------------------------------------------------------------------------
    Case("linalg_svd", _svd_abs(False), make=_mats((3, 3, ())), name="square"),
    Case("linalg_svd", _svd_abs(False), make=_mats((5, 3, ())), name="tall"),
    Case("linalg_svd", _svd_abs(False), make=_mats((3, 5, (2,))), name="wide_batched"),
    Case("linalg_svd", _svd_abs(True), make=_mats((3, 3, (2,))), name="full_square"),
    Case("linalg_svd", _svd_abs(True), make=_mats((4, 2, ())), name="full_tall"),
    Case("linalg_svd", _svd_abs(True), make=_mats((2, 4, ())), name="full_wide"),
    Case("linalg_svd", _usv, make=_mats((4, 3, ())), name="products"),
    Case("linalg_svd", lambda lib, a: lib.linalg.svdvals(a), make=_mats((3, 4, (2,))),
         name="svdvals"),
    # ---- qr --------------------------------------------------------------------------
    Case("linalg_qr", lambda lib, a: tuple(lib.linalg.qr(a)), make=_mats((4, 3, ())),
         name="tall"),
    Case("linalg_qr", lambda lib, a: tuple(lib.linalg.qr(a)), make=_mats((3, 3, (2,))),
         name="square_batched"),
    Case("linalg_qr", lambda lib, a: tuple(lib.linalg.qr(a)), make=_mats((3, 5, ())),
         name="wide"),
    Case("linalg_qr", lambda lib, a: tuple(lib.linalg.qr(a, mode="complete")),
         make=_mats((2, 4, (2,))), name="complete_wide"),
    Case("linalg_qr", lambda lib, a: lib.linalg.qr(a).R, make=_mats((4, 2, ())),
         name="r_only"),
    Case("linalg_qr", lambda lib, a: tuple(lib.linalg.qr(a, mode="r")),
         make=_mats((4, 3, ())), grad=False, name="mode_r"),
    # ---- norms: compositions, named after the rows they run ---------------------------
    Case("norm", lambda lib, a: lib.linalg.matrix_norm(a), [(3, 4)], name="matrix_fro"),
    Case("norm", lambda lib, a: lib.linalg.matrix_norm(a, "fro", (0, 2), keepdim=True),
         [(3, 2, 4)], name="matrix_fro_dims"),
    Case("linalg_svd", lambda lib, a: lib.linalg.matrix_norm(a, "nuc"),
         make=_mats((3, 4, (2,))), name="matrix_nuc"),
    Case("linalg_svd", lambda lib, a: lib.linalg.matrix_norm(a, "nuc", (0, 2), True),
         make=lambda rng: [_with_singular_values(rng, 3, 4, (2,)).transpose(1, 0, 2)],
         name="matrix_nuc_dims"),
    Case("linalg_svd", lambda lib, a: lib.linalg.matrix_norm(a, 2), make=_mats((4, 3, ())),
         name="matrix_2"),
    Case("linalg_svd", lambda lib, a: lib.linalg.matrix_norm(a, -2, keepdim=True),
         make=_mats((3, 3, (2,))), name="matrix_neg2"),
    Case("amax", lambda lib, a: lib.linalg.matrix_norm(a, 1), [(3, 4)], name="matrix_1"),
    Case("amin", lambda lib, a: lib.linalg.matrix_norm(a, -1, (1, 0)), [(2, 3, 4)],
         name="matrix_neg1"),
    Case("amax", lambda lib, a: lib.linalg.matrix_norm(a, _INF, (0, 2), True), [(3, 2, 4)],
         name="matrix_inf"),
    Case("amin", lambda lib, a: lib.linalg.matrix_norm(a, -_INF), [(2, 3, 4)],
         name="matrix_neg_inf"),
    Case("norm", lambda lib, a: lib.linalg.norm(a), [(2, 3, 4)], name="linalg_norm"),
    Case("norm", lambda lib, a: lib.linalg.norm(a, 3, 1), [(2, 3)], name="linalg_norm_dim"),
    Case("linalg_svd", lambda lib, a: lib.linalg.norm(a, "nuc"), make=_mats((3, 3, ())),
         name="linalg_norm_nuc"),
    Case("amax", lambda lib, a: lib.linalg.norm(a, _INF, (-1, -2)), [(2, 3, 4)],
         name="linalg_norm_inf_dims"),
    Case("norm", lambda lib, a: lib.linalg.vector_norm(a, 1.5, (0, -1), keepdim=True),
         [(2, 3, 4)], domain=(0.5, 2.0), name="vector_norm"),
]
