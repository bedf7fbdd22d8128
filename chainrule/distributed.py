"""``torch.distributed``: not available in chainrule (scale out with Dask instead, see the
backends guide).  ``is_available()`` and ``is_initialized()`` answer False, as on a
PyTorch build without distributed support; everything else raises one clear error."""

from __future__ import annotations


def is_available() -> bool:
    return False


def is_initialized() -> bool:
    return False


def is_torchelastic_launched() -> bool:
    return False


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise RuntimeError(f"torch.distributed.{name}: chainrule has no distributed package "
                       f"(is_available() is False); for data that outgrows one machine, "
                       f"use Dask arrays (docs/backends.md)")
