"""DLPack (``chainrule.from_dlpack``, ``chainrule.utils.dlpack``): zero-copy exchange with
NumPy, PyTorch, CuPy, JAX ... through the DLPack protocol, as ``torch.utils.dlpack``.

Note [DLPack]: a chainrule tensor exports the DLPack capsule of its underlying array
(``Tensor.__dlpack__`` delegates to the array's ``__dlpack__``), so the consumer shares the
tensor's memory.  Importing (``from_dlpack``) asks the producer for its device: CPU arrays
come in through ``numpy.from_dlpack``, CUDA ones through ``cupy.from_dlpack``; the result
wraps that array, again without a copy.  As in PyTorch a tensor that requires grad is not
exported (the consumer would write around autograd): ``t.detach()`` first.
"""

from __future__ import annotations

import numpy as np

from ._tensor import DLDeviceType

__all__ = ["DLDeviceType", "from_dlpack", "to_dlpack"]


def to_dlpack(tensor):
    """A DLPack capsule sharing ``tensor``'s memory (``torch.utils.dlpack.to_dlpack``);
    hand it to any library's ``from_dlpack``.  A capsule can be consumed once.  As
    PyTorch's, it exports a tensor that requires grad too (``__dlpack__`` refuses)."""
    from ._tensor import Tensor
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dlpack(): argument 'tensor' must be Tensor, not "
                        f"{type(tensor).__name__}")
    return tensor.detach().__dlpack__()


class _Capsule:
    """A bare (legacy, CPU) DLPack capsule dressed as a producer for ``np.from_dlpack``."""

    def __init__(self, capsule) -> None:
        self.capsule = capsule

    def __dlpack__(self, stream=None, **kwargs):
        return self.capsule

    def __dlpack_device__(self):
        return (DLDeviceType.kDLCPU, 0)


class _Interface:
    """Memory of a read-only array re-exposed writeable (keeps that array alive)."""

    def __init__(self, arr) -> None:
        self.keep = arr
        self.__array_interface__ = dict(arr.__array_interface__, data=(
            arr.__array_interface__["data"][0], False))


def _writeable(arr):
    """NumPy marks arrays from bare (legacy) capsules read-only; PyTorch's import of a
    capsule is writeable, and so is ours (the capsule owner's memory, shared)."""
    return np.asarray(_Interface(arr))


def _is_capsule(obj) -> bool:
    return type(obj).__name__ == "PyCapsule"


def from_dlpack(ext_tensor, *, device=None, copy=None):
    """A tensor sharing memory with ``ext_tensor``: any object with ``__dlpack__`` (NumPy
    arrays, torch / CuPy / JAX arrays, chainrule tensors) or a DLPack capsule (from
    ``to_dlpack``), as ``torch.from_dlpack``.  ``copy=True`` copies; ``device`` moves the
    result (a copy when it changes device)."""
    from ._tensor import Tensor, to_device, wrap
    if _is_capsule(ext_tensor):
        producer = _Capsule(ext_tensor)
    elif hasattr(ext_tensor, "__dlpack__"):
        producer = ext_tensor
    else:
        raise RuntimeError(f"from_dlpack(): expected an object with __dlpack__ (a NumPy array, "
                        f"a torch / CuPy tensor ...) or a DLPack capsule, got "
                        f"{type(ext_tensor).__name__}")
    if isinstance(ext_tensor, Tensor) and ext_tensor.requires_grad:
        ext_tensor.__dlpack__()  # PyTorch's BufferError
    dev_type = int(producer.__dlpack_device__()[0]) if hasattr(
        producer, "__dlpack_device__") else int(DLDeviceType.kDLCPU)
    if dev_type in (DLDeviceType.kDLCPU, DLDeviceType.kDLCUDAHost):
        arr = np.from_dlpack(producer)
    elif dev_type in (DLDeviceType.kDLCUDA, DLDeviceType.kDLCUDAManaged):
        from .backend.registry import cuda_module
        arr = cuda_module().from_dlpack(producer)
    else:
        name = DLDeviceType(dev_type).name if dev_type in DLDeviceType._value2member_map_ \
            else str(dev_type)
        raise RuntimeError(f"from_dlpack(): unsupported device {name}: chainrule imports "
                           f"CPU (NumPy) and CUDA (CuPy) memory; move the array to the CPU "
                           f"first")
    if producer is not ext_tensor and type(arr) is np.ndarray and not arr.flags.writeable:
        arr = _writeable(arr)
    if copy:
        arr = arr.copy()
    from . import _dtype
    _dtype.from_numpy_dtype(arr.dtype)  # refuses dtypes chainrule lacks
    return wrap(to_device(arr, device))
