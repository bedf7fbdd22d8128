"""Argument checks at the public boundary: PyTorch's exception types for junk arguments.

PyTorch parses every argument of a call against its signature before the op runs, so a
``None`` where a Tensor belongs, a float where an int belongs or ``2**70`` as a dim is a
``TypeError`` / ``ValueError`` naming the argument, whatever the values of the others.

Note [argument diagnosis]: chainrule's public functions run directly, with no parsing
layer on the success path (that would cost every op).  Instead ``boundary`` wraps each
public function once, at import, in a frame whose ``try`` costs nothing until something
raises.  When the call fails, ``diagnose`` checks the arguments against the kinds their
parameter names imply (``input`` is a Tensor, ``dim`` an int or tuple of ints, ``keepdim``
a bool, ``dtype`` a dtype, ``alpha`` a number ...) in signature order and raises
PyTorch's error for the first bad one; when every argument is well-typed the original
error propagates unchanged (an internal error type there is a bug the junk-argument
fuzzer reports).  The helpers below (``int_arg``, ``dim``, ``dims``) are the same checks
for functions that must refuse an argument *before* using it (``chunk(0)``, huge offsets).
"""

from __future__ import annotations

import functools
import inspect
import numbers

import numpy as np

from ._tensor import Tensor

INT64_MAX = 2 ** 63 - 1


def type_name(v) -> str:
    """The type name PyTorch prints in argument errors (``numpy.ndarray``, ``NoneType``)."""
    t = type(v)
    if t.__module__ == "numpy":
        return f"numpy.{t.__name__}"
    if t.__name__ == "dtype" and t.__module__.startswith("chainrule"):
        return "torch.dtype"
    return t.__name__


def _where(op, name, pos):
    at = f" (position {pos})" if pos else ""
    return f"{op}(): argument '{name}'{at}"


def _is_int(v) -> bool:
    return (isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))) or (
        isinstance(v, Tensor) and v._data.dtype.kind in "iu" and v._data.size == 1)


def tensor_arg(v, op: str, name: str = "input", pos: int | None = None):
    """``v`` itself when it is a Tensor, else PyTorch's TypeError."""
    if not isinstance(v, Tensor):
        raise TypeError(f"{_where(op, name, pos)} must be Tensor, not {type_name(v)}")
    return v


def int_arg(v, op: str, name: str, pos: int | None = None) -> int:
    """``v`` as a Python int, or PyTorch's TypeError / ValueError (overflow)."""
    if type(v) is int and -INT64_MAX - 1 <= v <= INT64_MAX:
        return v
    if not _is_int(v):
        raise TypeError(f"{_where(op, name, pos)} must be int, not {type_name(v)}")
    v = int(v._data.reshape(())) if isinstance(v, Tensor) else int(v)
    if not -INT64_MAX - 1 <= v <= INT64_MAX:
        raise ValueError(f"{_where(op, name, pos)}: Overflow when unpacking long long "
                         f"({v} does not fit in int64)")
    return v


def dim(d, ndim: int, op: str, name: str = "dim", pos: int | None = None) -> int:
    """A dim of a tensor with ``ndim`` dims as an index in ``[0, ndim)`` (0-d: ``[-1, 0]``).

    PyTorch's TypeError for a non-int and IndexError "Dimension out of range".
    """
    d = int_arg(d, op, name, pos)
    n = max(ndim, 1)
    if not -n <= d < n:
        raise IndexError(f"{op}(): Dimension out of range (expected to be in range of "
                         f"[{-n}, {n - 1}], but got {d})")
    return d % n


def dims(ds, ndim: int, op: str, name: str = "dims") -> tuple:
    """A tuple of distinct dims (an int alone is one dim); duplicates are a RuntimeError."""
    seq = ds if isinstance(ds, (tuple, list)) else (ds,)
    out = tuple(dim(d, ndim, op, name) for d in seq)
    if len(set(out)) != len(out):
        dup = next(d for d in out if out.count(d) > 1)
        raise RuntimeError(f"{op}(): dim {dup} appears multiple times in the list of dims")
    return out


# ---- kinds of arguments, by parameter name ------------------------------------------------

def _bad_tensor(v):
    return not isinstance(v, Tensor) and "Tensor"


def _bad_opt_tensor(v):
    return v is not None and _bad_tensor(v)


def _bad_operand(v):
    """A Tensor or something that converts to one (numbers, sequences, arrays)."""
    ok = (Tensor, numbers.Number, np.generic, np.ndarray, list, tuple)
    return not isinstance(v, ok) and "Tensor"


def _bad_number(v):
    return not isinstance(v, (numbers.Number, np.generic, Tensor)) and "Number"


def _bad_opt_number(v):
    return v is not None and _bad_number(v)


def _bad_bool(v):
    return not isinstance(v, (bool, np.bool_)) and "bool"


def _bad_int(v):
    if not _is_int(v):
        return "int"
    return not -INT64_MAX - 1 <= int(v if not isinstance(v, Tensor) else v.item()) <= \
        INT64_MAX and "overflow"


