"""The same workloads on every array library present, against PyTorch on the same device.

    python benchmarks/bench_backends.py                  # NumPy, Dask, CuPy if present
    python benchmarks/bench_backends.py --json out.json --rows 4000000

Workloads (bench_core.py defines the first two; the same code runs here):

- ``mlp``: one training step of a 784-512-512-10 MLP, batch 128 (float32);
- ``big``: ``((x*2+1).tanh()*x).sum()`` and its gradient on 4096x4096 float32;
- ``dask_grad``: the gradient of a logistic loss over ``--rows`` x 16 float32 rows held
  in a Dask array (a LocalCluster with 2 worker processes), as GB of data scanned per
  second per gradient, against the same computation on NumPy data when it fits.

Each line prints chainrule's median time, PyTorch's on the same device (CPU for NumPy and
Dask, CUDA for CuPy) and their ratio, with the CPU (or GPU) model.
"""

from __future__ import annotations

import os

# one BLAS thread for both libraries (as bench_core.py's default), set before NumPy loads
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_core  # noqa: E402


def _median_time(step, repeats, sync=lambda: None):
    step()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _on_device(torch_like, device):
    """A ``torch.tensor`` that puts every tensor on ``device`` (the workloads call
    ``torch.tensor(..)`` and ``torch.arange(..)``)."""
    class Lib:
        def __getattr__(self, name):
            return getattr(torch_like, name)

        @staticmethod
        def tensor(data, **kw):
            return torch_like.tensor(data, **kw).to(device)

        @staticmethod
        def arange(*a, **kw):
            return torch_like.arange(*a, **kw).to(device)
    return Lib()


def bench_eager(results, repeats):
    import chainrule
    try:
        import torch
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    except ImportError:
        torch = None
    devices = ["cpu"] + (["cuda"] if chainrule.cuda.is_available() else [])
    for device in devices:
        sync_cr = chainrule.cuda.synchronize if device == "cuda" else (lambda: None)
        sync_t = (torch.cuda.synchronize if device == "cuda" and torch is not None
                  and torch.cuda.is_available() else (lambda: None))
        backend = "numpy" if device == "cpu" else "cupy"
        for name in ("mlp", "big"):
            make = getattr(bench_core, f"{name}_torchlike")
            ours = _median_time(make(_on_device(chainrule, device)), repeats, sync_cr)
            theirs = None
            if torch is not None and (device == "cpu" or torch.cuda.is_available()):
                theirs = _median_time(make(_on_device(torch, device)), repeats, sync_t)
            results.append({"workload": name, "backend": backend, "device": device,
                            "chainrule_s": ours, "torch_s": theirs,
                            "ratio": None if theirs is None else ours / theirs})
            shown = ("n/a" if theirs is None
                     else f"{theirs * 1e3:8.2f} ms  ratio {ours / theirs:.2f}")
            print(f"{name:5s} {backend:6s} {device:5s} chainrule {ours * 1e3:8.2f} ms  "
                  f"torch {shown}", flush=True)


def bench_dask(results, rows, chunk, repeats):
    try:
        import dask.array as da
        from dask.distributed import Client, LocalCluster
    except ImportError:
        print("dask_grad: dask/distributed not installed (pip install 'chainrule[dask]')")
        return
    import chainrule as cr
    import chainrule.nn.functional as F

    def gradient(x, y, w):
        w.grad = None
        loss = F.binary_cross_entropy_with_logits(x @ w, y)
        loss.backward()
        return loss

    rng = np.random.default_rng(0)
    xn = rng.standard_normal((rows, 16), dtype=np.float32)
    yn = (xn @ np.linspace(-1, 1, 16, dtype=np.float32) > 0).astype(np.float32)
    gb = xn.nbytes / 1e9
    w = cr.zeros(16, requires_grad=True)
    t_np = _median_time(lambda: gradient(cr.tensor(xn), cr.tensor(yn), w), repeats)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        xd = da.from_array(xn, chunks=(chunk, 16)).persist()
        yd = da.from_array(yn, chunks=chunk).persist()
        x, y = cr.as_tensor(xd), cr.as_tensor(yd)
        t_dask = _median_time(lambda: gradient(x, y, w), repeats)
    for backend, t in (("numpy", t_np), ("dask", t_dask)):
        results.append({"workload": "dask_grad", "backend": backend, "device": "cpu",
                        "seconds": t, "gb_per_s": gb / t, "rows": rows})
        print(f"dask_grad {backend:6s} {rows:,} rows: {t * 1e3:8.1f} ms per gradient, "
              f"{gb / t:6.2f} GB/s", flush=True)
    print(f"dask_grad dask/numpy time ratio {t_dask / t_np:.2f}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--rows", type=int, default=4_000_000)
    p.add_argument("--chunk", type=int, default=500_000)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    print(f"CPU: {bench_core.cpu_model()}")
    results = []
    bench_eager(results, args.repeats)
    bench_dask(results, args.rows, args.chunk, args.repeats)
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": bench_core.cpu_model(),
                                               "results": results}, indent=1))


if __name__ == "__main__":
    main()
