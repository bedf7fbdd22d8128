"""Argument checks at the public boundary: PyTorch's exception types for junk arguments.

PyTorch parses every argument of a call against its signature before the op runs, so a
``None`` where a Tensor belongs, a float where an int belongs or ``2**70`` as a dim is a
``TypeError`` / ``ValueError`` naming the argument, whatever the values of the others.

Note [argument checks]: ``boundary`` wraps each public function once, at import, with a
wrapper generated from its signature: each parameter is checked against the kind its
name implies (``input`` is a Tensor, ``dim`` an int or tuple of ints, ``keepdim`` a bool,
``dtype`` a dtype, ``alpha`` a number ...; ``OVERRIDES`` and ``FUNCTION_KINDS`` correct a
name where it means something else), in signature order, and PyTorch's error is raised
for the first bad argument.  Each check is one inline type test in the common case, so a
well-typed call pays a few ``type(v) is int`` tests; an int-like value of an int kind
(``np.int64(1)``, ``torch.tensor(2)``) reaches the function as a Python int, as PyTorch's
parser reads it.  Where PyTorch's overloads depend on whether an argument was passed at
all (``sum(x, keepdim=True)``, ``var(x, unbiased=None)``, ``x.max(dim=y)``), tables
below (``DIM_OVERLOADS``, ``UNSET_NONE``, ``KEYWORD_DIM_KINDS``, ``ALONE_OVERLOADS``) give
the wrapper an ``_UNSET`` default there and a few lines that refuse those calls.  The op
rows behind operators and unary methods (``x * y``, ``x.exp()``) are not wrapped: they
are the hot path and check their input themselves.  The helpers below (``int_arg``,
``dim``, ``dims``) are the same checks for values used inside a function (``chunk(0)``,
huge offsets).
"""

from __future__ import annotations

import functools
import inspect
import numbers
import types

import numpy as np

from ._tensor import WRITE_WATCH, Tensor, before_write
from .backend.array_api import np_dtype

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
        isinstance(v, Tensor) and np_dtype(v._data.dtype).kind in "iu" and v._data.size == 1)


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


def _index_like(v) -> bool:
    """PyTorch's ``checkIndex``: an int but not a bool (NumPy ints and one-element integer
    tensors count)."""
    if type(v) is int:
        return True
    if isinstance(v, (bool, np.bool_)):
        return False
    return isinstance(v, (int, np.integer)) or (
        isinstance(v, Tensor) and np_dtype(v._data.dtype).kind in "iu" and v._data.size == 1)


def int_list(v, op: str, name: str = "size", pos: int | None = None) -> tuple:
    """An int-list argument (``size``, ``shape``, ``dims``) as PyTorch's parser reads it: a
    tuple or list whose first element is int-like (``_index_like``) and whose others are
    ints or bools; anything else, a value beyond int64 included, is a TypeError.  Returns
    a tuple of Python ints."""
    if type(v) is tuple and _star_ok(v):  # plain ints: the common case
        return v
    if not isinstance(v, (tuple, list)):
        raise TypeError(f"{_where(op, name, pos)} must be tuple of ints, not {type_name(v)}")
    out = []
    for j, x in enumerate(v):
        if not (_index_like(x) or j and isinstance(x, (bool, np.bool_))):
            raise TypeError(f"{_where(op, name, pos)} must be tuple of ints, but found "
                            f"element of type {type_name(x)} at pos {j}")
        x = int(x._data.reshape(-1)[0]) if isinstance(x, Tensor) else int(x)
        if not _LO <= x <= _HI:
            raise TypeError(f"{_where(op, name, pos)} failed to unpack the object at pos "
                            f"{j + 1} with error \"Overflow when unpacking long long\" ({x} "
                            f"does not fit in int64)")
        out.append(x)
    return tuple(out)


def star_int_list(args: tuple, op: str, name: str = "size", pos: int | None = None) -> tuple:
    """``*size`` of a method (``x.view(2, 3)``, ``x.view((2, 3))``): PyTorch takes every
    positional argument as the list when the first is int-like, else one int list."""
    if not args:
        raise TypeError(f'{op}() missing 1 required positional arguments: "{name}"')
    if _star_ok(args):  # plain ints: the common case
        return args
    if _index_like(args[0]):
        return int_list(args, op, name, pos)
    if len(args) == 1:
        return int_list(args[0], op, name, pos)
    raise TypeError(f"{op}() received an invalid combination of arguments - got "
                    f"({', '.join(type_name(a) for a in args)}), but expected (tuple of ints "
                    f"{name})")


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


def fits(value, np_dtype, op: str):
    """A Python number written into an array of ``np_dtype`` (fill, masked_fill, scatter):
    PyTorch's RuntimeError when it does not fit; negative ints wrap into unsigned types.
    Returns the value to write."""
    kind = np.dtype(np_dtype).kind
    if kind not in "iu" or not isinstance(value, (int, float)) or isinstance(value, bool):
        return value
    info = np.iinfo(np_dtype)
    low = -(int(info.max) + 1) // 2 if kind == "u" else int(info.min)
    if isinstance(value, float) and not np.isfinite(value) or isinstance(value, int) and \
            not low <= value <= info.max:
        raise RuntimeError(f"{op}: value {value} cannot be converted to type "
                           f"{np.dtype(np_dtype).name} without overflow")
    if kind == "u" and isinstance(value, int) and value < 0:
        value %= int(info.max) + 1
    return value


