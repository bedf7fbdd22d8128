"""Custom differentiable functions: ``autograd.Function``, PyTorch's API.

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):                 # or forward(x) + setup_context(ctx, inputs, output)
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):                # one cotangent per output, one grad per input
            y, = ctx.saved_tensors
            return g * y

    y = Exp.apply(x)                         # y.grad_fn: an ExpBackward node (the ctx)

Forward runs with grad mode off.  Backward runs with grad mode off in an ordinary pass and
on under ``create_graph=True``, so a backward written with chainrule ops can itself be
differentiated (mark it ``@once_differentiable`` otherwise).  How the nodes run, several
outputs and batched cotangents: Notes in ``_function_node.py``.

Note [Function saved tensors]: ``save_for_backward`` keeps inputs and other tensors as
they are (with the version they had) and outputs as ``(array, version counter, version,
output index)``, rebuilt on access with this node as grad_fn, so no node <-> output cycle
exists.  ``saved_tensors`` refuses values changed in place since, and values freed by a
backward without ``retain_graph``, with PyTorch's errors.

Note [forward mode]: when ``forward_ad`` tangents are live, ``apply`` calls
``FunctionNode.jvp_rule(*tangents)`` (the class's ``jvp(ctx, *tangents)``, one tangent per
forward input, zeros for tensors without one, None for non-tensors) and attaches the
results to the outputs; tensors given to ``ctx.save_for_forward`` are what
``ctx.saved_tensors`` returns inside ``jvp``.  Batched tangents go one element at a time
unless ``supports_batched_grads``.
"""

from __future__ import annotations

import functools
import inspect
import warnings
import weakref
from collections import namedtuple
from types import SimpleNamespace

import numpy as np

from .. import _tensor as T
from .._grad_mode import STATE, InferenceVC, is_grad_enabled, no_grad
from ..backend.array_api import np_dtype
from ..backend.batched import LEVELS as _VMAP_LEVELS
from ..backend.batched import BatchedArray
from ..backend.trace import refuse as _refuse
from . import _saved
from ._function_node import ONCE_MSG, DelayedError, FunctionNode, _InputFirst, _OutputSlot
from ._hooks import per_element
from .node import creation_site, describe_site, next_seq

__all__ = ["Function", "FunctionCtx", "once_differentiable", "BackwardCFunction"]


class _State:
    """A Function call's bookkeeping, one attribute of the ctx (``ctx._cfn``)."""

    __slots__ = ("to_save", "fwd_save", "dirty", "non_diff", "materialize", "saved",
                 "arg_tensor", "in_meta", "out_meta", "single", "n_out", "in_jvp",
                 "tangents")

    def __init__(self) -> None:
        self.to_save = ()
        self.fwd_save = ()
        self.dirty = ()
        self.non_diff = ()
        self.materialize = True
        self.saved = ()
        self.single = None
        self.n_out = 1
        self.in_jvp = False
        self.tangents = ()  # ((weakref to a dual level, output tangents), ...)


