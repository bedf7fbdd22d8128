"""PyTorch's error messages for what a row's forward refused (dtypes, shapes, memory,
extra arguments)."""

from __future__ import annotations

import numpy as np

_ndarray = np.ndarray


def _extra_args_error(op, params):
    """PyTorch's TypeError for arguments a one-input row does not take (``x.exp(5)``)."""
    if not op.max_params:
        return TypeError(f"Tensor.{op.name}() takes no arguments ({len(params)} given)")
    return TypeError(f"{op.name}() takes at most {op.max_params} arguments "
                     f"({len(params)} given)")


def _type_error(op, ad, bd):
    """NumPy refused the operand dtypes (bitwise ops on floats): PyTorch's error."""
    names = {"b": "Bool", "f": "Float" if np.result_type(ad, bd).itemsize == 4 else "Double"}
    kind = np.result_type(ad, bd).kind
    return NotImplementedError(
        f"\"{op.name}_cpu\" not implemented for '{names.get(kind, kind)}': {op.name} takes "
        f"integer or bool tensors (got {np.asarray(ad).dtype} and {np.asarray(bd).dtype})")
def _overflow_error(op, *vals):
    """A Python number that does not fit the dtype it is computed in (PyTorch's text)."""
    arrays = [v for v in vals if isinstance(v, _ndarray)]
    dt = arrays[0].dtype if arrays else np.dtype(np.int64)
    big = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, _ndarray)]
    shown = big[0] if big else "a value"
    return RuntimeError(f"{op.name}: value {shown} cannot be converted to type {dt} without "
                        f"overflow")


def _broadcast_error(op, ad, bd, exc):
    sa = [int(n) for n in getattr(ad, "shape", np.shape(ad))]  # (any array library)
    sb = [int(n) for n in getattr(bd, "shape", np.shape(bd))]
    if "broadcast" in str(exc):
        return RuntimeError(
            f"{op.name}: the size of tensor a ({sa}) must match the size of tensor b ({sb}) "
            f"at every non-singleton dimension (shapes {sa} and {sb} cannot be broadcast "
            f"together). Fix: reshape or unsqueeze one operand so that, aligned from the "
            f"right, each dimension is equal or 1.")
    return RuntimeError(f"{op.name}: {exc} (shapes {sa} and {sb})")


def _broadcast_error_n(op, vals, exc):
    """The n-operand form of ``_broadcast_error`` (where, lerp, clamp)."""
    shapes = [[int(n) for n in getattr(v, "shape", np.shape(v))] for v in vals
              if v is not None]
    return RuntimeError(f"{op.name}: operands of shapes {shapes} cannot be broadcast "
                        f"together ({exc})")


def _out_of_memory(op, exc):
    """NumPy could not allocate the result: PyTorch's allocator error is a RuntimeError."""
    return RuntimeError(f"{op.name}: not enough memory: {exc}. Work on smaller pieces "
                        f"(chunks of the batch) or check the shapes broadcast as intended.")
