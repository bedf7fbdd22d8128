"""Forward mode (JVP rules), run over the whole op table (``tests/opinfo``).

Every differentiable case runs with dual inputs (``forward_ad.make_dual(x, u)`` on each
differentiable float input) and the output tangents must satisfy:

- finite differences: the tangent equals ``(f(x + εu) - f(x - εu)) / 2ε`` in float64,
  element by element, in the output's shape and dtype (cases tagged ``NO_FD`` sit on a
  kink on purpose and skip this);
- transposition: ⟨vᵀJ, u⟩ from backward equals ⟨v, Ju⟩ from forward to rounding, so each
  JVP rule is the exact transpose of its VJP rule, conventions at kinks included;
- batched tangents: one pass at ``dual_level(nb=1)`` with a batch of 3 tangents equals 3
  unbatched passes (3 matches no dimension in the table);
- nesting: with two levels, the inner level's rules run on Tensors (the differentiable
  namespace) and give the raw result, and the outer level differentiates them:
  the tangent of the tangent matches finite differences of the JVP (``NO_FD2`` skips);
- PyTorch: ``torch.autograd.forward_ad`` gives the same tangents (skipped where torch
  has no forward derivative for the op, and at kinks where torch's forward AD is not the
  transpose of its own backward: there we follow the backward, which test_ops.py pins).

Then forward-mode semantics the table does not reach (broadcasting against a constant,
in-place writes through views), ``func.jacfwd`` against ``func.jacrev``, ``func.hessian``
(forward over reverse) against ``jacrev(jacrev(f))`` and ``torch.func.hessian``, all four
second-order compositions against each other, and a backward through a jvp.
"""

from __future__ import annotations

import numpy as np
import pytest
from opinfo import ALL_CASES
from opinfo._harness import (
    F32_INSIDE,
    NO_FD,
    NO_FD2,
    NO_TORCH_GRAD,
    TORCH_JVP_WRONG,
    diff_positions,
    flat_outputs,
    make_inputs,
    run,
    to_numpy,
    vjp,
)

import chainrule
from chainrule import func
from chainrule.autograd import forward_ad as fwd

EPS = 1e-6
BATCH = 3
GRAD_CASES = [c for c in ALL_CASES if c.grad]

# Known bugs outside the op rows: strict xfails, so that a fix shows up as XPASS (none
# open now; keep the mechanism for the next one).
KNOWN: dict = {}


def _cases(test):
    known = KNOWN.get(test, {})
    return pytest.mark.parametrize("case", [
        pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=known[c.id])]
                     if c.id in known else []) for c in GRAD_CASES])


# ---- helpers ---------------------------------------------------------------------------

def _setup(case, seed=2, batch=()):
    """float64 inputs, the differentiable positions and a random tangent for each."""
    arrays = case.arrays(dtype=np.float64)
    pos = diff_positions(case, arrays)
    if not pos:
        pytest.skip("no differentiable float input")
    rng = np.random.default_rng(seed)
    return arrays, pos, [rng.standard_normal(batch + arrays[i].shape) for i in pos]


def _forward(lib, case, arrays, pos, us, nb=0):
    """``(outputs, tangents)`` of ``case.fn`` with input ``i`` dual to ``u`` for each
    ``(i, u)``; a tangent is None where the library gives none (a zero tangent)."""
    fa = lib.autograd.forward_ad
    with fa.dual_level(nb=nb) if nb else fa.dual_level():
        inputs = make_inputs(lib, arrays)
        for i, u in zip(pos, us):
            inputs[i] = fa.make_dual(inputs[i], lib.tensor(u))
        outs = flat_outputs(lib, case.fn(lib, *inputs))
        tans = [fa.unpack_dual(o).tangent for o in outs]
        return ([to_numpy(o) for o in outs],
                [None if t is None or _is_zero(t) else to_numpy(t) for t in tans])


def _is_zero(t) -> bool:
    """PyTorch's ZeroTensor, its symbolic zero tangent."""
    return bool(getattr(t, "_is_zerotensor", lambda: False)())


def _or_zeros(t, like, batch=()):
    return np.zeros(batch + like.shape, like.dtype) if t is None else t


def _outputs(case, arrays):
    with chainrule.no_grad():
        return [to_numpy(o) for o in run(chainrule, case, arrays)[1]]