class FunctionCtx:
    """What ``forward``/``setup_context`` use to prepare the backward."""

    def save_for_backward(self, *tensors) -> None:
        """Keep tensors (inputs, outputs or others; None allowed) for backward."""
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, T.Tensor):
                raise TypeError(f"save_for_backward can only save variables, but argument "
                                f"{i} is of type {type(t).__name__}")
        self._cfn.to_save = tensors

    def save_for_forward(self, *tensors) -> None:
        """Keep tensors for ``jvp``, where ``ctx.saved_tensors`` returns them."""
        self._cfn.fwd_save = tensors

    def mark_dirty(self, *tensors) -> None:
        """Declare inputs that forward changed in place (they must be returned)."""
        self._cfn.dirty = tuple(id(t) for t in tensors)

    def mark_non_differentiable(self, *tensors) -> None:
        """Declare outputs that get no gradient (requires_grad=False)."""
        self._cfn.non_diff = tuple(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        """True (default): backward gets zeros, not None, for unused outputs."""
        self._cfn.materialize = bool(value)

    @property
    def saved_tensors(self):
        st = self._cfn
        if st.in_jvp:
            return tuple(st.fwd_save)
        if st.saved is None:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access "
                "saved tensors after they have already been freed). Saved intermediate "
                "values of the graph are freed when you call .backward() or "
                "autograd.grad(). Specify retain_graph=True if you need to backward "
                "through the graph a second time or if you need to access saved tensors "
                f"after calling backward. ({self.name()} was created at "
                f"{describe_site(self._site)}.)")
        return tuple(self._unpack(e) for e in st.saved)

    saved_variables = saved_tensors

    def _unpack(self, entry):
        if entry is None:
            return None
        kind = entry[0]
        if kind == "t":
            _, t, version = entry
            self._check_version(t._data, t._vc, version, "an input")
            return t
        if kind == "o":
            _, data, vc, version, k = entry
            self._check_version(data, vc, version, f"output {k} of {self.name()}")
            return self._output(data, vc, k)
        _, packed, unpack, k, edge = entry  # "p": went through saved-tensor hooks
        data = _saved.call_unpack(unpack, packed)._data
        if k is not None:
            return self._output(data, [0], k)
        return T.wrap(data, edge) if edge is not None else T.wrap(data)

    def _output(self, data, vc, k):
        st = self._cfn
        node = self if st.single == k else _OutputSlot(self, k, st.n_out)
        t = T.wrap(data, node)
        t._vc = vc
        if st.tangents:  # forward-over-reverse: the output's tangents come back with it
            from . import forward_ad as fw
            for ref, tangents in st.tangents:
                lv = ref()
                if lv is not None and lv in fw.STATE.levels and tangents[k] is not None:
                    fw.set_tangent(t, tangents[k], lv)
        return t

    def _check_version(self, data, vc, version, what):
        if vc[0] != version:
            from .._dtype import from_numpy_dtype
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified "
                f"by an inplace operation: [{from_numpy_dtype(data.dtype)} "
                f"{list(data.shape)}], which is {what}, is at version {vc[0]}; expected "
                f"version {version} instead. It was saved with ctx.save_for_backward by "
                f"{self.name()} (created at {describe_site(self._site)}) and changed in "
                f"place after that. Fix: use out-of-place ops or save a .clone().")


class BackwardCFunction(FunctionNode, FunctionCtx):
    """Base of the ``<Name>Backward`` node classes (PyTorch's name)."""


