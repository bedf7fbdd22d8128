"""Shape and indexing rows that copy (views live in ``views.py``).

Most rows are linear (cat, stack, flip, roll, repeat, pad, tril, diag, trace, gather,
index_select, take): the VJP is the op's transpose.  Indexing rows take the integer index
as a tensor input that is never differentiated; their rules read it (so changing it in
place before backward raises, as in PyTorch) and accumulate repeated indices.

Names in rules: ``g`` is the output's cotangent, which may carry ``xp.nb`` leading batch
dims, so axes in params are negative and shapes are the unbatched ones; ``x`` the input,
``idx`` a saved index, ``out`` the output (never read here).  JVPs ``jvp(xp, ts, *inputs,
out, *params)`` get one tangent ``t`` per input (None: zero) with the same batch dims;
for a linear row the JVP is the op itself applied to the tangents.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _args
from .._dtype import result_type
from ..backend.batched import BatchedArray, physical, rewrap
from .._tensor import Tensor, wrap
from ..backend.array_api import np_dtype
from ._core import Op, nary, unary
from .views import _dim, expand, reshape, unsqueeze


def _shape(t) -> list:
    return list(t._data.shape)


def _check_tensor(op, arg, v):
    if not isinstance(v, Tensor):
        raise TypeError(f"{op}(): argument '{arg}' must be Tensor, not {type(v).__name__}")


def _tensor_list(op, tensors):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}(): argument 'tensors' (position 1) must be tuple of Tensors, "
                        f"not {type(tensors).__name__}")
    for k, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): expected Tensor as element {k} in argument 0, but got "
                            f"{type(t).__name__}")
    return list(tensors)


def _grad_as(xp, g, dtype):
    """A cotangent in its input's float dtype (after a promoting cat/stack)."""
    return xp.astype(g, dtype) if dtype.kind == "f" else g  # (a no-op when it is g's)


def _along(axis, key) -> tuple:
    """An index addressing dim ``axis`` (negative) with ``key``, other dims whole."""
    return (Ellipsis, key) + (slice(None),) * (-axis - 1)


def _no_grad(xp, g, *args):
    return None  # integer index inputs


def _np_dt(t) -> np.dtype:
    """A tensor's dtype as a NumPy dtype (whatever library holds its data)."""
    d = t._data
    return d.dtype if type(d) is np.ndarray else np_dtype(d.dtype)


def _result_type(tensors) -> np.dtype:
    datas = [t._data for t in tensors]
    if all(type(d) is np.ndarray for d in datas):
        return result_type(*datas)
    from ._dispatch_any import promoted_dtype
    return promoted_dtype(datas)


# ---- cat, stack ---------------------------------------------------------------------------

def _cat_forward(xp, *args):
    *arrays, axis, bounds, _, dtype = args
    arrays = [a for a, b in zip(arrays, bounds) if b is not None]
    return xp.concatenate(arrays, axis, dtype)


def _cat_backward(op, xp, g, needs, saved, params):
    axis, bounds, dtypes, _ = params
    grads = []
    for i, n in enumerate(needs):
        if not n:
            grads.append(None)
        elif bounds[i] is None:  # a skipped legacy empty tensor
            grads.append(xp.zeros(g, (0,)))
        else:
            piece = xp.index(g, _along(axis, slice(*bounds[i])))
            grads.append(_grad_as(xp, piece, dtypes[i]))
    return grads


CAT = Op("cat", _cat_forward, None, nin=1, kind="linear", backward=_cat_backward,
         formula="d cat(x_1..x_n) = the slice of g that each x_i filled")


