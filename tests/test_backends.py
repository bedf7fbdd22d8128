"""The op table on other array libraries: Dask and array-api-strict (issue 9).

Every ``Case`` of ``tests/opinfo`` runs with its inputs held by another library
(``chainrule.as_tensor(dask_array)``), and its forward values and ``.grad`` must equal the
NumPy backend's (float64, 1e-10).  array-api-strict has no float16, no scatter and
refuses NumPy's extras, so anything NumPy-specific in a forward or a rule shows at once;
Dask checks a lazy library end to end (one compute per case, on the threaded scheduler
here; ``test_dask_cluster.py`` runs a LocalCluster).

A row may refuse a library only with ``BackendError`` (a clear message naming the word
and the library); every refusal is listed in ``docs/backends.md``'s support table, which
``docs/gen_backends.py`` writes from this same run.
"""

from __future__ import annotations

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

# rows not yet written on xp (Note [forwards on xp] in ops/_core.py): they may fail with
# any error here; each one that passes is removed (test_pending_rows_still_fail)
PENDING: set[str] = set()

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


@pytest.mark.parametrize("lib", sorted(LIBS))
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_row_on_other_library_equals_numpy(case, lib, request):
    if lib == "dask":
        request.getfixturevalue("dask_cluster")
    want_vals, want_grads = run_case(case, None)
    try:
        vals, grads = run_case(case, LIBS[lib])
    except BackendError:
        return  # a stated refusal (listed in the support table)
    except Exception:
        if case.op in PENDING:
            pytest.xfail(f"{case.op}: not yet on xp")
        raise
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
