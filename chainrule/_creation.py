"""Tensor creation: ``tensor``, ``zeros``, ``arange``, random tensors, NumPy interop."""

from __future__ import annotations

import numbers

import numpy as np

from . import _dtype
from ._dtype import get_default_dtype, to_dtype
from ._tensor import Tensor, check_device, wrap

__all__ = ["tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "empty",
           "zeros_like", "ones_like", "full_like", "empty_like", "arange", "linspace",
           "logspace", "eye", "rand", "randn", "randint", "randperm", "rand_like",
           "randn_like", "randint_like", "manual_seed", "seed", "initial_seed",
           "Generator", "default_generator", "scalar_tensor", "normal"]


def _infer(data):
    """The default dtype PyTorch infers from Python data (bool < int < float); an empty
    list gives the default float dtype."""
    kind = -1
    stack = [data]
    while stack:
        d = stack.pop()
        if isinstance(d, Tensor):
            return None
        if isinstance(d, (list, tuple)):
            if d and isinstance(d[0], str):
                raise ValueError(f"too many dimensions 'str': tensor() got the string "
                                 f"{d[0]!r:.40} in its data; convert it to a number first")
            stack.extend(d)
        elif isinstance(d, (bool, np.bool_)):
            kind = max(kind, 0)
        elif isinstance(d, numbers.Integral):
            kind = max(kind, 1)
        elif isinstance(d, numbers.Real):
            kind = 2
        elif isinstance(d, numbers.Complex):
            raise TypeError("chainrule supports real dtypes only for now; got complex data. "
                            "Pass the real and imaginary parts as separate tensors.")
        elif isinstance(d, np.ndarray):
            return None
        elif isinstance(d, str):
            raise TypeError("new(): invalid data type 'str'; tensor() takes numbers or "
                            "(nested) sequences of numbers")
        else:
            raise RuntimeError(f"Could not infer dtype of {type(d).__name__}: tensor() data "
                               f"must be numbers, (nested) lists/tuples of numbers, NumPy "
                               f"arrays or tensors, got {d!r:.60}")
    return (_dtype.bool_, _dtype.int64, get_default_dtype())[max(kind, 0) if kind >= 0
                                                              else 2].np


def _to_array(data, dtype=None) -> np.ndarray:
    if isinstance(data, Tensor):
        arr = data._data
    elif isinstance(data, np.ndarray):
        arr = data
    elif isinstance(data, np.generic):
        arr = np.asarray(data)
    else:
        inferred = _infer(data)
        if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in _flat(data)):
            data = _tensors_to_lists(data)
        try:
            arr = np.array(data, dtype=inferred)
        except ValueError as exc:
            raise ValueError(
                f"tensor(): expected a rectangular (non-ragged) nested sequence; every row "
                f"must have the same length ({exc})") from None
        if arr.dtype == object:
            raise ValueError("tensor(): expected a rectangular (non-ragged) nested sequence "
                             "of numbers")
    if arr.dtype.kind in "USO":
        raise TypeError(f"tensor(): new(): invalid data type '{arr.dtype.name}'; data must "
                        f"be numeric")
    if arr.dtype.kind == "c":
        _dtype.from_numpy_dtype(arr.dtype)  # raises the complex message
    if dtype is not None:
        arr = arr.astype(to_dtype(dtype).np, copy=False)
    elif arr.dtype not in _dtype._BY_NP:
        arr = arr.astype(_dtype.from_numpy_dtype(arr.dtype).np)
    return arr


def _flat(data):
    for d in data:
        if isinstance(d, (list, tuple)):
            yield from _flat(d)
        else:
            yield d


def _tensors_to_lists(data):
    if isinstance(data, Tensor):
        return data._data.tolist()
    if isinstance(data, (list, tuple)):
        return [_tensors_to_lists(d) for d in data]
    return data


