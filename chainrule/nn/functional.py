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
from ..ops import losses as _losses
from ..ops import nn_ops as _nn_ops
from ..ops._core import nary as _nary
from ..ops.reductions import TORCH_TYPE_NAMES as _TYPE_NAMES
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
# the plain functions: checked here again, as nn.functional (no out=, as PyTorch)
sigmoid = _cr.sigmoid.__wrapped__
tanh = _cr.tanh.__wrapped__


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
    if isinstance(weight, Tensor) and weight.dim() > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                           f"{weight.dim()}D")
    if isinstance(bias, Tensor) and bias.dtype != input.dtype:
        raise RuntimeError(f"linear(): bias and input must have the same dtype, but got "
                           f"{bias.dtype} and {input.dtype}")
    from ..ops.linalg import linear as _linear
    return _linear(input, weight, bias)


def _size(t, d):
    """``t.size(d)`` with PyTorch's IndexError for a dim ``t`` lacks."""
    n = t.dim()
    if n == 0:
        raise IndexError(f"Dimension specified as {d} but tensor has no dimensions")
    if not -n <= d < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {d})")
    return t.shape[d]


def bilinear(input1, input2, weight, bias=None):
    """``y[..., o] = x1 W[o] x2 + b[o]``."""
    named = (("input1", input1), ("input2", input2), ("weight", weight), ("bias", bias))
    if len({t.dtype for _, t in named if t is not None}) > 1:
        raise RuntimeError("All tensors must have the same dtype, got " + ", ".join(
            f"{n}: {str(t.dtype).removeprefix('torch.')}" for n, t in named if t is not None))
    if input1.dim() != input2.dim():
        raise RuntimeError(f"bilinear(): input dimensions do not match: got {input1.dim()} "
                           f"and {input2.dim()}")
    if tuple(input1.shape[:-1]) != tuple(input2.shape[:-1]):
        raise RuntimeError(f"bilinear(): input batch dimensions do not match: got "
                           f"{list(input1.shape)} and {list(input2.shape)}")
    for i, x in ((1, input1), (2, input2)):
        if _size(x, x.dim() - 1) != _size(weight, i):
            raise RuntimeError(f"bilinear(): input{i} size does not match weight size: got "
                               f"{x.shape[-1]} but expected {weight.shape[i]}")
    if weight.dim() != 3:
        raise RuntimeError(f"bilinear(): weight must be 3-D, got {list(weight.shape)}")
    if bias is not None and _size(bias, 0) != weight.shape[0]:
        raise RuntimeError(f"bilinear(): bias size does not match weight size: got "
                           f"{bias.shape[0]} but expected {weight.shape[0]}")
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
    if weight.shape[0] < groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be at least {groups} at "
                           f"dimension 0, but got weight of size {list(weight.shape)} instead")
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

def _pool_input(name, input, nd, low=RuntimeError):
    """PyTorch's checks of a pooling input: ``nd + 1`` or ``nd + 2`` dims (``low``: the
    error for fewer, IndexError where PyTorch first indexes dim ``-nd - 1``), and no empty
    dim but the batch dim."""
    _check_tensor(name, "input", input)
    n = input.dim()
    if n < nd + 1 and low is IndexError:
        raise IndexError(f"{name}(): Dimension specified as {-nd - 1} but tensor has no "
                         f"dimensions" if n == 0 else
                         f"{name}(): Dimension out of range (expected to be in range of "
                         f"[{-n}, {n - 1}], but got {-nd - 1})")
    if n not in (nd + 1, nd + 2) or 0 in input.shape[n - nd - 1:]:
        raise RuntimeError(f"{name}: Expected {nd + 1}D or {nd + 2}D (batch mode) tensor with "
                           f"optional 0 dim batch size for input, but got: "
                           f"{list(input.shape)}")