def python_int(value, op: str):
    """A Python int beyond int64 cannot become a tensor: RuntimeError."""
    if type(value) is int and not _LO <= value <= _HI:
        raise RuntimeError(f"{op}: value {value} cannot be converted to type int64 without "
                           f"overflow")
    return value


# ---- kinds of arguments, by parameter name ------------------------------------------------

_LO, _HI = -INT64_MAX - 1, INT64_MAX


def _bad_tensor(v):
    return type(v) is not Tensor and not isinstance(v, Tensor) and "Tensor"


def _bad_opt_tensor(v):
    return v is not None and _bad_tensor(v)


_OPERANDS = (Tensor, numbers.Number, np.generic)


def _bad_operand(v):
    """A Tensor or a number (PyTorch's parser refuses lists, tuples and arrays here)."""
    return type(v) is not Tensor and not isinstance(v, _OPERANDS) and "Tensor"


_NUMBERS = (numbers.Number, np.generic, Tensor)


def _bad_number(v):
    """A number, or a one-element tensor (``alpha=torch.tensor(2.)``)."""
    if isinstance(v, Tensor):
        return v._data.size != 1 and "Number"
    return type(v) is not float and not isinstance(v, _NUMBERS) and "Number"


def _bad_float(v):
    """A real number, or a 0-d tensor that does not require grad (PyTorch's parser takes
    one for a ``float`` argument); any other tensor is refused."""
    if isinstance(v, Tensor):
        return (v._data.ndim != 0 or v._rg or np_dtype(v._data.dtype).kind == "c") and "float"
    return (isinstance(v, (complex, np.complexfloating))
            or not isinstance(v, (numbers.Real, np.number))) and "float"


def float_arg(v) -> float:
    """A ``float`` argument (checked by its kind) as a Python float."""
    return float(v._data) if isinstance(v, Tensor) else float(v)


def _bad_opt_float(v):
    return v is not None and _bad_float(v)


def _bad_overload_dim(v):
    """``dim`` of max/min/std/var, whose overloads put a tensor or a bool there too."""
    return not (v is None or isinstance(v, (Tensor, bool))) and _bad_ints(v)


def _bad_str(v):
    return not isinstance(v, str) and "str"


def _bad_dim_or_bool(v):
    """``dim`` of var/std, whose legacy overload ``var(x, unbiased)`` puts a bool there."""
    return not (v is None or isinstance(v, bool)) and _bad_ints(v)


def _bad_opt_str(v):
    return v is not None and not isinstance(v, str) and "str"


def _bad_numeric(v):
    """A number or a tensor of any shape (``lerp``'s weight, ``masked_fill``'s value)."""
    return type(v) is not float and not isinstance(v, _NUMBERS) and "Number"


def _bad_opt_number(v):
    return v is not None and _bad_number(v)


def _bad_bool(v):
    return v is not True and v is not False and not isinstance(v, np.bool_) and "bool"


def _bad_opt_bool(v):
    return v is not None and _bad_bool(v)


def _bad_int(v):
    if type(v) is int:
        return not _LO <= v <= _HI and "overflow"
    if not _is_int(v):
        return "int"
    return not _LO <= int(v if not isinstance(v, Tensor) else v.item()) <= _HI and "overflow"


def _bad_opt_int(v):
    return v is not None and _bad_int(v)


def _bad_ints(v):
    """An int, or a tuple/list of ints."""
    if type(v) is int:
        return not _LO <= v <= _HI and "overflow"
    if isinstance(v, (tuple, list)):  # Size too
        for x in v:
            bad = _bad_int(x)
            if bad:
                return "tuple of ints" if bad == "int" else bad
        return False
    bad = _bad_int(v)
    return "tuple of ints" if bad == "int" else bad


def _bad_opt_ints(v):
    return v is not None and _bad_ints(v)


def _bad_truthy(v):
    """A flag PyTorch tests with ``if``: anything with a truth value (a tensor of more
    than one element raises its RuntimeError, an array its ValueError, here)."""
    return not bool(v) and False


def _bad_ord(v):
    """A norm's order: a number (a 0-d tensor too) or a string ('fro', 'nuc')."""
    return not isinstance(v, str) and (
        _bad_float(v) if isinstance(v, Tensor) else _bad_number(v)) and "Number"


def _bad_opt_ord(v):
    return v is not None and _bad_ord(v)


def _bad_int_tuple(v):
    """A tuple or list of ints; a bare int is refused (PyTorch's ``int[2]`` dims)."""
    return _bad_ints(v) if isinstance(v, (tuple, list)) else "tuple of ints"


def _bad_dtype(v):
    from ._dtype import dtype
    return v is not None and not isinstance(v, (dtype, type, np.dtype)) and "torch.dtype"


