"""``Optimizer``: the base class of every optimizer (PyTorch's ``torch.optim.Optimizer``).

An optimizer holds ``param_groups`` (a list of dicts, each with ``"params"`` and its
hyper-parameters, missing ones filled from ``defaults``) and ``state`` (a dict from each
parameter to its per-parameter buffers).  ``state_dict()`` / ``load_state_dict()`` use
PyTorch's format: parameters are replaced by integer ids numbered across groups.

Note [raw updates]: ``step()`` runs on the NumPy arrays of the parameters, never through
recorded ops: the update is not differentiated (PyTorch runs it under ``no_grad``), and
a training step must not pay for a Tensor per parameter per step.  Updates write into
``p._data`` in place and bump ``p._vc`` as an in-place op would, so a graph that saved a
parameter before the step refuses to backward through the stale value.  State buffers
(``exp_avg`` ...) are Tensors, as in PyTorch, and are updated through their arrays too.
Temporaries come from one scratch buffer per dtype (``_scratch``), sized to the largest
parameter, so a step allocates nothing after the first.
"""

from __future__ import annotations

import functools
import warnings
from collections import OrderedDict, defaultdict
from copy import deepcopy

import numpy as np

from .._grad_mode import enable_grad
from .._tensor import WRITE_WATCH, Tensor, before_write, wrap
from ..backend.array_api import np_dtype
from ..backend.trace import _ACTIVE as _TRACE_ACTIVE

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a hyper-parameter without a default (``lr`` of some optimizers)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()

_GLOBAL_PRE_HOOKS: OrderedDict = OrderedDict()
_GLOBAL_POST_HOOKS: OrderedDict = OrderedDict()


class _RemovableHandle:
    """Returned by the ``register_*_hook`` methods; ``remove()`` takes the hook out."""

    _next_id = 0

    def __init__(self, hooks: dict) -> None:
        self._hooks = hooks
        self.id = _RemovableHandle._next_id
        _RemovableHandle._next_id += 1

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _register(hooks: dict, hook, prepend: bool = False) -> _RemovableHandle:
    handle = _RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


def register_optimizer_step_pre_hook(hook) -> _RemovableHandle:
    """``hook(optimizer, args, kwargs)`` runs before every optimizer's ``step``."""
    return _register(_GLOBAL_PRE_HOOKS, hook)


def register_optimizer_step_post_hook(hook) -> _RemovableHandle:
    """``hook(optimizer, args, kwargs)`` runs after every optimizer's ``step``."""
    return _register(_GLOBAL_POST_HOOKS, hook)


def _hooked_step(step):
    """Wrap a subclass's ``step``: run step hooks and mark the optimizer as stepped
    (learning-rate schedulers warn when they step first)."""

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        self._opt_called = True
        if self._optimizer_step_pre_hooks or _GLOBAL_PRE_HOOKS:
            for hook in [*_GLOBAL_PRE_HOOKS.values(), *self._optimizer_step_pre_hooks.values()]:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(f"{step} must return None or a tuple of "
                                           f"(new_args, new_kwargs), but got {result}.")
                    args, kwargs = result
        graph = _TRACE_ACTIVE[0]
        if graph is not None:  # chainrule.compile: the update's lines say what they are
            from ..autograd.node import creation_site
            graph.note = (f"{type(self).__name__}.step", creation_site())
        out = step(self, *args, **kwargs)
        if graph is not None:
            graph.note = None
        if self._optimizer_step_post_hooks or _GLOBAL_POST_HOOKS:
            for hook in [*self._optimizer_step_post_hooks.values(), *_GLOBAL_POST_HOOKS.values()]:
                hook(self, args, kwargs)
        return out

    wrapper.hooked = True
    return wrapper


def _typename(obj) -> str:
    if isinstance(obj, Tensor):
        return {"float32": "torch.FloatTensor", "float64": "torch.DoubleTensor",
                "float16": "torch.HalfTensor", "int64": "torch.LongTensor",
                "int32": "torch.IntTensor", "bool": "torch.BoolTensor"}.get(
                    obj._data.dtype.name, "torch.Tensor")
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