def _finish(arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = wrap(arr)
    if requires_grad:
        t.requires_grad_()
    return t


_FAST_KINDS = {"b": None, "i": np.dtype(np.int64), "f": None}


def tensor(data, dtype=None, device=None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of ``data``.

    Unlike PyTorch 2.x, integer tensors may require grad; their ``.grad`` is floating
    (the default float dtype), see the PyTorch guide in the docs.
    """
    if device is not None:
        check_device(device)
    if type(data) is list and dtype is None:
        arr = _fast_list(data)
        if arr is not None:
            return _finish(arr, requires_grad)
    arr = _to_array(data, dtype)
    arr = np.array(arr, copy=True, order="C")
    return _finish(arr, requires_grad)


def _fast_list(data):
    """Plain nested lists of Python numbers: let NumPy infer, then apply PyTorch's
    defaults (Python floats -> default float).  None when the slow path must decide."""
    try:
        arr = np.array(data)
    except (ValueError, TypeError):
        return None
    kind = arr.dtype.kind
    if kind == "f":
        if arr.dtype != np.float64 or not _python_floats(data):
            return None
        default = get_default_dtype().np
        return arr if default == np.float64 else arr.astype(default)
    if kind == "i" or kind == "b":
        return arr if kind == "b" or arr.dtype == np.int64 else None
    return None


def _python_floats(data) -> bool:
    d = data
    while type(d) is list and d:
        d = d[0]
    return type(d) is float or type(d) is int


def scalar_tensor(s, dtype=None, device=None, requires_grad=False) -> Tensor:
    return tensor(float(s), dtype=dtype or get_default_dtype(), requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory with an ndarray or tensor when it can."""
    check_device(device)
    if isinstance(data, Tensor) and (dtype is None or to_dtype(dtype).np == data._data.dtype):
        return data
    arr = _to_array(data, dtype)
    return wrap(arr)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``ndarray`` (writes show on both sides)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    _dtype.from_numpy_dtype(ndarray.dtype)
    return wrap(ndarray)


def _size(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = []
    for s in size:
        if isinstance(s, Tensor):
            s = int(s)
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"size must be a sequence of ints, got {type(s).__name__} ({s!r})")
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: "
                               f"{list(size)}")
        out.append(int(s))
    return tuple(out)


def _np_dtype(dtype, default=None):
    if dtype is None:
        return (default or get_default_dtype()).np
    return to_dtype(dtype).np


def _filled(fill, size, dtype, device, requires_grad, out=None):
    check_device(device)
    shape = _size(size)
    arr = np.full(shape, fill, dtype=_np_dtype(dtype))
    if out is not None:
        out._data = arr
        return out
    return _finish(arr, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None,
          pin_memory=False) -> Tensor:
    return _filled(0, size, dtype, device, requires_grad, out)


def ones(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None,
         pin_memory=False) -> Tensor:
    return _filled(1, size, dtype, device, requires_grad, out)


def empty(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None,
          pin_memory=False, memory_format=None) -> Tensor:
    check_device(device)
    return _finish(np.empty(_size(size), dtype=_np_dtype(dtype)), requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False, out=None,
         layout=None) -> Tensor:
    if dtype is None:
        if isinstance(fill_value, Tensor):
            fill_value = fill_value.item()
        if isinstance(fill_value, bool):
            dtype = _dtype.bool_
        elif isinstance(fill_value, numbers.Integral):
            dtype = _dtype.int64
    return _filled(fill_value, (size,) if isinstance(size, int) else size, dtype, device,
                   requires_grad, out)


def _like(t, dtype):
    if not isinstance(t, Tensor):
        raise TypeError(f"expected a Tensor, got {type(t).__name__}")
    return t._data.shape, (t._data.dtype if dtype is None else to_dtype(dtype).np)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False, layout=None,
               memory_format=None) -> Tensor:
    shape, dt = _like(input, dtype)
    return _finish(np.zeros(shape, dt), requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False, layout=None,
              memory_format=None) -> Tensor:
    shape, dt = _like(input, dtype)
    return _finish(np.ones(shape, dt), requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False,
              layout=None, memory_format=None) -> Tensor:
    shape, dt = _like(input, dtype)
    return _finish(np.full(shape, fill_value, dt), requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False, layout=None,
               memory_format=None) -> Tensor:
    shape, dt = _like(input, dtype)
    return _finish(np.empty(shape, dt), requires_grad)


def _num(v):
    return v.item() if isinstance(v, Tensor) else v


