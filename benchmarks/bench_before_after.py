"""Did a change make chainrule's NumPy path slower?  Two commits, interleaved, one run.

    python benchmarks/bench_before_after.py --before cc5f9b3          # vs. the work tree
    python benchmarks/bench_before_after.py --before main~3 --after HEAD --rounds 7

Each round starts one child process per side (``before`` = a commit checked out into a
temporary git worktree; ``after`` = another commit, or the current work tree), alternating
which goes first; every child times ``bench_core.py``'s workloads (the same PyTorch-style
code, ``import chainrule as torch``) on one BLAS thread.  The table shows each side's
median over all rounds and the after/before ratio; issue 9 asks for every figure within
5% (rerun when a difference is within the noise).  The CPU model is printed with it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKLOADS = ("seed", "chain300", "mlp", "big", "scalar_chain", "jacrev256", "hessian64",
             "gradgrad")

CHILD = r"""
import json, sys, time, statistics
sys.path.insert(0, {bench!r})
import bench_core as bc
import chainrule
assert chainrule.__file__.startswith({root!r}), chainrule.__file__
out = {{}}
for name in {names!r}:
    spec = bc.WORKLOADS[name]
    step = spec["torchlike"](chainrule)
    reps = max(3, spec["repeats"] // 2)
    times, _ = bc.time_workload(step, spec["warmup"], reps, False, False)
    out[name] = statistics.median(times) / spec["ops"]
print(json.dumps(out))
"""


def _checkout(rev, tmp):
    path = os.path.join(tmp, rev.replace("/", "_").replace("~", "_"))
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", "-q", path, rev],
                   check=True)
    return path


def _child(root, names):
    env = dict(os.environ, PYTHONPATH=root)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    code = CHILD.format(bench=HERE, root=root, names=list(names))
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, cwd=tempfile.gettempdir(), timeout=1800)
    if res.returncode:
        raise RuntimeError(res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--before", required=True, help="a commit (e.g. main~1, a hash)")
    p.add_argument("--after", help="a commit; default: the current work tree")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--only", default=",".join(WORKLOADS))
    p.add_argument("--json", help="write the medians and ratios here")
    args = p.parse_args(argv)
    sys.path.insert(0, HERE)
    import bench_core
    names = [n for n in args.only.split(",") if n]
    samples = {"before": {n: [] for n in names}, "after": {n: [] for n in names}}
    with tempfile.TemporaryDirectory() as tmp:
        made = []
        try:
            roots = {"before": _checkout(args.before, tmp)}
            made.append(roots["before"])
            if args.after:
                roots["after"] = _checkout(args.after, tmp)
                made.append(roots["after"])
            else:
                roots["after"] = ROOT
            for r in range(args.rounds):
                order = ("before", "after") if r % 2 == 0 else ("after", "before")
                for side in order:
                    for n, v in _child(roots[side], names).items():
                        samples[side][n].append(v)
                print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        finally:
            for path in made:
                subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", path],
                               check=False)
    print(f"CPU: {bench_core.cpu_model()}  (medians of {args.rounds} interleaved rounds, "
          f"one BLAS thread)")
    print(f"{'workload':14s} {'before':>12s} {'after':>12s} {'after/before':>13s}")
    result = {"cpu": bench_core.cpu_model(), "rounds": args.rounds, "workloads": {}}
    for n in names:
        b = statistics.median(samples["before"][n])
        a = statistics.median(samples["after"][n])
        unit, scale = bench_core.WORKLOADS[n]["unit"], bench_core.WORKLOADS[n]["scale"]
        print(f"{n:14s} {b * scale:9.3f} {unit:2s} {a * scale:9.3f} {unit:2s} {a / b:12.3f}")
        result["workloads"][n] = {"before_s": b, "after_s": a, "ratio": a / b}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