class Optimizer:
    """Base class for all optimizers.

    Parameters
    ----------
    params : iterable
        Tensors to optimize, ``(name, tensor)`` pairs, or dicts defining parameter
        groups (``{"params": [...], "lr": ...}``).  Use an ordered collection (a list),
        not a set: state is matched to parameters by position.
    defaults : dict
        Default hyper-parameters for groups that do not set them.
    """

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "hooked", False):
            cls.step = _hooked_step(step)

    def __init__(self, params, defaults: dict) -> None:
        self.defaults = defaults
        self._optimizer_step_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict = OrderedDict()
        self._optimizer_state_dict_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_state_dict_post_hooks: OrderedDict = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_load_state_dict_post_hooks: OrderedDict = OrderedDict()
        self._scratch: dict = {}
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable "
                            "of Tensors or dicts, but got " + _typename(params))
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    # -- pickling and printing -------------------------------------------------------
    def __getstate__(self) -> dict:
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for name in ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks",
                     "_optimizer_state_dict_pre_hooks", "_optimizer_state_dict_post_hooks",
                     "_optimizer_load_state_dict_pre_hooks",
                     "_optimizer_load_state_dict_post_hooks"):
            self.__dict__.setdefault(name, OrderedDict())
        self.__dict__.setdefault("_scratch", {})
        self.defaults.setdefault("differentiable", False)

    def __repr__(self) -> str:
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines) + "\n)"

    # -- parameter groups --------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own hyper-parameters (fine-tuning:
        unfreeze layers and hand them to the optimizer as training goes on)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered "
                            "collections, but the ordering of tensors in sets will change "
                            "between runs. Please use a list instead.")
        else:
            params = list(params)
        tensors, names = [], []
        for param in params:
            if isinstance(param, tuple):
                names.append(param[0])
                tensors.append(param[1])
            else:
                tensors.append(param)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. Some "
                                 "param names are missing")
            param_group["param_names"] = names
        for i, param in enumerate(tensors):
            _check_param(param, i)
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            param_group.setdefault(name, default)
        ids = {id(p) for p in tensors}
        if len(ids) != len(tensors):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "in future, this will cause an error; see "
                          "github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        for group in self.param_groups:
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError(f"all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
            if not ids.isdisjoint(id(p) for p in group["params"]):
                raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # -- gradients ---------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors: to ``None`` by default (then an
        optimizer skips a parameter that gets no gradient), else to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad
                if g is None:
                    continue
                if set_to_none:
                    p._grad = None
                else:
                    if g._node is not None:
                        g._node = None
                        g._rg = False
                    g._data.fill(0)
                    g._vc[0] += 1

    def step(self, closure=None):
        """Perform one optimization step; ``closure`` re-evaluates the model and returns
        the loss (needed by LBFGS, optional elsewhere)."""
        raise NotImplementedError

    def _closure_loss(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _set_group_defaults(self, *pairs) -> None:
        """``__setstate__`` of an older pickle: fill each group's missing
        ``(key, default)`` pairs."""
        for group in self.param_groups:
            for key, default in pairs:
                group.setdefault(key, default)

    def _decayed_grad(self, w: np.ndarray, g: np.ndarray, maximize: bool,
                      weight_decay) -> np.ndarray:
        """The gradient an update uses: ``-g`` when ``maximize``, plus ``weight_decay·θ``
        (torch: ``grad.add(param, alpha=weight_decay)``).  Returns ``g`` itself when
        neither applies, else scratch slot 1 (slot 0 is clobbered)."""
        if maximize:
            g = np.negative(g, out=self._tmp(w, 1))
        if weight_decay != 0:
            t = self._tmp(w, 0)
            np.multiply(w, weight_decay, out=t)
            g = np.add(g, t, out=self._tmp(w, 1))
        return g

    def _tmp(self, arr: np.ndarray, slot: int = 0) -> np.ndarray:
        """A scratch array shaped and typed like ``arr`` (Note [raw updates]).  Its
        contents are garbage; ``slot`` picks one of several independent buffers.  In a
        call ``chainrule.compile`` traces (``arr`` traced), a new traced array, so every
        write into it is part of the program."""
        if type(arr) is not np.ndarray:
            from ..backend.array_api import np_dtype
            return arr.__array_namespace__().empty(tuple(arr.shape), dtype=np_dtype(arr.dtype))
        scratch = self._scratch
        view = scratch.get((arr.shape, arr.dtype, slot))
        if view is None:
            key = (arr.dtype, slot)
            buf = scratch.get(key)
            if buf is None or buf.size < arr.size:
                # a bigger buffer: drop the views of the old one (they would pin it)
                for k in [k for k in scratch if len(k) == 3 and k[1:] == key]:
                    del scratch[k]
                buf = scratch[key] = np.empty(max(arr.size, 1), arr.dtype)
            view = scratch[(arr.shape, arr.dtype, slot)] = buf[:arr.size].reshape(arr.shape)
        return view

    # -- state dicts -------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{"state": {id: {...}}, "param_groups": [{..., "params": [ids]}]}``, the ids
        numbering the parameters across groups in order (PyTorch's format)."""
        for hook in self._optimizer_state_dict_pre_hooks.values():
            hook(self)
        mapping: dict = {}
        start = 0
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v
                 for k, v in self.state.items()}
        state_dict = {"state": state, "param_groups": groups}
        for hook in self._optimizer_state_dict_post_hooks.values():
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a ``state_dict()``: state is matched to this optimizer's parameters by
        position; buffers are copied and cast to each parameter's dtype."""
        state_dict = dict(state_dict)
        for hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        if "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError("optimizer state_dict must have the keys 'state' and "
                             f"'param_groups'; got {sorted(map(str, state_dict))}")
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for g, s in zip(groups, saved_groups):
            if len(g["params"]) != len(s["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the size of optimizer's group")
        id_map = {}
        for g, s in zip(groups, saved_groups):
            id_map.update(zip(s["params"], g["params"]))
        state: defaultdict = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = _cast(param, v)
            else:
                state[k] = v
        new_groups = []
        for group, new in zip(groups, saved_groups):
            new["params"] = group["params"]
            if "param_names" in group and "param_names" not in new:
                new["param_names"] = group["param_names"]
            new_groups.append(new)
        self.__setstate__({"state": state, "param_groups": new_groups})
        for hook in self._optimizer_load_state_dict_post_hooks.values():
            hook(self)

    # -- hooks -------------------------------------------------------------------------
    def register_step_pre_hook(self, hook) -> _RemovableHandle:
        """``hook(optimizer, args, kwargs)`` runs before ``step``; it may return new
        ``(args, kwargs)``."""
        return _register(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook) -> _RemovableHandle:
        """``hook(optimizer, args, kwargs)`` runs after ``step``."""
        return _register(self._optimizer_step_post_hooks, hook)

    def register_state_dict_pre_hook(self, hook, prepend: bool = False):
        return _register(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook, prepend: bool = False):
        return _register(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend: bool = False):
        return _register(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook, prepend: bool = False):
        return _register(self._optimizer_load_state_dict_post_hooks, hook, prepend)


def _check_param(param, index: int) -> None:
    if not isinstance(param, Tensor):
        raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                        + _typename(param))
    if not (param.is_leaf or param.retains_grad):
        raise ValueError("can't optimize a non-leaf Tensor")
    if np_dtype(param._data.dtype).kind != "f":
        from .._dtype import from_numpy_dtype
        raise TypeError(
            f"optimizer can only optimize floating-point Tensors, but parameter {index} of "
            f"the group has dtype {from_numpy_dtype(param._data.dtype)} (shape "
            f"{list(param._data.shape)}): a gradient step cannot be written into integers. "
            f"Convert it first, e.g. p = p.float().requires_grad_().")


