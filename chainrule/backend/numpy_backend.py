"""The raw namespace ``xp`` that derivative rules are written against, on NumPy.

Vocabulary (the only names rules may use besides Python operators, ``.shape``,
``.ndim`` and ``.dtype``): NumPy-style math (``exp``, ``log``, ``where`` ...), plus the
shape helpers below.  Shapes given to helpers are the *unbatched* shapes of values; a
cotangent ``g`` may carry ``nb`` leading batch dims (``g.shape == batch + shape``), and
the helpers keep them in front, so the same rule serves a one-pass Jacobian.
Rules address axes from the end (negative axes) for the same reason.
"""

from __future__ import annotations

import math
import re
import warnings
from operator import getitem

import numpy as np

from .._dtype import cast as _cast
from .._strides import contiguous_strides as _row_major
from . import _windows
from . import pow_kernels as _pow

_ERF_UFUNC = np.frompyfunc(math.erf, 1, 1)
_UINT_OF = {np.dtype(np.float16): np.uint16, np.dtype(np.float32): np.uint32,
            np.dtype(np.float64): np.uint64}

# arrays with at least this many elements take the chunked, in-place elementwise VJP
# path (Note [large elementwise VJPs] in ops/_row.py)
BIG = 1 << 16

# Note [floating-point warnings]: NumPy warns on log(0), 0/0, overflow ...; PyTorch is
# silent.  The user's NumPy error state (``np.errstate``) and their own warnings stay
# theirs; chainrule's never reach them:
# - a warnings filter ignores RuntimeWarnings raised from chainrule's modules.  Each op
#   dispatch checks that it is still the first filter (``catch_warnings`` blocks, pytest
#   and ``simplefilter`` replace or prepend filters) and puts it back in front: about
#   0.02 us, where ``np.errstate`` costs 0.8 us and NumPy's context variable 0.15 us;
# - where the user's state turns a warning into an exception (``np.errstate(all=
#   "raise")``, ``simplefilter("error")``), the dispatch catches ``FP_ERRORS`` and runs
#   the forward again with errors ignored (``quiet_call``): rare, so free;
# - a backward pass runs with NumPy's errors ignored (``quiet``/``unquiet``: once a pass).
WFILTER = ("ignore", None, RuntimeWarning, re.compile(r"chainrule(\.|$)"), 0)
FP_ERRORS = (FloatingPointError, RuntimeWarning)
wmod = warnings


def pin_filter() -> None:
    """Make ``WFILTER`` the first entry of the active warnings filter list."""
    filters = warnings.filters
    while WFILTER in filters:
        filters.remove(WFILTER)
    filters.insert(0, WFILTER)
    warnings._filters_mutated()


try:
    from numpy._core._ufunc_config import _extobj_contextvar as _ERRVAR
    from numpy._core._ufunc_config import _make_extobj
    QUIET = _make_extobj(all="ignore")
    quiet = _ERRVAR.set
    unquiet = _ERRVAR.reset
except (ImportError, AttributeError, TypeError):  # pragma: no cover - other NumPy
    QUIET = {"all": "ignore"}

    def quiet(state):
        ctx = np.errstate(**state)
        ctx.__enter__()
        return ctx

    def unquiet(ctx):
        ctx.__exit__(None, None, None)


def quiet_call(fn, *args):
    """``fn(*args)`` with NumPy's floating-point errors ignored."""
    tok = quiet(QUIET)
    try:
        return fn(*args)
    finally:
        unquiet(tok)


# Note [low-precision accumulation]: as PyTorch, reductions of float16 accumulate in
# float32 and round once at the end (a float16 mean of 70,000 ones is 1, not nan), and
# scans of float16/float32 accumulate in float64 (PyTorch's CPU accumulation type for
# cumsum/cumprod), so a float32 cumsum of 10**6 x 0.1 ends at 100000, not 100958.
# A result beyond float16's range still overflows to inf, as in PyTorch.
def accumulation_dtype(dtype, scan=False):
    """The dtype a reduction (or a scan) of ``dtype`` accumulates in, or None."""
    if dtype == np.float16:
        return np.float64 if scan else np.float32
    if scan and dtype == np.float32:
        return np.float64
    return None


def cumsum(a, axis):
    acc = accumulation_dtype(a.dtype, scan=True)
    if acc is None:
        return np.cumsum(a, axis=axis)
    return np.cumsum(a, axis=axis, dtype=acc).astype(a.dtype)


