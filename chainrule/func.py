"""``chainrule.func``: composable transforms like ``torch.func`` (grad, vjp, jvp, jacrev,
jacfwd, hessian), with ``argnums`` and ``has_aux``.

Note [one-pass Jacobians]: ``jacrev`` runs ONE backward pass with the whole identity
basis as a batch of cotangents, and ``jacfwd`` ONE forward pass with the identity basis
as a batch of tangents (every rule accepts leading batch dims).  ``chunk_size`` splits
the basis to cap memory, writing chunks into one preallocated result.

Transforms compose (``jacfwd(jacrev(f))``, ``grad(grad(f))``): an inner transform keeps
its result differentiable whenever its inputs are being differentiated from outside.
"""

from __future__ import annotations

import numpy as np

from ._grad_mode import enable_grad
from ._tensor import Tensor, wrap
from .autograd import forward_ad as fwd

from ._vmap import vmap

__all__ = ["grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian",
           "functional_call", "stack_module_state", "vmap"]


def _argnums(argnums, n):
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    for a in nums:
        if not -n <= a < n:
            raise RuntimeError(f"Got argnums={argnums} but only {n} positional inputs")
    return single, tuple(a % n for a in nums)


def _track(x):
    """A differentiable stand-in for an input: a view, so outer transforms (its graph
    and its tangents) still see through it."""
    if not isinstance(x, Tensor):
        raise TypeError(f"expected Tensor inputs for the differentiated arguments, got "
                        f"{type(x).__name__}")
    if not x.is_floating_point():
        raise RuntimeError(f"only floating point inputs can be differentiated, got {x.dtype}")
    v = x.view_as(x)
    if not v.requires_grad:
        v.requires_grad_()
    from .backend.batched import LEVELS, levels_of
    if LEVELS:
        # inside vmap: each sample differentiates its own copy (per-sample gradients),
        # Note [unbatched inputs inside vmap] in ops/batching.py
        from .ops.batching import expand_batch
        have = {lv for lv, _ in levels_of(v._data)}
        for level, size, _ in LEVELS:
            if level not in have:
                v = expand_batch(v, level, size)
    return v


def _leaves(tree):
    """The leaves of a pytree of dicts, lists and tuples, in order (as torch.func's
    pytrees: ``grad(f)(params)`` with ``params`` a dict of tensors)."""
    if isinstance(tree, dict):
        for v in tree.values():
            yield from _leaves(v)
    elif isinstance(tree, (list, tuple)):
        for v in tree:
            yield from _leaves(v)
    else:
        yield tree


def _rebuild(tree, it):
    """``tree``'s structure with its leaves taken in order from the iterator ``it``."""
    if isinstance(tree, dict):
        return type(tree)((k, _rebuild(v, it)) for k, v in tree.items())
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):  # a namedtuple
        return type(tree)(*(_rebuild(v, it) for v in tree))
    if isinstance(tree, (list, tuple)):
        return type(tree)(_rebuild(v, it) for v in tree)
    return next(it)


def _track_argnums(args, nums):
    """``(originals, args, leaves)``: ``args`` as a list with the tensors of the ``nums``
    positions (tensors or pytrees of them) tracked; ``originals`` and ``leaves`` are the
    flat lists of those tensors before and after (call under ``enable_grad``)."""
    originals, leaves = [], []
    args = list(args)
    for i in nums:
        orig = list(_leaves(args[i]))
        tracked = [_track(x) for x in orig]
        originals += orig
        leaves += tracked
        args[i] = _rebuild(args[i], iter(tracked))
    return originals, args, leaves


def _regroup(flat, args, nums):
    """Per-leaf results ``flat`` back into the structure of each differentiated
    argument."""
    it = iter(flat)
    return [_rebuild(args[i], it) for i in nums]


def _nested(xs) -> bool:
    """Is some outer transform differentiating through these inputs?"""
    return bool(fwd.STATE.levels) or any(x.requires_grad for x in xs)


def _split_aux(out, has_aux):
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError("has_aux=True: the function must return a (output, aux) tuple")
    return out


