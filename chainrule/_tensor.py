"""``Tensor``: a NumPy array plus what autograd needs to know about it.

Slots (Note [tensor slots]):
- ``_data``: the ndarray (always an ndarray, 0-d included, never a NumPy scalar);
- ``_node``: the grad_fn for results of recorded ops, the ``AccumulateGrad`` for a leaf
  that requires grad, else ``None``;
- ``_rg``: requires_grad;
- ``_vc``: the version counter, a one-element list shared by a tensor and its views;
- ``_grad``: the ``.grad`` tensor;
- ``_view``: ``None``, or ``(base, steps, version)`` for a view: ``steps`` replays the
  view from its base, and ``version`` is the base version when ``_node`` was computed
  (an in-place op through any view makes the others regenerate their grad_fn).

Operators and methods are attached in ``_methods.py`` from the op functions, so every
derivative lives in ``ops/`` and this file holds no math.
"""

from __future__ import annotations

import enum
import warnings

import numpy as np

from . import _dtype, _strides
from ._format import tensor_repr
from ._grad_mode import ACTIVE as _INFERENCE_ACTIVE
from ._grad_mode import new_version_counter
from .backend.array_api import np_dtype
from .backend.trace import TraceArray as _TraceArray

__all__ = ["Tensor", "Size", "device"]