def _shifted(case, arrays, pos, us, step):
    xs = list(arrays)
    for i, u in zip(pos, us):
        xs[i] = arrays[i] + step * u
    return xs


# ---- first order -------------------------------------------------------------------------

@_cases("fd")
def test_jvp_matches_finite_differences(case):
    if NO_FD in case.tags:
        pytest.skip("the row's convention at a kink is not the central difference")
    arrays, pos, us = _setup(case)
    outs, tans = _forward(chainrule, case, arrays, pos, us)
    plus = _outputs(case, _shifted(case, arrays, pos, us, EPS))
    minus = _outputs(case, _shifted(case, arrays, pos, us, -EPS))
    for k, (o, t, p, m) in enumerate(zip(outs, tans, plus, minus)):
        what = f"{case.id} output {k}"
        if o.dtype.kind != "f":
            assert t is None, f"{what}: a {o.dtype} output has a tangent"
            continue
        if t is not None:
            assert t.shape == o.shape and t.dtype == o.dtype, (
                f"{what}: tangent {t.shape} {t.dtype} for an output {o.shape} {o.dtype}")
        if o.dtype != np.float64:
            continue  # float32 is too coarse for finite differences
        fd = (p - m) / (2 * EPS)
        scale = 1.0 + np.nanmax(np.abs(o), initial=0) + np.nanmax(np.abs(fd), initial=0)
        np.testing.assert_allclose(_or_zeros(t, o), fd, rtol=0,
                                   atol=max(case.fd_tol, 1e-6) * scale, err_msg=what)


@_cases("transpose")
def test_jvp_is_the_transpose_of_vjp(case):
    """⟨vᵀJ, u⟩ (backward) = ⟨v, Ju⟩ (forward) to rounding, in float64."""
    arrays, pos, us = _setup(case)
    grads, _, used, vs = vjp(chainrule, case, arrays)
    outs, tans = _forward(chainrule, case, arrays, pos, us)
    stray = [k for k, t in enumerate(tans) if t is not None and k not in used]
    assert not stray, f"outputs {stray} have tangents but do not require grad"
    jus = [_or_zeros(tans[k], outs[k]) for k in used]
    lhs = sum(float(np.sum(u * g)) for u, g in zip(us, grads))
    rhs = sum(float(np.sum(v * ju)) for v, ju in zip(vs, jus))
    if not (np.isfinite(lhs) and np.isfinite(rhs)) and NO_FD in case.tags:
        # Note [where and NaN]: a NaN derivative in an unused branch poisons the VJP (as
        # in PyTorch) but not the JVP, which selects the branch's tangent (as PyTorch's)
        pytest.skip(f"non-finite at a kink: <J^T v, u> = {lhs}, <v, J u> = {rhs}")
    scale = 1.0 + sum(float(np.sum(np.abs(u * g))) for u, g in zip(us, grads)) \
        + sum(float(np.sum(np.abs(v * ju))) for v, ju in zip(vs, jus))
    rounding = 1e-10
    if F32_INSIDE in case.tags or any(outs[k].dtype != np.float64 for k in used):
        rounding = 1e-5
    assert abs(lhs - rhs) <= rounding * scale, (
        f"{case.id}: <J^T v, u> = {lhs!r}, <v, J u> = {rhs!r}")


@_cases("batched")
def test_batched_tangents_equal_stacked_jvps(case):
    arrays, pos, us = _setup(case, seed=4, batch=(BATCH,))
    outs, batched = _forward(chainrule, case, arrays, pos, us, nb=1)
    for b in range(BATCH):
        _, single = _forward(chainrule, case, arrays, pos, [u[b] for u in us])
        for k, (o, tb, ts) in enumerate(zip(outs, batched, single)):
            what = f"{case.id} output {k} batch {b}"
            if ts is None:
                assert tb is None or not np.any(tb[b]), what
                continue
            assert tb is not None and tb.shape == (BATCH,) + o.shape, (
                f"{what}: batched tangent {None if tb is None else tb.shape}, output {o.shape}")
            np.testing.assert_allclose(tb[b], ts, rtol=1e-10, atol=1e-12, err_msg=what)


# ---- nested levels: the rules on Tensors, differentiated again -----------------------------

