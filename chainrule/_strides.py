"""PyTorch-style layout metadata: shapes, element strides and storage offsets.

Pure functions of tuples of ints, independent of any array library, so every array
backend gets the same answers (a backend without NumPy strides keeps its own tuples).
A *geometry* is ``(shape, strides, offset)`` in elements of the tensor's dtype.

Note [view or copy]: whether ``reshape`` can return a view is decided here, from the
shape and strides, exactly as ATen's ``computeStride`` decides it: the new shape must be
expressible with the old strides, chunk by contiguous chunk.  It is never decided from
what the array library happened to do (NumPy's ``.base`` says "view" for a reshape that
copied a transposed array, which made copies rewrite the history of their source).

Strides of size-1 dimensions carry no addressing information; PyTorch still reports
definite values for them (``unsqueeze`` gives ``size * stride`` of the next dimension,
``expand`` of a new dimension likewise, empty tensors are laid out as if size-0 dims had
size 1).  The view rows' geometry functions below follow those rules, so ``stride()``
and ``is_contiguous()`` agree with PyTorch for every chain of views.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def contiguous_strides(shape: tuple) -> tuple:
    """Row-major strides; size-0 dims count as 1 (PyTorch's convention)."""
    strides = [1] * len(shape)
    acc = 1
    for i in range(len(shape) - 1, -1, -1):
        strides[i] = acc
        acc *= max(shape[i], 1)
    return tuple(strides)


def is_contiguous(shape, strides) -> bool:
    """PyTorch's ``is_contiguous``: size-1 dims are ignored, empty tensors are."""
    expected = 1
    for n, s in zip(reversed(shape), reversed(strides)):
        if n == 0:
            return True
        if n != 1:
            if s != expected:
                return False
            expected *= n
    return True


def is_dense(shape, strides) -> bool:
    """PyTorch's ``is_non_overlapping_and_dense``: some order of the dims is
    row-major (size-1 dims do not count)."""
    dims = sorted((s, n) for n, s in zip(shape, strides) if n != 1)
    expected = 1
    for s, n in dims:
        if s != expected:
            return False
        expected *= n
    return True


def compute_stride(shape, strides, new_shape):
    """Strides for viewing ``(shape, strides)`` as ``new_shape``, or None when the new
    shape cannot be a view and reshape must copy (ATen's ``computeStride``)."""
    if not shape:
        return (1,) * len(new_shape)
    numel = 1
    for n in shape:
        numel *= n
    if numel == 0:
        return tuple(strides) if tuple(shape) == tuple(new_shape) else contiguous_strides(
            new_shape)
    new_strides = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base = strides[-1]
    tensor_numel = 1
    view_numel = 1
    for d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[d]
        if d == 0 or (shape[d - 1] != 1 and strides[d - 1] != tensor_numel * chunk_base):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                chunk_base = strides[d - 1]
                tensor_numel = 1
                view_numel = 1
    if view_d != -1:
        return None
    return tuple(new_strides)


# ---- geometry of each view row: (shape, strides, offset) -> (shape, strides, offset) ----

def reshape(geo, new_shape):
    shape, strides, offset = geo
    st = compute_stride(shape, strides, new_shape)
    if st is None:  # only a copy could do it (the row was not recorded as a view)
        return tuple(new_shape), contiguous_strides(new_shape), 0
    return tuple(new_shape), st, offset


def unsqueeze(geo, d):
    shape, strides, offset = geo
    s = 1 if d >= len(shape) else shape[d] * strides[d]
    return shape[:d] + (1,) + shape[d:], strides[:d] + (s,) + strides[d:], offset


def squeeze(geo, dims):
    shape, strides, offset = geo
    keep = [i for i in range(len(shape)) if i not in dims]
    return tuple(shape[i] for i in keep), tuple(strides[i] for i in keep), offset


def permute(geo, axes):
    shape, strides, offset = geo
    return tuple(shape[a] for a in axes), tuple(strides[a] for a in axes), offset


def expand(geo, new_shape):
    """ATen's ``inferExpandGeometry``: new dims of size 1 get size * stride of the next
    dim, broadcast dims stride 0 (a 0-d tensor expands with strides 0)."""
    shape, strides, offset = geo
    nd = len(new_shape)
    out = [0] * nd
    for i in range(nd - 1, -1, -1):
        d = len(shape) - nd + i
        if d >= 0:
            size, stride = shape[d], strides[d]
        else:
            size = 1
            stride = new_shape[i + 1] * out[i + 1] if i + 1 < nd else 0
        out[i] = stride if size == new_shape[i] else 0
    return tuple(new_shape), tuple(out), offset


def select(geo, d, i):
    shape, strides, offset = geo
    if i < 0:
        i += shape[d]
    return shape[:d] + shape[d + 1:], strides[:d] + strides[d + 1:], offset + i * strides[d]


def slice_(geo, d, sl):
    shape, strides, offset = geo
    start, stop, step = sl.indices(shape[d])
    n = max(0, (stop - start + step - 1) // step)
    return (shape[:d] + (n,) + shape[d + 1:],
            strides[:d] + (strides[d] * step,) + strides[d + 1:], offset + start * strides[d])


def index(geo, key):
    """A basic index (ints, slices, None, one ``...``), applied dim by dim as PyTorch's
    ``applySlicing`` does."""
    ndim = len(geo[0])
    used = sum(1 for k in key if k is not None and k is not Ellipsis)
    d = 0
    for k in key:
        if k is None:
            geo = unsqueeze(geo, d)
            d += 1
        elif k is Ellipsis:
            d += ndim - used
        elif type(k) is slice:
            geo = slice_(geo, d, k)
            d += 1
        else:
            geo = select(geo, d, k)
    return geo


def diagonal(geo, offset, d1, d2):
    shape, strides, off = geo
    nd = len(shape)
    d1, d2 = d1 % nd, d2 % nd
    if offset >= 0:
        n = max(min(shape[d1], shape[d2] - offset), 0)
        start = offset * strides[d2]
    else:
        n = max(min(shape[d1] + offset, shape[d2]), 0)
        start = -offset * strides[d1]
    keep = [i for i in range(nd) if i not in (d1, d2)]
    return (tuple(shape[i] for i in keep) + (n,),
            tuple(strides[i] for i in keep) + (strides[d1] + strides[d2],),
            off + (start if n else 0))


def unfold(geo, d, size, step):
    shape, strides, offset = geo
    if not shape:
        return (size,), (1,), offset
    n = (shape[d] - size) // step + 1
    return (shape[:d] + (n,) + shape[d + 1:] + (size,),
            strides[:d] + (strides[d] * step,) + strides[d + 1:] + (strides[d],), offset)


def view_dtype(geo, old_size, new_size):
    """``view(dtype)`` with element sizes ``old_size`` -> ``new_size`` (checked by the
    caller): the last dim and the offset scale, the other strides too."""
    shape, strides, offset = geo
    if old_size == new_size:
        return geo
    if old_size > new_size:
        r = old_size // new_size
        return (shape[:-1] + (shape[-1] * r,), tuple(s * r for s in strides[:-1]) + (1,),
                offset * r)
    r = new_size // old_size
    return (shape[:-1] + (shape[-1] // r,), tuple(s // r for s in strides[:-1]) + (1,),
            offset // r)


def iterator_strides(shape, operands) -> tuple:
    """The strides PyTorch's TensorIterator gives a new output of ``shape`` computed
    from inputs with strides ``operands`` (each aligned to ``shape``, 0 where broadcast):
    dims ordered by the inputs' strides, ties and broadcast dims in their order, then
    laid out densely in that order (ATen's ``reorder_dimensions``)."""
    nd = len(shape)
    perm = list(range(nd - 1, -1, -1))  # fastest dim first

    def should_swap(d0, d1):
        for st in operands:
            s0, s1 = st[d0], st[d1]
            if s0 == 0 or s1 == 0:
                continue
            if s0 != s1:
                return 1 if s0 > s1 else -1
            if shape[d0] > shape[d1]:
                return 1
        return 0

    for i in range(1, nd):
        d1 = i
        for d0 in range(i - 1, -1, -1):
            c = should_swap(perm[d0], perm[d1])
            if c > 0:
                perm[d0], perm[d1] = perm[d1], perm[d0]
                d1 = d0
            elif c < 0:
                break
    strides = [0] * nd
    step = 1
    for d in perm:
        strides[d] = step
        step *= shape[d]
    return tuple(strides)