def _stride(stride, kernel_size, n):
    """A pooling's stride: None or an empty tuple means the kernel size."""
    if stride is None or (isinstance(stride, (list, tuple)) and not stride):
        stride = kernel_size
    return _tuple(stride, n, "stride")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over ``kernel_size`` windows of the last two dims."""
    k = _tuple(kernel_size, 2)
    s = _stride(stride, k, 2)
    _pool_input("max_pool2d", input, 2)
    args = (k, s, _tuple(padding, 2, "padding"), _tuple(dilation, 2, "dilation"), ceil_mode)
    out = _nn_ops.max_pool2d(input, *args)
    if return_indices:
        return out, _nn_ops.max_pool2d_indices(input, *args)
    return out


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over ``kernel_size`` windows of the last two dims."""
    k = _tuple(kernel_size, 2)
    s = _stride(stride, k, 2)
    _pool_input("avg_pool2d", input, 2, IndexError)
    return _nn_ops.avg_pool2d(input, k, s, _tuple(padding, 2, "padding"), ceil_mode,
                              count_include_pad, divisor_override)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over windows of the last dim (a 2-D pooling of height 1)."""
    _pool_input("max_pool1d", input, 1)
    s = _stride(stride, kernel_size, 1)
    out = max_pool2d(input.unsqueeze(-2), (1, _tuple(kernel_size, 1)[0]),
                     (1, s[0]), (0, _tuple(padding, 1, "padding")[0]),
                     (1, _tuple(dilation, 1, "dilation")[0]), ceil_mode, return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Mean over windows of the last dim."""
    _dims_2_to_3("avg_pool1d", input)
    s = _stride(stride, kernel_size, 1)
    return avg_pool2d(input.unsqueeze(-2), (1, _tuple(kernel_size, 1)[0]),
                      (1, s[0]), (0, _tuple(padding, 1, "padding")[0]),
                      ceil_mode, count_include_pad).squeeze(-2)


