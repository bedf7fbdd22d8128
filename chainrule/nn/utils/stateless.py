"""``nn.utils.stateless``: call a module with other parameters and buffers, as
``torch.nn.utils.stateless``.

Note [functional_call]: the module's tensors are swapped for the given ones (entries of its
``_parameters`` / ``_buffers`` dicts, or plain attributes), ``forward`` runs, and the
originals are put back even when ``forward`` raises.  The given tensors need not be
``Parameter``s, so results stay differentiable with respect to them: that is what
``chainrule.func.grad(lambda p: loss(functional_call(model, p, x)))(params)`` needs.
"""

from __future__ import annotations

import contextlib
import warnings

from ..._tensor import Tensor

__all__ = ["functional_call"]

_MISSING = object()


def _typename(x) -> str:
    return type(x).__name__


def _swap_tensor(module, name, tensor):
    """Put ``tensor`` at ``module.<name>`` and return what was there (``_MISSING`` when
    nothing; ``tensor`` ``_MISSING`` removes the attribute)."""
    from ..modules.module import Module
    if not isinstance(module, Module):
        raise TypeError(f"{module} is not an instance of torch.nn.Module")
    if tensor is not _MISSING and tensor is not None and not isinstance(tensor, Tensor):
        raise TypeError(f"{tensor} is not an instance of torch.Tensor")
    if name == "":
        raise KeyError('tensor name can\'t be empty string ""')
    for store in (module._parameters, module._buffers):
        if name in store:
            orig = store[name]
            if tensor is _MISSING:
                del store[name]
            else:
                store[name] = tensor
            return orig
    orig = getattr(module, name) if hasattr(module, name) else _MISSING
    if orig is not _MISSING and orig is not None and not isinstance(orig, Tensor):
        raise TypeError(f"attribute `{name}`: {orig} is not an instance of torch.Tensor")
    if tensor is not _MISSING:
        setattr(module, name, tensor)
    elif hasattr(module, name):
        delattr(module, name)
    return orig


def _swap_path(module, path, tensor):
    prefix, _, attr = path.rpartition(".")
    sub = module
    for part in prefix.split(".") if prefix else ():
        if not hasattr(sub, part):
            if tensor is _MISSING:
                return _MISSING
            raise AttributeError(f"{sub._get_name()} has no attribute `{part}`")
        sub = getattr(sub, part)
    return _swap_tensor(sub, attr, tensor)


def _swap_dict(module, named):
    """Swap every entry; undo them all if one fails.  Returns the originals."""
    orig = {}
    try:
        for name, t in named.items():
            orig[name] = _swap_path(module, name, t)
    except Exception:
        for name, t in orig.items():
            _swap_path(module, name, t)
        raise
    return orig


def _untie(module, given):
    """``given`` with every name tied to a given one (the same tensor registered under
    several names) mapped to that value; ValueError for two different values of one tied
    tensor (PyTorch's ``_untie_named_tensors_map``)."""
    names_of = {}
    for name, t in list(module.named_parameters(remove_duplicate=False)) + \
            list(module.named_buffers(remove_duplicate=False)):
        names_of.setdefault(id(t), set()).add(name)
    tied = {n: names for names in names_of.values() if len(names) > 1 for n in names}
    given_tied = [n for n in given if n in tied]
    for name in given_tied:
        group = tied[name]
        values = {id(given[n]) for n in group if n in given}
        if len(values) > 1:
            raise ValueError(f"functional_call got multiple values for keys "
                             f"{sorted(group)}, which are tied. Consider using "
                             f"tie_weights=False")
    out = dict(given)
    for name in given_tied:
        for other in tied[name]:
            out[other] = given[name]
    return out


@contextlib.contextmanager
def _reparametrize_module(module, parameters_and_buffers, tie_weights=False, strict=False):
    named = _untie(module, parameters_and_buffers) if tie_weights else parameters_and_buffers
    if strict:
        valid = {n for n, _ in module.named_parameters(remove_duplicate=False)}
        valid |= {n for n, _ in module.named_buffers(remove_duplicate=False)}
        missing, unexpected = sorted(valid - set(named)), sorted(set(named) - valid)
        msgs = []
        if unexpected:
            msgs.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
        if missing:
            msgs.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
        if msgs:
            raise RuntimeError("Error(s) in reparametrizing for {}:\n\t{}".format(
                module._get_name(), "\n\t".join(msgs)))
    orig = {}
    try:
        orig = _swap_dict(module, named)
        yield
    finally:
        new = _swap_dict(module, orig)
        # a forward that reassigned a swapped entry: the caller's dict sees the new value
        parameters_and_buffers.update({k: new[k] for k in parameters_and_buffers
                                       if k in new and new[k] is not _MISSING})


def _functional_call(module, parameters_and_buffers, args=None, kwargs=None, *,
                     tie_weights=True, strict=False):
    from ..modules.module import Module
    if not isinstance(module, Module):
        raise TypeError(f"functional_call(): argument 'module' must be an nn.Module, not "
                        f"{_typename(module)}")
    if not isinstance(parameters_and_buffers, dict):
        raise TypeError(f"functional_call(): parameters_and_buffers must be a dict of "
                        f"name -> Tensor, not {_typename(parameters_and_buffers)}")
    kwargs = {} if kwargs is None else kwargs
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _reparametrize_module(module, parameters_and_buffers, tie_weights=tie_weights,
                               strict=strict):
        return module(*args, **kwargs)


def functional_call(module, parameters_and_buffers, args=None, kwargs=None, *,
                    tie_weights=True, strict=False):
    """``module(*args, **kwargs)`` with its parameters and buffers replaced by the
    tensors of ``parameters_and_buffers`` (deprecated in PyTorch 2.0: use
    ``chainrule.func.functional_call``, which this calls)."""
    warnings.warn("`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch "
                  "2.0 and will be removed in a future version of PyTorch. Please use "
                  "`torch.func.functional_call` instead which is a drop-in replacement.",
                  FutureWarning, stacklevel=2)
    return _functional_call(module, parameters_and_buffers, args, kwargs,
                            tie_weights=tie_weights, strict=strict)
