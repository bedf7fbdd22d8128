"""Fuzzer 5.4 of issue 8: junk arguments to every public function and method.

Every public callable that chainrule shares with PyTorch is found by introspection
(top-level functions, ``Tensor`` methods, ``nn.functional``, ``linalg``; ``fft`` and
``special`` when chainrule has them) and called with junk in each of its argument slots:
None, strings, ragged and nested lists, huge ints, negative ints, floats where ints are
expected, NaN, empty / 0-d / bool / integer / wrong-rank tensors, dim tuples with
duplicates or out of range, dtype objects in the wrong place, and bad ``dim=``,
``keepdim=``, ``dtype=`` keywords.  The same call runs on PyTorch, and:

- where PyTorch raises, chainrule raises the same built-in exception type
  (``conftest.builtin_exception_type``: NotImplementedError counts as RuntimeError);
- where PyTorch returns, chainrule returns the same value and dtype;
- an internal exception type (AttributeError, KeyError, ZeroDivisionError, OverflowError,
  MemoryError, NumPy's own types ...) always fails, whatever PyTorch did.

Which argument slots exist comes from chainrule's own signatures (``inspect``), so a new
function or keyword is fuzzed the moment it is public.
"""

from __future__ import annotations

import inspect
import math
import time
import warnings

import fuzzing
import numpy as np
import pytest
from conftest import Raised, builtin_exception_type, normalize

torch = pytest.importorskip("torch")
import chainrule as cr  # noqa: E402

NAME = "junk-args"

# ---- what is fuzzed ---------------------------------------------------------------------

# Callables that cannot be compared call for call, each with its reason.
SKIP = {
    "cuda": "torch without CUDA raises AssertionError by design; chainrule raises its own",
    "data_ptr": "an address: differs between any two libraries",
    "backward": "runs the engine; junk gradients are covered by test_errors",
    "register_hook": "hooks are callables, not junk; covered by test_hooks",
    "register_post_accumulate_grad_hook": "as register_hook",
    "seed": "reseeds the global generators of both libraries from the clock",
    "set_num_interop_threads": "PyTorch refuses it once its thread pool has started "
                               "(any earlier op), so the outcome depends on test order",
    "get_rng_state": "an opaque generator state: its bytes are each generator's own "
                     "(test_compat.py checks that it replays draws)",
}

# Results that carry no comparable values: compare dtype and shape only.
VALUES_FREE = {
    "empty", "empty_like", "new_empty", "rand", "rand_like", "randn", "randn_like",
    "randint", "randint_like", "randperm", "normal", "normal_", "uniform_", "exponential_",
    "bernoulli_", "dropout", "manual_seed", "initial_seed", "get_num_threads",
    "get_num_interop_threads",
}

# name -> issue item owned by another part of issue 8: not judged here (reported there).
OWNED_ELSEWHERE = {
    **dict.fromkeys(("tensor", "as_tensor", "new_tensor", "full"),
                    "1. integer edge cases / precision at creation: Python ints beyond the "
                    "dtype's range"),
    "arange": "2. accepted where PyTorch raises (arange(5, 0, 1)), creation ranges",
}

# name -> what is still open: chainrule raises a public type, but not PyTorch's, or accepts
# an argument PyTorch's parser refuses.  Internal error types fail here too.  Shrink it.
KNOWN_GAPS = {
    "normal": "accepts an explicit dtype=None / requires_grad=None with a tensor mean",
    "qr": "values differ: rank-deficient float32 input; NumPy's LAPACK runs in float64, "
          "PyTorch's float32 kernel leaves ~1e-6 noise",
    "scaled_dot_product_attention": "a value of another batch shape (2, 0, 3) for a "
                                     "(2, 3) query: PyTorch's CPU kernel returns (2, 3) "
                                     "unchecked, chainrule's matmul refuses the shapes",
    "svd": "values differ: singular vectors' signs follow NumPy's float64 gesdd, not "
           "PyTorch's float32 one",
    "where": "accepts junk: where(c, out=None) runs the one-argument overload (the "
             "wrapper cannot tell an explicit out=None from no out)",
}


