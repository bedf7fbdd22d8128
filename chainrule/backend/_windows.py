"""Raw sliding-window kernels on NumPy arrays: the im2col/col2im pair and window maxima.

They back the rule words ``xp.im2col``, ``xp.col2im`` and ``xp.window_argmax`` (see
``numpy_backend.py``) and the forwards of the convolution and pooling rows in
``ops/nn_ops.py``.  Every kernel works on the LAST two dims (``H, W``) and lets any
leading dims pass through, so cotangents with leading batch dims need no special case.

Shared parameters: ``kernel = (kh, kw)``, ``stride = (sh, sw)``, ``dilation = (dh, dw)``
and ``padding = ((top, bottom), (left, right))`` (zeros, may be asymmetric: ``'same'``
convolutions with even kernels and ``ceil_mode`` pooling need that).

Layout: ``im2col(x)[..., i, j, p, q] = x_padded[..., p*sh + i*dh, q*sw + j*dw]``, shape
``(..., kh, kw, Ho, Wo)``; ``col2im`` is its transpose (adds every window entry back into
its input position).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided


def out_size(n: int, k: int, s: int, lo: int, hi: int, d: int) -> int:
    """Number of windows along one dim of size ``n`` padded by ``lo``/``hi``."""
    return (n + lo + hi - d * (k - 1) - 1) // s + 1


def _padded(x, padding, fill=0):
    (pt, pb), (pl, pr) = padding
    if not (pt or pb or pl or pr):
        return x
    h, w = x.shape[-2:]
    out = np.full(x.shape[:-2] + (h + pt + pb, w + pl + pr), fill, dtype=x.dtype)
    out[..., pt:pt + h, pl:pl + w] = x
    return out


def _windows(xp_, kernel, stride, dilation):
    """A read-only strided view ``(..., kh, kw, Ho, Wo)`` of the padded input."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    hp, wp = xp_.shape[-2:]
    ho = (hp - dh * (kh - 1) - 1) // sh + 1
    wo = (wp - dw * (kw - 1) - 1) // sw + 1
    s_h, s_w = xp_.strides[-2:]
    return as_strided(xp_, xp_.shape[:-2] + (kh, kw, ho, wo),
                      xp_.strides[:-2] + (s_h * dh, s_w * dw, s_h * sh, s_w * sw),
                      writeable=False)


def _window_slice(i, j, ho, wo, stride, dilation):
    """The slice of the padded input that window offset ``(i, j)`` reads."""
    (sh, sw), (dh, dw) = stride, dilation
    return (Ellipsis, slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
            slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))


def im2col(x, kernel, stride, padding, dilation):
    """Every window of ``x`` as ``(..., kh, kw, Ho, Wo)`` (a contiguous copy; for a 1x1
    kernel with stride 1 and no padding, a view of ``x``)."""
    if kernel == (1, 1) and stride == (1, 1) and padding == ((0, 0), (0, 0)):
        return x.reshape(x.shape[:-2] + (1, 1) + x.shape[-2:])
    return np.ascontiguousarray(_windows(_padded(x, padding), kernel, stride, dilation))


