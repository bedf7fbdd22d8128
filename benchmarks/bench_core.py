"""Core benchmarks: chainrule vs. PyTorch vs. hand-written NumPy.

Run from the repository root::

    python benchmarks/bench_core.py --threads 1            # full run
    python benchmarks/bench_core.py --quick                # fewer repeats
    python benchmarks/bench_core.py --only seed,mlp        # a subset
    python benchmarks/bench_core.py --json results.json    # also save results
    python benchmarks/bench_core.py --check                # verify gradients

Three libraries run the same workloads:

* ``chainrule`` and ``torch`` share one implementation per workload (the
  ``*_torchlike`` functions), because chainrule exposes PyTorch's API: the
  function receives the library module as its ``torch`` argument, so the
  body reads like ordinary PyTorch code (``import chainrule as torch``).
* ``numpy`` is the hand-written floor (``*_numpy`` functions): forward pass
  plus the analytic gradient written by hand, no graph at all.

Each library runs in its own child process (this script with ``--worker
LIB``).  A run consists of ``--rounds`` rounds; every round starts one worker
per library (which runs all selected in-process workloads), rotating the
library order from round to round so no library always goes first.  The
``big`` workload instead gets a fresh child per library per round (its peak
memory must not be polluted by other workloads), and ``import`` is timed in
fresh interpreters.  All timed samples of all rounds are pooled; the table
shows min and median per library.  Ratios and PASS/MISS use medians (the
ratio of minima is shown in brackets).

Peak memory (``big``) is the increase of the resident set size over a
baseline taken after imports and after allocating ``x``: before each timed
call the kernel's peak-RSS counter is reset (``/proc/self/clear_refs``) and
``VmHWM - VmRSS(baseline)`` is read afterwards.  The same method is used for
all three libraries (tracemalloc cannot see PyTorch's allocations).  Where
the reset is unavailable (non-Linux) only the first call of each fresh child
is measured, with ``ru_maxrss``.

``--threads N`` (default 1) sets OMP/OpenBLAS/MKL thread variables in the
children before NumPy or PyTorch are imported and calls
``torch.set_num_threads(N)``; ``--threads 0`` keeps library defaults.

If chainrule cannot be imported it is skipped with a note.  The hidden
option ``--lib-alias chainrule=torch`` runs the chainrule code path with
another module standing in, to debug this script.
"""

import argparse
import gc
import importlib
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBS = ("chainrule", "torch", "numpy")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
RESULT_MARK = "@@BENCH_RESULT@@ "
MB = 1024 * 1024


# ---------------------------------------------------------------------------
# Workloads.  Each factory sets up data (untimed) and returns ``step``, one
# timed iteration.  ``step(record=True)`` returns values to compare in
# ``--check`` (a list of arrays/tensors); timed calls pass nothing.
# ---------------------------------------------------------------------------

def to_numpy(value):
    """Convert a tensor/array/scalar of any of the libraries to an ndarray."""
    import numpy as np
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach"):
        value = value.detach()
    if hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    if hasattr(value, "tolist"):
        return np.asarray(value.tolist())
    return np.asarray(value)


# (a) seed: the founding transcript ------------------------------------------

SEED_GRAD_OUTPUTS = ((1.0, 0.0), (0.0, 1.0), (1.0, 2.0), (2.0, 1.0))


def seed_torchlike(torch):
    def step(record=False):
        x = torch.tensor([[1.0, 2.0]], requires_grad=True)
        y = torch.zeros(1, 2)
        y[0, 0] = 2 * x[0, 0] + x[0, 1] ** 2
        y[0, 1] = x[0, 0] ** 2 + 2 * x[0, 1] ** 3
        return _seed_backwards(torch, x, y, record)
    return step


def _seed_backwards(torch, x, y, record):
    """The transcript's four ``y.backward(v, retain_graph=True)`` + ``grad.zero_()``."""
    grads = []
    for k1, k2 in SEED_GRAD_OUTPUTS:
        y.backward(torch.tensor([[k1, k2]]), retain_graph=True)
        if record:
            grads.append(x.grad.clone())
        x.grad.zero_()
    return [y] + grads if record else None


def seed_numpy():
    import numpy as np

    def step(record=False):
        x = np.array([[1.0, 2.0]], dtype=np.float32)
        y = np.zeros((1, 2), dtype=np.float32)
        x0, x1 = x[0, 0], x[0, 1]
        y[0, 0] = 2 * x0 + x1 ** 2
        y[0, 1] = x0 ** 2 + 2 * x1 ** 3
        grads = []
        for k1, k2 in SEED_GRAD_OUTPUTS:
            v = np.array([[k1, k2]], dtype=np.float32)
            grad = np.zeros((1, 2), dtype=np.float32)
            # d y00 = (2, 2*x1), d y01 = (2*x0, 6*x1**2)
            grad[0, 0] = v[0, 0] * 2 + v[0, 1] * 2 * x0
            grad[0, 1] = v[0, 0] * 2 * x1 + v[0, 1] * 6 * x1 ** 2
            grads.append(grad)
        return [y] + grads if record else None
    return step