class Size(tuple):
    """The shape of a tensor, a tuple printed as ``torch.Size([2, 3])``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, item):
        r = tuple.__getitem__(self, item)
        return Size(r) if isinstance(item, slice) else r


class device:
    """``chainrule.device('cpu')``, ``device('cuda')``, ``device('cuda', 1)``.

    ``cpu`` is NumPy (and Dask, whose arrays live on the CPU side); ``cuda`` is CuPy
    (``pip install "chainrule[cuda]"``).  A device object can always be made; using
    ``cuda`` without CuPy and a GPU fails as PyTorch's CPU-only build does."""

    __slots__ = ("type", "index")

    def __init__(self, type="cpu", index=None) -> None:
        if isinstance(type, device):
            type, index = type.type, type.index
        elif isinstance(type, int) and not isinstance(type, bool):
            type, index = "cuda", type
        if not isinstance(type, str):
            raise TypeError(f"device(): argument 'type' must be str, not "
                            f"{builtins_type(type).__name__}")
        name, sep, idx = type.partition(":")
        if name not in _DEVICE_TYPES:
            raise RuntimeError(
                f"Expected one of cpu, cuda, ipu, xpu, mkldnn, opengl, opencl, ideep, hip, "
                f"ve, fpga, maia, xla, lazy, vulkan, mps, meta, hpu, mtia, privateuseone "
                f"device type at start of device string: {type}")
        if sep:
            if index is not None or not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}'")
            index = int(idx)
        if isinstance(index, int) and not -2 ** 63 <= index < 2 ** 63:
            raise ValueError("Overflow when unpacking long long")
        if index is not None and (not isinstance(index, int) or index < 0):
            raise RuntimeError(f"Device index must not be negative, got {index}")
        if name == "cpu" and index not in (None, 0):
            raise RuntimeError(f"CPU device index must be -1 or zero, got {index}")
        self.type = name
        self.index = index

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        try:
            o = other if isinstance(other, device) else device(other)
        except (RuntimeError, TypeError):
            return False
        return (self.type, self.index) == (o.type, o.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


builtins_type = type


class DLDeviceType(enum.IntEnum):
    """DLPack's device codes (``__dlpack_device__()[0]``), as ``torch.utils.dlpack``."""

    kDLCPU = 1
    kDLCUDA = 2
    kDLCUDAHost = 3
    kDLOpenCL = 4
    kDLVulkan = 7
    kDLMetal = 8
    kDLVPI = 9
    kDLROCM = 10
    kDLROCMHost = 11
    kDLExtDev = 12
    kDLCUDAManaged = 13
    kDLOneAPI = 14
    kDLWebGPU = 15
    kDLHexagon = 16
    kDLMAIA = 17


_DEVICE_TYPES = {"cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip",
                 "ve", "fpga", "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia",
                 "privateuseone"}
CPU = device("cpu")
META_DEVICE = device("meta")


def check_device(dev):
    """The device ``dev`` names (None stays None), usable here, or PyTorch's error."""
    if dev is None:
        return None
    d = dev if isinstance(dev, device) else device(dev)
    if d.type == "cpu":
        return d
    if d.type == "cuda":
        from .backend.registry import cuda_module
        cuda_module()  # AssertionError "Torch not compiled with CUDA enabled" without CuPy
        return d
    if d.type == "meta":
        return d
    raise RuntimeError(f"device type '{d.type}' is not supported by chainrule (cpu: NumPy "
                       f"or Dask; cuda: CuPy)")


def device_of(data) -> device:
    """The device an array lives on."""
    if type(data) is np.ndarray:
        return CPU
    from .backend.registry import backend_of
    be = backend_of(data)
    if be.device_type == "cuda":
        return device("cuda", int(getattr(data.device, "id", 0)))
    if be.device_type == "meta":
        return META_DEVICE
    if be.name == "vmap":  # a batched array lives where its values do
        from .backend.batched import physical
        return device_of(physical(data))
    return CPU


def to_device(arr, dev):
    """``arr`` moved to device ``dev`` (a no-op when it is there already; Dask arrays
    count as ``cpu``)."""
    if dev is None:
        return arr
    d = check_device(dev)
    from .backend.registry import NUMPY, backend_of, cupy_backend
    be = backend_of(arr) if type(arr) is not np.ndarray else NUMPY
    if d.type == "meta":
        from .backend.meta import meta_like
        return arr if be.device_type == "meta" else meta_like(arr)
    if be.device_type == "meta":
        raise NotImplementedError("Cannot copy out of meta tensor; no data!")
    if d.type == "cpu":
        return arr if be.device_type == "cpu" else be.to_numpy(arr)
    cp = cupy_backend()
    if be is cp and (d.index is None or device_of(arr).index == d.index):
        return arr
    host = arr if be is NUMPY else be.to_numpy(arr)
    with cp.module.cuda.Device(d.index or 0):
        return cp.module.asarray(host)


class Tensor:
    """A multi-dimensional array that records the operations applied to it.

    Create tensors with ``chainrule.tensor(data, requires_grad=...)`` and friends;
    ``Tensor(data)`` builds a default-float tensor from data and ``Tensor(2, 3)`` an
    uninitialized one of that shape, as in PyTorch.
    """

    # _geo: only set on tensors that share memory without being autograd views
    # (``view(dtype)``, ``detach()`` of a view): their PyTorch geometry, see _geometry
    __slots__ = ("_data", "_node", "_rg", "_vc", "_grad", "_view", "_geo", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, *args, **kwargs) -> None:
        from ._creation import tensor_new
        data = tensor_new(*args, **kwargs)
        self._data = data
        self._node = None
        self._rg = False
        self._vc = [0] if not _INFERENCE_ACTIVE[0] else new_version_counter()
        self._grad = None
        self._view = None

    # -- autograd state -------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        if self._view is not None:
            refresh_view(self)
        return self._rg

    @requires_grad.setter
    def requires_grad(self, flag) -> None:
        self.requires_grad_(bool(flag))

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Mark (or unmark) a leaf as needing gradients."""
        if not self.is_leaf:
            if requires_grad:
                return self
            raise RuntimeError(
                f"you can only change requires_grad flags of leaf variables; this tensor "
                f"is the output of {self._node.name()}. If you want to use a computed "
                f"tensor without gradients, use y = x.detach().")
        if requires_grad and not self._rg:
            if type(self._vc) is not list:
                _inference_requires_grad()
            self._rg = True
            self._node = (_ACCUMULATE_GRAD or _accumulate_grad_class())(self)
        elif not requires_grad:
            self._rg = False
            self._node = None
        return self

    @property
    def grad_fn(self):
        if self._view is not None:
            refresh_view(self)
        node = self._node
        if node is None or node.__class__.__name__ == "AccumulateGrad":
            return None
        return node if node._gather is None else node._gather

    @property
    def is_leaf(self) -> bool:
        if self._view is not None:
            refresh_view(self)
        node = self._node
        return node is None or node.__class__.__name__ == "AccumulateGrad"

    @property
    def grad(self):
        if self._grad is None and not self.is_leaf and not self.retains_grad:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. "
                "Its .grad attribute won't be populated during autograd.backward(). If you "
                "indeed want the .grad field to be populated for a non-leaf Tensor, use "
                ".retain_grad() on the non-leaf Tensor.", UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got "
                                f"{type(value).__name__}")
            if value._data.shape != self._data.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value._data.shape)}' to "
                    f"a tensor of size '{list(self._data.shape)}'. Please ensure that the "
                    f"gradient and the tensor are the same size")
            dt, gdt = value._data.dtype, self._data.dtype
            if dt != gdt and not (gdt.kind != "f" and dt == _dtype.grad_dtype(gdt)):
                names = [_dtype.from_numpy_dtype(d).name for d in (dt, gdt)]
                raise RuntimeError(
                    f"attempting to assign a gradient with dtype '{names[0]}' to a tensor "
                    f"with dtype '{names[1]}'. The gradient must match the tensor's dtype; "
                    f"convert it first, e.g. x.grad = g.to(x.dtype)")
        self._grad = value

    @grad.deleter
    def grad(self) -> None:
        self._grad = None

    @property
    def retains_grad(self) -> bool:
        node = self._node
        ex = None if node is None else node._extra
        return ex is not None and ex.retain is not None and ex.retain() is self

    @property
    def _version(self) -> int:
        if type(self._vc) is not list:
            raise RuntimeError("Inference tensors do not track version counter.")
        return self._vc[0]

    def is_inference(self) -> bool:
        """True for a tensor created inside ``inference_mode`` (or a view of one)."""
        return type(self._vc) is not list

    @property
    def _base(self):
        return None if self._view is None else self._view[0]

    def _is_view(self) -> bool:
        return self._view is not None

    # -- metadata -----------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_norm_dim(dim, self._data.ndim, "size")]

    def dim(self) -> int:
        return self._data.ndim

    ndimension = dim

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return self._data.size

    nelement = numel

    @property
    def dtype(self):
        return _dtype.from_numpy_dtype(self._data.dtype)

    @property
    def device(self):
        return CPU if type(self._data) is np.ndarray else device_of(self._data)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def layout(self):
        return "torch.strided"

    def is_floating_point(self) -> bool:
        return np_dtype(self._data.dtype).kind == "f"

    def is_complex(self) -> bool:
        return False

    def element_size(self) -> int:
        return self._data.itemsize

    def _geometry(self):
        """``(shape, strides, storage_offset)`` in PyTorch's conventions (``_strides``):
        a view replays its steps' geometry from its base; a base reads its array."""
        view = self._view
        base = self if view is None else view[0]
        a = base._data
        geo = getattr(base, "_geo", None)
        if geo is not None and geo[0] != a.shape:
            geo = None  # the data was replaced since (``t.data = ...``)
        if geo is None:
            a = host_array(a)
            # (NumPy gives empty arrays strides 0; Dask and array-api-strict arrays
            # have no strides: row-major to every user)
            if type(a) is not np.ndarray or a.flags.c_contiguous:
                geo = (a.shape, _strides.contiguous_strides(a.shape), 0)
            else:
                size = a.itemsize
                geo = (a.shape, tuple(s // size for s in a.strides), 0)
        if view is not None:
            for op, params in view[1]:
                geo = op.geometry(geo, *params)
        return geo

    def stride(self, dim=None):
        st = self._geometry()[1]
        return st if dim is None else st[_norm_dim(dim, self._data.ndim, "stride")]

    def storage_offset(self) -> int:
        return self._geometry()[2]

    def is_contiguous(self, memory_format=None) -> bool:
        a = host_array(self._data)
        if type(a) is np.ndarray and a.flags.c_contiguous:
            return True
        geo = self._geometry()
        return _strides.is_contiguous(geo[0], geo[1])

    def data_ptr(self) -> int:
        return self._data.__array_interface__["data"][0]

    # -- data access ------------------------------------------------------------------
    @property
    def data(self) -> Tensor:
        """The same memory without autograd history and with its own version counter."""
        return wrap(self._data)

    @data.setter
    def data(self, value: Tensor) -> None:
        if WRITE_WATCH:  # Note [copy before write]: the old memory is what a call saw
            before_write(self)
        self._data = value._data

    def item(self):
        if type(self._data).__name__ == "MetaArray":
            raise RuntimeError("Tensor.item() cannot be called on meta tensors")
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar; "
                f"item() needs exactly one element (shape {list(self._data.shape)}). Index "
                f"one element first, e.g. t[0].item(), or use t.tolist().")
        return self._host().reshape(()).item()

    def tolist(self):
        _no_meta_values(self)
        return self._host().tolist()

    def _host(self) -> np.ndarray:
        """The values as a NumPy array: the data itself on NumPy; a Dask array is
        computed, a CuPy array copied to the host."""
        a = self._data
        if type(a) is np.ndarray:
            return a
        if self._view is not None:  # Note [writes without shared memory]
            refresh_view(self)
            a = self._data
        from .backend.registry import backend_of
        return backend_of(a).to_numpy(a)

    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The underlying array, sharing memory (no copy); a Dask tensor is computed."""
        if self.requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead.")
        if type(self._data) is not np.ndarray and self.device.type in ("cuda", "meta") \
                and not force:
            where = "cuda:0" if self.device.type == "cuda" else "meta"
            raise TypeError(f"can't convert {where} device type tensor to numpy. Use "
                            f"Tensor.cpu() to copy the tensor to host memory first.")
        return self._host()

    def __array__(self, dtype=None, copy=None):
        if self._rg:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead. (np.asarray(t) converts through numpy(); the array would silently "
                "leave the graph.)")
        _no_meta_values(self)
        a = self._host()
        if dtype is not None:
            a = a.astype(dtype, copy=False)
        return a.copy() if copy else a

    def __array_wrap__(self, array, context=None, return_scalar=False):
        """NumPy functions that go through ``np.asarray`` (``np.argmax(t)`` ...) give a
        Tensor back, as PyTorch's (which converts bool results to uint8; here they stay
        bool)."""
        return wrap(np.asarray(array))

    __array_ufunc__ = None  # set in _ufuncs.py: Note [NumPy ufuncs on tensors]

    # -- DLPack: Note [DLPack] in utils/dlpack.py --------------------------------------
    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule sharing this tensor's memory (``np.from_dlpack(t)``,
        ``torch.from_dlpack(t)``); a tensor that requires grad is refused, as in PyTorch."""
        if self.requires_grad:
            raise BufferError("Can't export tensors that require gradient, use "
                              "tensor.detach()")
        if self._view is not None:
            refresh_view(self)
        a = self._data
        export = getattr(a, "__dlpack__", None)
        if export is None:
            raise BufferError(
                f"__dlpack__: this tensor's {type(a).__module__}.{type(a).__name__} array "
                f"has no DLPack export (Dask arrays are lazy): compute it first "
                f"(chainrule.compute(t)[0] gives a NumPy-backed tensor)")
        kwargs = {k: v for k, v in (("max_version", max_version), ("dl_device", dl_device),
                                    ("copy", copy)) if v is not None}
        if stream is not None and stream != -1:
            kwargs["stream"] = stream
        return export(**kwargs)

    def __dlpack_device__(self):
        """``(DLDeviceType, index)`` of the memory ``__dlpack__`` exports."""
        d = self.device
        if d.type == "cuda":
            return (DLDeviceType.kDLCUDA, d.index or 0)
        return (DLDeviceType.kDLCPU, 0)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __bool__(self) -> bool:
        if type(self._data).__name__ == "MetaArray":
            raise RuntimeError("Tensor.item() cannot be called on meta tensors")
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with more than one value is ambiguous "
                f"(shape {list(self._data.shape)}); use .any() or .all(), or compare a "
                f"single element.")
        return bool(self._host().reshape(()))

    def __float__(self) -> float:
        return float(self._scalar())

    def __int__(self) -> int:
        return int(self._scalar())

    def _scalar(self):
        if type(self._data).__name__ == "MetaArray":
            raise RuntimeError("Tensor.item() cannot be called on meta tensors")
        if self._data.size != 1:
            raise ValueError(f"only one element tensors can be converted to Python scalars "
                             f"(this one has shape {list(self._data.shape)})")
        return self._host().reshape(()).item()

    def __index__(self) -> int:
        if np_dtype(self._data.dtype).kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to "
                            "an index")
        return int(self.item())

    def __complex__(self) -> complex:
        return complex(self.item())

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        node = self.grad_fn
        if type(self._data).__name__ == "MetaArray":  # no values: PyTorch's form
            extra = f", dtype={self.dtype}" if self.dtype != _default_dtype() else ""
            grad = (f", grad_fn=<{type(node).__name__}>" if node is not None else
                    ", requires_grad=True" if self.requires_grad else "")
            return f"tensor(..., device='meta', size={tuple(self.shape)}{extra}{grad})"
        return tensor_repr(self._host(), None if node is None else type(node).__name__,
                           self.requires_grad)

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0 and spec:
            return format(self.item(), spec)
        return repr(self)

    def __reduce_ex__(self, protocol):
        from ._creation import tensor
        return (tensor, (self._host().copy(),), None)

    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol at the moment.")
        t = wrap(self._data.copy())
        if self._rg:
            t.requires_grad_()
        if self._grad is not None:
            t._grad = wrap(self._grad._data.copy())
        memo[id(self)] = t
        return t

    # -- devices and dtypes -------------------------------------------------------------
    def cpu(self, memory_format=None) -> Tensor:
        if type(self._data) is np.ndarray:
            return self
        return self.to("cpu")

    def cuda(self, device=None, non_blocking=False, memory_format=None) -> Tensor:
        if isinstance(device, int) and not isinstance(device, bool):
            device = f"cuda:{device}"
        return self.to(device or "cuda", non_blocking=non_blocking)

    def get_device(self) -> int:
        d = self.device
        return -1 if d.type == "cpu" else (d.index or 0)


