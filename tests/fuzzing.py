"""Shared machinery of the adversarial fuzzers (``tests/test_fuzz_*.py``).

Every fuzzer compares chainrule with PyTorch 2.13 on generated inputs and:
- draws its cases from a fixed seed (``rng(name)``, or Hypothesis through ``SETTINGS``,
  which is derandomized), so a CI run is reproducible;
- runs ``cases(n)`` cases: ``n`` in CI, ``10 * n`` when ``CHAINRULE_FUZZ=long`` is set
  (the local deep mode), and stops early when its ``budget()`` of seconds is spent;
- consults ``DEVIATIONS`` (one allowlist for the whole suite) before reporting a
  difference, so a documented, deliberate difference never fails a fuzzer and an
  undocumented one always does;
- counts what it ran with ``record(name, n)``; the counts are printed at the end of the
  test session (``conftest.pytest_terminal_summary``).
"""

from __future__ import annotations

import os
import time
import zlib

import numpy as np

LONG = os.environ.get("CHAINRULE_FUZZ", "") == "long"
SCALE = 10 if LONG else 1

# name -> reason.  Every entry is documented in docs/pytorch_users.md.
DEVIATIONS = {
    "integer-leaf-requires-grad":
        "integer tensors may require grad (the founding post does it); .grad is floating",
    "random-stream":
        "random numbers come from NumPy's PCG64, not PyTorch's Philox/MT streams",
    "duplicate-index-assignment":
        "x[[0, 0]] = v keeps NumPy's last write and its gradient; PyTorch leaves it undefined",
    "overlapping-write":
        "in-place writes into a tensor whose elements share memory (expand, overlapping "
        "unfold windows) raise; PyTorch allows fill_/zero_, index_put_ and writes through "
        "overlapping windows, whose result depends on its kernels' write order; copy_ "
        "between overlapping non-dense views reads the source before writing",
    "elementwise-result-layout":
        "an elementwise result of a non-dense input (a strided or overlapping view) is laid "
        "out as NumPy chooses, not as PyTorch's TensorIterator does",
    "anomaly-inf":
        "detect_anomaly also stops at inf cotangents",
    "unsupported-dtypes":
        "no uint16/uint32/uint64/complex/bfloat16 tensors: data of those types raises TypeError",
    "range-last-bit":
        "linspace/logspace (and float16 arange) may differ from PyTorch's vectorized kernels "
        "in the last bits",
    "torch-internal-error":
        "where PyTorch itself leaks OverflowError/AttributeError on a junk argument, "
        "chainrule raises a TypeError/ValueError/RuntimeError or computes the value",
    "out-number":
        "out= given a Python number is a TypeError; PyTorch binds it to another overload",
    "out-view-beyond-base":
        "a view given as out= that must grow past its base's memory raises RuntimeError; "
        "PyTorch reallocates the shared storage (docs/pytorch_users.md, out=)",
    "float32-decomposition-in-float64":
        "float32 qr/svd/eigh run in float64 (NumPy's LAPACK has no float32 entry points): "
        "more accurate values, and svd's vector signs may differ from PyTorch's",
    "degenerate-decomposition-gradient":
        "eigh/svd at repeated values give finite gradients; det at singular inputs gives "
        "the true cofactor and its true derivatives (PyTorch: zeros at rank n-1, NaN at "
        "second order where zero singular values repeat); slogdet's gradient at an exactly "
        "singular matrix raises LinAlgError (PyTorch: inf/NaN at first order)",
    "kernel-dependent-convention":
        "where PyTorch's answer depends on its kernel (vectorized or scalar path, dtype: "
        "elu'(nan), signed-zero ties of maximum/minimum/median in float16, hardtanh'(nan) "
        "in float16, softplus'' at the threshold), chainrule gives one answer everywhere",
    "exact-fmod":
        "fmod/remainder of a huge float by a tiny one is exact (C's fmod); PyTorch's "
        "x - trunc(x / y) * y overflows to nan",
    "second-order-at-infinity":
        "second derivatives at +-inf or +-huge where a rule multiplies 0 by inf may be 0 "
        "where PyTorch's hand-written double backward gives nan, or the reverse",
    "relu-negative-zero":
        "relu(-0.0) is 0.0 (NumPy's maximum, one pass); PyTorch keeps -0.0",
    "vmap-empty-batch":
        "vmap over a batch of size 0 runs the function once on the empty batch with the "
        "sample's shape (r[0] of a (4,)-sample works); PyTorch checks some indices against "
        "the empty batch dim and raises IndexError",
    "norm-at-zero":
        "the gradient of a norm at a zero vector (or of a p < 1 norm at a zero entry) is 0 "
        "to every order; PyTorch's second order is nan there",
}

COUNTS: dict[str, int] = {}
FINDINGS: dict[str, list[str]] = {}


def cases(n: int) -> int:
    """How many cases a fuzzer with a CI size of ``n`` runs now."""
    return n * SCALE


def budget(seconds: float) -> float:
    """A deadline (``time.monotonic()`` value) for a fuzzer with a CI budget of seconds."""
    return time.monotonic() + seconds * SCALE


def rng(name: str, salt: int = 0) -> np.random.Generator:
    """A generator seeded from the fuzzer's name: the same cases on every run."""
    return np.random.default_rng(zlib.crc32(name.encode()) + salt)


def record(name: str, n: int = 1) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + n


def allowed(deviation: str) -> bool:
    """Whether a difference is a documented deviation (a typo here is an error)."""
    if deviation not in DEVIATIONS:
        raise KeyError(f"{deviation!r} is not in tests/fuzzing.py DEVIATIONS")
    return True


try:  # Hypothesis-driven fuzzers share one derandomized profile
    from hypothesis import HealthCheck, settings

    def SETTINGS(max_examples: int):
        return settings(max_examples=cases(max_examples), derandomize=True, deadline=None,
                        database=None,
                        suppress_health_check=list(HealthCheck))
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    SETTINGS = None