def grad_and_value(func, argnums=0, has_aux=False):
    """``f -> (x -> (∇f(x), f(x)))`` for a scalar-valued ``f``."""
    def wrapper(*args, **kwargs):
        from .autograd import grad as _grad
        single, nums = _argnums(argnums, len(args))
        given = args
        with enable_grad():
            originals, args, leaves = _track_argnums(args, nums)
            out, aux = _split_aux(func(*args, **kwargs), has_aux)
            if not isinstance(out, Tensor) or out.numel() != 1:
                raise RuntimeError(
                    f"grad: the function must return a scalar (one-element) Tensor, got "
                    f"{getattr(out, 'shape', type(out).__name__)}; reduce it first (e.g. "
                    f".sum()) or use func.jacrev for a non-scalar output.")
            gs = _grad(out, leaves, allow_unused=True,
                       create_graph=_nested(originals), materialize_grads=True)
        value = out if _nested(originals) else out.detach()
        gs = _regroup(gs, given, nums)
        g = gs[0] if single else tuple(gs)
        return ((g, (value, aux)) if has_aux else (g, value))
    return wrapper


def grad(func, argnums=0, has_aux=False):
    """``f -> ∇f`` for a scalar-valued ``f`` (``has_aux``: ``f`` returns (out, aux))."""
    gv = grad_and_value(func, argnums, has_aux)

    def wrapper(*args, **kwargs):
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    return wrapper


def vjp(func, *primals, has_aux=False):
    """``(f(primals), vjp_fn)``; ``vjp_fn(v)`` gives vᵀJ for each primal (a primal may be
    a dict, list or tuple of tensors: its vᵀJ has that structure)."""
    from .autograd import grad as _grad
    with enable_grad():
        originals, args, tracked = _track_argnums(primals, range(len(primals)))
        out, aux = _split_aux(func(*args), has_aux)
    outs = [out] if isinstance(out, Tensor) else list(out)
    nested = _nested(originals)

    def vjp_fn(*cotangents):
        cts = cotangents[0] if len(cotangents) == 1 and not isinstance(out, Tensor) \
            else cotangents
        gs = _grad(outs, tracked, list(cts), retain_graph=True, create_graph=nested,
                   allow_unused=True, materialize_grads=True)
        return tuple(_regroup(gs, primals, range(len(primals))))

    result = out if nested else _detach_tree(out)
    return (result, vjp_fn, aux) if has_aux else (result, vjp_fn)


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """``(f(primals), J @ tangents)`` by forward mode (one pass, no double-VJP trick)."""
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise RuntimeError(f"jvp: got {len(primals)} primals and {len(tangents)} tangents")
    with fwd.dual_level():
        duals = [fwd.make_dual(p, t) for p, t in zip(primals, tangents)]
        out, aux = _split_aux(func(*duals), has_aux)
        outs = [out] if isinstance(out, Tensor) else list(out)
        res = []
        for o in outs:
            primal, tan = fwd.unpack_dual(o)
            res.append((primal, tan if tan is not None else _zeros_like(o)))
    p_out = res[0][0] if isinstance(out, Tensor) else tuple(r[0] for r in res)
    t_out = res[0][1] if isinstance(out, Tensor) else tuple(r[1] for r in res)
    return (p_out, t_out, aux) if has_aux else (p_out, t_out)


def _zeros_like(t):
    return wrap(np.zeros(tuple(t.shape), t._data.dtype))


