"""Reductions and scans: sum, mean, prod, logsumexp, var, std, norm, cumsum, cumprod,
softmax, log_softmax, and the non-differentiable all, any, count_nonzero.

Order-based reductions (max, min, amax, median, sort, topk ...) live in ``sorting.py``.

Rules are ``rule(xp, g, x, out, *params)``: ``g`` is the cotangent of ``out`` (the primal
output) and may carry ``xp.nb`` leading batch dims; JVPs are ``jvp(xp, ts, x, out,
*params)`` with ``t = ts[0]`` the input's tangent (same batch dims); ``x`` and ``out``
are the saved primal values (``None`` when the row does not read them) and never carry
batch dims.  So rules address axes from the end: every row's params hold the reduced
axes as a tuple of *negative* ints (all axes for a whole-tensor reduction, ``()`` for a
0-d input), and ``xp.unreduce(g, shape, axes, keepdim)`` broadcasts ``g`` back to the input shape,
keeping batch dims in front.  ``xp.expand_dims(out, axes)`` puts the reduced axes back
into a saved output, so that it lines up with ``x``.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np

from .._dtype import to_dtype
from .._tensor import Tensor, wrap
from ..backend.array_api import np_dtype
from ..backend.numpy_backend import accumulation_dtype
from . import views as _views
from ._core import Op, unary

_INF = math.inf
_NAN = math.nan

# PyTorch's names for dtypes in its error messages
TORCH_TYPE_NAMES = {"float16": "Half", "float32": "Float", "float64": "Double",
                    "int8": "Char", "int16": "Short", "int32": "Int", "int64": "Long",
                    "uint8": "Byte", "bool": "Bool"}


# ---- argument checks shared with sorting.py --------------------------------------------

def check_tensor(x, op: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(x).__name__}")


def _dim_range_error(op, d, shape):
    n = max(len(shape), 1)
    return IndexError(f"{op}(): Dimension out of range (expected to be in range of "
                      f"[{-n}, {n - 1}], but got {d}) for a tensor of shape {list(shape)}")


def _int_tensor(d):
    """A one-element integer tensor given as a dim is that int, as in PyTorch."""
    if isinstance(d, Tensor) and np_dtype(d._data.dtype).kind in "iu" and d._data.size == 1:
        return int(d._data.reshape(()))
    return d


def one_dim(x: Tensor, dim, op: str):
    """A single ``dim`` as a negative axis, or ``None`` for a 0-d tensor."""
    shape = x._data.shape
    dim = _int_tensor(dim)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}(): argument 'dim' must be int, not {type(dim).__name__}")
    n = max(len(shape), 1)
    if not -n <= dim < n:
        raise _dim_range_error(op, dim, shape)
    return int(dim) % n - n if shape else None


def reduce_dims(x: Tensor, dim, op: str, empty_all: bool = True,
                nonempty: bool = False) -> tuple:
    """``dim`` (None, an int, or a tuple/list of ints) as sorted negative axes.
    ``None`` reduces every dim, as in PyTorch, and so does ``()`` unless ``empty_all`` is
    false (all/any reduce nothing then); a 0-d tensor has no axes.  ``nonempty``: a dim of
    size 0 is PyTorch's IndexError, checked dim by dim before duplicates (amax, amin)."""
    nd = x._data.ndim
    if dim is None:
        return tuple(range(-nd, 0))
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    if not dims:
        return tuple(range(-nd, 0)) if empty_all else ()
    axes, seen = [], []
    for d in map(_int_tensor, dims):
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"{op}(): argument 'dim' must be int or tuple of ints, not "
                            f"{type(d).__name__}")
        a = one_dim(x, d, op)
        if nonempty and nd and x._data.shape[a] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {a % nd} to have non-zero "
                             f"size (tensor of shape {list(x._data.shape)}).")
        k = int(d) % max(nd, 1)
        if k in seen:
            raise RuntimeError(f"{op}(): dim {k} appears multiple times in the list of dims "
                               f"(tensor of shape {list(x._data.shape)})")
        seen.append(k)
        axes.append(a)
    return tuple(sorted(axes)) if nd else ()


def reduced_size(shape, axes) -> int:
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def numpy_names(fn):
    """PyTorch also accepts NumPy's ``axis=`` and ``keepdims=`` for ``dim=``/``keepdim=``."""
    @functools.wraps(fn)
    def accept(*args, **kwargs):
        if kwargs:
            if "axis" in kwargs:
                kwargs["dim"] = kwargs.pop("axis")
            if "keepdims" in kwargs:
                kwargs["keepdim"] = kwargs.pop("keepdims")
        return fn(*args, **kwargs)
    return accept


def _cast(x: Tensor, dtype) -> Tensor:
    return x if dtype is None else _views.to_dtype(x, to_dtype(dtype).np)


def _in_dtype(result: Tensor, dtype) -> Tensor:
    """An integral sum/prod/scan computes in int64; a requested ``dtype`` (int32, bool ...)
    is the result's dtype, as PyTorch (the same bits: integer arithmetic wraps alike)."""
    if dtype is None:
        return result
    want = to_dtype(dtype).np
    return result if np_dtype(result._data.dtype) == want else _views.to_dtype(result, want)


