"""Running the hooks users register on tensors and graph nodes, in PyTorch's order.

Note [hook order]: a node that receives the cotangent ``g`` of its output goes through
1. tensor hooks (``t.register_hook`` on the tensor whose grad_fn is the node; for a leaf,
   on its ``AccumulateGrad``), in registration order, each may replace ``g``;
2. the ``retain_grad`` update: ``.grad`` of a non-leaf sees ``g`` after step 1;
3. node pre-hooks (``grad_fn.register_prehook``): ``fn(grad_outputs)``, may replace them;
4. the node runs (``AccumulateGrad``: ``.grad += g``, then the post-accumulate-grad hooks);
5. node post-hooks (``grad_fn.register_hook``): ``fn(grad_inputs, grad_outputs)``, may
   replace ``grad_inputs``.
PyTorch's docs list the retain_grad update after the node pre-hooks, but its engine runs it
with the tensor hooks (``call_tensor_pre_hooks`` in engine.cpp); we do what it does.

Targets of ``autograd.grad`` (Note [capture]): when the node runs anyway (something below
it is needed) the raw cotangent is captured and steps 1-5 run as usual; when it does not
run, steps 1-2 run and their result is captured.  ``backward(inputs=...)`` captures a
non-leaf's cotangent after steps 1-2.  Both are what PyTorch 2.x returns.

Hooks never see batched cotangents (DESIGN.md): with ``nb`` leading batch dims the hook
runs once per batch element and the results are stacked.
"""

from __future__ import annotations

import numpy as np

from .. import _tensor as T

_TORCH_TYPES = {"float16": "Half", "float32": "Float", "float64": "Double", "int8": "Char",
                "int16": "Short", "int32": "Int", "int64": "Long", "uint8": "Byte",
                "bool": "Bool"}


class GradPack:
    """The cotangents of a multi-output custom Function, gathered for its one node.

    Each output's node passes a pack with its own slot filled; the engine adds packs
    that reach the same node (``+`` merges slot by slot), so the Function's backward runs
    once, with every output's cotangent (Note [multi-output Functions] in function.py).
    """

    __slots__ = ("grads",)

    def __init__(self, grads) -> None:
        self.grads = list(grads)

    @classmethod
    def one(cls, n: int, k: int, g) -> GradPack:
        grads = [None] * n
        grads[k] = g
        return cls(grads)

    def __add__(self, other: GradPack) -> GradPack:
        return GradPack(a if b is None else b if a is None else a + b
                        for a, b in zip(self.grads, other.grads))

    __radd__ = __add__


def outputs_of(g):
    """The tuple of output cotangents a node received (several for a GradPack)."""
    return tuple(g.grads) if type(g) is GradPack else (g,)


def as_tensor(g):
    return g if g is None or isinstance(g, T.Tensor) else T.wrap(g)


def _like(r, like):
    """A hook's Tensor result in the engine's representation (that of ``like``): an
    array in a raw pass, a Tensor in a differentiable one."""
    return r if isinstance(like, T.Tensor) else r._data


def _zero(like):
    return like * 0 if isinstance(like, T.Tensor) else np.zeros_like(like)


def _type_name(a) -> str:
    return f"torch.{_TORCH_TYPES.get(a.dtype.name, a.dtype.name)}Tensor"


def _check(fn, r, old, nb):
    """PyTorch's checks on a value a hook returned in place of ``old``."""
    name = getattr(fn, "__name__", repr(fn))
    if not isinstance(r, T.Tensor):
        raise TypeError(f"expected Variable, but hook returned '{type(r).__name__}'")
    if old is None:
        return r
    want = tuple(old.shape[nb:])
    if tuple(r.shape) != want:
        raise RuntimeError(f"hook '{name}' has changed the size of value (got "
                           f"{list(r.shape)}, expected {list(want)})")
    od = old._data.dtype if isinstance(old, T.Tensor) else old.dtype
    if r._data.dtype != od:
        raise RuntimeError(f"hook '{name}' has changed the type of value (was "
                           f"{_type_name(np.empty(0, od))} got {_type_name(r._data)})")
    return r


def _check_tuple(fn, r, n):
    if not isinstance(r, (tuple, list)):
        raise TypeError(f"expected tuple, but hook returned '{type(r).__name__}'")
    if len(r) != n:
        name = getattr(fn, "__name__", repr(fn))
        raise RuntimeError(f"hook '{name}' has returned an incorrect number of values "
                           f"(got {len(r)}, but expected {n})")
    return r


# ---- running hooks on unbatched values, or once per batch element -------------------------

