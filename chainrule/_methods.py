"""Attach operators and methods to ``Tensor``.

Operators call the op table directly (the hot path); named methods are the public
functions, bound with the tensor as first argument.  Each op family module lists its
methods in ``TENSOR_METHODS``.
"""

from __future__ import annotations

import numpy as np

from . import _dtype as _dt
from . import _functions as F
from ._args import int_arg, lazy_boundary, type_name
from ._dtype import to_dtype
from ._grad_mode import STATE
from ._tensor import WRITE_WATCH, Tensor, before_write, check_device
from ._tensor import device as _device
from .autograd.forward_ad import STATE as _FW
from .backend.array_api import np_dtype
from .backend.trace import refuse as _refuse
from .ops import elementwise as E
from .ops import views as V
from .ops._core import inplace, unary

_ADD, _SUB, _MUL, _DIV, _POW = E.ADD, E.SUB, E.MUL, E.DIV, E.POW
_NEG = E.UNARY["neg"]
_BOOL = np.dtype(np.bool_)


def _reflected(op):
    def method(self, other):
        return op.apply2(other, self)
    method.__name__ = f"__r{op.name}__"
    return method


def _neg(self):
    d = self._data
    if d.dtype is _BOOL or (type(d) is not np.ndarray and np_dtype(d.dtype).kind == "b"):
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If "
                           "you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")
    return unary(_NEG, self)


def _invert(self):
    if np_dtype(self._data.dtype).kind not in "biu":
        raise TypeError("~ (bitwise_not) is only supported for integer and bool tensors")
    return F.bitwise_not(self)


def _matmul(self, other):
    from .ops.linalg import matmul
    return matmul(self, other)


def _rmatmul(self, other):
    from .ops.linalg import matmul
    return matmul(other, self)


def _inplace_binary(op):
    def method(self, other, *, alpha=1):
        if alpha != 1 or type(alpha) is not int:
            other = F._alpha(self, other, alpha, op.name + "_")
        if op is _SUB:
            F._check_bool_sub(self, other)
        return inplace(op, self, other)
    method.__name__ = op.name + "_"
    return method


def _iop(op):
    def method(self, other):
        return inplace(op, self, other)
    return method


_OPERATORS = {
    "__add__": _ADD.apply2, "__radd__": _reflected(_ADD), "__sub__": _SUB.apply2,
    "__rsub__": _reflected(_SUB), "__mul__": _MUL.apply2, "__rmul__": _reflected(_MUL),
    "__truediv__": _DIV.apply2, "__rtruediv__": _reflected(_DIV), "__pow__": _POW.apply2,
    "__rpow__": _reflected(_POW), "__neg__": _neg,
    "__pos__": lambda self: self, "__abs__": lambda self: F.abs(self),
    "__invert__": _invert, "__matmul__": _matmul, "__rmatmul__": _rmatmul,
    "__floordiv__": lambda self, o: F.floor_divide(self, o),
    "__rfloordiv__": lambda self, o: F.floor_divide(o, self),
    "__mod__": lambda self, o: F.remainder(self, o),
    "__rmod__": lambda self, o: F.remainder(o, self),
    "__eq__": lambda self, o: False if o is None else F.eq(self, o),
    "__ne__": lambda self, o: True if o is None else F.ne(self, o),
    "__lt__": lambda self, o: F.lt(self, o), "__le__": lambda self, o: F.le(self, o),
    "__gt__": lambda self, o: F.gt(self, o), "__ge__": lambda self, o: F.ge(self, o),
    "__and__": lambda self, o: F.bitwise_and(self, o),
    "__rand__": lambda self, o: F.bitwise_and(o, self),
    "__or__": lambda self, o: F.bitwise_or(self, o),
    "__ror__": lambda self, o: F.bitwise_or(o, self),
    "__xor__": lambda self, o: F.bitwise_xor(self, o),
    "__rxor__": lambda self, o: F.bitwise_xor(o, self),
    "__iadd__": _iop(_ADD), "__isub__": _inplace_binary(_SUB), "__imul__": _iop(_MUL),
    "__itruediv__": _iop(_DIV), "__ipow__": _iop(_POW),
    "__ifloordiv__": _iop(E.FLOOR_DIVIDE), "__imod__": _iop(E.REMAINDER),
    "__iand__": _iop(E.COMPARE["bitwise_and"]), "__ior__": _iop(E.COMPARE["bitwise_or"]),
    "__ixor__": _iop(E.COMPARE["bitwise_xor"]),
    "__lshift__": lambda self, o: F.bitwise_left_shift(self, o),
    "__rlshift__": lambda self, o: F.bitwise_left_shift(o, self),
    "__rshift__": lambda self, o: F.bitwise_right_shift(self, o),
    "__rrshift__": lambda self, o: F.bitwise_right_shift(o, self),
    "__ilshift__": _iop(E.SHIFTS["bitwise_left_shift"]),
    "__irshift__": _iop(E.SHIFTS["bitwise_right_shift"]),
    "__getitem__": V.getitem, "__setitem__": V.setitem,
}