KINDS = {
    "Tensor": _bad_tensor, "Tensor?": _bad_opt_tensor, "operand": _bad_operand,
    "Number": _bad_number, "Number?": _bad_opt_number, "bool": _bad_bool, "int": _bad_int,
    "bool?": _bad_opt_bool,
    "int?": _bad_opt_int, "ints": _bad_ints, "ints?": _bad_opt_ints, "dtype": _bad_dtype,
    "numeric": _bad_numeric, "float": _bad_float, "overload-dim": _bad_overload_dim,
    "float?": _bad_opt_float, "str?": _bad_opt_str, "str": _bad_str, "truthy": _bad_truthy,
    "ord": _bad_ord, "ord?": _bad_opt_ord, "int-tuple": _bad_int_tuple,
    "dim-or-bool": _bad_dim_or_bool,
}

# What a parameter of each name is, everywhere unless a namespace overrides it.
NAMES = {
    **dict.fromkeys(("input", "self", "x", "tensor", "condition", "mask", "index",
                     "target", "vec", "vec1", "vec2", "mat", "mat1", "mat2", "A", "B",
                     "LD", "src", "tensor1", "tensor2", "indices", "batch1",
                     "batch2"), "Tensor"),
    **dict.fromkeys(("other", "end", "exponent", "weight"), "operand"),
    "bias": "Tensor?",
    **dict.fromkeys(("alpha", "fill_value", "negative_slope", "min_val", "max_val", "beta",
                     "lambd", "threshold"), "Number"),
    **dict.fromkeys(("rtol", "atol"), "float"),
    **dict.fromkeys(("nan", "posinf", "neginf"), "float?"),
    **dict.fromkeys(("min", "max"), "operand"), "correction": "Number?",
    "rounding_mode": "str?", "unbiased": "bool",
    **dict.fromkeys(("keepdim", "largest", "sorted", "descending", "stable", "as_tuple",
                     "equal_nan", "inplace", "requires_grad", "upper", "left",
                     "full_matrices", "non_blocking", "ceil_mode", "count_include_pad",
                     "return_indices", "log_target", "scale_grad_by_freq", "sparse",
                     "align_corners", "check_errors", "hermitian"), "bool"),
    **dict.fromkeys(("diagonal", "offset", "k", "chunks", "dim0", "dim1", "dim2",
                     "length", "num_classes", "num_groups", "source", "destination"),
                    "int"),
    **dict.fromkeys(("split_size_or_sections", "split_size", "sizes"), "ints"),
    **dict.fromkeys(("shifts", "size", "shape", "kernel_size", "output_size", "steps",
                     "n"), "ints"),
    **dict.fromkeys(("stride", "m"), "ints?"),
    "dim": "ints?", "dims": "ints", "dtype": "dtype", "out": "Tensor?",
    **dict.fromkeys(("mode", "UPLO", "approximate"), "str"),
}

# Per-namespace corrections: (namespace, parameter) -> kind (None: not checked).
OVERRIDES = {
    ("nn.functional", "weight"): "Tensor?", ("nn.functional", "target"): None,
    ("", "end"): None, ("", "source"): None, ("", "destination"): None,
    ("Tensor", "source"): None, ("Tensor", "destination"): None,
    ("", "index"): None, ("", "requires_grad"): "bool?",
}

