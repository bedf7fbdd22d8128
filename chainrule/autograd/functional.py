"""``chainrule.autograd.functional``: vjp, jvp, jacobian, hessian, hvp, vhp with PyTorch's
signatures and output structure.

Note [vectorize]: PyTorch's ``jacobian`` loops over output rows unless ``vectorize=True``.
Here the batched path is always used (one backward with the identity basis as a batch of
cotangents, or one forward pass with it as tangents for ``strategy="forward-mode"``), so
``vectorize`` is accepted and ignored, and forward mode works with ``vectorize=False``
too (PyTorch refuses that combination only because of its own limits).  ``chunk_size``
caps memory by splitting the basis; chunks are written into one preallocated result.
"""

from __future__ import annotations

import numpy as np

from .._grad_mode import enable_grad
from .._tensor import Tensor, wrap
from ..backend.array_api import np_dtype
from . import forward_ad as fwd

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]


def _as_tuple(x, what, fn):
    if isinstance(x, Tensor):
        return False, (x,)
    if isinstance(x, (tuple, list)) and all(isinstance(t, Tensor) for t in x):
        return True, tuple(x)
    raise TypeError(f"The {what} given to {fn} must be either a Tensor or a tuple of "
                    f"Tensors but the value got {type(x).__name__}.")


# ---- PyTorch's treatment of outputs that do not depend on the inputs ----------------------
# With strict=False the derivative of such an output is zero; strict=True raises instead.

_STRICT = {
    "outputs": "Output {i} of the user-provided function does not require gradients. The "
               "outputs must be computed in a differentiable manner from the input when "
               "running in strict mode.",
    "jacobian": "While computing the hessian, found that the jacobian of the user-provided "
                "function with respect to input {i} is independent of the input. This is "
                "not allowed in strict mode. You should ensure that your function is twice "
                "differentiable and that the jacobian depends on the inputs (this would be "
                "violated by a linear function for example).",
    "back": "The output of the user-provided function is independent of input {i}. This is "
            "not allowed in strict mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. "
                   "This is not allowed in strict mode.",
}


def _check_requires_grad(values, kind, strict):
    """strict mode: every value must depend on the inputs (PyTorch's messages)."""
    if strict:
        for i, v in enumerate(values):
            if v is None or not v.requires_grad:
                raise RuntimeError(_STRICT[kind].format(i=i))


def _grad(outs, inputs, vs=None, create_graph=False):
    """``autograd.grad`` over the outputs that require grad only (None for every input
    when none does), as PyTorch's ``_autograd_grad``."""
    from . import grad
    keep = [k for k, o in enumerate(outs) if o is not None and o.requires_grad]
    if not keep:
        return (None,) * len(inputs)
    return grad([outs[k] for k in keep], list(inputs),
                None if vs is None else [vs[k] for k in keep],
                retain_graph=True, create_graph=create_graph, allow_unused=True)


def _fill_zeros(grads, refs, strict, stage):
    """None (independent) becomes zeros, or raises in strict mode."""
    out = []
    for i, (g, r) in enumerate(zip(grads, refs)):
        if g is None:
            if strict:
                raise RuntimeError(_STRICT[stage].format(i=i))
            g = wrap(np.zeros(tuple(r.shape), r._data.dtype))
        out.append(g)
    return tuple(out)


def _prep(inputs, create_graph):
    """Inputs the function is differentiated at: views when create_graph (so the result
    stays connected), else detached copies that require grad."""
    out = []
    for x in inputs:
        if create_graph and x.requires_grad:
            out.append(x.view_as(x))
        else:
            out.append(x.detach().requires_grad_())
    return tuple(out)


def _basis(n, dtype, lo, hi):
    """Rows ``lo..hi`` of the n×n identity (one chunk of the basis)."""
    e = np.zeros((hi - lo, n), dtype)
    e[np.arange(hi - lo), np.arange(lo, hi)] = 1
    return e


