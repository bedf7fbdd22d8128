"""``gradcheck`` / ``gradgradcheck``: derivatives against central finite differences.

Both follow PyTorch's signatures.  Differences, each on purpose:
- the analytical Jacobian of an output is ONE batched backward pass (every row of the
  identity as a batch of cotangents, ``is_grads_batched=True``), not a loop over rows;
- inputs in float32/float16 that require grad are promoted to float64 copies, with a
  UserWarning (PyTorch only warns, and the check then usually fails);
- a mismatch names the worst entry: output and input index, the element of each, the two
  values and the tolerance they break.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import _tensor as T
from ..backend.array_api import np_dtype

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """A derivative disagrees with its finite-difference estimate (PyTorch's class)."""


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _diff_positions(inputs):
    return [i for i, x in enumerate(inputs) if isinstance(x, T.Tensor) and x.requires_grad]


def _promote(inputs):
    """float64 copies of low-precision inputs that require grad (with a warning)."""
    out = list(inputs)
    for i in _diff_positions(inputs):
        x = inputs[i]
        if np_dtype(x._data.dtype).kind == "f" and np_dtype(x._data.dtype).itemsize < 8:
            warnings.warn(
                f"Input #{i} requires gradient and is {x.dtype}; gradcheck promotes it to "
                f"float64, since finite differences in single precision are too inaccurate "
                f"for its tolerances.", UserWarning, stacklevel=3)
            out[i] = T.wrap(x._data.astype(np.float64)).requires_grad_()
    return tuple(out)


def _outputs(func, inputs):
    return [o for o in _as_tuple(func(*inputs)) if isinstance(o, T.Tensor)]


def _differentiable(o) -> bool:
    return np_dtype(o._data.dtype).kind == "f"


# ---- Jacobians -------------------------------------------------------------------------------

def _analytical(outputs, inputs, diff):
    """[output][input] -> (n_out, n_in) Jacobian blocks, one batched backward per output."""
    from . import grad
    blocks = []
    for o in outputs:
        row = []
        n = o._data.size
        grads = (None,) * len(diff)
        if _differentiable(o) and o.requires_grad and n:
            eye = np.eye(n, dtype=o._data.dtype).reshape((n,) + o._data.shape)
            grads = grad(o, [inputs[j] for j in diff], grad_outputs=T.wrap(eye),
                         retain_graph=True, allow_unused=True, is_grads_batched=True)
        for j, g in zip(diff, grads):
            m = inputs[j]._data.size
            row.append(np.zeros((n, m)) if g is None else g._data.reshape(n, m))
        blocks.append(row)
    return blocks


def _copies(inputs):
    """Detached copies to perturb, with the inputs' requires_grad (func may need it)."""
    out = []
    for x in inputs:
        if isinstance(x, T.Tensor):
            c = T.wrap(np.array(x._data, copy=True, order="C"))
            out.append(c.requires_grad_() if x.requires_grad else c)
        else:
            out.append(x)
    return out


def _evaluate(func, args):
    return [np.array(o._data, dtype=np.float64) for o in _outputs(func, args)]


def _numerical(func, inputs, diff, eps, n_outputs):
    """[output][input] -> (n_out, n_in) blocks by central differences, element by element."""
    blocks = [[None] * len(diff) for _ in range(n_outputs)]
    for jj, j in enumerate(diff):
        args = _copies(inputs)
        flat = args[j]._data.reshape(-1)
        cols = []
        for k in range(flat.size):
            orig = flat[k]
            flat[k] = orig + eps
            plus = _evaluate(func, args)
            flat[k] = orig - eps
            minus = _evaluate(func, args)
            flat[k] = orig
            cols.append([((p - m) / (2 * eps)).reshape(-1) for p, m in zip(plus, minus)])
        for i in range(n_outputs):
            n = cols[0][i].size if cols else 0
            blocks[i][jj] = (np.stack([c[i] for c in cols], axis=1) if cols
                             else np.zeros((n, 0)))
    return blocks


def _forward_jacobian(func, inputs, diff, outputs):
    """[output][input] blocks from forward mode: one batched JVP per input."""
    from . import forward_ad as fw
    blocks = [[None] * len(diff) for _ in outputs]
    for jj, j in enumerate(diff):
        x = inputs[j]
        m = x._data.size
        eye = np.eye(m, dtype=x._data.dtype).reshape((m,) + x._data.shape)
        with fw.dual_level(nb=1):
            args = list(inputs)
            args[j] = fw.make_dual(x.detach(), T.wrap(eye))
            outs = _outputs(func, args)
            for i, o in enumerate(outs):
                tan = fw.unpack_dual(o).tangent
                n = o._data.size
                blocks[i][jj] = (np.zeros((n, m)) if tan is None
                                 else np.moveaxis(tan._data.reshape(m, n), 0, 1))
    return blocks


# ---- comparing ---------------------------------------------------------------------------------

def _worst(analytical, numerical, atol, rtol):
    """The entry breaking ``|a - n| <= atol + rtol |n|`` the most, or None."""
    worst = None
    for i, (arow, nrow) in enumerate(zip(analytical, numerical)):
        for jj, (a, n) in enumerate(zip(arow, nrow)):
            if a.size == 0:
                continue
            excess = np.abs(a - n) - (atol + rtol * np.abs(n))
            excess = np.where(np.isnan(a) != np.isnan(n), np.inf, np.nan_to_num(excess))
            r, c = np.unravel_index(np.argmax(excess), excess.shape)
            if excess[r, c] > 0 and (worst is None or excess[r, c] > worst[0]):
                worst = (excess[r, c], i, jj, r, c)
    return worst


def _mismatch(kind, worst, analytical, numerical, outputs, inputs, diff, atol, rtol):
    _, i, jj, r, c = worst
    j = diff[jj]
    a, n = analytical[i][jj], numerical[i][jj]
    out_idx = np.unravel_index(r, outputs[i]._data.shape) if outputs[i]._data.ndim else ()
    in_idx = np.unravel_index(c, inputs[j]._data.shape) if inputs[j]._data.ndim else ()
    tol = atol + rtol * abs(n[r, c])
    with np.printoptions(precision=4, threshold=200, linewidth=100):
        return GradcheckError(
            f"Jacobian mismatch for output {i} with respect to input {j},\n"
            f"numerical:{n}\n{kind}:{a}\n\n"
            f"Worst entry: d output{i}[{', '.join(map(str, out_idx))}] / "
            f"d input{j}[{', '.join(map(str, in_idx))}] is {a[r, c]:.8g} ({kind}) but "
            f"{n[r, c]:.8g} (numerical); |difference| {abs(a[r, c] - n[r, c]):.3g} > atol + "
            f"rtol * |numerical| = {tol:.3g}.")


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=True, check_grad_dtypes=False,
              check_batched_grad=False, check_batched_forward_grad=False,
              check_forward_ad=False, check_backward_ad=True, fast_mode=False,
              masked=None) -> bool:
    """Check ``func``'s derivatives at ``inputs`` against central finite differences.

    Parameters
    ----------
    func : callable
        Takes ``*inputs``, returns a Tensor or a tuple of Tensors.
    inputs : Tensor or tuple
        Tensors that require grad are checked; others are passed through.
    eps, atol, rtol : float
        Finite-difference step and tolerances (``|a - n| <= atol + rtol * |n|``).
    raise_exception : bool
        Raise ``GradcheckError`` on failure (default) instead of returning False.
    check_forward_ad, check_backward_ad : bool
        Check forward-mode Jacobians, reverse-mode ones (default).
    check_batched_grad : bool
        Also check that batched cotangents give the stacked single results.
    fast_mode : bool
        Compare random projections ``v^T J u`` instead of whole Jacobians.
    nondet_tol : float
        Tolerated difference between two backward passes on the same values.

    Returns
    -------
    bool
        True when every check passed.
    """
    try:
        _gradcheck(func, _as_tuple(inputs), eps, atol, rtol, nondet_tol, check_grad_dtypes,
                   check_batched_grad, check_forward_ad, check_backward_ad, fast_mode)
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def _gradcheck(func, inputs, eps, atol, rtol, nondet_tol, check_grad_dtypes,
               check_batched_grad, check_forward_ad, check_backward_ad, fast_mode):
    diff = _diff_positions(inputs)
    if not diff:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, "
                         "but none of the them have requires_grad=True.")
    inputs = _promote(inputs)
    outputs = _outputs(func, inputs)
    if fast_mode:
        return _fast(func, inputs, diff, outputs, eps, atol, rtol, check_backward_ad,
                     check_forward_ad)
    numerical = _numerical(func, inputs, diff, eps, len(outputs))
    if check_backward_ad:
        analytical = _analytical(outputs, inputs, diff)
        worst = _worst(analytical, numerical, atol, rtol)
        if worst is not None:
            raise _mismatch("analytical", worst, analytical, numerical, outputs, inputs, diff,
                            atol, rtol)
        again = _analytical(_outputs(func, inputs), inputs, diff)
        for arow, brow in zip(analytical, again):
            for a, b in zip(arow, brow):
                if a.size and np.abs(a - b).max() > nondet_tol:
                    raise GradcheckError(
                        f"Backward is not reentrant, i.e., running backward with same input "
                        f"and grad_output multiple times gives different values, although "
                        f"analytical gradient matches numerical gradient.The tolerance for "
                        f"nondeterminism was {nondet_tol}.")
        _check_multiplied_by_grad_output(outputs, inputs, diff)
        if check_grad_dtypes:
            _check_dtypes(outputs, inputs, diff)
        if check_batched_grad:
            _check_batched(outputs, inputs, diff, atol, rtol)
    if check_forward_ad:
        forward = _forward_jacobian(func, inputs, diff, outputs)
        worst = _worst(forward, numerical, atol, rtol)
        if worst is not None:
            raise _mismatch("forward-mode", worst, forward, numerical, outputs, inputs, diff,
                            atol, rtol)


