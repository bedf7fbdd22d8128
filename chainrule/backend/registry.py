"""Which array library a tensor's data belongs to, and what chainrule knows about it.

A ``Backend`` describes one library: its rule namespace (``xp``), its device type
(``"cpu"`` or ``"cuda"``), whether it computes lazily (Dask), whether views share memory
with their base (NumPy, CuPy) and how to bring data to the host.  ``backend_of(a)`` finds
it from the array's type through a per-type cache, so an op pays one dict look-up.

NumPy is built in; the others are found through array-api-compat (the ``cuda`` and
``dask`` extras install it) the first time an array of theirs is seen.
"""

from __future__ import annotations

import numpy as np

from .array_api import ArrayApiNamespace, BackendError, np_dtype
from .batched import MODULE as BATCHED_MODULE
from .batched import BatchedArray
from .batched import physical as BATCHED_MODULE_PHYSICAL
from .meta import META, MetaArray
from .numpy_backend import RAW
from .trace import TRACE, TraceArray


class Backend:
    """One array library."""

    def __init__(self, name, xp, *, device_type="cpu", lazy=False, shares_memory=True,
                 module=None, rank=None):
        self.name = name
        self.xp = xp  # the raw rule namespace (nb = 0)
        self.device_type = device_type
        self.lazy = lazy
        self.shares_memory = shares_memory
        self.module = module if module is not None else np
        # which backend an op mixing this one with another of the same device runs on:
        # the higher rank (Dask over NumPy, vmap's batched arrays over both)
        self.rank = rank if rank is not None else (1 if lazy else 0)

    def __repr__(self) -> str:
        return f"<backend {self.name} on {self.device_type}>"

    def asarray(self, a, dtype=None):
        """``a`` (NumPy data, a Python value or one of this library's arrays) as an
        array of this library."""
        if self is NUMPY:
            return np.asarray(a, dtype=dtype)
        if dtype is None and type(a) in _BY_TYPE and _BY_TYPE[type(a)] is self:
            return a
        return self.xp.asarray(a, dtype)

    def to_numpy(self, a) -> np.ndarray:
        """The values of ``a`` as a NumPy array (computes a lazy array)."""
        if type(a) is np.ndarray:
            return a
        if self.name == "dask":
            return np.asarray(a.compute())
        if self.name == "cupy":
            return self.module.asnumpy(a)
        if type(a) is BatchedArray:
            a.item()  # PyTorch's vmap error: one sample's values cannot be read
        if type(a) is MetaArray:
            # no values: chainrule's own host bookkeeping (index positions, bounds checks)
            # sees zeros, which give the right shapes; users' reads raise in Tensor
            return np.zeros(a.shape, a.dtype)
        try:
            return np.asarray(a)
        except Exception:  # array-api-strict refuses __array__: go through DLPack
            return np.from_dlpack(a)


NUMPY = Backend("numpy", RAW)
_BY_TYPE: dict = {np.ndarray: NUMPY}
# FOREIGN[0]: some non-NumPy array was seen; until then the engine skips every check
FOREIGN = [False]


def backend_of(a) -> Backend:
    """The backend of array ``a`` (cached per array type)."""
    b = _BY_TYPE.get(type(a))
    if b is None:
        b = _BY_TYPE[type(a)] = _discover(a)
        if b is not NUMPY and b.name != "trace":  # (a trace switches it on while it runs)
            FOREIGN[0] = True
    return b


def is_numpy(a) -> bool:
    return type(a) is np.ndarray


def _discover(a) -> Backend:
    if isinstance(a, (np.ndarray, np.generic)):
        return NUMPY
    mod = type(a).__module__.split(".")[0]
    if mod == "dask":
        return dask_backend()
    if mod == "cupy":
        return cupy_backend()
    if type(a) is BatchedArray:
        return batched_backend()
    if type(a) is MetaArray:
        return meta_backend()
    if type(a) is TraceArray:
        return trace_backend()
    try:
        import array_api_compat
        ns = array_api_compat.array_namespace(a)
    except ImportError:
        raise TypeError(f"{type(a).__name__} arrays need array-api-compat: pip install "
                        f"'chainrule[dask]' (or 'chainrule[cuda]')") from None
    except TypeError:
        raise TypeError(f"expected a NumPy or Array-API array, got {type(a).__name__}") from None
    name = ns.__name__.split(".")[0] if not ns.__name__.startswith("array_api_compat") \
        else ns.__name__.split(".")[1]
    return Backend(name, ArrayApiNamespace(ns, name), shares_memory=False, module=ns)


