"""The op table's machinery, by the names the rest of the package imports from here.

Each part lives in its own file: rows and the derived rules of elementwise rows
(``_row.py``), dispatch and recording (``_record.py``), type promotion and the scalar
caches (``_promote.py``), error messages (``_errors.py``), ``CopySlices``
(``_copyslices.py``) and replaying views on raw arrays (``backend/_replay.py``).  This
module re-exports them and holds the ``view_replace`` row that ``CopySlices`` records
under ``create_graph``.
"""

from __future__ import annotations

from ..backend._replay import assign_view, replay_raw
from ._copyslices import CopySlices
from ._promote import _wrap_int
from ._record import (
    _check_leaf_inplace,
    _out_checks,
    _record,
    binary,
    elementwise_n,
    inplace,
    nary,
    replay_view,
    unary,
    view,
)
from ._row import CHUNK, Op, all_ops, elementwise

__all__ = [
    "CHUNK", "CopySlices", "Op", "VIEW_REPLACE", "_check_leaf_inplace",
    "_out_checks", "_record", "_wrap_int", "all_ops", "assign_view", "binary",
    "elementwise", "elementwise_n", "inplace", "nary", "replay_raw", "replay_view",
    "unary", "view",
]


def _view_replace_forward(xp, base, value, steps, nb):
    return xp.view_replace(base, steps, value, nb)


def _view_replace_jvp(xp, ts, base, steps, nb):
    tb, tv = ts
    if tb is None:
        tb = xp.zeros(tv, base.shape)  # base carries its own nb batch dims in its shape
    return xp.view_replace(tb, steps, 0 if tv is None else tv, nb)


# base with the region that ``steps`` view replaced by ``value`` (linear in both)
VIEW_REPLACE = Op("view_replace", _view_replace_forward,
                  (lambda xp, g, base, value, out, steps, nb: xp.view_replace(g, steps, 0, nb),
                   lambda xp, g, base, value, out, steps, nb: xp.view_of(g, steps, nb)),
                  nin=2, kind="linear", node="CopySlicesBackward",
                  jvp=lambda xp, ts, base, value, out, steps, nb: _view_replace_jvp(
                      xp, ts, base, steps, nb),
                  formula="d base[view] = v: g outside the view to base, g[view] to v")
