"""Forward-mode AD: dual tensors carry a tangent that every op pushes forward eagerly.

``with forward_ad.dual_level(): y = f(make_dual(x, u)); unpack_dual(y).tangent`` is the
Jacobian-vector product J u, computed with each op's JVP rule (``Op.jvp``, derived from
the partials for elementwise rows) in the same pass as the primal.

Note [dual levels]: levels form a stack.  The tangents of level L are computed with the
ops of the JVP rules themselves running under the outer levels (< L), so nested levels
compose (a tangent of a tangent).  A single level, the common case, runs the rules on raw
arrays.  Tangents may carry leading batch dims (``nb``): ``func.jacfwd`` pushes the whole
identity basis through in one pass.
"""

from __future__ import annotations

import threading
import weakref
from collections import namedtuple

import numpy as np

from .. import _tensor as T
from .._dtype import from_numpy_dtype
from .._grad_mode import STATE as _GRAD
from ..backend.array_api import np_dtype
from ..backend.registry import FOREIGN as _FOREIGN

__all__ = ["dual_level", "make_dual", "unpack_dual", "enter_dual_level", "exit_dual_level",
           "UnpackedDualTensor"]

UnpackedDualTensor = namedtuple("UnpackedDualTensor", ["primal", "tangent"])


class _ThreadLevels(threading.local):
    """This thread's stack of levels (Note [forward-mode state per thread])."""

    def __init__(self) -> None:
        self.levels: list = []
        self.limit = 0  # levels[:limit] propagate; a JVP rule of level L runs with limit = L


_LOCAL = _ThreadLevels()


class _State:
    """``on``: some thread has an open level (the only thing the hot path reads).

    Note [forward-mode state per thread]: the levels and the propagation limit belong to
    the thread that opened them, as PyTorch's forward grads do; ``on`` is one plain flag
    for all threads, so the dispatcher's check stays a plain attribute read, and an op
    in a thread without levels finds an empty stack and pushes nothing."""

    on = False
    open_levels = 0  # over all threads

    @property
    def levels(self) -> list:
        return _LOCAL.levels

    @property
    def limit(self) -> int:
        return _LOCAL.limit

    @limit.setter
    def limit(self, value: int) -> None:
        _LOCAL.limit = value


STATE = _State()
_COUNT_LOCK = threading.Lock()


def _count_level(k: int) -> None:
    with _COUNT_LOCK:
        _State.open_levels += k
        _State.on = _State.open_levels > 0


def tangents_live() -> bool:
    """Some tensor of this thread carries a tangent: a backward pass must then push the
    tangents through its rules (forward-over-reverse)."""
    return any(lv.tangents for lv in _LOCAL.levels)


class _Level:
    __slots__ = ("index", "nb", "tangents", "given", "__weakref__")

    def __init__(self, index: int, nb: int) -> None:
        self.index = index
        self.nb = nb
        self.tangents: dict = {}  # id(tensor) -> (weakref(tensor), tangent)
        # id(raw tangent) -> weakref(the Tensor make_dual got it as): unpack_dual returns
        # that very Tensor, as PyTorch documents
        self.given: dict = {}


def enter_dual_level(nb: int = 0) -> int:
    """Open a new level (the innermost); returns its index."""
    levels = _LOCAL.levels
    level = _Level(len(levels), nb)
    levels.append(level)
    _LOCAL.limit = len(levels)
    _count_level(1)
    return level.index


def exit_dual_level(*, level=None) -> None:
    if not STATE.levels:
        raise RuntimeError("exit_dual_level: no dual level is active")
    if level is not None and level != len(STATE.levels) - 1:
        raise RuntimeError(f"exit_dual_level: can only exit the innermost level "
                           f"({len(STATE.levels) - 1}), got {level}")
    STATE.levels.pop()
    _LOCAL.limit = len(STATE.levels)
    _count_level(-1)


class dual_level:
    """Context manager for a dual level: tangents live until it exits."""

    def __init__(self, nb: int = 0) -> None:
        self._nb = nb

    def __enter__(self) -> int:
        self._index = enter_dual_level(self._nb)
        return self._index

    def __exit__(self, *exc):
        exit_dual_level(level=self._index)
        return False


def _level(level):
    if not STATE.levels:
        raise RuntimeError("make_dual/unpack_dual need an active dual level: use "
                           "`with forward_ad.dual_level():` around the computation")
    return STATE.levels[-1 if level is None else level]


# Note [tangents of views]: a view's tangent is the view of its base's tangent.  Each
# entry remembers the base's tangent it was made against; when an in-place write through
# another view (or into the base) has replaced the base's tangent since, the view's
# tangent is taken again from the base, as PyTorch's views of tangents would show.

