"""vmap's two rows: a tensor entering a vmap level and a result leaving it.

Note [vmap rows]: ``func.vmap`` moves each batched input's mapped dim into a
``BatchedArray`` (``backend/batched.py``) through ``add_batch_dim``, and each output's
batch back out through ``remove_batch_dim``.  Both are linear rows, each the other's
transpose, so a gradient taken outside vmap flows through them like through any view-free
reshaping op, and their JVPs follow from the forwards.  ``xp.nb`` leading cotangent or
tangent dims (jacrev/jacfwd around vmap) sit before the data's dims, so the mapped dim
moves by ``nb``.
"""

from __future__ import annotations

from ..backend.batched import BatchedArray
from ..backend.batched import add_batch_dim as _add
from ..backend.batched import expand_batch as _expand
from ..backend.batched import remove_batch_dim as _remove
from ..backend.batched import sum_batch as _sum_batch
from .._tensor import Tensor
from ._core import Op
from ._dispatch_any import apply_any


# (on the recording namespace (nested forward AD) the operand is a Tensor: the row
# records itself, with the tangents' nb dims already counted in the dim)
def _add_forward(xp, x, level, dim, size):
    if isinstance(x, Tensor):
        return ADD_BATCH_DIM.apply1(x, level, dim + xp.nb, size)
    return _add(x, dim + xp.nb, level)


def _remove_forward(xp, x, level, dim, size):
    if isinstance(x, Tensor):
        return REMOVE_BATCH_DIM.apply1(x, level, dim + xp.nb, size)
    return _remove(x, level, dim + xp.nb, size)


def _add_vjp(xp, g, x, out, level, dim, size):
    if isinstance(g, Tensor):
        return REMOVE_BATCH_DIM.apply1(g, level, dim + xp.nb, size)
    return _remove(g, level, dim + xp.nb, size)


def _remove_vjp(xp, g, x, out, level, dim, size):
    if isinstance(g, Tensor):
        return ADD_BATCH_DIM.apply1(g, level, dim + xp.nb, size)
    return _add(g, dim + xp.nb, level)


def _expand_vjp(xp, g, x, out, level, size):
    if isinstance(g, Tensor):  # recorded: the batch moved out, then summed
        if type(g._data) is not BatchedArray or g._data.level != level:
            return g * size  # the same cotangent for every sample
        return REMOVE_BATCH_DIM.apply1(g, level, 0, size).sum(0)
    return _sum_batch(g, level, size)


def _expand_forward(xp, x, level, size):
    if isinstance(x, Tensor):
        return EXPAND_BATCH.apply1(x, level, size)
    return _expand(x, level, size)


ADD_BATCH_DIM = Op(
    "add_batch_dim", _add_forward,
    (_add_vjp,),
    kind="linear", node="AddBatchDimBackward0",
    formula="d add_batch_dim(x, level, dim) = remove_batch_dim(g, level, dim)")
REMOVE_BATCH_DIM = Op(
    "remove_batch_dim", _remove_forward,
    (_remove_vjp,),
    kind="linear", node="RemoveBatchDimBackward0",
    formula="d remove_batch_dim(x, level, dim) = add_batch_dim(g, level, dim)")


# Note [unbatched inputs inside vmap]: a tensor that requires grad and is not batched at
# the level of an op it meets (a closure tensor, a model's parameter) enters the op
# through EXPAND_BATCH, so the cotangents coming back from the level's per-sample ops
# are summed over the batch on their way to it (as PyTorch's physical broadcast does).
# func.grad/vjp/jacrev track their inputs the same way, so their gradients stay per
# sample.
EXPAND_BATCH = Op(
    "expand_batch", _expand_forward,
    (_expand_vjp,),
    kind="linear", node="ExpandBackward0",
    formula="d expand_batch(x) = g summed over the batch")


for _row in (ADD_BATCH_DIM, REMOVE_BATCH_DIM, EXPAND_BATCH):
    _row.batching = True
    # every caller (forward AD's recorded JVPs included) takes the general dispatch: the
    # NumPy hot path expects a NumPy result
    _row.apply1 = (lambda row: lambda x, *params: apply_any(row, (x,), params))(_row)
del _row


# (the general dispatch: the NumPy hot path expects a NumPy result)
def add_batch_dim(t, level: int, dim: int, size: int):
    return apply_any(ADD_BATCH_DIM, (t,), (level, dim, size))


def remove_batch_dim(t, level: int, dim: int, size: int):
    d = t._data
    if type(d) is not BatchedArray or d.level != level:
        # a result that does not depend on the batch: the same for every sample, as an
        # expand (whose gradient sums over the batch), as PyTorch returns it
        shape = tuple(t.shape)
        return t.unsqueeze(dim).expand(shape[:dim] + (size,) + shape[dim:])
    return apply_any(REMOVE_BATCH_DIM, (t,), (level, dim, size))


def expand_batch(t, level: int, size: int):
    return apply_any(EXPAND_BATCH, (t,), (level, size))
