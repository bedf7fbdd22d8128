"""Logistic regression (or a small MLP) on data that does not fit in memory, with Dask.

The data (by default 20 million rows of 16 float32 features, 1.3 GB) is generated chunk
by chunk on the workers of a Dask cluster and never held whole anywhere.  The parameters
are ordinary NumPy-backed tensors; each L-BFGS closure evaluation builds the loss and its
gradient lazily, and ``loss.backward()`` computes the loss and every parameter's ``.grad``
in ONE Dask compute: one scan of the data per evaluation.

    pip install "chainrule[dask]"
    python examples/dask_logistic_regression.py                 # 20M rows, LocalCluster
    python examples/dask_logistic_regression.py --rows 200000 --check
    python examples/dask_logistic_regression.py --scheduler tcp://10.0.0.5:8786
    python examples/dask_logistic_regression.py --rows 2000000 --device cuda   # CuPy

``--check`` also fits a 100,000-row subsample with the NumPy backend and with Dask, and
prints how far apart the weights are (float64: within 1e-9).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

import chainrule as torch
import chainrule.nn.functional as F

FEATURES = 16
TRUE_W = np.linspace(-1.5, 1.5, FEATURES)
TRUE_B = 0.25


def _block(block_id, rows, chunk, seed, dtype):
    """Rows ``[block_id*chunk, ...)`` of the data set: 16 features, then the 0/1 label."""
    n = min(chunk, rows - block_id * chunk)
    rng = np.random.default_rng([seed, block_id])
    x = rng.standard_normal((n, FEATURES), dtype=np.float32)
    logits = x.astype(np.float64) @ TRUE_W + TRUE_B + rng.logistic(size=n)
    return np.concatenate([x, (logits > 0)[:, None]], axis=1).astype(dtype)


def dask_data(rows, chunk, seed=0, dtype=np.float32):
    """The data set as lazy Dask arrays ``(X, y)``: one task per chunk generates it."""
    import dask
    import dask.array as da
    blocks = [da.from_delayed(dask.delayed(_block)(i, rows, chunk, seed, dtype),
                              shape=(min(chunk, rows - i * chunk), FEATURES + 1), dtype=dtype)
              for i in range((rows + chunk - 1) // chunk)]
    data = da.concatenate(blocks, axis=0)
    return data[:, :FEATURES], data[:, FEATURES]


class Model(torch.nn.Module):
    """Logistic regression, or a 16-32-1 tanh MLP."""

    def __init__(self, kind, dtype):
        super().__init__()
        torch.manual_seed(0)
        if kind == "logistic":
            self.net = torch.nn.Linear(FEATURES, 1, dtype=dtype)
            with torch.no_grad():
                self.net.weight.zero_()
                self.net.bias.zero_()
        else:
            self.net = torch.nn.Sequential(torch.nn.Linear(FEATURES, 32, dtype=dtype),
                                           torch.nn.Tanh(), torch.nn.Linear(32, 1, dtype=dtype))

    def forward(self, x):
        return self.net(x).squeeze(-1)


def fit(x, y, kind="logistic", iters=20, dtype=torch.float32, log=None):
    """Full-batch L-BFGS on tensors ``x``, ``y`` (NumPy, Dask or CuPy data)."""
    model = Model(kind, dtype)
    if x.device.type == "cuda":
        model = model.cuda()
    opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=iters, history_size=10,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-9,
                            tolerance_change=1e-12)
    evals = [0]
    start = time.perf_counter()

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()  # one compute: the loss and every .grad, one scan of the data
        evals[0] += 1
        if log is not None:
            log(f"  evaluation {evals[0]:3d}: loss {loss.item():.6f}  "
                f"({time.perf_counter() - start:6.1f} s)")
        return loss

    opt.step(closure)
    return model, evals[0], time.perf_counter() - start


def _peak_mb(client=None):
    """Peak resident memory of this process and of every worker, in MB."""
    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = list(client.run(peak).values()) if client is not None else []
    return peak(), workers


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=20_000_000, help="rows of data (default 20M)")
    p.add_argument("--chunk", type=int, default=1_000_000, help="rows per Dask chunk")
    p.add_argument("--model", choices=["logistic", "mlp"], default="logistic")
    p.add_argument("--iters", type=int, default=20, help="L-BFGS iterations")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    p.add_argument("--scheduler", help="address of a running Dask scheduler "
                   "(tcp://host:8786); default: start a LocalCluster")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cuda: keep the data on the GPU with CuPy (no Dask)")
    p.add_argument("--check", action="store_true", help="also compare with NumPy on a "
                   "100,000-row subsample (float64)")
    args = p.parse_args(argv)

    if args.device == "cuda":
        xs, ys = dask_data(args.rows, args.chunk)
        x = torch.tensor(xs.compute(), device="cuda")
        y = torch.tensor(ys.compute(), device="cuda")
        model, evals, secs = fit(x, y, args.model, args.iters, log=print)
        print(f"{evals} evaluations in {secs:.1f} s on {torch.cuda.get_device_name()}")
        return

    from dask.distributed import Client, LocalCluster
    cluster = None
    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                               processes=True, dashboard_address=None,
                               memory_limit="450MB")
        client = Client(cluster)
    try:
        xs, ys = dask_data(args.rows, args.chunk)
        gb = args.rows * (FEATURES + 1) * 4 / 1e9
        print(f"data: {args.rows:,} rows x {FEATURES} float32 features ({gb:.2f} GB), "
              f"{xs.numblocks[0]} chunks, generated on {len(client.nthreads())} workers")
        model, evals, secs = fit(torch.as_tensor(xs), torch.as_tensor(ys), args.model,
                                 args.iters, log=print)
        w = model.net.weight.detach().numpy().ravel() if args.model == "logistic" else None
        print(f"{evals} closure evaluations (one data scan each) in {secs:.1f} s: "
              f"{secs / evals:.2f} s per scan")
        if w is not None:
            print("weights:", np.round(w, 3))
        mine, workers = _peak_mb(client)
        print(f"peak memory: client {mine:.0f} MB + workers "
              f"{' + '.join(f'{m:.0f}' for m in workers)} MB = "
              f"{mine + sum(workers):.0f} MB")
        return evals, (check(args.chunk) if args.check else None)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def check(chunk, rows=100_000):
    """Fit the same subsample with NumPy and with Dask (float64): the weights agree."""
    import dask.array as da
    xs, ys = dask_data(rows, min(chunk, rows), dtype=np.float64)
    xn, yn = xs.compute(), ys.compute()
    ref, _, _ = fit(torch.tensor(xn), torch.tensor(yn), "logistic", 30, torch.float64)
    lazy, _, _ = fit(torch.as_tensor(da.from_array(xn, chunks=(rows // 4, FEATURES))),
                     torch.as_tensor(da.from_array(yn, chunks=rows // 4)),
                     "logistic", 30, torch.float64)
    a = np.concatenate([p.detach().numpy().ravel() for p in ref.parameters()])
    b = np.concatenate([p.detach().numpy().ravel() for p in lazy.parameters()])
    diff = float(np.max(np.abs(a - b)))
    print(f"check on {rows:,} rows (float64): NumPy and Dask weights differ by at most "
          f"{diff:.2e}")
    return diff


if __name__ == "__main__":
    main()