def _bad_opt_int(v):
    return v is not None and _bad_int(v)


def _bad_ints(v):
    """An int, or a tuple/list of ints."""
    if isinstance(v, (tuple, list)):
        for x in v:
            bad = _bad_int(x)
            if bad:
                return "tuple of ints" if bad == "int" else bad
        return False
    bad = _bad_int(v)
    return ("tuple of ints" if bad == "int" else bad)


def _bad_opt_ints(v):
    return v is not None and _bad_ints(v)


def _bad_dtype(v):
    from ._dtype import dtype
    return v is not None and not isinstance(v, (dtype, str, type, np.dtype)) and "torch.dtype"


KINDS = {
    "Tensor": _bad_tensor, "Tensor?": _bad_opt_tensor, "operand": _bad_operand,
    "Number": _bad_number, "Number?": _bad_opt_number, "bool": _bad_bool, "int": _bad_int,
    "int?": _bad_opt_int, "ints": _bad_ints, "ints?": _bad_opt_ints, "dtype": _bad_dtype,
}

# What a parameter of each name is, everywhere unless a namespace overrides it.
NAMES = {
    **dict.fromkeys(("input", "self", "x", "tensor", "condition", "mask", "index",
                     "target", "vec", "vec1", "vec2", "mat", "mat1", "mat2", "A", "B",
                     "LD", "src", "tensor1", "tensor2", "indices", "batch1",
                     "batch2"), "Tensor"),
    **dict.fromkeys(("other", "end", "exponent", "weight"), "operand"),
    "bias": "Tensor?",
    **dict.fromkeys(("alpha", "fill_value", "rtol", "atol", "nan", "negative_slope",
                     "min_val", "max_val", "beta", "lambd", "threshold"), "Number"),
    **dict.fromkeys(("posinf", "neginf"), "Number?"),
    **dict.fromkeys(("keepdim", "largest", "sorted", "descending", "stable", "as_tuple",
                     "equal_nan", "inplace", "requires_grad", "upper", "left",
                     "full_matrices", "non_blocking", "ceil_mode", "count_include_pad",
                     "return_indices", "log_target", "scale_grad_by_freq", "sparse",
                     "align_corners", "check_errors", "hermitian"), "bool"),
    **dict.fromkeys(("diagonal", "offset", "k", "chunks", "dim0", "dim1", "dim2",
                     "length", "num_classes", "num_groups", "source", "destination"),
                    "int"),
    **dict.fromkeys(("shifts", "size", "shape", "kernel_size", "output_size", "steps",
                     "n"), "ints"),
    **dict.fromkeys(("stride", "m"), "ints?"),
    "dim": "ints?", "dims": "ints", "dtype": "dtype", "out": "Tensor?",
}

# Per-namespace corrections: (namespace, parameter) -> kind (None: not checked).
OVERRIDES = {
    ("nn.functional", "weight"): "Tensor?", ("nn.functional", "target"): None,
    ("", "end"): None, ("", "source"): None, ("", "destination"): None,
    ("Tensor", "source"): None, ("Tensor", "destination"): None,
    ("", "index"): None,
}

# Per-function corrections: (function name, parameter) -> kind.
FUNCTION_KINDS = {
    **{(f, "other"): "Tensor" for f in ("equal", "isclose", "allclose", "expand_as",
                                        "view_as", "reshape_as")},
    ("select", "index"): "int", ("repeat_interleave", "repeats"): "ints?",
    ("uniform_", "from_"): "Number", ("uniform_", "to"): "Number",
    ("normal_", "mean"): "Number", ("normal_", "std"): "Number",
    ("randint", "low"): "int", ("randint", "high"): "int?",
    ("randint_like", "low"): "int", ("randint_like", "high"): "int?",
    ("manual_seed", "seed"): "int",
}


def _kind(space, name, fn_name=""):
    if (fn_name, name) in FUNCTION_KINDS:
        return FUNCTION_KINDS[fn_name, name]
    key = (space, name)
    return OVERRIDES[key] if key in OVERRIDES else NAMES.get(name)


def diagnose(fn, space, args, kwargs):
    """PyTorch's argument error for the first ill-typed argument, or None."""
    try:
        bound = _signature(fn).bind(*args, **kwargs)
    except TypeError as exc:  # wrong number or names of arguments: PyTorch's TypeError too
        return TypeError(f"{fn.__name__}(): {exc}")
    for pos, (name, value) in enumerate(bound.arguments.items(), 1):
        param = _signature(fn).parameters[name]
        if param.kind is param.VAR_KEYWORD:
            continue
        kind = _kind(space, name, fn.__name__)
        if param.kind is param.VAR_POSITIONAL:
            # *size / *dims: ints, or one tuple of them
            value = value[0] if len(value) == 1 and isinstance(value[0], (list, tuple)) \
                else value
            kind = "ints" if name in ("size", "shape", "sizes", "dims") else None
        if kind is None:
            continue
        if value is param.default and value is None:
            continue
        bad = KINDS[kind](value)
        if bad:
            at = pos if param.kind in (param.POSITIONAL_ONLY,
                                       param.POSITIONAL_OR_KEYWORD) else None
            op = fn.__name__.strip("_")
            if bad == "overflow":
                return ValueError(f"{_where(op, name, at)}: Overflow when unpacking long "
                                  "long (the value does not fit in int64)")
            return TypeError(f"{_where(op, name, at)} must be {bad}, not {type_name(value)}")
    return None