def _norm_dim(dim: int, ndim: int, op: str) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of "
                         f"[{-n}, {n - 1}], but got {dim})")
    return dim % n


_new = object.__new__


def wrap(data: np.ndarray, node=None) -> Tensor:
    """A Tensor around an ndarray (no copy); requires grad iff ``node`` is given."""
    t = _new(Tensor)
    t._data = data
    t._node = node
    t._rg = node is not None
    t._vc = [0]
    t._grad = None
    t._view = None
    return t


def _wrap_in_inference_mode(data: np.ndarray, node=None) -> Tensor:
    t = _new(Tensor)
    t._data = data
    t._node = node
    t._rg = node is not None
    t._vc = new_version_counter()
    t._grad = None
    t._view = None
    return t


def _wrap_in_trace(data: np.ndarray, node=None) -> Tensor:
    t = _new(Tensor)
    if type(data) is np.ndarray:  # a tensor made inside a traced call: a constant of it
        data = _TRACE_WRAP[0].graph.const(data)
    t._data = data
    t._node = node
    t._rg = node is not None
    t._vc = [0]
    t._grad = None
    t._view = None
    _TRACE_WRAP[0].created.append(_weakref(t))
    return t


_TRACE_WRAP = [None]


def _weakref(t):
    import weakref
    return weakref.ref(t)