# Per-function corrections: (function name, parameter) -> kind.
FUNCTION_KINDS = {
    **{(f, "other"): "Tensor" for f in ("equal", "isclose", "allclose", "expand_as",
                                        "view_as", "reshape_as", "maximum", "minimum",
                                        "fmax", "fmin", "atan2", "logical_and",
                                        "logical_or", "logical_xor")},
    ("select", "index"): "int", ("repeat_interleave", "repeats"): None,
    # bitwise_left_shift(3, t): a Scalar self overload
    ("bitwise_left_shift", "input"): None, ("bitwise_right_shift", "input"): None,
    ("searchsorted", "input"): None, ("bucketize", "input"): None,  # Scalar overloads
    # torch.unique is Python code that reads these flags with bool()
    ("unique", "sorted"): None, ("unique", "return_inverse"): None,
    ("unique", "return_counts"): None, ("unique", "dim"): None,
    ("uniform_", "from_"): "Number", ("uniform_", "to"): "Number",
    ("normal_", "mean"): "Number", ("normal_", "std"): "Number",
    ("randint", "low"): None, ("randint", "high"): None,  # randint(high, size) too
    ("randint", "size"): None, ("scalar_tensor", "s"): "Number", ("normal", "size"): "intlist!",
    ("normal", "mean"): None, ("normal", "std"): None,
    ("randint_like", "low"): "any!", ("randint_like", "high"): "int!",
    ("manual_seed", "seed"): None, ("tensor", "requires_grad"): "bool",
    ("use_deterministic_algorithms", "mode"): "bool",
    ("type_", "dtype"): None, ("type", "dtype"): None, ("normalize", "dim"): None,
    # result_type also takes 'torch.FloatTensor' strings
    ("result_type", "tensor1"): None, ("result_type", "tensor2"): None,
    **{(f, "eps"): "float" for f in ("cosine_similarity", "pairwise_distance")},
    ("pairwise_distance", "p"): "float", ("normalize", "p"): None, ("normalize", "eps"): None,
    ("pairwise_distance", "keepdim"): "bool", ("cosine_similarity", "dim"): "int",
    ("set_num_interop_threads", "n"): None, ("set_num_threads", "n"): None,
    ("view_", "shape"): None,  # x.view(dtype) reinterprets the bits
    ("broadcast_to", "shape"): "intlist", ("tile", "dims"): "intlist",
    ("permute", "dims"): "intlist",
    ("unflatten", "sizes"): None,  # Tensor.unflatten tests ``not sizes`` first
    # "!": None only by leaving the argument out (PyTorch has no None there)
    ("eye", "m"): "int!", ("squeeze", "dim"): "ints!",
    ("logspace", "base"): "Number", ("split", "split_size_or_sections"): None,
    ("split", "dim"): "int", ("chunk", "dim"): "int",
    # overloads: var(x, unbiased), max(x, other), scatter(x, dim, index, value)
    **{(f, "dim"): "overload-dim" for f in ("max", "min")},
    **{(f, "dim"): "dim-or-bool" for f in ("var", "std", "var_mean", "std_mean")},
    # nn.functional and linalg, where PyTorch's Python code checks some arguments itself
    # before its parser sees them (the function body checks those, in PyTorch's order)
    ("adaptive_avg_pool2d", "output_size"): None,  # a tuple may hold None
    **{("batch_norm", n): None for n in ("running_mean", "running_var", "weight", "bias",
                                          "training", "momentum", "eps")},
    ("dropout", "training"): None, ("dropout", "inplace"): None,  # after p's check
    **{("hardtanh", n): None for n in ("min_val", "max_val", "inplace")},  # min > max first
    ("embedding", "input"): None,  # after padding_idx's checks
    ("layer_norm", "normalized_shape"): None, ("group_norm", "num_groups"): None,
    ("bilinear", "weight"): "Tensor", ("embedding", "weight"): "Tensor",
    ("logsumexp", "dim"): "ints",
    **{(f, n): "ints" for f in ("conv1d", "conv2d") for n in ("stride", "dilation")},
    ("pad", "pad"): "int-tuple", ("pad", "value"): "float?",
    ("constant_pad_nd", "pad"): "int-tuple", ("constant_pad_nd", "value"): "Number",
    # torch.norm is Python: it passes p and dim on to linalg.vector_norm / matrix_norm
    ("norm", "p"): None, ("norm", "dim"): None, ("norm", "ord"): "ord?",
    ("vector_norm", "ord"): "Number", ("matrix_norm", "ord"): "ord",
    ("matrix_norm", "dim"): "int-tuple",
    ("scatter", "src"): "numeric", ("scatter_", "src"): "numeric",
    ("masked_fill", "value"): "numeric", ("masked_fill_", "value"): "numeric",
    ("lerp", "end"): "Tensor", ("lerp", "weight"): "numeric", ("copy_", "src"): "numeric",
    ("take_along_dim", "dim"): "int?", ("fill_", "value"): "numeric",
    **{(f, "dim"): "int?" for f in ("aminmax", "median", "argmax", "argmin")},
    # torch.mul(2, x), torch.where(c, 1.0, x): numbers are accepted here
    **{(f, "input"): "operand" for f in ("add", "sub", "mul", "div", "floor_divide",
                                         "remainder", "pow", "float_power")},
    # where(c) is the one-argument overload only when input/other are left out
    ("where", "input"): "operand!", ("where", "other"): "operand!",
}


# Functions whose ``dim`` PyTorch takes only in an overload together with ``keepdim``
# (``sum(x)`` or ``sum(x, dim, keepdim)``): ``keepdim`` without ``dim`` is a TypeError.
# The value says whether an explicit ``dim=None`` is accepted (``sum(x, None, True)``)
# or a TypeError too (``prod(x, None)``, ``max(x, dim=None)``).
DIM_OVERLOADS = {"sum": True, "mean": True, "prod": False, "max": False, "min": False,
                 "median": False}


# Parameters whose default None only means "not given": an explicit None is PyTorch's
# TypeError (``var(x, unbiased=None)``).
UNSET_NONE = ("unbiased",)


class _Unset:
    """The wrapper's default for a parameter where PyTorch's overloads make it matter
    whether it was passed at all (``DIM_OVERLOADS``, ``UNSET_NONE`` ...)."""

    __slots__ = ()


_UNSET = _Unset()


# Functions whose ``dim`` slot also takes another overload's argument when it is given by
# position (``max(x, other)``, ``var(x, unbiased)``): ``dim=`` by keyword must be of this
# kind (``x.max(dim=y)`` and ``x.var(dim=True)`` are TypeErrors).
KEYWORD_DIM_KINDS = {"max": "int", "min": "int",
                     **dict.fromkeys(("var", "std", "var_mean", "std_mean"), "ints?")}


