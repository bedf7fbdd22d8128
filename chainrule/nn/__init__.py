"""``chainrule.nn``: modules, layers, losses, ``functional`` and ``init``, with
PyTorch's names and semantics.

Built only on the public Tensor API: no layer writes backward code; gradients come from
the engine (convolution and pooling are op-table rows in ``ops/nn_ops.py``).  Imported
lazily: ``import chainrule`` does not load it.
"""

from . import functional, init, utils
from .modules import *
from .modules import __all__ as _modules_all
from .parameter import Parameter

__all__ = ["Parameter", "functional", "init", "utils"] + list(_modules_all)