def _cast(param: Tensor, value, key=None):
    """A deep copy of a loaded state value; tensors other than ``step`` take the
    parameter's floating dtype (PyTorch's load policy)."""
    if isinstance(value, Tensor):
        arr = value._data
        if key != "step" and arr.dtype.kind == "f":
            arr = arr.astype(param._data.dtype)
        return wrap(arr.copy(order="K"))  # (a method: traced arrays copy too)
    if isinstance(value, dict):
        return {k: _cast(param, v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(param, v) for v in value)
    return value


def step_count(state: dict) -> float:
    """Increment the 0-d float32 ``state["step"]`` tensor in place; return the new count
    (a Python float; in a call ``chainrule.compile`` traces, the traced count in float64,
    so no retrace per step: ``as_factor`` rounds what is computed from it)."""
    arr = state["step"]._data
    arr += 1
    if type(arr) is not np.ndarray:
        return arr.astype(np.float64)
    return float(arr)


def as_factor(value, dtype):
    """A step-dependent factor (``lr / (1 - β₁ᵗ)``) as an update multiplies by it: a
    Python number as it is; a traced float64 value (``step_count``) rounded to the
    parameter's dtype, as NumPy rounds a Python float operand (the same bits)."""
    return value.astype(dtype) if hasattr(value, "astype") else value


def new_step() -> Tensor:
    return wrap(np.zeros((), np.float32))


def init_state(state: dict, like: np.ndarray, *names: str) -> None:
    """A fresh per-parameter state: ``step`` 0, then a zero buffer shaped like the
    parameter for each of ``names`` (in this order, as PyTorch's state dicts list them)."""
    state["step"] = new_step()
    for name in names:
        state[name] = wrap(np.zeros_like(like))


def params_with_grad(group: dict):
    """``(p, p._data, p.grad._data)`` for each parameter of ``group`` that has a
    gradient (Note [raw updates])."""
    for p in group["params"]:
        grad = p._grad
        if grad is not None:
            if WRITE_WATCH:
                before_write(p)  # Note [copy before write] in _tensor.py: p is updated
            yield p, p._data, grad._data


def number(v):
    """A hyper-parameter as a Python number (a one-element Tensor's value); a traced
    call's floats stay what they are (Note [hyper-parameters] in _compile/tracing.py)."""
    if isinstance(v, Tensor):
        return float(v)
    return v if getattr(v, "_traced", False) else float(v)


def bump(p: Tensor) -> None:
    """Record an in-place update of a parameter (Note [raw updates])."""
    p._vc[0] += 1


_HYPER_LABELS = {"lr": "learning rate", "eps": "epsilon value", "momentum": "momentum value",
                 "weight_decay": "weight_decay value", "alpha": "alpha value",
                 "lr_decay": "lr_decay value",
                 "initial_accumulator_value": "initial_accumulator_value value"}


def _check_hyper(**values) -> None:
    """PyTorch's constructor checks: each of these hyper-parameters must be >= 0."""
    for name, value in values.items():
        if isinstance(value, Tensor):
            if value.numel() != 1:
                raise ValueError(f"Tensor {name} must be 1-element")
            value = value.item()
        if not 0.0 <= value:
            raise ValueError(f"Invalid {_HYPER_LABELS[name]}: {value}")


def _ema_sq(avg: np.ndarray, g: np.ndarray, beta: float, tmp: np.ndarray) -> None:
    """``avg.mul_(beta).addcmul_(g, g, value=1 - beta)`` in place."""
    avg *= beta
    np.multiply(g, 1 - beta, out=tmp)
    tmp *= g
    avg += tmp


def _addcdiv(w: np.ndarray, num: np.ndarray, denom: np.ndarray, value: float,
             tmp: np.ndarray) -> None:
    """``w.addcdiv_(num, denom, value=value)`` as ``w + (value·num) / denom``."""
    np.multiply(num, value, out=tmp)
    tmp /= denom
    w += tmp


def _lerp(start: np.ndarray, end: np.ndarray, weight: float, tmp: np.ndarray) -> None:
    """``start.lerp_(end, weight)`` in place, with PyTorch's two-branch formula."""
    np.subtract(end, start, out=tmp)
    if abs(weight) < 0.5:
        tmp *= weight
        start += tmp
    else:
        tmp *= 1 - weight
        np.subtract(end, tmp, out=start)
