"""``utils.checkpoint``: trade compute for memory, PyTorch's API.

``checkpoint(fn, *args)`` runs ``fn`` without keeping the values its ops save for
backward, and recomputes them when backward needs them.  Two variants, as in PyTorch:

- ``use_reentrant=True`` (the default when not given, with PyTorch's warning): a custom
  ``Function`` whose forward runs ``fn`` under ``no_grad`` keeping only the inputs, and
  whose backward reruns ``fn`` with grad and backpropagates through it (a nested
  ``backward()``).  Parameters used inside ``fn`` get their ``.grad`` from that nested
  pass, so it serves ``backward()`` but not ``autograd.grad`` or ``inputs=``.
- ``use_reentrant=False``: ``fn`` runs with grad under ``saved_tensors_hooks`` whose pack
  hook keeps an index instead of the value; the first unpack reruns ``fn`` (same inputs,
  same random state) and hands out the recomputed values.  The graph is the ordinary
  one, so ``autograd.grad``, ``inputs=`` and keyword arguments work.
"""

from __future__ import annotations

import warnings

from .. import _tensor as T
from .._creation import default_generator
from .._grad_mode import enable_grad, no_grad
from ..autograd.function import Function
from ..autograd.graph import saved_tensors_hooks

__all__ = ["checkpoint", "CheckpointFunction"]


def noop_context_fn():
    import contextlib
    return contextlib.nullcontext(), contextlib.nullcontext()


def checkpoint(function, *args, use_reentrant=None, context_fn=noop_context_fn,
               determinism_check="default", debug=False, preserve_rng_state=True, **kwargs):
    """Run ``function(*args, **kwargs)`` keeping only its inputs; recompute in backward.

    Parameters
    ----------
    function : callable
        The block to checkpoint; it must compute the same thing when run again.
    use_reentrant : bool, optional
        Which variant (module docstring); None warns and picks True, as PyTorch 2.x does.
    preserve_rng_state : bool
        Replay chainrule's random state, so random ops (dropout) match when recomputed.

    Returns
    -------
    What ``function`` returns.
    """
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint: the use_reentrant parameter should be passed "
            "explicitly. use_reentrant=False is recommended, but if you need to preserve "
            "the current default behavior, you can pass use_reentrant=True. Refer to docs "
            "for more details on the differences between the two variants.", stacklevel=2)
        use_reentrant = True
    if use_reentrant:
        if kwargs:
            raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
        return CheckpointFunction.apply(function, preserve_rng_state, *args)
    return _Recompute(function, args, kwargs, preserve_rng_state).run()


def _rng_state(preserve):
    return default_generator.get_state() if preserve else None


class _ReplayRng:
    """Run with the random state saved at forward time; restore the current one after."""

    def __init__(self, state) -> None:
        self.state = state

    def __enter__(self):
        if self.state is not None:
            self.now = default_generator.get_state()
            default_generator.set_state(self.state)

    def __exit__(self, *exc):
        if self.state is not None:
            default_generator.set_state(self.now)
        return False


class CheckpointFunction(Function):
    """The reentrant variant; outputs show ``grad_fn=<CheckpointFunctionBackward>``."""

    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, *args):
        ctx.run_function = run_function
        ctx.rng_state = _rng_state(preserve_rng_state)
        ctx.inputs = [None if isinstance(a, T.Tensor) else a for a in args]
        ctx.tensor_indices = [i for i, a in enumerate(args) if isinstance(a, T.Tensor)]
        tensors = [args[i] for i in ctx.tensor_indices]
        if not any(t.requires_grad for t in tensors):
            warnings.warn("None of the inputs have requires_grad=True. Gradients will be "
                          "None", stacklevel=4)
        ctx.save_for_backward(*tensors)
        with no_grad():
            return run_function(*args)

    @staticmethod
    def backward(ctx, *grads):
        from ..autograd import backward
        from ..autograd.engine import PASS
        if not PASS.checkpoint_valid:
            raise RuntimeError(
                "When use_reentrant=True, torch.utils.checkpoint is incompatible with .grad() "
                "or passing an `inputs` parameter to .backward(). To resolve this error, you "
                "can either set use_reentrant=False, or call .backward() without passing the "
                "`inputs` argument.")
        inputs = list(ctx.inputs)
        for i, t in zip(ctx.tensor_indices, ctx.saved_tensors):
            d = t.detach()
            inputs[i] = d.requires_grad_(t.requires_grad) if t.requires_grad else d
        with _ReplayRng(ctx.rng_state), enable_grad():
            outputs = ctx.run_function(*inputs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        pairs = [(o, g) for o, g in zip(outputs, grads)
                 if isinstance(o, T.Tensor) and o.requires_grad and g is not None]
        if not pairs:
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is "
                               "not necessary")
        backward([o for o, _ in pairs], [g for _, g in pairs])
        return (None, None) + tuple(x.grad if isinstance(x, T.Tensor) else None
                                    for x in inputs)


class _Recompute:
    """The non-reentrant variant: saved values are indices into one recomputation."""

    def __init__(self, function, args, kwargs, preserve_rng_state) -> None:
        self.function = function
        self.args = args
        self.kwargs = kwargs
        self.rng_state = _rng_state(preserve_rng_state)
        self.count = 0
        self.values = {}  # index -> recomputed array, each dropped once handed out

    def run(self):
        with saved_tensors_hooks(self.pack, self.unpack):
            return self.function(*self.args, **self.kwargs)

    def pack(self, t):
        self.count += 1
        return self.count - 1

    def unpack(self, index):
        if index not in self.values:
            self.recompute()
        return T.wrap(self.values.pop(index))

    def recompute(self):
        values = {}

        def pack(t):
            values[len(values)] = t._data
        args = [a.detach().requires_grad_(a.requires_grad) if isinstance(a, T.Tensor)
                and a.requires_grad else a for a in self.args]
        with _ReplayRng(self.rng_state), enable_grad(), \
                saved_tensors_hooks(pack, lambda _: None):
            self.function(*args, **self.kwargs)
        if len(values) != self.count:
            raise RuntimeError(
                f"torch.utils.checkpoint: the recomputation saved {len(values)} tensors but "
                f"the original forward saved {self.count}; the checkpointed function must "
                f"run the same ops when run again.")
        self.values = values