def col2im(cols, hw, kernel, stride, padding, dilation):
    """The transpose of ``im2col``: window entries ``(..., kh, kw, Ho, Wo)`` added back
    into an array of ``(..., H, W)`` (padding cropped)."""
    (kh, kw) = kernel
    (pt, pb), (pl, pr) = padding
    h, w = hw
    ho, wo = cols.shape[-2:]
    lead = cols.shape[:-4]
    if kernel == (1, 1) and stride == (1, 1) and padding == ((0, 0), (0, 0)):
        return cols.reshape(lead + (h, w))
    out = np.zeros(lead + (h + pt + pb, w + pl + pr), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[_window_slice(i, j, ho, wo, stride, dilation)] += cols[..., i, j, :, :]
    if pt or pb or pl or pr:
        return np.ascontiguousarray(out[..., pt:pt + h, pl:pl + w])
    return out


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def window_max(x, kernel, stride, padding, dilation):
    """The maximum of every window (padding never wins), ``(..., Ho, Wo)``; NaN
    propagates, as in PyTorch's max pooling."""
    v = _windows(_padded(x, padding, _lowest(x.dtype)), kernel, stride, dilation)
    kh, kw = kernel
    out = v[..., 0, 0, :, :].copy()
    for i in range(kh):
        for j in range(kw):
            if i or j:
                np.maximum(out, v[..., i, j, :, :], out=out)
    return out


def window_argmax(x, kernel, stride, padding, dilation):
    """A one-hot mask ``(..., kh, kw, Ho, Wo)`` of the first maximum of each window in
    row-major order (PyTorch's choice on ties), as a bool array."""
    v = _windows(_padded(x, padding, _lowest(x.dtype)), kernel, stride, dilation)
    best = window_max(x, kernel, stride, padding, dilation)
    nan = best != best  # noqa: PLR0124  (a window holding NaN picks its first NaN)
    any_nan = bool(nan.any())
    mask = np.empty(v.shape, dtype=bool)
    taken = np.zeros(best.shape, dtype=bool)
    kh, kw = kernel
    for i in range(kh):
        for j in range(kw):
            s = v[..., i, j, :, :]
            hit = s == best
            if any_nan:
                hit |= nan & (s != s)  # noqa: PLR0124
            hit &= ~taken
            taken |= hit
            mask[..., i, j, :, :] = hit
    return mask


def window_sum(x, kernel, stride, padding):
    """The sum of every window of the zero-padded ``x``, ``(..., Ho, Wo)``."""
    v = _windows(_padded(x, padding), kernel, stride, (1, 1))
    kh, kw = kernel
    out = v[..., 0, 0, :, :].copy()
    for i in range(kh):
        for j in range(kw):
            if i or j:
                out += v[..., i, j, :, :]
    return out


# ---- the same kernels on any Array-API library (``ns``: an ArrayApiNamespace) ------------
# Strided slices and concatenation only: no strided views, no in-place adds.

def _padded_ns(ns, x, padding, fill=0):
    (pt, pb), (pl, pr) = padding
    if not (pt or pb or pl or pr):
        return x
    if fill == 0:
        return ns.pad(x, [(pt, pb), (pl, pr)])
    m = ns.m
    h, w = x.shape[-2:]
    lead = tuple(x.shape[:-2])
    dev = ns._device_of(x)

    def block(shape):
        return m.full(lead + shape, fill, dtype=x.dtype, **dev)

    rows = [block((pt, w))] if pt else []
    rows += [x] + ([block((pb, w))] if pb else [])
    x = m.concat(rows, axis=-2) if len(rows) > 1 else x
    cols = [block((h + pt + pb, pl))] if pl else []
    cols += [x] + ([block((h + pt + pb, pr))] if pr else [])
    return m.concat(cols, axis=-1) if len(cols) > 1 else x


def _slices_ns(ns, xp_, kernel, stride, dilation):
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    hp, wp = xp_.shape[-2:]
    ho = (hp - dh * (kh - 1) - 1) // sh + 1
    wo = (wp - dw * (kw - 1) - 1) // sw + 1
    return [[xp_[_window_slice(i, j, ho, wo, stride, dilation)] for j in range(kw)]
            for i in range(kh)]


def im2col_sliced(ns, x, kernel, stride, padding, dilation):
    """``im2col`` on any library: ``(..., kh, kw, Ho, Wo)``."""
    rows = _slices_ns(ns, _padded_ns(ns, x, padding), kernel, stride, dilation)
    return ns.m.stack([ns.m.stack(r, axis=-3) for r in rows], axis=-4)


def _spread(ns, c, axis, step, before, total):
    """``c`` placed every ``step`` entries along ``axis`` (negative), shifted by
    ``before`` zeros, in a dim of length ``total`` (the transpose of a strided slice)."""
    m = ns.m
    n = c.shape[axis]
    if step > 1 and n:
        # (..., n, step, ...): entry k of c first in row k, then reshaped to n * step
        z = m.stack([c] + [m.zeros_like(c)] * (step - 1), axis=axis)
        shape = list(c.shape)
        shape[axis] = n * step
        c = m.reshape(z, tuple(shape))
        c = c[(Ellipsis, slice(0, (n - 1) * step + 1)) + (slice(None),) * (-1 - axis)]
    after = total - before - c.shape[axis]
    widths = [(before, after), (0, 0)] if axis == -2 else [(before, after)]
    return ns.pad(c, widths)


def col2im_sliced(ns, cols, hw, kernel, stride, padding, dilation):
    """``col2im`` on any library: each window offset's entries spread back and summed."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    (pt, pb), (pl, pr) = padding
    h, w = hw
    hp, wp = h + pt + pb, w + pl + pr
    out = None
    for i in range(kh):
        for j in range(kw):
            c = _spread(ns, cols[..., i, j, :, :], -2, sh, i * dh, hp)
            c = _spread(ns, c, -1, sw, j * dw, wp)
            out = c if out is None else out + c
    return out[..., pt:pt + h, pl:pl + w]


def _lowest_padded_windows(ns, x, kernel, stride, padding, dilation):
    """``im2col`` of ``x`` padded with its dtype's lowest value (padding never wins)."""
    from .array_api import np_dtype
    dt = np_dtype(x.dtype)
    if padding != ((0, 0), (0, 0)):
        x = _padded_ns(ns, x, padding, _lowest(dt))
    return im2col_sliced(ns, x, kernel, stride, ((0, 0), (0, 0)), dilation), dt


def window_max_sliced(ns, x, kernel, stride, padding, dilation):
    """``window_max`` on any library: ``(..., Ho, Wo)``, NaN propagates."""
    v, _ = _lowest_padded_windows(ns, x, kernel, stride, padding, dilation)
    return ns.m.max(v, axis=(-4, -3))


def window_sum_sliced(ns, x, kernel, stride, padding):
    """``window_sum`` on any library: the sum of every zero-padded window."""
    v = im2col_sliced(ns, x, kernel, stride, padding, (1, 1))
    return ns.m.sum(v, axis=(-4, -3))


def window_argmax_sliced(ns, x, kernel, stride, padding, dilation):
    """``window_argmax`` on any library: one-hot of each window's first maximum (a NaN
    counts as the maximum, as in PyTorch)."""
    m = ns.m
    v, dt = _lowest_padded_windows(ns, x, kernel, stride, padding, dilation)
    kh, kw = kernel
    lead = tuple(v.shape[:-4])
    ho, wo = v.shape[-2:]
    flat = m.reshape(v, lead + (kh * kw, ho, wo))
    best = m.argmax(flat, axis=-3, keepdims=True)
    if dt.kind == "f":  # a window holding NaN picks its first NaN
        isn = m.isnan(flat)
        first_nan = m.argmax(m.astype(isn, m.int8), axis=-3, keepdims=True)
        best = m.where(m.any(isn, axis=-3, keepdims=True), first_nan, best)
    pos = m.reshape(m.arange(kh * kw, dtype=best.dtype, **ns._device_of(v)),
                    (kh * kw, 1, 1))
    return m.reshape(pos == best, lead + (kh, kw, ho, wo))
