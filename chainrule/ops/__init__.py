"""The op table: one row per differentiable op, grouped by family.

``all_ops()`` lists every row; each row carries its forward, its derivative rules
(written against a namespace ``xp``) and a formula used by the docs and ``explain()``.
"""

from ._core import Op, all_ops

__all__ = ["Op", "all_ops"]