def _check_multiplied_by_grad_output(outputs, inputs, diff):
    """Zero cotangents must give zero gradients (PyTorch's check)."""
    from . import grad
    outs = [o for o in outputs if _differentiable(o) and o.requires_grad]
    if not outs:
        return
    grads = grad(outs, [inputs[j] for j in diff], [T.wrap(np.zeros_like(o._data))
                                                   for o in outs],
                 retain_graph=True, allow_unused=True)
    for g in grads:
        if g is not None and np.any(g._data != 0):
            raise GradcheckError("backward not multiplied by grad_output")


def _check_dtypes(outputs, inputs, diff):
    from . import grad
    for o in outputs:
        if not (_differentiable(o) and o.requires_grad):
            continue
        grads = grad(o, [inputs[j] for j in diff], T.wrap(np.ones_like(o._data)),
                     retain_graph=True, allow_unused=True)
        for j, g in zip(diff, grads):
            if g is not None and g.dtype != inputs[j].dtype:
                raise GradcheckError("Gradient has dtype mismatch")


def _check_batched(outputs, inputs, diff, atol, rtol, batch=3):
    """Batched cotangents (one pass) must equal the stacked single-cotangent results."""
    from . import grad
    rng = np.random.default_rng(0)
    for i, o in enumerate(outputs):
        if not (_differentiable(o) and o.requires_grad and o._data.size):
            continue
        vs = rng.standard_normal((batch,) + o._data.shape).astype(o._data.dtype)
        targets = [inputs[j] for j in diff]
        batched = grad(o, targets, T.wrap(vs), retain_graph=True, allow_unused=True,
                       is_grads_batched=True)
        for b in range(batch):
            single = grad(o, targets, T.wrap(vs[b]), retain_graph=True, allow_unused=True)
            for j, gb, gs in zip(diff, batched, single):
                want = 0.0 if gs is None else gs._data
                got = 0.0 if gb is None else gb._data[b]
                if not np.allclose(got, want, rtol=rtol, atol=atol):
                    raise GradcheckError(
                        f"For output {i} and input {j}:\nBatched gradient mismatch: the "
                        f"gradient for cotangent {b} of a batch of {batch} differs from the "
                        f"same cotangent alone.\nbatched: {got}\nalone: {want}")