def _dim_prelude(op, params, env):
    """The wrapper's first lines for ``DIM_OVERLOADS`` and ``KEYWORD_DIM_KINDS``: they
    see whether ``dim``/``keepdim`` were passed, and how.  Returns the lines, the
    parameters whose wrapper default is ``_UNSET``, and whether the wrapper takes ``dim``
    by position as ``_p_dim`` and by keyword as a keyword-only ``dim``."""
    names = [p.name for p in params]
    keyword = KEYWORD_DIM_KINDS.get(op) if "dim" in names else None
    overload = op in DIM_OVERLOADS and "dim" in names and "keepdim" in names
    if not keyword and not overload:
        return [], (), False
    env["_U"] = _UNSET
    env["_d_dim"] = params[names.index("dim")].default
    lines = []
    if keyword:
        lines += ["    if dim is _U:", "        dim = _p_dim", "    elif _p_dim is not _U:",
                  "        raise TypeError(f\"{_op}() got multiple values for argument "
                  "'dim'\")",
                  f"    elif not ({_FAST[keyword].format(v='dim')}):",
                  f"        dim = _fail({keyword!r}, _op, 'dim', None, dim)"]
    if not overload:
        return lines + ["    if dim is _U:", "        dim = _d_dim"], ("dim",), True
    lines += ["    if dim is _U:",
              "        if keepdim is not _U:",
              "            raise TypeError(f\"{_op}() received an invalid combination of "
              "arguments - got keepdim without dim: {_op}() takes keepdim only together "
              "with dim\")",
              "        dim = _d_dim"]
    if not DIM_OVERLOADS[op]:
        lines += ["    elif dim is None:",
                  "        raise TypeError(f\"{_op}(): argument 'dim' must be int, not "
                  "NoneType\")"]
    return lines + ["    if keepdim is _U:", "        keepdim = False"], \
        ("dim", "keepdim"), bool(keyword)


# A parameter PyTorch requires except in a function overload that takes the input alone
# (``torch.repeat_interleave(counts)``, not a method): missing with another positional
# argument given, missing in the method, or an explicit None, it is a TypeError.
ALONE_OVERLOADS = {"repeat_interleave": "repeats"}


def _alone_prelude(op, params, env, method):
    """The wrapper's first lines for ``ALONE_OVERLOADS``, and the parameters whose wrapper
    default is ``_UNSET``."""
    need = ALONE_OVERLOADS.get(op)
    if need is None or need not in [p.name for p in params]:
        return [], ()
    others = [p.name for p in params[1:] if p.kind is p.POSITIONAL_OR_KEYWORD
              and p.name != need]
    env["_U"] = _UNSET
    given = " or ".join(f"{o} is not _U" for o in others)
    lines = [f"    if {need} is _U:",
             f"        if {'True' if method else given or 'False'}:",
             f"            raise TypeError(f\"{{_op}}() missing 1 required argument: "
             f"'{need}'\")",
             f"        {need} = None",
             f"    elif {need} is None:",
             f"        raise TypeError(f\"{{_op}}(): argument '{need}' must be Tensor or int, "
             f"not NoneType\")"]
    for o in others:
        env[f"_d_{o}"] = next(p.default for p in params if p.name == o)
        lines += [f"    if {o} is _U:", f"        {o} = _d_{o}"]
    return lines, (need, *others)


def _kind(space, name, fn_name=""):
    if (fn_name, name) in FUNCTION_KINDS:
        return FUNCTION_KINDS[fn_name, name]
    key = (space, name)
    kind = OVERRIDES[key] if key in OVERRIDES else NAMES.get(name)
    if space == "nn.functional" and (kind == "bool" or name == "training"):
        # PyTorch's Python-level functions test ``if inplace:`` before anything else and
        # take any other truthy flag; ``training`` goes to a C++ op as a strict bool
        return {"inplace": "truthy", "training": "bool"}.get(name)
    return kind


_SEQUENCE_NAMES = ("size", "shape", "sizes", "dims")  # *size: ints or one tuple of ints


KINDS["any"] = lambda v: False


@functools.cache
def _signature(fn):
    return inspect.signature(fn)


# ---- out= ---------------------------------------------------------------------------------

def _castable(src: np.dtype, dst: np.dtype) -> bool:
    """PyTorch's ``canCast``: no float -> integer, no number -> bool."""
    order = "biuf"
    return dst.kind == "b" and src.kind == "b" or (
        dst.kind != "b" and order.index(src.kind) <= order.index(dst.kind)
        or src.kind in "iu" and dst.kind in "iu")


