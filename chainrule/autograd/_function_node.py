"""The graph nodes of custom Functions (``function.py``): what the engine runs.

Note [custom Function nodes]: the ``ctx`` a Function's forward fills *is* its node, an
instance of ``<Name>Backward`` (as in PyTorch, ``y.grad_fn.saved_tensors`` works).  Its
``op`` is None, so the engine calls ``apply(xp, g)`` (raw arrays; the user's backward
gets Tensors wrapping them and runs with grad mode off) or, under ``create_graph``,
``apply_differentiable(xp, g)`` (Tensors; the backward runs with grad mode on, so a
backward written with chainrule ops is recorded and can be differentiated again).

Note [multi-output Functions]: engine nodes have one output.  A Function with one
differentiable output uses its node directly; with several, output ``k`` gets a small
``_OutputSlot`` node whose only edge is the Function's node.  A slot passes a
``GradPack`` with its cotangent in slot ``k``; packs reaching the node are added slot by
slot, and the node, which has a smaller sequence number than its slots, runs after all
of them: the user's backward is called once, with every output's cotangent.  Tensor
hooks and ``retain_grad`` of output ``k`` live on its slot; ``grad_fn`` of every output
is the Function's node (``Node._gather``), as in PyTorch.

Note [batched cotangents in custom backward]: a Function's backward is user code written
for one cotangent.  Unless the class sets ``supports_batched_grads = True`` (its backward
then gets and returns leading batch dims), a batched pass (``is_grads_batched``,
Jacobians) calls it once per batch element and stacks the results, so a batched Jacobian
is never silently wrong.
"""

from __future__ import annotations

import numpy as np

from .. import _tensor as T
from .._dtype import grad_dtype
from .._grad_mode import STATE
from ._hooks import GradPack, per_element
from .node import Node


def _unbatched(xp):
    """The same kind of namespace without batch dims."""
    from ..backend.numpy_backend import RAW, NumpyNamespace
    if isinstance(xp, NumpyNamespace):
        return RAW
    from ..backend.tensor_backend import TensorNamespace
    return TensorNamespace.get(0)


class FunctionNode(Node):
    """Base of every ``<Name>Backward`` class; instances are also the Functions' ``ctx``
    (attributes users set on ``ctx`` live in the instance ``__dict__``)."""

    op = None
    _forward_cls = None  # the Function subclass

    def apply(self, xp, g):
        return self._run(xp, g, False)

    def apply_differentiable(self, xp, g):
        return self._run(xp, g, True)

    def _release(self):
        self._cfn.saved = None

    def _run(self, xp, g, differentiable):
        st = self._cfn
        if type(g) is GradPack:
            grads = g.grads
        else:
            grads = [None] * st.n_out
            grads[st.single] = g
        nb = xp.nb
        if nb and not self._forward_cls.supports_batched_grads:
            # Note [batched cotangents in custom backward]
            xp0 = _unbatched(xp)
            n_in = len(self._next)

            def call(row):
                return list(self._call_backward(xp0, row, differentiable))
            rows = per_element(call, grads, nb)
            return tuple(rows[:n_in])
        return self._call_backward(xp, grads, differentiable)

    def _call_backward(self, xp, grads, differentiable):
        st = self._cfn
        nb = xp.nb
        grads = list(grads)
        if st.materialize:
            some = next(x for x in grads if x is not None)
            batch = tuple(some.shape[:nb])
            for k, meta in enumerate(st.out_meta):
                if grads[k] is None and meta is not None:
                    z = np.zeros(batch + meta[0], meta[1])
                    grads[k] = T.wrap(z) if differentiable else z
        args = [None if x is None else x if isinstance(x, T.Tensor) else T.wrap(x)
                for x in grads]
        prev = STATE.enabled
        STATE.enabled = differentiable
        try:
            res = self._forward_cls._user_backward(self, *args)
        finally:
            STATE.enabled = prev
        return self._check_grads(res, xp, differentiable)

    def _check_grads(self, res, xp, differentiable):
        """PyTorch's validation of a backward's results; returns one cotangent per tensor
        input, summed to the input's shape and cast to its gradient dtype."""
        st = self._cfn
        name = self.name()
        if not isinstance(res, tuple):
            res = (res,)
        n_args = len(st.arg_tensor)
        if len(res) != n_args:
            if len(res) > n_args and all(r is None for r in res[n_args:]):
                res = res[:n_args]
            else:
                raise RuntimeError(f"function {name} returned an incorrect number of "
                                   f"gradients (expected {n_args}, got {len(res)})")
        nb = xp.nb
        out = []
        j = 0
        for i, r in enumerate(res):
            if not st.arg_tensor[i]:
                if r is not None:
                    raise RuntimeError(
                        f"function {name} returned a gradient different than None at "
                        f"position {i + 1}, but the corresponding forward input was not a "
                        f"Variable")
                continue
            shape, dtype = st.in_meta[j]
            need = self._needs[j]
            j += 1
            if r is None or not need:
                out.append(None)
                continue
            if not isinstance(r, T.Tensor):
                raise RuntimeError(f"expected Variable or None (got {type(r).__name__})")
            got = tuple(r.shape)
            a = r if differentiable else r._data
            if len(got) < nb or got[nb:] != shape:
                if len(got) < nb or not _expandable(shape, got[nb:]):
                    raise RuntimeError(
                        f"Function {name} returned an invalid gradient at index {j - 1} - "
                        f"got {list(got)} but expected shape compatible with {list(shape)}")
                a = xp.sum_to(a, shape)
            want = grad_dtype(dtype)
            have = a._data.dtype if differentiable else a.dtype
            if have != want:
                a = xp.astype(a, want)
            out.append(a)
        return tuple(out)

    # -- forward mode ---------------------------------------------------------------------
    def jvp_rule(self, *tangents):
        """The output tangents for the inputs' ``tangents`` (Tensors, or None for
        non-tensor inputs), from the Function's ``jvp(ctx, *tangents)``; a tuple with
        one entry per forward output (Note [forward mode] in function.py)."""
        st = self._cfn
        st.in_jvp = True
        try:
            res = self._forward_cls.jvp(self, *tangents)
        finally:
            st.in_jvp = False
        return res if isinstance(res, tuple) else (res,)