# ---- in-place methods ----------------------------------------------------------------------

def zero_(self):
    """Fill with zeros in place (the gradient to the old value is zero)."""
    return _fill(self, 0)


def fill_(self, value):
    """Fill with ``value`` in place (a number is checked against the dtype's range)."""
    if not isinstance(value, Tensor):
        dt = self._data.dtype
        value = _dt.checked_scalar(value, dt if type(self._data) is np.ndarray else np_dtype(
            dt), "fill_")
    return _fill(self, value)


def _fill(self, value):
    if (not (self._rg and STATE.enabled) and self._view is None
            and not isinstance(value, Tensor) and not _FW.on
            and type(self._data) is np.ndarray):
        # nothing to record: write in place directly (x.grad.zero_() is a hot path)
        if not self._data.flags.writeable or type(self._vc) is not list:
            # raises the expand error, or refuses an inference tensor outside inference mode
            return inplace(V.COPY, self, value, params=((),))
        if WRITE_WATCH:
            before_write(self)  # Note [copy before write] in _tensor.py
        self._data.fill(value)
        self._vc[0] += 1
        return self
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor "
                               f"with {value._data.ndim} dimensions.")
    return inplace(V.COPY, self, value, params=(np.shape(value._data) if isinstance(
        value, Tensor) else (),))


def clamp_(self, min=None, max=None):
    F._check_clamp(self, min, max, "clamp")
    return inplace(F.CLAMP, self, min, max)


def detach(self):
    """A tensor sharing data and version counter, cut from the graph."""
    from ._tensor import wrap
    t = wrap(self._data)
    t._vc = self._vc
    if self._view is not None or getattr(self, "_geo", None) is not None:
        t._geo = self._geometry()  # the same storage, strides and offset
    return t


def detach_(self):
    if self._view is not None:
        raise RuntimeError("Can't detach views in-place. Use detach() instead.")
    self._node = None
    self._rg = False
    return self


def retain_grad(self):
    """Keep ``.grad`` for this non-leaf tensor after backward."""
    if self.is_leaf:
        if not self._rg:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        return
    import weakref
    _refuse("retain_grad() inside the function")
    self._node.extra().retain = weakref.ref(self)
    return


def register_hook(self, hook):
    """``hook(grad)`` runs when this tensor's gradient is computed, before it is used or
    accumulated; returning a tensor replaces the gradient."""
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    from .autograd.node import _Handle
    _refuse("a tensor hook registered inside the function")
    return _Handle(self._node.extra().pre_hooks, ("tensor", hook))


def register_post_accumulate_grad_hook(self, hook):
    """``hook(tensor)`` runs after ``.grad`` of this leaf was updated."""
    from .autograd.node import _Handle
    if not self.is_leaf or not self._rg:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                           "tensors")
    return _Handle(self._node.extra().post_acc_hooks, hook)