def _nested(case, arrays, pos, us, ws):
    """Outputs, level-1 tangents (``J u``) and their level-0 tangents (``d(J u)·w``), with
    ``x`` dual to ``w`` at level 0 and to ``u`` at level 1 (``ws`` None: no level-0 duals)."""
    with fwd.dual_level():
        inputs = make_inputs(chainrule, arrays)
        if ws is not None:
            for i, w in zip(pos, ws):
                inputs[i] = fwd.make_dual(inputs[i], chainrule.tensor(w))
        with fwd.dual_level():
            for i, u in zip(pos, us):
                inputs[i] = fwd.make_dual(inputs[i], chainrule.tensor(u))
            outs = flat_outputs(chainrule, case.fn(chainrule, *inputs))
            tans = [fwd.unpack_dual(o).tangent for o in outs]
        second = [None if t is None else fwd.unpack_dual(t).tangent for t in tans]
        return ([to_numpy(o) for o in outs], [None if t is None else to_numpy(t) for t in tans],
                [None if t is None else to_numpy(t) for t in second])


@_cases("nested")
def test_nested_jvp_matches_raw_and_finite_differences(case):
    arrays, pos, us = _setup(case)
    _, raw = _forward(chainrule, case, arrays, pos, us)
    _, on_tensors, _ = _nested(case, arrays, pos, us, None)
    for k, (r, t) in enumerate(zip(raw, on_tensors)):
        assert (r is None) == (t is None), f"{case.id} output {k}: raw {r}, on Tensors {t}"
        if r is not None:
            np.testing.assert_allclose(t, r, rtol=1e-12, atol=1e-14,
                                       err_msg=f"{case.id} output {k} (rules on Tensors)")
    if NO_FD in case.tags or NO_FD2 in case.tags:
        return  # on a kink of the row or of its derivative
    ws = [np.random.default_rng(5).standard_normal(arrays[i].shape) for i in pos]
    outs, _, second = _nested(case, arrays, pos, us, ws)
    _, plus = _forward(chainrule, case, _shifted(case, arrays, pos, ws, EPS), pos, us)
    _, minus = _forward(chainrule, case, _shifted(case, arrays, pos, ws, -EPS), pos, us)
    for k, (o, s, p, m) in enumerate(zip(outs, second, plus, minus)):
        if o.dtype != np.float64:
            continue
        fd = (_or_zeros(p, o) - _or_zeros(m, o)) / (2 * EPS)
        scale = 1.0 + np.nanmax(np.abs(p), initial=0) + np.nanmax(np.abs(fd), initial=0)
        np.testing.assert_allclose(_or_zeros(s, o), fd, rtol=0,
                                   atol=max(case.fd_tol, 1e-5) * scale,
                                   err_msg=f"{case.id} output {k}: second order")


# ---- PyTorch -------------------------------------------------------------------------------

@_cases("torch")
def test_jvp_matches_torch(case):
    torch = pytest.importorskip("torch")
    if NO_TORCH_GRAD in case.tags:
        pytest.skip("PyTorch has no derivative for this op")
    if TORCH_JVP_WRONG in case.tags:
        pytest.skip("PyTorch's forward AD of this op is wrong (checked by finite differences)")
    arrays, pos, us = _setup(case)
    try:
        _, theirs = _forward(torch, case, arrays, pos, us)
    except (NotImplementedError, RuntimeError) as exc:
        pytest.skip(f"no forward AD in PyTorch here: {str(exc)[:80]}")
    outs, ours = _forward(chainrule, case, arrays, pos, us)
    if NO_FD in case.tags and not _self_consistent(torch, case, arrays, us, outs, theirs):
        # our JVP is the transpose of our VJP, which test_grad_matches_torch pins to
        # PyTorch's backward; at some kinks PyTorch's forward AD uses another convention
        pytest.skip("PyTorch's forward AD and backward disagree at this kink")
    for k, (o, t_ours, t_theirs) in enumerate(zip(outs, ours, theirs)):
        if o.dtype.kind != "f":
            continue
        np.testing.assert_allclose(_or_zeros(t_ours, o), _or_zeros(t_theirs, o),
                                   rtol=case.rtol, atol=case.atol,
                                   err_msg=f"{case.id} output {k} vs torch")


