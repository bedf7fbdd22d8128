"""Adagrad (Duchi, Hazan & Singer, 2011)."""

from __future__ import annotations

import numpy as np

from .._tensor import wrap
from .optimizer import (
    Optimizer,
    _addcdiv,
    _check_hyper,
    as_factor,
    new_step,
    number,
    params_with_grad,
    step_count,
)

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (PyTorch's ``torch.optim.Adagrad``).

    With ``g = ∇f(θ) (+ weight_decay·θ)`` (``-∇f`` when ``maximize``), ``t`` the step::

        lr_t = lr / (1 + (t - 1)·lr_decay)
        s ← s + g²                  (s starts at initial_accumulator_value)
        θ ← θ - lr_t · g / (√s + eps)

    Parameters
    ----------
    params : iterable
        Parameters or parameter groups.
    lr : float, default 1e-2
    lr_decay, weight_decay, initial_accumulator_value : float, default 0
    eps : float, default 1e-10
    maximize : bool, default False
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0,
                 initial_accumulator_value=0, eps=1e-10, foreach=None, *, maximize=False,
                 differentiable=False, fused=None) -> None:
        _check_hyper(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                     initial_accumulator_value=initial_accumulator_value, eps=eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        fused=fused)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    def _init_state(self, p) -> dict:
        # PyTorch fills the accumulator from ``defaults``, not from the group
        state = self.state[p]
        state["step"] = new_step()
        state["sum"] = wrap(np.full_like(p._data, self.defaults["initial_accumulator_value"]))
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._set_group_defaults(("foreach", None), ("maximize", False),
                                 ("differentiable", False), ("fused", None))

    def share_memory(self) -> None:
        """No-op: state already lives in ordinary process memory."""

    def step(self, closure=None):
        """Perform one optimization step (Note [raw updates] in optimizer.py)."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = number(group["lr"])
            lr_decay = group["lr_decay"]
            eps = group["eps"]
            weight_decay = group["weight_decay"]
            maximize = group["maximize"]
            for p, w, g in params_with_grad(group):
                state = self.state[p]
                if len(state) == 0:
                    state = self._init_state(p)
                step = step_count(state)
                g = self._decayed_grad(w, g, maximize, weight_decay)
                t0, t1 = self._tmp(w, 0), self._tmp(w, 1)
                clr = as_factor(lr / (1 + (step - 1) * lr_decay), w.dtype)
                s = state["sum"]._data
                np.multiply(g, g, out=t0)  # s.addcmul_(g, g, value=1)
                s += t0
                np.sqrt(s, out=t0)
                t0 += eps
                _addcdiv(w, g, t0, -clr, t1)  # θ.addcdiv_(g, std, value=-clr)
                p._vc[0] += 1
        return loss