# (b) chain300: 300 elementwise ops on 16 elements ---------------------------
# One cycle is 6 ops: *1.01, tanh, sin, *y, exp, -1.  tanh and sin keep the
# values bounded, and with y close to 1 one cycle is close to the identity
# near 0, so neither values nor gradients overflow or become subnormal
# (subnormal floats would make the timings CPU-dependent).

CHAIN_CYCLES = 50
CHAIN_OPS = 6 * CHAIN_CYCLES


def _chain_data():
    import numpy as np
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.0, 1.0, 16).astype(np.float32)
    y = rng.uniform(0.95, 1.05, 16).astype(np.float32)
    return x, y


def chain300_torchlike(torch):
    x_np, y_np = _chain_data()
    x = torch.tensor(x_np, dtype=torch.float32, requires_grad=True)
    y = torch.tensor(y_np, dtype=torch.float32)

    f = _chain_fn(y)

    def step(record=False):
        x.grad = None
        out = f(x)
        out.backward()
        return [out, x.grad] if record else None
    return step


def chain300_numpy():
    import numpy as np
    x, y = _chain_data()

    def step(record=False):
        saved = []
        h = x
        for _ in range(CHAIN_CYCLES):
            h = h * 1.01
            t = np.tanh(h)
            h = np.sin(t)
            h = h * y
            e = np.exp(h)
            h = e - 1.0
            saved.append((t, e))
        out = h.sum()
        g = np.ones_like(h)
        for t, e in reversed(saved):   # (-1 passes g through)
            g = g * e                  # exp
            g = g * y                  # * y
            g = g * np.cos(t)          # sin
            g = g * (1.0 - t * t)      # tanh
            g = g * 1.01               # * 1.01
        return [out, g] if record else None
    return step


# (c) mlp: 784-512-512-10, batch 128, cross-entropy --------------------------

MLP_SIZES = (784, 512, 512, 10)
MLP_BATCH = 128


def _mlp_data():
    import numpy as np
    rng = np.random.default_rng(2)
    params = []
    for fan_in, fan_out in zip(MLP_SIZES[:-1], MLP_SIZES[1:], strict=True):
        w = rng.standard_normal((fan_in, fan_out), dtype=np.float32)
        params.append(w * np.float32((2.0 / fan_in) ** 0.5))
        params.append(np.zeros(fan_out, dtype=np.float32) + 0.01)
    inputs = rng.standard_normal((MLP_BATCH, MLP_SIZES[0]), dtype=np.float32)
    labels = rng.integers(0, MLP_SIZES[-1], MLP_BATCH)
    return params, inputs, labels


def mlp_torchlike(torch):
    params_np, inputs_np, labels_np = _mlp_data()
    params = [torch.tensor(p, dtype=torch.float32, requires_grad=True)
              for p in params_np]
    w1, b1, w2, b2, w3, b3 = params
    inputs = torch.tensor(inputs_np, dtype=torch.float32)
    labels = torch.tensor(labels_np, dtype=torch.int64)
    rows = torch.arange(MLP_BATCH)

    def step(record=False):
        for p in params:
            p.grad = None
        h1 = (inputs @ w1 + b1).relu()
        h2 = (h1 @ w2 + b2).relu()
        logits = h2 @ w3 + b3
        loss = -(torch.log_softmax(logits, dim=1)[rows, labels]).mean()
        loss.backward()
        return [loss] + [p.grad for p in params] if record else None
    return step


def _mlp_by_hand(params, inputs, labels):
    """The MLP's forward and analytic backward written by hand: ``step()`` returns the
    loss and the six gradients."""
    import numpy as np
    w1, b1, w2, b2, w3, b3 = params
    rows = np.arange(MLP_BATCH)

    def step():
        # forward
        h1 = np.maximum(inputs @ w1 + b1, 0)
        h2 = np.maximum(h1 @ w2 + b2, 0)
        logits = h2 @ w3 + b3
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1, keepdims=True)
        log_probs = shifted - np.log(sum_exp)
        loss = -log_probs[rows, labels].mean()
        # backward
        d_logits = exp / sum_exp
        d_logits[rows, labels] -= 1.0
        d_logits /= MLP_BATCH
        d_w3 = h2.T @ d_logits
        d_b3 = d_logits.sum(axis=0)
        d_h2 = (d_logits @ w3.T) * (h2 > 0)
        d_w2 = h1.T @ d_h2
        d_b2 = d_h2.sum(axis=0)
        d_h1 = (d_h2 @ w2.T) * (h1 > 0)
        d_w1 = inputs.T @ d_h1
        d_b1 = d_h1.sum(axis=0)
        return loss, d_w1, d_b1, d_w2, d_b2, d_w3, d_b3
    return step


def mlp_numpy():
    params, inputs, labels = _mlp_data()
    by_hand = _mlp_by_hand(params, inputs, labels)

    def step(record=False):
        out = by_hand()
        return list(out) if record else None
    return step


# (d) big: ((x*2+1).tanh()*x).sum() on 4096x4096 -----------------------------

BIG_N = 4096


def _big_data():
    import numpy as np
    rng = np.random.default_rng(3)
    return rng.standard_normal((BIG_N, BIG_N), dtype=np.float32)