def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate vᵀJ into ``.grad`` of the leaves, v = ``gradient`` (1 for a scalar)."""
    _autograd_backward()(self, None if gradient is None else [gradient], retain_graph,
                         create_graph, inputs=inputs)


def _autograd_backward():
    """``autograd.backward``, imported on first use (autograd sits above this layer)."""
    global _AUTOGRAD_BACKWARD
    if _AUTOGRAD_BACKWARD is None:
        from .autograd import backward as _AUTOGRAD_BACKWARD
    return _AUTOGRAD_BACKWARD


_AUTOGRAD_BACKWARD = None


# ---- conversions -----------------------------------------------------------------------------

def to(self, *args, **kwargs):
    from .ops.devices import move
    """``to(dtype)``, ``to('cpu')``, ``to(other)``; returns ``self`` when nothing changes."""
    dtype = kwargs.pop("dtype", None)
    copy = kwargs.pop("copy", False)
    dev = kwargs.pop("device", None)
    kwargs.pop("non_blocking", None)  # copies are synchronous here
    kwargs.pop("memory_format", None)
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
            dev = a.device
        elif isinstance(a, (str, _device)):
            dev = a
            continue
        elif isinstance(a, (bool, np.bool_)):  # a number is PyTorch's ``other`` tensor
            dtype = _dt.bool_
        elif isinstance(a, (float, np.floating)):
            dtype = _dt.float64
        elif isinstance(a, (int, np.integer)):  # PyTorch: an accelerator's device index
            index = int_arg(a, "to", "device")
            raise RuntimeError("Device index must not be negative" if index < 0 else
                               f"to(): device index {index} names an accelerator; chainrule "
                               f"runs on the CPU only")
        elif a is not None:
            dtype = a
    check_device(dev)
    out = self if dev is None else move(self, dev)
    if dtype is None:
        return out.clone() if copy and out is self else out
    return V.to_dtype(out, to_dtype(dtype).np, copy and out is self)


def _caster(name):
    target = getattr(_dt, name if name != "bool" else "bool_")

    def method(self, memory_format=None):
        return to(self, target)
    method.__name__ = name
    return method


def type_(self, dtype=None, non_blocking=False):
    if dtype is not None and not isinstance(dtype, (str, type, _dt.dtype)):
        raise TypeError("dtype must be a type, str, or dtype object")
    if isinstance(dtype, type):  # torch.FloatTensor and friends (chainrule/_compat.py)
        dtype = getattr(dtype, "_dtype", None) or "torch.FloatTensor"
    if isinstance(dtype, str):
        dtype = {"torch.FloatTensor": _dt.float32, "torch.DoubleTensor": _dt.float64,
                 "torch.LongTensor": _dt.int64, "torch.IntTensor": _dt.int32,
                 "torch.BoolTensor": _dt.bool_, "torch.HalfTensor": _dt.float16,
                 "torch.ShortTensor": _dt.int16, "torch.CharTensor": _dt.int8,
                 "torch.ByteTensor": _dt.uint8}.get(dtype, dtype)
        if isinstance(dtype, str):
            if dtype.startswith("torch.cuda."):
                check_device("cuda")
            raise ValueError(f"invalid type: '{dtype}'")
    if dtype is None:
        return {"float32": "torch.FloatTensor", "float64": "torch.DoubleTensor",
                "float16": "torch.HalfTensor", "int64": "torch.LongTensor",
                "int32": "torch.IntTensor", "int16": "torch.ShortTensor",
                "int8": "torch.CharTensor", "uint8": "torch.ByteTensor",
                "bool": "torch.BoolTensor"}[self.dtype.name]
    return to(self, dtype)


def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    from ._creation import tensor
    return tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)


def _new_filled(fill, op="new_full"):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        from ._creation import _size
        from ._tensor import wrap
        dt = self._data.dtype if dtype is None else to_dtype(dtype).np
        from ._creation import _fill_scalar
        value = _dt.checked_scalar(_fill_scalar(fill, op), dt, op)
        t = wrap(np.full(_size(size), value, dtype=dt))
        return t.requires_grad_() if requires_grad else t
    return method


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    return _new_filled(fill_value)(self, *size, dtype=dtype, requires_grad=requires_grad)


_METHODS = {
    "add": F.add, "sub": F.sub, "subtract": F.sub, "mul": F.mul, "multiply": F.mul,
    "div": F.div, "divide": F.div, "true_divide": F.true_divide, "floor_divide": F.floor_divide,
    "remainder": F.remainder, "fmod": F.fmod, "pow": F.pow, "atan2": F.atan2,
    "arctan2": F.atan2, "maximum": F.maximum, "minimum": F.minimum, "fmax": F.fmax,
    "fmin": F.fmin, "clamp": F.clamp, "clip": F.clamp, "clamp_min": F.clamp_min,
    "clamp_max": F.clamp_max, "where": lambda self, cond, other: F.where(cond, self, other),
    "lerp": F.lerp, "isclose": F.isclose, "allclose": F.allclose, "equal": F.equal,
    "eq": F.eq, "ne": F.ne, "lt": F.lt, "le": F.le, "gt": F.gt, "ge": F.ge,
    "greater": F.gt, "less": F.lt, "greater_equal": F.ge, "less_equal": F.le,
    "not_equal": F.ne, "logical_and": F.logical_and, "logical_or": F.logical_or,
    "logical_xor": F.logical_xor, "logical_not": F.logical_not,
    "bitwise_not": F.bitwise_not, "isnan": F.isnan, "isinf": F.isinf,
    "isfinite": F.isfinite, "signbit": F.signbit, "nan_to_num": F.nan_to_num,
    "nonzero": F.nonzero, "float_power": F.float_power,
    "bitwise_left_shift": F.bitwise_left_shift, "bitwise_right_shift": F.bitwise_right_shift,
    "bitwise_left_shift_": _iop(E.SHIFTS["bitwise_left_shift"]),
    "bitwise_right_shift_": _iop(E.SHIFTS["bitwise_right_shift"]),
    "negative": F.neg, "absolute": F.abs, "arcsin": F.asin, "arccos": F.acos,
    "arctan": F.atan,
    "zero_": zero_, "fill_": fill_, "clamp_": clamp_, "clip_": clamp_, "detach": detach,
    "detach_": detach_, "retain_grad": retain_grad, "register_hook": register_hook,
    "register_post_accumulate_grad_hook": register_post_accumulate_grad_hook,
    "backward": backward, "to": to, "type": type_, "new_tensor": new_tensor,
    "new_zeros": _new_filled(0), "new_ones": _new_filled(1), "new_empty": _new_filled(0),
    "new_full": new_full,
    "float": _caster("float32"), "double": _caster("float64"), "half": _caster("float16"),
    "long": _caster("int64"), "int": _caster("int32"), "short": _caster("int16"),
    "bool": _caster("bool"), "byte": _caster("uint8"), "char": _caster("int8"),
    "add_": _inplace_binary(_ADD), "sub_": _inplace_binary(_SUB), "mul_": _iop(_MUL),
    "div_": _iop(_DIV), "pow_": _iop(_POW), "copy_": V.copy_,
    "getitem": V.getitem,
    "reshape": V.reshape, "view": V.view_, "flatten": V.flatten, "unflatten": V.unflatten_method,
    "squeeze": V.squeeze, "unsqueeze": V.unsqueeze, "permute": V.permute,
    "transpose": V.transpose, "swapaxes": V.transpose, "swapdims": V.transpose, "t": V.t,
    "movedim": V.movedim, "moveaxis": V.movedim, "expand": V.expand,
    "broadcast_to": V.broadcast_to, "expand_as": V.expand_as, "narrow": V.narrow,
    "select": V.select, "split": V.split, "chunk": V.chunk, "unbind": V.unbind,
    "diagonal": V.diagonal, "clone": V.clone, "contiguous": V.contiguous,
    "unfold": V.unfold,
    "view_as": lambda self, other: V.view_(self, tuple(other.shape)),
    "reshape_as": lambda self, other: V.reshape(self, tuple(other.shape)),
}
for _n in E.UNARY:
    _METHODS[_n] = E.UNARY[_n].apply1
    _METHODS[_n + "_"] = F.inplace_unary(_n)
_METHODS["round"] = F.round


# ---- in-place random fills (nn.init and ``w.data.normal_(0, 0.02)``) -----------------------

def _random_fill(self, values):
    """Write ``values`` into ``self`` through ``copy_`` (version bump, leaf checks)."""
    from ._tensor import wrap
    if type(values) is not np.ndarray and hasattr(values, "astype"):  # a vmap draw
        return V.copy_(self, wrap(values.astype(self._data.dtype)))
    return V.copy_(self, wrap(np.asarray(values).astype(self._data.dtype, copy=False)))


def _float_arg(v, op, name):
    """A Python float from a number argument of a random fill (PyTorch's TypeError)."""
    if isinstance(v, Tensor) and v._data.size == 1:
        v = v._data.item()
    if not isinstance(v, (int, float, np.number, np.bool_)):  # bool is an int, as PyTorch
        raise TypeError(f"{op}(): argument '{name}' must be float, not {type_name(v)}")
    return float(v)


def _check_floating(self, op):
    if np_dtype(self._data.dtype).kind != "f":
        raise NotImplementedError(f'"{op}" not implemented for '
                                  f"'{_dt.to_dtype(self._data.dtype).name}'")


def uniform_(self, from_=0.0, to=1.0, *, generator=None):
    """Fill with draws from U(from_, to) (chainrule's generator, Note [random streams])."""
    from ._creation import _rng
    from_, to = _float_arg(from_, "uniform_", "from"), _float_arg(to, "uniform_", "to")
    _check_floating(self, "check_uniform_bounds")
    fmax = float(np.finfo(self._data.dtype).max)
    for name, v in (("from", from_), ("to", to)):
        if not -fmax <= v <= fmax:
            raise RuntimeError(f"{name} is out of bounds for {self.dtype}")
    if from_ > to:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={from_:g} > to={to:g}")
    return _random_fill(self, _rng(generator).uniform(from_, to, self._data.shape))


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    """Fill with draws from N(mean, std**2)."""
    from ._creation import _rng
    mean, std = _float_arg(mean, "normal_", "mean"), _float_arg(std, "normal_", "std")
    _check_floating(self, "normal_kernel_cpu")
    if not std >= 0.0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")
    return _random_fill(self, _rng(generator).normal(mean, std, self._data.shape))


def bernoulli_(self, p=0.5, *, generator=None):
    """Fill with 1 with probability ``p``, else 0."""
    from ._creation import _rng
    pd = p._data if isinstance(p, Tensor) else _float_arg(p, "bernoulli_", "p")
    if not isinstance(p, Tensor) and not 0 <= pd <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={pd:g}")
    return _random_fill(self, _rng(generator).random(self._data.shape) < pd)


def exponential_(self, lambd=1.0, *, generator=None):
    from ._creation import _rng
    lambd = _float_arg(lambd, "exponential_", "lambd")
    if not lambd > 0.0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd:g}")
    if np_dtype(self._data.dtype).kind != "f":
        raise RuntimeError(f"Exponential distribution is a continuous probability "
                           f"distribution. dtype must be a floating point but you specified "
                           f"{V._tname(self._data.dtype)}")
    return _random_fill(self, _rng(generator).exponential(1.0 / lambd, self._data.shape))


