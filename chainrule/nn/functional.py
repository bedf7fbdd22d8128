"""``chainrule.nn.functional``: layers and losses as functions, with PyTorch's signatures.

Everything here is written on the public Tensor API, so gradients come from the engine:
convolution and pooling are op-table rows (``ops/nn_ops.py``); the rest composes existing
rows (normalizations from ``mean``/``var``, activations from elementwise rows, losses from
``log_softmax`` and ``gather``).  Losses live in ``_functional_loss.py`` and are
re-exported here.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings

import numpy as np

import chainrule as _cr

from .. import _args
from .._tensor import Tensor, wrap
from ..backend.array_api import np_dtype
from ..backend.registry import backend_of
from ..ops import nn_ops as _nn_ops
from ._functional_loss import (  # noqa: F401  (re-exported)
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)

pad = _cr.pad
sigmoid = _cr.sigmoid
tanh = _cr.tanh


def _tuple(v, n, name="kernel_size"):
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return tuple(int(v[0]) for _ in range(n))
        if len(v) != n:
            raise RuntimeError(f"expected {name} to be a single integer or a list of {n} "
                               f"integers, got {list(v)}")
        return tuple(int(a) for a in v)
    return tuple(int(v) for _ in range(n))


def _check_tensor(fn, arg, v):
    if not isinstance(v, Tensor):
        raise TypeError(f"{fn}(): argument '{arg}' must be Tensor, not {type(v).__name__}")


# ---- linear ----------------------------------------------------------------------------

def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` (one BLAS product; batch dims of ``input`` fold)."""
    _check_tensor("linear", "input", input)
    from ..ops.linalg import linear as _linear
    return _linear(input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    """``y[..., o] = x1 W[o] x2 + b[o]``."""
    out = _cr.einsum("...i,oij,...j->...o", input1, weight, input2)
    return out if bias is None else out + bias


# ---- convolution -----------------------------------------------------------------------

def _conv_padding(padding, kernel, dilation, stride, ndim):
    """PyTorch's padding forms as ``((top, bottom), (left, right))``."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * ndim
        if padding != "same":
            raise ValueError(f"Invalid padding string {padding!r}, should be one of "
                             f"'valid', 'same'")
        if any(s != 1 for s in stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
        pads = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    return tuple((p, p) for p in _tuple(padding, ndim, "padding"))


def _conv(name, input, weight, bias, stride, padding, dilation, groups, nd):
    _check_tensor(name, "input", input)
    _check_tensor(name, "weight", weight)
    batched = input.dim() == nd + 2
    if input.dim() not in (nd + 1, nd + 2):
        raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to "
                           f"{name}, but got input of size: {list(input.shape)}")
    if weight.dim() != nd + 2:
        raise RuntimeError(f"{name}: expected weight to be {nd + 2}-D, got shape "
                           f"{list(weight.shape)}")
    x = input if batched else input.unsqueeze(0)
    if input.dtype != weight.dtype or (bias is not None and bias.dtype != input.dtype):
        what = ("weight", weight) if input.dtype != weight.dtype else ("bias", bias)
        raise RuntimeError(f"Input type ({input.dtype}) and {what[0]} type ({what[1].dtype}) "
                           f"should be the same")
    kernel = tuple(weight.shape[2:])
    stride_ = _tuple(stride, nd, "stride")
    dilation_ = _tuple(dilation, nd, "dilation")
    pads = _conv_padding(padding, kernel, dilation_, stride_, nd)
    c = x.shape[1]
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if c != weight.shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, "
                           f"expected input{list(x.shape)} to have {weight.shape[1] * groups} "
                           f"channels, but got {c} channels instead")
    if weight.shape[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by "
                           f"{groups} at dimension 0, but got weight of size "
                           f"{list(weight.shape)} instead")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise RuntimeError(f"Given weight of size {list(weight.shape)}, expected bias to be "
                           f"1-dimensional with {weight.shape[0]} elements, but got bias of "
                           f"size {list(bias.shape)} instead")
    spatial = x.shape[2:]
    padded = [n + lo + hi for n, (lo, hi) in zip(spatial, pads)]
    eff = [d * (k - 1) + 1 for k, d in zip(kernel, dilation_)]
    if any(p < e for p, e in zip(padded, eff)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
            f"Kernel size: ({' x '.join(map(str, eff))}). Kernel size can't be greater than "
            f"actual input size")
    if nd == 1:
        out = _nn_ops.convolution(x.unsqueeze(2), weight.unsqueeze(2), bias, (1,) + stride_,
                                  ((0, 0),) + pads, (1,) + dilation_, groups).squeeze(2)
    else:
        out = _nn_ops.convolution(x, weight, bias, stride_, pads, dilation_, groups)
    return out if batched else out.squeeze(0)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation over ``(N, C, L)`` (or unbatched ``(C, L)``)."""
    return _conv("conv1d", input, weight, bias, stride, padding, dilation, groups, 1)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation over ``(N, C, H, W)`` (or unbatched ``(C, H, W)``);
    ``padding`` may be an int, a pair, ``'valid'`` or ``'same'``."""
    return _conv("conv2d", input, weight, bias, stride, padding, dilation, groups, 2)


# ---- pooling ---------------------------------------------------------------------------

def _pool_input(name, input, nd):
    _check_tensor(name, "input", input)
    if input.dim() not in (nd + 1, nd + 2):
        raise RuntimeError(f"{name}: Expected {nd + 1}D or {nd + 2}D input, but got input of "
                           f"size: {list(input.shape)}")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over ``kernel_size`` windows of the last two dims."""
    _pool_input("max_pool2d", input, 2)
    k = _tuple(kernel_size, 2)
    s = k if stride is None or (isinstance(stride, (list, tuple)) and not stride) \
        else _tuple(stride, 2, "stride")
    args = (k, s, _tuple(padding, 2, "padding"), _tuple(dilation, 2, "dilation"), ceil_mode)
    out = _nn_ops.max_pool2d(input, *args)
    if return_indices:
        return out, _nn_ops.max_pool2d_indices(input, *args)
    return out


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over ``kernel_size`` windows of the last two dims."""
    _pool_input("avg_pool2d", input, 2)
    k = _tuple(kernel_size, 2)
    s = k if stride is None or (isinstance(stride, (list, tuple)) and not stride) \
        else _tuple(stride, 2, "stride")
    return _nn_ops.avg_pool2d(input, k, s, _tuple(padding, 2, "padding"), ceil_mode,
                              count_include_pad, divisor_override)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over windows of the last dim (a 2-D pooling of height 1)."""
    _pool_input("max_pool1d", input, 1)
    s = kernel_size if stride is None else stride
    out = max_pool2d(input.unsqueeze(-2), (1, _tuple(kernel_size, 1)[0]),
                     (1, _tuple(s, 1, "stride")[0]), (0, _tuple(padding, 1, "padding")[0]),
                     (1, _tuple(dilation, 1, "dilation")[0]), ceil_mode, return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Mean over windows of the last dim."""
    _pool_input("avg_pool1d", input, 1)
    s = kernel_size if stride is None else stride
    return avg_pool2d(input.unsqueeze(-2), (1, _tuple(kernel_size, 1)[0]),
                      (1, _tuple(s, 1, "stride")[0]), (0, _tuple(padding, 1, "padding")[0]),
                      ceil_mode, count_include_pad).squeeze(-2)


def _adaptive_matrix(n, m, dtype):
    """``(m, n)``: row i averages PyTorch's adaptive window i of an axis of length n."""
    a = np.zeros((m, n), dtype=dtype)
    for i in range(m):
        lo = (i * n) // m
        hi = -((-(i + 1) * n) // m)
        a[i, lo:hi] = 1.0 / (hi - lo)
    return a


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size ``(Ho, Wo)`` (None keeps a dim)."""
    _pool_input("adaptive_avg_pool2d", input, 2)
    h, w = input.shape[-2:]
    size = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    ho, wo = (h if size[0] is None else int(size[0]), w if size[1] is None else int(size[1]))
    if h % ho == 0 and w % wo == 0:  # windows tile the input: one avg_pool2d row
        k = (h // ho, w // wo)
        return _nn_ops.avg_pool2d(input, k, k, (0, 0))
    # Note [adaptive pooling]: uneven windows overlap; the pooling is separable, so it is
    # A_h @ x @ A_w^T with constant averaging matrices (two recorded matmuls).
    dt = np_dtype(input._data.dtype)
    ah = wrap(_adaptive_matrix(h, ho, dt))
    awt = wrap(np.ascontiguousarray(_adaptive_matrix(w, wo, dt).T))
    return ah.matmul(input.matmul(awt))


def adaptive_avg_pool1d(input, output_size):
    """Average pooling of the last dim to ``output_size``."""
    size = output_size
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 1:
            raise RuntimeError(f"adaptive_avg_pool1d() argument 'output_size' should contain "
                               f"one int (got {len(output_size)})")
        size = output_size[0]
    size = _args.int_arg(size, "adaptive_avg_pool1d", "output_size", 2)
    if size <= 0 and input.shape[-1]:
        raise RuntimeError(f"adaptive_avg_pool1d(): output_size must be positive, got {size}")
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, size)).squeeze(-2)


# ---- normalization ---------------------------------------------------------------------

def _affine(y, weight, bias, shape):
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def _float16_in_float32(fn):
    """A composite function computed in float32 for a float16 input, rounded once at the
    end, as PyTorch's kernels do (gelu(-3) in float16 arithmetic loses 8% to the
    cancellation in 1 + erf; softplus(20) overflows exp; the backward of a layer_norm
    over 70,000 features sums past 65504)."""
    @functools.wraps(fn)
    def wide(input, *args, **kwargs):
        if isinstance(input, Tensor) and input._data.dtype == np.float16:
            return fn(input.float(), *args, **kwargs).half()
        return fn(input, *args, **kwargs)
    return wide


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalize each channel (dim 1) over the batch and spatial dims.

    In training, the batch statistics normalize and update ``running_mean`` /
    ``running_var`` in place (the variance unbiased, as PyTorch); in eval, the running
    statistics normalize.
    """
    _check_tensor("batch_norm", "input", input)
    if input.dim() < 2:
        raise ValueError(f"batch_norm: expected at least 2D input (got {input.dim()}D input)")
    c = input.shape[1]
    shape = (1, c) + (1,) * (input.dim() - 2)
    dims = (0,) + tuple(range(2, input.dim()))
    if training:
        n = input.numel() // c
        if n <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got "
                             f"input size {list(input.shape)}")
        mean = input.mean(dims)
        var = input.var(dims, correction=0)
        with _cr.no_grad():
            m = 0.0 if momentum is None else momentum
            if running_mean is not None:
                running_mean.mul_(1 - m).add_(mean.detach() * m)
            if running_var is not None:
                running_var.mul_(1 - m).add_(var.detach() * (m * n / (n - 1)))
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("batch_norm: running_mean and running_var must be defined "
                               "in evaluation mode (or pass training=True)")
        mean, var = running_mean, running_var
    y = (input - mean.reshape(shape)) * (var.reshape(shape) + eps).rsqrt()
    return _affine(y, weight, bias, shape)


@_float16_in_float32
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the last ``len(normalized_shape)`` dims."""
    _check_tensor("layer_norm", "input", input)
    ns = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) \
        else tuple(normalized_shape)
    k = len(ns)
    if tuple(input.shape[input.dim() - k:]) != ns or input.dim() < k:
        raise RuntimeError(f"Given normalized_shape={list(ns)}, expected input with shape "
                           f"[*, {', '.join(map(str, ns))}], but got input of size"
                           f"{list(input.shape)}")
    dims = tuple(range(-k, 0))
    mean = input.mean(dims, keepdim=True)
    var = input.var(dims, correction=0, keepdim=True)
    y = (input - mean) * (var + eps).rsqrt()
    return _affine(y, weight, bias, ns)


@_float16_in_float32
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize each group of ``C / num_groups`` channels over channels and space."""
    _check_tensor("group_norm", "input", input)
    if input.dim() < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received "
                           f"{input.dim()}")
    n, c = input.shape[:2]
    num_groups = _args.int_arg(num_groups, "group_norm", "num_groups", 2)
    if num_groups <= 0 or c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by "
                           f"num_groups, but got input of shape {list(input.shape)} and "
                           f"num_groups={num_groups}")
    x = input.reshape(n, num_groups, -1)
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, correction=0, keepdim=True)
    y = ((x - mean) * (var + eps).rsqrt()).reshape(*input.shape)
    return _affine(y, weight, bias, (1, c) + (1,) * (input.dim() - 2))


