"""Training benchmarks: chainrule vs. PyTorch vs. hand-written NumPy.

Run from the repository root::

    python benchmarks/bench_train.py                  # full run, one thread
    python benchmarks/bench_train.py --quick          # fewer repeats, 3 rounds
    python benchmarks/bench_train.py --only sgd,adam  # a subset
    python benchmarks/bench_train.py --json out.json  # also save raw samples

Workloads (chainrule/PyTorch targets; ``-`` where NumPy has no counterpart):

=========  ==========================================================  ======  =========
name       what is timed                                               must    stretch
=========  ==========================================================  ======  =========
``sgd``    one training step of a 784-512-512-10 ReLU MLP, batch 128:  <= 1.1  <= 1.0 and
           ``zero_grad``, forward, ``CrossEntropyLoss``, backward,              <= 1.1 x
           ``SGD(lr=0.01, momentum=0.9).step()``                                NumPy
``adam``   the same step with ``Adam(lr=1e-3)``                        <= 1.1  as above
``conv``   ``Conv2d`` forward+backward: (64,1,28,28) -> 32 filters     <= 2.0  <= 1.2
           3x3 -> (64,32,26,26) -> 64 filters 3x3, ``.sum()``
``digits`` one epoch of ``examples/digits_mlp.py`` (DataLoader with    <= 1.0  -
           shuffling, Adam, cross-entropy, accuracy bookkeeping)
=========  ==========================================================  ======  =========

How it measures is the same as ``bench_core.py``: every library runs in its own child
process (``--worker LIB``), one child per library per round, the library order rotating
between rounds; samples of all rounds are pooled; ratios and PASS/MISS use medians
(the ratio of minima in brackets).  ``--threads N`` (default 1) sets the BLAS/OpenMP
thread variables before NumPy or PyTorch are imported and calls
``torch.set_num_threads(N)``.  The NumPy columns are the floor for a NumPy engine:
forward, the analytic backward and the optimizer update written by hand.
"""

import argparse
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBS = ("chainrule", "torch", "numpy")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
RESULT_MARK = "@@BENCH_RESULT@@ "
SIZES, BATCH = (784, 512, 512, 10), 128


# ---------------------------------------------------------------------------
# Workloads: each factory sets up (untimed) and returns ``step``, one timed call.
# ---------------------------------------------------------------------------

def _mlp_data():
    import numpy as np
    rng = np.random.default_rng(2)
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        params.append(rng.standard_normal((fan_out, fan_in), dtype=np.float32)
                      * np.float32((2.0 / fan_in) ** 0.5))
        params.append(np.full(fan_out, 0.01, np.float32))
    inputs = rng.standard_normal((BATCH, SIZES[0]), dtype=np.float32)
    labels = rng.integers(0, SIZES[-1], BATCH)
    return params, inputs, labels


def mlp_torchlike(torch, optimizer_name):
    nn = torch.nn
    params, inputs_np, labels_np = _mlp_data()
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    with torch.no_grad():
        for p, value in zip(model.parameters(), params):
            p.copy_(torch.tensor(value))
    inputs, labels = torch.tensor(inputs_np), torch.tensor(labels_np)
    loss_fn = nn.CrossEntropyLoss()
    if optimizer_name == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), labels)
        loss.backward()
        optimizer.step()
    return step


def mlp_numpy(optimizer_name):
    import numpy as np
    params, x, labels = _mlp_data()
    rows = np.arange(BATCH)
    state = [dict(m=np.zeros_like(p), v=np.zeros_like(p)) for p in params]
    count = [0]

    def step():
        w1, b1, w2, b2, w3, b3 = params
        h1 = np.maximum(x @ w1.T + b1, 0)
        h2 = np.maximum(h1 @ w2.T + b2, 0)
        logits = h2 @ w3.T + b3
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        probs = exp / exp.sum(axis=1, keepdims=True)
        d = probs
        d[rows, labels] -= 1.0
        d /= BATCH
        grads = [None] * 6
        grads[4], grads[5] = d.T @ h2, d.sum(axis=0)
        d = (d @ w3) * (h2 > 0)
        grads[2], grads[3] = d.T @ h1, d.sum(axis=0)
        d = (d @ w2) * (h1 > 0)
        grads[0], grads[1] = d.T @ x, d.sum(axis=0)
        count[0] += 1
        t = count[0]
        for p, g, s in zip(params, grads, state):
            if optimizer_name == "sgd":  # momentum 0.9, lr 0.01
                if t == 1:
                    s["m"][...] = g
                else:
                    s["m"] *= 0.9
                    s["m"] += g
                p -= 0.01 * s["m"]
            else:  # Adam, lr 1e-3
                m, v = s["m"], s["v"]
                m += 0.1 * (g - m)
                v *= 0.999
                v += 0.001 * g * g
                denom = np.sqrt(v) / (1 - 0.999 ** t) ** 0.5 + 1e-8
                p -= (1e-3 / (1 - 0.9 ** t)) * m / denom
    return step


