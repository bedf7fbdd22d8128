"""Time ``chainrule.viz.graph`` on graphs of about 2,000 nodes (and a deep chain).

It prints seconds for building the model (walk, shapes, labels), the layout and the SVG
text.  The target: a 2,000-node graph lays out in under 5 s.  A benchmark, not a test:
it prints PASS/MISS and exits 0 either way.

    python benchmarks/bench_viz.py [--deep N]
"""

from __future__ import annotations

import argparse
import random
import time

import chainrule as torch
from chainrule import viz


def mlp(n_target):
    """Layers of linear + tanh, parameters shared by nothing: a tall, narrow graph."""
    x = torch.randn(8, 16)
    params, h, i = {}, x, 0
    while True:
        w = torch.randn(16, 16, requires_grad=True)
        b = torch.zeros(16, requires_grad=True)
        params[f"w{i}"], params[f"b{i}"] = w, b
        h = torch.tanh(h @ w + b)
        i += 1
        if 6 * i >= n_target:
            return h.sum(), params


def random_dag(n_target, seed=0):
    """Each op combines two random earlier values: many crossings to reduce."""
    rng = random.Random(seed)
    leaves = [torch.randn(4, requires_grad=True) for _ in range(20)]
    vals = list(leaves)
    ops = [lambda a, b: a * b, lambda a, b: a + b, lambda a, b: a - b.sin(),
           lambda a, b: (a * 0.5).tanh() + b]
    while len(vals) < n_target // 2:
        a, b = rng.choice(vals[-40:]), rng.choice(vals)
        vals.append(rng.choice(ops)(a, b))
    return sum(vals[-30:]).sum(), {f"p{i}": t for i, t in enumerate(leaves)}


def shared_weight(n_target):
    """A recurrence that reuses one weight at every step (long edges from one leaf)."""
    w = torch.randn(4, 4, requires_grad=True)
    h = torch.randn(4)
    for _ in range(n_target // 4):
        h = torch.tanh(w @ h) * 0.9
    return h.sum(), {"w": w}


def deep_chain(n):
    """n repetitions of one op: condensed to a single "×n" node."""
    x = torch.randn(3, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 0.9999999
    return y.sum(), {"x": x}


def run(name, out, params):
    t0 = time.perf_counter()
    d = viz.graph(out, params=params)
    t1 = time.perf_counter()
    d.layout()
    t2 = time.perf_counter()
    svg = d.svg()
    t3 = time.perf_counter()
    total = t3 - t0
    status = "PASS" if t2 - t0 < 5.0 else "MISS"
    print(f"{name:14s} {len(d.nodes):6d} boxes {len(d.edges):6d} edges   build {t1 - t0:6.3f} s"
          f"   layout {t2 - t1:6.3f} s   svg {t3 - t2:6.3f} s   total {total:6.3f} s   "
          f"{len(svg) / 1e6:5.2f} MB  {status}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=2000)
    p.add_argument("--deep", type=int, default=200_000, help="length of the deep chain")
    args = p.parse_args(argv)
    print(f"chainrule.viz on ~{args.nodes}-node graphs (target: build + layout < 5 s)")
    run("mlp", *mlp(args.nodes))
    run("random_dag", *random_dag(args.nodes))
    run("shared_weight", *shared_weight(args.nodes))
    run(f"chain {args.deep}", *deep_chain(args.deep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