def _own_tangent(t, level):
    entry = level.tangents.get(id(t))
    return entry if entry is not None and entry[0]() is t else None


def get_tangent(t, level):
    entry = _own_tangent(t, level)
    view = t._view
    if view is not None:
        base = _own_tangent(view[0], level)
        if base is not None and (entry is None or entry[2] is not base[1]):
            tangent = _namespace(level, base[1]).view_of(base[1], view[1])
            level.tangents[id(t)] = (weakref.ref(t), tangent, base[1])
            return tangent
    return None if entry is None else entry[1]


def attach_view(t) -> None:
    """``t`` has just become a view (``ops._core.view``): the tangents its op pushed were
    made from its base's current ones (Note [tangents of views])."""
    base = t._view[0]
    for lv in STATE.levels:
        entry = _own_tangent(t, lv)
        if entry is not None:
            b = _own_tangent(base, lv)
            lv.tangents[id(t)] = (entry[0], entry[1], None if b is None else b[1])


def set_tangent(t, tangent, level) -> None:
    view = t._view
    base = _own_tangent(view[0], level) if view is not None else None
    level.tangents[id(t)] = (weakref.ref(t), tangent, None if base is None else base[1])


def make_dual(tensor, tangent, *, level=None):
    """A view of ``tensor`` that carries ``tangent`` at the (innermost) dual level."""
    lv = _level(level)
    if not isinstance(tensor, T.Tensor) or not isinstance(tangent, T.Tensor):
        raise TypeError("make_dual expects two Tensors (primal, tangent)")
    want = tuple(tensor.shape)
    got = tuple(tangent.shape)
    if got[len(got) - len(want):] != want or len(got) - len(want) != lv.nb:
        raise RuntimeError(
            f"make_dual: the tangent of shape {list(got)} must have the primal's shape "
            f"{list(want)}" + (f" after {lv.nb} batch dims" if lv.nb else ""))
    if not tensor.is_floating_point():
        raise ValueError(f"make_dual: expected a floating-point primal, got {tensor.dtype}")
    from ..ops.views import reshape
    dual = reshape(tensor, *want) if want else reshape(tensor, ())
    dt = tensor._data.dtype
    if np_dtype(tangent._data.dtype) != np_dtype(dt):
        tangent = tangent.to(from_numpy_dtype(np_dtype(dt)))
    # level 0 keeps raw arrays unless reverse mode must see the tangent's graph
    if lv.index or tangent.requires_grad:
        set_tangent(dual, tangent, lv)
    else:
        set_tangent(dual, tangent._data, lv)
        lv.given[id(tangent._data)] = weakref.ref(tangent)
    return dual


def unpack_dual(tensor, *, level=None) -> UnpackedDualTensor:
    """``(primal, tangent)``; the tangent is None for a tensor without one."""
    if not STATE.levels:
        return UnpackedDualTensor(tensor, None)
    lv = _level(level)
    tan = get_tangent(tensor, lv)
    if tan is not None and not isinstance(tan, T.Tensor):
        ref = lv.given.get(id(tan))
        given = None if ref is None else ref()
        tan = given if given is not None and given._data is tan else T.wrap(tan)
    return UnpackedDualTensor(tensor, tan)


# ---- propagation, called by the dispatcher when STATE.on ------------------------------

def push(op, inputs, datas, out, params) -> None:
    """Set ``out``'s tangent at every propagating level from its inputs' tangents.

    Outer levels go first: a rule of level L that reads ``out`` needs ``out``'s tangents
    at the levels below L already set, or the tangent of the tangent misses them."""
    for lv in STATE.levels[:STATE.limit]:
        ts = [get_tangent(x, lv) if isinstance(x, T.Tensor) else None for x in inputs]
        if all(t is None for t in ts):
            continue
        if not op.differentiable:
            continue
        set_tangent(out, _jvp(op, lv, ts, inputs, datas, out, params), lv)
        _save_tangents(out, inputs, lv)