def big_torchlike(torch):
    x_np = _big_data()
    x = torch.tensor(x_np, dtype=torch.float32, requires_grad=True)
    del x_np

    def step(record=False):
        x.grad = None
        out = ((x * 2 + 1).tanh() * x).sum()
        out.backward()
        return [out, x.grad] if record else None
    return step


def big_numpy():
    import numpy as np
    x = _big_data()

    def step(record=False):
        a = x * 2 + 1
        t = np.tanh(a)
        del a
        out = (t * x).sum()
        # d out / d t = x,  d out / d x (direct) = t
        d_a = x * (1.0 - t * t)
        d_x = t + d_a * 2
        return [out, d_x] if record else None
    return step


# (e) scalar_chain: 200,000 ops on a 0-d tensor ------------------------------

SCALAR_CYCLES = 100_000
SCALAR_OPS = 2 * SCALAR_CYCLES


def scalar_chain_torchlike(torch):
    x = torch.tensor(1.0, requires_grad=True)

    def step(record=False):
        x.grad = None
        h = x
        for _ in range(SCALAR_CYCLES):
            h = h * 1.0000001
            h = h + 1e-7
        h.backward()
        return [h, x.grad] if record else None
    return step


def scalar_chain_numpy():
    import numpy as np
    x = np.array(1.0, dtype=np.float32)

    def step(record=False):
        h = x
        for _ in range(SCALAR_CYCLES):
            h = h * 1.0000001
            h = h + 1e-7
        g = np.float32(1.0)
        for _ in range(SCALAR_CYCLES):
            g = g * 1.0000001          # (+1e-7 passes g through)
        return [h, g] if record else None
    return step


# Issue 3 (autograd): Jacobians, Hessians, grad of grad -----------------------
# These compare chainrule.func with torch.func (the same code on both sides);
# there is no hand-written NumPy version.

JAC_N = 256
HESS_N = 64
GRADGRAD_CYCLES = 50  # 100 ops


def _func_module(torch):
    import importlib
    return importlib.import_module(torch.__name__ + ".func")


def jacrev256_torchlike(torch):
    import numpy as np
    rng = np.random.default_rng(5)
    W = torch.tensor(rng.standard_normal((JAC_N, JAC_N)) / 16, dtype=torch.float32)
    b = torch.tensor(rng.standard_normal(JAC_N), dtype=torch.float32)
    x = torch.tensor(rng.standard_normal(JAC_N), dtype=torch.float32)
    jacrev = _func_module(torch).jacrev

    def f(v):
        return (W @ v + b).tanh()

    def step(record=False):
        J = jacrev(f)(x)
        return [J] if record else None
    return step


def hessian64_torchlike(torch):
    import numpy as np
    rng = np.random.default_rng(6)
    A = torch.tensor(rng.standard_normal((HESS_N, HESS_N)) / 8, dtype=torch.float32)
    x = torch.tensor(rng.standard_normal(HESS_N), dtype=torch.float32)
    hessian = _func_module(torch).hessian

    def f(v):
        return ((A @ v).tanh() ** 2).sum()

    def step(record=False):
        H = hessian(f)(x)
        return [H] if record else None
    return step


def gradgrad_torchlike(torch):
    x = torch.tensor(0.5, requires_grad=True)

    def step(record=False):
        y = x
        for _ in range(GRADGRAD_CYCLES):
            y = (y * 1.01).sin()
        (g,) = torch.autograd.grad(y, x, create_graph=True)
        (h,) = torch.autograd.grad(g, x)
        return [g, h] if record else None
    return step


def persample_torchlike(torch):
    """Per-sample gradients of a 784-128-10 MLP's cross-entropy, batch 64, with
    ``vmap(grad(loss), in_dims=(None, 0, 0))`` (torch.func in PyTorch)."""
    import numpy as np
    rng = np.random.default_rng(7)
    shapes = ((128, 784), (128,), (10, 128), (10,))
    params = {k: torch.tensor(rng.standard_normal(s) * 0.05, dtype=torch.float32)
              for k, s in zip(("0.weight", "0.bias", "2.weight", "2.bias"), shapes)}
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
    x = torch.tensor(rng.standard_normal((64, 784)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, 10, 64))
    fm = _func_module(torch)

    def loss(p, xb, yb):
        out = fm.functional_call(model, p, (xb[None],))
        return torch.nn.functional.cross_entropy(out, yb[None])
    per_sample = fm.vmap(fm.grad(loss), in_dims=(None, 0, 0))

    def step(record=False):
        g = per_sample(params, x, y)
        return [g[k] for k in sorted(g)] if record else None
    return step


# (k) compiled: chainrule.compile against PyTorch EAGER and NumPy by hand ------
# chainrule's side compiles the function (torch.compile's API); PyTorch's side runs it
# eagerly (the targets compare with PyTorch's eager engine: torch.compile needs a C
# compiler and seconds per graph).  A trace is made once, in setup (untimed).

def _compiled(torch, fn):
    return torch.compile(fn) if torch.__name__.split(".")[0] == "chainrule" else fn


