"""``chainrule.cuda``: PyTorch's CUDA helpers, served by CuPy.

Without CuPy or a GPU (``pip install "chainrule[cuda]"`` on a machine with an NVIDIA
GPU), ``is_available()`` is False, ``device_count()`` is 0, seeding is a no-op and the
rest raises the ``AssertionError`` of PyTorch's CPU-only build, as PyTorch does.
"""

from __future__ import annotations


def _cupy():
    from .backend.registry import cuda_module
    return cuda_module()


def is_available() -> bool:
    try:
        _cupy()
    except AssertionError:
        return False
    return True


def device_count() -> int:
    return _cupy().cuda.runtime.getDeviceCount() if is_available() else 0


def current_device() -> int:
    return _cupy().cuda.runtime.getDevice()


def set_device(device) -> None:
    from ._tensor import device as _device
    d = _device(device) if not isinstance(device, int) else _device("cuda", device)
    _cupy().cuda.runtime.setDevice(d.index or 0)


def get_device_name(device=None) -> str:
    cp = _cupy()
    idx = 0 if device is None else (device if isinstance(device, int) else
                                    (getattr(device, "index", None) or 0))
    name = cp.cuda.runtime.getDeviceProperties(idx)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def synchronize(device=None) -> None:
    _cupy().cuda.Device().synchronize()


def empty_cache() -> None:
    if is_available():
        cp = _cupy()
        cp.get_default_memory_pool().free_all_blocks()
        cp.get_default_pinned_memory_pool().free_all_blocks()


def memory_allocated(device=None) -> int:
    """Bytes held by tensors (CuPy's memory pool in use)."""
    return int(_cupy().get_default_memory_pool().used_bytes()) if is_available() else 0


def memory_reserved(device=None) -> int:
    return int(_cupy().get_default_memory_pool().total_bytes()) if is_available() else 0


def max_memory_allocated(device=None) -> int:
    return memory_allocated(device)


def manual_seed(seed) -> None:
    """Seeds CuPy's generator (chainrule draws random numbers on the host, then moves
    them, so the CPU generator decides the values; this keeps scripts running)."""
    if is_available():
        _cupy().random.seed(int(seed) % 2 ** 32)


manual_seed_all = manual_seed


def is_initialized() -> bool:
    return is_available()


__all__ = ["is_available", "device_count", "current_device", "set_device", "get_device_name",
           "synchronize", "empty_cache", "memory_allocated", "memory_reserved",
           "max_memory_allocated", "manual_seed", "manual_seed_all", "is_initialized"]


def _check_device_arg(device, op):
    """PyTorch's checks of ``pin_memory``/``is_pinned``'s ``device`` argument."""
    import numpy as np

    from ._tensor import device as _device
    if device is None:
        return
    if isinstance(device, bool) or not isinstance(device, (str, int, np.integer, _device)):
        raise TypeError(f"{op}(): argument 'device' (position 1) must be torch.device, not "
                        f"{type(device).__name__}")
    # PyTorch's errors for a malformed string or a negative index; an index means CUDA
    d = _device(int(device) if isinstance(device, np.integer) else device)
    if d.type != "cpu" and not is_available() and (
            op == "pin_memory" or not isinstance(device, (str, _device))):
        raise RuntimeError("Cannot access accelerator device when none is available.")


def pin_memory(t, device=None):
    """``Tensor.pin_memory()``: a copy of a CPU tensor in page-locked host memory (CuPy's
    pinned pool), which ``.to("cuda", non_blocking=True)`` copies asynchronously.  Without
    a GPU, PyTorch's error."""
    import numpy as np
    _check_device_arg(device, "pin_memory")
    if not is_available():
        raise RuntimeError("Cannot access accelerator device when none is available.")
    data = t._data
    if type(data) is not np.ndarray:
        raise RuntimeError(f"cannot pin '{t.type()}': only dense CPU tensors can be pinned "
                           f"(this one is on {t.device})")
    if is_pinned(t):
        return t
    from ._tensor import wrap
    mem = _cupy().cuda.alloc_pinned_memory(max(data.nbytes, 1))
    pinned = np.frombuffer(mem, data.dtype, data.size).reshape(data.shape)
    pinned[...] = data
    if not t.requires_grad:
        return wrap(pinned)
    # differentiable as a copy (PyTorch's node passes the gradient through)
    from .ops._core import unary
    from .ops.views import CLONE
    out = unary(CLONE, t)
    out._data = pinned
    return out


def is_pinned(t, device=None) -> bool:
    """Whether ``t``'s memory is page-locked (pinned) host memory."""
    import numpy as np
    _check_device_arg(device, "is_pinned")
    data = t._data
    if type(data) is not np.ndarray or not is_available() or data.size == 0:
        return False
    cp = _cupy()
    try:
        attrs = cp.cuda.runtime.pointerGetAttributes(data.ctypes.data)
    except Exception:
        return False
    return getattr(attrs, "type", 0) == cp.cuda.runtime.memoryTypeHost