def move_tangents(dst, src) -> None:
    """After an in-place op, ``dst`` carries the tangents its new value ``src`` has; when
    ``dst`` is a view, its base's tangent gets that region replaced."""
    for lv in STATE.levels:
        tan = get_tangent(src, lv)
        base = dst._view[0] if dst._view is not None else None
        if tan is None:
            # the new value has a zero tangent (x.zero_(), y[0] = 2.0): that matters only
            # where dst or its base had one, which must not survive the write
            like = get_tangent(dst, lv)
            if like is None and base is not None:
                like = get_tangent(base, lv)
            if like is None:
                continue
            tan = _zeros(lv, tuple(like.shape[:lv.nb]) + tuple(dst.shape), dst._data.dtype,
                         dst._data)
        if base is not None:
            steps = dst._view[1]
            old = get_tangent(base, lv)
            if old is None:
                shape = tuple(tan.shape[:lv.nb]) + tuple(base.shape)
                old = _zeros(lv, shape, base._data.dtype, base._data)
            xp = _namespace(lv, old, tan)
            if not isinstance(old, T.Tensor) and not isinstance(tan, T.Tensor) and (
                    type(old) is not np.ndarray or type(tan) is not np.ndarray):
                from ..backend.registry import common_backend  # both on one library
                be = common_backend([old, tan])
                old, tan = (be.asarray(a) if type(a) is np.ndarray else a for a in (old, tan))
                xp = be.xp.with_nb(lv.nb)
            if isinstance(old, T.Tensor) or isinstance(tan, T.Tensor):
                old, tan = _as_tensor(old), _as_tensor(tan)  # Note [reverse over forward]
            set_tangent(base, xp.view_replace(old, steps, tan), lv)
        set_tangent(dst, tan, lv)  # after the base: Note [tangents of views]


def _zeros(lv, shape, dtype, like=None):
    """Zeros for a tangent, on the library of the array ``like``."""
    if like is not None and type(like) is not np.ndarray:
        from ..backend.registry import backend_of
        z = backend_of(like).asarray(np.zeros(shape, np_dtype(dtype)))
    else:
        z = np.zeros(shape, np_dtype(dtype))
    return z if lv.index == 0 else T.wrap(z)


def _namespace(lv, *tangents):
    """The rule namespace of a level: raw arrays at level 0 (unless a tangent there is a
    recorded Tensor), Tensors for nested levels."""
    if lv.index == 0 and not any(isinstance(t, T.Tensor) for t in tangents):
        from ..backend.numpy_backend import RAW
        if _FOREIGN[0] and any(type(t) is not np.ndarray and hasattr(t, "shape")
                               for t in tangents):
            from ..backend.registry import common_backend
            return common_backend([t for t in tangents if hasattr(t, "shape")]).xp.with_nb(
                lv.nb)
        return RAW.with_nb(lv.nb)
    from ..backend.tensor_backend import TensorNamespace
    return TensorNamespace.get(lv.nb)


def _as_tensor(t):
    return t if isinstance(t, T.Tensor) else T.wrap(t)


# Note [reverse over forward]: level 0 runs its rules on raw arrays, the fast path; but
# when an input requires grad (jacrev(jacfwd(f)), a jvp through a model's parameters),
# the tangent is a function of it that reverse mode must differentiate, so the rules run
# on Tensors and are recorded, as PyTorch records forward grads.  A tangent that ends up
# requiring nothing is stored raw again.

def _recorded(lv, ts, inputs) -> bool:
    if lv.index:
        return True
    for t in ts:
        if isinstance(t, T.Tensor):
            return True
    if not _GRAD.enabled:
        return False
    for x in inputs:
        if isinstance(x, T.Tensor) and x._rg:
            return True
    return False


def _jvp(op, lv, ts, inputs, datas, out, params):
    tensors = _recorded(lv, ts, inputs)
    if not tensors:
        from ..backend.numpy_backend import RAW
        xp = RAW.with_nb(lv.nb)
        primals = datas
        if _FOREIGN[0] and any(type(d) is not np.ndarray and hasattr(d, "shape")
                               for d in datas):
            # another library (vmap's, Dask's ...): its rules, and the tangents on it
            from ..backend.registry import NUMPY, common_backend
            be = common_backend([d for d in (*datas, *ts) if hasattr(d, "shape")])
            if be is not NUMPY:
                xp = be.xp.with_nb(lv.nb)
                ts = [be.asarray(t) if type(t) is np.ndarray else t for t in ts]
        result = out._data
    else:
        from ..backend.tensor_backend import TensorNamespace
        xp = TensorNamespace.get(lv.nb)
        # integer and bool inputs (indices, masks) carry no tangent at any level: rules
        # get their raw arrays, as in a first-level run
        primals = [x if isinstance(x, T.Tensor) and np_dtype(x._data.dtype).kind == "f" else d
                   for x, d in zip(inputs, datas)]
        # a floating constant of another library joins the Tensor arithmetic as a Tensor
        # (NumPy's defers to Tensor by itself; array-api-strict's refuses a Tensor)
        primals = [T.wrap(d) if type(d) is not np.ndarray and not isinstance(d, T.Tensor)
                   and hasattr(d, "dtype") and np_dtype(d.dtype).kind == "f" else d
                   for d in primals]
        result = out
        ts = [t if t is None or isinstance(t, T.Tensor) else T.wrap(t) for t in ts]
    saved_limit = STATE.limit
    STATE.limit = lv.index
    try:
        rule = op.jvp if op.jvp is not None else default_jvp(op)
        tan = rule(xp, tuple(ts), *primals, result, *params)
    finally:
        STATE.limit = saved_limit
    dt = np_dtype(out._data.dtype)
    if tan is None or dt.kind != "f":
        return None  # only floating outputs carry tangents (x.long() has none)
    if isinstance(tan, T.Tensor):
        if lv.index == 0 and not tan.requires_grad:
            tan = tan._data  # Note [reverse over forward]: nothing recorded, back to raw
    else:
        if isinstance(tan, (np.ndarray, np.generic)):
            tan = np.asarray(tan)
        if lv.index:
            tan = T.wrap(tan)
    if np_dtype((tan._data if isinstance(tan, T.Tensor) else tan).dtype) != dt:
        tan = _namespace(lv, tan).astype(tan, dt)
    return tan


