"""chainrule.compile against jax.jit on the compile workloads: a peer figure, not a target.

    pip install "jax[cpu]"
    python benchmarks/bench_jax.py [--rounds 5] [--json out.json]

The same three workloads as bench_core.py's ``*_compiled`` ones (the founding example,
the 300-op chain, the MLP with an SGD step), float32, one thread (XLA's CPU thread pool
limited by XLA_FLAGS before jax is imported).  JAX differentiates functionally
(``jax.grad``/``jax.vjp``), so its programs are the idiomatic JAX equivalents: the same
math, the gradients computed and, for the MLP, the SGD update applied.  Each library's
step is timed in turns within one process, rounds interleaved; medians over rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                      "intra_op_parallelism_threads=1")
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from bench_core import (  # noqa: E402
    CHAIN_CYCLES,
    MLP_BATCH,
    MLP_LR,
    SEED_GRAD_OUTPUTS,
    _chain_data,
    _mlp_data,
    chain300_compiled_torchlike,
    cpu_model,
    mlp_sgd_compiled_torchlike,
    seed_compiled_torchlike,
)

import chainrule  # noqa: E402


def jax_steps():
    import jax
    import jax.numpy as jnp

    def seed_f(x):
        y = jnp.zeros((1, 2), jnp.float32)
        y = y.at[0, 0].set(2 * x[0, 0] + x[0, 1] ** 2)
        return y.at[0, 1].set(x[0, 0] ** 2 + 2 * x[0, 1] ** 3)

    @jax.jit
    def seed_all(x, vs):
        y, vjp = jax.vjp(seed_f, x)
        return y, [vjp(v)[0] for v in vs]

    x0 = jnp.array([[1.0, 2.0]], jnp.float32)
    vs = [jnp.array([[a, b]], jnp.float32) for a, b in SEED_GRAD_OUTPUTS]

    def seed_step():
        y, grads = seed_all(x0, vs)
        jax.block_until_ready(grads)

    x_np, y_np = _chain_data()
    xc, yc = jnp.asarray(x_np), jnp.asarray(y_np)

    def chain(x):
        h = x
        for _ in range(CHAIN_CYCLES):
            h = jnp.exp(jnp.sin(jnp.tanh(h * 1.01)) * yc) - 1.0
        return h.sum()

    chain_grad = jax.jit(jax.value_and_grad(chain))

    def chain_step():
        jax.block_until_ready(chain_grad(xc))

    params_np, inputs_np, labels_np = _mlp_data()
    params = [jnp.asarray(p) for p in params_np]
    inputs, labels = jnp.asarray(inputs_np), jnp.asarray(labels_np)

    def loss_fn(ps, inputs, labels):
        w1, b1, w2, b2, w3, b3 = ps
        h1 = jax.nn.relu(inputs @ w1 + b1)
        h2 = jax.nn.relu(h1 @ w2 + b2)
        logp = jax.nn.log_softmax(h2 @ w3 + b3, axis=1)
        return -logp[jnp.arange(MLP_BATCH), labels].mean()

    @jax.jit
    def update(ps, inputs, labels):
        loss, grads = jax.value_and_grad(loss_fn)(ps, inputs, labels)
        return loss, [p - MLP_LR * g for p, g in zip(ps, grads)]

    state = [params]

    def mlp_step():
        loss, state[0] = update(state[0], inputs, labels)
        jax.block_until_ready(loss)

    for step in (seed_step, chain_step, mlp_step):
        step()  # (compiled here, untimed)
    return {"seed": seed_step, "chain300": chain_step, "mlp_sgd": mlp_step}


def chainrule_steps():
    steps = {"seed": seed_compiled_torchlike(chainrule),
             "chain300": chain300_compiled_torchlike(chainrule),
             "mlp_sgd": mlp_sgd_compiled_torchlike(chainrule)}
    return {k: (lambda s=s: s()) for k, s in steps.items()}


REPEATS = {"seed": 200, "chain300": 60, "mlp_sgd": 30}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    try:
        import jax
    except ImportError:
        print("jax is not installed: pip install 'jax[cpu]'")
        return 0
    libs = {"chainrule.compile": chainrule_steps(), "jax.jit": jax_steps()}
    times = {lib: {name: [] for name in REPEATS} for lib in libs}
    for rnd in range(args.rounds):
        order = list(libs) if rnd % 2 == 0 else list(libs)[::-1]
        for lib in order:
            for name, n in REPEATS.items():
                step = libs[lib][name]
                samples = []
                for _ in range(n):
                    t0 = time.perf_counter()
                    step()
                    samples.append(time.perf_counter() - t0)
                times[lib][name].append(float(np.median(samples)))
    print(f"bench_jax: {cpu_model()}, 1 thread, jax {jax.__version__}, "
          f"numpy {np.__version__}, {args.rounds} rounds (medians)")
    result = {"cpu": cpu_model(), "jax": jax.__version__, "rounds": args.rounds,
              "ms": {}, "ratio": {}}
    for name in REPEATS:
        cr_ms = float(np.median(times["chainrule.compile"][name])) * 1e3
        jx_ms = float(np.median(times["jax.jit"][name])) * 1e3
        result["ms"][name] = {"chainrule.compile": cr_ms, "jax.jit": jx_ms}
        result["ratio"][name] = cr_ms / jx_ms
        print(f"  {name:<9} chainrule.compile {cr_ms:8.3f} ms   jax.jit {jx_ms:8.3f} ms   "
              f"ratio {cr_ms / jx_ms:6.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