# ---- dropout, embedding, one_hot -------------------------------------------------------

def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``
    (identity when not training)."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    dt = np_dtype(input._data.dtype)
    if p == 1.0:
        mask = np.zeros(input._data.shape, dtype=dt)
    else:
        keep = _cr.rand(*input.shape, dtype=input.dtype)._data < (1.0 - p)
        mask = keep.astype(dt) * dt.type(1.0 / (1.0 - p))
    if inplace:
        return input.mul_(wrap(mask))
    return input * wrap(mask)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` at the integer ``input``; the ``padding_idx`` row gets no
    gradient."""
    _check_tensor("embedding", "indices", input)
    if np_dtype(input._data.dtype).kind not in "iu":
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the "
                           f"following scalar types: Long, Int; but got {input.dtype} instead "
                           f"(while checking arguments for embedding)")
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: scale_grad_by_freq and sparse are not "
                                  "supported in chainrule")
    v = weight.shape[0]
    if padding_idx is not None:
        if not -v <= padding_idx < v:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx %= v
    idx = input._data
    lo, hi = _index_range(idx)
    if lo is not None and (lo < 0 or hi >= v):
        raise IndexError("index out of range in self")
    if max_norm is not None:
        _renorm_rows(weight, np.unique(_host(idx)), max_norm, norm_type)
    out = weight[input]
    if padding_idx is not None and not backend_of(idx).xp.all_nonzero(idx != padding_idx):
        # Note [embedding padding_idx]: the forward reads the row as it is; only its
        # gradient is cut (a where between the gathered rows and their detached copy)
        keep = wrap((idx != padding_idx)[..., None])
        out = _cr.where(keep, out, out.detach())
    return out


def _index_range(idx):
    """``(min, max)`` of an integer array of any library as Python ints (a lazy array is
    computed), ``(None, None)`` when it is empty."""
    if 0 in idx.shape:
        return None, None
    if type(idx) is np.ndarray:
        return idx.min(), idx.max()
    m = backend_of(idx).xp.m
    return int(m.min(idx)), int(m.max(idx))


def _host(a):
    """A NumPy array of the values of ``a`` (any library; a lazy array is computed)."""
    return backend_of(a).to_numpy(a)


def _renorm_rows(weight, rows, max_norm, norm_type):
    with _cr.no_grad():
        w = weight._data
        norms = np.linalg.norm(w[rows], ord=norm_type, axis=1)
        scale = np.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        w[rows] = w[rows] * scale[:, None].astype(w.dtype)
        weight._vc[0] += 1


def one_hot(tensor, num_classes=-1):
    """``(*, num_classes)`` int64 with a 1 at each class index."""
    _check_tensor("one_hot", "tensor", tensor)
    if np_dtype(tensor._data.dtype).kind not in "iu":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    idx = tensor._data
    lo, hi = _index_range(idx)
    if lo is not None and lo < 0:
        raise RuntimeError("Class values must be non-negative.")
    if num_classes == -1:
        if lo is None:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(hi) + 1
    elif lo is not None and hi >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    if type(idx) is np.ndarray:
        out = np.zeros(idx.shape + (num_classes,), dtype=np.int64)
        np.put_along_axis(out, idx[..., None].astype(np.int64), 1, axis=-1)
        return wrap(out)
    be = backend_of(idx)  # another library: compare with the class numbers
    classes = be.asarray(np.arange(num_classes, dtype=np_dtype(idx.dtype)))
    return wrap(be.xp.astype(idx[..., None] == classes, np.int64))


# ---- activations -----------------------------------------------------------------------

def _inplace(input, out, inplace):
    return input.copy_(out) if inplace else out


def relu(input, inplace=False):
    return input.relu_() if inplace else input.relu()


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _inplace(input, _cr.where(input > 0, input, input * negative_slope), inplace)


def elu(input, alpha=1.0, inplace=False):
    return _inplace(input, _nn_ops.elu(input, alpha), inplace)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    return _inplace(input, _nn_ops.elu(input, _SELU_ALPHA, _SELU_SCALE), inplace)


def celu(input, alpha=1.0, inplace=False):
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: celu with alpha=0 divides by zero; use "
                           "alpha != 0")
    return _inplace(input, _nn_ops.elu(input, alpha, 1.0, 1.0 / alpha), inplace)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@_float16_in_float32
def gelu(input, approximate="none"):
    """``x * Phi(x)``; ``approximate='tanh'`` uses PyTorch's tanh formula."""
    if approximate == "none":
        return input * 0.5 * (1.0 + (input * (1.0 / math.sqrt(2.0))).erf())
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (input + 0.044715 * input * input * input)
        return 0.5 * input * (1.0 + inner.tanh())
    raise RuntimeError(f"approximate argument must be either none or tanh (got "
                       f"{approximate!r})")


def silu(input, inplace=False):
    return _inplace(input, input * input.sigmoid(), inplace)


@_float16_in_float32
def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta x)) / beta``, linear where ``beta x > threshold``."""
    bx = input * beta
    linear = bx > threshold
    # exp of 0 in the unused branch (no overflow); nan stays nan with a nan gradient
    soft = _cr.where(linear, 0.0, bx).exp().log1p() / beta
    return _cr.where(linear, input, soft)


@_float16_in_float32
def logsigmoid(input):
    """``log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))``, stable for any ``x``; written
    with where, not min and abs, so that the derivatives at 0 are PyTorch's (1/2, -1/4)."""
    neg = input < 0
    return _cr.where(neg, input, 0.0) - _cr.where(neg, input, -input).exp().log1p()


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    return _inplace(input, _nn_ops.hardtanh(input, min_val, max_val), inplace)


def _softmax_dim(name, ndim):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the "
                  f"call to include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _softmax_dim("softmax", input.dim())
    return _cr.softmax(input, dim, dtype=dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _softmax_dim("log_softmax", input.dim())
    return _cr.log_softmax(input, dim, dtype=dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _softmax_dim("softmin", input.dim())
    return _cr.softmax(-input, dim, dtype=dtype)


_args.install(globals(), [_n for _n in list(globals()) if not _n.startswith("_")],
              "nn.functional")
