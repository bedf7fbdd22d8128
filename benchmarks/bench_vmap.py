"""Per-sample gradients with ``vmap(grad(loss))``: chainrule against ``torch.func``.

    python benchmarks/bench_vmap.py                 # medians of 7 interleaved rounds
    python benchmarks/bench_vmap.py --rounds 11 --json out.json

Workload (issue 10's target: at most 1.2x torch.func, one thread, same run): the
per-sample gradients of a 784-128-10 MLP's cross-entropy, batch 64, float32, written as
``vmap(grad(loss), in_dims=(None, 0, 0))`` with ``func.functional_call`` in both
libraries (the same code, ``lib`` is either module).  Both start from the same weights,
and their gradients are compared before timing.  Also timed: the same gradients by a
Python loop over the samples in chainrule (what vmap replaces).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one BLAS thread, set before NumPy loads

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_core  # noqa: E402

import chainrule as cr  # noqa: E402


def _model(lib, weights):
    m = lib.nn.Sequential(lib.nn.Linear(784, 128), lib.nn.ReLU(), lib.nn.Linear(128, 10))
    with lib.no_grad():
        for p, w in zip(m.parameters(), weights):
            p.copy_(lib.tensor(w))
    return m


def workload(lib, weights, x, y):
    model = _model(lib, weights)
    params = {k: v.detach() for k, v in model.named_parameters()}
    xt, yt = lib.tensor(x), lib.tensor(y)

    def loss(p, xb, yb):
        out = lib.func.functional_call(model, p, (xb[None],))
        return lib.nn.functional.cross_entropy(out, yb[None])
    per_sample = lib.func.vmap(lib.func.grad(loss), in_dims=(None, 0, 0))
    return (lambda: per_sample(params, xt, yt)), (lambda: [
        lib.func.grad(loss)(params, xt[i], yt[i]) for i in range(len(y))])


def _time(f, n):
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(s).astype(np.float32) * 0.05
               for s in ((128, 784), (128,), (10, 128), (10,))]
    x = rng.standard_normal((64, 784)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    cr_f, cr_loop = workload(cr, weights, x, y)
    th_f, _ = workload(torch, weights, x, y)
    got, want = cr_f(), th_f()
    err = max(float(np.abs(got[k].numpy() - want[k].numpy()).max()) for k in want)
    assert err < 1e-5, f"per-sample gradients differ from torch.func by {err}"
    times = {"chainrule": [], "torch.func": [], "chainrule loop": []}
    for _ in range(args.rounds):  # interleaved rounds
        times["chainrule"].append(_time(cr_f, 20))
        times["torch.func"].append(_time(th_f, 20))
        times["chainrule loop"].append(_time(cr_loop, 2))
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    ratio = med["chainrule"] / med["torch.func"]
    print(f"CPU: {bench_core.cpu_model()}  (one thread, medians of {args.rounds} rounds)")
    print(f"per-sample grads, MLP 784-128-10, batch 64: chainrule vmap {med['chainrule']:.2f} "
          f"ms, torch.func {med['torch.func']:.2f} ms, ratio {ratio:.2f} (target <= 1.2); "
          f"a Python loop of grad: {med['chainrule loop']:.2f} ms; max |diff| {err:.1e}")
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": bench_core.cpu_model(), "ms": med,
                                               "ratio": ratio}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
