"""``x ** k`` for the exponents PyTorch special-cases, chainrule vs PyTorch, one process.

Run from the repository root::

    python benchmarks/bench_pow.py              # float32, 1e3 and 1e6 elements
    python benchmarks/bench_pow.py --dtype float64 --sizes 100,100000

Inputs are standard normal, so half of the bases are negative: NumPy's general
``power`` is 15-80x slower there than PyTorch (issue 8, item 4).  chainrule computes
2, 3, -1, -2, 0.5, -0.5 as PyTorch does (Note [pow special exponents] in
``chainrule/ops/elementwise.py``).  Each line times the forward, and forward plus
backward of ``(x ** k).sum()``, interleaving the libraries; ratios use the minimum of
the repeats.  The target is chainrule / torch <= 1.2 on the forward of large inputs.
Single-threaded (``torch.set_num_threads(1)``, BLAS/OMP threads 1), as bench_core.
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_core import cpu_model  # noqa: E402  (this folder is sys.path[0])

import chainrule  # noqa: E402

EXPONENTS = (2, 3, -1, -2, 0.5, -0.5, 1.5)


def best(fn, number: int, repeat: int) -> float:
    """Seconds per call: the minimum over ``repeat`` runs of ``number`` calls."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"CPU: {cpu_model()}; torch {torch.__version__}, numpy {np.__version__}, "
          f"dtype {args.dtype}, 1 thread")
    print(f"{'n':>8} {'k':>5} {'fwd cr us':>10} {'fwd torch':>10} {'ratio':>6}"
          f" {'f+b cr us':>10} {'f+b torch':>10} {'ratio':>6}")
    rng = np.random.default_rng(0)
    for n in (int(s) for s in args.sizes.split(",")):
        data = rng.standard_normal(n).astype(args.dtype)
        number = max(1, 200_000 // n)
        for k in EXPONENTS:
            row = {}
            for name, lib in (("cr", chainrule), ("torch", torch)):
                x = lib.tensor(data)
                xg = lib.tensor(data, requires_grad=True)

                def fwd(x=x, k=k):
                    return x ** k

                def fwd_bwd(xg=xg, k=k):
                    xg.grad = None
                    (xg ** k).sum().backward()

                row[name] = (best(fwd, number, args.repeat),
                             best(fwd_bwd, number, args.repeat))
            (cf, cb), (tf, tb) = row["cr"], row["torch"]
            print(f"{n:>8} {k:>5} {cf * 1e6:>10.1f} {tf * 1e6:>10.1f} {cf / tf:>6.2f}"
                  f" {cb * 1e6:>10.1f} {tb * 1e6:>10.1f} {cb / tb:>6.2f}")


if __name__ == "__main__":
    main()