def check_out(out, op: str) -> tuple:
    """``out=`` as a tuple of tensors, or PyTorch's TypeError (checked before the call)."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    if not outs or not all(isinstance(o, Tensor) for o in outs):
        raise TypeError(f"{op}(): argument 'out' must be Tensor, not {type_name(out)}")
    return outs


def write_out(result, out, op: str):
    """Write ``result`` into the user's ``out=`` tensor(s), as PyTorch does; return ``out``.

    Note [out=]: the result is computed as usual and copied into ``out`` (resized when its
    shape differs); out= is not differentiable, so PyTorch's error when grad is recorded.
    """
    from ._grad_mode import STATE, no_grad
    from .ops.views import copy_
    outs = check_out(out, op)
    results = result if isinstance(result, tuple) else (result,)
    if len(outs) != len(results):
        raise TypeError(f"{op}(): argument 'out' must be a tuple of {len(results)} Tensors, "
                        f"not of {len(outs)}")
    if STATE.enabled and any(t._rg for t in (*outs, *results) if isinstance(t, Tensor)):
        raise RuntimeError(f"{op}(): functions with out=... arguments don't support "
                           f"automatic differentiation, but one of the arguments requires "
                           f"grad.")
    from ._dtype import to_dtype
    for o, r in zip(outs, results, strict=True):
        if op in EXACT_OUT and o._data.dtype != r._data.dtype:
            raise RuntimeError(f"Found dtype {_tname(o._data.dtype, to_dtype)} but expected "
                               f"{_tname(r._data.dtype, to_dtype)}")
        if op in ("arange", "linspace", "logspace") and np_dtype(o._data.dtype).kind == "b":
            raise NotImplementedError(f"\"{op}_cpu\" not implemented for 'Bool'")
        if op not in _FACTORIES and not _castable(r._data.dtype, o._data.dtype):
            want = _tname(o._data.dtype, to_dtype)
            if op in _CATS:
                raise TypeError(f"torch.cat(): input types can't be cast to the desired "
                                f"output type {want}")
            raise RuntimeError(f"result type {_tname(r._data.dtype, to_dtype)} can't be cast "
                               f"to the desired output type {want}")
        with no_grad():
            if o._data.shape != r._data.shape:
                if WRITE_WATCH:  # (before its memory is replaced: Note [copy before write])
                    before_write(o)
                if o._view is not None:
                    _resize_view(o, r._data.shape, op)
                else:
                    o._data = np.empty(r._data.shape, o._data.dtype)
            copy_(o, r)
    return out


# ops whose out= must have the result's dtype exactly (PyTorch's "Found dtype ...")
EXACT_OUT = frozenset(("abs", "neg", "sign", "floor", "ceil", "round", "trunc",
                       "searchsorted", "bucketize", "histc"))


def _resize_view(o, shape, op: str):
    """Resize the view ``o`` in place as PyTorch's ``resize_``: contiguous, at its storage
    offset, in its base's memory (which must hold it); otherwise a RuntimeError."""
    base = o._view[0]
    offset = o._geometry()[2]
    n = int(np.prod(shape))
    if not base._data.flags.c_contiguous or offset + n > base._data.size:
        raise RuntimeError(f"{op}(): out= of shape {list(o.shape)} is a view and cannot be "
                           f"resized to {list(shape)}")
    from .ops.views import getitem, reshape
    flat = reshape(getitem(reshape(base, -1), slice(offset, offset + n)), shape)
    o._data, o._view = flat._data, flat._view
# ops built on cat (PyTorch's TypeError for an out= that cannot hold the result); factory
# functions, which compute in out's dtype
_CATS = {"cat", "concat", "concatenate", "stack", "hstack", "vstack", "row_stack", "dstack",
         "column_stack"}
_FACTORIES = {"eye", "linspace", "logspace", "arange", "range", "zeros", "ones", "empty",
              "full", "rand", "randn", "randint", "randperm"}


def _tname(np_dtype, to_dtype):
    names = {"float16": "Half", "float32": "Float", "float64": "Double", "int8": "Char",
             "int16": "Short", "int32": "Int", "int64": "Long", "uint8": "Byte",
             "bool": "Bool"}
    return names.get(to_dtype(np_dtype).name, str(np_dtype))


# The test each kind passes without a call: the common, well-typed case (``v`` is the
# argument).  Anything else goes to the kind's function, which raises or lets it through.
_FAST = {
    "Tensor": "type({v}) is _T", "Tensor?": "{v} is None or type({v}) is _T",
    "operand": "type({v}) is _T or type({v}) is float or type({v}) is int",
    "Number": "type({v}) is float or type({v}) is int",
    "Number?": "{v} is None or type({v}) is float or type({v}) is int",
    "float": "type({v}) is float or type({v}) is int",
    "numeric": "type({v}) is _T or type({v}) is float or type({v}) is int",
    "float?": "{v} is None or type({v}) is float or type({v}) is int",
    "str?": "{v} is None or type({v}) is str", "str": "type({v}) is str",
    "ord": "type({v}) is int or type({v}) is float or type({v}) is str",
    "ord?": "{v} is None or type({v}) is int or type({v}) is float or type({v}) is str",
    "int-tuple": "type({v}) is tuple and len({v}) == 2 and type({v}[0]) is int and "
                 "type({v}[1]) is int and _LO <= {v}[0] <= _HI and _LO <= {v}[1] <= _HI",
    "overload-dim": "{v} is None or type({v}) is int and _LO <= {v} <= _HI",
    "dim-or-bool": "{v} is None or type({v}) is int and _LO <= {v} <= _HI",
    "bool": "{v} is True or {v} is False", "truthy": "{v} is True or {v} is False",
    "bool?": "{v} is None or {v} is True or {v} is False",
    "int": "type({v}) is int and _LO <= {v} <= _HI",
    "int?": "{v} is None or type({v}) is int and _LO <= {v} <= _HI",
    "ints": "type({v}) is int and _LO <= {v} <= _HI",
    "ints?": "{v} is None or type({v}) is int and _LO <= {v} <= _HI",
    "dtype": "{v} is None or type({v}) is _D", "ints*": "_star_ok({v})",
    "intlist": "type({v}) is tuple and _star_ok({v})", "any": "True",
}


def _star_ok(v) -> bool:
    """``*size`` given as plain ints (``reshape(2, 3)``), the common case."""
    for e in v:
        if type(e) is not int or not _LO <= e <= _HI:
            return False
    return True


_INT_KINDS = frozenset(("int", "int?", "ints", "ints?", "ints*", "dim-or-bool"))