# Note [inference wrap]: while some thread is inside inference_mode, ``wrap`` runs the
# body above, which marks new tensors (Note [inference tensors] in _grad_mode.py).  Its
# code object is swapped rather than tested on every call: every module holds the same
# ``wrap`` function, and the common case pays nothing (a test costs ~3% on no-grad ops).
_WRAP_CODE = (wrap.__code__, _wrap_in_inference_mode.__code__)


def set_inference_wrap(on: bool) -> None:
    wrap.__code__ = _WRAP_CODE[bool(on)]


def set_trace_wrap(hooks) -> None:
    """While ``chainrule.compile`` traces a call, new tensors get traced data
    (``_compile/tracing.py``); ``hooks``: the trace's, or None to stop."""
    _TRACE_WRAP[0] = hooks
    wrap.__code__ = _wrap_in_trace.__code__ if hooks is not None else _WRAP_CODE[0]


def host_array(a):
    """The array whose layout a tensor's strides follow: its data, or inside
    ``chainrule.compile``'s trace the real NumPy array a traced value carries (the
    generated code makes the same NumPy calls, so the same layouts)."""
    return a.value if type(a) is _TraceArray else a


# Note [copy before write]: a gradient with ``create_graph=True`` through a compiled call
# runs the call again eagerly, on its inputs as the call saw them (Note [create_graph
# through a compiled call] in _compile/compiled.py).  Copying every input on every call
# would cost a pass over each parameter per step; instead a call that may be
# differentiated again lists the version counters of its inputs here, and the first
# in-place write into such memory afterwards (through any view or alias: they share the
# counter) lets the call copy the old value first.  {id(version counter): {id(node):
# weakref(node)}}; nodes remove themselves when released or freed.
WRITE_WATCH: dict = {}