def _expandable(shape, got) -> bool:
    try:
        return np.broadcast_shapes(tuple(shape), tuple(got)) == tuple(got)
    except ValueError:
        return False


class _OutputSlot(Node):
    """Output ``k`` of a multi-output Function (Note [multi-output Functions])."""

    __slots__ = ("_gather", "_k", "_n")
    op = None

    def __init__(self, fn: FunctionNode, k: int, n: int) -> None:
        Node.__init__(self, (fn,), (), (), (), (True,), fn._site)
        self._gather = fn
        self._k = k
        self._n = n

    def name(self) -> str:
        return self._gather.name()

    def apply(self, xp, g):
        return (GradPack.one(self._n, self._k, g),)

    apply_differentiable = apply

    def _release(self):
        pass


class _InputFirst(Node):
    """A Function's node seen with its input ``j`` first, so ``CopySlices`` can rewrite
    the history of a view the Function changed in place (``ctx.mark_dirty``)."""

    __slots__ = ("_fn", "_j")
    op = None

    def __init__(self, fn: FunctionNode, j: int) -> None:
        order = [j] + [i for i in range(len(fn._next)) if i != j]
        Node.__init__(self, tuple(fn._next[i] for i in order), (), (), (),
                      tuple(fn._needs[i] for i in order), fn._site)
        self._fn = fn
        self._j = j

    def _order(self, grads):
        j = self._j
        return (grads[j],) + tuple(grads[:j]) + tuple(grads[j + 1:])

    def apply(self, xp, g):
        return self._order(self._fn.apply(xp, g))

    def apply_differentiable(self, xp, g):
        return self._order(self._fn.apply_differentiable(xp, g))

    def _release(self):
        self._fn._release()


ONCE_MSG = ("trying to differentiate twice a function that was marked with "
            "@once_differentiable")


class DelayedError(Node):
    """Raises when backward reaches it: the grad_fn of results of a backward marked
    ``@once_differentiable`` when they are differentiated again."""

    __slots__ = ("_msg",)
    op = None

    def __init__(self, msg: str, next_nodes) -> None:
        from .node import creation_site
        Node.__init__(self, tuple(next_nodes), (), (), (),
                      tuple(n is not None for n in next_nodes), creation_site())
        self._msg = msg

    def apply(self, xp, g):
        raise RuntimeError(self._msg)

    apply_differentiable = apply

    def _release(self):
        pass

