"""The slow path of saving values for backward: saved-tensor hooks, inference tensors.

Note [saved-tensor hooks]: while ``graph.saved_tensors_hooks(pack, unpack)`` is active,
every value a new node saves goes through ``pack`` (given as a Tensor: the input itself,
or the output with this node as grad_fn) and the node keeps only what ``pack`` returned,
in ``node._extra.packed = (unpack, skeleton, ((position, packed), ...))``; ``_saved``
holds ``None`` at those positions.  Before the node runs, the engine calls
``unpack_saved``, which rebuilds ``_saved`` from ``unpack(packed)``; without
``retain_graph`` the packed values are dropped right away.  As in PyTorch, values that
went through hooks are not version-checked (the hooks may have copied them).

Nothing here runs unless a hook is active or an inference tensor is alive: the recording
code tests one module-level name, ``ops._record.SAVE_HOOK`` (Note [slow saves]).
"""

from __future__ import annotations

import threading

import numpy as np

from .. import _grad_mode
from .. import _tensor as T
from .._grad_mode import STATE, InferenceVC

INFERENCE_SAVE_MSG = (
    "Inference tensors cannot be saved for backward. Please do not use Tensors created in "
    "inference mode in computation tracked by autograd. To work around this, you can make "
    "a clone to get a normal tensor and use it in autograd, or use `torch.no_grad()` "
    "instead of `torch.inference_mode()`.")


class _Hooks(threading.local):
    stack = ()           # ((pack, unpack), ...), innermost last
    disabled = None      # the error message of an active disable_saved_tensors_hooks
    inplace_self = None  # the tensor an in-place op is about to overwrite


HOOKS = _Hooks()
_THREADS_WITH_HOOKS = [0]


def refresh() -> None:
    """Install or remove the recording hook (Note [slow saves])."""
    from ..ops import _record
    on = _THREADS_WITH_HOOKS[0] or _grad_mode.LIVE[0]
    _record.SAVE_HOOK = on_save if on else None


_grad_mode.ON_CHANGE[0] = refresh


def push_hooks(pack, unpack) -> None:
    if HOOKS.disabled is not None:
        raise RuntimeError(HOOKS.disabled)
    from ..backend.trace import refuse
    refuse("saved-tensor hooks inside the function")
    if not HOOKS.stack:
        _THREADS_WITH_HOOKS[0] += 1
    HOOKS.stack = HOOKS.stack + ((pack, unpack),)
    refresh()


def pop_hooks() -> None:
    HOOKS.stack = HOOKS.stack[:-1]
    if not HOOKS.stack:
        _THREADS_WITH_HOOKS[0] -= 1
    refresh()


def check_inference(counter) -> None:
    if type(counter) is InferenceVC:
        raise RuntimeError(INFERENCE_SAVE_MSG)


def on_save(node, inputs, out) -> None:
    """Run by every new node that may have saved values while the slow path is on."""
    saved = node._saved
    if not saved:
        return
    n = len(node._next)
    for counter, _, pos in node._checks:
        if pos < n:
            check_inference(counter)
    stack = HOOKS.stack
    if not stack:
        return
    pack, unpack = stack[-1]
    skeleton = list(saved)
    entries = []
    for p, v in enumerate(saved):
        if type(v) is not np.ndarray:
            continue
        if p < n:
            x = inputs[p] if p < len(inputs) else None
            if not isinstance(x, T.Tensor):
                continue  # a Python number kept as a 0-d array is not a saved tensor
            if x is HOOKS.inplace_self:
                t = T.wrap(v.copy())  # its old value, as PyTorch packs for in-place ops
            else:
                t = x if x._data is v else T.wrap(v)
        else:
            t = out if out is not None and out._data is v else T.wrap(v, node)
        entries.append((p, call_pack(pack, t)))
        skeleton[p] = None
    if entries:
        node._saved = tuple(skeleton)
        node._checks = ()
        node.extra().packed = (unpack, node._saved, tuple(entries))


def call_pack(pack, t):
    prev = STATE.enabled
    STATE.enabled = False  # a pack hook's own ops are not recorded (nor packed again)
    try:
        return pack(t)
    finally:
        STATE.enabled = prev


def call_unpack(unpack, packed):
    r = unpack(packed)
    if not isinstance(r, T.Tensor):
        raise TypeError(f"Output of saved tensor unpack_hook expected to be a Tensor but got "
                        f"result of type {type(r).__name__}")
    return r


def unpack_saved(node, retain_graph: bool) -> None:
    """Rebuild ``node._saved`` from its packed values (Note [saved-tensor hooks])."""
    extra = node._extra
    unpack, skeleton, entries = extra.packed
    values = list(skeleton)
    for p, packed in entries:
        values[p] = call_unpack(unpack, packed)._data
    node._saved = tuple(values)
    if not retain_graph:
        extra.packed = None
