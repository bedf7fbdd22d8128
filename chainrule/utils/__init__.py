"""``chainrule.utils``: ``data`` (datasets and loaders) and other helpers; submodules
load on first use."""

import importlib as _importlib


def __getattr__(name):
    if name in ("data", "checkpoint", "dlpack"):
        return _importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
