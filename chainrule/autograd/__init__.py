"""Reverse-mode autograd: ``backward`` and ``grad``, PyTorch's signatures and semantics."""

from __future__ import annotations

import numpy as np

from .. import _tensor as T
from .._dtype import grad_dtype as _grad_dtype
from .._grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from ..backend.array_api import np_dtype
from ..backend.batched import LEVELS as _LEVELS
from ..backend.registry import backend_of
from . import anomaly_mode, engine, forward_ad, function, graph
from .anomaly_mode import (
    detect_anomaly,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_detect_anomaly,
)
from .function import Function, once_differentiable
from .node import AccumulateGrad, Node

__all__ = ["backward", "grad", "Node", "AccumulateGrad", "no_grad", "enable_grad",
           "set_grad_enabled", "is_grad_enabled", "inference_mode", "forward_ad",
           "functional", "function", "graph", "Function", "once_differentiable",
           "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "is_anomaly_check_nan_enabled", "gradcheck", "gradgradcheck", "anomaly_mode",
           "explain"]


def _as_list(x):
    if x is None:
        return None
    if isinstance(x, T.Tensor):
        return [x]
    return list(x)


def _root_grads(tensors, grads, what="backward"):
    """Validate outputs and their cotangents; return [(node, array)]."""
    if grads is None:
        grads = [None] * len(tensors)
    if len(grads) != len(tensors):
        raise RuntimeError(f"{what}: got {len(tensors)} tensors and {len(grads)} gradients; "
                           f"pass one gradient per tensor (None for one-element tensors)")
    roots = []
    for i, (t, g) in enumerate(zip(tensors, grads)):
        if not isinstance(t, T.Tensor):
            raise TypeError(f"{what}: expected Tensors, got {type(t).__name__} at position {i}")
        if t._view is not None:
            T.refresh_view(t)
        if not t._rg or t._node is None:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn: "
                f"the tensor of shape {list(t.shape)} was not computed from any tensor with "
                f"requires_grad=True (or was computed under no_grad). Fix: create the inputs "
                f"with requires_grad=True (or call x.requires_grad_()) before computing it.")
        data = t._data
        if g is None:
            if data.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs: {what} was "
                    f"called on a tensor of shape {list(data.shape)} ({data.size} elements) "
                    f"without a gradient. "
                    + (f"Pass the vector: explain(y, v) with v of shape "
                       f"{list(data.shape)} explains y.backward(v). " if what == "explain"
                       else "") +
                    f"backward(v) computes the vector-Jacobian product "
                    f"v^T J, so a non-scalar output needs v: reduce it first (y.sum()."
                    f"backward()), pass backward(gradient=torch.ones_like(y)) or another v "
                    f"of shape {list(data.shape)}, or compute the full Jacobian with "
                    f"torch.autograd.functional.jacobian.")
            if type(data) is not np.ndarray:  # Note [backends] in ops/_dispatch_any.py
                from ..backend.array_api import np_dtype
                ga = backend_of(data).asarray(np.ones(tuple(data.shape),
                                                      dtype=_grad_dtype(np_dtype(data.dtype))))
            else:
                ga = np.ones(data.shape, dtype=_grad_dtype(data.dtype))
        else:
            ga = g._data if isinstance(g, T.Tensor) else np.asarray(g)
            if type(ga) is not np.ndarray:
                roots.append((t._node, _root_on_backend(ga, data, i, what)))
                continue
            if ga.dtype.kind == "c":
                raise RuntimeError(
                    f"{what}: gradient {i} is complex ({ga.dtype}) but the output is real; "
                    f"pass a real gradient")
            if ga.shape != data.shape:
                if ga.size == data.size == 1:
                    ga = ga.reshape(data.shape)
                else:
                    raise RuntimeError(
                        f"Mismatch in shape: grad_output[{i}] has a shape of "
                        f"torch.Size({list(ga.shape)}) and output[{i}] has a shape of "
                        f"torch.Size({list(data.shape)}). The gradient v in backward(v) must "
                        f"have the output's shape.")
            if type(ga) is np.ndarray:
                want = _grad_dtype(data.dtype)
                if ga.dtype != want:
                    ga = ga.astype(want)
            else:  # Note [backends] in ops/_dispatch_any.py
                want = _grad_dtype(np_dtype(data.dtype))
                if np_dtype(ga.dtype) != want:
                    ga = backend_of(ga).astype(ga, want)
        roots.append((t._node, ga))
    return roots


def _root_on_backend(ga, data, i, what):
    """A cotangent held by another library (Note [backends] in ops/_dispatch_any.py)."""
    if tuple(ga.shape) != tuple(data.shape):
        raise RuntimeError(
            f"Mismatch in shape: grad_output[{i}] has a shape of torch.Size("
            f"{list(ga.shape)}) and output[{i}] has a shape of torch.Size("
            f"{list(data.shape)}). The gradient v in backward(v) must have the output's "
            f"shape.")
    want = _grad_dtype(np_dtype(data.dtype))
    if np_dtype(ga.dtype) != want:
        ga = backend_of(ga).xp.astype(ga, want)
    return ga


