"""``Case``: one sample call of an op, written once and run on chainrule and on PyTorch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Case:
    """One sample of one op-table row.

    op:      the row exercised (a key of ``chainrule.ops.all_ops()``).
    fn:      ``fn(lib, *tensors)`` -> Tensor or tuple/list of Tensors; the SAME code runs
             with ``lib = chainrule`` and ``lib = torch``.
    shapes:  shapes of the tensor inputs (random uniform in ``domain``).
    make:    optional ``make(rng) -> list[np.ndarray]`` overriding shapes/domain (integer
             index arrays, matrices with a structure, values kept away from kinks ...).
    nondiff: positions of inputs that never require grad (indices, masks).
    grad:    False for rows that are not differentiable (comparisons, argmax ...).
    name:    a short id suffix to tell cases of one op apart.
    """

    op: str
    fn: Callable
    shapes: Sequence[tuple] = ()
    domain: tuple = (-2.0, 2.0)
    make: Callable | None = None
    nondiff: tuple = ()
    grad: bool = True
    name: str = ""
    rtol: float = 1e-5
    atol: float = 1e-6
    fd_tol: float = 1e-6
    tags: tuple = field(default_factory=tuple)

    @property
    def id(self) -> str:
        return f"{self.op}-{self.name}" if self.name else self.op

    def arrays(self, seed: int = 0, dtype=np.float64) -> list:
        """The inputs as NumPy arrays (float inputs cast to ``dtype``)."""
        rng = np.random.default_rng(seed)
        if self.make is not None:
            arrs = [np.asarray(a) for a in self.make(rng)]
        else:
            lo, hi = self.domain
            arrs = [rng.uniform(lo, hi, size=s) for s in self.shapes]
        return [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrs]
