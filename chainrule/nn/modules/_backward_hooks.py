"""Module backward hooks (``register_full_backward_hook`` / ``_pre_hook``), as PyTorch's
``torch.utils.hooks.BackwardHook`` does them.

Calling a module with backward hooks passes its Tensor inputs, and then its Tensor
outputs, through an identity ``autograd.Function``.  A pre-hook on the outputs' node sees
the cotangents of the outputs (``grad_output``; the backward pre-hooks may replace them);
a post-hook on the inputs' node sees the cotangents of the inputs (``grad_input``) and
calls the full backward hooks with both, which may replace ``grad_input``.  Positions
that are not Tensors hold None; a Tensor input that gets no gradient holds zeros (as in
PyTorch, whose identity Function materializes them).
"""

from __future__ import annotations

import warnings

from ... import _grad_mode
from ..._tensor import Tensor
from ...autograd.function import Function


class BackwardHookFunction(Function):
    """The identity on Tensors; its node carries the module's backward hooks."""

    @staticmethod
    def forward(ctx, *args):
        ctx.mark_non_differentiable(*[a for a in args if not a.requires_grad])
        return args

    @staticmethod
    def backward(ctx, *args):
        return args


def _pack_with_none(indices, values, size):
    res = [None] * size
    for idx, val in zip(indices, values):
        res[idx] = val
    return tuple(res)


class BackwardHook:
    """One module call's hook state: set up on its inputs, then on its outputs."""

    def __init__(self, module, user_hooks, user_pre_hooks) -> None:
        self.module = module
        self.user_hooks = user_hooks
        self.user_pre_hooks = user_pre_hooks
        self.grad_outputs = None
        self.n_outputs = -1
        self.output_tensors_index = None
        self.n_inputs = -1
        self.input_tensors_index = None

    def _apply_on_tensors(self, fn, args):
        idx = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        tensors = [args[i] for i in idx]
        if not (any(t.requires_grad for t in tensors) and _grad_mode.is_grad_enabled()):
            return args, None
        new = BackwardHookFunction.apply(*tensors)
        if not isinstance(new, tuple):
            new = (new,)
        grad_fns = [t.grad_fn for t in new if t.grad_fn is not None]
        fn(grad_fns[0])
        out = list(args)
        for i, t in zip(idx, new):
            out[i] = t
        return tuple(out), idx

    def setup_input_hook(self, args):
        def fn(grad_fn):
            def hook(grad_input, _):
                if self.grad_outputs is None:
                    # the gradient reached the inputs without passing the outputs
                    # (e.g. double backward)
                    return None
                res = _pack_with_none(self.input_tensors_index, grad_input, self.n_inputs)
                res = tuple(a.new_zeros(a.shape) if g is None and isinstance(a, Tensor)
                            else g for g, a in zip(res, self.inputs))
                for user_hook in self.user_hooks:
                    out = user_hook(self.module, res, self.grad_outputs)
                    if out is None:
                        continue
                    if len(out) != len(res):
                        raise RuntimeError(f"Backward hook returned an invalid number of "
                                           f"grad_input, got {len(out)}, but expected "
                                           f"{len(res)}")
                    res = out
                self.grad_outputs = None
                return tuple(res[i] for i in self.input_tensors_index)
            grad_fn.register_hook(hook)
        self.inputs = args
        res, idx = self._apply_on_tensors(fn, args)
        self.n_inputs = len(args)
        self.input_tensors_index = idx
        return res

    def setup_output_hook(self, args):
        def fn(grad_fn):
            def hook(grad_output):
                self.grad_outputs = _pack_with_none(self.output_tensors_index, grad_output,
                                                    self.n_outputs)
                expected = len(self.grad_outputs)
                for user_pre_hook in self.user_pre_hooks:
                    out = user_pre_hook(self.module, self.grad_outputs)
                    if out is None:
                        continue
                    if len(out) != expected:
                        raise RuntimeError(f"Backward pre hook returned an invalid number "
                                           f"of grad_output, got {len(out)}, but expected "
                                           f"{expected}")
                    self.grad_outputs = tuple(out)
                local = self.grad_outputs
                if self.input_tensors_index is None:
                    warnings.warn("Full backward hook is firing when gradients are computed "
                                  "with respect to module outputs since no inputs require "
                                  "gradients. See https://docs.pytorch.org/docs/main/"
                                  "generated/torch.nn.Module.html#torch.nn.Module."
                                  "register_full_backward_hook for more details.",
                                  stacklevel=5)
                    grad_inputs = (None,) * self.n_inputs
                    for user_hook in self.user_hooks:
                        res = user_hook(self.module, grad_inputs, self.grad_outputs)
                        if res is not None and not (isinstance(res, tuple)
                                                    and all(r is None for r in res)):
                            raise RuntimeError("Backward hook for Modules where no input "
                                               "requires gradient should always return None "
                                               "or None for all gradients.")
                    self.grad_outputs = None
                return tuple(local[i] for i in self.output_tensors_index)
            grad_fn.register_prehook(hook)
        is_tuple = isinstance(args, tuple)
        if not is_tuple:
            args = (args,)
        res, idx = self._apply_on_tensors(fn, args)
        self.n_outputs = len(args)
        self.output_tensors_index = idx
        return res if is_tuple else res[0]
