"""PyTorch names that older or everyday scripts still use (issue 10, section 1).

- ``autograd.Variable(t, requires_grad=...)`` returns a Tensor, as in PyTorch >= 0.4, and
  every tensor is an instance of ``Variable``;
- the legacy typed constructors ``FloatTensor(2, 3)``, ``LongTensor([1, 2])`` ... and
  ``isinstance(t, torch.FloatTensor)`` (true when ``t`` has that dtype, on the CPU);
- the default device (``set_default_device``/``get_default_device``);
- ``backends`` flags (``cudnn.benchmark``/``deterministic`` are settable), thread counts
  (through threadpoolctl when installed), ``use_deterministic_algorithms``.
"""

from __future__ import annotations

import warnings

from . import _dtype
from ._tensor import Tensor

# ---- Variable -----------------------------------------------------------------------------


class _AnyTensor(type):
    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor)


class Variable(metaclass=_AnyTensor):
    """``Variable(t, requires_grad=False)``: PyTorch >= 0.4 merged Variable into Tensor;
    this returns ``t`` itself (with ``requires_grad`` set when asked), and every Tensor
    is an instance of ``Variable``."""

    def __new__(cls, data=None, requires_grad=False, volatile=False):
        from ._creation import tensor
        t = data if isinstance(data, Tensor) else tensor([] if data is None else data)
        if requires_grad:
            t.requires_grad_(True)
        return t


# ---- FloatTensor, LongTensor ... ------------------------------------------------------------


class _TypedTensor(type):
    def __instancecheck__(cls, obj) -> bool:
        return (isinstance(obj, Tensor) and obj.dtype is cls._dtype
                and obj.device.type == "cpu")


def _typed(name, dt):
    def __new__(cls, *args, device=None):
        from ._creation import empty, tensor
        if len(args) == 1 and isinstance(args[0], Tensor):
            return args[0].to(cls._dtype)
        if args and all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            return empty(*args, dtype=cls._dtype, device=device)
        if len(args) == 1 and isinstance(args[0], tuple) and all(
                isinstance(a, int) for a in args[0]) and args[0] == ():
            return empty(0, dtype=cls._dtype, device=device)
        if len(args) > 1:
            raise TypeError(f"{name}(): expected sizes (ints) or one sequence of data, got "
                            f"{len(args)} arguments")
        return tensor([] if not args else args[0], dtype=cls._dtype, device=device)
    doc = (f"``torch.{name}(*sizes)`` (uninitialized) or ``torch.{name}(data)``: a "
           f"{dt} tensor; ``isinstance(t, torch.{name})`` checks the dtype.")
    return _TypedTensor(name, (), {"__new__": __new__, "_dtype": dt, "__doc__": doc,
                                   "__module__": "chainrule"})


LEGACY_TYPES = {
    "FloatTensor": _dtype.float32, "DoubleTensor": _dtype.float64,
    "HalfTensor": _dtype.float16, "LongTensor": _dtype.int64, "IntTensor": _dtype.int32,
    "ShortTensor": _dtype.int16, "CharTensor": _dtype.int8, "ByteTensor": _dtype.uint8,
    "BoolTensor": _dtype.bool_,
}
if hasattr(_dtype, "bfloat16"):
    LEGACY_TYPES["BFloat16Tensor"] = _dtype.bfloat16
TYPED = {name: _typed(name, dt) for name, dt in LEGACY_TYPES.items()}

# ---- broadcasting ------------------------------------------------------------------------------


def broadcast_shapes(*shapes):
    """The shape that ``shapes`` broadcast to (PyTorch's rules), as a ``Size``."""
    from ._tensor import Size
    norm = []
    for s in shapes:
        if s is None:
            s = ()
        if isinstance(s, int):
            s = (int(s),)
        if not isinstance(s, (tuple, list, str)):
            raise RuntimeError(f"Input shapes should be of type ints, a tuple of ints, or a "
                               f"list of ints, got {s}")
        for i, d in enumerate(s):
            if not isinstance(d, int) or isinstance(d, bool):
                raise TypeError(f"torch.Size() takes an iterable of 'int' (item {i} is "
                                f"'{type(d).__name__}')")
        if any(d < 0 for d in s):
            raise ValueError("Attempting to broadcast a dimension with negative length!")
        norm.append(tuple(s))
    out = [1] * max((len(s) for s in norm), default=0)
    for s in norm:
        for i, d in enumerate(s, len(out) - len(s)):
            if d != 1 and out[i] not in (1, d):
                raise RuntimeError(
                    f"shape mismatch: objects cannot be broadcast to a single shape "
                    f"({', '.join(str(list(t)) for t in norm)})")
            if d != 1:
                out[i] = d
    return Size(out)


def broadcast_tensors(*tensors):
    """Views of ``tensors`` expanded to their common shape (differentiable)."""
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got "
                            f"{type(t).__name__}")
    shape = broadcast_shapes(*[tuple(t.shape) for t in tensors])
    return tuple(t if tuple(t.shape) == tuple(shape) else t.expand(shape) for t in tensors)


# ---- type promotion -----------------------------------------------------------------------------