def _adaptive_matrix(n, m, dtype):
    """``(m, n)``: row i averages PyTorch's adaptive window i of an axis of length n."""
    a = np.zeros((m, n), dtype=dtype)
    for i in range(m):
        lo = (i * n) // m
        hi = -((-(i + 1) * n) // m)
        a[i, lo:hi] = 1.0 / (hi - lo)
    return a


def _list_with_default(out_size, defaults):
    """PyTorch's ``_list_with_default``: None in a tuple ``output_size`` keeps that dim."""
    if isinstance(out_size, int):
        return out_size
    if len(defaults) <= len(out_size):
        raise ValueError(f"Input dimension should be at least {len(out_size) + 1}")
    return [d if v is None else v for v, d in zip(out_size, defaults[-len(out_size):])]


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size ``(Ho, Wo)`` (None keeps a dim)."""
    _check_tensor("adaptive_avg_pool2d", "input", input)
    size = _list_with_default(output_size, input.shape)
    _args._fail("ints", "adaptive_avg_pool2d", "output_size", 2, size)
    size = (size,) * 2 if isinstance(size, int) else tuple(size)
    if len(size) != 2:
        raise RuntimeError("adaptive_avg_pool2d: output_size must be 2")
    empty = next((d for d in range(1, input.dim()) if input.shape[d] == 0), None)
    if size == (1, 1) and (input.dim() not in (3, 4) or empty is not None):
        # PyTorch's global-average shortcut takes any input of two or more dims
        return input.mean(dim=(-2, -1), keepdim=True)
    if input.dim() not in (3, 4):
        raise RuntimeError(f"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got "
                           f"{list(input.shape)}")
    if empty is not None:
        raise RuntimeError(f"adaptive_avg_pool2d(): Expected input to have non-zero size for "
                           f"non-batch dimensions, but input has sizes {list(input.shape)} "
                           f"with dimension {empty} being empty")
    ho, wo = (int(v) for v in size)
    if ho < 0 or wo < 0:
        raise RuntimeError(f"adaptive_avg_pool2d: elements of output_size must be greater "
                           f"than or equal to 0 but received {{{ho}, {wo}}}")
    h, w = input.shape[-2:]
    if ho and wo and h % ho == 0 and w % wo == 0:  # windows tile the input: one pooling
        k = (h // ho, w // wo)
        return _nn_ops.avg_pool2d(input, k, k, (0, 0))
    # Note [adaptive pooling]: uneven windows overlap; the pooling is separable, so it is
    # A_h @ x @ A_w^T with constant averaging matrices (two recorded matmuls).
    dt = np_dtype(input._data.dtype)
    on = backend_of(input._data).asarray  # (the constants on input's library)
    ah = wrap(on(_adaptive_matrix(h, ho, dt)))
    awt = wrap(on(np.ascontiguousarray(_adaptive_matrix(w, wo, dt).T)))
    return ah.matmul(input.matmul(awt))


def _dims_2_to_3(name, input):
    _check_tensor(name, "input", input)
    if input.dim() not in (2, 3):
        raise RuntimeError(f"Expected 2 to 3 dimensions, but got {input.dim()}-dimensional "
                           f"tensor for argument #1 'self' (while checking arguments for "
                           f"{name})")


def adaptive_avg_pool1d(input, output_size):
    """Average pooling of the last dim to ``output_size``."""
    _dims_2_to_3("adaptive_avg_pool1d", input)
    size = output_size
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 1:
            raise RuntimeError(f"adaptive_avg_pool1d() argument 'output_size' should contain "
                               f"one int (got {len(output_size)})")
        size = output_size[0]
    size = _args.int_arg(size, "adaptive_avg_pool1d", "output_size", 2)
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
    # PyTorch's order: its Python checks (``if training``, eps), then the C++ parser's
    if training and math.prod(input.shape[:1] + input.shape[2:]) == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input "
                         f"size {list(input.shape)}")
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    if eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    for i, (name, kind, v) in enumerate((
            ("weight", "Tensor?", weight), ("bias", "Tensor?", bias),
            ("running_mean", "Tensor?", running_mean), ("running_var", "Tensor?", running_var),
            ("training", "bool", training), ("momentum", "float?", momentum),
            ("eps", "float", eps))):
        _args._fail(kind, "batch_norm", name, i + 2, v)
    if input.dim() < 2:
        raise ValueError(f"batch_norm: expected at least 2D input (got {input.dim()}D input)")
    c = input.shape[1]
    for name, v in (("running_mean", running_mean), ("running_var", running_var)):
        if v is not None and v.numel() != c:
            raise RuntimeError(f"{name} should contain {c} elements not {v.numel()}")
    shape = (1, c) + (1,) * (input.dim() - 2)
    dims = (0,) + tuple(range(2, input.dim()))
    if training:
        n = input.numel() // c
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


def _as_float(v):
    """A Python int ``eps`` as the float PyTorch reads it (``10**20`` is no int64)."""
    return float(v) if type(v) is int else v


@_float16_in_float32
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the last ``len(normalized_shape)`` dims."""
    _check_tensor("layer_norm", "input", input)
    if not isinstance(normalized_shape, (tuple, list)):  # a bare int is refused, as PyTorch
        raise TypeError(f"layer_norm(): argument 'normalized_shape' (position 2) must be "
                        f"tuple of ints, not {_args.type_name(normalized_shape)}")
    _args._fail("ints", "layer_norm", "normalized_shape", 2, normalized_shape)
    _args._fail("float", "layer_norm", "eps", 5, eps)
    eps = float(eps)
    ns = tuple(int(n) for n in normalized_shape)
    if not ns:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., "
                           "containing at least one element, but got normalized_shape = []")
    k = len(ns)
    if tuple(input.shape[input.dim() - k:]) != ns or input.dim() < k:
        raise RuntimeError(f"Given normalized_shape={list(ns)}, expected input with shape "
                           f"[*, {', '.join(map(str, ns))}], but got input of size"
                           f"{list(input.shape)}")
    dims = tuple(range(-k, 0))
    mean = input.mean(dims, keepdim=True)
    var = input.var(dims, correction=0, keepdim=True)
    y = (input - mean) * (var + _as_float(eps)).rsqrt()
    return _affine(y, weight, bias, ns)