def _self_consistent(lib, case, arrays, us, outs, tans) -> bool:
    """Is ``lib``'s JVP the transpose of its own VJP here (⟨vᵀJ, u⟩ = ⟨v, Ju⟩)?"""
    grads, _, used, vs = vjp(lib, case, arrays)
    lhs = sum(float(np.sum(u * g)) for u, g in zip(us, grads))
    rhs = sum(float(np.sum(v * _or_zeros(tans[k], outs[k]))) for k, v in zip(used, vs))
    rtol = 1e-5 if F32_INSIDE in case.tags else 1e-8
    return bool(np.isclose(lhs, rhs, rtol=rtol, atol=rtol * 1e-2))


# ---- semantics the table does not reach ----------------------------------------------------

def _mirror(lib, script):
    """Run ``script(lib, fa, x)`` with ``x`` dual to ``u``; the tangents it returns."""
    fa = lib.autograd.forward_ad
    with fa.dual_level():
        x = fa.make_dual(lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64),
                         lib.tensor([1.0, 10.0, 100.0], dtype=lib.float64))
        outs = script(lib, fa, x)
        return [None if t is None else to_numpy(t)
                for t in (fa.unpack_dual(o).tangent for o in outs)]


def _broadcast_partner(lib, fa, x):
    # the tangent of a broadcast input, met only by a constant: broadcast to the output
    return [x.reshape(3, 1) + lib.ones(3, 2, dtype=lib.float64),
            lib.ones(2, 3, dtype=lib.float64) - x]


def _inplace_through_view(lib, fa, x):
    # writing through one view changes the base and every other view, tangents included
    a = x * 1
    v, w = a[:2], a[1:]
    v.mul_(2)
    return [a, w, w + 0]


def _writes(lib, fa, x):
    y = x * 1
    y[0] = 5.0  # a constant: zero tangent there
    z = lib.zeros(2, 3, dtype=lib.float64)
    z[1] = x  # into a tensor without a tangent
    return [y, z, z[0], x.long()]


@pytest.mark.parametrize("script", [_broadcast_partner, _inplace_through_view, _writes],
                         ids=lambda f: f.__name__.strip("_"))
def test_forward_semantics_match_torch(script):
    torch = pytest.importorskip("torch")
    ours, theirs = _mirror(chainrule, script), _mirror(torch, script)
    for k, (o, t) in enumerate(zip(ours, theirs)):
        if t is None or not t.any():
            assert o is None or not o.any(), f"output {k}: tangent {o}, torch has none"
        else:
            np.testing.assert_allclose(o, t, rtol=1e-12, err_msg=f"output {k}")


# ---- transforms: jacfwd, hessian -----------------------------------------------------------

def _w(lib):
    return lib.tensor(np.linspace(-1.0, 1.0, 12).reshape(3, 4))


def _mlp(lib, x):
    return (x @ _w(lib)).tanh().softmax(-1)


def _orders(lib, x):
    s = x.sort(-1).values
    return lib.cat([s, x.logsumexp(-1, keepdim=True), x.amax(-1, keepdim=True)], -1)


def _reductions(lib, x):
    return x.norm(dim=-1) * x.prod(-1) + x.var(-1) - x.std(0).sum() + x.cumprod(-1)[:, -1]


def _indexing(lib, x):
    idx = lib.tensor([[2, 0, 1], [1, 1, 0]])
    y = x[[0, 1, 1]].cumsum(0).flip(0)
    z = lib.scatter_add(x, 1, idx, x.gather(1, idx) ** 2)
    return lib.stack([y[:2], z.masked_fill(x > 0.5, 0.0)]).permute(1, 0, 2)


def _shapes(lib, x):
    y = lib.einsum("ij,kj->ik", x, x).tril() + x.sum().expand(2, 2)
    return lib.constant_pad_nd(y, (1, 0)).repeat(1, 2).roll(1, 0).diagonal(0, 0, 1)


def _matmuls(lib, x):
    v = x[0]
    return lib.stack([x @ v, lib.mv(x, x[1]) * lib.dot(v, v), (x.T @ x)[0, :2]])


COMPOSITES = [_mlp, _orders, _reductions, _indexing, _shapes, _matmuls]
_X = np.array([[0.3, -1.2, 0.8], [1.1, 0.4, -0.6]])