def cat(tensors, dim: int = 0, *, out=None) -> Tensor:
    """Concatenate along ``dim``; dtypes promote as in PyTorch.  1-D empty tensors are
    skipped whatever the other shapes (PyTorch's legacy rule)."""
    tensors = _tensor_list("cat", tensors)
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    for k, t in enumerate(tensors):
        if t._data.ndim == 0:
            raise RuntimeError(f"cat: zero-dimensional tensor (at position {k}) cannot be "
                               f"concatenated. Fix: use stack, or unsqueeze it first.")
    ref = next((t._data.shape for t in tensors if t._data.shape != (0,)), (0,))
    axis = _dim(dim, len(ref), "cat") - len(ref)
    d = len(ref) + axis
    rest = ref[:d] + ref[d + 1:]
    bounds, start = [], 0
    for k, t in enumerate(tensors):
        s = t._data.shape
        if s[:d] + s[d + 1:] != rest or len(s) != len(ref):
            if s == (0,):
                bounds.append(None)  # legacy: a 1-D empty tensor is skipped
                continue
            raise _cat_error(ref, s, d, k)
        bounds.append((start, start + s[d]))
        start += s[d]
    dtypes = tuple(_np_dt(t) for t in tensors)
    dtype = dtypes[0] if len(set(dtypes)) == 1 else _result_type(tensors)
    return nary(CAT, tensors, (axis, tuple(bounds), dtypes, dtype))


concat = concatenate = cat


def _cat_error(ref, s, d, k):
    if len(s) != len(ref):
        return RuntimeError(f"cat: Tensors must have same number of dimensions: got {len(ref)} "
                            f"and {len(s)} (shapes {list(ref)} and {list(s)})")
    n, m = next((n, m) for i, (n, m) in enumerate(zip(ref, s)) if i != d and n != m)
    return RuntimeError(
        f"cat: Sizes of tensors must match except in dimension {d}. Expected size {n} but got "
        f"size {m} for tensor number {k} in the list (shapes {list(ref)} and {list(s)}). Fix: "
        f"make all other dimensions equal, or concatenate along another dim.")


def _stack_forward(xp, *args):
    *arrays, axis, _, dtype = args
    return xp.stack(arrays, axis, dtype)


def _stack_backward(op, xp, g, needs, saved, params):
    axis, dtypes, _ = params
    return [_grad_as(xp, xp.index(g, _along(axis, i)), dtypes[i]) if n else None
            for i, n in enumerate(needs)]


STACK = Op("stack", _stack_forward, None, nin=1, kind="linear", backward=_stack_backward,
           formula="d stack(x_1..x_n, dim) = g.select(dim, i) to x_i")


