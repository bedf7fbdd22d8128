"""Fuzzer: random programs run eagerly and through ``chainrule.compile``; both must agree.

The oracle is chainrule itself: each random program ``f`` runs on two sides, eagerly and
as ``cf = chainrule.compile(f)``, three calls each with fresh leaf inputs: the values A
twice (the first compiled call traces, the second replays the generated code), then
other values B (other index values too; a value guard may send it to a new trace).
After every call both sides must report the same observations:

- the outputs: structure, dtype, shape, ``requires_grad``, values;
- every argument and every tensor the function reads from its closure, its globals or a
  dict it names (its "reachable" tensors): values and ``_version`` (in-place writes into
  inputs must be applied the same way), ``requires_grad``, ``.grad``;
- the gradients of all inputs, for a random cotangent, through ``autograd.grad``,
  ``backward`` (``.grad`` reset between calls, or left to accumulate, which changes the
  ``.grad`` guard), or ``create_graph=True`` and a second ``autograd.grad``; some calls
  run under ``no_grad``;
- exceptions, by builtin type, at the same point (the call, or the backward).

Values must agree bit for bit (NaN with NaN, and the sign of every zero); where not, the
case still passes within rtol 1e-12 (float64) / 1e-6 (float32) and is counted.

Between calls the reachable tensors are changed as a training loop would: written in
place (the compiled code must read their fresh values), rebound to another tensor, their
``.grad`` dropped; Python numbers among the globals are rebound.  After a call, an output
or an input is sometimes written in place before the backward.

The programs come from four generators:

- ``programs``: Python source written here step by step while it runs (so shapes are
  real): elementwise ops with broadcasting and special values (inf, nan, -0.0, huge,
  subnormal), reductions, views and basic/advanced keys (``test_fuzz_views``'s
  ``gen_view`` and ``_key``), ``setitem`` with int/slice/tensor/mask keys, in-place ops
  on intermediates, on inputs and through views, index tensors given as arguments or
  read from closures (their values change between calls), ``.item()``/``bool()``/
  ``float()``/``int()``/``tolist()`` branches and data-dependent shapes (value guards),
  random draws (``manual_seed`` before each call), float32 and float64.  A failure
  prints the program's source: a standalone reproduction;
- ``views``: ``test_fuzz_views.make_program``'s programs of views, in-place ops and
  indexing, replayed inside one compiled function (its index tensors and setitem values
  become arguments);
- ``vmap steps``: ``test_fuzz_vmap``'s per-sample steps (including a nested ``vmap``
  and ``func.grad`` inside the compiled function), on unbatched inputs with a closure
  parameter;
- ``special points``: ``test_fuzz_special_points``' elementwise and reduction rows,
  chained, on vectors holding every special value.

``KNOWN_COMPILE_GAPS`` names the differences found and not fixed yet; a case that hits
one is cut there and counted (the terminal summary lists them), never failed.  CI runs
``fuzzing.cases(n)`` cases per generator within a ``fuzzing.budget`` of seconds;
``CHAINRULE_FUZZ=long`` runs ten times as many.
"""

from __future__ import annotations

import time
import warnings

import fuzzing
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # (the generators reused below run on it)
import test_fuzz_special_points as special  # noqa: E402
import test_fuzz_views as views  # noqa: E402
import test_fuzz_vmap as vmapfuzz  # noqa: E402

import chainrule  # noqa: E402

pytestmark = pytest.mark.chainrule_only  # (eager chainrule is the oracle)

NAME = "compile"

