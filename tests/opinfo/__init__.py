"""The op test table: every op-table row has at least one ``Case`` here.

Each family module (``elementwise.py``, ``reductions.py`` ...) defines ``CASES``, a list
of ``Case``; ``ALL_CASES`` gathers them.  Tests in ``tests/test_ops.py`` run every
property over every case, so a new op is tested the moment it has a case.
"""

from __future__ import annotations

import importlib
import pkgutil

from ._case import Case

ALL_CASES: list[Case] = []
for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_"):
        ALL_CASES.extend(importlib.import_module(f"{__name__}.{_info.name}").CASES)

__all__ = ["Case", "ALL_CASES"]