def _seed_fn(torch):
    def f(x):
        y = torch.zeros(1, 2)
        y[0, 0] = 2 * x[0, 0] + x[0, 1] ** 2
        y[0, 1] = x[0, 0] ** 2 + 2 * x[0, 1] ** 3
        return y
    return f


def seed_compiled_torchlike(torch):
    f = _compiled(torch, _seed_fn(torch))
    f(torch.tensor([[1.0, 2.0]], requires_grad=True))  # (the trace)

    def step(record=False):
        x = torch.tensor([[1.0, 2.0]], requires_grad=True)
        return _seed_backwards(torch, x, f(x), record)
    return step


def _chain_fn(y):
    def f(x):
        h = x
        for _ in range(CHAIN_CYCLES):
            h = h * 1.01
            h = h.tanh()
            h = h.sin()
            h = h * y
            h = h.exp()
            h = h - 1.0
        return h.sum()
    return f


def chain300_compiled_torchlike(torch):
    x_np, y_np = _chain_data()
    x = torch.tensor(x_np, dtype=torch.float32, requires_grad=True)
    y = torch.tensor(y_np, dtype=torch.float32)
    f = _compiled(torch, _chain_fn(y))
    f(x)  # (the trace)

    def step(record=False):
        x.grad = None
        out = f(x)
        out.backward()
        return [out, x.grad] if record else None
    return step


def trace300_torchlike(torch):
    """chainrule: the first call of a newly compiled 300-op chain (trace, backward
    trace, code generation); PyTorch: one eager forward of the chain, for scale."""
    x_np, y_np = _chain_data()
    x = torch.tensor(x_np, dtype=torch.float32, requires_grad=True)
    y = torch.tensor(y_np, dtype=torch.float32)
    chainrule = torch.__name__.split(".")[0] == "chainrule"

    def step(record=False):
        f = torch.compile(_chain_fn(y)) if chainrule else _chain_fn(y)
        out = f(x)
        return [out] if record else None
    return step


MLP_LR = 0.01


def mlp_sgd_compiled_torchlike(torch):
    params_np, inputs_np, labels_np = _mlp_data()
    params = [torch.tensor(p, dtype=torch.float32, requires_grad=True)
              for p in params_np]
    w1, b1, w2, b2, w3, b3 = params
    inputs = torch.tensor(inputs_np, dtype=torch.float32)
    labels = torch.tensor(labels_np, dtype=torch.int64)
    rows = torch.arange(MLP_BATCH)
    opt = torch.optim.SGD(params, lr=MLP_LR)

    def loss_fn(inputs, labels):
        h1 = (inputs @ w1 + b1).relu()
        h2 = (h1 @ w2 + b2).relu()
        logits = h2 @ w3 + b3
        return -(torch.log_softmax(logits, dim=1)[rows, labels]).mean()
    f = _compiled(torch, loss_fn)
    f(inputs, labels)  # (the trace)

    def step(record=False):
        opt.zero_grad()
        loss = f(inputs, labels)
        loss.backward()
        if record:
            grads = [p.grad.clone() for p in params]
        opt.step()
        return [loss] + grads if record else None
    return step


def mlp_sgd_numpy():
    import numpy as np
    params, inputs, labels = _mlp_data()
    backward = _mlp_by_hand(params, inputs, labels)
    lr = np.float32(MLP_LR)

    def step(record=False):
        loss, *grads = backward()
        for p, g in zip(params, grads):
            p -= lr * g  # SGD, as torch.optim.SGD(lr) without momentum
        return [loss] + grads if record else None
    return step


# ---------------------------------------------------------------------------
# Registry.  ``unit``/``scale`` say how a sample (seconds per call) is shown;
# ``ops`` divides to report time per op.  ``warmup``/``repeats`` are per
# worker process; the ``quick_*`` values apply with ``--quick``.
# ---------------------------------------------------------------------------