@functools.lru_cache(maxsize=None)
def _signature(fn):
    return inspect.signature(fn)


# ---- out= ---------------------------------------------------------------------------------

def _castable(src: np.dtype, dst: np.dtype) -> bool:
    """PyTorch's ``canCast``: no float -> integer, no number -> bool."""
    order = "biuf"
    return dst.kind == "b" and src.kind == "b" or (
        dst.kind != "b" and order.index(src.kind) <= order.index(dst.kind)
        or src.kind in "iu" and dst.kind in "iu")


def write_out(result, out, op: str):
    """Write ``result`` into the user's ``out=`` tensor(s), as PyTorch does; return ``out``.

    Note [out=]: the result is computed as usual and copied into ``out`` (resized when its
    shape differs); out= is not differentiable, so PyTorch's error when grad is recorded.
    """
    from ._grad_mode import STATE, no_grad
    from .ops.views import copy_
    outs = out if isinstance(out, (tuple, list)) else (out,)
    results = result if isinstance(result, tuple) else (result,)
    if len(outs) != len(results) or not all(isinstance(o, Tensor) for o in outs):
        bad = next((o for o in outs if not isinstance(o, Tensor)), out)
        want = "Tensor" if len(results) == 1 else f"tuple of {len(results)} Tensors"
        raise TypeError(f"{op}(): argument 'out' must be {want}, not {type_name(bad)}")
    if STATE.enabled and any(t._rg for t in (*outs, *results) if isinstance(t, Tensor)):
        raise RuntimeError(f"{op}(): functions with out=... arguments don't support "
                           f"automatic differentiation, but one of the arguments requires "
                           f"grad.")
    from ._dtype import to_dtype
    for o, r in zip(outs, results, strict=True):
        if not _castable(r._data.dtype, o._data.dtype):
            raise RuntimeError(f"result type {_tname(r._data.dtype, to_dtype)} can't be cast "
                               f"to the desired output type {_tname(o._data.dtype, to_dtype)}")
        with no_grad():
            if o._data.shape != r._data.shape:
                if o._view is not None:
                    raise RuntimeError(f"{op}(): out= of shape {list(o.shape)} is a view and "
                                       f"cannot be resized to {list(r.shape)}")
                o._data = np.empty(r._data.shape, o._data.dtype)
            copy_(o, r)
    return out


def _tname(np_dtype, to_dtype):
    names = {"float16": "Half", "float32": "Float", "float64": "Double", "int8": "Char",
             "int16": "Short", "int32": "Int", "int64": "Long", "uint8": "Byte",
             "bool": "Bool"}
    return names.get(to_dtype(np_dtype).name, str(np_dtype))


def boundary(fn, space=""):
    """``fn`` behind Note [argument diagnosis] (idempotent).  A function with an ``out``
    parameter writes its result there (Note [out=]); a method has no ``out=``."""
    if getattr(fn, "__wrapped_boundary__", False) or not inspect.isfunction(fn):
        return fn
    try:
        has_out = "out" in _signature(fn).parameters
    except (TypeError, ValueError):
        return fn
    name = fn.__name__.strip("_") or fn.__name__
    method = space == "Tensor"
    # flags PyTorch's parser checks even when the call would work (sum(keepdim=None))
    flags = () if space == "nn.functional" else tuple(
        p for p in _signature(fn).parameters if NAMES.get(p) == "bool")

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        try:
            if kwargs and flags:
                for flag in flags:
                    if flag in kwargs and not isinstance(kwargs[flag], (bool, np.bool_)):
                        raise TypeError(f"{name}(): argument '{flag}' must be bool, not "
                                        f"{type_name(kwargs[flag])}")
            if kwargs and "out" in kwargs and has_out:
                out = kwargs.pop("out")
                if method:
                    raise TypeError(f"{name}() got an unexpected keyword argument 'out'")
                result = fn(*args, **kwargs)
                return result if out is None else write_out(result, out, name)
            return fn(*args, **kwargs)
        except Exception as exc:
            error = diagnose(fn, space, args, kwargs)
            if error is None:
                raise
            raise error from exc
    checked.__wrapped_boundary__ = True
    return checked


def install(namespace: dict, names, space: str = "") -> None:
    """Put every public function ``names`` of ``namespace`` behind ``boundary``."""
    for name in names:
        fn = namespace.get(name)
        if fn is not None and inspect.isfunction(fn):
            namespace[name] = boundary(fn, space)