def _public(module, reference) -> list[str]:
    names = []
    for name in dir(module):
        obj = getattr(module, name, None)
        if (name.startswith("_") or not callable(obj) or inspect.isclass(obj)
                or inspect.ismodule(obj) or not hasattr(reference, name)):
            continue
        names.append(name)
    return names


def targets() -> list[tuple[str, str]]:
    """``(namespace, name)`` for every public callable chainrule shares with PyTorch."""
    spaces = [("", cr, torch), ("nn.functional", cr.nn.functional, torch.nn.functional),
              ("linalg", cr.linalg, torch.linalg)]
    for sub in ("fft", "special"):
        if hasattr(cr, sub):
            spaces.append((sub, getattr(cr, sub), getattr(torch, sub)))
    out = [(space, n) for space, mod, ref in spaces for n in _public(mod, ref)]
    out += [("Tensor", n) for n in dir(cr.Tensor)
            if not n.startswith("_") and callable(getattr(cr.Tensor, n))
            and hasattr(torch.Tensor, n)]
    return [t for t in out if t[1] not in SKIP]


# ---- junk -------------------------------------------------------------------------------

F23 = [[0.5, -1.0, 2.0], [3.0, 0.0, -2.5]]
I23 = [[1, 0, 2], [0, 1, 1]]

# Tensors are built afresh for every call (in-place methods write into them).
TENSORS = {
    "f23": lambda lib: lib.tensor(F23),
    "f64_23": lambda lib: lib.tensor(F23, dtype=lib.float64),
    "i23": lambda lib: lib.tensor(I23),
    "b23": lambda lib: lib.tensor(I23, dtype=lib.bool),
    "f0d": lambda lib: lib.tensor(1.5),
    "i0d": lambda lib: lib.tensor(2),
    "empty": lambda lib: lib.zeros(0),
    "empty23": lambda lib: lib.zeros(2, 0, 3),
    "f4": lambda lib: lib.tensor([1.0, -2.0, 0.5, 4.0]),
    "f234": lambda lib: lib.arange(24.0).reshape(2, 3, 4),
    "f33": lambda lib: lib.tensor([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]]),
    "i4": lambda lib: lib.tensor([0, 1, 1, 0]),
}

JUNK = {
    "None": lambda lib: None,
    "str": lambda lib: "abc",
    "emptystr": lambda lib: "",
    "ragged": lambda lib: [[1, 2], [3]],
    "nested": lambda lib: [[1.0, 2.0], [3.0, 4.0]],
    "list-of-None": lambda lib: [None],
    "huge": lambda lib: 10 ** 20,
    "2**63": lambda lib: 2 ** 63,
    "-2**63-1": lambda lib: -2 ** 63 - 1,
    "neg1": lambda lib: -1,
    "neg5": lambda lib: -5,
    "zero": lambda lib: 0,
    "one": lambda lib: 1,
    "seven": lambda lib: 7,
    "float": lambda lib: 2.5,
    "float1": lambda lib: 1.0,
    "nan": lambda lib: math.nan,
    "inf": lambda lib: math.inf,
    "True": lambda lib: True,
    "dup-dims": lambda lib: (0, 0),
    "far-dims": lambda lib: (0, 5),
    "neg-dims": lambda lib: (-1, -7),
    "empty-tuple": lambda lib: (),
    "str-tuple": lambda lib: ("a", 1),
    "float-tuple": lambda lib: (1.5, 2),
    "dtype-f": lambda lib: lib.float32,
    "dtype-i": lambda lib: lib.int64,
    "dtype-b": lambda lib: lib.bool,
    "object": lambda lib: object(),
    "dict": lambda lib: {"a": 1},
    "ndarray": lambda lib: np.ones((2, 3)),
    "np-int": lambda lib: np.int64(1),
    **TENSORS,
}