@_float16_in_float32
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize each group of ``C / num_groups`` channels over channels and space."""
    _check_tensor("group_norm", "input", input)
    if input.dim() < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received "
                           f"{input.dim()}")
    n, c = input.shape[:2]
    try:  # PyTorch's Python-level batch-size check runs on num_groups as given
        prods = n * c // num_groups
    except ZeroDivisionError:
        raise RuntimeError("group_norm(): num_groups must not be 0") from None
    for size in input.shape[2:]:
        prods *= size
    if prods == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input "
                         f"size {[n * c // num_groups, num_groups, *input.shape[2:]]}")
    num_groups = _args.int_arg(num_groups, "group_norm", "num_groups", 2)
    _args._fail("float", "group_norm", "eps", 5, eps)
    eps = float(eps)
    if num_groups <= 0 or c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by "
                           f"num_groups, but got input of shape {list(input.shape)} and "
                           f"num_groups={num_groups}")
    x = input.reshape(n, num_groups, -1)
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, correction=0, keepdim=True)
    y = ((x - mean) * (var + _as_float(eps)).rsqrt()).reshape(input.shape)
    return _affine(y, weight, bias, (1, c) + (1,) * (input.dim() - 2))


# ---- dropout, embedding, one_hot -------------------------------------------------------

def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``
    (identity when not training)."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    inplace = bool(inplace)  # PyTorch's order: p, then ``if inplace``, then the C++ op's
    _args._fail("bool", "dropout", "train", 3, training)
    _check_tensor("dropout", "input", input)
    if p != p:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    dt = np_dtype(input._data.dtype)
    if dt.kind != "f":
        raise RuntimeError(f"result type Float can't be cast to the desired output type "
                           f"{_TYPE_NAMES.get(dt.name, input.dtype)}")
    if p == 1.0:
        mask = np.zeros(input._data.shape, dtype=dt)
    else:
        keep = _cr.rand(tuple(input.shape), dtype=input.dtype)._data < (1.0 - p)
        mask = keep.astype(dt) * dt.type(1.0 / (1.0 - p))
    if inplace:
        return input.mul_(wrap(mask))
    return input * wrap(mask)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` at the integer ``input``; the ``padding_idx`` row gets no
    gradient."""
    v = weight.shape[0] if weight.dim() else 1
    if padding_idx is not None:  # PyTorch's Python-level checks, in its order
        if padding_idx > 0 and padding_idx >= v or padding_idx < 0 and padding_idx < -v:
            raise ValueError("Padding_idx must be within num_embeddings")
        _args._fail("int", "embedding", "padding_idx", 3, padding_idx)
        padding_idx %= v
    _args._fail("float?", "embedding", "max_norm", 4, max_norm)
    _args._fail("float", "embedding", "norm_type", 5, norm_type)
    if weight.dim() != 2:
        raise RuntimeError("'weight' must be 2-D")
    _check_tensor("embedding", "indices", input)
    if np_dtype(input._data.dtype).kind not in "iu":
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the "
                           f"following scalar types: Long, Int; but got {input.dtype} instead "
                           f"(while checking arguments for embedding)")
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: scale_grad_by_freq and sparse are not "
                                  "supported in chainrule")
    idx = input._data
    lo, hi = _index_range(idx)
    if lo is not None and (lo < 0 or hi >= v):
        raise IndexError("index out of range in self")
    if max_norm is not None:
        _renorm_rows(weight, np.unique(_host(idx)), max_norm, norm_type)
    xp = backend_of(idx).xp
    k = int(math.prod(idx.shape))
    flat = xp.reshape(xp.astype(idx, np.int64), (k, 1))
    keep = None
    if padding_idx is not None and not xp.all_nonzero(idx != padding_idx):
        # Note [embedding padding_idx]: the forward reads the row as it is; only its
        # gradient is cut
        keep = wrap(xp.astype(flat != padding_idx, np_dtype(weight._data.dtype)))
    idx2 = wrap(xp.broadcast_to(flat, (k, weight.shape[1])))
    return _nary(_losses.EMBEDDING, (weight, idx2, keep), (tuple(idx.shape),))


