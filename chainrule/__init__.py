"""chainrule: automatic differentiation on NumPy with PyTorch's names and semantics.

``import chainrule as torch`` runs ordinary PyTorch autograd scripts: tensors that record
their operations, ``backward(v)`` accumulating vᵀJ into ``.grad``, ``autograd.grad``,
in-place updates with version checks, views, and grad modes.
"""

from __future__ import annotations

from . import _dtype, _methods, _ufuncs, autograd  # noqa: F401  (_ufuncs: Tensor.__array_ufunc__)
from ._creation import *  # noqa: F401,F403
from ._creation import __all__ as _creation_all
from ._dtype import (
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    set_default_dtype,
    uint8,
)
from ._functions import *  # noqa: F401,F403
from ._functions import __all__ as _functions_all
from ._grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from ._tensor import Size, Tensor, device
from .autograd import is_anomaly_check_nan_enabled, is_anomaly_enabled
from .backend.numpy_backend import pin_filter as _pin_filter
from .ops.views import (
    broadcast_to,
    chunk,
    clone,
    diagonal,
    expand_as,
    flatten,
    movedim,
    narrow,
    permute,
    reshape,
    select,
    split,
    squeeze,
    t,
    transpose,
    unbind,
    unflatten,
    unsqueeze,
)

bool = _dtype.bool_  # noqa: A001  (PyTorch exposes torch.bool)
half, float, double = float16, float32, float64  # noqa: A001
short, int, long = int16, int32, int64  # noqa: A001
swapaxes = swapdims = transpose
moveaxis = movedim

from .ops import batching as _batching  # noqa: F401  (vmap's rows)
from .ops import devices as _devices  # noqa: F401  (the to_device row: .to/.cpu/.cuda)
from .ops import indexing as _indexing
from .ops import linalg as _linalg
from .ops import reductions as _reductions
from .ops import shape as _shape
from .ops import sorting as _sorting
from .ops import transposes as _transposes

_methods.attach()
for _family in (_reductions, _sorting, _linalg, _shape, _indexing):
    globals().update({_n: getattr(_family, _n) for _n in _family.__all__})
    _methods.attach(_family.TENSOR_METHODS)
del _family

__version__ = "0.1.0"


from . import cuda  # noqa: E402
from ._compat import *  # noqa: E402,F403
from ._compat import TYPED as _TYPED  # noqa: E402

globals().update(_TYPED)
from ._lazy import compute, unwrap  # noqa: E402
from ._lazy import persist as _persist  # noqa: E402

Tensor.persist = _persist
Tensor.pin_memory, Tensor.is_pinned = cuda.pin_memory, cuda.is_pinned


def get_rng_state():
    """The global generator's state as a uint8 tensor, as PyTorch's (its bytes encode
    NumPy's generator state; give it back to ``set_rng_state``)."""
    from .random import get_rng_state
    return get_rng_state()


def set_rng_state(new_state) -> None:
    from .random import set_rng_state
    set_rng_state(new_state)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(input) -> int:
    return input.numel()


def is_inference(input) -> bool:
    return input.is_inference()


def is_floating_point(input) -> bool:
    return input.is_floating_point()


_LAZY = ("func", "nn", "optim", "utils", "linalg", "viz", "jit", "distributed", "backends",
         "random")


def __getattr__(name):
    """Submodules load on first use, so ``import chainrule`` stays fast."""
    if name in _LAZY:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    if name in ("save", "load"):
        from . import _serialization
        return getattr(_serialization, name)
    if name == "vmap":
        from ._vmap import vmap
        return vmap
    if name == "compile":
        from ._compile import compile
        return compile
    if name == "onnx":
        import importlib
        return importlib.import_module(f"{__name__}.onnx")  # raises one clear ImportError
    raise AttributeError(f"module 'chainrule' has no attribute '{name}'")


from . import linalg  # noqa: E402
from ._dlpack import from_dlpack  # noqa: E402
from .ops import linalg_decomp as _linalg_decomp  # noqa: E402

_methods.attach(_linalg_decomp.TENSOR_METHODS)
det = linalg.det
inverse = linalg.inv

_pin_filter()  # Note [floating-point warnings] in backend/numpy_backend.py

from . import _args  # noqa: E402

_args.install(globals(), [_n for _n in list(globals()) if not _n.startswith("_")])