def _fast(func, inputs, diff, outputs, eps, atol, rtol, check_backward_ad, check_forward_ad):
    """Fast mode: compare ``v^T (J u)`` by finite differences with ``(v^T J) u``."""
    from . import grad
    rng = np.random.default_rng(0)
    us = {j: rng.standard_normal(inputs[j]._data.shape) for j in diff}
    vs = [rng.standard_normal(o._data.shape) for o in outputs]
    for j in diff:
        args = _copies(inputs)
        base = args[j]._data.copy()
        args[j]._data[...] = base + eps * us[j]
        plus = _evaluate(func, args)
        args[j]._data[...] = base - eps * us[j]
        minus = _evaluate(func, args)
        ju = [(p - m) / (2 * eps) for p, m in zip(plus, minus)]
        for i, o in enumerate(outputs):
            num = float(np.sum(vs[i] * ju[i]))
            checks = []
            if check_backward_ad:
                g = None
                if _differentiable(o) and o.requires_grad:
                    g = grad(o, inputs[j], T.wrap(vs[i].astype(o._data.dtype)),
                             retain_graph=True, allow_unused=True)[0]
                checks.append(("analytical", 0.0 if g is None
                               else float(np.sum(g._data * us[j]))))
            if check_forward_ad:
                checks.append(("forward-mode", _fast_forward(func, inputs, j, us[j], i,
                                                             vs[i])))
            for kind, val in checks:
                if abs(val - num) > atol + rtol * abs(num) or np.isnan(val) != np.isnan(num):
                    raise GradcheckError(
                        f"Jacobian mismatch for output {i} with respect to input {j},\n"
                        f"numerical:{num}\n{kind}:{val}\n\nThe above quantities relating the "
                        f"numerical and {kind} jacobians are computed in fast mode: v^T J u "
                        f"for random u (input {j}) and v (output {i}). Run with "
                        f"fast_mode=False to see the whole Jacobians and the worst entry.")


