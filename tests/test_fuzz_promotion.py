"""Mixed-dtype programs (Note [promoted inputs] in autograd/node.py) against PyTorch.

A float32 operand of a float64 op gets its cotangent in float32, as PyTorch's engine
casts it, at first order and under ``create_graph``: random chains of binary rows on
operands of two dtypes (float32, float64, and Python numbers), their gradients
and their gradients' gradients, values and dtypes compared with PyTorch.
"""

from __future__ import annotations

import time

import fuzzing
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import chainrule  # noqa: E402

NAME = "promotion"
# (float16 is left out: its second derivatives differ from PyTorch's in rounding wherever
# a float16 intermediate rounds to 0 or overflows, promotion or not)
DTYPES = ["float32", "float64"]
BINARY = {
    "add": lambda L, a, b: a + b, "sub": lambda L, a, b: a - b,
    "mul": lambda L, a, b: a * b, "div": lambda L, a, b: a / (b * b + 1),
    "maximum": lambda L, a, b: L.maximum(a, b), "atan2": lambda L, a, b: L.atan2(a, b),
    "where": lambda L, a, b: L.where(a > b, a, b * 2),
    "scalar": lambda L, a, b: a * 1.5 + b,
}
UNARY = {"sin": lambda t: t.sin(), "tanh": lambda t: t.tanh(), "sq": lambda t: t * t,
         "exp": lambda t: (t * 0.5).exp()}
TOL = {"float32": 1e-3, "float64": 1e-9}  # (chained exp, atan2 and squares amplify)


def _program(i):
    r = fuzzing.rng(NAME, i)
    n = int(r.integers(1, 5))
    dts = [str(r.choice(DTYPES)) for _ in range(3)]
    steps = [(str(r.choice(sorted(BINARY))), str(r.choice(sorted(UNARY))),
              int(r.integers(0, 3))) for _ in range(n)]
    # (+ 0.0: no -0.0 inputs; which zero maximum picks on a tie of 0.0 and -0.0 depends
    # on PyTorch's vectorized or scalar kernel, a matter of the special-points fuzzer)
    values = [np.round(r.standard_normal(3) * 4) / 4 + 0.0 for _ in range(3)]
    return dts, steps, values


def _run(L, dts, steps, values):
    xs = [L.tensor(v.tolist(), dtype=getattr(L, dt), requires_grad=True)
          for v, dt in zip(values, dts)]
    h = xs[0]
    for op, un, k in steps:
        h = UNARY[un](BINARY[op](L, h, xs[k]))
    loss = (h * h).sum()
    gs = L.autograd.grad(loss, xs, create_graph=True, allow_unused=True)
    second = sum((g * g).sum() for g in gs if g is not None and g.requires_grad)
    g2 = L.autograd.grad(second, xs, allow_unused=True) if torch.is_tensor(second) or \
        isinstance(second, chainrule.Tensor) else [None] * len(xs)
    return [h] + list(gs) + list(g2)


def _np(t):
    return None if t is None else (str(t.dtype).rsplit(".", 1)[-1],
                                   t.detach().double().numpy())


def _close(a, b, tol):
    x, y = a[1], b[1]
    if a[0] == "float16":  # (where float16 overflows, inf or nan follows each library's
        keep = np.isfinite(x) & np.isfinite(y)  # kernels' intermediate rounding)
        x, y = x[keep], y[keep]
    return np.allclose(x, y, rtol=tol, atol=tol, equal_nan=True)


def _observe(L, dts, steps, values):
    try:
        return [_np(t) for t in _run(L, dts, steps, values)]
    except Exception as exc:  # noqa: BLE001 - the exception's type is the observation
        return type(exc).__name__


def test_fuzz_promoted_programs_match_torch():
    start, ran, failures = time.time(), 0, []
    for i in range(fuzzing.cases(300)):
        if time.time() - start > fuzzing.budget(20):
            break
        dts, steps, values = _program(i)
        ours, theirs = (_observe(L, dts, steps, values) for L in (chainrule, torch))
        ran += 1
        if isinstance(theirs, str) or isinstance(ours, str):
            if type(ours) is not type(theirs) or ours != theirs:
                failures.append(f"case {i} {dts} {steps}: {ours} vs {theirs}")
            continue
        tol = max(TOL[dt] for dt in dts)  # (float64 results of float16 values)
        for j, (a, b) in enumerate(zip(ours, theirs)):
            if (a is None) != (b is None):
                failures.append(f"case {i} {dts} {steps}: result {j}: {a} vs {b}")
            elif a is not None and (a[0] != b[0] or not _close(a, b, tol)):
                failures.append(f"case {i} {dts} {steps}: result {j}: {a} vs {b}")
        if len(failures) >= 3:
            break
    fuzzing.record(f"{NAME}: mixed-dtype programs", ran)
    assert not failures, "\n".join(failures)