def stack(tensors, dim: int = 0, *, out=None) -> Tensor:
    """Join equal-shaped tensors along a new dim ``dim``."""
    tensors = _tensor_list("stack", tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    ref = tensors[0]._data.shape
    for k, t in enumerate(tensors):
        if t._data.shape != ref:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{list(ref)} at entry 0 and {_shape(t)} at entry {k}")
    axis = _dim(dim, len(ref) + 1, "stack") - len(ref) - 1
    dtype = _result_type(tensors)
    return nary(STACK, tensors, (axis, tuple(_np_dt(t) for t in tensors), dtype))


def _atleast(t: Tensor, nd: int) -> Tensor:
    s = t._data.shape
    if len(s) >= nd:
        return t
    return reshape(t, (1,) * (nd - len(s)) + s)


def hstack(tensors, *, out=None) -> Tensor:
    """Concatenate along dim 1 (dim 0 for 1-D tensors)."""
    tensors = [_atleast(t, 1) for t in _tensor_list("hstack", tensors)]
    if not tensors:
        raise RuntimeError("hstack expects a non-empty TensorList")
    return cat(tensors, 0 if tensors and tensors[0].ndim == 1 else 1)


def vstack(tensors, *, out=None) -> Tensor:
    """Concatenate along dim 0 after making every tensor at least 2-D."""
    tensors = [_atleast(t, 2) for t in _tensor_list("vstack", tensors)]
    if not tensors:
        raise RuntimeError("vstack expects a non-empty TensorList")
    return cat(tensors, 0)


row_stack = vstack


# ---- flip, roll ---------------------------------------------------------------------------

FLIP = Op("flip", lambda xp, a, axes: xp.contiguous_copy(xp.flip(a, axes)),
          (lambda xp, g, x, out, axes: xp.flip(g, axes),), kind="linear",
          formula="d flip(x, dims) = flip(g, dims)")


def _dims_arg(dims) -> tuple:
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        return tuple(dims[0])
    return tuple(dims)


def flip(input: Tensor, *dims, **kwargs) -> Tensor:
    """Reverse the order of elements along ``dims`` (a copy, as in PyTorch)."""
    _check_tensor("flip", "input", input)
    if not dims and not kwargs:
        raise TypeError('flip() missing 1 required positional arguments: "dims"')
    if kwargs:  # flip(x, dims=(0, 1)): the keyword takes a tuple, as in PyTorch
        extra = sorted(set(kwargs) - {"dims"}) or (["dims"] if dims else [])
        if extra:
            raise TypeError(f"flip() got an unexpected keyword argument '{extra[0]}'")
        dims = kwargs["dims"]
        if not isinstance(dims, (tuple, list)):
            raise TypeError(f"flip(): argument 'dims' must be tuple of ints, not "
                            f"{_args.type_name(dims)}")
        dims = (dims,)
    dims = _dims_arg(dims)
    nd = input._data.ndim
    axes = [_dim(d, nd, "flip") - max(nd, 1) for d in dims]
    for a in set(axes):
        if axes.count(a) > 1:
            raise RuntimeError(f"flip: dim {a + nd} appears multiple times in the list of "
                               f"dims {list(dims)}")
    return unary(FLIP, input, tuple(axes) if nd else ())


def _roll_forward(xp, a, shifts, axes, shape):
    if axes is None:  # rolled flat
        return xp.reshape(xp.roll(xp.reshape(a, (math.prod(shape),)), shifts, -1), shape)
    return xp.roll(a, shifts, axes)


def _roll_vjp(xp, g, x, out, shifts, axes, shape):
    if axes is None:  # rolled flat: d/dx = reshape(roll(flat g, -shift))
        n = math.prod(shape)
        return xp.reshape(xp.roll(xp.reshape(g, (n,)), -shifts, -1), shape)
    return xp.roll(g, tuple(-s for s in shifts), axes)


ROLL = Op("roll", _roll_forward, (_roll_vjp,), kind="linear",
          formula="d roll(x, s, dims) = roll(g, -s, dims)")


def roll(input: Tensor, shifts, dims=None) -> Tensor:
    """Shift elements cyclically; with ``dims=None`` the tensor is rolled flat."""
    _check_tensor("roll", "input", input)
    shape = input._data.shape
    if dims is None or dims == ():
        if isinstance(shifts, (tuple, list)):
            if len(shifts) != 1:
                raise RuntimeError(f"roll: shifts and dimensions must align. shifts: "
                                   f"{len(shifts)}, dims:0")
            shifts = shifts[0]
        return unary(ROLL, input, int(shifts), None, shape)
    shifts = tuple(shifts) if isinstance(shifts, (tuple, list)) else (shifts,)
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, "
                           f"dims:{len(dims)}")
    if input._data.size == 0:  # PyTorch returns an empty tensor before checking dims
        return unary(ROLL, input, 0, None, shape)
    if not shape:
        raise IndexError(f"roll: Dimension specified as {dims[0]} but tensor has no "
                         f"dimensions")
    axes = tuple(_dim(d, len(shape), "roll") - len(shape) for d in dims)
    return unary(ROLL, input, tuple(int(s) for s in shifts), axes, shape)


# ---- repeat, tile, repeat_interleave --------------------------------------------------------

def _repeat_forward(xp, a, reps, shape):
    # out viewed as (r_0, s_0, r_1, s_1, ...) is x broadcast along the copies r_i
    padded = (1,) * (len(reps) - len(shape)) + tuple(shape)
    ones = tuple(v for s in padded for v in (1, s))
    pairs = tuple(v for r, s in zip(reps, padded) for v in (r, s))
    return xp.reshape(xp.broadcast_to(xp.reshape(a, ones), pairs),
                      tuple(r * s for r, s in zip(reps, padded)))