def _fast_forward(func, inputs, j, u, i, v):
    from . import forward_ad as fw
    with fw.dual_level():
        args = list(inputs)
        x = inputs[j]
        args[j] = fw.make_dual(x.detach(), T.wrap(u.astype(x._data.dtype)))
        tan = fw.unpack_dual(_outputs(func, args)[i]).tangent
    return 0.0 if tan is None else float(np.sum(tan._data * v))


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  gen_non_contig_grad_outputs=False, raise_exception=True, nondet_tol=0.0,
                  check_undefined_grad=True, check_grad_dtypes=False,
                  check_batched_grad=False, check_fwd_over_rev=False,
                  check_rev_over_rev=True, fast_mode=False, masked=False) -> bool:
    """Check second derivatives: ``gradcheck`` of ``(inputs, v) -> vᵀ J`` (PyTorch's
    construction), with random ``grad_outputs`` v unless given."""
    inputs = _promote(_as_tuple(inputs))
    outputs = _outputs(func, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = []
        for o in outputs:
            if not _differentiable(o):
                continue
            v = rng.uniform(-1, 1, o._data.shape).astype(o._data.dtype)
            if gen_non_contig_grad_outputs:
                holder = np.empty(v.shape + (2,), v.dtype)
                holder[..., 0] = v
                v = holder[..., 0]
            grad_outputs.append(T.wrap(v).requires_grad_())
    grad_outputs = tuple(_promote(_as_tuple(grad_outputs)))
    n_go = len(grad_outputs)

    def first_derivatives(*args):
        from . import grad
        ins, gos = args[:-n_go], args[-n_go:]
        outs = [o for o in _outputs(func, ins) if _differentiable(o)]
        pairs = [(o, g) for o, g in zip(outs, gos) if o.requires_grad]
        diff_in = [x for x in ins if isinstance(x, T.Tensor) and x.requires_grad]
        if not pairs or not diff_in:
            return ()
        grads = grad([o for o, _ in pairs], diff_in, [g for _, g in pairs],
                     create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_derivatives, inputs + grad_outputs, eps=eps, atol=atol,
                     rtol=rtol, raise_exception=raise_exception, nondet_tol=nondet_tol,
                     check_grad_dtypes=check_grad_dtypes,
                     check_batched_grad=check_batched_grad,
                     check_forward_ad=check_fwd_over_rev,
                     check_backward_ad=check_rev_over_rev, fast_mode=fast_mode)