NUMBERS = {"huge", "2**63", "-2**63-1", "neg1", "neg5", "zero", "one", "seven", "float",
           "float1", "nan", "inf", "True", "np-int"}

# A good value for an argument slot, by parameter name (default: a float 2x3 tensor).
GOOD = {
    "dim": lambda lib: 1, "dim0": lambda lib: 0, "dim1": lambda lib: 1, "keepdim": None,
    "dims": lambda lib: (0,), "size": lambda lib: (2, 3), "shape": lambda lib: (2, 3),
    "sizes": lambda lib: (3,), "fill_value": lambda lib: 2.0, "value": lambda lib: 2.0,
    "exponent": lambda lib: 2, "n": lambda lib: 3, "k": lambda lib: 2, "start": lambda lib: 0,
    "end": lambda lib: 3, "steps": lambda lib: 4, "chunks": lambda lib: 2,
    "split_size_or_sections": lambda lib: 1, "split_size": lambda lib: 1,
    "length": lambda lib: 1, "index": lambda lib: lib.tensor([[0, 1, 0], [1, 0, 1]]),
    "mask": lambda lib: lib.tensor(I23, dtype=lib.bool), "condition":
    lambda lib: lib.tensor(I23, dtype=lib.bool), "tensors": lambda lib: [lib.tensor(F23)] * 2,
    "equation": lambda lib: "ij->j", "pad": lambda lib: (1, 1), "data": lambda lib: F23,
    "diagonal": lambda lib: 0, "shifts": lambda lib: 1, "repeats": lambda lib: 2,
    "target": lambda lib: lib.tensor(F23), "num_classes": lambda lib: 3,
    "kernel_size": lambda lib: 1, "normalized_shape": lambda lib: (3,),
    "num_groups": lambda lib: 1, "seed": lambda lib: 0, "p": lambda lib: 2,
    "ord": lambda lib: 2, "low": lambda lib: 0, "high": lambda lib: 5,
    "source": lambda lib: 1.0, "min": lambda lib: -1.0, "max": lambda lib: 1.0,
    "lower": lambda lib: False, "upper": lambda lib: False,
}

# Argument names that are fuzzed as keywords even when passed positionally elsewhere.
KEYWORDS = ("dim", "keepdim", "dtype", "out", "dims", "diagonal", "alpha", "rounding_mode",
            "reduction", "weight", "unbiased", "correction", "descending", "stable",
            "largest", "sorted", "inplace", "training", "eps", "requires_grad")


def _params(fn):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return [p for p in sig.parameters.values() if p.name != "self"]


def _good(name, lib):
    factory = GOOD.get(name, TENSORS["f23"])
    return None if factory is None else factory(lib)


