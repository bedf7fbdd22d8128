"""Conv2d forward+backward, chainrule vs PyTorch, single thread, interleaved.

The workload of the performance target: input (64, 1, 28, 28) -> Conv2d(1, 32, 3) -> ReLU
-> Conv2d(32, 64, 3), ``sum().backward()``; and the second layer alone on a
(64, 32, 26, 26) input.  Both libraries run in one process, alternating, so machine load
hits both alike; the table shows min and median over the rounds.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_nn_conv.py [--dtype float64] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np


def _workloads(T, dtype_name, xa, x2a):
    dtype = getattr(T, dtype_name)
    T.manual_seed(0)
    c1 = T.nn.Conv2d(1, 32, 3).to(dtype)
    c2 = T.nn.Conv2d(32, 64, 3).to(dtype)
    x = T.tensor(xa, dtype=dtype)
    x2 = T.tensor(x2a, dtype=dtype, requires_grad=True)

    def net():
        c2(T.relu(c1(x))).sum().backward()

    def layer2():
        c2(x2).sum().backward()

    def layer2_forward():
        with T.no_grad():
            c2(x2)

    return {"net fwd+bwd": net, "layer2 fwd+bwd": layer2, "layer2 fwd": layer2_forward}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    import chainrule
    rng = np.random.default_rng(0)
    xa = rng.standard_normal((64, 1, 28, 28))
    x2a = rng.standard_normal((64, 32, 26, 26))
    libs = {"torch": _workloads(torch, args.dtype, xa, x2a),
            "chainrule": _workloads(chainrule, args.dtype, xa, x2a)}
    times: dict = {}
    for _ in range(args.rounds):
        for lib, fns in libs.items():
            for name, fn in fns.items():
                t = time.perf_counter()
                fn()
                times.setdefault((name, lib), []).append(time.perf_counter() - t)
    print(f"{'workload':16s} {'torch min/med ms':>18s} {'chainrule min/med ms':>22s} ratio")
    for name in libs["torch"]:
        t, c = times[(name, "torch")][1:], times[(name, "chainrule")][1:]  # drop warm-up
        print(f"{name:16s} {min(t) * 1e3:8.1f} {np.median(t) * 1e3:8.1f} "
              f"{min(c) * 1e3:10.1f} {np.median(c) * 1e3:10.1f}   "
              f"{np.median(c) / np.median(t):.2f}x")


if __name__ == "__main__":
    main()