def times(xp, g, d, mask):
    """The cotangent times a partial: ``g * d``; ``where(d, g, 0)`` for a mask (``mask is
    True``); ``where(d, 0, g)`` for a blocking mask (``mask == "off"``); ``where(d == 0,
    0, g * d)`` for a "scaled" mask (maximum's 0 / 0.5 / 1): a masked-out entry gets 0
    even where g is inf or nan, as PyTorch's masked_fill."""
    if not mask:
        return g * d
    if mask is True:
        return xp.where(d, g, 0)
    if mask == "off":  # ``d`` marks where the cotangent is blocked (relu: out <= 0)
        zw = getattr(xp, "zero_where", None)
        return zw(d, g) if zw is not None else xp.where(d, 0, g)
    return xp.where(d == 0, 0, g * d)


class LinAlgError(RuntimeError):
    """``torch.linalg.LinAlgError``: the matrix is singular or not positive-definite.
    Defined here so a rule's matrix word raises the same error in every namespace."""


SVD_NONFINITE = ("linalg.svd: The algorithm failed to converge because the input matrix "
                 "contained non-finite values.")


class NumpyNamespace:
    """Raw arrays in, raw arrays out, nothing recorded.  ``nb``: leading batch dims."""

    def __init__(self, nb: int = 0) -> None:
        self.nb = nb

    def with_nb(self, k: int) -> NumpyNamespace:
        """This namespace with ``k`` more leading batch dims."""
        if k == 0:
            return self
        ns = _BY_NB.get(self.nb + k)
        if ns is None:
            ns = _BY_NB[self.nb + k] = NumpyNamespace(self.nb + k)
        return ns

    # elementwise math ---------------------------------------------------------------
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    tan = staticmethod(np.tan)
    tanh = staticmethod(np.tanh)
    sinh = staticmethod(np.sinh)
    cosh = staticmethod(np.cosh)
    sqrt = staticmethod(np.sqrt)
    abs = staticmethod(np.abs)
    trunc = staticmethod(np.trunc)
    floor_divide = staticmethod(np.floor_divide)

    @staticmethod
    def trunc_divide(x, y):
        return np.trunc(x / y)

    @staticmethod
    def sign(x):
        # PyTorch's sign (and sgn) of nan is 0, NumPy's is nan (Note [sign of NaN])
        s = np.sign(x)
        return np.where(s != s, s.dtype.type(0), s) if s.dtype.kind == "f" else s
    square = staticmethod(np.square)
    reciprocal = staticmethod(np.reciprocal)
    where = staticmethod(np.where)
    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)
    pi = np.pi

    @staticmethod
    def log1p(x):
        return np.log1p(x)

    expm1 = staticmethod(np.expm1)

    @staticmethod
    def astype(x, dtype):
        return x.astype(dtype, copy=False)

    @staticmethod
    def copy(x):
        return np.array(x, copy=True)

    # a row-major copy (new memory): clone, contiguous, copies of views
    contiguous_copy = staticmethod(lambda a: a.copy())  # (0-d results may be scalars)
    getitem = staticmethod(getitem)
    asarray = staticmethod(np.asarray)

    cast = staticmethod(_cast)  # ``x`` converted to ``dtype`` as PyTorch converts

    equal = staticmethod(np.equal)

    # shapes -----------------------------------------------------------------------------
    def sum_to(self, g, shape):
        """Sum ``g`` down to ``shape`` (undo broadcasting), keeping batch dims."""
        shape = tuple(shape)
        if g.shape[self.nb:] == shape:
            return g
        lead = g.ndim - self.nb - len(shape)
        axes = tuple(range(self.nb, self.nb + lead))
        axes += tuple(self.nb + lead + i for i, s in enumerate(shape)
                      if s == 1 and g.shape[self.nb + lead + i] != 1)
        out = g.sum(axis=axes, keepdims=True) if axes else g
        return out.reshape(g.shape[:self.nb] + shape)

    def unreduce(self, g, shape, axes, keepdim):
        """Broadcast a reduction's cotangent back to the input ``shape``.
        ``axes``: reduced axes as negative ints (``None``: all)."""
        nd = len(shape)
        if axes is None:
            axes = tuple(range(-nd, 0))
        if not keepdim:
            full = list(g.shape[:self.nb]) + [1 if i - nd in axes else shape[i]
                                              for i in range(nd)]
            g = g.reshape(full)
        return np.broadcast_to(g, g.shape[:self.nb] + tuple(shape))

    def reshape(self, g, shape):
        if not self.nb:
            return g.reshape(shape)
        return g.reshape(g.shape[:self.nb] + tuple(shape))

    def expand(self, a, shape):
        """``broadcast_to`` that stays as writable as ``a`` (a view: writes into repeated
        elements are refused by the in-place machinery, ``ops/_record.overlapping``)."""
        out = np.broadcast_to(a, a.shape[:self.nb] + tuple(shape) if self.nb else shape)
        return np.lib.stride_tricks.as_strided(a, out.shape, out.strides,
                                               writeable=a.flags.writeable)

    def broadcast_to(self, g, shape):
        return np.broadcast_to(g, g.shape[:self.nb] + tuple(shape))

    def permute(self, g, axes):
        """``axes`` is a permutation of the unbatched dims (non-negative ints)."""
        nb = self.nb
        if not nb:
            return g.transpose(axes)
        return g.transpose(tuple(range(nb)) + tuple(a + nb for a in axes))

    @staticmethod
    def swapaxes(g, a, b):
        return np.swapaxes(g, a, b)

    matmul = staticmethod(np.matmul)

    def zeros(self, g, shape):
        """Zeros of ``batch + shape`` with ``g``'s dtype and batch dims."""
        return np.zeros(g.shape[:self.nb] + tuple(shape), dtype=g.dtype)

    @staticmethod
    def mean(x, axis, keepdims=False):
        """Mean of an unbatched value (a saved primal) over ``axis``."""
        acc = accumulation_dtype(x.dtype)
        return np.asarray(np.mean(x, axis=axis, keepdims=keepdims, dtype=acc), x.dtype)

    def sum(self, x, axis=None, keepdims=False):
        if axis is None and self.nb:
            axis = tuple(range(self.nb - x.ndim, 0))
        if getattr(x, "dtype", None) == np.float16:  # Note [low-precision accumulation]
            return np.asarray(np.sum(x, axis=axis, keepdims=keepdims, dtype=np.float32),
                              np.float16)
        return np.sum(x, axis=axis, keepdims=keepdims)

    def index(self, g, key):
        """``g[key]`` with ``key`` addressing the unbatched dims."""
        if not self.nb:
            return g[key]
        out = g[(slice(None),) * self.nb + key]
        nd = _front_advanced_dims(key)
        if nd:  # NumPy put the advanced-index dims before the batch dims: move them back
            out = np.moveaxis(out, tuple(range(nd)), tuple(range(self.nb, self.nb + nd)))
        return out

    def scatter(self, g, shape, key, accumulate):
        """Zeros of ``shape`` with ``g`` written (or added, for repeated indices) at
        ``key``: the transpose of ``x[key]``."""
        z = np.zeros(shape, g.dtype) if not self.nb else self.zeros(g, shape)
        if not g.size:  # (nothing lands: an index past an empty dim adds nothing)
            return z
        k = key
        if self.nb:
            k = (slice(None),) * self.nb + key
            nd = _front_advanced_dims(key)
            if nd:  # see index(): z[k] has the advanced-index dims first
                g = np.moveaxis(g, tuple(range(self.nb, self.nb + nd)), tuple(range(nd)))
        if accumulate:
            np.add.at(z, k, g)
        else:
            z[k] = g
        return z

    def scatter_set(self, g, key, value):
        """A copy of ``g`` with ``value`` written at ``key`` (unbatched dims)."""
        out = np.array(g, copy=True)
        out[(slice(None),) * self.nb + key if self.nb else key] = value
        return out

    def view_of(self, g, steps, k=0):
        """The region of ``g`` that the view ``steps`` selects (a view, no copy)."""
        return _replay().replay_raw(g, steps, self.nb + k)

    def view_replace(self, g, steps, value, k=0):
        """A copy of ``g`` with the region of the view ``steps`` set to ``value``."""
        return _replay().assign_view(np.array(g, copy=True), steps, self.nb + k, value)

    take_along = staticmethod(np.take_along_axis)  # (x, idx, axis)

    def scatter_along(self, g, shape, idx, axis):
        """Zeros of ``shape`` with ``g`` added at ``idx`` along ``axis`` (negative)."""
        z = self.zeros(g, shape)
        if self.nb:
            idx = np.broadcast_to(idx, g.shape[:self.nb] + idx.shape)
        ax = z.ndim + axis
        grid = list(np.ix_(*[np.arange(s) for s in idx.shape]))
        grid[ax] = idx
        np.add.at(z, tuple(grid), g)
        return z

    def concatenate(self, xs, axis, dtype=None):
        """Join ``xs`` along ``axis`` (negative), each cast to ``dtype`` (any cast)."""
        if dtype is None:
            return np.concatenate(xs, axis=axis)
        return np.concatenate(xs, axis=axis, dtype=dtype, casting="unsafe")

    @staticmethod
    def stack(xs, axis, dtype=None):
        """Join ``xs`` along a new ``axis`` (negative), each cast to ``dtype``."""
        return np.stack(xs, axis=axis, dtype=dtype, casting="unsafe")

    @staticmethod
    def take(a, idx, axis):
        """``a`` at the positions ``idx`` (1-d) along ``axis``."""
        return np.take(a, idx, axis)

    def flip(self, g, axes):
        return np.flip(g, axis=axes)

    def roll(self, g, shifts, axes):
        return np.roll(g, shifts, axis=axes)

    def cumsum(self, g, axis):
        return cumsum(g, axis)

    def reverse_cumsum(self, g, axis):
        return np.flip(cumsum(np.flip(g, axis), axis), axis)

    def tril(self, g, k):
        return np.tril(g, k)

    def triu(self, g, k):
        return np.triu(g, k)

    def pad(self, g, widths, value=0):
        """Pad the trailing dims with ``widths`` [(before, after), ...] of ``value``."""
        return np.pad(g, [(0, 0)] * (g.ndim - len(widths)) + list(widths),
                      constant_values=value)

    def diag_embed(self, g, offset, a1, a2, shape):
        """Zeros of ``shape`` with ``g`` written on the (offset) diagonal of axes a1, a2."""
        z = self.zeros(g, shape)
        d = np.diagonal(z, offset, a1, a2)
        d.setflags(write=True)
        d[...] = g
        return z

    def einsum(self, spec, *ops, optimize=True):
        """``einsum(spec, *ops)``; ``optimize``: let NumPy pick a BLAS contraction path."""
        return np.einsum(spec, *ops, optimize=optimize)

    # reductions (ops/reductions.py) ------------------------------------------------------
    @staticmethod
    def prod(x, axis, keepdims=False):
        """Product over ``axis`` (always given: a tuple of negative ints)."""
        return np.prod(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def cumprod(x, axis):
        return np.cumprod(x, axis=axis)

    isnan = staticmethod(np.isnan)

    @staticmethod
    def expand_dims(a, axis):
        """Insert size-1 axes at ``axis`` (negative, counted in the result) into a saved,
        unbatched value such as a reduction's ``out``; ``g`` uses ``unreduce`` instead."""
        return np.expand_dims(a, axis)

    # forwards of elementwise rows (ops/elementwise.py) -------------------------------------
    negative = staticmethod(np.negative)
    exp2 = staticmethod(np.exp2)
    expm1 = staticmethod(np.expm1)
    log2 = staticmethod(np.log2)
    log10 = staticmethod(np.log10)
    asin = staticmethod(np.arcsin)
    acos = staticmethod(np.arccos)
    atan = staticmethod(np.arctan)
    atan2 = staticmethod(np.arctan2)
    floor = staticmethod(np.floor)
    ceil = staticmethod(np.ceil)
    round = staticmethod(np.round)  # half to even, as the Array API's
    add = staticmethod(np.add)
    subtract = staticmethod(np.subtract)
    multiply = staticmethod(np.multiply)
    divide = staticmethod(np.true_divide)
    pow = staticmethod(np.power)
    pow_scalar = staticmethod(_pow.pow_scalar)  # x ** c for a Python number c
    pow_scalar_grad = staticmethod(_pow.pow_scalar_grad)
    fmod = staticmethod(np.fmod)
    remainder = staticmethod(np.remainder)
    not_equal = staticmethod(np.not_equal)
    less = staticmethod(np.less)
    less_equal = staticmethod(np.less_equal)
    greater = staticmethod(np.greater)
    greater_equal = staticmethod(np.greater_equal)
    logical_and = staticmethod(np.logical_and)
    logical_or = staticmethod(np.logical_or)
    logical_xor = staticmethod(np.logical_xor)
    logical_not = staticmethod(np.logical_not)
    bitwise_and = staticmethod(np.bitwise_and)
    bitwise_or = staticmethod(np.bitwise_or)
    bitwise_xor = staticmethod(np.bitwise_xor)
    bitwise_invert = staticmethod(np.invert)
    bitwise_left_shift = staticmethod(np.left_shift)
    bitwise_right_shift = staticmethod(np.right_shift)
    isinf = staticmethod(np.isinf)
    isfinite = staticmethod(np.isfinite)
    signbit = staticmethod(np.signbit)
    isposinf = staticmethod(np.isposinf)
    isneginf = staticmethod(np.isneginf)

    @staticmethod
    def erf(x):
        """The error function (``math.erf`` per element; NumPy has no erf ufunc)."""
        return np.asarray(_ERF_UFUNC(x), dtype=x.dtype).reshape(x.shape)

    @staticmethod
    def sigmoid(x):
        """``1 / (1 + exp(-x))`` without overflow: exp(-|x|) never overflows, and the
        stable branch is picked per sign."""
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)

    @staticmethod
    def zero_where(d, g):
        """``where(d, 0, g)``: +0.0 where ``d``, ``g``'s bits elsewhere (nan, inf and -0.0
        kept), as integer passes over the bits (NumPy's where is ~3x slower than a
        multiply, and ``g * ~d`` would turn a blocked inf into nan)."""
        ut = _UINT_OF.get(g.dtype)
        if ut is None or d.shape != g.shape or d.dtype != np.bool_ or type(g) is not np.ndarray \
                or not g.ndim:
            return np.where(d, 0, g)
        bits = d.astype(ut)
        np.subtract(bits, 1, out=bits)  # 0 where blocked, all ones where g passes
        np.bitwise_and(g.view(ut), bits, out=bits)
        return bits.view(g.dtype)

    @staticmethod
    def relu(x):
        """``max(x, 0)`` in one pass (relu is hot); relu(nan) is nan, but relu(-0.0) is
        0.0 where PyTorch keeps -0.0: the explicit where costs 3x
        (docs/pytorch_users.md)."""
        return np.maximum(x, 0)

    rsqrt = staticmethod(_pow.rsqrt)

    @staticmethod
    def dtype_of(a):
        """The NumPy dtype of array ``a`` (of any library): for ``.kind`` tests and
        comparisons with NumPy dtypes, which some libraries' own dtypes refuse."""
        return a.dtype

    @staticmethod
    def result_kind(x, y):
        """NumPy's dtype kind (``"f"``, ``"i"`` ...) of ``x op y``; Python numbers count
        as NumPy's promotion counts them."""
        return np.result_type(x, y).kind

    # forwards of reductions and order rows (ops/reductions.py, ops/sorting.py): NumPy's
    # ufunc reduce/accumulate, so a floating-point warning is raised from chainrule's own
    # frame (Note [floating-point warnings]).  ``axis`` is a tuple of negative ints
    # (``dtype``: the accumulator, a NumPy dtype or None).
    add_reduce = staticmethod(np.add.reduce)
    multiply_reduce = staticmethod(np.multiply.reduce)
    maximum_reduce = staticmethod(np.maximum.reduce)
    minimum_reduce = staticmethod(np.minimum.reduce)
    add_accumulate = staticmethod(np.add.accumulate)
    multiply_accumulate = staticmethod(np.multiply.accumulate)
    all = staticmethod(np.all)
    any = staticmethod(np.any)
    count_nonzero = staticmethod(np.count_nonzero)
    argmax = staticmethod(np.argmax)
    argmin = staticmethod(np.argmin)
    squeeze = staticmethod(np.squeeze)

    @staticmethod
    def kth(a, k):
        """The ``k``-th smallest entry along the last axis (NaN sorts last)."""
        return np.partition(a, k, axis=-1)[..., k]

    # shape and indexing ops (ops/shape.py) ------------------------------------------------
    @staticmethod
    def diagonal(g, offset, a1, a2):
        """The (offset) diagonal of axes ``a1``, ``a2`` (negative), as a new last axis."""
        return np.diagonal(g, offset, a1, a2)

    @staticmethod
    def diagonal_view(a, offset, a1, a2):
        """``diagonal`` as the view row gives it: writable wherever ``a`` is (NumPy's
        diagonal is a read-only view; PyTorch's ``x.diagonal().fill_(1)`` writes)."""
        d = np.diagonal(a, offset, a1, a2)
        if a.flags.writeable:
            d.setflags(write=True)
        return d

    @staticmethod
    def unfold(a, axis, size, step):
        """Windows of ``size`` every ``step`` along ``axis`` (negative), as a new last
        dim: a view of ``a`` (windows overlap; in-place writes into it are refused)."""
        ax = a.ndim + axis
        n = (a.shape[ax] - size) // step + 1
        st = a.strides
        return np.lib.stride_tricks.as_strided(
            a, a.shape[:ax] + (n,) + a.shape[ax + 1:] + (size,),
            st[:ax] + (st[ax] * step,) + st[ax + 1:] + (st[ax],), writeable=a.flags.writeable)

    @staticmethod
    def as_layout(a, strides):
        """``a`` copied into memory laid out with element ``strides`` (a permutation of
        row-major strides, PyTorch's layout of an index result)."""
        if strides == _row_major(a.shape):
            return np.ascontiguousarray(a)
        size = a.itemsize
        out = np.lib.stride_tricks.as_strided(np.empty(max(a.size, 1), a.dtype), a.shape,
                                              tuple(s * size for s in strides))
        out[...] = a
        return out

    def gather(self, x, idx, axis):
        """``x[..., idx, ...]`` along ``axis`` (negative) with PyTorch's gather rule:
        ``idx`` (unbatched) may be smaller than ``x`` in the other dims."""
        nb = self.nb
        ax = idx.ndim + axis
        key = tuple(slice(None) if d == ax else slice(0, n) for d, n in enumerate(idx.shape))
        if nb:
            idx = np.broadcast_to(idx, x.shape[:nb] + idx.shape)
            key = (slice(None),) * nb + key
        return np.take_along_axis(x[key], idx, axis=axis)

    def fill_along(self, g, idx, axis, value):
        """A copy of ``g`` with ``value`` written where ``idx`` points along ``axis``
        (negative): the positions a scatter overwrites."""
        out = np.array(g, copy=True)
        if self.nb:
            idx = np.broadcast_to(idx, g.shape[:self.nb] + idx.shape)
        grid = list(np.ix_(*[np.arange(s) for s in idx.shape]))
        grid[out.ndim + axis] = idx
        out[tuple(grid)] = value
        return out

    # sliding windows (ops/nn_ops.py): kernels on the last two dims, any leading dims --
    @staticmethod
    def im2col(x, kernel, stride, padding, dilation):
        """Windows of ``x`` ``(..., H, W)`` as ``(..., kh, kw, Ho, Wo)`` (linear)."""
        return _windows.im2col(x, kernel, stride, padding, dilation)

    @staticmethod
    def col2im(cols, hw, kernel, stride, padding, dilation):
        """The transpose of ``im2col``: window entries added back into ``(..., H, W)``."""
        return _windows.col2im(cols, hw, kernel, stride, padding, dilation)

    @staticmethod
    def window_argmax(x, kernel, stride, padding, dilation):
        """One-hot bool mask ``(..., kh, kw, Ho, Wo)`` of each window's first maximum
        (a constant: not differentiated)."""
        return _windows.window_argmax(x, kernel, stride, padding, dilation)

    @staticmethod
    def window_max(x, kernel, stride, padding, dilation):
        """The maximum of every window ``(..., Ho, Wo)`` (padding never wins; NaN wins)."""
        return _windows.window_max(x, kernel, stride, padding, dilation)

    @staticmethod
    def window_sum(x, kernel, stride, padding):
        """The sum of every window of the zero-padded ``x``, ``(..., Ho, Wo)``."""
        return _windows.window_sum(x, kernel, stride, padding)

    # matrices (ops/linalg_decomp.py): batch-agnostic, they address trailing dims only --
    @staticmethod
    def solve(a, b):
        """``a^{-1} b`` for ``a`` (..., n, n) and a *matrix* ``b`` (..., n, k); batch
        dims broadcast (so ``b`` may carry extra leading batch dims)."""
        try:
            return np.linalg.solve(a, b)
        except np.linalg.LinAlgError:
            raise LinAlgError("linalg.solve: a matrix in a derivative rule is singular; "
                              "the derivative is not defined there") from None

    @staticmethod
    def inv(a):
        """``a^{-1}`` for ``a`` (..., n, n)."""
        try:
            return np.linalg.inv(a)
        except np.linalg.LinAlgError:
            raise LinAlgError("linalg.inv: a matrix in a derivative rule is singular; "
                              "the derivative is not defined there") from None

    @staticmethod
    def det(a):
        return np.linalg.det(a)

    @staticmethod
    def svd(a, full_matrices=False):
        """``u, s, vh`` of ``a`` (..., m, n), reduced unless ``full_matrices``."""
        if not np.isfinite(a).all():  # PyTorch's check (LAPACK may loop on inf)
            raise LinAlgError(SVD_NONFINITE)
        return np.linalg.svd(a, full_matrices=full_matrices)

    @staticmethod
    def slogdet(a):
        """``(sign, log|det a|)`` of ``a`` (..., n, n)."""
        return np.linalg.slogdet(a)

    @staticmethod
    def cholesky(a, upper=False):
        """The Cholesky factor of ``a`` (..., n, n), read from its lower triangle
        (``upper``: the transposed factor, C-contiguous); ``LinAlgError`` when ``a`` is
        not positive-definite."""
        try:
            lower = np.linalg.cholesky(a)
        except np.linalg.LinAlgError:
            raise LinAlgError("linalg.cholesky: the input is not positive-definite") from None
        return np.swapaxes(lower, -1, -2).copy() if upper else lower

    @staticmethod
    def eigh(a, uplo="L"):
        """Eigenvalues (ascending) and eigenvectors of the symmetric matrix read from the
        lower (``uplo="L"``) or upper triangle of ``a`` (..., n, n)."""
        return np.linalg.eigh(a, UPLO=uplo)

    @staticmethod
    def qr(a, mode="reduced"):
        """``q, r`` of ``a`` (..., m, n); ``mode``: "reduced", "complete" or "r" (then
        ``q`` is ``(..., m, 0)``)."""
        if mode == "r":
            m = a.shape[-2]
            return np.zeros(a.shape[:-2] + (m, 0), a.dtype), np.linalg.qr(a, mode="r")
        return np.linalg.qr(a, mode=mode)

    @staticmethod
    def all_nonzero(x) -> bool:
        """A Python bool: no element of ``x`` is zero (a rule may branch on it only to
        pick between two formulas for the same value)."""
        return bool(np.all(x != 0))

    @staticmethod
    def to_device(g, dev):
        """``g`` moved to device ``dev`` (a string such as ``"cpu"``, ``"cuda:0"``)."""
        from .._tensor import to_device
        return to_device(g, dev)

    @staticmethod
    def narrow(x, axis, start, length):
        """``x`` restricted to ``start:start+length`` along ``axis`` (negative)."""
        return x[(Ellipsis, slice(start, start + length)) + (slice(None),) * (-1 - axis)]

    @staticmethod
    def pack(parts, shapes):
        """Concatenate ``parts`` along one new last axis, each part's trailing ``shapes[i]``
        flattened (Note [packed outputs] in ops/linalg_decomp.py)."""
        flat = [p.reshape(p.shape[:p.ndim - len(s)] + (int(np.prod(s)),))
                for p, s in zip(parts, shapes)]
        return np.concatenate(flat, axis=-1)

    @staticmethod
    def unpack(p, shapes):
        """The inverse of ``pack``: views of ``p`` with trailing ``shapes``."""
        out, o = [], 0
        for s in shapes:
            k = int(np.prod(s))
            out.append(p[..., o:o + k].reshape(p.shape[:-1] + tuple(s)))
            o += k
        return out


def _front_advanced_dims(key) -> int:
    """How many result dims NumPy moves to the front for ``x[key]``: advanced indices
    separated by a slice go first (so a batch prefix no longer leads); 0 otherwise."""
    arrays = [k for k in key if isinstance(k, np.ndarray)]
    if not arrays:
        return 0
    pos = [i for i, k in enumerate(key)
           if isinstance(k, np.ndarray) or (type(k) is int or type(k) is bool)]
    if pos == list(range(pos[0], pos[-1] + 1)):
        return 0
    parts = []
    for k in key:
        if isinstance(k, np.ndarray):
            parts.extend(np.nonzero(k) if k.dtype == np.bool_ else (k,))
        elif type(k) is int:
            parts.append(np.asarray(k))
    return np.broadcast(*parts).ndim if len(parts) > 1 else parts[0].ndim


RAW = NumpyNamespace(0)
_BY_NB = {0: RAW}


_REPLAY = []


def _replay():
    """``backend._replay`` (which reads ``RAW`` from here), imported on first use."""
    if not _REPLAY:
        from . import _replay as module
        _REPLAY.append(module)
    return _REPLAY[0]