def _jacobian_rows(outs, inputs, create_graph, chunk_size=None, strict=False):
    """J[i][j] of shape out_i.shape + in_j.shape by batched backward passes (one pass per
    output, or one per chunk of ``chunk_size`` rows, each written into the result)."""
    from . import grad
    result = []
    for i, o in enumerate(outs):
        n = o.numel()
        dt = np_dtype(o._data.dtype) if np_dtype(o._data.dtype).kind == "f" else np.float64
        step = max(n, 1) if not chunk_size else max(1, int(chunk_size))
        shapes = [tuple(o.shape) + tuple(x.shape) for x in inputs]
        full = [None] * len(inputs)   # preallocated results (first order)
        blocks = [[] for _ in inputs]  # chunk results kept as Tensors (create_graph)
        for lo in range(0, n, step):
            hi = min(lo + step, n)
            v = wrap(_basis(n, dt, lo, hi).reshape((hi - lo,) + tuple(o.shape)))
            gs = [None] * len(inputs)
            if o.requires_grad:
                gs = grad([o], list(inputs), [v], retain_graph=True,
                          create_graph=create_graph, allow_unused=True,
                          is_grads_batched=True)
            del v
            for j, (g, x) in enumerate(zip(gs, inputs)):
                if g is None and strict:
                    raise RuntimeError(f"Output {i} of the user-provided function is "
                                       f"independent of input {j}. This is not allowed in "
                                       f"strict mode.")
                if create_graph or step >= n:
                    blocks[j].append(g if g is not None else
                                     wrap(np.zeros((hi - lo,) + tuple(x.shape), dt)))
                    continue
                if full[j] is None:
                    full[j] = np.zeros((n,) + tuple(x.shape), dt)
                if g is not None:
                    full[j][lo:hi] = g._data
            gs = g = None
        row = []
        for j in range(len(inputs)):
            if n == 0:
                row.append(wrap(np.zeros(shapes[j], dt)))
            elif full[j] is not None:
                row.append(wrap(full[j].reshape(shapes[j])))
            elif len(blocks[j]) == 1:
                row.append(blocks[j][0].reshape(tuple(shapes[j])))
            else:
                from ..ops.shape import cat
                row.append(cat(blocks[j], 0).reshape(tuple(shapes[j])))
        result.append(row)
    return result


def _jacobian_columns(func, args, nums, has_aux, chunk_size=None, strict=False):
    """J[i][j] by forward mode: for each input j, one pass with the identity basis of
    that input as a batch of tangents (level ``nb=1``)."""
    from ..func import _split_aux
    cols = []
    aux = out = None
    for j in nums:
        x = args[j]
        n = x.numel()
        dt = np_dtype(x._data.dtype) if np_dtype(x._data.dtype).kind == "f" else np.float64
        step = max(n, 1) if not chunk_size else max(1, int(chunk_size))
        pieces = None
        for lo in range(0, max(n, 1), step):
            hi = min(lo + step, n) if n else 0
            with fwd.dual_level(nb=1):
                t = wrap(_basis(n, dt, lo, hi).reshape((hi - lo,) + tuple(x.shape)))
                dual_args = list(args)
                dual_args[j] = fwd.make_dual(x, t)
                out, aux = _split_aux(func(*dual_args), has_aux)
                outs = [out] if isinstance(out, Tensor) else list(out)
                tans = []
                for o in outs:
                    tan = fwd.unpack_dual(o).tangent
                    if tan is None:
                        if strict:
                            raise RuntimeError("Output of the user-provided function is "
                                               "independent of an input (strict mode).")
                        tan = wrap(np.zeros((hi - lo,) + tuple(o.shape), dt))
                    tans.append(tan)
            pieces = [[t_] for t_ in tans] if pieces is None else \
                [p + [t_] for p, t_ in zip(pieces, tans)]
            if n == 0:
                break
        col = []
        for o, ps in zip(outs, pieces):
            from ..ops.shape import cat
            t_all = ps[0] if len(ps) == 1 else cat(ps, 0)
            # (n_in, *out.shape) -> (*out.shape, *in.shape)
            t_all = t_all.reshape((n, *o.shape)) if n else t_all
            nd_out = len(o.shape)
            t_all = t_all.permute(*range(1, nd_out + 1), 0) if nd_out else t_all
            col.append(t_all.reshape((*o.shape, *x.shape)))
        cols.append(col)
    # cols[j][i] -> result[i][j]
    n_out = len(cols[0]) if cols else 0
    jac = [[cols[j][i] for j in range(len(nums))] for i in range(n_out)]
    return jac, aux, not isinstance(out, Tensor)


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode", chunk_size=None):
    """The Jacobian of ``func`` at ``inputs`` (PyTorch's output structure: a Tensor for
    one input and one output, tuples otherwise).  See Note [vectorize]."""
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError('Expected strategy to be either "forward-mode" or "reverse-mode". '
                         f'Got {strategy!r}.')
    tuple_in, inputs = _as_tuple(inputs, "inputs", "jacobian")
    if strategy == "forward-mode":
        if strict:
            raise RuntimeError(
                'torch.autograd.functional.jacobian: `strict=True` and `strategy='
                '"forward-mode"` are not supported together (yet). Please either set '
                '`strict=False` or `strategy="reverse-mode"`.')
        if create_graph:
            raise NotImplementedError(
                "torch.autograd.functional.jacobian: `create_graph=True` and `strategy="
                "\"forward-mode\"` are not supported together (yet) (as in PyTorch). Use "
                "strategy=\"reverse-mode\" for a differentiable Jacobian, or func.jacfwd, "
                "which composes with the other transforms.")
        jac, _, tuple_out = _jacobian_columns(func, inputs, tuple(range(len(inputs))),
                                              False, chunk_size, strict)
    else:
        with enable_grad():
            prepped = _prep(inputs, create_graph)
            out = func(*prepped)
            tuple_out, outs = _as_tuple(out, "outputs of the user-provided function",
                                        "jacobian")
            _check_requires_grad(outs, "outputs", strict)
            jac = _jacobian_rows(outs, prepped, create_graph, chunk_size, strict)
        if not create_graph:
            jac = [[j.detach() for j in row] for row in jac]
    return _structure(jac, tuple_in, tuple_out)


