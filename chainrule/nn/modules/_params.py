"""Parameter construction and initialization shared by layers: an optional bias
(``Linear``, ``Bilinear``, ``Conv*``) and an optional elementwise affine map
(``LayerNorm``, ``GroupNorm``, ``BatchNorm*``)."""

from __future__ import annotations

from ... import _creation
from .. import init
from ..parameter import Parameter


def optional_bias(module, bias: bool, size, dtype=None, device=None) -> None:
    """``module.bias``: an uninitialized Parameter of ``size``, or registered as None."""
    if bias:
        module.bias = Parameter(_creation.empty(size, dtype=dtype, device=device))
    else:
        module.register_parameter("bias", None)


def affine_params(module, affine: bool, bias: bool, shape, dtype=None, device=None) -> None:
    """``module.weight`` and ``module.bias`` of ``shape`` (uninitialized) when ``affine``
    (the bias only with ``bias``); both registered as None otherwise."""
    if affine:
        module.weight = Parameter(_creation.empty(shape, dtype=dtype, device=device))
        optional_bias(module, bias, shape, dtype, device)
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


def reset_affine(module, affine: bool) -> None:
    """The identity affine map: weight 1, bias 0."""
    if affine:
        init.ones_(module.weight)
        if module.bias is not None:
            init.zeros_(module.bias)