def call_specs(space: str, name: str):
    """Every junk call for one callable: ``(self_key, args, kwargs)`` in junk keys."""
    fn = getattr(cr.Tensor if space == "Tensor" else _module(cr, space), name)
    params = _params(fn)
    if params is None:
        return []
    if space == "Tensor" and params and params[0].kind in (
            inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        params = params[1:]  # a method bound from a function: its first argument is self
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    variadic = any(p.kind == p.VAR_POSITIONAL for p in params)
    required = [p.name for p in positional if p.default is p.empty]
    slots = [p.name for p in positional][:4] or (["*"] if variadic else [])
    keywords = [p.name for p in params if p.name in KEYWORDS]
    selves = list(TENSORS) if space == "Tensor" else [None]
    specs = []
    for self_key in selves:
        if not slots and not keywords:
            specs.append((self_key, (), ()))
        for i, _slot in enumerate(slots):
            for junk in JUNK:
                before = tuple(("good", n) for n in slots[:i])
                specs.append((self_key, before + (("junk", junk),), ()))
        for kw in keywords:
            for junk in JUNK:
                before = tuple(("good", n) for n in required if n != kw)
                specs.append((self_key, before, ((kw, ("junk", junk)),)))
    return specs


def _module(lib, space):
    obj = lib
    for part in filter(None, space.split(".")):
        obj = getattr(obj, part)
    return obj


def _build(spec, lib):
    kind, key = spec
    return JUNK[key](lib) if kind == "junk" else _good(key, lib)


def run(lib, space, name, self_key, args, kwargs):
    """One call on one library: its normalized outcome."""
    try:
        if space == "Tensor":
            fn = getattr(TENSORS[self_key](lib), name)
        else:
            fn = getattr(_module(lib, space), name)
        a = [_build(s, lib) for s in args]
        k = {kw: _build(s, lib) for kw, s in kwargs}
        result = fn(*a, **k)
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome
        return Raised(exc)
    try:
        return normalize(_plain(result))
    except Exception as exc:  # noqa: BLE001 - an unreadable result is a finding too
        return Raised(exc)


def _plain(obj):
    """Named tuples (``max(x, 0)``, ``sort``) as plain tuples, at any depth."""
    if isinstance(obj, tuple):
        return tuple(_plain(o) for o in obj)
    if isinstance(obj, list):
        return [_plain(o) for o in obj]
    return obj


# ---- judging ----------------------------------------------------------------------------

PUBLIC_TYPES = (TypeError, ValueError, IndexError, RuntimeError)
INTERNAL = (AttributeError, KeyError, ZeroDivisionError, OverflowError, MemoryError,
            UnboundLocalError, NameError, AssertionError, RecursionError)


def _internal(exc_type) -> bool:
    if issubclass(exc_type, INTERNAL) or exc_type.__module__.startswith("numpy"):
        return True
    return not issubclass(exc_type, PUBLIC_TYPES)


def _shape_dtype(outcome):
    if isinstance(outcome, tuple) and outcome[:1] == ("tensor",):
        return outcome[1], outcome[2].shape
    if isinstance(outcome, (list, tuple)):
        return type(outcome).__name__, [_shape_dtype(o) for o in outcome]
    return type(outcome).__name__


def _same_values(ours, theirs) -> bool:
    if isinstance(theirs, tuple) and theirs[:1] == ("tensor",):
        if not (isinstance(ours, tuple) and ours[:1] == ("tensor",)):
            return False
        if ours[1] != theirs[1] or ours[2].shape != theirs[2].shape:
            return False
        a, b = ours[2], theirs[2]
        if b.dtype.kind == "f":
            return bool(np.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True))
        return bool(np.array_equal(a, b))
    if isinstance(theirs, (list, tuple)):
        return (isinstance(ours, (list, tuple)) and len(ours) == len(theirs)
                and all(_same_values(o, t) for o, t in zip(ours, theirs, strict=True)))
    if isinstance(theirs, float) and isinstance(ours, float):
        return ours == theirs or (math.isnan(ours) and math.isnan(theirs))
    if isinstance(theirs, np.ndarray):
        return isinstance(ours, np.ndarray) and _same_values(
            ("tensor", "", ours), ("tensor", "", theirs))
    if type(theirs).__module__.startswith("torch"):
        return True  # dtype/device/Size objects: compared through their str
    return type(ours) is type(theirs) and ours == theirs


