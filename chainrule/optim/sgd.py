"""Stochastic gradient descent, with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

import numpy as np

from .._tensor import wrap
from .optimizer import Optimizer, _check_hyper, number, params_with_grad

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent (PyTorch's ``torch.optim.SGD``).

    With ``g = ∇f(θ) (+ weight_decay·θ)`` (``-∇f`` when ``maximize``)::

        b ← g                                 first step
        b ← momentum·b + (1 - dampening)·g    later steps
        g ← g + momentum·b  (nesterov)   or   g ← b
        θ ← θ - lr·g

    Parameters
    ----------
    params : iterable
        Parameters or parameter groups.
    lr : float, default 1e-3
    momentum, dampening, weight_decay : float, default 0
    nesterov, maximize : bool, default False
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None) -> None:
        _check_hyper(lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        foreach=foreach, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._set_group_defaults(("nesterov", False), ("maximize", False))

    def step(self, closure=None):
        """Perform one optimization step (Note [raw updates] in optimizer.py)."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = number(group["lr"])
            momentum = group["momentum"]
            dampening = group["dampening"]
            weight_decay = group["weight_decay"]
            nesterov = group["nesterov"]
            maximize = group["maximize"]
            for p, w, grad in params_with_grad(group):
                g = self._decayed_grad(w, grad, maximize, weight_decay)
                own = g is not grad  # whether g is our scratch array (slot 1), free to change
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = wrap(g.copy(order="K"))
                        b = buf._data
                    else:
                        b = buf._data
                        b *= momentum
                        if dampening == 0:  # (1 - 0)·g is g exactly: skip a pass
                            b += g
                        else:
                            t = self._tmp(w, 0)
                            np.multiply(g, 1 - dampening, out=t)
                            b += t
                    if nesterov:
                        t = self._tmp(w, 0)
                        np.multiply(b, momentum, out=t)
                        g = np.add(g, t, out=g if own else t)
                    else:
                        g = b
                t = self._tmp(w, 0)  # θ + (-lr)·g  (g may be this same buffer)
                np.multiply(g, -lr, out=t)
                w += t
                p._vc[0] += 1
        return loss