def _repeat_vjp(xp, g, x, out, reps, shape):
    # out viewed as (r_0, s_0, r_1, s_1, ...): sum over the copies r_i
    padded = (1,) * (len(reps) - len(shape)) + tuple(shape)
    pairs = tuple(v for r, s in zip(reps, padded) for v in (r, s))
    copies = tuple(range(-2 * len(reps), 0, 2))
    return xp.reshape(xp.sum(xp.reshape(g, pairs), axis=copies), shape)


REPEAT = Op("repeat", _repeat_forward, (_repeat_vjp,), kind="linear",
            formula="d x.repeat(r) = g summed over the r copies")


def _check_reps(op, input, reps):
    nd = input._data.ndim
    if len(reps) < nd:
        raise RuntimeError(f"{op}: Number of dimensions of repeat dims ({len(reps)}) can not "
                           f"be smaller than number of dimensions of tensor ({nd}, shape "
                           f"{_shape(input)}). Fix: give one count per dim, or use tile.")
    shape = (1,) * (len(reps) - nd) + input._data.shape
    if any(r * s < 0 for r, s in zip(reps, shape)):  # a negative count of an empty dim is 0
        raise RuntimeError(f"{op}: Trying to create tensor with negative dimension: repeats "
                           f"{list(reps)} of shape {list(shape)} must be >= 0")
    return tuple(max(r, 0) for r in reps)


def repeat(input: Tensor, *sizes) -> Tensor:
    """``x.repeat(2, 3)``: tile the whole tensor (PyTorch's repeat, NumPy's tile)."""
    reps = _check_reps("repeat", input, _args.star_int_list(sizes, "repeat", "repeats"))
    return unary(REPEAT, input, reps, input._data.shape)


def tile(input: Tensor, dims) -> Tensor:
    """Like ``repeat``, with ``dims`` padded by leading ones to the tensor's rank."""
    reps = _args.int_list((dims,) if isinstance(dims, int) else dims, "tile", "dims")
    reps = _check_reps("tile", input, (1,) * (input._data.ndim - len(reps)) + reps)
    return unary(REPEAT, input, reps, input._data.shape)


def _int_repeats(t: Tensor) -> np.ndarray:
    """The counts of repeat_interleave: PyTorch has no kernel for other dtypes."""
    if np_dtype(t._data.dtype).kind not in "iu":
        from .reductions import TORCH_TYPE_NAMES
        name = TORCH_TYPE_NAMES.get(t._data.dtype.name, t._data.dtype.name)
        raise NotImplementedError(f"\"repeat_interleave_cpu\" not implemented for '{name}' "
                                  f"(repeats must be an integer tensor)")
    return t._data


def repeat_interleave(input: Tensor, repeats=None, dim=None, *, output_size=None) -> Tensor:
    """Repeat each element ``repeats`` times along ``dim`` (flattened when ``dim`` is None).
    ``repeat_interleave(counts)`` alone gives ``arange(len(counts))`` repeated."""
    if repeats is None:  # the overload repeat_interleave(counts): no dim here
        if dim is not None:
            raise TypeError("repeat_interleave() received an invalid combination of "
                            "arguments - got dim without repeats: repeat_interleave(counts) "
                            "takes no dim")
        counts = _int_repeats(input)
        if counts.ndim != 1:
            raise RuntimeError(f"repeat_interleave only accept 1D vector as repeat, got "
                               f"shape {list(counts.shape)}")
        if (counts < 0).any():
            raise RuntimeError("repeat_interleave: repeats can not be negative")
        return wrap(np.repeat(np.arange(counts.size, dtype=np.int64), counts))
    if isinstance(repeats, Tensor):
        if repeats._data.ndim > 1:
            raise RuntimeError(f"repeats must be 0-dim or 1-dim tensor, got shape "
                               f"{list(repeats._data.shape)}")
        _int_repeats(repeats)
    elif isinstance(repeats, (bool, np.bool_)) or not isinstance(repeats, (int, np.integer)):
        raise TypeError(f"repeat_interleave(): argument 'repeats' must be int or Tensor, not "
                        f"{_args.type_name(repeats)}")
    else:
        repeats = _args.int_arg(repeats, "repeat_interleave", "repeats")
    if dim is None:
        input, dim = reshape(input, (-1,)), 0
    shape = input._data.shape
    d = _dim(dim, len(shape), "repeat_interleave")
    if isinstance(repeats, Tensor) and type(repeats._data) is BatchedArray:
        return _repeat_per_sample(input, repeats._data, d)
    if isinstance(repeats, Tensor) and repeats._data.size != 1:
        counts = repeats._host().reshape(-1)
        if counts.size != shape[d]:
            raise RuntimeError(f"repeat_interleave: repeats must have the same size as input "
                               f"along dim, but got repeats.size(0) = {counts.size} and "
                               f"input.size({d}) = {shape[d]}")
        if (counts < 0).any():
            raise RuntimeError("repeat_interleave: repeats can not be negative")
        from .indexing import index_select
        return index_select(input, d, wrap(np.repeat(np.arange(shape[d]), counts)))
    r = int(repeats.item() if isinstance(repeats, Tensor) else repeats)
    if r < 0:
        raise RuntimeError("repeat_interleave: repeats can not be negative")
    wide = expand(unsqueeze(input, d + 1), *(shape[:d + 1] + (r,) + shape[d + 1:]))
    return reshape(wide, shape[:d] + (shape[d] * r,) + shape[d + 1:])