def _detach_tree(out):
    if isinstance(out, Tensor):
        return out.detach()
    return type(out)(_detach_tree(o) for o in out)


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None):
    """The Jacobian by reverse mode: one batched backward over the identity basis."""
    def wrapper(*args):
        from .autograd.functional import _jacobian_rows
        single, nums = _argnums(argnums, len(args))
        given = args
        with enable_grad():
            originals, args, leaves = _track_argnums(args, nums)
            out, aux = _split_aux(func(*args), has_aux)
            outs = [out] if isinstance(out, Tensor) else list(out)
            jac = _jacobian_rows(outs, leaves, _nested(originals), chunk_size)
        jac = [_regroup(row, given, nums) for row in jac]
        per_out = [j[0] if single else tuple(j) for j in jac]
        result = per_out[0] if isinstance(out, Tensor) else tuple(per_out)
        return (result, aux) if has_aux else result
    return wrapper


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error", chunk_size=None):
    """The Jacobian by forward mode: one pass with the identity basis as tangents."""
    def wrapper(*args):
        from .autograd.functional import _jacobian_columns
        single, nums = _argnums(argnums, len(args))
        jac, aux, tuple_out = _jacobian_columns(func, args, nums, has_aux, chunk_size)
        if not _nested([args[i] for i in nums]):
            jac = [[j.detach() for j in row] for row in jac]  # nothing differentiates it
        per_out = [j[0] if single else tuple(j) for j in jac]
        result = tuple(per_out) if tuple_out else per_out[0]
        return (result, aux) if has_aux else result
    return wrapper


def hessian(func, argnums=0):
    """Forward-over-reverse: ``jacfwd(jacrev(f))``."""
    return jacfwd(jacrev(func, argnums), argnums)


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *,
                    tie_weights=True, strict=False):
    """``module(*args, **kwargs)`` with its parameters and buffers replaced by the tensors
    of ``parameter_and_buffer_dicts`` (a dict name -> tensor, or a list/tuple of dicts with
    no key in two of them); names it leaves out keep the module's own.  The module is
    restored afterwards.  The result is differentiable in the given tensors, so
    ``grad(lambda p: loss(functional_call(model, p, (x,))))(params)`` gives the gradient
    as a dict.  ``tie_weights``: a value given for one of several names sharing a tensor
    applies to all of them; ``strict``: every parameter and buffer must be given, and
    nothing else.  Note [functional_call] in nn/utils/stateless.py."""
    from collections.abc import Sequence

    from .nn.utils.stateless import _functional_call
    if isinstance(parameter_and_buffer_dicts, dict):
        merged = parameter_and_buffer_dicts
    elif isinstance(parameter_and_buffer_dicts, Sequence) and \
            not isinstance(parameter_and_buffer_dicts, str):
        if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
            raise ValueError("Expected all elements of parameter_and_buffer_dicts to be "
                             "dictionaries")
        counts = {}
        for d in parameter_and_buffer_dicts:
            for k in d:
                counts[k] = counts.get(k, 0) + 1
        repeated = [k for k, n in counts.items() if n > 1]
        if repeated:
            raise ValueError(f"{repeated} appeared in multiple dictionaries; behavior of "
                             f"functional call is ambiguous")
        merged = {k: v for d in parameter_and_buffer_dicts for k, v in d.items()}
    else:
        raise ValueError(f"Expected parameter_and_buffer_dicts to be a dict, or a list/tuple "
                         f"of dicts, but got {type(parameter_and_buffer_dicts)}")
    return _functional_call(module, merged, args, kwargs, tie_weights=tie_weights,
                            strict=strict)


def stack_module_state(models):
    """``(params, buffers)``: dicts name -> the tensors of ``models`` (modules of one
    class, all in train or all in eval mode) stacked along a new leading dim, for
    ensembling with ``functional_call`` (and ``vmap``).  Stacked parameters are new leaves
    that require grad when the models' do."""
    from .ops.shape import stack
    models = list(models)
    if len(models) == 0:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or all(not m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same "
                           "training/eval mode.")
    if not all(type(m) is type(models[0]) for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same "
                           "class.")

    def stacked(tensors, name):
        rg = [t.requires_grad for t in tensors]
        if any(rg) and not all(rg):
            raise RuntimeError(f"Expected {name} from each model to have the same "
                               f".requires_grad")
        result = stack(tensors)
        return result.detach().requires_grad_() if all(rg) else result

    all_params = [dict(m.named_parameters()) for m in models]
    params = {k: stacked(tuple(p[k] for p in all_params), k) for k in all_params[0]}
    all_buffers = [dict(m.named_buffers()) for m in models]
    buffers = {k: stacked(tuple(b[k] for b in all_buffers), k) for k in all_buffers[0]}
    return params, buffers
