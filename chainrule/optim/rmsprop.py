"""RMSprop (Hinton's lecture 6e), optionally centered and with momentum."""

from __future__ import annotations

import numpy as np

from .optimizer import (
    Optimizer,
    _check_hyper,
    _ema_sq,
    _lerp,
    init_state,
    number,
    params_with_grad,
    step_count,
)

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (PyTorch's ``torch.optim.RMSprop``).

    With ``g = ∇f(θ) (+ weight_decay·θ)`` (``-∇f`` when ``maximize``)::

        v ← α·v + (1 - α)·g²
        ḡ ← ḡ + (1 - α)·(g - ḡ),  d = √(v - ḡ²) + eps    centered
        d = √v + eps                                      otherwise
        b ← momentum·b + g / d,   θ ← θ - lr·b           momentum > 0
        θ ← θ - lr·g / d                                  otherwise

    Parameters
    ----------
    params : iterable
        Parameters or parameter groups.
    lr : float, default 1e-2
    alpha : float, default 0.99
    eps : float, default 1e-8
    weight_decay, momentum : float, default 0
    centered, maximize : bool, default False
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False) -> None:
        _check_hyper(lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay,
                     alpha=alpha)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._set_group_defaults(("momentum", 0), ("centered", False), ("foreach", None),
                                 ("maximize", False), ("differentiable", False),
                                 ("capturable", False))

    def step(self, closure=None):
        """Perform one optimization step (Note [raw updates] in optimizer.py)."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = number(group["lr"])
            alpha = group["alpha"]
            eps = group["eps"]
            weight_decay = group["weight_decay"]
            momentum = group["momentum"]
            centered = group["centered"]
            maximize = group["maximize"]
            for p, w, g in params_with_grad(group):
                state = self.state[p]
                if len(state) == 0:
                    init_state(state, w, "square_avg",
                               *(("momentum_buffer",) if momentum > 0 else ()),
                               *(("grad_avg",) if centered else ()))
                step_count(state)
                g = self._decayed_grad(w, g, maximize, weight_decay)
                t0, t2 = self._tmp(w, 0), self._tmp(w, 2)
                v = state["square_avg"]._data
                _ema_sq(v, g, alpha, t0)  # v.mul_(α).addcmul_(g, g, value=1 - α)
                if centered:
                    gbar = state["grad_avg"]._data
                    _lerp(gbar, g, 1 - alpha, t0)
                    # avg = (v + (-1)·ḡ·ḡ).sqrt()
                    np.multiply(gbar, -1, out=t0)
                    t0 *= gbar
                    t0 += v
                    np.sqrt(t0, out=t0)
                else:
                    np.sqrt(v, out=t0)
                t0 += eps
                if momentum > 0:
                    buf = state["momentum_buffer"]._data
                    # buf.mul_(momentum).addcdiv_(g, avg);  θ.add_(buf, alpha=-lr)
                    buf *= momentum
                    np.divide(g, t0, out=t2)
                    buf += t2
                    np.multiply(buf, -lr, out=t0)
                else:
                    # θ.addcdiv_(g, avg, value=-lr):  θ + (-lr·g) / avg
                    np.multiply(g, -lr, out=t2)
                    np.divide(t2, t0, out=t0)
                w += t0
                p._vc[0] += 1
        return loss

