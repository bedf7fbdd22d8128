"""``autograd.grad(..., is_grads_batched=True)``: many cotangents in ONE backward pass.

Every rule is written so that a cotangent may carry leading batch dims (DESIGN.md), so
the engine runs once with ``g.shape == (B,) + out.shape``; no Python loop over B.
"""

from __future__ import annotations

import numpy as np

from .. import _tensor as T
from .._dtype import grad_dtype
from . import _captured_grads, engine


def batched_roots(outputs, grad_outputs, create_graph=False):
    """[(node, g)] with each g of shape (B,) + output.shape, checked."""
    if grad_outputs is None:
        raise RuntimeError("autograd.grad: is_grads_batched=True needs grad_outputs, each "
                           "with a leading batch dimension")
    grads = [grad_outputs] if isinstance(grad_outputs, T.Tensor) else list(grad_outputs)
    if len(grads) != len(outputs):
        raise RuntimeError(f"autograd.grad: got {len(outputs)} outputs and {len(grads)} "
                           f"grad_outputs")
    roots, batch = [], None
    for i, (t, g) in enumerate(zip(outputs, grads)):
        if t._view is not None:
            T.refresh_view(t)
        if not t._rg or t._node is None:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not "
                               f"have a grad_fn")
        ga = g._data if isinstance(g, T.Tensor) else np.asarray(g)
        if ga.shape[1:] != t._data.shape:
            raise RuntimeError(
                f"autograd.grad with is_grads_batched=True: grad_outputs[{i}] has shape "
                f"{list(ga.shape)}, expected [B] + {list(t._data.shape)} (a batch of "
                f"cotangents for output {i}, batch dimension first)")
        if batch is None:
            batch = ga.shape[0]
        elif ga.shape[0] != batch:
            raise RuntimeError(f"autograd.grad: grad_outputs have different batch sizes "
                               f"({batch} and {ga.shape[0]})")
        want = grad_dtype(t._data.dtype)
        keep = create_graph and isinstance(g, T.Tensor) and g._rg  # differentiable in v
        roots.append((t._node, g if keep else ga.astype(want, copy=False)))
    return roots, batch


def grad_batched(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused,
                 materialize_grads, input_node):
    roots, batch = batched_roots(outputs, grad_outputs, create_graph)
    targets = [input_node(t, i) for i, t in enumerate(inputs)]
    capture = {n: None for n in targets}
    engine.run_backward(roots, retain_graph, create_graph, targets=targets, capture=capture,
                        accumulate=False, nb=1)
    return _captured_grads(inputs, targets, capture, allow_unused, materialize_grads,
                           (batch,))
