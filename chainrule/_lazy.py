"""Working with lazy (Dask) and device arrays: ``compute``, ``persist``, ``unwrap``.

A tensor over a Dask array stays lazy through every op and every backward: printing,
``.item()``, ``.tolist()``, ``.numpy()`` and ``bool()`` compute it.  ``compute`` computes
several in ONE Dask compute (one scan of the data they share), ``persist`` keeps a
tensor's data in (cluster) memory, and ``unwrap`` gives the underlying array of any
backend without materialising it.
"""

from __future__ import annotations

import numpy as np

from ._tensor import Tensor, wrap
from .backend.registry import backend_of


def unwrap(t: Tensor):
    """The array behind ``t`` (NumPy, CuPy, Dask ...), as is: nothing is computed."""
    if not isinstance(t, Tensor):
        raise TypeError(f"unwrap(): expected a Tensor, got {type(t).__name__}")
    return t._data


def compute(*tensors: Tensor) -> tuple:
    """The values of ``tensors`` as NumPy-backed tensors, computed together: the lazy
    ones in one ``dask.compute`` (shared inputs are read once).  Results carry no
    autograd history (they are values, like ``detach()``)."""
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"compute(): argument {i} must be a Tensor, got "
                            f"{type(t).__name__}")
    lazy = [i for i, t in enumerate(tensors)
            if type(t._data) is not np.ndarray and backend_of(t._data).lazy]
    out = [t._host() if i not in lazy else None for i, t in enumerate(tensors)]
    if lazy:
        import dask
        done = dask.compute(*[tensors[i]._data for i in lazy])
        for i, v in zip(lazy, done):
            out[i] = np.asarray(v)
    return tuple(wrap(np.array(a, copy=False) if isinstance(a, np.ndarray) else a)
                 for a in out)


def persist(self: Tensor) -> Tensor:
    """Keep a lazy tensor's data in memory (the Dask cluster's, with
    ``dask.distributed``), so later ops do not recompute it.  Changes ``self`` and
    returns it; a no-op for eager backends."""
    data = self._data
    if type(data) is not np.ndarray and backend_of(data).lazy:
        self._data = data.persist()
    return self
