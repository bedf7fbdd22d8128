"""``autograd.graph``: graph nodes and saved-tensor hooks, PyTorch's names.

``saved_tensors_hooks(pack_hook, unpack_hook)``: while active, every tensor a recorded op
saves for backward is passed to ``pack_hook`` (a Tensor in, anything out) when the op
runs, and ``unpack_hook`` (that object in, a Tensor out) gives it back when backward
needs it (Note [saved-tensor hooks] in _saved.py).  Typical uses: offload or compress
activations, or recompute them (``utils.checkpoint(use_reentrant=False)``).
"""

from __future__ import annotations

from . import _saved
from .node import Node

__all__ = ["Node", "saved_tensors_hooks", "disable_saved_tensors_hooks", "save_on_cpu"]


class saved_tensors_hooks:
    """Context manager: pack and unpack hooks for the values saved inside it.

    Nested blocks: the innermost pair applies.  Hooks are thread-local.

    Examples
    --------
    >>> def pack(t): return t.detach().numpy().copy()
    >>> def unpack(a): return torch.from_numpy(a)
    >>> with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
    ...     y = (x * x).sum()
    """

    def __init__(self, pack_hook, unpack_hook) -> None:
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self):
        _saved.push_hooks(self.pack_hook, self.unpack_hook)
        return self

    def __exit__(self, *exc):
        _saved.pop_hooks()
        return False


class disable_saved_tensors_hooks:
    """Context manager (and decorator): entering ``saved_tensors_hooks`` inside raises
    ``RuntimeError(error_message)``, as does entering it while hooks are active."""

    def __init__(self, error_message: str) -> None:
        self.error_message = error_message

    def __enter__(self):
        if _saved.HOOKS.stack:
            raise RuntimeError(self.error_message)
        self._prev = _saved.HOOKS.disabled
        _saved.HOOKS.disabled = self.error_message
        return self

    def __exit__(self, *exc):
        _saved.HOOKS.disabled = self._prev
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with disable_saved_tensors_hooks(self.error_message):
                return fn(*args, **kwargs)
        return wrapper


class save_on_cpu(saved_tensors_hooks):
    """PyTorch's offloading hooks; every chainrule tensor already lives on the CPU, so
    this keeps each saved value as it is (``pin_memory`` is accepted and ignored)."""

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda") -> None:
        super().__init__(lambda t: t, lambda t: t)