def _structure(jac, tuple_in, tuple_out):
    rows = [tuple(r) if tuple_in else r[0] for r in jac]
    return tuple(rows) if tuple_out else rows[0]


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar function (reverse over reverse, or forward over reverse
    with ``outer_jacobian_strategy="forward-mode"``)."""
    tuple_in, inputs = _as_tuple(inputs, "inputs", "hessian")

    def jac_func(*inp):
        with enable_grad():
            out = func(*inp)
            if not isinstance(out, Tensor) or out.numel() != 1:
                raise RuntimeError("The function given to hessian should return a single "
                                   "element Tensor")
            _check_requires_grad((out,), "outputs", strict)
            gs = _grad((out,), inp, create_graph=True)
            _check_requires_grad(gs, "jacobian", strict)
        return _fill_zeros(gs, inp, False, "back")

    res = jacobian(jac_func, inputs, create_graph=create_graph, strict=strict,
                   strategy=outer_jacobian_strategy)
    return res if tuple_in else res[0][0]


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), vᵀJ)``."""
    tuple_in, inputs = _as_tuple(inputs, "inputs", "vjp")
    with enable_grad():
        prepped = _prep(inputs, create_graph)
        out = func(*prepped)
        tuple_out, outs = _as_tuple(out, "outputs of the user-provided function", "vjp")
        _check_requires_grad(outs, "outputs", strict)
        if v is None:
            if any(o.numel() != 1 for o in outs):
                raise RuntimeError("The vector v can only be None if the user-provided "
                                   "function returns a single Tensor with a single element.")
            vs = None
        else:
            _, vs = _as_tuple(v, "v", "vjp")
        gs = _fill_zeros(_grad(outs, prepped, vs, create_graph), prepped, strict, "back")
    outs = tuple(o if create_graph else o.detach() for o in outs)
    gs = tuple(g if create_graph else g.detach() for g in gs)
    return (outs if tuple_out else outs[0]), (gs if tuple_in else gs[0])


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), J v)`` by real forward mode (not the double-VJP trick)."""
    tuple_in, inputs = _as_tuple(inputs, "inputs", "jvp")
    if v is None:
        if any(x.numel() != 1 for x in inputs):
            raise RuntimeError("The vector v can only be None if the input to the "
                               "user-provided function is a single Tensor with a single "
                               "element.")
        vs = tuple(wrap(np.ones(tuple(x.shape), x._data.dtype)) for x in inputs)
    else:
        _, vs = _as_tuple(v, "v", "jvp")
    with fwd.dual_level():
        duals = [fwd.make_dual(x.detach(), t) for x, t in zip(inputs, vs)]
        out = func(*duals)
        tuple_out, outs = _as_tuple(out, "outputs of the user-provided function", "jvp")
        primals, tangents = [], []
        for i, o in enumerate(outs):
            p, t = fwd.unpack_dual(o)
            if t is None and strict:
                raise RuntimeError(_STRICT["outputs"].format(i=i))
            primals.append(p.detach())
            tangents.append(t if t is not None
                            else wrap(np.zeros(tuple(o.shape), o._data.dtype)))
    p = tuple(primals) if tuple_out else primals[0]
    t = tuple(tangents) if tuple_out else tangents[0]
    return p, t


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), H v)`` for a scalar function (forward over reverse)."""
    tuple_in, inputs = _as_tuple(inputs, "inputs", "hvp")
    _, vs = _as_tuple(v, "v", "hvp") if v is not None else (False, None)
    with enable_grad():
        prepped = _prep(inputs, False)
        value = func(*prepped)
        _check_requires_grad((value,), "outputs", strict)
        if strict:
            _check_requires_grad(_grad((value,), prepped, create_graph=True), "jacobian",
                                 strict)

    def g(*inp):
        from ..func import _track
        with enable_grad():
            tracked = [_track(i) for i in inp]
            return _fill_zeros(_grad((func(*tracked),), tracked, create_graph=True),
                               tracked, False, "back")

    _, hv = jvp(g, inputs, vs)
    return value.detach(), (tuple(hv) if tuple_in else hv[0])


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), vᵀ H)`` (equal to H v for a symmetric Hessian) by reverse over
    reverse."""
    tuple_in, inputs = _as_tuple(inputs, "inputs", "vhp")
    _, vs = _as_tuple(v, "v", "vhp")
    with enable_grad():
        prepped = _prep(inputs, create_graph)
        out = func(*prepped)
        _check_requires_grad((out,), "outputs", strict)
        gs = _grad((out,), prepped, create_graph=True)
        _check_requires_grad(gs, "jacobian", strict)
        hv = _fill_zeros(_grad(gs, prepped, vs, create_graph), prepped, strict, "double_back")
    hv = tuple(h if create_graph else h.detach() for h in hv)
    return (out if create_graph else out.detach()), (hv if tuple_in else hv[0])