def arange(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad=False,
           out=None, layout=None) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive); int64 when all arguments are ints."""
    check_device(device)
    start, end, step = _num(start), _num(end), _num(step)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if dtype is None:
        ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = _dtype.int64 if ints else get_default_dtype()
    dt = to_dtype(dtype).np
    n = max(0, int(np.ceil((end - start) / step)))
    arr = (start + step * np.arange(n, dtype=np.float64 if dt.kind == "f" else np.int64))
    return _finish(arr.astype(dt), requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False,
             out=None, layout=None) -> Tensor:
    check_device(device)
    dt = _np_dtype(dtype)
    arr = np.linspace(_num(start), _num(end), int(steps)).astype(dt)
    return _finish(arr, requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None,
             requires_grad=False) -> Tensor:
    dt = _np_dtype(dtype)
    return _finish(np.logspace(_num(start), _num(end), int(steps), base=base).astype(dt),
                   requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False, out=None,
        layout=None) -> Tensor:
    check_device(device)
    return _finish(np.eye(int(n), None if m is None else int(m), dtype=_np_dtype(dtype)),
                   requires_grad)


# ---- random --------------------------------------------------------------------------
# Note [random streams]: chainrule draws from NumPy's PCG64, so manual_seed(s) makes
# runs reproducible but does not reproduce PyTorch's numbers for the same seed.

class Generator:
    """A random number generator (``torch.Generator``), backed by NumPy's PCG64."""

    def __init__(self, device="cpu") -> None:
        self._seed = 67280421310721
        self._rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed: int) -> Generator:
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed)
        return self

    def seed(self) -> int:
        s = int(np.random.SeedSequence().entropy % (2 ** 63))
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self):
        return self._rng.bit_generator.state

    def set_state(self, state) -> None:
        self._rng.bit_generator.state = state


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (reproducible runs; not PyTorch's stream)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def _rng(generator):
    return (generator or default_generator)._rng


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False,
         out=None) -> Tensor:
    """Uniform samples on [0, 1)."""
    check_device(device)
    dt = _np_dtype(dtype)
    return _finish(_rng(generator).random(_size(size)).astype(dt), requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False,
          out=None) -> Tensor:
    """Standard normal samples."""
    check_device(device)
    dt = _np_dtype(dtype)
    return _finish(_rng(generator).standard_normal(_size(size)).astype(dt), requires_grad)


def randint(low=0, high=None, size=None, *, generator=None, dtype=None, device=None,
            requires_grad=False) -> Tensor:
    """Integers uniform on [low, high); ``randint(high, size)`` also works."""
    check_device(device)
    if size is None:
        if isinstance(high, (tuple, list)):
            low, high, size = 0, low, high
        else:
            raise TypeError("randint() missing required argument 'size'")
    if high is None:
        low, high = 0, low
    dt = _np_dtype(dtype, _dtype.int64)
    return _finish(_rng(generator).integers(low, high, _size((size,) if isinstance(size, int)
                                                             else size)).astype(dt),
                   requires_grad)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    dt = _np_dtype(dtype, _dtype.int64)
    return _finish(_rng(generator).permutation(int(n)).astype(dt), requires_grad)


def rand_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dt = _like(input, dtype)
    return _finish(_rng(None).random(shape).astype(dt), requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dt = _like(input, dtype)
    return _finish(_rng(None).standard_normal(shape).astype(dt), requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, device=None,
                 requires_grad=False) -> Tensor:
    if high is None:
        low, high = 0, low
    shape, dt = _like(input, dtype)
    return _finish(_rng(None).integers(low, high, shape).astype(dt), requires_grad)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None,
           requires_grad=False) -> Tensor:
    m = mean._data if isinstance(mean, Tensor) else mean
    s = std._data if isinstance(std, Tensor) else std
    shape = _size(size) if size is not None else np.broadcast(m, s).shape
    arr = _rng(generator).normal(m, s, shape)
    dt = _np_dtype(dtype) if dtype is not None or not isinstance(mean, Tensor) else m.dtype
    return _finish(arr.astype(dt), requires_grad)


def tensor_new(*args, **kwargs) -> np.ndarray:
    """Data for ``Tensor(...)``: ``Tensor(2, 3)`` is uninitialized, ``Tensor([1, 2])``
    holds the data as the default float dtype."""
    if args and all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        return np.zeros(args, dtype=get_default_dtype().np)
    if not args:
        return np.zeros((0,), dtype=get_default_dtype().np)
    return np.array(_to_array(args[0], kwargs.get("dtype") or get_default_dtype()), copy=True)