def per_element(call, values, nb):
    """``call(list_of_values) -> list`` on each batch element of ``values`` (arrays or
    Tensors with ``nb`` leading batch dims, or None), the results stacked back."""
    if not nb:
        return call(list(values))
    some = next(v for v in values if v is not None)
    batch = tuple(some.shape[:nb])
    size = int(np.prod(batch))
    flat = [None if v is None else v.reshape((size,) + tuple(v.shape[nb:])) for v in values]
    rows = [call([None if v is None else v[i] for v in flat]) for i in range(size)]
    return [stack_rows([row[k] for row in rows], batch) for k in range(len(rows[0]))]


def stack_rows(items, batch):
    """Stack per-element results (arrays or Tensors; None is a zero) to ``batch + shape``."""
    present = [x for x in items if x is not None]
    if not present:
        return None
    first = present[0]
    if isinstance(first, T.Tensor):
        from ..ops.shape import stack
        items = [first * 0 if x is None else x for x in items]
        out = stack(items)
        return out.reshape((*batch, *out.shape[1:]))
    items = [np.zeros_like(first) if x is None else x for x in items]
    out = np.stack(items)
    return out.reshape(batch + out.shape[1:])


# ---- the stages of Note [hook order] -------------------------------------------------------

def has_pre(extra) -> bool:
    return bool(extra.pre_hooks) or extra.retain is not None


def run_pre(node, g, nb=0, tensor_done=False):
    """Steps 1-3 of Note [hook order]; returns the cotangent the node runs with."""
    if not tensor_done:
        g = tensor_stage(node, g, nb)
    if any(kind == "node" for kind, _ in node._extra.pre_hooks):
        g = node_pre_stage(node, g, nb)
    return g


def tensor_stage(node, g, nb=0):
    """Steps 1-2: tensor hooks, then the retain_grad update."""
    extra = node._extra
    hooks = [fn for kind, fn in extra.pre_hooks if kind == "tensor"]
    if hooks:
        def call(vals):
            v = vals[0]
            for fn in hooks:
                r = fn(as_tensor(v))
                if r is not None:
                    v = _like(_check(fn, r, v, 0), v)
            return [v]
        g = per_element(call, (g,), nb)[0]
    if extra.retain is not None and not nb:
        t = extra.retain()
        if t is not None and t._node is node:
            new = g if isinstance(g, T.Tensor) else T.wrap(np.array(g, copy=True))
            t._grad = new if t._grad is None else t._grad + new
    return g


def node_pre_stage(node, g, nb=0):
    """Step 3: ``fn(grad_outputs)`` for each node pre-hook."""
    hooks = [fn for kind, fn in node._extra.pre_hooks if kind == "node"]
    pack = type(g) is GradPack

    def call(outs):
        for fn in hooks:
            r = fn(tuple(as_tensor(o) for o in outs))
            if r is not None:
                # None: no gradient for that output (a zero one when it is the only one)
                _check_tuple(fn, r, len(outs))
                outs = [(None if pack or o is None else _zero(o)) if x is None
                        else _like(_check(fn, x, o, 0), o) for x, o in zip(r, outs)]
        return outs

    outs = per_element(call, outputs_of(g), nb)
    return GradPack(outs) if pack else outs[0]


def post_stage(node, grads, g, nb=0):
    """Step 5: ``fn(grad_inputs, grad_outputs)`` for each node post-hook."""
    hooks = list(node._extra.hooks)
    outs = outputs_of(g)
    n_in = len(grads)
    like = next(o for o in outs if o is not None)

    def call(vals):
        ins, go = vals[:n_in], tuple(as_tensor(o) for o in vals[n_in:])
        for fn in hooks:
            r = fn(tuple(as_tensor(x) for x in ins), go)
            if r is not None:
                _check_tuple(fn, r, n_in)
                ins = [None if x is None else _like(_check(fn, x, old, 0), like)
                       for x, old in zip(r, ins)]
        return list(ins) + [None] * len(outs)

    if nb and all(x is None for x in grads):
        return grads
    return per_element(call, tuple(grads) + outs, nb)[:n_in]


def accumulate_post(node, g):
    """Steps 4-5 after ``AccumulateGrad`` updated ``.grad``: post-accumulate-grad hooks
    get the leaf, node post-hooks get ``((), (grad,))``."""
    extra = node._extra
    leaf = node._leaf()
    if leaf is not None:
        for fn in list(extra.post_acc_hooks):
            fn(leaf)
    for fn in list(extra.hooks):
        fn((), (as_tensor(g),))


def accumulate_pre(node, g, hooked=False):
    """AccumulateGrad's first steps (both engines): the leaf's pre-hooks on ``g``.
    Returns ``(leaf, g)``; ``leaf`` is None once the leaf was freed."""
    extra = node._extra
    if extra is not None and extra.pre_hooks:
        g = run_pre(node, g, 0, hooked)
    return node._leaf(), g


def accumulate_done(node, g):
    """AccumulateGrad's last steps (both engines): ``accumulate_post`` if hooked."""
    extra = node._extra
    if extra is not None and (extra.post_acc_hooks or extra.hooks):
        accumulate_post(node, g)