def before_write(t) -> None:
    """Called before ``t``'s memory is written in place while WRITE_WATCH is not empty."""
    watchers = WRITE_WATCH.pop(id(t._vc), None)
    if watchers:
        vc = t._vc
        for ref in list(watchers.values()):
            node = ref()
            if node is not None:
                node._copy_before_write(vc)


_ACCUMULATE_GRAD = None


def _accumulate_grad_class():
    """``autograd.node.AccumulateGrad``, imported on first use (a layer above this one)."""
    global _ACCUMULATE_GRAD
    from .autograd.node import AccumulateGrad
    _ACCUMULATE_GRAD = AccumulateGrad
    return AccumulateGrad


def _inference_requires_grad():
    from ._grad_mode import STATE
    if not STATE.inference:
        raise RuntimeError("Setting requires_grad=True on inference tensor outside "
                           "InferenceMode is not allowed.")


def refresh_view(t: Tensor) -> None:
    """Regenerate a view's grad_fn when its base changed in place (Note [tensor slots])."""
    base, steps, seen = t._view
    if seen == base._vc[0]:
        return
    from ._grad_mode import STATE
    from .backend._replay import replay_raw
    from .ops._record import replay_view
    data = base._data
    if type(data) is not np.ndarray:
        from .backend.registry import backend_of
        if not backend_of(data).shares_memory:
            # Note [writes without shared memory] in ops/_record.py: the base was written
            # (through it or another view): this view's data is derived again
            t._data = replay_raw(data, steps)
    if base._rg:
        prev, STATE.enabled = STATE.enabled, True
        try:
            t._node = replay_view(base, steps)._node
        finally:
            STATE.enabled = prev
        t._rg = True
    t._view = (base, steps, base._vc[0])


def _default_dtype():
    from ._dtype import get_default_dtype
    return get_default_dtype()


def _no_meta_values(t) -> None:
    if type(t._data).__name__ == "MetaArray":
        raise NotImplementedError("Cannot copy out of meta tensor; no data!")
