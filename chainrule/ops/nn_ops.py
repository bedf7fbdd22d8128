"""Neural-network rows: convolution and pooling, built on im2col.

A convolution is one matrix product per group between the weight and the windows of the
input (im2col: a strided view copied once, then BLAS).  Its rules are written against the
vocabulary: ``xp.im2col`` (linear in its input) and ``xp.col2im`` (its transpose, a
scatter-add of window entries back to their positions).  Both words are rows here too
(``xp_im2col``, ``xp_col2im``), each the other's transpose, so ``create_graph=True``
differentiates a convolution's backward to any order.

Names in rules: ``g`` is the cotangent of ``out``, which may carry ``xp.nb`` leading batch
dims: the window words act on the last two dims only and ``xp.reshape``/``xp.sum`` keep
batch dims in front, so the rules need no batch logic.  ``x``/``w``/``b`` are the saved
input, weight and bias (never batched): they are reshaped by ``_flat(xp)``, the same
namespace without batch dims.  Forwards take ``xp.nb`` leading batch dims on every array
input (the window words pass leading dims through).

Parameters are normalized by the callers (``nn.functional``): ``kernel``, ``stride``,
``dilation`` are pairs; ``padding`` is ``((top, bottom), (left, right))``.
"""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor, wrap
from ..backend.array_api import np_dtype
from ..backend.registry import backend_of
from ._core import Op, nary, unary

__all__ = ["avg_pool2d", "convolution", "max_pool2d"]


# ---- the window words as rows (what a create_graph backward records) -------------------

def _flat(xp):
    """``xp`` without batch dims: for reshaping saved (unbatched) values."""
    return xp.with_nb(-xp.nb) if xp.nb else xp


def _im2col_forward(xp, a, kernel, stride, padding, dilation, hw):
    return xp.im2col(a, kernel, stride, padding, dilation)


def _col2im_forward(xp, a, hw, kernel, stride, padding, dilation):
    return xp.col2im(a, hw, kernel, stride, padding, dilation)


XP_IM2COL = Op("xp_im2col", _im2col_forward,
               (lambda xp, g, a, out, kernel, stride, padding, dilation, hw:
                xp.col2im(g, hw, kernel, stride, padding, dilation),),
               kind="linear", node="Im2ColBackward",
               formula="transpose of im2col is col2im")
XP_COL2IM = Op("xp_col2im", _col2im_forward,
               (lambda xp, g, a, out, hw, kernel, stride, padding, dilation:
                xp.im2col(g, kernel, stride, padding, dilation),),
               kind="linear", node="Col2ImBackward",
               formula="transpose of col2im is im2col")


# ---- convolution -----------------------------------------------------------------------