def _as_ints(value):
    """An int-like argument (``np.int64(1)``, ``torch.tensor(2)``) as Python ints, as
    PyTorch's parser reads it; a tuple/list of them as a tuple."""
    if isinstance(value, (tuple, list)):
        if all(type(x) is int for x in value):
            return value
        return tuple(_as_ints(x) for x in value)
    if isinstance(value, Tensor):
        return int(value._data.reshape(()))
    return int(value) if isinstance(value, np.integer) else value


def _fail(kind, op, name, at, value):
    """Raise PyTorch's error when ``value`` is not of ``kind`` (the slow path); else
    return ``value`` as the function receives it (int-likes of an int kind as ints)."""
    if kind in ("ints*", "intlist"):  # PyTorch's int-list parsing, its errors included
        if kind == "intlist":
            int_list(value, op, name, at)
        elif value:
            star_int_list(value, op, name, at)
        return _as_ints(value) if value is not None else value
    bad = KINDS[kind](value)
    if not bad:
        return _as_ints(value) if kind in _INT_KINDS and value is not None else value
    if bad == "overflow" and isinstance(value, (tuple, list)):
        # an int list that holds a huge int: PyTorch's parser fails to unpack it (TypeError)
        raise TypeError(f"{_where(op, name, at)} failed to unpack the object with error "
                        f"\"Overflow when unpacking long long\" (the value does not fit in "
                        f"int64)")
    if bad == "overflow":
        raise ValueError(f"{_where(op, name, at)}: Overflow when unpacking long long (the "
                         f"value does not fit in int64)")
    if isinstance(value, (tuple, list)) and bad == "tuple of ints":
        j, x = next((j, x) for j, x in enumerate(value) if _bad_int(x))
        raise TypeError(f"{_where(op, name, at)} must be tuple of ints, but element {j} "
                        f"is {type_name(x)}")
    raise TypeError(f"{_where(op, name, at)} must be {bad}, not {type_name(value)}")


_NO_OUT = type("NoOut", (), {"__repr__": lambda self: "<no out>"})()


