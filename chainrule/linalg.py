"""``chainrule.linalg``: PyTorch's ``torch.linalg`` namespace.

The decompositions and solvers are op-table rows (``ops/linalg_decomp.py``); the norms
and ``svdvals``/``eigvalsh`` are compositions of public ops, as in PyTorch, so their
gradients (and grad_fn names: ``LinalgVectorNormBackward0``, ``SumBackward1``,
``AmaxBackward0`` ...) come from the rows they are built of:

    ||A||_fro = vector 2-norm over the two dims    ||A||_nuc = sum(svdvals(A))
    ||A||_2 = max svdvals(A)   ||A||_-2 = min       ||A||_1 = max_j sum_i |a_ij|  (-1: min)
    ||A||_inf = max_i sum_j |a_ij|  (-inf: min)
"""

from __future__ import annotations

import math

from . import _args
from ._tensor import Tensor
from .ops import reductions as _R
from .ops import sorting as _S
from .ops import views as _V
from .ops.linalg import matmul
from .ops.linalg_decomp import LinAlgError, cholesky, det, eigh, inv, qr, slogdet, solve, svd

_INF = math.inf


def svdvals(A: Tensor) -> Tensor:
    """The singular values of ``A``, descending (``svd(A, full_matrices=False).S``)."""
    return svd(A, full_matrices=False).S


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues of a symmetric ``A``, ascending (``eigh(A, UPLO).eigenvalues``)."""
    return eigh(A, UPLO).eigenvalues


def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The ``ord``-norm of ``x`` seen as a vector over ``dim`` (all dims when None)."""
    if isinstance(ord, str):
        raise TypeError("linalg_vector_norm(): argument 'ord' (position 2) must be Number, "
                        "not str")
    return _R.vector_norm(x, ord, dim, keepdim, dtype=dtype)


def _matrix_dims(A: Tensor, dim) -> tuple:
    nd = A.ndim
    if nd < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 "
                           "dimensions.")
    if isinstance(dim, int) or len(dim) != 2:
        shown = dim if isinstance(dim, int) else " ".join(map(str, dim))
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {shown}")
    for d in dim:
        if not -nd <= d < nd:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-nd}, "
                             f"{nd - 1}], but got {d})")
    d0, d1 = dim[0] % nd, dim[1] % nd
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got "
                           f"({dim[0]}, {dim[1]})")
    return d0, d1


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *,
                dtype=None) -> Tensor:
    """A matrix norm over the two dims ``dim``: 'fro', 'nuc', 2, -2, 1, -1, inf, -inf."""
    _R.check_tensor(A, "linalg.matrix_norm")
    ord = ord.item() if isinstance(ord, Tensor) else ord
    d0, d1 = _matrix_dims(A, dim)
    if dtype is not None:
        A = _R._cast(A, dtype)
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        s = svdvals(_V.movedim(A, (d0, d1), (-2, -1)))
        r = _R.sum(s, -1) if ord == "nuc" else (_S.amax if ord == 2 else _S.amin)(s, -1)
        if keepdim:
            r = _V.reshape(r, [1 if i in (d0, d1) else n for i, n in enumerate(A.shape)])
        return r
    if ord in (1, -1, _INF, -_INF):
        if abs(ord) == _INF:
            d0, d1 = d1, d0  # max row sum: sum over columns first
        if not keepdim and d0 < d1:
            d1 -= 1
        sums = _R.sum(A.abs(), d0, keepdim)
        if ord > 0 and sums.shape[d1] == 0:  # the max of no (nonnegative) sums: 0, as PyTorch
            return _R.sum(sums, d1, keepdim)
        return (_S.amax if ord > 0 else _S.amin)(sums, d1, keepdim)
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """A vector norm (``dim`` an int, or a 1-D input) or a matrix norm (``dim`` a 2-tuple,
    or a 2-D input with ``ord`` given); with neither, the 2-norm of ``A`` flattened."""
    _R.check_tensor(A, "linalg.norm")
    _args._fail("ints?", "linalg_norm", "dim", 3, dim)  # its own dim: see FUNCTION_KINDS
    ord = ord.item() if isinstance(ord, Tensor) else ord
    if dim is not None:
        dims = (_R._int_tensor(dim),) if _args._is_int(dim) else tuple(dim)
        if len(dims) == 1:
            return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)
        if len(dims) == 2:
            return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
        raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. "
                           f"Got {list(dims)}")
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if A.ndim == 1:
        return vector_norm(A, ord, None, keepdim, dtype=dtype)
    if A.ndim == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be "
                       f"1D or 2D. Got {A.ndim}D.")


__all__ = ["LinAlgError", "cholesky", "det", "eigh", "eigvalsh", "inv", "matmul",
           "matrix_norm", "norm", "qr", "slogdet", "solve", "svd", "svdvals", "vector_norm"]

_args.install(globals(), __all__, "linalg")
