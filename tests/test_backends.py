"""The op table on other array libraries: Dask and array-api-strict (issue 9).

Every ``Case`` of ``tests/opinfo`` runs with its inputs held by another library
(``chainrule.as_tensor(dask_array)``), and its forward values and ``.grad`` must equal the
NumPy backend's (float64, 1e-10).  array-api-strict has no float16, no scatter and
refuses NumPy's extras, so anything NumPy-specific in a forward or a rule shows at once;
Dask checks a lazy library end to end (one compute per case, on one
``distributed.LocalCluster`` of 2 worker processes for the whole session).

A row may refuse a library only with ``BackendError`` (a clear message naming the word
and the library); every refusal is listed in ``docs/backends.md``'s support table, which
``docs/gen_backends.py`` writes from this same run.
"""

from __future__ import annotations

import functools
import pathlib
import re

import numpy as np
import pytest
from opinfo import ALL_CASES
from opinfo._harness import cotangents, diff_positions, flat_outputs

import chainrule as cr
from chainrule.backend.array_api import BackendError

LIBS = {}
try:
    import array_api_strict
    LIBS["array_api_strict"] = lambda a: array_api_strict.asarray(a)
except ImportError:  # pragma: no cover - the test extra installs it
    pass
try:
    import dask.array as da
    LIBS["dask"] = lambda a: da.from_array(a, chunks=tuple(max(1, (n + 1) // 2)
                                                           for n in a.shape))
except ImportError:  # pragma: no cover
    pass

try:
    if cr.cuda.is_available():
        import cupy
        LIBS["cupy"] = lambda a: cupy.asarray(a)
except ImportError:  # pragma: no cover
    pass

CASES = [c for c in ALL_CASES]


def _host(t):
    return np.array(t.detach()._host() if hasattr(t, "_host") else t, copy=True)


def run_case(case, to_lib):
    """Forward values and ``.grad`` of ``case`` with inputs held by ``to_lib``."""
    arrays = case.arrays(0, np.float64)
    pos = diff_positions(case, arrays) if case.grad else []
    inputs = []
    for i, a in enumerate(arrays):
        t = cr.as_tensor(to_lib(np.array(a, copy=True)) if to_lib else np.array(a, copy=True))
        if i in pos:
            t.requires_grad_(True)
        inputs.append(t)
    outs = flat_outputs(cr, case.fn(cr, *inputs))
    used = [k for k, o in enumerate(outs) if o.requires_grad]
    if used:  # cotangents from the NumPy run's output shapes and dtypes (nothing computed)
        like = [np.zeros(tuple(outs[k].shape), dtype=str(outs[k].dtype).split(".")[-1])
                for k in used]
        vs = cotangents(like)
        gs = [cr.as_tensor(to_lib(v) if to_lib else v) for v in vs]
        cr.autograd.backward([outs[k] for k in used], gs)
    grads = [inputs[i].grad for i in pos] if used else []
    # one compute for every value and gradient of the case (one scan on Dask)
    done = cr.compute(*[o.detach() for o in outs], *[g for g in grads if g is not None])
    values = [_host(v) for v in done[:len(outs)]]
    rest = iter(done[len(outs):])
    return values, [None if g is None else _host(next(rest)) for g in grads]


@pytest.fixture(scope="session")
def dask_cluster():
    """One LocalCluster (2 worker processes) for the whole session: Dask cases compute
    on it, as a user's cluster would (pickled graphs, separate processes)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


@functools.cache
def _support_table() -> dict:
    """``docs/backends.md``'s support table: {(row, library): status}."""
    text = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "backends.md").read_text()
    table = {}
    for row, strict, dask in re.findall(r"^\| `([^`]+)` \| ([^|]+) \| ([^|]+) \|$", text,
                                        re.M):
        table[(row, "array_api_strict")] = strict.strip()
        table[(row, "dask")] = dask.strip()
    return table