def judge(name, ours, theirs, kwargs=()) -> str | None:
    """A finding's text, or None when chainrule agrees with PyTorch."""
    if (isinstance(ours, Raised) and ours.type is OverflowError and isinstance(theirs, Raised)
            and theirs.type in (OverflowError, TypeError)):
        # a Python int beyond int64/uint64 in an operation: PyTorch's own type for it
        # (where PyTorch refuses any int there, the int is refused all the same)
        return None
    if isinstance(ours, Raised) and _internal(ours.type):
        return f"internal {ours!r} (torch: {theirs!r})"
    if isinstance(theirs, Raised) and _internal(theirs.type) and fuzzing.allowed(
            "torch-internal-error"):
        return None  # PyTorch leaks OverflowError/AttributeError; ours is public (above)
    if any(kw == "out" and key in NUMBERS for kw, (_, key) in kwargs) and isinstance(
            ours, Raised) and ours.type is TypeError and fuzzing.allowed("out-number"):
        return None
    if isinstance(ours, Raised) and ours.type is RuntimeError and not isinstance(
            theirs, Raised) and "is a view and cannot be resized" in ours.message and \
            fuzzing.allowed("out-view-beyond-base"):
        return None
    if isinstance(theirs, Raised):
        if not isinstance(ours, Raised):
            if "can require gradients" in theirs.message and fuzzing.allowed(
                    "integer-leaf-requires-grad"):
                return None  # an integer tensor that requires grad (randperm, requires_grad_)
            return f"returned {_shape_dtype(ours)} where torch raised {theirs!r}"
        expected = builtin_exception_type(theirs.type)
        if not issubclass(ours.type, expected):
            return f"raised {ours!r} where torch raised {theirs!r}"
        return None
    if isinstance(ours, Raised):
        return f"raised {ours!r} where torch returned {_shape_dtype(theirs)}"
    if name in VALUES_FREE:
        same = _shape_dtype(ours) == _shape_dtype(theirs)
    else:
        same = _same_values(ours, theirs)
    return None if same else f"returned {_shape_dtype(ours)} != torch's {_shape_dtype(theirs)}"


def _describe(space, name, self_key, args, kwargs):
    target = f"{self_key}.{name}" if space == "Tensor" else f"{space + '.' if space else ''}{name}"
    shown = [f"{k}" if kind == "junk" else f"<{k}>" for kind, k in args]
    shown += [f"{kw}={k}" for kw, (kind, k) in kwargs]
    return f"{target}({', '.join(shown)})"


class _State:
    """Global settings a junk call may change, put back after every call."""

    def __enter__(self):
        self.saved = cr.get_default_dtype(), torch.get_default_dtype()
        self.grad = cr.is_grad_enabled(), torch.is_grad_enabled()

    def __exit__(self, *exc):
        cr.set_default_dtype(self.saved[0])
        torch.set_default_dtype(self.saved[1])
        for lib in (cr, torch):  # junk may set these to valid values: put them back
            lib.set_default_device(None)
            lib.use_deterministic_algorithms(False)
        cr.set_grad_enabled(self.grad[0])
        torch.set_grad_enabled(self.grad[1])


def fuzz(n_cases: int, seconds: float, only=None):
    """Run up to ``n_cases`` junk calls (all of them first for the known cases)."""
    specs = [(space, name, *spec) for space, name in targets()
             if only is None or name in only for spec in call_specs(space, name)]
    order = fuzzing.rng(NAME).permutation(len(specs))
    deadline = fuzzing.budget(seconds)
    findings, ran = {}, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in order[:n_cases]:
            if time.monotonic() > deadline:
                break
            space, name, self_key, args, kwargs = specs[i]
            with _State():
                theirs = run(torch, space, name, self_key, args, kwargs)
                ours = run(cr, space, name, self_key, args, kwargs)
            ran += 1
            problem = judge(name, ours, theirs, kwargs)
            if name in OWNED_ELSEWHERE or (
                    name in KNOWN_GAPS and problem and not problem.startswith("internal")):
                problem = None
            if problem is not None:
                findings.setdefault(name, []).append(
                    f"{_describe(space, name, self_key, args, kwargs)}: {problem}")
    return ran, len(specs), findings


# ---- tests ------------------------------------------------------------------------------