def _repeat_per_sample(input, counts, d):
    """repeat_interleave with per-sample repeats (vmap): one index_select with per-sample
    positions, which exist only when every sample gets the same length (PyTorch's
    vmap runs these samples one by one and has the same limit)."""
    from ..backend.registry import backend_of
    from .indexing import index_select
    p = physical(counts)
    host = np.asarray(backend_of(p).to_numpy(p))
    n = input._data.shape[d]
    rows = host.reshape(-1, host.shape[-1] if host.ndim and counts.ndim else 1)
    if rows.shape[-1] not in (1, n) or (rows < 0).any():
        raise RuntimeError(f"repeat_interleave: repeats must be non-negative and have the "
                           f"same size as input along dim ({n}), got {counts.ndim}-d repeats")
    rows = np.broadcast_to(rows, (rows.shape[0], n))
    totals = rows.sum(-1)
    if (totals != totals[0]).any():
        raise RuntimeError("vmap: We do not support batching operators that can output "
                           "dynamic shape. Attempted to vmap over aten::repeat_interleave "
                           "(the samples' repeats give different lengths)")
    pos = np.stack([np.repeat(np.arange(n), r) for r in rows])
    lead = host.shape[:host.ndim - counts.ndim]
    return index_select(input, d, wrap(rewrap(counts, pos.reshape(lead + pos.shape[1:]))))


# ---- pad -----------------------------------------------------------------------------------

def _pad_forward(xp, a, widths, value, shape):
    k = len(widths)
    crop = (Ellipsis,) + tuple(slice(max(-lo, 0), n - max(-hi, 0))
                               for (lo, hi), n in zip(widths, shape[-k:] if k else ()))
    return xp.pad(xp.index(a, crop), [(max(lo, 0), max(hi, 0)) for lo, hi in widths], value)


def _pad_vjp(xp, g, x, out, widths, value, shape):
    # transpose: cut the padding away from g, zero-fill what the forward cropped
    k = len(widths)
    key = (Ellipsis,) + tuple(slice(max(lo, 0), max(lo, 0) + n - max(-lo, 0) - max(-hi, 0))
                              for (lo, hi), n in zip(widths, shape[-k:] if k else ()))
    gx = xp.index(g, key)
    if any(lo < 0 or hi < 0 for lo, hi in widths):
        gx = xp.pad(gx, [(max(-lo, 0), max(-hi, 0)) for lo, hi in widths])
    return gx