def boundary(fn, space=""):
    """``fn`` behind Note [argument checks] (idempotent).  A function with an ``out``
    parameter writes its result there (Note [out=]); a method has no ``out=``.

    The wrapper is generated with ``fn``'s own signature, so arguments are passed on
    without packing and each check is one inline type test in the common case.
    """
    if getattr(fn, "__wrapped_boundary__", False) or not inspect.isfunction(fn):
        return fn
    try:
        params = list(_signature(fn).parameters.values())
    except (TypeError, ValueError):
        return fn
    from ._dtype import dtype
    op = fn.__name__.strip("_") or fn.__name__
    method = space == "Tensor"
    env = {"_fn": fn, "_fail": _fail, "_star_ok": _star_ok, "_T": Tensor, "_D": dtype,
           "_LO": _LO, "_HI": _HI,
           "_write_out": write_out, "_check_out": check_out, "_NO_OUT": _NO_OUT}
    header, call = [], []
    star = False
    body, unset, keyword_dim = _dim_prelude(op, params, env)
    lines, alone = _alone_prelude(op, params, env, method)
    body, unset = lines + body, (*unset, *alone)
    kwdefaults = {}
    for i, p in enumerate(params):
        v = p.name
        default = ""
        if method and i == 1 and len(params) == 2 and p.default is p.empty and \
                _kind(space, v, fn.__name__) == "intlist":
            env.update(_NO=_NO, _one_list=_method_int_list)
            header += ["*_v", f"{v}=_NO"]
            call.append(v)
            kwdefaults[v] = _NO
            body.append(f"    {v} = _one_list(_v, {v}, _op, {v!r})")
            continue
        if p.default is not p.empty:
            env[f"_d_{i}"] = _UNSET if v in unset or v in UNSET_NONE and \
                p.default is None else p.default
            default = f"=_d_{i}"
        if p.kind is p.VAR_POSITIONAL:
            header.append(f"*{v}")
            call.append(f"*{v}")
            star = True
        elif p.kind is p.VAR_KEYWORD:
            header.append(f"**{v}")
            call.append(f"**{v}")
        elif p.kind is p.KEYWORD_ONLY:
            if not star:
                header.append("*")
                star = True
            header.append(f"{v}{default}")
            call.append(f"{v}={v}" if v != "out" else "out=None")
        else:
            header.append(f"{'_p_' if keyword_dim and v == 'dim' else ''}{v}{default}")
            call.append(v)
        if p.kind is p.POSITIONAL_ONLY and (i + 1 == len(params)
                                           or params[i + 1].kind is not p.POSITIONAL_ONLY):
            header.append("/")
        kind = _kind(space, v, fn.__name__)
        if p.kind is p.VAR_POSITIONAL:
            kind = "ints*" if v in _SEQUENCE_NAMES and (fn.__name__, v) not in \
                FUNCTION_KINDS else None
        if kind is None or p.kind is p.VAR_KEYWORD or (i == 0 and method) or v == "out":
            continue
        at = i + 1 - method if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) \
            else None
        if kind.endswith("!"):  # omitted: the wrapper's default _NO becomes None
            kind = kind[:-1]
            env["_NO"] = _NO
            header[header.index(f"{v}{default}")] = f"{v}=_NO"
            kwdefaults[v] = _NO
            body.append(f"    if {v} is _NO:\n        {v} = None\n"
                        f"    elif not ({_FAST[kind].format(v=v)}):\n"
                        f"        {v} = _fail({kind!r}, _op, {v!r}, {at!r}, {v})")
            continue
        if p.default is None and kind in ("Tensor", "Number", "int", "ints", "bool", "ord"):
            kind += "?" if kind + "?" in KINDS else ""
        fast = _FAST[kind].format(v=v)
        skip = f"{v} is None or " if p.default is None and not kind.endswith("?") else ""
        check = (f"    if not ({skip}{fast}):\n"
                 f"        {v} = _fail({kind!r}, _op, {v!r}, {at!r}, {v})")
        if v in UNSET_NONE and p.default is None:
            env["_U"] = _UNSET
            check = (f"    if {v} is _U:\n        {v} = None\n"  # None only when omitted
                     f"    elif not ({_FAST[kind.rstrip('?')].format(v=v)}):\n"
                     f"        {v} = _fail({kind.rstrip('?')!r}, _op, {v!r}, {at!r}, {v})")
        body.insert(0 if kind == "truthy" else len(body), check)
    has_out = any(p.name == "out" for p in params)
    # methods and nn.functional have no out=: PyTorch refuses even out=None
    no_out = has_out and (method or space == "nn.functional" and op not in ("normalize",))
    if has_out:
        if no_out:
            keyword = any(p.name == "out" and p.kind is p.KEYWORD_ONLY for p in params)
            no_out = keyword and "_NO_OUT" or "None"
            body.append(f"    if out is not {no_out}:\n        raise TypeError("
                        "f\"{_op}() got an unexpected keyword argument 'out'\")")
        else:
            body.insert(0, "    if out is not None:\n        _check_out(out, _op)")
            body.append(f"    if out is not None:\n"
                        f"        return _write_out(_fn({', '.join(call)}), out, _op)")
    body.append(f"    return _fn({', '.join(call)})")
    if keyword_dim:  # dim= by keyword: a keyword-only parameter of the wrapper
        at = next((j for j, h in enumerate(header) if h.startswith("**")), len(header))
        header[at:at] = ["dim=_U"] if star else ["*", "dim=_U"]
    source = f"def _checked({', '.join(header)}):\n" + "\n".join(body) + "\n"
    env["_op"] = op
    # the def's code object, made a function here: no exec at call time (the CLI's
    # tests refuse any eval/exec while a command runs)
    code = next(c for c in _compiled(source).co_consts if isinstance(c, types.CodeType))
    positional = tuple(kwdefaults.get(p.name, env.get(f"_d_{i}"))
                       for i, p in enumerate(params)
                       if p.default is not p.empty and p.kind in (
                           p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    checked = types.FunctionType(code, env, "_checked", positional or None)
    checked.__kwdefaults__ = {**{p.name: _NO_OUT if no_out == "_NO_OUT" and p.name == "out"
                                 else env[f"_d_{i}"] for i, p in enumerate(params)
                                 if p.kind is p.KEYWORD_ONLY and p.default is not p.empty},
                              **kwdefaults} or None
    if keyword_dim:
        checked.__kwdefaults__ = {**(checked.__kwdefaults__ or {}), "dim": _UNSET}
    checked = functools.wraps(fn)(checked)
    checked.__wrapped_boundary__ = True
    return checked


_NO = inspect.Parameter.empty


def _method_int_list(args, kw, op, name):
    """The int list of a method whose only argument it is: positional arguments as
    PyTorch's varargs (``x.tile(2, 3)``), a keyword as one list (``x.tile(dims=(2, 3))``)."""
    if kw is _NO:
        return star_int_list(args, op, name)
    if args:
        raise TypeError(f"{op}() got multiple values for argument '{name}'")
    return int_list(kw, op, name)


@functools.cache
def _compiled(source: str):
    """One code object per distinct wrapper text: most signatures repeat, and compiling
    each of the ~1,300 wrappers anew cost 0.1 s of ``import chainrule``."""
    return compile(source, "<chainrule argument checks>", "exec")


def lazy_boundary(fn, space, get, put):
    """``fn`` behind a stub that builds ``boundary(fn, space)`` on its first call and
    stores it with ``put`` where ``get`` finds the stub, so ``import chainrule`` generates
    no wrapper code (Note [argument checks]) and later calls reach the wrapper directly."""
    if getattr(fn, "__wrapped_boundary__", False) or not inspect.isfunction(fn):
        return fn

    built = []  # the wrapper, once built (callers that kept the stub reach it here)

    def first_call(*args, **kwargs):
        if built:
            return built[0](*args, **kwargs)
        real = boundary(fn, space)
        built.append(real)
        if get() is first_call:
            put(real)
        return real(*args, **kwargs)

    functools.update_wrapper(first_call, fn)
    first_call.__wrapped_boundary__ = True
    return first_call


def install(namespace: dict, names, space: str = "") -> None:
    """Put every public function ``names`` of ``namespace`` behind ``boundary``."""
    for name in names:
        fn = namespace.get(name)
        if fn is not None and inspect.isfunction(fn):
            namespace[name] = lazy_boundary(
                fn, space, lambda name=name: namespace.get(name),
                lambda real, name=name: namespace.__setitem__(name, real))