def test_every_public_callable_is_fuzzed():
    """Introspection finds the whole surface, not a hand-written short list."""
    found = {name for _, name in targets()}
    assert len(found) > 300
    assert {"mul", "add", "reshape", "where", "chunk", "sign", "tril", "flip", "sum",
            "softmax", "cross_entropy", "vector_norm", "view", "index_select"} <= found
    assert all(call_specs(space, name) for space, name in targets()), [
        name for space, name in targets() if not call_specs(space, name)]


def test_junk_arguments_raise_pytorch_exception_types():
    ran, total, findings = fuzz(fuzzing.cases(40000), 45)
    fuzzing.record(NAME, ran)
    shown = [line for name in sorted(findings) for line in findings[name][:3]]
    assert not findings, (f"{len(findings)} callables disagree with PyTorch on junk "
                          f"arguments ({ran} of {total} calls run):\n" + "\n".join(shown))


KNOWN_CASES = [
    lambda lib: lib.mul(2, 3),
    lambda lib: lib.add(2, 3.5),
    lambda lib: lib.mul(True, 3),
    lambda lib: lib.reshape(None, (2,)),
    lambda lib: lib.where(None),
    lambda lib: lib.ones(3).chunk(0),
    lambda lib: lib.sign(lib.tensor([True, False])),
    lambda lib: lib.ones(2, 3).tril(10 ** 20),
    lambda lib: lib.ones(2, 3).tril(1.5),
    lambda lib: lib.flip(lib.arange(6).reshape(2, 3), dims=(0,)),
    lambda lib: lib.flip(lib.arange(6).reshape(2, 3), dims=0),
    lambda lib: lib.ones(2, 3).sum(0, keepdim=None),
    lambda lib: lib.ones(2, 3).sum("a"),
    lambda lib: lib.ones(2, 3).unsqueeze(5),
    lambda lib: lib.ones(2, 3).reshape(3, "a"),
    lambda lib: lib.tensor([1, 2]).masked_fill(lib.tensor([True, False]), float("inf")),
    lambda lib: lib.ones(3).uniform_(float("nan")),
]


@pytest.mark.parametrize("case", range(len(KNOWN_CASES)))
def test_known_junk_cases_match_pytorch(case):
    """The cases issue 8 lists, pinned: PyTorch's value or PyTorch's exception type."""
    from conftest import assert_same, outcome
    ours, theirs = outcome(KNOWN_CASES[case], cr), outcome(KNOWN_CASES[case], torch)
    assert_same(ours, theirs)


def test_out_writes_into_the_given_tensor():
    """out= was silently ignored; now the result lands in ``out`` as in PyTorch."""
    for lib in (cr, torch):
        x = lib.tensor([[1.0, 2.0], [3.0, 4.0]])
        out = lib.zeros(2, 2)
        res = lib.add(x, x, out=out)
        assert res is out and out.tolist() == [[2.0, 4.0], [6.0, 8.0]]
        wide = lib.zeros(2, 2, dtype=lib.float64)
        lib.exp(lib.zeros(2, 2), out=wide)
        assert wide.dtype == lib.float64 and wide.tolist() == [[1.0, 1.0], [1.0, 1.0]]
        with pytest.raises(RuntimeError):
            lib.exp(x, out=lib.zeros(2, 2, dtype=lib.int64))
        with pytest.raises(RuntimeError):
            lib.add(x.requires_grad_(), 1, out=lib.zeros(2, 2))
        with pytest.raises(TypeError):
            x.detach().add(x.detach(), out=out)


def test_python_int_beyond_int64_is_an_overflow_error():
    """PyTorch raises OverflowError for a Python int outside [-2**63, 2**64) in a tensor
    operation; chainrule raises the same type, naming the op and the range."""
    for lib in (cr, torch):
        with pytest.raises(OverflowError):
            lib.tensor([1, 2]).add(10 ** 20)
    with pytest.raises(OverflowError, match=r"int too big to convert: 10+ is outside"):
        cr.tensor([1, 2]).add(10 ** 20)