def result_type(tensor1, tensor2):
    """The dtype an arithmetic op on ``tensor1`` and ``tensor2`` (tensors or numbers)
    gives, by PyTorch's promotion rules (0-d tensors and numbers weigh less)."""
    import numpy as np
    vals = []
    for name, v in (("tensor1", tensor1), ("tensor2", tensor2)):
        if isinstance(v, Tensor):
            vals.append(np.empty((0,) if v.dim() else (), _np(v.dtype)))
        elif isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)):
            vals.append(v.item() if isinstance(v, np.generic) else v)
        else:
            raise TypeError(f"result_type(): argument '{name}' must be Tensor or Number, "
                            f"not {type(v).__name__}")
    return _dtype.from_numpy_dtype(_dtype.result_type(*vals))


def promote_types(type1, type2):
    """The smallest dtype both ``type1`` and ``type2`` convert to without loss."""
    return _dtype.from_numpy_dtype(_dtype.promote_types(_np(type1), _np(type2)))


def can_cast(from_, to):
    """Whether PyTorch's casting rules allow ``from_`` -> ``to`` in an in-place op."""
    a, b = _np(from_), _np(to)
    order = "biuf"
    return order.index(a.kind if a.kind != "u" or a.itemsize > 1 else "i") <= \
        order.index(b.kind if b.kind != "u" or b.itemsize > 1 else "i")


def _np(dt):
    if not isinstance(dt, _dtype.dtype):
        raise TypeError(f"expected a torch.dtype, got {type(dt).__name__}")
    return dt.np


# ---- the default device ---------------------------------------------------------------------

from ._creation import _DEFAULT_DEVICE  # noqa: E402


def set_default_device(device) -> None:
    """Where creation functions put tensors when no ``device=`` is given (None: cpu)."""
    import numpy as np

    from ._tensor import device as _device
    if isinstance(device, np.integer):
        device = int(device)
    if isinstance(device, int) and not isinstance(device, bool):
        if not -2 ** 63 <= device < 2 ** 63:
            raise ValueError("Overflow when unpacking long long")
        from . import cuda
        if not cuda.is_available():  # an int means an accelerator index
            raise RuntimeError("Cannot access accelerator device when none is available.")
    _DEFAULT_DEVICE[0] = None if device is None else _device(device)


def get_default_device():
    from ._tensor import CPU
    d = _DEFAULT_DEVICE[0]
    if d is not None and d.type == "cuda" and d.index is None:
        from ._tensor import device as _device
        return _device("cuda", 0)
    return CPU if d is None else d


def default_device():
    """The device set by ``set_default_device`` (None when it was never set)."""
    return _DEFAULT_DEVICE[0]


def _type_name(v) -> str:
    from ._dtype import dtype
    return "torch.dtype" if isinstance(v, dtype) else type(v).__name__


# ---- threads and determinism ------------------------------------------------------------------

_THREADS = [None]
_WARNED = [False]


def set_num_threads(n: int) -> None:
    """The BLAS thread count, through threadpoolctl (``pip install threadpoolctl``, part
    of the ``examples`` extra); without it the value is recorded and a warning says so."""
    import numpy as np
    if isinstance(n, np.integer):
        n = int(n)
    if isinstance(n, bool) or not isinstance(n, int):
        raise RuntimeError(f"set_num_threads expects an int, but got {_type_name(n)}")
    if not -2 ** 63 <= n < 2 ** 63:
        raise ValueError("Overflow when unpacking long long")
    if n <= 0:
        raise RuntimeError("Expected positive number of threads")
    _THREADS[0] = n
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        if not _WARNED[0]:
            _WARNED[0] = True
            warnings.warn("set_num_threads: threadpoolctl is not installed, so NumPy's BLAS "
                          "keeps its thread count (pip install threadpoolctl, or set "
                          "OMP_NUM_THREADS before starting Python)", stacklevel=2)
        return
    threadpool_limits(n)


def get_num_threads() -> int:
    if _THREADS[0] is not None:
        return _THREADS[0]
    try:
        from threadpoolctl import threadpool_info
        counts = [i.get("num_threads", 1) for i in threadpool_info()]
        return max(counts) if counts else 1
    except ImportError:
        import os
        return os.cpu_count() or 1


_INTEROP = [None]


def set_num_interop_threads(n: int) -> None:
    """Recorded (chainrule runs no inter-op thread pool)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise RuntimeError(f"set_num_interop_threads expects an int, but got {_type_name(n)}")
    if not -2 ** 63 <= n < 2 ** 63:
        raise ValueError("Overflow when unpacking long long")
    if n <= 0:
        raise RuntimeError("Expected positive number of threads")
    _INTEROP[0] = n


def get_num_interop_threads() -> int:
    if _INTEROP[0] is None:
        import os
        return os.cpu_count() or 1
    return _INTEROP[0]


_DETERMINISTIC = [False, False]


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Recorded for scripts that set it: chainrule's CPU kernels are deterministic."""
    if not isinstance(mode, bool):
        raise TypeError(f"use_deterministic_algorithms(): argument 'mode' must be bool, not "
                        f"{type(mode).__name__}")
    _DETERMINISTIC[:] = [mode, bool(warn_only)]


def are_deterministic_algorithms_enabled() -> bool:
    return _DETERMINISTIC[0]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _DETERMINISTIC[1]


__all__ = ["Variable", "result_type", "promote_types", "can_cast", "broadcast_shapes",
           "broadcast_tensors", "set_default_device", "get_default_device", "set_num_threads",
           "get_num_threads", "set_num_interop_threads", "get_num_interop_threads",
           "use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
           "is_deterministic_algorithms_warn_only_enabled"]