def _conv_forward(xp, x, w, b, kernel, stride, padding, dilation, groups, xshape):
    n, c = xshape[:2]
    o = w.shape[-4]
    cols = xp.im2col(x, kernel, stride, padding, dilation)  # (N, C, kh, kw, Ho, Wo)
    ho, wo = cols.shape[-2:]
    k = c // groups * kernel[0] * kernel[1]
    one = (1,) if xp.nb else ()  # batched weights meet the N dim of cols
    if groups == 1:
        out = xp.matmul(xp.reshape(w, one + (o, k)), xp.reshape(cols, (n, k, ho * wo)))
    else:
        out = xp.matmul(xp.reshape(w, one + (groups, o // groups, k)),
                        xp.reshape(cols, (n, groups, k, ho * wo)))
    out = xp.reshape(out, (n, o, ho, wo))
    if b is not None:
        out += xp.reshape(b, one + (o, 1, 1))
    return out


def _sizes(g, kernel, groups, xshape):
    n, c = xshape[:2]
    o, ho, wo = g.shape[-3:]
    return n, c, o, ho, wo, c // groups * kernel[0] * kernel[1]


def _conv_dx(xp, g, x, w, b, out, kernel, stride, padding, dilation, groups, xshape):
    # out[n, o, p] = sum_k w[o, k] cols[n, k, p] (per group)  =>  gcols = w^T g, then
    # every window entry goes back to its input position (col2im)
    n, c, o, ho, wo, k = _sizes(g, kernel, groups, xshape)
    wt = xp.swapaxes(_flat(xp).reshape(w, (groups, o // groups, k)), -1, -2)
    gcols = xp.matmul(wt, xp.reshape(g, (n, groups, o // groups, ho * wo)))
    gcols = xp.reshape(gcols, (n, c) + tuple(kernel) + (ho, wo))
    return xp.col2im(gcols, xshape[-2:], kernel, stride, padding, dilation)


def _conv_dw(xp, g, x, w, b, out, kernel, stride, padding, dilation, groups, xshape):
    # gw[o, k] = sum_{n, p} g[n, o, p] cols[n, k, p]  (cols recomputed from x)
    n, c, o, ho, wo, k = _sizes(g, kernel, groups, xshape)
    cols = _flat(xp).reshape(xp.im2col(x, kernel, stride, padding, dilation),
                             (n, groups, k, ho * wo))
    g2 = xp.reshape(g, (n, groups, o // groups, ho * wo))
    gw = xp.sum(xp.matmul(g2, xp.swapaxes(cols, -1, -2)), axis=-4)
    return xp.reshape(gw, (o, c // groups) + tuple(kernel))


def _conv_db(xp, g, x, w, b, out, *params):
    return xp.sum(g, axis=(-4, -2, -1))


def _conv_apply(xp, x, w, kernel, stride, padding, dilation, groups, xshape, batched):
    """``conv(x, w)`` from vocabulary words; ``batched`` names the operand with batch
    dims (a tangent): "x" or "w"."""
    n, c = xshape[:2]
    o = w.shape[-4]
    cols = xp.im2col(x, kernel, stride, padding, dilation)
    ho, wo = cols.shape[-2:]
    k = c // groups * kernel[0] * kernel[1]
    if batched == "x":
        cols = xp.reshape(cols, (n, groups, k, ho * wo))
        w2 = _flat(xp).reshape(w, (groups, o // groups, k))
    else:
        cols = _flat(xp).reshape(cols, (n, groups, k, ho * wo))
        w2 = xp.reshape(w, (1, groups, o // groups, k))
    return xp.reshape(xp.matmul(w2, cols), (n, o, ho, wo))


# (a hand JVP: the forward takes no batch dims on w, and b is affine, not bilinear)
def _conv_jvp(xp, ts, x, w, b, out, *params):
    # conv is bilinear in (x, w) and affine in b: d out = conv(dx, w) + conv(x, dw) + db
    tx, tw, tb = ts
    total = None
    if tx is not None:
        total = _conv_apply(xp, tx, w, *params, batched="x")
    if tw is not None:
        term = _conv_apply(xp, x, tw, *params, batched="w")
        total = term if total is None else total + term
    if tb is not None:
        term = xp.reshape(tb, (1, tb.shape[-1], 1, 1))
        total = term if total is None else total + term
    return total


CONVOLUTION = Op("convolution", _conv_forward, (_conv_dx, _conv_dw, _conv_db), nin=3,
                 reads=((1,), (0,), ()), kind="bilinear", node="ConvolutionBackward0",
                 jvp=_conv_jvp,
                 formula="d conv(x, w) + b: gx = col2im(w^T g), gw = sum_n g im2col(x)^T, "
                         "gb = sum of g over batch and space")


def convolution(x: Tensor, w: Tensor, b, stride, padding, dilation, groups) -> Tensor:
    """2-D cross-correlation of a ``(N, C, H, W)`` input with ``(O, C/groups, kh, kw)``
    weights, plus an optional bias ``(O,)`` (arguments already normalized)."""
    kernel = tuple(w._data.shape[-2:])
    return nary(CONVOLUTION, (x, w, b),
                (kernel, tuple(stride), tuple(padding), tuple(dilation), int(groups),
                 tuple(x._data.shape)))


# ---- pooling ---------------------------------------------------------------------------

def _max_pool_forward(xp, x, kernel, stride, padding, dilation):
    return xp.window_max(x, kernel, stride, padding, dilation)


def _max_pool_vjp(xp, g, x, out, kernel, stride, padding, dilation):
    # g goes to the first maximum of each window (PyTorch's choice on ties)
    mask = xp.window_argmax(x, kernel, stride, padding, dilation)
    ho, wo = mask.shape[-2:]
    lead = tuple(x.shape[:-2])
    ge = xp.reshape(g, lead + (1, 1, ho, wo)) * xp.astype(mask, g.dtype)
    return xp.col2im(ge, tuple(x.shape[-2:]), kernel, stride, padding, dilation)


def _max_pool_jvp(xp, ts, x, out, kernel, stride, padding, dilation):
    mask = xp.window_argmax(x, kernel, stride, padding, dilation)
    t = ts[0]
    return xp.sum(xp.im2col(t, kernel, stride, padding, dilation) * xp.astype(mask, t.dtype),
                  axis=(-4, -3))


MAX_POOL2D = Op("max_pool2d", _max_pool_forward, (_max_pool_vjp,), reads=((0,),),
                node="MaxPool2DWithIndicesBackward0", jvp=_max_pool_jvp,
                formula="d max over each window = g at the window's first maximum")


def _avg_pool_forward(xp, x, kernel, stride, padding, divisor, xshape):
    return xp.window_sum(x, kernel, stride, padding) / divisor


def _avg_pool_vjp(xp, g, x, out, kernel, stride, padding, divisor, xshape):
    # each output is a window's sum over divisor: spread g / divisor over its window
    ho, wo = g.shape[-2:]
    lead = tuple(xshape[:-2])
    gd = xp.reshape(g / divisor, lead + (1, 1, ho, wo))
    ge = xp.broadcast_to(gd, lead + tuple(kernel) + (ho, wo))
    return xp.col2im(ge, tuple(xshape[-2:]), kernel, stride, padding, (1, 1))


AVG_POOL2D = Op("avg_pool2d", _avg_pool_forward, (_avg_pool_vjp,), kind="linear",
                node="AvgPool2DBackward0",
                formula="d mean over each window = g / divisor spread over the window")


def _ceil_extra(n, k, s, lo, hi, d, ceil_mode):
    """Extra padding after the input so that ``ceil_mode`` windows fit, and the output
    size (PyTorch's rule: the last window must start inside the input or left padding)."""
    span = n + lo + hi - d * (k - 1) - 1
    if span < 0:
        return 0, 0
    size = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (size - 1) * s >= n + lo:
        size -= 1
    extra = max((size - 1) * s + d * (k - 1) + 1 - (n + lo + hi), 0)
    return extra, size


def pool_geometry(op, shape, kernel, stride, padding, dilation, ceil_mode):
    """Check pooling arguments; return ``(padding, (Ho, Wo))`` with ``ceil_mode``
    turned into extra bottom/right padding."""
    h, w = shape[-2:]
    for k, p in zip(kernel, padding):
        if p > k // 2:
            raise RuntimeError(f"{op}: pad should be at most half of effective kernel size, "
                               f"but got pad={p}, kernel_size={k} and dilation="
                               f"{dilation[0]}")
    if min(stride) <= 0 or min(kernel) <= 0 or min(dilation) <= 0:
        raise RuntimeError(f"{op}: kernel_size, stride and dilation must be positive, got "
                           f"kernel_size={list(kernel)}, stride={list(stride)}, "
                           f"dilation={list(dilation)}")
    eh, ho = _ceil_extra(h, kernel[0], stride[0], padding[0], padding[0], dilation[0],
                         ceil_mode)
    ew, wo = _ceil_extra(w, kernel[1], stride[1], padding[1], padding[1], dilation[1],
                         ceil_mode)
    if ho <= 0 or wo <= 0:
        raise RuntimeError(f"{op}: Given input size: ({'x'.join(map(str, shape[-3:]))}). "
                           f"Calculated output size: ({shape[-3] if len(shape) > 2 else 1}x"
                           f"{ho}x{wo}). Output size is too small")
    return ((padding[0], padding[0] + eh), (padding[1], padding[1] + ew)), (ho, wo)


def _check_float(op, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(x).__name__}")
    if np_dtype(x._data.dtype).kind != "f":
        raise RuntimeError(f"\"{op}\" not implemented for '{x.dtype}' (input of shape "
                           f"{list(x.shape)}); pooling needs a floating dtype, e.g. x.float()")


def max_pool2d(x: Tensor, kernel, stride, padding, dilation, ceil_mode=False) -> Tensor:
    """Max over windows of the last two dims of ``x`` (pairs already normalized)."""
    _check_float("max_pool2d", x)
    pads, _ = pool_geometry("max_pool2d", x._data.shape, kernel, stride, padding, dilation,
                            ceil_mode)
    return unary(MAX_POOL2D, x, tuple(kernel), tuple(stride), pads, tuple(dilation))


def max_pool2d_indices(x: Tensor, kernel, stride, padding, dilation, ceil_mode=False):
    """PyTorch's ``return_indices``: the flat ``h * W + w`` input position of each
    window's first maximum, int64 ``(..., Ho, Wo)`` (not differentiable)."""
    pads, (ho, wo) = pool_geometry("max_pool2d", x._data.shape, kernel, stride, padding,
                                   dilation, ceil_mode)
    be = backend_of(x._data)
    mask = be.xp.window_argmax(x._data, tuple(kernel), tuple(stride), pads, tuple(dilation))
    rows = np.arange(ho)[:, None] * stride[0] - pads[0][0]
    cols = np.arange(wo)[None, :] * stride[1] - pads[1][0]
    if type(mask) is np.ndarray:
        flat = mask.reshape(mask.shape[:-4] + (-1, ho, wo)).argmax(axis=-3)
        i, j = np.divmod(flat, kernel[1])
        rows = rows + i * dilation[0]
        cols = cols + j * dilation[1]
        return wrap((rows * x._data.shape[-1] + cols).astype(np.int64))
    m = be.xp.m  # another library: the same arithmetic with its standard functions
    flat = m.argmax(m.reshape(mask, tuple(mask.shape[:-4]) + (-1, ho, wo)), axis=-3)
    flat = m.astype(flat, m.int64)
    i, j = flat // kernel[1], flat % kernel[1]
    rows = be.xp.asarray(rows.astype(np.int64)) + i * dilation[0]
    cols = be.xp.asarray(cols.astype(np.int64)) + j * dilation[1]
    return wrap(rows * x._data.shape[-1] + cols)


def _divisors(n, k, s, lo, size, count_include_pad):
    """Per output position along one dim: the window length with and without padding."""
    start = np.arange(size) * s - lo
    end = np.minimum(start + k, n + lo)
    full = end - start
    inside = np.minimum(end, n) - np.maximum(start, 0)
    return full if count_include_pad else inside


def avg_pool2d(x: Tensor, kernel, stride, padding, ceil_mode=False, count_include_pad=True,
               divisor_override=None) -> Tensor:
    """Mean over windows of the last two dims of ``x`` with PyTorch's divisors."""
    _check_float("avg_pool2d", x)
    shape = x._data.shape
    pads, (ho, wo) = pool_geometry("avg_pool2d", shape, kernel, stride, padding, (1, 1),
                                   ceil_mode)
    if divisor_override is not None:
        if divisor_override == 0:
            raise RuntimeError("avg_pool2d: divisor must be not zero")
        divisor = float(divisor_override)
    else:
        dh = _divisors(shape[-2], kernel[0], stride[0], padding[0], ho, count_include_pad)
        dw = _divisors(shape[-1], kernel[1], stride[1], padding[1], wo, count_include_pad)
        div = np.multiply.outer(dh, dw)
        if (div == div.flat[0]).all():
            divisor = float(div.flat[0])
        else:
            divisor = div.astype(np_dtype(x._data.dtype))
            divisor.flags.writeable = False
            if type(x._data) is not np.ndarray:  # the divisors live with the data
                divisor = backend_of(x._data).xp.asarray(divisor)
    return unary(AVG_POOL2D, x, tuple(kernel), tuple(stride), pads, divisor, tuple(shape))



# ---- activations with PyTorch's conventions at their kinks ------------------------------

def _elu_forward(xp, x, alpha, scale, input_scale):
    # expm1 of min(x, 0) only: the unused branch never overflows; x >= 0 (and -0.0) is
    # x * scale, as PyTorch's kernel (so elu(0) is 0 for an infinite alpha)
    neg = xp.expm1(xp.where(x < 0, x, 0) * input_scale) * (alpha * scale)
    return xp.where(x < 0, neg, x * scale)


def _elu_partial(xp, x, alpha, scale, input_scale):
    """Note [elu at 0]: PyTorch's elu_backward takes the x <= 0 branch at 0, so elu'(0) is
    alpha * scale * input_scale (elu: alpha, selu: scale * alpha, celu: 1) and elu'(nan)
    is scale; its second derivative uses x < 0, so elu''(0) is 0.  ``xn`` is x where
    x < 0 and 0 elsewhere, which gives exactly that at both orders."""
    xn = xp.where(x < 0, x, 0)
    return xp.where(x <= 0, (alpha * scale * input_scale) * xp.exp(xn * input_scale), scale)


ELU = Op("elu", _elu_forward,
         (lambda xp, g, x, out, *params: g * _elu_partial(xp, x, *params),),
         reads=((0,),), node="EluBackward0",
         jvp=lambda xp, ts, x, out, *params: ts[0] * _elu_partial(xp, x, *params),
         formula="d elu(x) = scale where x > 0, alpha*scale*s*exp(s x) where x <= 0")


def elu(x: Tensor, alpha: float, scale: float = 1.0, input_scale: float = 1.0) -> Tensor:
    """PyTorch's elu kernel: elu (alpha), selu (its two constants), celu (1/alpha)."""
    if np_dtype(x._data.dtype).kind != "f":
        raise RuntimeError(f"\"elu\" not implemented for '{x.dtype}' (input of shape "
                           f"{list(x.shape)}); use a floating dtype, e.g. x.float()")
    return unary(ELU, x, float(alpha), float(scale), float(input_scale))


def _hardtanh_forward(xp, x, lo, hi):
    # PyTorch's clamp keeps x unless it is below lo / above hi: -0.0 and nan pass through;
    # a nan bound makes every element nan; Python numbers take x's dtype (the caller gives
    # ints for integer x)
    if lo != lo or hi != hi:
        return x * float("nan")
    r = xp.where(x < lo, lo, x)
    return xp.where(r > hi, hi, r)


HARDTANH = Op("hardtanh", _hardtanh_forward,
              (lambda xp, g, x, out, lo, hi: xp.where((x > lo) & (x < hi), g, 0),),
              reads=((0,),), node="HardtanhBackward0",
              jvp=lambda xp, ts, x, out, lo, hi: xp.where((x > lo) & (x < hi), ts[0], 0),
              formula="d hardtanh(x) = 1 inside the open interval (lo, hi), 0 elsewhere")


def hardtanh(x: Tensor, lo: float, hi: float) -> Tensor:
    """Clamp to ``[lo, hi]`` with PyTorch's hardtanh gradient (0 at the bounds, unlike
    clamp's 1)."""
    if isinstance(x, Tensor) and np_dtype(x._data.dtype).kind in "iu":
        return unary(HARDTANH, x, int(lo), int(hi))  # what x.dtype.type(lo) would be
    return unary(HARDTANH, x, float(lo), float(hi))