def default_jvp(op):
    """The JVP a row gets without writing one: ``Σ t_i * d_i`` for elementwise rows
    (from the partials), the forward on the tangents for linear rows, and for bilinear
    rows the sum over inputs of the forward with that input replaced by its tangent."""
    if op.partials is not None:
        return _elementwise_jvp(op.partials)
    if op.kind == "linear":
        return _linear_jvp(op)
    if op.kind in ("bilinear", "multilinear"):
        return _multilinear_jvp(op)
    raise RuntimeError(
        f"forward-mode AD: the op '{op.name}' has no JVP rule. Use reverse mode "
        f"(backward / autograd.grad / func.jacrev) for it.")


def _floating(x) -> bool:
    d = x._data if isinstance(x, T.Tensor) else x
    return np_dtype(d.dtype).kind == "f"


def _apply_recorded(op, nb, operands, batched, params):
    """``op``'s forward on Tensor ``operands`` (nested levels, Note [reverse over
    forward]), recorded so that outer levels see it; ``batched[i]``: operand i carries the
    ``nb`` leading batch dims (tangents do, primals and indices do not)."""
    from ..ops._record import nary
    raw_operands = operands
    operands = [x if isinstance(x, T.Tensor) else T.wrap(x) for x in operands]

    def call(xs):
        return op.apply1(xs[0], *params) if len(xs) == 1 else nary(op, xs, params)
    if nb == 0:
        return call(operands)
    if not op.legacy:
        # the forward on the differentiable namespace, which takes the batch dims: each
        # word it calls is a recorded row.  A forward using a word that namespace lacks
        # is applied slice by slice below.
        from ..backend.tensor_backend import TensorNamespace
        try:
            return op.forward_on(TensorNamespace.get(nb))(*raw_operands, *params)
        except AttributeError:
            pass
    from ..ops.shape import stack
    like = operands[batched.index(True)]
    lead = tuple(like.shape[:nb])
    flat = [x.reshape((-1, *x.shape[nb:])) if b else x for x, b in zip(operands, batched)]
    res = stack([call([x[i] if b else x for x, b in zip(flat, batched)])
                 for i in range(flat[batched.index(True)].shape[0])])
    return res.reshape((*lead, *res.shape[1:]))


def _linear_jvp(op):
    """A linear row is linear in its data inputs together: its JVP is its forward on the
    tangents, zeros standing for the inputs that have none.  In a row of fixed arity an
    integer or bool input is an index or a mask, a constant passed as is; a variadic
    row's inputs (cat, stack) are all data."""
    def jvp(xp, ts, *args):
        n = len(ts)
        primals, params = args[:n], args[n + 1:]
        like = next(t for t in ts if t is not None)
        variadic = n != op.nin
        operands, batched = [], []
        for t, x in zip(ts, primals):
            if t is None and (variadic or _floating(x)):
                t = xp.zeros(like, tuple(x.shape))
            operands.append(x if t is None else t)
            batched.append(t is not None)
        if any(isinstance(t, T.Tensor) for t in ts):  # nested levels: record
            return _apply_recorded(op, xp.nb, operands, batched, params)
        if not op.legacy:
            # forwards take xp.nb leading batch dims (Note [forwards on xp] in ops/_core.py)
            return op.forward_on(xp)(*operands, *params)
        if n != 1:
            raise RuntimeError(f"forward-mode AD: the op '{op.name}' takes several tensors "
                               f"and has no JVP rule")
        nb = xp.nb
        t = operands[0]
        lead = t.shape[:nb]
        flat = t.reshape((int(np.prod(lead)),) + t.shape[nb:])
        res = np.stack([op.forward(f, *params) for f in flat])
        return res.reshape(lead + res.shape[1:])
    return jvp