def _pad_jvp(xp, ts, x, out, widths, value, shape):
    # the same crop and zero padding on the tangent (the fill value is a constant: the
    # row is affine, so the forward on the tangent is not its JVP)
    k = len(widths)
    crop = (Ellipsis,) + tuple(slice(max(-lo, 0), n - max(-hi, 0))
                               for (lo, hi), n in zip(widths, shape[-k:] if k else ()))
    return xp.pad(xp.index(ts[0], crop), [(max(lo, 0), max(hi, 0)) for lo, hi in widths])


CONSTANT_PAD = Op("constant_pad_nd", _pad_forward, (_pad_vjp,), kind="linear",
                  node="ConstantPadNdBackward0", jvp=_pad_jvp,
                  formula="d pad(x) = g with the padding cut away (cropped parts get 0)")


def _pad_index(n, lo, hi, mode):
    i = np.arange(-lo, n + hi)
    if mode == "circular":
        return i % n
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    period = 2 * (n - 1)  # reflect without repeating the edge
    i = np.abs(i) % period if period else np.zeros_like(i)
    return np.where(i >= n, period - i, i)


def pad(input: Tensor, pad, mode: str = "constant", value=None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims; ``pad`` lists (before, after) from the LAST
    dim backwards, as in PyTorch.  Negative widths crop."""
    _check_tensor("pad", "input", input)
    pad = tuple(int(p) for p in pad)
    shape = input._data.shape
    if len(pad) % 2:
        raise RuntimeError(f"pad: Padding length must be divisible by 2 (got {list(pad)})")
    k = len(pad) // 2
    if k > len(shape):
        raise RuntimeError(f"pad: Padding length should be less than or equal to two times the "
                           f"input dimension but got padding length {len(pad)} and input of "
                           f"dimension {len(shape)} (shape {list(shape)})")
    widths = tuple((pad[2 * j], pad[2 * j + 1]) for j in reversed(range(k)))
    sizes = shape[len(shape) - k:]
    for (lo, hi), n in zip(widths, sizes):
        if n + lo + hi < 0 or n - max(-lo, 0) < 0 or n - max(-hi, 0) < 0:
            raise RuntimeError(f"pad: the padding {list(pad)} crops more than the size of the "
                               f"input (shape {list(shape)}): the resulting size would be "
                               f"negative. Fix: use smaller negative widths.")
    if mode == "constant":
        return unary(CONSTANT_PAD, input, widths, 0 if value is None else value, shape)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad: unsupported padding mode '{mode}' (use 'constant', "
                                  f"'reflect', 'replicate' or 'circular')")
    for (lo, hi), n in zip(widths, sizes):
        limit = n if mode == "circular" else n - 1 if mode == "reflect" else None
        if limit is not None and (lo > limit or hi > limit) or n == 0:
            raise RuntimeError(f"pad: {mode} padding {list(pad)} is too large for input of "
                               f"shape {list(shape)} (at most {limit} per side here)")
    # Note [non-constant pad]: recorded as an index (IndexBackward0; PyTorch has
    # ReflectionPad*/ReplicationPad* nodes): the gradient is the same scatter-add.
    idx = [_pad_index(n, lo, hi, mode) for (lo, hi), n in zip(widths, sizes)]
    key = (Ellipsis,) + tuple(np.ix_(*idx)) if k else (Ellipsis,)
    return input[key]


_pad = pad


def constant_pad_nd(input: Tensor, pad, value=0) -> Tensor:
    """``pad`` in constant mode, with PyTorch's ``torch.constant_pad_nd`` signature."""
    return _pad(input, pad, "constant", value)


# ---- triangles, diagonals, trace ---------------------------------------------------------------

TRIL = Op("tril", "tril", (lambda xp, g, x, out, k: xp.tril(g, k),),
          kind="linear", formula="d tril(x, k) = tril(g, k)")
TRIU = Op("triu", "triu", (lambda xp, g, x, out, k: xp.triu(g, k),),
          kind="linear", formula="d triu(x, k) = triu(g, k)")


def _triangle(op, input, diagonal):
    _check_tensor(op.name, "input", input)
    if input._data.ndim < 2:
        raise RuntimeError(f"{op.name}: input tensor must have at least 2 dimensions (got "
                           f"shape {_shape(input)})")
    return unary(op, input, _args.int_arg(diagonal, op.name, "diagonal", 2))


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """Lower triangle of the last two dims (entries above ``diagonal`` set to 0)."""
    return _triangle(TRIL, input, diagonal)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """Upper triangle of the last two dims (entries below ``diagonal`` set to 0)."""
    return _triangle(TRIU, input, diagonal)


DIAG_EMBED = Op("diag_embed", "diag_embed",
                (lambda xp, g, x, out, offset, d1, d2, shape: xp.diagonal(g, offset, d1, d2),),
                kind="linear", formula="d diag_embed(x) = diagonal(g)")
DIAGONAL_COPY = Op("diagonal_copy",
                   lambda xp, a, offset, shape: xp.contiguous_copy(
                       xp.diagonal(a, offset, -2, -1)),
                   (lambda xp, g, x, out, offset, shape:
                    xp.diag_embed(g, offset, -2, -1, shape),),
                   kind="linear", node="DiagonalBackward0_copy",
                   formula="d diag(X) = g written on the diagonal of zeros")


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Tensor whose (dim1, dim2) diagonals are the last dim of ``input``."""
    _check_tensor("diag_embed", "input", input)
    s = input._data.shape
    nd = len(s) + 1
    a, b = _dim(dim1, nd, "diag_embed"), _dim(dim2, nd, "diag_embed")
    if a == b:
        raise RuntimeError(f"diag_embed: diagonal dimensions cannot be identical {dim1}, "
                           f"{dim2}")
    offset = _args.int_arg(offset, "diag_embed", "offset", 2)
    n = (s[-1] if s else 1) + abs(offset)
    rest = list(s[:-1])
    for d in sorted((a, b)):
        rest.insert(d, n)
    return unary(DIAG_EMBED, input, int(offset), a - nd, b - nd, tuple(rest))


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """1-D -> square matrix with ``input`` on a diagonal; 2-D -> that diagonal (a copy)."""
    _check_tensor("diag", "input", input)
    diagonal = _args.int_arg(diagonal, "diag", "diagonal", 2)
    nd = input._data.ndim
    if nd == 1:
        return diag_embed(input, diagonal, 0, 1)
    if nd == 2:
        return unary(DIAGONAL_COPY, input, int(diagonal), input._data.shape)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {nd}D (shape "
                       f"{_shape(input)}). Fix: use diagonal(x, dim1=..., dim2=...) for "
                       f"batches.")


def _trace_vjp(xp, g, x, out, shape):
    # d trace(X) = g * I (rectangular: the main diagonal of min(m, n) entries)
    k = min(shape)
    return xp.diag_embed(xp.broadcast_to(xp.reshape(g, (1,)), (k,)), 0, -2, -1, shape)


TRACE = Op("trace", lambda xp, a, shape: xp.sum(xp.diagonal(a, 0, -2, -1), (-1,)),
           (_trace_vjp,), kind="linear", formula="d trace(X) = g * I")


def trace(input: Tensor) -> Tensor:
    """Sum of the main diagonal of a matrix."""
    _check_tensor("trace", "input", input)
    if input._data.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim "
                           f"{input._data.ndim} (shape {_shape(input)})")
    if _np_dt(input).kind == "b":
        raise NotImplementedError("trace: not implemented for 'Bool' tensors. Fix: x.long()")
    return unary(TRACE, input, input._data.shape)


__all__ = [
    "cat",
    "concat",
    "concatenate",
    "constant_pad_nd",
    "diag",
    "diag_embed",
    "flip",
    "hstack",
    "pad",
    "repeat",
    "repeat_interleave",
    "roll",
    "row_stack",
    "stack",
    "tile",
    "trace",
    "tril",
    "triu",
    "vstack",
]
TENSOR_METHODS = {
    "flip": flip, "roll": roll, "repeat": repeat, "tile": tile,
    "repeat_interleave": repeat_interleave, "tril": tril, "triu": triu, "diag": diag,
    "diag_embed": diag_embed, "trace": trace,
}
