"""Peak traced memory of a chunked Jacobian (issue 3, target (d)).

The Jacobian of ``tanh(W @ x)`` with W 2,000 x 2,000 float32, computed with
``chunk_size=256``: the peak traced by tracemalloc during the call, over the Jacobian's
own size, must stay under 1.5 (the chunks are written into one preallocated result).

    python benchmarks/bench_jacobian_memory.py
"""

from __future__ import annotations

import os
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import chainrule as cr  # noqa: E402

N = 2000
CHUNK = 256
TARGET = 1.5


def main() -> int:
    rng = np.random.default_rng(0)
    W = cr.tensor(rng.standard_normal((N, N), dtype=np.float32) * 0.02)
    x = cr.tensor(rng.standard_normal(N, dtype=np.float32))

    def f(v):
        return (W @ v).tanh()

    tracemalloc.start()
    start = time.perf_counter()
    J = cr.autograd.functional.jacobian(f, x, chunk_size=CHUNK)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    size = J.numel() * J.element_size()
    ratio = peak / size
    print(f"Jacobian {N}x{N} float32 ({size / 2**20:.1f} MiB), chunk_size={CHUNK}: "
          f"peak traced {peak / 2**20:.1f} MiB = {ratio:.2f} x its size "
          f"(target <= {TARGET}) {'PASS' if ratio <= TARGET else 'MISS'}; {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