def _index_range(idx):
    """``(min, max)`` of an integer array of any library as Python ints (a lazy array is
    computed), ``(None, None)`` when it is empty."""
    if 0 in idx.shape or type(idx).__name__ == "MetaArray":  # (meta: no values to check)
        return None, None
    if type(idx) is np.ndarray:
        return idx.min(), idx.max()
    from ..backend.batched import physical
    idx = physical(idx)  # under vmap: every sample's indices
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


def _floating(kernel, input):
    """PyTorch's NotImplementedError for a kernel without integer or bool versions."""
    if isinstance(input, Tensor) and np_dtype(input._data.dtype).kind != "f":
        raise NotImplementedError(f"\"{kernel}\" not implemented for "
                                  f"'{_TYPE_NAMES.get(input._data.dtype.name, input.dtype)}'")
    return input


def relu(input, inplace=False):
    return input.relu_() if inplace else input.relu()


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    _floating("leaky_relu_cpu", input)
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
def gelu(input, *, approximate="none"):
    """``x * Phi(x)``; ``approximate='tanh'`` uses PyTorch's tanh formula."""
    _floating("GeluKernelImpl", input)
    if approximate == "none":
        return input * 0.5 * (1.0 + (input * (1.0 / math.sqrt(2.0))).erf())
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (input + 0.044715 * input * input * input)
        return 0.5 * input * (1.0 + inner.tanh())
    raise RuntimeError(f"approximate argument must be either none or tanh (got "
                       f"{approximate!r})")


def silu(input, inplace=False):
    _floating("silu_cpu", input)
    return _inplace(input, input * input.sigmoid(), inplace)


@_float16_in_float32
def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta x)) / beta``, linear where ``beta x > threshold``."""
    _floating("softplus_cpu", input)
    bx = input * beta
    linear = bx > threshold
    # exp of 0 in the unused branch (no overflow); nan stays nan with a nan gradient
    soft = _cr.where(linear, 0.0, bx).exp().log1p() / beta
    return _cr.where(linear, input, soft)


@_float16_in_float32
def logsigmoid(input):
    """``log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))``, stable for any ``x``; written
    with where, not min and abs, so that the derivatives at 0 are PyTorch's (1/2, -1/4)."""
    _floating("log_sigmoid_cpu", input)
    neg = input < 0
    return _cr.where(neg, input, 0.0) - _cr.where(neg, input, -input).exp().log1p()