# A difference of this kind is a known bug of chainrule.compile (not a deviation from
# PyTorch: torch.compile has none of them).  A case that hits one stops there and is
# counted in fuzzing.FINDINGS.  Remove an entry once the library is fixed.
KNOWN_COMPILE_GAPS = {
    "output-aliasing":
        "an output that is a view of an input or of another output comes back as an "
        "independent tensor over the same memory: no _base, no shared version counter, "
        "so an in-place write into it after the call neither bumps the input's _version "
        "nor rebases the other output's history (wrong gradients) nor raises the "
        "leaf-view error; the fuzzer skips such post-call writes",
    "version-error-at-trace":
        "a saved tensor modified in place inside the function: eager's forward works and "
        "its backward raises the version error; the first compiled call raises it "
        "already (the trace runs the backward)",
    "saved-version-check":
        "an input saved for the backward and written in place after the compiled call: "
        "eager's backward raises the version error, CompiledFunctionBackward computes a "
        "gradient from the new values",
}

RTOL = {"float64": 1e-12, "float32": 1e-6, "float16": 1e-3}


# ---- observing a call ------------------------------------------------------------------

class Raised:
    """An exception as an observation: equal by builtin type (the message is kept for
    the report and for classifying known gaps)."""

    def __init__(self, exc):
        self.type = views._builtin(exc)
        self.msg = f"{type(exc).__name__}: {exc}"[:300]

    def __eq__(self, other):
        return isinstance(other, Raised) and other.type == self.type

    def __repr__(self):
        return f"Raised({self.msg!r})"


def _np(t):
    return np.array(t.detach().numpy(), copy=True)


def _norm(v):
    if isinstance(v, chainrule.Tensor):
        return ("tensor", str(v.dtype).rsplit(".", 1)[-1], v.requires_grad, _np(v))
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, [_norm(x) for x in v])
    if isinstance(v, dict):
        return ("dict", [(k, _norm(x)) for k, x in v.items()])
    if isinstance(v, float):
        return ("float", np.float64(v))
    return (type(v).__name__, v)


def _leaves(v):
    if isinstance(v, (list, tuple)):
        return [y for x in v for y in _leaves(x)]
    if isinstance(v, dict):
        return [y for x in v.values() for y in _leaves(x)]
    return [v]


def _cotangent(seed, t):
    r = np.random.default_rng(seed)
    a = np.round(r.standard_normal(tuple(t.shape)) * 4) / 4
    return chainrule.tensor(a, dtype=t.dtype)


class Arg:
    """An argument of one call: a tensor made fresh from ``values`` (a leaf that requires
    grad if ``rg``), or a Python value."""

    def __init__(self, values, dtype=None, rg=False):
        self.values, self.dtype, self.rg = values, dtype, rg

    def make(self):
        if self.dtype is None:
            return self.values
        t = chainrule.tensor(np.array(self.values).tolist(), dtype=getattr(chainrule, self.dtype))
        if self.rg:
            t.requires_grad_()
        return t

    def __repr__(self):
        if self.dtype is None:
            return repr(self.values)
        rg = ", requires_grad=True" if self.rg else ""
        return f"torch.tensor({np.array(self.values).tolist()!r}, dtype=torch.{self.dtype}{rg})"


class CallSpec:
    """One call: its arguments, what happens to the reachable tensors before it, the grad
    mode, the random seed and the writes made after it."""

    def __init__(self, args, before=(), mode="grad", no_grad=False, post=None, seed=0):
        self.args = args
        self.before = list(before)   # mutations of reachable tensors (Mutation)
        self.mode = mode             # grad | backward | accumulate | double | none
        self.no_grad = no_grad
        self.post = post             # ("out", leaf index, op) | ("arg", arg index, op)
        self.seed = seed


_POST_OPS = {
    "mul_": lambda t: t.mul_(2.0),
    "add_": lambda t: t.add_(1.5),
    "setitem": lambda t: t.__setitem__((Ellipsis, 0) if t.dim() else (), 7.0),
    "zero_": lambda t: t.zero_(),
}