_SINGLETONS: dict = {}


def dask_backend() -> Backend:
    b = _SINGLETONS.get("dask")
    if b is None:
        try:
            import array_api_compat.dask.array as compat
            import dask.array as da
        except ImportError:
            raise ImportError("Dask arrays need dask and array-api-compat: pip install "
                              "'chainrule[dask]'") from None
        b = _SINGLETONS["dask"] = Backend("dask", ArrayApiNamespace(compat, "dask", lib=da),
                                          lazy=True, shares_memory=False, module=da)
        _BY_TYPE[da.Array] = b
    return b


def batched_backend() -> Backend:
    """vmap's arrays (Note [vmap as an array library] in batched.py)."""
    b = _SINGLETONS.get("vmap")
    if b is None:
        from .batched_namespace import BatchedNamespace
        b = _SINGLETONS["vmap"] = Backend(
            "vmap", BatchedNamespace(),
            shares_memory=False, module=BATCHED_MODULE, rank=10)
        _BY_TYPE[BatchedArray] = b
    return b


def meta_backend() -> Backend:
    """The ``meta`` device: shapes and dtypes without data (``meta.py``)."""
    b = _SINGLETONS.get("meta")
    if b is None:
        b = _SINGLETONS["meta"] = Backend("meta", ArrayApiNamespace(META, "meta", lib=META),
                                          device_type="meta", shares_memory=False,
                                          module=META)
        _BY_TYPE[MetaArray] = b
    return b


def trace_backend() -> Backend:
    """compile's recording arrays (Note [tracing as an array library] in trace.py)."""
    b = _SINGLETONS.get("trace")
    if b is None:
        from .trace import trace_namespace
        b = _SINGLETONS["trace"] = Backend("trace", trace_namespace(), module=TRACE, rank=5)
        _BY_TYPE[TraceArray] = b
    return b


def cuda_module():
    """CuPy, when it is installed and sees a GPU; otherwise PyTorch's CPU-only error."""
    mod = _SINGLETONS.get("cupy-module")
    if mod is None:
        try:
            import cupy
            ok = cupy.cuda.runtime.getDeviceCount() > 0
        except Exception:  # not installed, no driver, no GPU
            ok = False
        if not ok:
            raise AssertionError("Torch not compiled with CUDA enabled (chainrule runs "
                                 "'cuda' tensors on CuPy: pip install \"chainrule[cuda]\" "
                                 "on a machine with an NVIDIA GPU)")
        mod = _SINGLETONS["cupy-module"] = cupy
    return mod


def cupy_backend() -> Backend:
    b = _SINGLETONS.get("cupy")
    if b is None:
        cuda_module()
        import array_api_compat.cupy as compat
        import cupy
        b = _SINGLETONS["cupy"] = Backend("cupy", ArrayApiNamespace(compat, "cupy", lib=cupy),
                                          device_type="cuda", module=cupy)
        _BY_TYPE[cupy.ndarray] = b
    return b


def common_backend(arrays, opname="op"):
    """The backend an op on ``arrays`` runs on, by PyTorch's device rule: all arrays on
    one device, except 0-d CPU arrays, which join any device; Dask and NumPy are both
    ``cpu`` and mix (the result is Dask)."""
    found = NUMPY
    device = "cpu"  # (of found; vmap's arrays live where their physical values do)
    for a in arrays:
        if a is None or type(a) is np.ndarray or not hasattr(a, "shape"):
            continue
        b = backend_of(a)
        if b is NUMPY:
            continue
        dev = b.device_type if type(a) is not BatchedArray else \
            backend_of(BATCHED_MODULE_PHYSICAL(a)).device_type
        if found is NUMPY:
            found, device = b, dev
            continue
        if dev != device:
            raise RuntimeError(_device_mismatch(opname, found, b))
        if b.rank > found.rank:
            found = b
    if found.device_type != "cpu":
        for a in arrays:
            if type(a) is np.ndarray and a.ndim > 0:
                raise RuntimeError(_device_mismatch(opname, found, NUMPY))
    return found


def _device_mismatch(opname, a, b):
    names = {"cuda": "cuda:0", "cpu": "cpu", "meta": "meta"}
    return (f"Expected all tensors to be on the same device, but found at least two "
            f"devices, {names[a.device_type]} and {names[b.device_type]}! ({opname}: move "
            f"them to one device with .to(device) first)")


__all__ = ["Backend", "BackendError", "NUMPY", "backend_of", "common_backend",
           "dask_backend", "cupy_backend", "is_numpy", "np_dtype"]