WORKLOADS = {
    "seed": dict(torchlike=seed_torchlike, numpy=seed_numpy,
                 unit="ms", scale=1e3, ops=1, warmup=20, repeats=200,
                 quick_warmup=5, quick_repeats=30, check_rtol=1e-6),
    "chain300": dict(torchlike=chain300_torchlike, numpy=chain300_numpy,
                     unit="us/op", scale=1e6, ops=CHAIN_OPS, warmup=10,
                     repeats=100, quick_warmup=3, quick_repeats=20,
                     check_rtol=1e-3),
    "mlp": dict(torchlike=mlp_torchlike, numpy=mlp_numpy,
                unit="ms", scale=1e3, ops=1, warmup=5, repeats=40,
                quick_warmup=2, quick_repeats=8, check_rtol=1e-4),
    "big": dict(torchlike=big_torchlike, numpy=big_numpy,
                unit="ms", scale=1e3, ops=1, warmup=1, repeats=5,
                quick_warmup=1, quick_repeats=2, check_rtol=1e-4,
                fresh_process=True),
    "scalar_chain": dict(torchlike=scalar_chain_torchlike,
                         numpy=scalar_chain_numpy, unit="s", scale=1.0,
                         ops=1, warmup=1, repeats=2, quick_warmup=0,
                         quick_repeats=1, check_rtol=1e-5),
    "import": dict(unit="s", scale=1.0, ops=1, repeats=5, quick_repeats=2,
                   fresh_process=True),
    "jacrev256": dict(torchlike=jacrev256_torchlike, unit="ms", scale=1e3, ops=1,
                      warmup=3, repeats=30, quick_warmup=1, quick_repeats=8,
                      check_rtol=1e-4),
    "hessian64": dict(torchlike=hessian64_torchlike, unit="ms", scale=1e3, ops=1,
                      warmup=3, repeats=30, quick_warmup=1, quick_repeats=8,
                      check_rtol=1e-3),
    "gradgrad": dict(torchlike=gradgrad_torchlike, unit="ms", scale=1e3, ops=1,
                     warmup=5, repeats=50, quick_warmup=2, quick_repeats=10,
                     check_rtol=1e-5),
    "persample": dict(torchlike=persample_torchlike, unit="ms", scale=1e3, ops=1,
                      warmup=5, repeats=40, quick_warmup=2, quick_repeats=8,
                      check_rtol=1e-3),
}
WORKLOADS.update({
    "seed_compiled": dict(torchlike=seed_compiled_torchlike, unit="ms", scale=1e3, ops=1,
                          warmup=20, repeats=200, quick_warmup=5, quick_repeats=30,
                          check_rtol=1e-6),
    "chain300_compiled": dict(torchlike=chain300_compiled_torchlike, numpy=chain300_numpy,
                              unit="us/op", scale=1e6, ops=CHAIN_OPS, warmup=10,
                              repeats=100, quick_warmup=3, quick_repeats=20,
                              check_rtol=1e-3),
    "mlp_sgd_compiled": dict(torchlike=mlp_sgd_compiled_torchlike, numpy=mlp_sgd_numpy,
                             unit="ms", scale=1e3, ops=1, warmup=5, repeats=40,
                             quick_warmup=2, quick_repeats=8, check_rtol=1e-4),
    "trace300": dict(torchlike=trace300_torchlike, unit="ms", scale=1e3, ops=1,
                     warmup=2, repeats=15, quick_warmup=1, quick_repeats=4,
                     check_rtol=1e-5),
})
# workloads timed only against PyTorch (no hand-written NumPy version)
TORCH_ONLY = ("jacrev256", "hessian64", "gradgrad", "persample", "seed_compiled",
              "trace300")

# Targets: (level, label, metric, limit) with metric(stats) -> value or None.
# ``stats[lib]`` holds "med"/"min" seconds and, for big, "peak_med" bytes.


def _ratio(a_lib, b_lib, key="med"):
    """Metric a/b of ``key``; peaks are compared in whole MiB (RSS noise)."""
    def metric(stats):
        a, b = stats.get(a_lib), stats.get(b_lib)
        if not a or not b or a.get(key) is None or not b.get(key):
            return None
        if key.startswith("peak"):
            return round(a[key] / MB) / max(1, round(b[key] / MB))
        return a[key] / b[key]
    return metric


def _millis(lib):
    def metric(stats):
        a = stats.get(lib)
        return None if not a or a.get("med") is None else a["med"] * 1e3
    return metric


def _import_overhead(stats):
    if not stats.get("chainrule") or not stats.get("numpy"):
        return None
    return stats["chainrule"]["min"] - stats["numpy"]["min"]


TARGETS = {
    "seed": [("must", "cr/torch", _ratio("chainrule", "torch"), 0.5),
             ("stretch", "cr/torch", _ratio("chainrule", "torch"), 0.25)],
    "chain300": [("must", "cr/torch", _ratio("chainrule", "torch"), 0.6),
                 ("stretch", "cr/torch", _ratio("chainrule", "torch"), 0.35)],
    "mlp": [("must", "cr/torch", _ratio("chainrule", "torch"), 1.1),
            ("stretch", "cr/torch", _ratio("chainrule", "torch"), 1.0),
            ("stretch", "cr/numpy", _ratio("chainrule", "numpy"), 1.1)],
    "big": [("must", "time cr/numpy", _ratio("chainrule", "numpy"), 1.3),
            ("must", "peak cr/numpy",
             _ratio("chainrule", "numpy", "peak_med"), 1.0),
            ("stretch", "time cr/numpy", _ratio("chainrule", "numpy"), 1.15),
            ("stretch", "peak cr/torch",
             _ratio("chainrule", "torch", "peak_med"), 1.0)],
    "scalar_chain": [
        ("must", "cr/torch", _ratio("chainrule", "torch"), 0.75),
        ("stretch", "cr/torch", _ratio("chainrule", "torch"), 0.5)],
    "import": [("must", "cr - numpy [s]", _import_overhead, 0.1)],
    "jacrev256": [("must", "cr/torch.func", _ratio("chainrule", "torch"), 1.0),
                  ("stretch", "cr/torch.func", _ratio("chainrule", "torch"), 0.5)],
    "hessian64": [("must", "cr/torch.func", _ratio("chainrule", "torch"), 0.5),
                  ("stretch", "cr/torch.func", _ratio("chainrule", "torch"), 0.2)],
    "gradgrad": [("must", "cr/torch", _ratio("chainrule", "torch"), 1.0),
                 ("stretch", "cr/torch", _ratio("chainrule", "torch"), 0.6)],
    "persample": [("must", "cr/torch.func", _ratio("chainrule", "torch"), 1.2)],
    "seed_compiled": [("must", "compiled/torch", _ratio("chainrule", "torch"), 0.3),
                      ("stretch", "compiled/torch", _ratio("chainrule", "torch"), 0.15)],
    "chain300_compiled": [
        ("must", "compiled/torch", _ratio("chainrule", "torch"), 0.35),
        ("stretch", "compiled/numpy", _ratio("chainrule", "numpy"), 1.3)],
    "mlp_sgd_compiled": [
        ("must", "compiled/numpy", _ratio("chainrule", "numpy"), 1.05),
        ("stretch", "compiled/numpy", _ratio("chainrule", "numpy"), 1.0)],
    "trace300": [("must", "ms", _millis("chainrule"), 50.0),
                 ("stretch", "ms", _millis("chainrule"), 20.0)],
}