def conv_torchlike(torch):
    import numpy as np
    rng = np.random.default_rng(4)
    conv1 = torch.nn.Conv2d(1, 32, 3)
    conv2 = torch.nn.Conv2d(32, 64, 3)
    x = torch.tensor(rng.standard_normal((64, 1, 28, 28), dtype=np.float32))

    def step():
        conv1.zero_grad()
        conv2.zero_grad()
        conv2(conv1(x)).sum().backward()
    return step


def conv_numpy():
    """im2col convolutions with the analytic backward (the ``.sum()`` cotangent)."""
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view
    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, 1, 28, 28), dtype=np.float32)
    w1 = rng.standard_normal((32, 1, 3, 3), dtype=np.float32) / 3
    w2 = rng.standard_normal((64, 32, 3, 3), dtype=np.float32) / 17
    b1, b2 = np.zeros(32, np.float32), np.zeros(64, np.float32)

    def forward(inp, w, b):
        cols = sliding_window_view(inp, (3, 3), axis=(2, 3))  # N C H W 3 3
        n, c, h, wd = cols.shape[:4]
        cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * wd, c * 9)
        out = cols @ w.reshape(w.shape[0], -1).T + b
        return out.reshape(n, h, wd, -1).transpose(0, 3, 1, 2), cols

    def backward_input(g, w, shape):
        n, o, h, wd = g.shape
        gcols = g.transpose(0, 2, 3, 1).reshape(-1, o) @ w.reshape(o, -1)
        gcols = gcols.reshape(n, h, wd, shape[1], 3, 3)
        gx = np.zeros(shape, np.float32)
        for i in range(3):
            for j in range(3):
                gx[:, :, i:i + h, j:j + wd] += gcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
        return gx

    def step():
        h, cols1 = forward(x, w1, b1)
        out, cols2 = forward(h, w2, b2)
        _ = out.sum()
        g = np.ones(out.shape, np.float32)
        g2 = g.transpose(0, 2, 3, 1).reshape(-1, 64)
        gw2 = (g2.T @ cols2).reshape(w2.shape)
        gb2 = g2.sum(axis=0)
        gh = backward_input(g, w2, h.shape)
        gh2 = gh.transpose(0, 2, 3, 1).reshape(-1, 32)
        gw1 = (gh2.T @ cols1).reshape(w1.shape)
        gb1 = gh2.sum(axis=0)
        return gw1, gb1, gw2, gb2
    return step


def digits_torchlike(torch):
    sys.path.insert(0, os.path.join(REPO_ROOT, "examples"))
    import _digits
    import digits_mlp
    torch.manual_seed(0)
    x_train, y_train, _, _ = _digits.load_digits_tensors(torch, (8, 8))
    data = torch.utils.data
    loader = data.DataLoader(data.TensorDataset(x_train, y_train), batch_size=32,
                             shuffle=True, generator=torch.Generator().manual_seed(0))
    model = digits_mlp.make_model(torch.nn)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        _digits.train_epoch(torch, model, loader, optimizer, loss_fn)
    return step


WORKLOADS = {
    "sgd": dict(torchlike=lambda t: mlp_torchlike(t, "sgd"),
                numpy=lambda: mlp_numpy("sgd"), warmup=5, repeats=40, quick_repeats=10),
    "adam": dict(torchlike=lambda t: mlp_torchlike(t, "adam"),
                 numpy=lambda: mlp_numpy("adam"), warmup=5, repeats=40, quick_repeats=10),
    "conv": dict(torchlike=conv_torchlike, numpy=conv_numpy, warmup=2, repeats=10,
                 quick_repeats=4),
    "digits": dict(torchlike=digits_torchlike, numpy=None, warmup=2, repeats=10,
                   quick_repeats=4),
}


def _ratio(a_lib, b_lib, key="med"):
    def metric(stats):
        a, b = stats.get(a_lib), stats.get(b_lib)
        return None if not a or not b else a[key] / b[key]
    return metric


_CR_TORCH, _CR_NUMPY = _ratio("chainrule", "torch"), _ratio("chainrule", "numpy")
TARGETS = {
    "sgd": [("must", "cr/torch", _CR_TORCH, 1.1), ("stretch", "cr/torch", _CR_TORCH, 1.0),
            ("stretch", "cr/numpy", _CR_NUMPY, 1.1)],
    "adam": [("must", "cr/torch", _CR_TORCH, 1.1), ("stretch", "cr/torch", _CR_TORCH, 1.0),
             ("stretch", "cr/numpy", _CR_NUMPY, 1.1)],
    "conv": [("must", "cr/torch", _CR_TORCH, 2.0), ("stretch", "cr/torch", _CR_TORCH, 1.2)],
    "digits": [("must", "cr/torch", _CR_TORCH, 1.0)],
}


# ---------------------------------------------------------------------------
# Worker (child process) and driver.
# ---------------------------------------------------------------------------