@pytest.mark.parametrize("lib", sorted(LIBS))
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_row_on_other_library_equals_numpy(case, lib, request):
    if lib == "dask":
        request.getfixturevalue("dask_cluster")
    want_vals, want_grads = run_case(case, None)
    listed = _support_table().get((case.op, lib)) if lib in ("array_api_strict", "dask") \
        else "yes"
    assert listed is not None, (f"docs/backends.md's support table has no entry for "
                                f"{case.op} on {lib}: run python docs/gen_backends.py")
    try:
        vals, grads = run_case(case, LIBS[lib])
    except BackendError as exc:
        # a stated refusal, which the support table must list
        assert listed.startswith("refused"), (
            f"{case.op} refuses {lib} ({exc}) but docs/backends.md lists {listed!r}: run "
            f"python docs/gen_backends.py")
        return
    assert len(vals) == len(want_vals)
    for v, w in zip(vals, want_vals):
        assert v.shape == w.shape and v.dtype == w.dtype, (v.shape, w.shape, v.dtype, w.dtype)
        np.testing.assert_allclose(v, w, rtol=1e-10, atol=1e-12, equal_nan=True)
    assert len(grads) == len(want_grads)
    for g, w in zip(grads, want_grads):
        if w is None:
            assert g is None or not np.any(g)
            continue
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, equal_nan=True)
    assert listed != "fails", (f"{case.op} works on {lib} but docs/backends.md lists it as "
                               f"failing: run python docs/gen_backends.py")


def _writes_through_views(to_lib):
    """In-place writes through views (Note [writes without shared memory] in
    ``ops/_record.py``): every step's values of the base and of the other views."""
    seen = []
    c = cr.as_tensor(to_lib(np.arange(6.0)))
    v, w = c[1:3], c[2:]
    v[0] = 7  # through a view: the base changes, and so does the other view
    seen += [c.tolist(), v.tolist(), w.tolist()]
    v.mul_(2)
    seen += [c.tolist(), w.tolist()]
    c.add_(1)  # into the base: its views see it
    seen += [v.tolist(), w.tolist()]
    m = cr.as_tensor(to_lib(np.arange(12.0).reshape(3, 4)))
    r = m.reshape(2, 6)
    m.t()[1].fill_(-1)  # a view of a view
    m.diagonal().zero_()
    r[1, ::2] = 5.0
    m[1:][:, [0, 2]] = 9.0  # an index write into a view
    seen += [m.tolist(), r.tolist(), m.t().tolist()]
    # gradients through the rewritten base (CopySlices), as DESIGN.md's Views case
    x = cr.as_tensor(to_lib(np.array([1.0, 2.0, 3.0]))).requires_grad_()
    y = cr.as_tensor(to_lib(np.array([4.0, 5.0]))).requires_grad_()
    a = x.clone()
    v2, w2 = a[:2], a[1:]
    v2.copy_(y.flip(0))
    w2.backward(cr.as_tensor(to_lib(np.array([1.0, 10.0]))))
    seen += [a.tolist(), w2.tolist(), x.grad.tolist(), y.grad.tolist()]
    return seen


@pytest.mark.parametrize("lib", sorted(LIBS))
def test_writes_through_views_on_libraries_without_shared_memory(lib):
    assert _writes_through_views(LIBS[lib]) == _writes_through_views(lambda a: a)
    c = cr.as_tensor(LIBS[lib](np.arange(3.0)))
    with pytest.raises(RuntimeError, match="single memory location"):
        c.expand(2, 3).add_(1)  # writing into repeated elements is refused, as PyTorch
    assert type(c._data) is not np.ndarray  # the data stayed on its library


def _sorting_calls():
    return [("sort", lambda t, d: t.sort(d)), ("sort_desc", lambda t, d: t.sort(d, True)),
            ("max", lambda t, d: t.max(d)), ("min_keep", lambda t, d: t.min(d, keepdim=True)),
            ("median", lambda t, d: t.median(d)), ("topk", lambda t, d: t.topk(2, d)),
            ("topk_small", lambda t, d: t.topk(1, d, largest=False)),
            ("argmax", lambda t, d: (t.argmax(d),)), ("argsort", lambda t, d: (t.argsort(d),))]