class Side:
    """One side of a case: the function (eager or compiled) and its reachable tensors."""

    def __init__(self, case, compiled):
        self.case = case
        self.fn, self.reach = case.build()
        self.compiled = compiled
        self.g = chainrule.compile(self.fn) if compiled else self.fn

    def call(self, spec, k, decided=None):
        """Run call ``k``; returns (observations, decisions made on the eager side)."""
        obs = []
        decided = {} if decided is None else decided
        for m in spec.before:
            m.apply(self.reach)
        args = [a.make() for a in spec.args]
        chainrule.manual_seed(spec.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if spec.no_grad:
                    with chainrule.no_grad():
                        out = self.g(*args)
                else:
                    out = self.g(*args)
            except Exception as exc:  # noqa: BLE001 - the exception is the observation
                obs.append(("call", Raised(exc)))
                obs.append(("args after the call", self._args(args)))
                obs.append(("reachable after the call", self._reach()))
                return obs, decided
            obs.append(("outputs", _norm(out)))
            obs.append(("args after the call", self._args(args)))
            obs.append(("reachable after the call", self._reach()))
            leaves = _leaves(out)
            post = spec.post
            if post is not None and "post" not in decided:
                decided["post"] = self._post_ok(post, leaves, args)
            if post is not None and decided.get("post"):
                where, j, op = post
                t = leaves[j] if where == "out" else args[j]
                try:
                    if where == "arg":
                        with chainrule.no_grad():
                            _POST_OPS[op](t)
                    else:
                        _POST_OPS[op](t)
                    obs.append(("post-call write", _np(t), t._version if where == "arg"
                                else None))
                except Exception as exc:  # noqa: BLE001
                    obs.append(("post-call write", Raised(exc)))
            if spec.mode != "none" and not spec.no_grad:
                obs.append(("gradients", self._grads(spec, k, leaves, args)))
                obs.append(("reachable after the backward", self._reach()))
        return obs, decided

    def _post_ok(self, post, leaves, args):
        """Whether the post-call write applies (decided on the eager side): a float
        tensor; for an output, one that shares no memory with another output, an
        argument or a reachable tensor (KNOWN_COMPILE_GAPS["output-aliasing"])."""
        where, j, _ = post
        pool = leaves if where == "out" else args
        if j >= len(pool):
            return False
        t = pool[j]
        if not isinstance(t, chainrule.Tensor) or not t.is_floating_point() or not t.numel():
            return False
        if where == "arg":
            return True
        a = t.detach().numpy()
        others = [x for i, x in enumerate(leaves) if i != j and isinstance(x, chainrule.Tensor)]
        others += [x for x in args if isinstance(x, chainrule.Tensor)]
        others += [x for _, x in self.reach.items() if isinstance(x, chainrule.Tensor)]
        if any(x is t or np.may_share_memory(a, x.detach().numpy()) for x in others):
            gap("output-aliasing", self.case.label)
            return False
        return True

    def _args(self, args):
        return [(_np(a), a._version) if isinstance(a, chainrule.Tensor) else a for a in args]

    def _reach(self):
        out = []
        for name, t in self.reach.items():
            if isinstance(t, chainrule.Tensor):
                out.append((name, _np(t), t._version, t.requires_grad,
                            None if t.grad is None else _np(t.grad)))
            else:
                out.append((name, t))
        return out

    def _grads(self, spec, k, leaves, args):
        diff = [t for t in leaves if isinstance(t, chainrule.Tensor) and t.requires_grad]
        targets = [a for a in args if isinstance(a, chainrule.Tensor) and a.requires_grad]
        targets += [t for _, t in self.reach.items() if isinstance(t, chainrule.Tensor)
                    and t.requires_grad and t.is_leaf]
        if not diff:
            return "no differentiable output"
        cots = [_cotangent(spec.seed * 100 + j, t) for j, t in enumerate(diff)]
        ag = chainrule.autograd
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if spec.mode in ("grad", "double"):
                    if not targets:
                        return "no inputs to differentiate"
                    gs = ag.grad(diff, targets, cots, allow_unused=True,
                                 create_graph=spec.mode == "double")
                    res = [None if g is None else _np(g) for g in gs]
                    if spec.mode == "double":
                        terms = [(g * g).sum() for g in gs if g is not None and g.requires_grad]
                        if terms:
                            g2 = ag.grad(sum(terms[1:], terms[0]), targets, allow_unused=True)
                            res.append([None if g is None else _np(g) for g in g2])
                    return res
                ag.backward(diff, cots)
                res = [None if t.grad is None else _np(t.grad) for t in targets]
                if spec.mode == "backward":
                    for _, t in self.reach.items():
                        if isinstance(t, chainrule.Tensor):
                            t.grad = None
                return res
            except Exception as exc:  # noqa: BLE001
                return Raised(exc)


# ---- the reachable tensors and what happens to them between calls -------------------------

class Reach:
    """The tensors (and numbers) a function reads besides its arguments, by name, each
    with how to get and rebind it: a closure cell, a global, an item of a dict."""

    def __init__(self):
        self.slots = {}  # name -> (get, set)

    def add(self, name, get, set_):
        self.slots[name] = (get, set_)

    def items(self):
        return [(name, get()) for name, (get, _) in self.slots.items()]

    def get(self, name):
        return self.slots[name][0]()

    def set(self, name, value):
        self.slots[name][1](value)


class Mutation:
    """A change to reachable tensor ``name`` between calls (the same on both sides)."""

    def __init__(self, name, kind, values=None):
        self.name, self.kind, self.values = name, kind, values

    def apply(self, reach):
        t = reach.get(self.name)
        kind = self.kind
        if kind == "number":
            reach.set(self.name, self.values)
            return
        if kind == "rebind":
            n = chainrule.tensor(np.array(self.values).tolist(), dtype=t.dtype)
            if t.requires_grad:
                n.requires_grad_()
            reach.set(self.name, n)
            return
        if kind == "grad_none":
            t.grad = None
            return
        with chainrule.no_grad():
            if kind == "copy_":
                t.copy_(chainrule.tensor(np.array(self.values).tolist(), dtype=t.dtype))
            elif kind == "add_":
                t.add_(0.5)
            elif kind == "mul_":
                t.mul_(-1.0)
            elif kind == "nan" and t.numel():
                t.view(-1)[0] = float("nan")
            elif kind == "fill_":
                t.fill_(-0.0)
            elif kind == "view_write" and t.numel():
                t.view(-1)[::2].mul_(3.0)

    def __repr__(self):
        return f"{self.name}: {self.kind}" + (f" {np.array(self.values).tolist()!r}"
                                              if self.values is not None else "")


def gap(name, label):
    assert name in KNOWN_COMPILE_GAPS, name
    fuzzing.FINDINGS.setdefault(f"{NAME}: {name}", []).append(label)


# ---- comparing -----------------------------------------------------------------------------

def _cmp_array(a, b):
    """'bit' when equal bit for bit (NaN = NaN, signed zeros), 'close' within RTOL, or
    False."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind != "f":
        return "bit" if np.array_equal(a, b) else False
    na, nb = np.isnan(a), np.isnan(b)
    if not np.array_equal(na, nb):
        return False
    if np.array_equal(a[~na], b[~nb]) and np.array_equal(np.signbit(a[~na]),
                                                         np.signbit(b[~nb])):
        return "bit"
    fa, fb = a[~na], b[~nb]
    if not np.array_equal(np.isinf(fa), np.isinf(fb)) or not np.array_equal(
            fa[np.isinf(fa)], fb[np.isinf(fb)]):
        return False
    fin = np.isfinite(fa)
    x, y = fa[fin].astype(np.float64), fb[fin].astype(np.float64)
    rtol = RTOL[a.dtype.name]
    scale = max(1.0, float(np.abs(x).max())) if x.size else 1.0
    return "close" if np.allclose(x, y, rtol=rtol, atol=rtol * scale) else False


def _cmp(a, b):
    """'bit', 'close' or False, for two observations."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        return _cmp_array(a, b)
    if isinstance(a, np.floating) and isinstance(b, np.floating):
        return _cmp_array(np.asarray(a), np.asarray(b))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        if len(a) != len(b):
            return False
        worst = "bit"
        for u, v in zip(a, b):
            c = _cmp(u, v)
            if not c:
                return False
            if c == "close":
                worst = "close"
        return worst
    if isinstance(a, float) and isinstance(b, float):
        return _cmp_array(np.asarray(a), np.asarray(b))
    return "bit" if type(a) is type(b) and a == b else False


def _first_difference(e_obs, c_obs):
    for i in range(max(len(e_obs), len(c_obs))):
        if i >= len(e_obs) or i >= len(c_obs):
            return (e_obs[i] if i < len(e_obs) else None,
                    c_obs[i] if i < len(c_obs) else None)
        if not _cmp(e_obs[i], c_obs[i]):
            return e_obs[i], c_obs[i]
    return None


def _is_version_error(x):
    return isinstance(x, Raised) and "modified by an inplace operation" in x.msg


def _known_gap(spec, e_obs, c_obs):
    """The KNOWN_COMPILE_GAPS entry a difference falls under, or None."""
    e = dict((o[0], o[1]) for o in e_obs)
    c = dict((o[0], o[1]) for o in c_obs)
    if isinstance(c.get("call"), Raised) and "call" not in e and _is_version_error(
            e.get("gradients")) and _is_version_error(c.get("call")):
        return "version-error-at-trace"
    if (spec.post is not None and spec.post[0] == "arg" and _is_version_error(
            e.get("gradients")) and not isinstance(c.get("gradients"), Raised)):
        return "saved-version-check"
    return None


class Case:
    """A program to run on both sides: ``build()`` -> (function, Reach); ``calls``."""

    def __init__(self, label, build, calls, text):
        self.label, self.build, self.calls, self.text = label, build, calls, text


def run_case(case):
    """Run ``case`` eagerly and compiled, call by call; None, or a failure report."""
    eager, comp = Side(case, False), Side(case, True)
    closeness = "bit"
    for k, spec in enumerate(case.calls):
        e_obs, decided = eager.call(spec, k)
        c_obs, _ = comp.call(spec, k, decided)
        diff = _first_difference(e_obs, c_obs)
        if diff is not None:
            g = _known_gap(spec, e_obs, c_obs)
            if g is not None:
                gap(g, case.label)
                return None
            return _report(case, comp, k, diff)
        if _cmp(e_obs, c_obs) == "close":
            closeness = "close"
        if k == 1 and _replay_expected(case, e_obs) and comp.g.traces != 1:
            return _report(case, comp, k, ("1 trace: the 2nd call (same values) replays",
                                           f"{comp.g.traces} traces"))
    fuzzing.record(f"{NAME}: calls", len(case.calls))
    if closeness == "close":
        fuzzing.record(f"{NAME}: cases equal within rtol, not bit for bit")
    if comp.g._cache:
        fuzzing.record(f"{NAME}: traces", comp.g.traces)
    if comp.g._eager_keys and not comp.g._cache:
        fuzzing.record(f"{NAME}: cases compile ran eagerly (not traceable)")
    return None


def _replay_expected(case, e_obs):
    """Whether the 2nd call (the 1st call's values, nothing rebound) must replay the
    1st call's trace: unless the 1st call raised, or its backward gave a reachable
    tensor a ``.grad`` (a guard)."""
    c0, c1 = case.calls[0], case.calls[1]
    return (not c1.before and c0.mode != "accumulate" and c0.no_grad == c1.no_grad
            and e_obs[0][0] != "call")


def _report(case, comp, k, diff):
    e, c = diff
    src = ""
    if getattr(comp.g, "_last", None) is not None:
        try:
            src = comp.g.source
        except Exception:  # noqa: BLE001
            src = ""
    lines = [f"{case.label}: call {k + 1} differs", case.text]
    for j, spec in enumerate(case.calls):
        lines.append(f"call {j + 1}: args={spec.args!r} before={spec.before!r} "
                     f"mode={spec.mode} no_grad={spec.no_grad} post={spec.post} "
                     f"seed={spec.seed}")
    lines += [f"  eager:    {e!r}", f"  compiled: {c!r}"]
    if src:
        lines += ["generated code of the last trace:", src]
    return "\n".join(lines)


def _run_all(name, make_case, n, seconds, minimum):
    deadline = fuzzing.budget(seconds)
    total = fuzzing.cases(n)
    failures = []
    ran = 0
    for seed in range(total):
        if time.monotonic() > deadline:
            break
        case = make_case(seed)
        ran += 1
        if case is None:
            continue
        msg = run_case(case)
        if msg is not None:
            failures.append(msg)
            if len(failures) >= 3:
                break
    fuzzing.record(f"{NAME}: {name}", ran)
    assert not failures, "\n\n".join(failures)
    assert ran >= min(total, minimum), f"only {ran} {name} ran in the time budget"


# ---- call plans shared by the generators -----------------------------------------------------

_MODES = ("grad",) * 4 + ("backward",) * 3 + ("accumulate", "double", "none")


def _plan_calls(rng, args_a, args_b, reach_mutations, n_args, n_out_hint=1):
    """Three calls: values A twice, then B.  Mutations of reachable tensors before the
    2nd (in place only, so the 2nd call still replays) and the 3rd call."""
    mode = str(rng.choice(_MODES))
    no_grad = [False] * 3
    if rng.random() < 0.06:  # calls under no_grad: the first two, or the last
        no_grad = [True, True, False] if rng.random() < 0.5 else [False, False, True]
    calls = []
    for k in range(3):
        before = []
        if k == 1 and reach_mutations and rng.random() < 0.3:
            before = [m for m in reach_mutations(k) if m.kind not in ("rebind", "number",
                                                                      "grad_none")]
        elif k == 2 and reach_mutations and rng.random() < 0.7:
            before = reach_mutations(k)
        post = None
        r = rng.random()
        if r < 0.15:
            post = ("out", int(rng.integers(0, max(n_out_hint, 1))),
                    str(rng.choice(list(_POST_OPS))))
        elif r < 0.25 and n_args:
            post = ("arg", int(rng.integers(0, n_args)), str(rng.choice(["mul_", "add_"])))
        calls.append(CallSpec(args_a if k < 2 else args_b, before, mode,
                              no_grad[k], post, seed=k + 1))
    return calls


# ---- values ----------------------------------------------------------------------------

_SPECIAL = {"float64": [np.inf, -np.inf, np.nan, -0.0, 0.0, 1e300, -1e300, 5e-324, 1.0],
            "float32": [np.inf, -np.inf, np.nan, -0.0, 0.0, 3e38, -3e38, 1e-45, 1.0]}


def _values(rng, shape, dtype="float64", specials=0.0):
    a = np.round(rng.standard_normal(shape) * 4) / 4
    if specials and a.size and rng.random() < specials:
        mask = rng.random(a.shape) < 0.25
        picks = rng.choice(np.array(_SPECIAL[dtype], dtype=np.float64), size=a.shape)
        a = np.where(mask, picks, a)
    return a.astype(dtype)


def _resample_index(rng, data):
    """Other index values that stay valid where ``data`` was: its own values, drawn
    with replacement (integers) or shuffled (masks: the count of True kept), or redrawn
    (masks: the count may change, and with it later shapes)."""
    data = np.asarray(data)
    if data.size == 0:
        return data
    if data.dtype == np.bool_ or data.dtype == np.uint8:
        if rng.random() < 0.6:
            flat = data.ravel().copy()
            rng.shuffle(flat)
            return flat.reshape(data.shape)
        return (rng.random(data.shape) < 0.5).astype(data.dtype)
    return rng.choice(data.ravel(), size=data.shape).astype(data.dtype)