@pytest.mark.parametrize("f", COMPOSITES, ids=lambda f: f.__name__.strip("_"))
def test_jacfwd_equals_jacrev(f):
    x = chainrule.tensor(_X)
    forward = func.jacfwd(lambda t: f(chainrule, t))(x)
    reverse = func.jacrev(lambda t: f(chainrule, t))(x)
    assert tuple(forward.shape) == tuple(reverse.shape)
    np.testing.assert_allclose(to_numpy(forward), to_numpy(reverse), rtol=1e-12, atol=1e-14)


def test_jacfwd_several_inputs_and_outputs():
    def f(lib, a, b):
        return (a @ b).exp(), lib.einsum("ij,jk->k", a, b) * b.sum()
    a, b = chainrule.tensor(_X), chainrule.tensor(_X.T * 0.5)
    fwd_j = func.jacfwd(lambda a, b: f(chainrule, a, b), argnums=(0, 1))(a, b)
    rev_j = func.jacrev(lambda a, b: f(chainrule, a, b), argnums=(0, 1))(a, b)
    for jf_row, jr_row in zip(fwd_j, rev_j):
        for jf, jr in zip(jf_row, jr_row):
            np.testing.assert_allclose(to_numpy(jf), to_numpy(jr), rtol=1e-12, atol=1e-14)


def _scalar_1(lib, x):
    return (x.log_softmax(-1) * x).sum() + x.norm() ** 3 + (x @ x.T).trace()


def _scalar_2(lib, x):
    return x.prod() + x.cumprod(1).sum() + x.logsumexp((0, 1)) * x.var()


def _scalar_3(lib, x):
    y = lib.cat([x, x.sort(0).values ** 2], 0)
    return lib.einsum("ij,ij->", y, y.flip(1)).sin() + x.amax() * x.std()


def _scalar_4(lib, x):
    y = lib.where(x > 0, x.exp(), x ** 2).clamp(-1.0, 2.0)
    return lib.lerp(y, x.T.mm(x)[:2], 0.3).sum() ** 2


SCALARS = [_scalar_1, _scalar_2, _scalar_3, _scalar_4]


@pytest.mark.parametrize("f", SCALARS, ids=lambda f: f.__name__.strip("_"))
def test_hessian_forward_over_reverse(f):
    x = chainrule.tensor(_X)
    h = to_numpy(func.hessian(lambda t: f(chainrule, t))(x))
    rr = to_numpy(func.jacrev(func.jacrev(lambda t: f(chainrule, t)))(x))
    assert h.shape == _X.shape * 2
    np.testing.assert_allclose(h, rr, rtol=1e-10, atol=1e-12)
    torch = pytest.importorskip("torch")
    theirs = torch.func.hessian(lambda t: f(torch, t))(torch.tensor(_X)).numpy()
    np.testing.assert_allclose(h, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("f", SCALARS + COMPOSITES, ids=lambda f: f.__name__.strip("_"))
def test_second_order_compositions_agree(f):
    """forward-over-forward, reverse-over-forward (Note [reverse over forward]) and
    forward-over-reverse all equal reverse-over-reverse."""
    x = chainrule.tensor(_X)

    def g(t):
        return f(chainrule, t)
    want = to_numpy(func.jacrev(func.jacrev(g))(x))
    for name, outer, inner in (("jacfwd(jacfwd)", func.jacfwd, func.jacfwd),
                               ("jacrev(jacfwd)", func.jacrev, func.jacfwd),
                               ("jacfwd(jacrev)", func.jacfwd, func.jacrev)):
        np.testing.assert_allclose(to_numpy(outer(inner(g))(x)), want, rtol=1e-10,
                                   atol=1e-12, err_msg=name)


def test_backward_through_a_jvp_matches_torch():
    """The tangent of a jvp at an input that requires grad is differentiable: its
    backward gives a Hessian-vector product (here through an in-place view write)."""
    def run(lib):
        x = lib.tensor(_X, requires_grad=True)
        u = lib.tensor(np.ones_like(_X))
        w = lib.tensor(np.arange(6.0).reshape(2, 3) / 6)

        def f(t):
            y = t.exp() * t.sum()
            y[0] = t[1] ** 2
            return (y * t.cumsum(1)).softmax(-1)
        _, tangent = lib.func.jvp(f, (x,), (u,))
        (tangent * w).sum().backward()
        return to_numpy(x.grad)
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(run(chainrule), run(torch), rtol=1e-10, atol=1e-12)