def run_worker(args):
    lib = args.worker
    module = importlib.import_module(lib)
    threads = int(os.environ.get("BENCH_THREADS", "0"))
    if lib == "torch" and threads > 0:
        module.set_num_threads(threads)
    results = {}
    for name in args.only:
        spec = WORKLOADS[name]
        try:
            if lib == "numpy":
                if spec["numpy"] is None:
                    continue
                step = spec["numpy"]()
            else:
                step = spec["torchlike"](module)
            for _ in range(spec["warmup"]):
                step()
            times = []
            for _ in range(spec["quick_repeats"] if args.quick else spec["repeats"]):
                start = time.perf_counter()
                step()
                times.append(time.perf_counter() - start)
            results[name] = {"times": times}
        except Exception as exc:  # report and go on
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    print(RESULT_MARK + json.dumps(results), flush=True)


def collect(args, env):
    samples = {n: {lib: {"times": [], "errors": []} for lib in args.libs} for n in args.only}
    libs = list(args.libs)
    for rnd in range(args.rounds):
        order = libs[rnd % len(libs):] + libs[:rnd % len(libs)]
        print(f"round {rnd + 1}/{args.rounds}: order {', '.join(order)}", file=sys.stderr,
              flush=True)
        for lib in order:
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", lib, "--only",
                   ",".join(args.only)] + (["--quick"] if args.quick else [])
            try:
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                                      timeout=args.timeout, cwd=REPO_ROOT)
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARK)]
                result = json.loads(lines[-1][len(RESULT_MARK):]) if lines else None
                error = None if lines else (proc.stderr.strip().splitlines() or ["?"])[-1]
            except subprocess.TimeoutExpired:
                result, error = None, f"timeout after {args.timeout} s"
            for name in args.only:
                cell = samples[name][lib]
                if result is None:
                    cell["errors"].append(error)
                elif "error" in result.get(name, {}):
                    cell["errors"].append(result[name]["error"])
                elif name in result:
                    cell["times"] += result[name]["times"]
    return samples


def summarize(samples):
    return {name: {lib: ({"min": min(c["times"]), "med": statistics.median(c["times"]),
                          "n": len(c["times"])} if c["times"] else None)
                   for lib, c in per_lib.items()} for name, per_lib in samples.items()}


def evaluate(name, st):
    rows = []
    for level, label, metric, limit in TARGETS[name]:
        value = metric(st)
        verdict = "n/a" if value is None else ("PASS" if value <= limit else "MISS")
        rows.append({"level": level, "label": label, "limit": limit, "value": value,
                     "verdict": verdict})
    return rows


def print_report(samples, stats, libs):
    for name in samples:
        st = stats[name]
        print(f"\n== {name}  [ms] ==")
        print(f"{'library':<10} {'min':>10} {'median':>10} {'n':>4}")
        for lib in libs:
            entry = st.get(lib)
            if entry is None:
                errors = samples[name][lib]["errors"]
                why = errors[0] if errors else "no counterpart" if lib == "numpy" else "skipped"
                print(f"{lib:<10} {'-':>10} {'-':>10} {'0':>4}  ({why})")
                continue
            print(f"{lib:<10} {entry['min'] * 1e3:>10.4g} {entry['med'] * 1e3:>10.4g} "
                  f"{entry['n']:>4}")
        for other in ("torch", "numpy"):
            med, low = _ratio("chainrule", other)(st), _ratio("chainrule", other, "min")(st)
            if med is not None:
                print(f"chainrule/{other}: {med:.3f} (min {low:.3f})")
        for row in evaluate(name, st):
            value = "-" if row["value"] is None else f"{row['value']:.4g}"
            print(f"  {row['level']:<8} {row['label']:<10} <= {row['limit']:<5} got {value}"
                  f"  {row['verdict']}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--libs", default=",".join(LIBS))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--worker", choices=LIBS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.only = [n for n in args.only.split(",") if n]
    args.libs = [lib for lib in args.libs.split(",") if lib]
    if unknown := [n for n in args.only if n not in WORKLOADS]:
        parser.error(f"unknown workload(s): {', '.join(unknown)}")
    if args.rounds is None:
        args.rounds = 3 if args.quick else 5
    if args.threads > 0:  # before NumPy/PyTorch are imported anywhere
        os.environ["BENCH_THREADS"] = str(args.threads)
        for var in THREAD_VARS:
            os.environ[var] = str(args.threads)
    if args.worker:
        run_worker(args)
        return 0
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, env.get("PYTHONPATH")) if p)
    info = {"python": sys.version.split()[0], "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "threads": args.threads, "rounds": args.rounds,
            "quick": args.quick}
    print("bench_train: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    samples = collect(args, env)
    stats = summarize(samples)
    print_report(samples, stats, args.libs)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": info, "samples": samples, "stats": stats,
                       "targets": {n: evaluate(n, stats[n]) for n in samples}}, f, indent=1)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