def _multilinear_jvp(op):
    """A row linear in each floating input when the others are held fixed (bilinear:
    ``a @ b``; einsum): ``Σ_i f(x_1 .. t_i .. x_n)`` over the inputs with a tangent.
    The tangents carry ``xp.nb`` leading batch dims and the primals do not; the forward
    takes batch dims on every operand (Note [forwards on xp]), so in each term the
    other operands are broadcast to the batch.  A row whose forward cannot take them
    (np.matmul reads a batched vector as a matrix) writes its own JVP."""
    def jvp(xp, ts, *args):
        n = len(ts)
        primals, params = args[:n], args[n + 1:]
        nested = any(isinstance(t, T.Tensor) for t in ts)
        nb = xp.nb
        if nb:
            from ..backend.tensor_backend import TensorNamespace
            flat = TensorNamespace.get(0) if nested else xp.with_nb(-nb)
        total = None
        for i, t in enumerate(ts):
            if t is None:
                continue
            operands = [t if j == i else x for j, x in enumerate(primals)]
            batched = [j == i or (nb > 0 and x is not None and _floating(x))
                       for j, x in enumerate(operands)]
            if nb:
                lead = tuple(t.shape[:nb])
                # (the leading ones first: a tangent of x must not meet lead's dims)
                operands = [flat.broadcast_to(flat.reshape(x, (1,) * nb + tuple(x.shape)),
                                              lead + tuple(x.shape)) if b and j != i else x
                            for j, (x, b) in enumerate(zip(operands, batched))]
            if nested:
                term = _apply_recorded(op, nb, operands, batched, params)
            else:
                term = op.forward_on(xp)(*operands, *params)
            total = term if total is None else total + term
        return total
    return jvp


def _elementwise_jvp(partials):

    def jvp(xp, ts, *args):
        n = len(ts)
        primals, out = args[:n], args[n]
        total = None
        for i, t in enumerate(ts):
            if t is None:
                continue
            if xp.nb and primals[i].ndim < out.ndim:
                # leading tangent batch dims must not meet the broadcast input's dims
                pad = (1,) * (out.ndim - primals[i].ndim)
                t = xp.reshape(t, pad + tuple(primals[i].shape))
            p = partials[i](xp, *primals, out)
            if hasattr(p, "dtype") and np_dtype(p.dtype) == np.bool_:
                # a mask (relu, clamp): as the tangent's dtype (bool * float is refused
                # by array-api-strict)
                p = xp.astype(p, np_dtype(t.dtype)) if not isinstance(p, T.Tensor) \
                    else p.to(t.dtype)
            if type(t) is not type(p) and not isinstance(t, T.Tensor) and \
                    not isinstance(p, T.Tensor) and hasattr(p, "shape"):
                term = xp.multiply(t, p)  # two libraries' arrays: the namespace mixes them
            else:
                term = t * p
            total = term if total is None else total + term
        if total is not None and tuple(total.shape[xp.nb:]) != tuple(out.shape):
            # the only tangent came from an input broadcast against a larger one, and its
            # partial is a constant (x + y with y constant): broadcast it to the output
            total = xp.broadcast_to(total, out.shape)
        return total
    return jvp


def _save_tangents(out, inputs, lv) -> None:
    """Remember the tangents of the values a node saved, so a backward run under this
    level (forward-over-reverse) rebuilds saved values as dual tensors."""
    node = out._node
    if node is None or node.op is None or not node._saved:
        return
    n = len(node._next)
    tans = []
    for p, v in enumerate(node._saved):
        if v is None:
            tans.append(None)
        elif p == n:
            tans.append(get_tangent(out, lv))
        else:
            x = inputs[p] if p < len(inputs) else None
            tans.append(get_tangent(x, lv) if isinstance(x, T.Tensor) else None)
    extra = node.extra()
    if extra.metadata.get("_saved_tangents") is None:
        extra.metadata["_saved_tangents"] = {}
    extra.metadata["_saved_tangents"][lv.index] = (weakref.ref(lv), tuple(tans))


def saved_tangents(node):
    """[(level, tangents-per-saved-position)] recorded for ``node`` at live levels."""
    extra = node._extra
    if extra is None:
        return ()
    rec = extra.metadata.get("_saved_tangents")
    if not rec:
        return ()
    out = []
    for ref, tans in rec.values():
        lv = ref()
        if lv is not None and lv in STATE.levels:
            out.append((lv, tans))
    return out