_METHODS.update({"uniform_": uniform_, "normal_": normal_, "bernoulli_": bernoulli_,
                 "exponential_": exponential_})


@property
def _T(self):
    nd = self._data.ndim
    return V.permute(self, tuple(reversed(range(nd))))  # PermuteBackward0, as PyTorch's


@property
def _mT(self):
    if not self._data.ndim:  # PyTorch: the identity (deprecated) on a 0-d tensor
        import warnings
        warnings.warn("Tensor.mT is deprecated on 0-D tensors. This function is the "
                      "identity in these cases.", UserWarning, stacklevel=2)
        return V.permute(self, ())
    if self._data.ndim < 2:
        raise RuntimeError("tensor.mT is only supported on matrices or batches of matrices. "
                           f"Got {self._data.ndim}-D tensor.")
    return V.transpose(self, -2, -1)


def attach(extra: dict = ()) -> None:
    for name, fn in _OPERATORS.items():
        setattr(Tensor, name, fn)
    for name, fn in {**_METHODS, **dict(extra)}.items():
        # op rows (``x.exp()``) are the hot path and check their own input
        hot = getattr(fn, "__name__", "") in ("apply1", "apply2")
        setattr(Tensor, name, fn if hot else lazy_boundary(
            fn, "Tensor", lambda name=name: Tensor.__dict__.get(name),
            lambda real, name=name: setattr(Tensor, name, real)))
    Tensor.T = _T
    Tensor.mT = _mT
    Tensor.H = _T
    Tensor.mH = _mT