def _graph_roots(roots, grads):
    """With ``create_graph``, a cotangent that requires grad stays a Tensor, so the
    result is differentiable with respect to it too (``gradgradcheck`` needs that)."""
    out = []
    for (node, a), g in zip(roots, grads):
        if isinstance(g, T.Tensor) and g._rg:
            if tuple(g.shape) != a.shape:
                g = g.reshape(a.shape)
            if g._data.dtype != a.dtype:
                g = g.to(T.wrap(a[:0]).dtype)
            a = g
        out.append((node, a))
    return out


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False,
             grad_variables=None, inputs=None):
    """Accumulate vᵀJ into ``.grad`` of the leaves (or of ``inputs``) for each tensor."""
    if _LEVELS:
        raise RuntimeError("backward() called inside a functorch transform. This is not "
                           "supported, please use functorch.grad or functorch.vjp instead "
                           "or call backward() outside of functorch transforms.")
    tensors = _as_list(tensors)
    if grad_tensors is None:
        grad_tensors = grad_variables
    grads = _as_list(grad_tensors) if grad_tensors is not None else None
    if retain_graph is None:
        retain_graph = create_graph
    roots = _root_grads(tensors, grads)
    if create_graph and grads:
        roots = _graph_roots(roots, grads)
    if inputs is not None:
        inputs = _as_list(inputs)
        if not inputs:
            raise RuntimeError("backward: 'inputs' argument to backward() cannot be empty.")
        targets = [_input_node(t, i) for i, t in enumerate(inputs)]
        capture = {n: None for n in targets if type(n) is not AccumulateGrad}
        engine.run_backward(roots, retain_graph, create_graph, targets=targets,
                            capture=capture or None)
        for t in inputs:
            if not t.is_leaf and not t.retains_grad:  # retain_grad already updated it
                g = capture.get(t._node)
                if g is not None:
                    t._grad = T.wrap(g.copy()) if t._grad is None else T.wrap(t._grad._data + g)
        return
    engine.run_backward(roots, retain_graph, create_graph, values=tensors)


def _input_node(t, i):
    if not isinstance(t, T.Tensor):
        raise TypeError(f"inputs[{i}] must be a Tensor, got {type(t).__name__}")
    if t._view is not None:
        T.refresh_view(t)
    if not t._rg:
        raise RuntimeError(f"One of the differentiated Tensors (input {i}, shape "
                           f"{list(t.shape)}) does not require grad")
    return t._node


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False,
         materialize_grads=False):
    """Return the sum of vᵀJ for each input, without touching ``.grad``."""
    outputs = _as_list(outputs)
    inputs = _as_list(inputs)
    if allow_unused is None:
        allow_unused = materialize_grads
    if materialize_grads and not allow_unused:
        raise ValueError("Expected allow_unused to be True or not passed when "
                         "materialize_grads=True, but got: allow_unused=False.")
    if retain_graph is None:
        retain_graph = create_graph
    if is_grads_batched:
        from . import _batched
        return _batched.grad_batched(outputs, inputs, grad_outputs, retain_graph,
                                     create_graph, allow_unused, materialize_grads,
                                     _input_node)
    return partial_grads(outputs, inputs, grad_outputs, retain_graph, create_graph,
                         allow_unused, materialize_grads, stop=False)


def partial_grads(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused,
                  materialize_grads=False, stop=True):
    """``grad()`` for lists; ``stop``: no cotangent flows past an input, so each result
    is the partial derivative as if the inputs were independent leaves (a compiled
    call's create_graph re-run: Note [create_graph through a compiled call])."""
    roots = _root_grads(outputs, _as_list(grad_outputs), "grad")
    if create_graph and grad_outputs is not None:
        roots = _graph_roots(roots, _as_list(grad_outputs))
    targets = [_input_node(t, i) for i, t in enumerate(inputs)]
    capture = {n: None for n in targets}
    engine.run_backward(roots, retain_graph, create_graph, targets=targets, capture=capture,
                        accumulate=False, stop=stop)
    return _captured_grads(inputs, targets, capture, allow_unused, materialize_grads)


def _captured_grads(inputs, targets, capture, allow_unused, materialize_grads, batch=()):
    """``grad()``'s result: each input's captured cotangent as a Tensor that owns its
    memory (``batch``: the leading dims of batched cotangents), None or zeros if unused."""
    result = []
    for i, (t, n) in enumerate(zip(inputs, targets)):
        g = capture[n]
        shape = batch + t._data.shape
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"The differentiated Tensor at index {i} appears to not have been used "
                    f"in the graph: it (shape {list(t.shape)}) does not influence the "
                    f"outputs. Set allow_unused=True if this is the desired behavior (its "
                    f"gradient is then None), or materialize_grads=True for zeros.")
            if materialize_grads:
                g = np.zeros(shape, dtype=_grad_dtype(t._data.dtype))
        if g is not None and not isinstance(g, T.Tensor):
            if type(g) is not np.ndarray:  # another library's array (vmap's, Dask's ...)
                if tuple(g.shape[len(batch):]) != tuple(t._data.shape):
                    from ..backend.registry import backend_of
                    g = backend_of(g).xp.broadcast_to(g, shape)
                result.append(T.wrap(g))
                continue
            if g.shape[len(batch):] != t._data.shape:
                g = np.broadcast_to(g, shape)
            g = T.wrap(np.array(g, copy=True) if not g.flags.writeable or g.base is not None
                       else g)
        result.append(g)
    return tuple(result)


_LAZY = {"functional": ("functional", None), "gradcheck": ("gradcheck", "gradcheck"),
         "gradgradcheck": ("gradcheck", "gradgradcheck"), "explain": ("explain", "explain")}


def __getattr__(name):
    """``functional``, ``gradcheck`` and ``explain`` load on first use (import time)."""
    if name in _LAZY:
        import importlib
        module, attr = _LAZY[name]
        mod = importlib.import_module(f"{__name__}.{module}")
        for key, (m, a) in _LAZY.items():  # the function, not its module, as in PyTorch
            if m == module:
                globals()[key] = mod if a is None else getattr(mod, a)
        return globals()[name]
    if name == "Variable":  # autograd.Variable: PyTorch >= 0.4 returns a Tensor
        from .._compat import Variable
        return Variable
    raise AttributeError(f"module 'chainrule.autograd' has no attribute '{name}'")
