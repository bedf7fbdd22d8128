"""What always-on creation sites cost: the ``chain300`` workload with site recording
switched on and off inside one process, interleaved round by round.

Every node stores ``(code, lasti)`` of the user's line that created it (Note [creation
site] in chainrule/autograd/node.py), so errors can name it without anomaly mode.  This
measures that price on small ops, where it weighs most.  Three modes:

- ``on``: the default;
- ``off``: ``chainrule.autograd.node._RECORD_SITES = False`` (the call still happens and
  returns at once);
- ``absent``: the recording functions see a no-op in place of ``creation_site`` (the
  closest to a build without the feature).

    python benchmarks/bench_sites.py                 # 15 rounds
    python benchmarks/bench_sites.py --rounds 31 --reps 40

Reported: per-op forward+backward time (min over a round's repetitions), the median over
rounds of each mode, and the median of the per-round ratios ``on / off`` and
``on / absent``.  The target is a cost under 5%.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

import chainrule as torch
from chainrule.autograd import node as _node
from chainrule.ops import _record

OPS = 300


def chain300(x, y):
    h = x
    for _ in range(50):
        h = h * 1.01
        h = h.tanh()
        h = h.sin()
        h = h * y
        h = h.exp()
        h = h - 1.0
    return h.sum()


def _absent(depth=2):
    return None


def set_mode(mode: str) -> None:
    _node._RECORD_SITES = mode != "off"
    _record.creation_site = _absent if mode == "absent" else _node.creation_site


def one_round(x, y, reps: int) -> float:
    """Best per-op microseconds of ``reps`` forward+backward passes."""
    best = float("inf")
    for _ in range(reps):
        x.grad = None
        t0 = time.perf_counter()
        chain300(x, y).backward()
        best = min(best, time.perf_counter() - t0)
    return best / OPS * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.uniform(-1, 1, 16).astype(np.float32), requires_grad=True)
    y = torch.tensor(rng.uniform(0.95, 1.05, 16).astype(np.float32))
    modes = ("on", "off", "absent")
    for mode in modes:  # warm up every path
        set_mode(mode)
        one_round(x, y, 10)
    times = {m: [] for m in modes}
    try:
        for r in range(args.rounds):
            order = modes[r % 3:] + modes[:r % 3]  # rotate, so no mode always goes first
            for mode in order:
                set_mode(mode)
                times[mode].append(one_round(x, y, args.reps))
    finally:
        set_mode("on")
    print(f"chain300, {args.rounds} interleaved rounds x {args.reps} reps, us per op "
          f"(forward + backward):")
    for mode in modes:
        print(f"  {mode:7s} median {statistics.median(times[mode]):.3f}  "
              f"min {min(times[mode]):.3f}")
    for other in ("off", "absent"):
        ratios = [a / b for a, b in zip(times["on"], times[other])]
        cost = (statistics.median(ratios) - 1) * 100
        verdict = "PASS" if cost < 5 else "MISS"
        print(f"  cost of recording sites vs {other:6s}: {cost:+.1f}% "
              f"(median of per-round ratios; target < 5%: {verdict})")


if __name__ == "__main__":
    main()
