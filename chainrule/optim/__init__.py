"""``chainrule.optim``: optimizers and learning-rate schedulers with PyTorch's names,
arguments, defaults and ``state_dict`` format.

Every update runs on the parameters' NumPy arrays in place (see Note [raw updates] in
``optimizer.py``); the arithmetic follows PyTorch's single-tensor CPU kernels step by
step, so float64 runs agree with PyTorch's to rounding.
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .lbfgs import LBFGS
from .optimizer import (
                        Optimizer,
                        register_optimizer_step_post_hook,
                        register_optimizer_step_pre_hook,
)
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "LBFGS",
           "lr_scheduler", "register_optimizer_step_pre_hook",
           "register_optimizer_step_post_hook"]