def _greater(a, b):
    """``a > b`` as Python evaluates it on PyTorch's objects: a tensor compares with
    tensors and numbers only (else TypeError), and a many-element result has no truth
    value (RuntimeError)."""
    for x, y in ((a, b), (b, a)):
        if isinstance(x, Tensor) and not isinstance(y, (Tensor, numbers.Number)):
            raise TypeError(f"'>' not supported between instances of '{type(a).__name__}' "
                            f"and '{type(b).__name__}'")
    return bool(a > b)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if _greater(min_val, max_val):  # PyTorch's Python-level checks come first
        raise ValueError("min_val cannot be greater than max_val")
    bool(inplace)
    _args._fail("Number", "hardtanh", "min_val", 2, min_val)
    _args._fail("Number", "hardtanh", "max_val", 3, max_val)
    _check_tensor("hardtanh", "input", input)
    if np_dtype(input._data.dtype).kind == "b":
        raise RuntimeError("Bool inputs not supported for hardtanh")
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


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input / max(||input||_p, eps)`` along ``dim`` (PyTorch's formula)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"normalize(): argument 'input' must be Tensor, not "
                        f"{type(input).__name__}")
    # PyTorch's formula, step for step; out= is written by the argument wrapper
    denom = input.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(input)
    return input / denom


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """``sum(x1/|x1| * x2/|x2|)`` along ``dim``, each norm clamped to ``eps``, after
    broadcasting ``x1`` and ``x2`` (PyTorch's formula)."""
    for name, v in (("x1", x1), ("x2", x2)):
        if not isinstance(v, Tensor):
            raise TypeError(f"cosine_similarity(): argument '{name}' must be Tensor, not "
                            f"{type(v).__name__}")
    if not eps >= 0:
        raise RuntimeError(f"eps must be non-negative, got: {eps}")
    dt = _cr.result_type(x1, x2)
    if not dt.is_floating_point:
        dt = _cr.get_default_dtype()
    x1, x2 = _cr.broadcast_tensors(x1.to(dt), x2.to(dt))
    n1 = _cr.linalg.vector_norm(x1, 2, dim, keepdim=True).clamp_min(eps)
    n2 = _cr.linalg.vector_norm(x2, 2, dim, keepdim=True).clamp_min(eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """``||x1 - x2 + eps||_p`` over the last dim (PyTorch adds ``eps`` before the norm)."""
    for name, v in (("x1", x1), ("x2", x2)):
        if not isinstance(v, Tensor):
            raise TypeError(f"pairwise_distance(): argument '{name}' must be Tensor, not "
                            f"{type(v).__name__}")
    nd = max(x1.dim(), x2.dim())
    eps = float(eps) if isinstance(eps, int) else eps  # a double to PyTorch
    return _cr.linalg.vector_norm(x1 - x2 + eps, p, -1 if nd else None, keepdim=keepdim)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """``softmax(q k^T * scale + mask) v``: ``attn_mask`` is a bool mask (True = attend)
    or an additive float mask; ``is_causal`` masks the upper triangle.  A query row with
    every key masked gets zeros (PyTorch's safe softmax), not NaN."""
    for name, v in (("query", query), ("key", key), ("value", value)):
        if not isinstance(v, Tensor):
            raise TypeError(f"scaled_dot_product_attention(): argument '{name}' must be "
                            f"Tensor, not {type(v).__name__}")
    if attn_mask is not None and is_causal:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be "
                           "set when is_causal=True")
    if query.dim() < 2 or key.dim() < 2 or value.dim() < 2:
        raise RuntimeError(f"scaled_dot_product_attention: query, key and value need at least "
                           f"2 dims (..., L, E), got shapes {list(query.shape)}, "
                           f"{list(key.shape)}, {list(value.shape)}")
    if query.size(-1) != key.size(-1):
        raise RuntimeError(f"scaled_dot_product_attention: query's last dim "
                           f"({query.size(-1)}) must equal key's ({key.size(-1)})")
    L, S = query.size(-2), key.size(-2)
    factor = 1 / math.sqrt(query.size(-1)) if scale is None else scale
    if enable_gqa and query.dim() >= 3 and key.size(-3) != query.size(-3):
        rep = query.size(-3) // key.size(-3)
        key = key.repeat_interleave(rep, -3)
        value = value.repeat_interleave(rep, -3)
    scores = (query @ key.transpose(-2, -1)) * factor
    masked = None
    if is_causal:
        masked = _cr.ones(L, S, dtype=_cr.bool).tril().logical_not()
    elif attn_mask is not None:
        if attn_mask.dtype == _cr.bool:
            masked = attn_mask.logical_not()
        else:
            scores = scores + attn_mask
    if masked is not None:
        scores = scores.masked_fill(masked, float("-inf"))
    weights = _cr.softmax(scores, -1)
    dead = (scores == float("-inf")).all(-1, keepdim=True) if masked is not None or \
        attn_mask is not None else None
    if dead is not None:
        weights = weights.masked_fill(dead, 0.0)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    return weights @ value


_args.install(globals(), [_n for _n in list(globals()) if not _n.startswith("_")],
              "nn.functional")