def _no_bool_scan(dtype, op: str, x: Tensor) -> None:
    """PyTorch has no bool scan kernel, which an empty ``x`` never reaches."""
    if dtype is not None and x._data.size and to_dtype(dtype).np == np.bool_:
        raise NotImplementedError(f'"{op}_out_cpu" not implemented for \'Bool\': {op} cannot '
                                  f"run in bool; pass an integer dtype such as torch.int64")


def _require_float(x: Tensor, op: str, what: str) -> None:
    dt = x._data.dtype  # (a library's own dtype object may lack NumPy's ``kind``)
    if (getattr(dt, "kind", None) or np_dtype(dt).kind) != "f":
        name = TORCH_TYPE_NAMES.get(np_dtype(x._data.dtype).name, np_dtype(x._data.dtype).name)
        raise RuntimeError(f"{op}(): {what} Got: {name} (tensor of shape "
                           f"{list(x._data.shape)}). Convert with .float() first.")


def keep_dims(xp, out, axes, keepdim):
    """The saved output with its reduced axes put back (size 1), aligned with ``x``."""
    return out if keepdim or not axes else xp.expand_dims(out, axes)


# Forwards reduce with ``xp.add_reduce`` etc. (on NumPy the ufuncs' reduce, not
# ndarray.sum/max, NumPy's Python wrappers): a floating-point warning is then raised from
# chainrule's own frame, where Note [floating-point warnings] (backend/numpy_backend.py)
# silences it.
_F16 = np.dtype(np.float16)
_I64 = np.dtype(np.int64)


def _int64_if_integral(xp, a):
    # (a library's own dtype object may lack NumPy's ``kind``: then it is mapped)
    kind = getattr(a.dtype, "kind", None) or xp.dtype_of(a).kind
    return _I64 if kind in "biu" else None


def _accumulate_wide(forward):
    """A float16 forward computed in float32 and rounded once at the end, as PyTorch's
    reductions are (Note [low-precision accumulation] in backend/numpy_backend.py)."""
    @functools.wraps(forward)
    def wide(xp, a, *params):
        # (NumPy's float16 dtype is one object; a library without float16 never matches)
        if a.dtype is not _F16:
            return forward(xp, a, *params)
        return xp.astype(forward(xp, xp.astype(a, np.float32), *params), np.float16)
    return wide


# ---- sum, mean ------------------------------------------------------------------------

@_accumulate_wide
def _sum_forward(xp, a, axes, keepdim, shape):
    return xp.add_reduce(a, axis=axes, keepdims=keepdim, dtype=_int64_if_integral(xp, a))


def _sum_vjp(xp, g, x, out, axes, keepdim, shape):
    return xp.unreduce(g, shape, axes, keepdim)


@_accumulate_wide
def _mean_forward(xp, a, axes, keepdim, shape, n):
    s = xp.add_reduce(a, axis=axes, keepdims=keepdim)
    if n == 0:
        return s * _NAN  # PyTorch: the mean of nothing is nan (s is 0)
    return s / n


def _mean_vjp(xp, g, x, out, axes, keepdim, shape, n):
    # n == 0: the input is empty, so is its cotangent
    # 1.0 / n, not / n: a float16 g divided by an int n >= 65520 would see n as inf
    return xp.unreduce(g * (1.0 / n) if n else g, shape, axes, keepdim)


# Each reduction has two rows, as PyTorch has two grad_fn names: the whole-tensor call
# (``x.sum()``: SumBackward0) and the call with ``dim`` (``x.sum(1)``: SumBackward1).
SUM, SUM_DIM = (Op(name, _sum_forward, (_sum_vjp,), node=node, kind="linear",
                   formula="d sum(x, dims) = g broadcast back over the reduced dims")
                for name, node in (("sum", "SumBackward0"), ("sum_dim", "SumBackward1")))
MEAN, MEAN_DIM = (Op(name, _mean_forward, (_mean_vjp,), node=node, kind="linear",
                     formula="d mean(x, dims) = g / n broadcast back, n = reduced count")
                  for name, node in (("mean", "MeanBackward0"),
                                     ("mean_dim", "MeanBackward1")))