# ---------------------------------------------------------------------------
# Worker side (child process).
# ---------------------------------------------------------------------------

def _proc_status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _reset_peak_rss():
    """Reset the kernel's peak-RSS counter; return False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _proc_status_kb("VmHWM") <= _proc_status_kb("VmRSS") + 1024
    except OSError:
        return False


def _max_rss_bytes():
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def load_library(lib, aliases):
    """Import the module for ``lib`` (honouring ``--lib-alias``)."""
    module = importlib.import_module(aliases.get(lib, lib))
    if lib == "numpy":
        return module
    threads = int(os.environ.get("BENCH_THREADS", "0"))
    torch_mod = sys.modules.get("torch")
    if threads > 0 and torch_mod is not None:
        torch_mod.set_num_threads(threads)
    return module


def make_step(name, lib, module):
    spec = WORKLOADS[name]
    if lib == "numpy" and "numpy" not in spec:
        raise LookupError("no hand-written NumPy version (compared with PyTorch only)")
    return spec["numpy"]() if lib == "numpy" else spec["torchlike"](module)


def time_workload(step, warmup, repeats, gc_off, measure_peak):
    """Warm up, then time ``repeats`` calls; optionally record peak RSS."""
    for _ in range(warmup):
        step()
    times, peaks = [], []
    reset_ok = measure_peak and _reset_peak_rss()
    gc_was_enabled = gc.isenabled()
    if gc_off:
        gc.collect()
        gc.disable()
    try:
        for _ in range(repeats):
            if reset_ok:
                gc.collect()
                base = _proc_status_kb("VmRSS") * 1024
                _reset_peak_rss()
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
            if reset_ok:
                peaks.append(_proc_status_kb("VmHWM") * 1024 - base)
    finally:
        if gc_off and gc_was_enabled:
            gc.enable()
    return times, peaks


def run_worker(args, aliases):
    lib = args.worker
    names = args.only
    results = {}
    module = load_library(lib, aliases)
    for name in names:
        spec = WORKLOADS[name]
        warmup = spec["quick_warmup"] if args.quick else spec["warmup"]
        repeats = spec["quick_repeats"] if args.quick else spec["repeats"]
        try:
            step = make_step(name, lib, module)
            peaks_first = []
            if name == "big" and not _reset_peak_rss():
                # Fallback: measure only the first call of this fresh child.
                gc.collect()
                base = _max_rss_bytes()
                start = time.perf_counter()
                step()
                first = time.perf_counter() - start
                peaks_first = [_max_rss_bytes() - base]
                warmup = max(0, warmup - 1)
            times, peaks = time_workload(step, warmup, repeats,
                                         args.gc_off, name == "big")
            if peaks_first:
                times = [first] + times
            results[name] = {"times": times, "peaks": peaks_first + peaks}
        except Exception as exc:  # report and go on with other workloads
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        step = None
        gc.collect()
    print(RESULT_MARK + json.dumps(results), flush=True)


# ---------------------------------------------------------------------------
# Driver side (parent process).
# ---------------------------------------------------------------------------

def child_env(args):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (REPO_ROOT, env.get("PYTHONPATH")) if p)
    env["BENCH_THREADS"] = str(args.threads)
    if args.threads > 0:
        for var in THREAD_VARS:
            env[var] = str(args.threads)
    return env


def worker_command(args, lib, names):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", lib,
           "--only", ",".join(names), "--threads", str(args.threads)]
    if args.quick:
        cmd.append("--quick")
    if args.gc_off:
        cmd.append("--gc-off")
    for alias in args.lib_alias:
        cmd += ["--lib-alias", alias]
    return cmd


def run_child(cmd, env, timeout):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO_ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):]), None
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return None, f"exit {proc.returncode}: " + " | ".join(tail)


def _compile_bytecode(env):
    """Compile chainrule's .pyc files once, as ``pip install`` does for an installed
    package (NumPy and PyTorch are timed with theirs); with PYTHONDONTWRITEBYTECODE set,
    a source checkout would otherwise be recompiled on every import."""
    subprocess.run([sys.executable, "-m", "compileall", "-q",
                    os.path.join(REPO_ROOT, "chainrule")], env=env, check=False,
                   capture_output=True)


def time_import(module_name, env, timeout):
    """Seconds to import ``module_name`` in a fresh interpreter."""
    code = (f"import time; t = time.perf_counter(); import {module_name}; "
            "print(time.perf_counter() - t)")
    proc = subprocess.run([sys.executable, "-c", code], env=env,
                          capture_output=True, text=True, timeout=timeout,
                          cwd=REPO_ROOT)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1])
    return float(proc.stdout.split()[-1])


def library_available(lib, aliases, env):
    module = aliases.get(lib, lib)
    probe = f"import {module}"
    if lib != "numpy":  # a bare namespace package is not enough
        probe += f"; {module}.tensor"
    proc = subprocess.run([sys.executable, "-c", probe],
                          env=env, capture_output=True, text=True,
                          cwd=REPO_ROOT)
    if proc.returncode == 0:
        return True, None
    lines = proc.stderr.strip().splitlines()
    return False, lines[-1] if lines else f"exit {proc.returncode}"


def collect(args, libs, aliases, env):
    """Run all rounds; return samples[name][lib] = {"times", "peaks", ...}."""
    samples = {name: {lib: {"times": [], "peaks": [], "errors": []}
                      for lib in libs} for name in args.only}
    shared = [n for n in args.only
              if not WORKLOADS[n].get("fresh_process")]
    for rnd in range(args.rounds):
        order = libs[rnd % len(libs):] + libs[:rnd % len(libs)]
        print(f"round {rnd + 1}/{args.rounds}: order {', '.join(order)}",
              file=sys.stderr, flush=True)
        jobs = []
        if shared:
            jobs.append(shared)
        if "big" in args.only:
            jobs.append(["big"])
        for names in jobs:
            for lib in order:
                cmd = worker_command(args, lib, names)
                try:
                    result, error = run_child(cmd, env, args.timeout)
                except subprocess.TimeoutExpired:
                    result, error = None, f"timeout after {args.timeout} s"
                for name in names:
                    cell = samples[name][lib]
                    if result is None:
                        cell["errors"].append(error)
                    elif "error" in result.get(name, {}):
                        cell["errors"].append(result[name]["error"])
                    else:
                        cell["times"] += result[name]["times"]
                        cell["peaks"] += result[name]["peaks"]
        if "import" in args.only:
            if rnd == 0:
                _compile_bytecode(env)
            spec = WORKLOADS["import"]
            n = spec["quick_repeats"] if args.quick else spec["repeats"]
            for lib in order:
                cell = samples["import"][lib]
                try:
                    cell["times"] += [
                        time_import(aliases.get(lib, lib), env, args.timeout)
                        for _ in range(n)]
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    cell["errors"].append(str(exc))
    return samples


def summarize(samples):
    stats = {}
    for name, per_lib in samples.items():
        ops = WORKLOADS[name]["ops"]
        stats[name] = {}
        for lib, cell in per_lib.items():
            if not cell["times"]:
                stats[name][lib] = None
                continue
            times = [t / ops for t in cell["times"]]
            entry = {"min": min(times), "med": statistics.median(times),
                     "n": len(times)}
            if cell["peaks"]:
                entry["peak_min"] = min(cell["peaks"])
                entry["peak_med"] = statistics.median(cell["peaks"])
            stats[name][lib] = entry
    return stats


def evaluate_targets(name, stats):
    rows = []
    for level, label, metric, limit in TARGETS.get(name, []):
        value = metric(stats)
        verdict = "n/a" if value is None else (
            "PASS" if value <= limit else "MISS")
        rows.append({"level": level, "label": label, "limit": limit,
                     "value": value, "verdict": verdict})
    return rows


def _fmt(value, digits=4):
    return "-" if value is None else f"{value:.{digits}g}"


def print_report(samples, stats, libs, notes):
    for note in notes:
        print(f"note: {note}")
    for name in samples:
        spec = WORKLOADS[name]
        st = stats[name]
        scale = spec["scale"]
        print(f"\n== {name}  [{spec['unit']}] ==")
        header = f"{'library':<10} {'min':>10} {'median':>10} {'n':>4}"
        if name == "big":
            header += f" {'peak MB min':>12} {'peak MB med':>12}"
        print(header)
        for lib in libs:
            entry = st.get(lib)
            if entry is None:
                errors = samples[name].get(lib, {}).get("errors")
                why = errors[0] if errors else "skipped"
                print(f"{lib:<10} {'-':>10} {'-':>10} {'0':>4}  ({why})")
                continue
            line = (f"{lib:<10} {entry['min'] * scale:>10.4g} "
                    f"{entry['med'] * scale:>10.4g} {entry['n']:>4}")
            if "peak_med" in entry:
                line += (f" {entry['peak_min'] / MB:>12.1f}"
                         f" {entry['peak_med'] / MB:>12.1f}")
            print(line)
        if name == "import":
            for lib in ("chainrule", "torch"):
                if st.get(lib) and st.get("numpy"):
                    extra = st[lib]["min"] - st["numpy"]["min"]
                    print(f"{lib} adds {extra:.3f} s over import numpy (min)")
        else:
            for other in ("torch", "numpy"):
                med = _ratio("chainrule", other)(st)
                low = _ratio("chainrule", other, "min")(st)
                if med is not None:
                    print(f"chainrule/{other}: {med:.3f} (min {low:.3f})")
        for row in evaluate_targets(name, st):
            print(f"  {row['level']:<8} {row['label']:<15} "
                  f"<= {row['limit']:<5} got {_fmt(row['value'])}  "
                  f"{row['verdict']}")


def cpu_model() -> str:
    """The CPU's model name: ratios against PyTorch move with the CPU and its BLAS."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_info(args):
    info = {"python": sys.version.split()[0], "platform": platform.platform(),
            "cpu": cpu_model(), "cpu_count": os.cpu_count(), "threads": args.threads,
            "rounds": args.rounds, "quick": args.quick,
            "gc_off": args.gc_off, "lib_alias": args.lib_alias}
    for dist in ("numpy", "torch"):
        try:
            info[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            info[dist] = None
    return info


# ---------------------------------------------------------------------------
# --check: hand-written NumPy (and chainrule) gradients against PyTorch.
# ---------------------------------------------------------------------------

def run_check(args, libs, aliases):
    import numpy as np
    modules = {lib: load_library(lib, aliases) for lib in libs}
    failures = 0
    for name in args.only:
        if name == "import":
            continue
        rtol = WORKLOADS[name]["check_rtol"]
        reference = [to_numpy(v) for v in
                     make_step(name, "torch", modules["torch"])(record=True)]
        for lib in libs:
            if lib == "torch":
                continue
            try:
                got = [to_numpy(v) for v in
                       make_step(name, lib, modules[lib])(record=True)]
                assert len(got) == len(reference), "different result count"
                worst = 0.0
                for ref, val in zip(reference, got, strict=True):
                    assert ref.shape == val.shape, (ref.shape, val.shape)
                    assert np.all(np.isfinite(val)), "non-finite values"
                    scale = np.abs(ref).max() + 1e-30
                    worst = max(worst, float(np.abs(ref - val).max() / scale))
                assert worst <= rtol, f"max rel. error {worst:.2e} > {rtol}"
                print(f"check {name:<13} {lib:<10} ok   "
                      f"(max rel. error {worst:.2e})")
            except AssertionError as exc:
                failures += 1
                print(f"check {name:<13} {lib:<10} FAIL {exc}")
            except Exception as exc:
                failures += 1
                print(f"check {name:<13} {lib:<10} ERROR "
                      f"{type(exc).__name__}: {exc}")
    return failures


# ---------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per library (0: library defaults)")
    parser.add_argument("--rounds", type=int,
                        help="interleaved rounds (default 5, --quick 3)")
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help="comma-separated workloads: "
                             + ", ".join(WORKLOADS))
    parser.add_argument("--libs", default=",".join(LIBS),
                        help="comma-separated libraries (default all)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer warmups and repeats")
    parser.add_argument("--gc-off", action="store_true",
                        help="disable the garbage collector while timing")
    parser.add_argument("--json", metavar="PATH",
                        help="write samples and summary as JSON")
    parser.add_argument("--check", action="store_true",
                        help="assert gradients agree with PyTorch and exit")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds per child process")
    parser.add_argument("--worker", choices=LIBS, help=argparse.SUPPRESS)
    parser.add_argument("--lib-alias", action="append", default=[],
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 3 if args.quick else 5
    args.only = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in args.only if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(unknown)}")
    args.libs = [lib.strip() for lib in args.libs.split(",") if lib.strip()]
    if any(lib not in LIBS for lib in args.libs):
        parser.error(f"--libs takes a subset of {', '.join(LIBS)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    aliases = dict(a.split("=", 1) for a in args.lib_alias)
    if args.threads > 0:  # before NumPy/PyTorch are imported anywhere
        os.environ["BENCH_THREADS"] = str(args.threads)
        for var in THREAD_VARS:
            os.environ[var] = str(args.threads)
    if args.worker:
        run_worker(args, aliases)
        return 0

    env = child_env(args)
    libs, notes = [], []
    for lib in args.libs:
        ok, why = library_available(lib, aliases, env)
        if ok:
            libs.append(lib)
            if lib in aliases:
                notes.append(f"{lib} is played by {aliases[lib]} "
                             "(--lib-alias)")
        else:
            notes.append(f"{lib} not importable, skipped ({why})")

    if args.check:
        if "torch" not in libs:
            print("--check needs torch as reference", file=sys.stderr)
            return 2
        for note in notes:
            print(f"note: {note}")
        sys.path.insert(0, REPO_ROOT)
        return 1 if run_check(args, libs, aliases) else 0

    info = environment_info(args)
    print("bench_core: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    samples = collect(args, libs, aliases, env)
    stats = summarize(samples)
    print_report(samples, stats, args.libs, notes)
    if args.json:
        payload = {"environment": info, "notes": notes,
                   "samples": samples, "stats": stats,
                   "targets": {n: evaluate_targets(n, stats[n])
                               for n in samples}}
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=1)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
