"""Adam and AdamW (Kingma & Ba, 2014; Loshchilov & Hutter, 2019)."""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor, wrap
from .optimizer import (
    Optimizer,
    _addcdiv,
    _check_hyper,
    _ema_sq,
    _lerp,
    as_factor,
    init_state,
    number,
    params_with_grad,
    step_count,
)

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam (PyTorch's ``torch.optim.Adam``).

    With ``g = ∇f(θ)`` (``-∇f`` when ``maximize``), ``t`` the step count::

        g ← g + weight_decay·θ        (Adam; AdamW instead θ ← θ·(1 - lr·weight_decay))
        m ← m + (1 - β₁)·(g - m)
        v ← β₂·v + (1 - β₂)·g²        v̂ ← max(v̂, v) with amsgrad
        θ ← θ - lr/(1 - β₁ᵗ) · m / (√v / √(1 - β₂ᵗ) + eps)

    Parameters
    ----------
    params : iterable
        Parameters or parameter groups.
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
    amsgrad, maximize : bool, default False
    decoupled_weight_decay : bool, default False
        True gives AdamW.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False) -> None:
        _check_hyper(lr=lr, eps=eps)
        for i, beta in enumerate(betas):
            if isinstance(beta, Tensor):
                beta = beta.item()
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]}")
        _check_hyper(weight_decay=weight_decay)
        if isinstance(betas[0], Tensor) != isinstance(betas[1], Tensor):
            raise ValueError("betas must be either both floats or both Tensors")
        betas = tuple(b.item() if isinstance(b, Tensor) else b for b in betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._set_group_defaults(("amsgrad", False), ("maximize", False), ("foreach", None),
                                 ("capturable", False), ("differentiable", False),
                                 ("fused", None), ("decoupled_weight_decay", False))
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state.get(p)
                if st and not isinstance(st.get("step"), Tensor) and "step" in st:
                    st["step"] = wrap(np.array(float(st["step"]), np.float32))

    def step(self, closure=None):
        """Perform one optimization step (Note [raw updates] in optimizer.py)."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr = number(group["lr"])
            beta1, beta2 = (number(b) for b in group["betas"])
            eps = group["eps"]
            weight_decay = group["weight_decay"]
            amsgrad = group["amsgrad"]
            maximize = group["maximize"]
            decoupled = group["decoupled_weight_decay"]
            for p, w, g in params_with_grad(group):
                state = self.state[p]
                if len(state) == 0:
                    init_state(state, w, "exp_avg", "exp_avg_sq",
                               *(("max_exp_avg_sq",) if amsgrad else ()))
                step = step_count(state)
                m = state["exp_avg"]._data
                v = state["exp_avg_sq"]._data
                if decoupled and weight_decay != 0:
                    w *= 1 - lr * weight_decay
                g = self._decayed_grad(w, g, maximize, 0 if decoupled else weight_decay)
                t0 = self._tmp(w, 0)
                t1 = self._tmp(w, 1)
                _lerp(m, g, 1 - beta1, t0)  # m.lerp_(g, 1 - β₁)
                _ema_sq(v, g, beta2, t0)  # v.mul_(β₂).addcmul_(g, g, value=1 - β₂)
                bias_correction1 = 1 - beta1 ** step
                bias_correction2 = 1 - beta2 ** step
                step_size = as_factor(lr / bias_correction1, w.dtype)
                bias_correction2_sqrt = as_factor(bias_correction2 ** 0.5, w.dtype)
                if amsgrad:
                    vmax = state["max_exp_avg_sq"]._data
                    np.maximum(vmax, v, out=vmax)
                    v = vmax
                # denom = √v / √(1 - β₂ᵗ) + eps;  θ.addcdiv_(m, denom, value=-step_size)
                np.sqrt(v, out=t0)
                t0 /= bias_correction2_sqrt
                t0 += eps
                _addcdiv(w, m, t0, -step_size, t1)
                p._vc[0] += 1
        return loss


class AdamW(Adam):
    """AdamW (PyTorch's ``torch.optim.AdamW``): Adam with decoupled weight decay,
    ``θ ← θ·(1 - lr·weight_decay)`` before the Adam update; ``weight_decay`` defaults
    to 1e-2."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