@pytest.mark.parametrize("lib", sorted(set(LIBS) & {"array_api_strict", "dask"}))
def test_sorting_indices_stay_on_the_library_and_equal_numpys(lib):
    """Ties, NaN, -0.0 and inf in random arrays: values and indices of every sorting
    function computed by the input's library equal the NumPy backend's (which the op
    tests compare with PyTorch), and the indices are that library's arrays (no trip
    through the host)."""
    rng = np.random.default_rng(7)
    pool = np.array([0.0, -0.0, 1.0, 1.0, 2.0, np.nan, np.inf, -np.inf, -3.0])
    for _trial in range(30):
        shape = tuple(int(n) for n in rng.integers(2, 5, size=rng.integers(1, 4)))
        a = rng.choice(pool, size=shape)
        dim = int(rng.integers(-len(shape), len(shape)))
        for name, call in _sorting_calls():
            want = call(cr.tensor(a), dim)
            got = call(cr.as_tensor(LIBS[lib](a.copy())), dim)
            idx = got[1] if len(got) == 2 else got[0]
            assert type(cr.unwrap(idx)) is not np.ndarray, (name, lib)
            for g, w in zip(cr.compute(*got), want):
                np.testing.assert_array_equal(g.numpy(), w.numpy(), err_msg=f"{name} "
                                              f"dim={dim} on {a.tolist()}")


def _derivatives(case, to_lib):
    """Forward-mode tangents and second-order reverse values of ``case`` with inputs held
    by ``to_lib`` (None: NumPy), as NumPy arrays: ``func.jvp`` with random tangents, and
    the gradient of <grad(outputs . v), w> (a Hessian-vector product)."""
    arrays = case.arrays(0, np.float64)
    pos = diff_positions(case, arrays)
    rng = np.random.default_rng(3)

    def lift(a):
        return cr.as_tensor(to_lib(np.array(a, copy=True)) if to_lib else np.array(a, copy=True))
    inputs = [lift(a) for a in arrays]

    def f(*diff):
        full = list(inputs)
        for i, d in zip(pos, diff):
            full[i] = d
        return tuple(o for o in flat_outputs(cr, case.fn(cr, *full)) if o.is_floating_point())
    tangents = tuple(lift(rng.standard_normal(arrays[i].shape)) for i in pos)
    _, tans = cr.func.jvp(f, tuple(inputs[i] for i in pos), tangents)
    xs = [inputs[i].detach().requires_grad_() for i in pos]
    outs = f(*xs)
    vs = [lift(rng.standard_normal(tuple(o.shape))) for o in outs]
    gs = cr.autograd.grad(outs, xs, vs, create_graph=True, allow_unused=True)
    ws = [lift(rng.standard_normal(tuple(x.shape))) for x in xs]
    inner = sum(((g * w).sum() for g, w in zip(gs, ws) if g is not None and g.requires_grad),
                start=cr.tensor(0.0, dtype=cr.float64))
    hv = cr.autograd.grad(inner, xs, allow_unused=True) if inner.requires_grad else [None] * len(xs)
    return ([_host(t) for t in tans],
            [None if h is None else _host(h) for h in hv])


@pytest.mark.parametrize("case", [c for c in CASES if c.grad], ids=lambda c: c.id)
def test_forward_mode_and_second_order_on_array_api_strict(case):
    """Forward mode and differentiable backward passes on another library: tangents are
    pushed and saved values rewired there as on NumPy (both were once silently lost)."""
    if "array_api_strict" not in LIBS:
        pytest.skip("array-api-strict is not installed")
    if not diff_positions(case, case.arrays(0)):
        return
    want = _derivatives(case, None)
    try:
        got = _derivatives(case, LIBS["array_api_strict"])
    except BackendError:
        return  # a refusal the support table lists (test_row_on_other_library_equals_numpy)
    for g, w in zip(got[0] + got[1], want[0] + want[1]):
        if w is None or g is None:
            assert (g is None or not np.any(g)) and (w is None or not np.any(w))
            continue
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-10, equal_nan=True)