@numpy_names
def sum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum over ``dim`` (an int or tuple; all dims when None).  Integer and bool
    tensors sum to int64, as in PyTorch; ``dtype`` casts the input first."""
    check_tensor(input, "sum")
    x = _cast(input, dtype)
    axes = reduce_dims(x, dim, "sum")
    return _in_dtype(unary(SUM if dim is None else SUM_DIM, x, axes, bool(keepdim),
                           x._data.shape), dtype)


@numpy_names
def mean(input, dim=None, keepdim=False, *, dtype=None):
    """Arithmetic mean over ``dim``; floating inputs only (or pass ``dtype``)."""
    check_tensor(input, "mean")
    x = _cast(input, dtype)
    _require_float(x, "mean", "could not infer output dtype. Input dtype must be either a "
                              "floating point or complex dtype.")
    shape = x._data.shape
    axes = reduce_dims(x, dim, "mean")
    return unary(MEAN if dim is None else MEAN_DIM, x, axes, bool(keepdim), shape,
                 reduced_size(shape, axes))


# ---- prod -----------------------------------------------------------------------------

@_accumulate_wide
def _prod_forward(xp, a, axes, keepdim, shape):
    return xp.multiply_reduce(a, axis=axes, keepdims=keepdim,
                              dtype=_int64_if_integral(xp, a))


def _prod_partial(xp, x, out, axes, keepdim):
    """Note [prod with zeros]: d prod / dx_i = prod_{j != i} x_j, without dividing by 0.

    Per reduced slice, with z the number of zeros in it:
      x_i != 0            out / x_i (exact: the identity holds wherever x_i != 0);
      x_i == 0, z == 1    q = the product of the nonzero entries;
      x_i == 0, z == 2    q * x_w, w the other zero: written q * (s - x_i) with s the sum
                          of the zero entries, so its value is 0 and its derivative in x_w
                          is q -- the Hessian stays exact (PyTorch gets it too);
      x_i == 0, z >= 3    0.
    No branch divides by zero, so no NaN appears even in the unused branch.
    """
    o = keep_dims(xp, out, axes, keepdim)
    zeros = x == 0
    nz = xp.sum(zeros, axes, keepdims=True)
    x_safe = xp.where(zeros, 1, x)
    q = xp.prod(x_safe, axes, keepdims=True)
    s = xp.sum(xp.where(zeros, x, 0), axes, keepdims=True)
    at_zero = xp.where(nz == 1, q, xp.where(nz == 2, q * (s - x), 0))
    return xp.where(zeros, at_zero, o / x_safe)


def _prod_vjp(xp, g, x, out, axes, keepdim, shape):
    return xp.unreduce(g, shape, axes, keepdim) * _prod_partial(xp, x, out, axes, keepdim)


def _prod_jvp(xp, ts, x, out, axes, keepdim, shape):
    return xp.sum(ts[0] * _prod_partial(xp, x, out, axes, keepdim), axes, keepdim)


PROD, PROD_DIM = (Op(name, _prod_forward, (_prod_vjp,), node=node, reads=((0, 1),),
                     jvp=_prod_jvp,
                     formula="d prod(x) / dx_i = prod_{j != i} x_j (zeros handled exactly)")
                  for name, node in (("prod", "ProdBackward0"), ("prod_dim", "ProdBackward1")))


@numpy_names
def prod(input, dim=None, keepdim=False, *, dtype=None):
    """Product of all elements, or over one ``dim`` (PyTorch's prod takes a single int).
    Integer and bool tensors give int64."""
    check_tensor(input, "prod")
    x = _cast(input, dtype)
    if dim is None:
        return _in_dtype(unary(PROD, x, reduce_dims(x, None, "prod"), False, x._data.shape),
                         dtype)
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"prod(): argument 'dim' must be int, not {type(dim).__name__} "
                        f"(PyTorch's prod reduces one dim at a time; use x.prod(0).prod(0))")
    d = one_dim(x, dim, "prod")  # checks the range, also of a 0-d tensor's dims
    axes = () if d is None else (d,)
    return _in_dtype(unary(PROD_DIM, x, axes, bool(keepdim), x._data.shape), dtype)


# ---- logsumexp --------------------------------------------------------------------------

def _logsumexp_forward(xp, a, axes, keepdim, shape):
    # shift by the max so exp never overflows; an infinite max shifts by 0 instead.
    # float16: exp and the sum in float32, the sum rounded to float16 before the log,
    # as PyTorch (so a sum past 65504 gives inf, as there)
    if reduced_size(shape, axes):
        m = xp.maximum_reduce(a, axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
    else:
        m = 0
    wide = xp.astype(a, np.float32) if a.dtype is _F16 else a
    s = xp.astype(xp.add_reduce(xp.exp(wide - m), axis=axes, keepdims=True), a.dtype)
    out = xp.astype(xp.log(xp.astype(s, wide.dtype)) + m, a.dtype)
    return out if keepdim or not axes else xp.squeeze(out, axis=axes)


def _logsumexp_vjp(xp, g, x, out, axes, keepdim, shape):
    softmax = xp.exp(x - keep_dims(xp, out, axes, keepdim))
    return xp.unreduce(g, shape, axes, keepdim) * softmax


def _logsumexp_jvp(xp, ts, x, out, axes, keepdim, shape):
    return xp.sum(ts[0] * xp.exp(x - keep_dims(xp, out, axes, keepdim)), axes, keepdim)


LOGSUMEXP = Op("logsumexp", _logsumexp_forward, (_logsumexp_vjp,), reads=((0, 1),),
               jvp=_logsumexp_jvp,
               formula="d logsumexp(x) = g * exp(x - out) = g * softmax(x)")
LOGSUMEXP.float_result = True


@numpy_names
def logsumexp(input, dim, keepdim=False):
    """``log(sum(exp(x), dim))`` computed without overflow.  Integer inputs give floats."""
    check_tensor(input, "logsumexp")
    if isinstance(dim, (tuple, list)) and not dim and input._data.ndim and input._data.size:
        # PyTorch reduces every dim but keeps no dims for the result it writes
        raise RuntimeError(f"logsumexp(): output with shape [] doesn't match the broadcast "
                           f"shape {[1] * input._data.ndim}")
    shape = input._data.shape
    return unary(LOGSUMEXP, input, reduce_dims(input, dim, "logsumexp"), bool(keepdim), shape)


# ---- var, std -------------------------------------------------------------------------------

def _var_raw(xp, a, axes, keepdim, n, correction):
    if n == 0:  # the variance of nothing is nan, whatever the correction (PyTorch)
        return xp.add_reduce(a, axis=axes, keepdims=keepdim) * _NAN
    d = a - xp.add_reduce(a, axis=axes, keepdims=True) / n
    # PyTorch divides by max(0, n - correction): no negative degrees of freedom, and 0 for
    # a nan correction (C++ std::max(0, nan)); 0 / 0.0 is nan (a library may refuse an
    # integer division by zero)
    dof = max(0, n - correction)
    return xp.add_reduce(d * d, axis=axes, keepdims=keepdim) / (dof if dof else 0.0)


@_accumulate_wide
def _var_forward(xp, a, axes, keepdim, shape, n, correction):
    return _var_raw(xp, a, axes, keepdim, n, correction)


@_accumulate_wide
def _std_forward(xp, a, axes, keepdim, shape, n, correction):
    return xp.sqrt(_var_raw(xp, a, axes, keepdim, n, correction))


def _var_vjp(xp, g, x, out, axes, keepdim, shape, n, correction):
    # d var = 2 (x - mean) / (n - correction); the mean's own term sums to zero
    if n == 0:
        return xp.unreduce(g, shape, axes, keepdim)  # empty input, empty cotangent
    dof = max(0, n - correction)
    scale = 2.0 / dof if dof else _NAN  # PyTorch: 2/0 * 0 -> nan
    centered = x - xp.mean(x, axes, keepdims=True)
    return xp.unreduce(g * scale, shape, axes, keepdim) * centered


def _std_vjp(xp, g, x, out, axes, keepdim, shape, n, correction):
    # Note [std at zero]: d std = d var / (2 std), taken as 0 where std == 0 (a constant
    # slice), as PyTorch does; the double where keeps 1/0 out of both branches.
    zero = out == 0
    g_var = xp.where(zero, 0, g / (2 * xp.where(zero, 1, out)))
    return _var_vjp(xp, g_var, x, None, axes, keepdim, shape, n, correction)


def _var_jvp(xp, ts, x, out, axes, keepdim, shape, n, correction):
    t = ts[0]
    if n == 0:
        return xp.sum(t, axes, keepdim)  # empty input: a zero tangent
    dof = max(0, n - correction)
    centered = x - xp.mean(x, axes, keepdims=True)
    return xp.sum(t * centered, axes, keepdim) * (2.0 / dof if dof else _NAN)


def _std_jvp(xp, ts, x, out, axes, keepdim, shape, n, correction):
    # d std = d var / (2 std), 0 where std == 0 (Note [std at zero])
    zero = out == 0
    t_var = _var_jvp(xp, ts, x, None, axes, keepdim, shape, n, correction)
    return xp.where(zero, 0, t_var / (2 * xp.where(zero, 1, out)))


VAR = Op("var", _var_forward, (_var_vjp,), reads=((0,),), jvp=_var_jvp,
         formula="d var(x) = g * 2 (x - mean(x)) / (n - correction)")
STD = Op("std", _std_forward, (_std_vjp,), reads=((0, 1),), jvp=_std_jvp,
         formula="d std(x) = g * (x - mean(x)) / ((n - correction) std(x)), 0 where std = 0")


def _var_args(op, input, dim, unbiased, keepdim, correction):
    check_tensor(input, op)
    if isinstance(dim, bool):  # the legacy form var(x, unbiased)
        dim, unbiased = None, dim
    if np_dtype(input._data.dtype).kind != "f":
        raise RuntimeError(f"{op}(): std and var only support floating point and complex "
                           f"dtypes, got {input.dtype} (tensor of shape "
                           f"{list(input._data.shape)}). Convert with .float() first.")
    if correction is not None and unbiased is not None:
        raise TypeError(f"{op}(): pass either 'unbiased' or 'correction', not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    elif isinstance(correction, (Tensor, np.generic)):  # a Number: a Python number here
        correction = correction.item()
    shape = input._data.shape
    axes = reduce_dims(input, dim, op)
    n = reduced_size(shape, axes)
    if n - correction <= 0:
        warnings.warn(f"{op}(): degrees of freedom is <= 0. Correction should be strictly "
                      f"less than the reduction factor (input numel divided by output "
                      f"numel).", UserWarning, stacklevel=3)
    return axes, bool(keepdim), shape, n, correction


@numpy_names
def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over ``dim`` with Bessel's ``correction`` (default 1; ``unbiased=False``
    is ``correction=0``)."""
    return unary(VAR, input, *_var_args("var", input, dim, unbiased, keepdim, correction))


@numpy_names
def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation over ``dim``; see ``var``.  Its gradient is 0 where std is 0."""
    return unary(STD, input, *_var_args("std", input, dim, unbiased, keepdim, correction))


@numpy_names
def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """``(var(x, dim), mean(x, dim))`` in one call."""
    v = var(input, dim, unbiased, keepdim, correction=correction)
    if isinstance(dim, bool):  # the legacy form var_mean(x, unbiased)
        dim = None
    return v, _welford_mean(input, dim, keepdim)


def _welford_mean(x: Tensor, dim, keepdim) -> Tensor:
    """The mean as PyTorch's var_mean/std_mean give it: their one-pass (Welford) kernel
    makes it nan when the slice holds an inf (inf - inf), where mean() gives inf.
    ``x - x`` is nan exactly there and 0 elsewhere (with a zero derivative)."""
    return mean(x, dim, keepdim) + sum(x - x, dim, keepdim)


@numpy_names
def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """``(std(x, dim), mean(x, dim))`` in one call."""
    s = std(input, dim, unbiased, keepdim, correction=correction)
    if isinstance(dim, bool):
        dim = None
    return s, _welford_mean(input, dim, keepdim)


def _nan_to_zero(x: Tensor) -> Tensor:
    # the nan entries are replaced by 0 (their gradient is 0, as PyTorch's nansum)
    from .. import _functions as F
    return F.where(F.isnan(x), 0.0, x) if np_dtype(x._data.dtype).kind == "f" else x


@numpy_names
def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """``sum`` treating nan as 0."""
    check_tensor(input, "nansum")
    return sum(_nan_to_zero(input), dim, keepdim, dtype=dtype)


@numpy_names
def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """``mean`` over the entries that are not nan (nan where every entry is nan)."""
    check_tensor(input, "nanmean")
    want = None if dtype is None else to_dtype(dtype)
    _require_float(input, "nanmean", "expected input to have floating point or complex "
                                     "dtype but")
    if want is not None and want.np.kind != "f":
        raise RuntimeError(f"nanmean(): could not infer output dtype. Optional dtype must "
                           f"be either a floating point or complex dtype. Got: "
                           f"{TORCH_TYPE_NAMES.get(want.np.name, want.np.name)}")
    x = _cast(input, dtype)
    from .. import _functions as F
    count = sum(F.logical_not(F.isnan(x)), dim, keepdim)
    total = nansum(x, dim, keepdim)
    if np_dtype(x._data.dtype) == np.float16:  # divided in float32 (a count above 65504 is inf)
        wide = _views.to_dtype(total, np.dtype(np.float32)) / count
        return _views.to_dtype(wide, np.dtype(np.float16))
    return total / count


# ---- norm ------------------------------------------------------------------------------------

@_accumulate_wide
def _norm_forward(xp, a, p, axes, keepdim, shape):
    if p == 2:
        return xp.sqrt(xp.add_reduce(a * a, axis=axes, keepdims=keepdim))
    if p == 0:
        return xp.astype(xp.add_reduce(xp.astype(a != 0, a.dtype), axis=axes,
                                       keepdims=keepdim), a.dtype)
    mag = xp.abs(a)
    if p == 1:
        return xp.add_reduce(mag, axis=axes, keepdims=keepdim)
    if p == _INF:
        return xp.maximum_reduce(mag, axis=axes, keepdims=keepdim)
    if p == -_INF:
        return xp.minimum_reduce(mag, axis=axes, keepdims=keepdim)
    if a.ndim == xp.nb:  # PyTorch: the norm of one number is its magnitude, for any p
        return mag
    total = xp.add_reduce(mag ** p, axis=axes, keepdims=keepdim)
    if p != p:  # a nan order: nan, but an empty sum stays 0 (PyTorch's kernel)
        return xp.where(total == 0, total, total ** (1.0 / p))
    return total ** (1.0 / p)  # 0 ** -p = inf


def _norm_partial(xp, x, out, p, axes, keepdim):
    """d ||x||_p / dx (shaped like ``x``; ``p != 0``): PyTorch's norm_backward, with the
    division by the norm guarded (Note [norm at zero]): where the norm is 0 the gradient
    is 0, never NaN, to any order -- the double where keeps 0/0 out of the branch that
    is not taken."""
    if p == 1:
        return xp.sign(x)
    o = keep_dims(xp, out, axes, keepdim)
    zero = o == 0
    if p == 2:
        return xp.where(zero, 0, x / xp.where(zero, 1, o))
    if p in (_INF, -_INF):
        # the entries attaining max |x| (min |x|) share the gradient evenly, with x's sign
        # (none where the norm is nan: then no entry gets a gradient, as PyTorch)
        hit = xp.astype(xp.abs(x) == o, x.dtype)
        count = xp.sum(hit, axes, keepdims=True)
        return xp.sign(x) * (hit / xp.where(count == 0, 1, count))
    mag = xp.abs(x)
    if p < 1:  # |x|^(p-1) is infinite at 0: the entry's gradient is taken as 0
        at0 = x == 0
        return xp.where(at0, 0, xp.sign(x) * xp.where(at0, 1, mag) ** (p - 1)) * o ** (1 - p)
    d = xp.sign(x) * mag ** (p - 1) if p < 2 else x * mag ** (p - 2)
    return d * xp.where(zero, 0, 1 / xp.where(zero, 1, o) ** (p - 1))


def _norm_vjp(xp, g, x, out, p, axes, keepdim, shape):
    if p == 0:
        return None  # piecewise constant: PyTorch leaves the gradient undefined
    return xp.unreduce(g, shape, axes, keepdim) * _norm_partial(xp, x, out, p, axes, keepdim)


def _norm_jvp(xp, ts, x, out, p, axes, keepdim, shape):
    if p == 0:
        return None
    return xp.sum(ts[0] * _norm_partial(xp, x, out, p, axes, keepdim), axes, keepdim)


NORM = Op("norm", _norm_forward, (_norm_vjp,), node="LinalgVectorNormBackward0",
          reads=((0, 1),), jvp=_norm_jvp,
          formula="d ||x||_p = g * sign(x) |x|^(p-1) / ||x||^(p-1), 0 where ||x|| = 0")


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """``linalg.vector_norm``: the p-norm of ``x`` flattened over ``dim``."""
    check_tensor(x, "linalg.vector_norm")
    if np_dtype(x._data.dtype).kind == "f" and dtype is not None:  # the input's dtype first
        if np.dtype(to_dtype(dtype).np).itemsize < np_dtype(x._data.dtype).itemsize:
            raise RuntimeError(f"linalg.vector_norm: the dtype of the input "
                               f"({TORCH_TYPE_NAMES.get(np_dtype(x._data.dtype).name)}) "
                               f"should be convertible without narrowing to the specified "
                               f"dtype ({to_dtype(dtype)})")
        x = _cast(x, dtype)
    if np_dtype(x._data.dtype).kind != "f":
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor "
                           f"as input. Got {TORCH_TYPE_NAMES.get(np_dtype(x._data.dtype).name)} "
                           f"(tensor of shape {list(x._data.shape)})")
    p = float(ord)
    shape = x._data.shape
    axes = reduce_dims(x, dim, "linalg.vector_norm")
    if (p < 0 or math.isinf(p)) and reduced_size(shape, axes) == 0:
        raise RuntimeError(f"linalg.vector_norm cannot compute the {ord} norm on an empty "
                           f"tensor because the operation does not have an identity "
                           f"(shape {list(shape)}, dim {dim})")
    return unary(NORM, x, p, axes, bool(keepdim), shape)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """``torch.norm``: a vector p-norm over ``dim`` (all dims when None).  ``p`` is a
    number (inf and -inf included) or 'fro' (the 2-norm over at most two dims)."""
    check_tensor(input, "norm")
    from .. import linalg  # PyTorch's torch.norm, a Python function over these two
    _dim = [dim] if isinstance(dim, int) else dim
    if isinstance(p, str):
        if p == "fro" and (dim is None or isinstance(dim, int) or len(dim) <= 2):
            return linalg.vector_norm(input, 2, _dim, keepdim, dtype=dtype)
        if _dim is None:
            _dim = list(range(input._data.ndim))
        return linalg.matrix_norm(input, p, _dim, keepdim, dtype=dtype)
    return linalg.vector_norm(input, 2.0 if p is None else p, _dim, keepdim, dtype=dtype)


# ---- cumsum, cumprod -------------------------------------------------------------------------

def _scan(xp, fn, a, axis):
    # integer and bool scans give int64; float16/float32 accumulate in float64, as
    # PyTorch's CPU scans (Note [low-precision accumulation])
    dt = _int64_if_integral(xp, a)
    if axis is None:
        return xp.copy(xp.astype(a, dt or xp.dtype_of(a)))
    acc = dt or accumulation_dtype(xp.dtype_of(a), scan=True)
    if acc is None:
        return fn(a, axis=axis)
    out = fn(a, axis=axis, dtype=acc)
    return out if dt else xp.astype(out, a.dtype)


def _cumsum_forward(xp, a, axis):
    return _scan(xp, xp.add_accumulate, a, axis)


def _cumprod_forward(xp, a, axis):
    return _scan(xp, xp.multiply_accumulate, a, axis)


def _cumsum_vjp(xp, g, x, out, axis):
    return g if axis is None else xp.reverse_cumsum(g, axis)


def _cumprod_vjp(xp, g, x, out, axis):
    """Note [cumprod with zeros]: d/dx_i = sum_{k >= i} g_k prod_{j <= k, j != i} x_j, in
    O(n) and without dividing by zero (PyTorch's derivation, as one formula).
    Let z be the first zero along the axis, w the second.
      x_i != 0 or i before z:  (sum_{k>=i} g_k out_k) / x_i;
      i == z:  sum_{k>=z} g_k cumprod(x with x_z := 1)_k;
      i == w:  x_z * sum_{k>=w} g_k cumprod(x with x_z, x_w := 1)_k  -- value 0, but its
               derivative in x_z keeps the Hessian exact;
      later zeros: sum_{k>=i} g_k out_k = 0.
    """
    if axis is None:
        return g
    zeros = x == 0
    seen = xp.cumsum(zeros, axis)  # zeros up to and including each position
    first = zeros & (seen == 1)
    second = zeros & (seen == 2)
    plain = xp.reverse_cumsum(g * out, axis) / xp.where(zeros, 1, x)
    at_first = xp.reverse_cumsum(g * xp.cumprod(xp.where(first, 1, x), axis), axis)
    x_first = xp.sum(xp.where(first, x, 0), (axis,), keepdims=True)
    rest = xp.cumprod(xp.where(first | second, 1, x), axis)
    at_second = x_first * xp.reverse_cumsum(g * rest, axis)
    return xp.where(first, at_first, xp.where(second, at_second, plain))


def _cumprod_jvp(xp, ts, x, out, axis):
    """d cumprod(x)_k = sum_{i <= k} t_i prod_{j <= k, j != i} x_j, exact to second order
    without dividing by zero.  With c_k the number of zeros among x_0..x_k, z and w the
    first two zeros:
      out_k * cumsum(t / x over the nonzero x)_k   the terms i != z (value 0 once c_k >= 1,
                                                   but its derivative in x_z is needed);
      + cumprod(x with x_z := t_z)_k   where c_k >= 1 (the term i = z);
      + cumprod(x with x_w := t_w)_k   where c_k >= 2 (i = w: value 0, exact derivative).
    Every later term has two zero factors: value and derivative 0.
    """
    t = ts[0]
    if axis is None:
        return t
    zeros = x == 0
    seen = xp.cumsum(zeros, axis)  # zeros up to and including each position
    first = zeros & (seen == 1)
    second = zeros & (seen == 2)
    res = out * xp.cumsum(xp.where(zeros, 0, t / xp.where(zeros, 1, x)), axis)
    res = res + xp.where(seen >= 1, xp.cumprod(xp.where(first, t, x), axis), 0)
    return res + xp.where(seen >= 2, xp.cumprod(xp.where(second, t, x), axis), 0)


CUMSUM = Op("cumsum", _cumsum_forward, (_cumsum_vjp,), kind="linear",
            formula="d cumsum(x) = reversed cumsum of g")
CUMPROD = Op("cumprod", _cumprod_forward, (_cumprod_vjp,), reads=((0, 1),), jvp=_cumprod_jvp,
             formula="d cumprod(x)_k / dx_i = prod_{j <= k, j != i} x_j for i <= k")


@numpy_names
def cumsum(input, dim, *, dtype=None):
    """Running sum along ``dim``; integer and bool tensors give int64."""
    check_tensor(input, "cumsum")
    x = _cast(input, dtype)  # a bad dtype first, as PyTorch's parser; then the dim
    axis = one_dim(x, dim, "cumsum")
    _no_bool_scan(dtype, "cumsum", x)
    return _in_dtype(unary(CUMSUM, x, axis), dtype)


@numpy_names
def cumprod(input, dim, *, dtype=None):
    """Running product along ``dim``; integer and bool tensors give int64."""
    check_tensor(input, "cumprod")
    x = _cast(input, dtype)  # a bad dtype first, as PyTorch's parser; then the dim
    axis = one_dim(x, dim, "cumprod")
    _no_bool_scan(dtype, "cumprod", x)
    return _in_dtype(unary(CUMPROD, x, axis), dtype)


# ---- softmax, log_softmax ---------------------------------------------------------------------

def _shifted(xp, a, axes):
    return a - xp.maximum_reduce(a, axis=axes, keepdims=True) if 0 not in a.shape else a


@_accumulate_wide
def _softmax_forward(xp, a, axes):
    e = xp.exp(_shifted(xp, a, axes))
    return e / xp.add_reduce(e, axis=axes, keepdims=True)


def _log_softmax_forward(xp, a, axes):
    # float16 as logsumexp: the sum of exponentials rounded to float16 before the log
    wide = xp.astype(a, np.float32) if a.dtype is _F16 else a
    s = _shifted(xp, wide, axes)
    total = xp.astype(xp.astype(xp.add_reduce(xp.exp(s), axis=axes, keepdims=True),
                                a.dtype), wide.dtype)
    return xp.astype(s - xp.log(total), a.dtype)


def _widened(rule):
    """A float16 softmax rule computed in float32 and rounded once (PyTorch's kernels
    accumulate in float32: a sum of 70,000 float16 cotangents must not be inf)."""
    @functools.wraps(rule)
    def wide(xp, g, x, out, axes):
        if not str(g.dtype).endswith("float16"):
            return rule(xp, g, x, out, axes)
        return xp.astype(rule(xp, xp.astype(g, np.float32), x, xp.astype(out, np.float32),
                              axes), np.float16)
    return wide


@_widened
def _softmax_vjp(xp, g, x, out, axes):
    return out * (g - xp.sum(g * out, axes, keepdims=True))


@_widened
def _log_softmax_vjp(xp, g, x, out, axes):
    return g - xp.exp(out) * xp.sum(g, axes, keepdims=True)


def _softmax_jvp(xp, ts, x, out, axes):
    t = ts[0]
    return out * (t - xp.sum(t * out, axes, keepdims=True))


def _log_softmax_jvp(xp, ts, x, out, axes):
    t = ts[0]
    return t - xp.sum(t * xp.exp(out), axes, keepdims=True)


SOFTMAX = Op("softmax", _softmax_forward, (_softmax_vjp,), reads=((1,),), jvp=_softmax_jvp,
             formula="d softmax(x) = out * (g - sum(g * out))")
LOG_SOFTMAX = Op("log_softmax", _log_softmax_forward, (_log_softmax_vjp,), reads=((1,),),
                 jvp=_log_softmax_jvp,
                 formula="d log_softmax(x) = g - exp(out) * sum(g)")


def _softmax_call(op, kernel, input, dim, dtype):
    check_tensor(input, op.name)
    if dim is None:
        raise TypeError(f"{op.name}() missing 1 required positional arguments: \"dim\"")
    a = one_dim(input, dim, op.name)  # the dim is checked before the dtype, as PyTorch
    x = _cast(input, dtype)
    if np_dtype(x._data.dtype).kind != "f" and x._data.size == 0:
        return wrap(np.empty(x._data.shape, np_dtype(x._data.dtype)))  # no kernel runs
    if np_dtype(x._data.dtype).kind != "f":
        raise NotImplementedError(
            f"\"{kernel}\" not implemented for "
            f"'{TORCH_TYPE_NAMES.get(np_dtype(x._data.dtype).name)}': {op.name} of a tensor "
            f"of shape {list(x._data.shape)} needs a floating dtype; use x.float() or dtype=.")
    a = one_dim(x, dim, op.name)
    return unary(op, x, () if a is None else (a,))


@numpy_names
def softmax(input, dim=None, dtype=None):
    """``exp(x) / sum(exp(x), dim)``, computed without overflow."""
    return _softmax_call(SOFTMAX, "softmax_kernel_impl", input, dim, dtype)


@numpy_names
def log_softmax(input, dim=None, dtype=None):
    """``x - logsumexp(x, dim)``, computed without overflow."""
    return _softmax_call(LOG_SOFTMAX, "log_softmax_kernel_impl", input, dim, dtype)


# ---- all, any, count_nonzero: not differentiable --------------------------------------------

def _logical_forward(word):
    def forward(xp, a, axes, keepdim):
        r = getattr(xp, word)(a, axis=axes, keepdims=keepdim)
        # PyTorch keeps uint8
        return xp.astype(r, np.uint8) if xp.dtype_of(a) == np.uint8 else r
    return forward


def _count_nonzero_forward(xp, a, axes):
    if not axes:  # a 0-d input: 1 or 0
        return xp.astype(a != 0, np.int64)
    return xp.astype(xp.count_nonzero(a, axis=axes), np.int64)


ALL = Op("all", _logical_forward("all"), differentiable=False,
         formula="all(x) is not differentiable (no gradient flows)")
ANY = Op("any", _logical_forward("any"), differentiable=False,
         formula="any(x) is not differentiable (no gradient flows)")
COUNT_NONZERO = Op("count_nonzero", _count_nonzero_forward,
                   differentiable=False,
                   formula="count_nonzero(x) is not differentiable (no gradient flows)")


@numpy_names
def all(input, dim=None, keepdim=False):
    """True where every element over ``dim`` is nonzero (bool; uint8 stays uint8)."""
    check_tensor(input, "all")
    return unary(ALL, input, reduce_dims(input, dim, "all", empty_all=False),
                 bool(keepdim))


@numpy_names
def any(input, dim=None, keepdim=False):
    """True where some element over ``dim`` is nonzero (bool; uint8 stays uint8)."""
    check_tensor(input, "any")
    return unary(ANY, input, reduce_dims(input, dim, "any", empty_all=False),
                 bool(keepdim))


@numpy_names
def count_nonzero(input, dim=None):
    """Number of nonzero elements over ``dim`` (int64)."""
    check_tensor(input, "count_nonzero")
    return unary(COUNT_NONZERO, input, reduce_dims(input, dim, "count_nonzero"))


__all__ = [
    "all",
    "any",
    "count_nonzero",
    "cumprod",
    "cumsum",
    "log_softmax",
    "logsumexp",
    "mean",
    "nanmean",
    "nansum",
    "norm",
    "prod",
    "softmax",
    "std",
    "std_mean",
    "sum",
    "var",
    "var_mean",
]
TENSOR_METHODS = {name: globals()[name] for name in __all__}
