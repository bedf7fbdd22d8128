"""``chainrule.compile(module)``: PyTorch's ``OptimizedModule``."""

from __future__ import annotations

from ..nn.modules.module import Module
from .compiled import CompiledFunction


class OptimizedModule(Module):
    """A compiled module: ``_orig_mod`` is the original, whose parameters and buffers it
    shares (``state_dict`` keys start with ``_orig_mod.``, as PyTorch's); calling it runs
    the compiled ``_orig_mod(...)``; other attributes are the original's."""

    def __init__(self, mod, **kwargs) -> None:
        super().__init__()
        self._orig_mod = mod
        self.__dict__["_compiled"] = CompiledFunction(mod, name=type(mod).__name__, **kwargs)
        self.training = mod.training

    def forward(self, *args, **kwargs):
        return self.__dict__["_compiled"](*args, **kwargs)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name.startswith("__") or name == "_orig_mod":
                raise
            return getattr(self._modules["_orig_mod"], name)

    @property
    def source(self) -> str:
        """The generated code of the compiled call (``CompiledFunction.source``)."""
        return self.__dict__["_compiled"].source
