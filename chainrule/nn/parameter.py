"""``nn.Parameter``: a Tensor that a Module registers as one of its parameters."""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor

__all__ = ["Parameter"]


def _rebuild_parameter(data, requires_grad):
    from .._creation import tensor
    return Parameter(tensor(data), requires_grad)


class Parameter(Tensor):
    """A leaf Tensor that is registered as a parameter when assigned to a Module
    attribute; it requires grad by default.

    ``Parameter(t)`` shares ``t``'s memory (and version counter), detached from any
    history, as in PyTorch.

    Parameters
    ----------
    data : Tensor, optional
        The values (an empty tensor if omitted).
    requires_grad : bool
        Whether the parameter requires gradient (default True).
    """

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            from .._creation import empty
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): expected a Tensor as data, got "
                            f"{type(data).__name__}. Fix: nn.Parameter(torch.tensor(...)).")
        t = object.__new__(cls)
        t._data = data._data
        t._vc = data._vc
        t._node = None
        t._rg = False
        t._grad = None
        t._view = None
        if requires_grad:
            t.requires_grad_(True)
        return t

    def __init__(self, data=None, requires_grad=True) -> None:
        pass  # everything happens in __new__ (Tensor.__init__ would parse ``data``)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + Tensor.__repr__(self)

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        d = self._data
        if type(d) is not np.ndarray:  # another library's array: its own copy
            from ..backend.registry import backend_of
            return (_rebuild_parameter, (backend_of(d).xp.copy(d), self._rg))
        return (_rebuild_parameter, (d.copy(), self._rg))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = Parameter(Tensor.__deepcopy__(self.detach(), {}), self._rg)
        if self._grad is not None:
            result._grad = Tensor.__deepcopy__(self._grad.detach(), {})
        memo[id(self)] = result
        return result