class Function:
    """Base class of custom differentiable operations; call them with ``.apply``.

    Subclasses define static ``forward`` and ``backward`` (see the module docstring),
    optionally ``setup_context``, ``jvp``, and the class flag ``supports_batched_grads``
    (backward handles leading batch dims of its cotangents itself).
    """

    supports_batched_grads = False
    # under vmap: True runs forward/backward on the batched tensors (every op batches
    # itself); otherwise a ``vmap`` staticmethod must say how, as in PyTorch
    generate_vmap_rule = False

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls._backward_cls = type(cls.__name__ + "Backward", (BackwardCFunction,),
                                 {"_forward_cls": cls, "__module__": cls.__module__})
        cls._new_style = cls.setup_context is not Function.setup_context
        cls._signature = None

    def __init__(self, *args, **kwargs) -> None:
        warnings.warn(f"{type(self)} should not be instantiated. Methods on autograd "
                      f"functions are all static, so you should invoke them on the class "
                      f"itself.", DeprecationWarning, stacklevel=2)

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method "
                                  "for your custom autograd.Function to use it with "
                                  "backward mode AD.")

    vjp = backward

    @staticmethod
    def vmap(info, in_dims, *args):
        """``(output, out_dims)`` of the function on inputs whose batch sits at
        ``in_dims`` (None: not batched); ``info.batch_size``, ``info.randomness``."""
        raise NotImplementedError("To use autograd.Function with vmap, you must either "
                                  "override the vmap staticmethod or set "
                                  "generate_vmap_rule=True.")

    @staticmethod
    def jvp(ctx, *grad_inputs):
        raise NotImplementedError("You must implement the jvp function for custom "
                                  "autograd.Function to use it with forward mode AD.")

    @classmethod
    def _user_backward(cls, ctx, *grads):
        if cls.backward is Function.backward and cls.vjp is not Function.vjp:
            return cls.vjp(ctx, *grads)
        return cls.backward(ctx, *grads)

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run ``forward`` and record a ``<Name>Backward`` node for the outputs."""
        if cls is Function:
            raise NotImplementedError("You must implement the forward function for custom "
                                      "autograd.Function.")
        _refuse(f"the custom autograd.Function {cls.__name__}")
        if _VMAP_LEVELS and any(isinstance(a, T.Tensor) and type(a._data) is BatchedArray
                                for a in args):
            if not _PLAIN_ONCE[0]:
                return _apply_under_vmap(cls, args, kwargs)
            _PLAIN_ONCE[0] = False
        if cls._new_style:
            if cls._signature is None:
                cls._signature = inspect.signature(cls.forward)
            bound = cls._signature.bind(*args, **kwargs)
            bound.apply_defaults()
            args, kwargs = bound.args, bound.kwargs
        from .forward_ad import STATE as fw
        ctx = _new_ctx(cls, args)
        record = STATE.enabled and any(ctx.needs_input_grad)
        prev, prev_limit = STATE.enabled, fw.limit
        STATE.enabled = False
        fw.limit = 0  # forward's own ops push no tangents: jvp() gives them
        try:
            if cls._new_style:
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        finally:
            STATE.enabled = prev
            fw.limit = prev_limit
        result = _wrap_outputs(ctx, args, output, record)
        if fw.on:
            _push_tangents(ctx, args, result)
        return result


VmapInfo = namedtuple("VmapInfo", ["batch_size", "randomness"])


def _apply_under_vmap(cls, args, kwargs):
    """``cls.apply`` on batched tensors, by PyTorch's rules: a ``vmap`` staticmethod gets
    the inputs with their batch dim showing (at 0) and says where the outputs' batch is;
    ``generate_vmap_rule=True`` runs forward and backward on the batched tensors."""
    if not cls._new_style:
        raise RuntimeError("In order to use an autograd.Function with functorch transforms "
                           "(vmap, grad, jvp, jacrev, ...), it must override the "
                           "setup_context staticmethod. For more details, please see "
                           "https://pytorch.org/docs/main/notes/extending.func.html")
    if cls.generate_vmap_rule:  # the ordinary path, on the batched data
        _PLAIN_ONCE[0] = True
        return cls.apply(*args, **kwargs)
    if cls.vmap is Function.vmap:
        raise RuntimeError(f"You tried to vmap over {cls.__name__}, but it does not have vmap "
                           f"support. Please override and implement the vmap staticmethod or "
                           f"set generate_vmap_rule=True. For more details, please see "
                           f"https://pytorch.org/docs/main/notes/extending.func.html")
    from ..ops.batching import add_batch_dim, remove_batch_dim
    level, size, randomness = _VMAP_LEVELS[-1]
    shown, in_dims = [], []
    for a in args:
        if isinstance(a, T.Tensor) and type(a._data) is BatchedArray and \
                a._data.level == level:
            shown.append(remove_batch_dim(a, level, 0, size))
            in_dims.append(0)
        else:
            shown.append(a)
            in_dims.append(None)
    out, out_dims = cls.vmap(VmapInfo(size, randomness), tuple(in_dims), *shown, **kwargs)
    single = not isinstance(out, tuple)
    outs = (out,) if single else out
    dims = (out_dims,) * len(outs) if not isinstance(out_dims, tuple) else out_dims
    if len(dims) != len(outs):
        raise RuntimeError(f"{cls.__name__}.vmap returned {len(outs)} outputs but "
                           f"{len(dims)} out_dims")
    res = tuple(o if d is None or not isinstance(o, T.Tensor) else
                add_batch_dim(o, level, d % max(o.dim(), 1), size) for o, d in zip(outs, dims))
    return res[0] if single else res


# set by _apply_under_vmap just before it calls apply again for generate_vmap_rule
_PLAIN_ONCE = [False]


def _new_ctx(cls, args) -> BackwardCFunction:
    """The node that serves as ``ctx`` (Note [custom Function nodes])."""
    ctx = object.__new__(cls._backward_cls)
    arg_tensor = tuple(isinstance(a, T.Tensor) for a in args)
    tensors = [a for a in args if isinstance(a, T.Tensor)]
    needs = tuple(a.requires_grad for a in tensors)  # refreshes views' grad_fn
    FunctionNode.__init__(ctx, tuple(a._node if a._rg else None for a in tensors), (), (),
                          (), needs, None)
    st = ctx._cfn = _State()
    st.arg_tensor = arg_tensor
    st.in_meta = tuple((a._data.shape, a._data.dtype) for a in tensors)
    it = iter(needs)
    ctx.needs_input_grad = tuple(next(it) if is_t else False for is_t in arg_tensor)
    return ctx


def _wrap_outputs(ctx, args, output, record):
    """Attach the node to the outputs (PyTorch's rules for dirty, non-differentiable and
    returned-as-is inputs) and keep what ``save_for_backward`` asked for."""
    st = ctx._cfn
    is_tuple = isinstance(output, tuple)
    outs = list(output) if is_tuple else [output]
    input_ids = {id(a) for a in args if isinstance(a, T.Tensor)}
    out_ids = {id(o) for o in outs if isinstance(o, T.Tensor)}
    if any(d not in out_ids for d in st.dirty):
        raise RuntimeError("Some elements marked as dirty during the forward method were not "
                           "returned as output. The inputs that are modified inplace must all "
                           "be outputs of the Function.")
    st.n_out = len(outs)
    st.out_meta = tuple((o._data.shape, o._data.dtype) if isinstance(o, T.Tensor) else None
                        for o in outs)
    if not record:
        return output
    ctx._seq = next_seq()
    ctx._site = creation_site()
    diff = [k for k, o in enumerate(outs) if isinstance(o, T.Tensor)
            and id(o) not in st.non_diff and np_dtype(o._data.dtype).kind == "f"]
    st.single = diff[0] if len(diff) == 1 else None
    originals = list(outs)
    for k, o in enumerate(outs):
        if not isinstance(o, T.Tensor):
            continue
        if k not in diff:
            if (id(o) in input_ids and id(o) not in st.dirty) or o._rg:
                outs[k] = _alias(o)  # PyTorch: a view of the input, without grad
            continue
        node = ctx if st.single is not None else _OutputSlot(ctx, k, st.n_out)
        if id(o) in st.dirty:
            _rebase(ctx, o, node, args)
        else:
            if id(o) in input_ids:
                o = outs[k] = _alias(o)  # an input returned as is: a new tensor on it
            o._node = node
            o._rg = True
    st.saved = tuple(_save_entry(ctx, t, originals, diff, input_ids) for t in st.to_save)
    st.to_save = ()
    return tuple(outs) if is_tuple else outs[0]


def _alias(t):
    a = T.wrap(t._data)
    a._vc = t._vc
    return a


def _rebase(ctx, t, node, args):
    """``t`` was changed in place by forward (``mark_dirty``): its history is now ``node``."""
    if t._rg and t.is_leaf:
        raise RuntimeError("a leaf Variable that requires grad has been used in an in-place "
                           "operation.")
    t._vc[0] += 1  # PyTorch bumps a dirty tensor's version once more
    if t._view is None:
        t._node = node
        t._rg = True
        return
    if node is not ctx:
        raise RuntimeError(
            "If your Function modifies inplace an input that is a view of another Tensor, "
            "your Function cannot return more than one Tensor. This is not supported by the "
            "current autograd engine. You should either make sure the input is not a view "
            "(using .clone() for example) or make your Function only return one Tensor.")
    from ..ops._core import CopySlices, _check_leaf_inplace
    tensors = [a for a in args if isinstance(a, T.Tensor)]
    j = next(i for i, a in enumerate(tensors) if a is t)
    base, steps, _ = t._view
    _check_leaf_inplace(t, SimpleNamespace(name=ctx.name()))
    fn = ctx if j == 0 else _InputFirst(ctx, j)
    base._node = CopySlices(base, fn, steps)
    base._rg = True
    t._rg = True


def _save_entry(ctx, t, outputs, diff, input_ids):
    """One saved value (Note [Function saved tensors])."""
    if t is None:
        return None
    st = ctx._cfn
    k = next((k for k in diff if outputs[k] is t), None)
    if k is not None and id(t) in input_ids and id(t) not in st.dirty:
        k = None  # an input that was also returned as is: saved as the input
    if k is None and type(t._vc) is InferenceVC:
        _saved.check_inference(t._vc)
    hooks = _saved.HOOKS.stack
    if hooks:
        pack, unpack = hooks[-1]
        arg = t if k is None else _output_tensor(ctx, t, k)
        edge = t._node if k is None and t._rg else None
        return ("p", _saved.call_pack(pack, arg), unpack, k, edge)
    if k is None:
        return ("t", t, t._vc[0])
    return ("o", t._data, t._vc, t._vc[0], k)


def _output_tensor(ctx, t, k):
    return ctx._output(t._data, t._vc, k)


# ---- forward mode (Note [forward mode]) ------------------------------------------------------

def _push_tangents(ctx, args, result):
    from . import forward_ad as fw
    outs = result if isinstance(result, tuple) else (result,)
    for lv in fw.STATE.levels[:fw.STATE.limit]:  # outer levels first, as forward_ad.push
        ts = [fw.get_tangent(a, lv) if isinstance(a, T.Tensor) else None for a in args]
        if all(t is None for t in ts):
            continue
        batch_like = next(t for t in ts if t is not None)
        nb = lv.nb
        tangents = []
        for a, t in zip(args, ts):
            if not isinstance(a, T.Tensor):
                tangents.append(None)
            elif t is None:
                z = np.zeros(tuple(batch_like.shape[:nb]) + a._data.shape, a._data.dtype)
                tangents.append(z if lv.index == 0 else T.wrap(z))
            else:
                tangents.append(t)
        saved_limit = fw.STATE.limit
        fw.STATE.limit = lv.index
        try:
            if nb and not ctx._forward_cls.supports_batched_grads:
                res = per_element(lambda row: list(_jvp_once(ctx, row, len(outs))),
                                  tangents, nb)
            else:
                res = _jvp_once(ctx, tangents, len(outs))
        finally:
            fw.STATE.limit = saved_limit
        kept = []
        for o, r in zip(outs, res):
            if r is None or not isinstance(o, T.Tensor) or np_dtype(o._data.dtype).kind != "f":
                kept.append(None)
                continue
            if isinstance(r, T.Tensor) and lv.index == 0 and not r._rg:
                r = r._data  # stored raw unless reverse mode must see it (forward_ad)
            fw.set_tangent(o, r, lv)
            kept.append(r)
        st = ctx._cfn
        st.tangents = st.tangents + ((weakref.ref(lv), tuple(kept)),)


def _jvp_once(ctx, tangents, n_out):
    args = [None if t is None else t if isinstance(t, T.Tensor) else T.wrap(t)
            for t in tangents]
    res = ctx.jvp_rule(*args)
    if len(res) != n_out:
        raise RuntimeError(f"function {ctx.name()}: jvp returned {len(res)} tangents, "
                           f"expected {n_out} (one per forward output)")
    return list(res)


# ---- once_differentiable -------------------------------------------------------------------

def once_differentiable(fn):
    """Mark a backward that is not itself differentiable: it runs under ``no_grad``, and
    differentiating its results again raises PyTorch's error instead of giving a
    silently wrong (zero) second derivative."""

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        with no_grad():
            outputs = fn(ctx, *args)
        if not is_grad_enabled():
            return outputs
        edges = tuple(a._node for a in args if isinstance(a, T.Tensor) and a.requires_grad)
        if not edges:
            return outputs
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        wrapped = tuple(o if not isinstance(o, T.Tensor)
                        else T.wrap(o._data, DelayedError(ONCE_MSG, edges)) for o in outs)
        return wrapped[0] if single else wrapped
    return wrapper
