"""From a traced graph to two Python functions: the forward and the backward pass.

Note [generated code]: the trace (backend/trace.py) is a list of statements over
numbered variables, the forward's first and the backward's after them.  This module
- folds constants: a statement whose array arguments are all constants is replaced by
  the value the trace computed (the same NumPy call on the same values, so nothing is
  reassociated and the result is bit-identical);
- shares common subexpressions: a call with the same function and the same arguments as
  an earlier one, with no write to memory in between, reuses its result (constants are
  compared by dtype, shape and bytes, so -0.0 and 0.0 stay apart);
- removes dead code, from the outputs back (writes, guards and random draws stay);
- keeps for the backward exactly the forward values its live statements read;
- emits each pass as Python source over NumPy, every line annotated with the op and the
  user's line it came from, and compiles it.
"""

from __future__ import annotations

import linecache
import math
import os
import re

import numpy as np

from ..backend.trace import Stmt, Var

_PURE = ("call", "getitem", "scalar")
_WRITES = ("setitem", "inplace")


class GuardMiss(Exception):
    """A value the trace baked in differs in this call (Note [value guards])."""

    def __init__(self, k) -> None:
        super().__init__(k)
        self.k = k


def _miss(k, undo=()):
    for gen, state in undo:  # (draws made before the guard are given back)
        gen._rng.bit_generator.state = state
    raise GuardMiss(k)


# Note [guards before writes]: a value guard fails in the middle of a forward, and the
# call is then traced again, i.e. run again eagerly.  What the forward did before the
# guard must not be seen twice: when the forward has guards, the inputs it writes into
# are copied on entry and written back just before it returns, and the random
# generators it draws from are put back when a guard fails.
def _atomic(items, lines, fwd_inputs, names, graph, env):
    if not any(s.kind == "guard" for _, s in items):
        return lines
    pro, epi = [], []
    for v, _ in fwd_inputs:
        if v in graph.mutated:
            n = names[v]
            pro.append((f"{n}_in, {n} = {n}, np.copy({n})", "guards below: write a copy"))
            epi.append((f"np.copyto({n}_in, {n})", "every guard held: write back"))
    if any(s.kind == "draw" for _, s in items):
        gens = sorted({s.fn for _, s in items if s.kind == "draw"})
        undo = ", ".join(f"(gen{k}, gen{k}._rng.bit_generator.state)" for k in gens)
        pro.append((f"_undo = ({undo},)", "draws given back if a guard fails"))
        lines = [(_pass_undo(c), n) for c, n in lines]
    return pro + lines + epi


def _pass_undo(code: str) -> str:
    if code.startswith("if ") and code.endswith(")") and "_miss(" in code:
        return code[:-1] + ", _undo)"
    return code


def _same(a, b) -> bool:
    """Equal as Python values, NaN equal to NaN."""
    if type(a) is float and type(b) is float:
        return a == b or (a != a and b != b)
    if type(a) is complex and type(b) is complex:
        return _same(a.real, b.real) and _same(a.imag, b.imag)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _same_array(a, b) -> bool:
    a = np.asarray(a)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    try:
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    except TypeError:
        return bool(np.array_equal(a, b))


class Program:
    """The generated passes of one trace."""

    def __init__(self) -> None:
        self.forward = None
        self.backward = None
        self.forward_source = ""
        self.backward_source = ""
        self.saved: list = []
        self.fresh = False
        self.guards = 0


def _key_of(v, rep):
    """A hashable form of a statement argument (CSE)."""
    t = type(v)
    if t is Var:
        return ("v", rep.get(v.id, v.id))
    if t is tuple or t is list:
        return (t.__name__,) + tuple(_key_of(x, rep) for x in v)
    if t is slice:
        return ("slice", _key_of(v.start, rep), _key_of(v.stop, rep), _key_of(v.step, rep))
    if t is dict:
        return ("dict",) + tuple(sorted((k, _key_of(x, rep)) for k, x in v.items()))
    if t is float:
        return ("f", repr(v))  # -0.0 and 0.0 differ
    try:
        hash(v)
    except TypeError:
        return ("id", id(v))
    return (t.__name__, v)


def _vars_in(v, out):
    t = type(v)
    if t is Var:
        out.append(v.id)
    elif t is tuple or t is list:
        for x in v:
            _vars_in(x, out)
    elif t is slice:
        _vars_in(v.start, out)
        _vars_in(v.stop, out)
        _vars_in(v.step, out)
    elif t is dict:
        for x in v.values():
            _vars_in(x, out)
    return out


def _target(stmt) -> int:
    """The var a write statement writes into."""
    out = stmt.kw.get("out") if stmt.kind == "inplace" else None
    return (out if out is not None else stmt.args[0]).id


_VARS: dict = {}


def _stmt_vars(stmt) -> list:
    """The vars a statement reads (computed once per statement)."""
    if stmt.reads is not None:
        return stmt.reads
    got = _VARS.get(id(stmt))
    if got is None or got[0] is not stmt:
        got = _VARS[id(stmt)] = (stmt, _vars_in((stmt.args, stmt.kw), []))
    return got[1]


def _outs(stmt):
    o = stmt.outs
    if o is None:
        return ()
    return o if type(o) is tuple else (o,)


# Note [buffer reuse]: an elementwise NumPy call may write its result into the memory of
# an argument that nothing reads afterwards (``np.add(v9, b1, out=v9)``), as NumPy by hand
# does with ``+=``: one allocation and one page-faulting pass less per large temporary.
# The argument must own its memory, be made by this function (never an input, a constant,
# a value kept for the backward or returned), have the result's shape and dtype, and no
# view of it may be read later.  Small arrays are left alone (``out=`` costs more than a
# small allocation).
_REUSE_MIN = 4096


def _reuse_plan(items, returned, graph, r, const) -> dict:
    """{statement index: the var whose memory receives its result}."""
    values = graph.values
    if not any(type(values[o]) is np.ndarray and values[o].size >= _REUSE_MIN
               for _, s in items for o in _outs(s)):
        return {}, {}  # (small arrays only: nothing to reuse or free early)
    last = {}
    for j, (_, s) in enumerate(items):
        for v in _stmt_vars(s):
            last[r(v)] = j
    end = len(items)
    for v in returned:
        last[v] = end
    owner = {}     # var -> the buffer (var) whose memory it is
    members = {}   # buffer -> vars living in it
    made = set()   # buffers made by a call of this function
    for _, s in items:
        outs = _outs(s)
        if s.kind in _WRITES:
            b = owner.get(r(_target(s)))
            if b is not None:
                made.discard(b)  # written in place: its contents matter, leave it alone
            continue
        for o in outs:
            root = graph.roots[o]
            b = owner.get(root, root) if root != o else o
            owner[o] = b
            members.setdefault(b, set()).add(o)
            if root == o and s.kind == "call" and o not in const and \
                    isinstance(values[o], np.ndarray) and values[o].base is None:
                made.add(o)
    plan = {}
    owner2 = {}
    for j, (_, s) in enumerate(items):
        if s.kind != "call" or not isinstance(s.fn, np.ufunc) or s.kw or s.as_array or \
                type(s.outs) is not int:
            continue
        out = values[s.outs]
        if not isinstance(out, np.ndarray) or out.size < _REUSE_MIN:
            continue
        for a in s.args:
            if type(a) is not Var:
                continue
            b = owner2.get(r(a.id), owner.get(r(a.id)))
            if b is None or b not in made:
                continue
            val = values[b]
            if val.shape != out.shape or val.dtype != out.dtype:
                continue
            if any(last.get(m, -1) > j for m in members.get(b, ())):
                continue
            plan[j] = r(a.id)
            made.discard(b)
            members[b] = members.get(b, set()) | {s.outs}
            owner2[s.outs] = b
            made.add(b)
            break
    # large temporaries are dropped after their last read, so their memory is reused
    # while it is warm (a name kept to the end would hold it)
    frees: dict = {}
    keep = set(returned)
    for j, (_, s) in enumerate(items):
        if s.kind == "input":
            continue
        for o in _outs(s):
            if r(o) != o or o in keep or o in const:
                continue
            v = values[o]
            if isinstance(v, np.ndarray) and v.size >= _REUSE_MIN:
                frees.setdefault(last.get(o, j), []).append(o)
    return plan, frees


def _ufunc_only_uses(items, returned, r) -> set:
    """Vars read only as arguments of NumPy ufuncs (never returned, written, indexed or
    given to a rule word): a NumPy scalar serves there as well as a 0-d array, so the
    ``np.asarray`` around the call that makes them can go."""
    bad = set(returned)
    seen = set()
    for _, s in items:
        vs = _stmt_vars(s)
        if s.kind == "call" and isinstance(s.fn, np.ufunc) and not s.kw:
            seen.update(r(v) for v in vs)
        elif (s.kind == "setitem" or s.name == "ns.scatter") and type(s.args[0]) is Var:
            # (the value written: a scalar writes the same bits as a 0-d array)
            k = 2 if s.kind == "setitem" else 0
            value = s.args[k]
            if type(value) is Var:
                seen.add(r(value.id))
            bad.update(r(v) for v in _vars_in(s.args[:k] + s.args[k + 1:], []))
        else:
            bad.update(r(v) for v in vs)
    return seen - bad


def _pick_where(s, rep, const, graph):
    """The var ``where(c, a, b)`` reduces to when ``c`` is a constant that is all True
    or all False and the picked operand already has the result's shape and dtype."""
    if len(s.args) != 3 or s.kw:
        return None
    c, a, b = s.args
    if type(c) is not Var or rep.get(c.id, c.id) not in const:
        return None
    cv = np.asarray(const[rep.get(c.id, c.id)])
    if cv.dtype != np.bool_ or cv.size == 0:
        return None
    pick = a if cv.all() else b if not cv.any() else None
    if type(pick) is not Var:
        return None
    p = rep.get(pick.id, pick.id)
    out = graph.values[s.outs]
    val = graph.values[pick.id]
    if val.shape != out.shape or val.dtype != out.dtype:
        return None
    return p


_CONSTS_NOW: list = [{}]  # the constants of the program being generated (_identity)
_SAME_SHAPE_VIEWS = ("np.reshape", "ns.reshape", "np.broadcast_to", "ns.broadcast_to",
                     "ns.sum_to", "ns.expand")


def _identity(s, rep, graph):
    """The argument a call returns unchanged, by shapes and dtypes alone: a rule word
    that gave back its argument itself (``sum_to`` to the same shape, ``astype`` to the
    same dtype), or a reshape/broadcast to the shape it has."""
    if s.kind != "call" or not s.args or type(s.args[0]) is not Var or type(s.outs) is not int:
        return None
    a = s.args[0].id
    out = graph.values[s.outs]
    val = graph.values[a]
    if s.name.startswith("ns.") or s.name == "np.asarray":
        if out is val:
            return rep.get(a, a)
        return None
    if s.name in ("np.pow", "np.power") and len(s.args) == 2 and type(s.args[1]) is Var:
        e = rep.get(s.args[1].id, s.args[1].id)
        if e in _CONSTS_NOW[0] and np.asarray(_CONSTS_NOW[0][e]).shape == () and \
                _CONSTS_NOW[0][e] == 1 and val.shape == out.shape and val.dtype == out.dtype \
                and type(val) is type(out) and graph.roots[s.outs] not in graph.mutated:
            return rep.get(a, a)  # x ** 1 is x, bit for bit (IEEE pow)
    if s.name in _SAME_SHAPE_VIEWS and getattr(val, "shape", None) == out.shape and \
            val.dtype == out.dtype and graph.roots[s.outs] not in graph.mutated:
        return rep.get(a, a)
    return None


# Note [reading through copies]: a write into a tensor in the forward (``y[0, 1] = b``)
# makes the backward copy the cotangent and zero the written region (CopySlices), and a
# later read of another region (``x[0, 0]``'s cotangent) reads that copy.  A read of a
# region the write did not touch reads the same bits from the original, so the read is
# moved there and the copy usually dies.  Only for memory nobody writes into, and for
# regions that are provably disjoint (integer or slice keys).
_READ_THROUGH = frozenset(("ns.copy", "ns.view_replace"))


def _read_through(s, rep, graph, producers):
    """``s`` (a getitem) reading from the original when its source is a copy, or a copy
    with another region replaced (Note [reading through copies])."""
    a = s.args[0]
    if type(a) is not Var or type(s.outs) is not int:
        return s
    roots, mutated = graph.roots, graph.mutated
    key = s.args[1]
    src = rep.get(a.id, a.id)
    moved = False
    while src in producers and roots[src] not in mutated:
        p = producers[src]
        nxt = p.args[0]
        if type(nxt) is not Var:
            break
        if p.name == "ns.view_replace":
            steps, k = p.args[1], p.args[3]
            if k != 0 or len(steps) != 1 or getattr(steps[0][0], "name", None) != \
                    "getitem" or not _disjoint(steps[0][1][0], key,
                                               getattr(graph.values[src], "shape", None)):
                break
        nxt = rep.get(nxt.id, nxt.id)
        if roots[nxt] in mutated:
            break
        src = nxt
        moved = True
    if not moved:
        return s
    roots[s.outs] = roots[src]
    return Stmt(s.kind, s.name, s.fn, (Var(src), key) + s.args[2:], s.kw, s.outs, s.note,
                s.as_array, None)


def _basic_key(key, shape):
    """``key`` as one entry per leading dim (ints made non-negative, slices as ranges),
    or None when it holds anything else or does not fit ``shape``."""
    if type(key) is not tuple:
        key = (key,)
    if key and key[-1] is Ellipsis:
        key = key[:-1]
    if shape is None or len(key) > len(shape):
        return None
    out = []
    for k, n in zip(key, shape):
        if type(k) is int:
            if not -n <= k < n:
                return None
            out.append(k % n)
        elif type(k) is slice:
            out.append(range(*k.indices(n)))
        else:
            return None
    return out


def _disjoint(key1, key2, shape) -> bool:
    """Whether the basic indices ``key1`` and ``key2`` of an array of ``shape`` select
    no common element (some dim where their picks cannot meet)."""
    a, b = _basic_key(key1, shape), _basic_key(key2, shape)
    if a is None or b is None:
        return False
    for x, y in zip(a, b):
        if type(x) is int and type(y) is int:
            if x != y:
                return True
        elif type(x) is int or type(y) is int:
            k, rg = (x, y) if type(x) is int else (y, x)
            if k not in rg:
                return True
        elif not x or not y or (x.step == 1 and y.step == 1 and (
                x.stop <= y.start or y.stop <= x.start)):
            return True
    return False


# Note [inlined powers]: ``x ** c`` runs eagerly as a kernel of the rule namespace
# (backend/pow_kernels.py); on float32/float64 arrays the kernel is a fixed sequence of
# NumPy calls, written out here (the same calls, so the same bits) to save the call.
_POW_WORDS = frozenset(("ns.pow_scalar", "ns.pow_scalar_grad"))
_POW_INLINE = {
    ("ns.pow_scalar", 2): "np.multiply({x}, {x})",
    ("ns.pow_scalar", 3): "np.multiply(np.multiply({x}, {x}), {x})",
    ("ns.pow_scalar", -1): "np.divide(1, {x})",
    ("ns.pow_scalar", -2): "np.divide(1, np.multiply({x}, {x}))",
    ("ns.pow_scalar", 0.5): "np.sqrt({x})",
    ("ns.pow_scalar", -0.5): "np.divide(1, np.sqrt({x}))",
    ("ns.pow_scalar_grad", 2): "np.multiply({x}, 2)",  # (x ** 1 is x, exactly)
    ("ns.pow_scalar_grad", 3): "np.multiply(np.multiply({x}, {x}), 3)",
}


def _inline_pow(s, graph, fmt):
    x, c = s.args
    if type(c) not in (int, float) or type(x) is not Var or s.kw:
        return None
    form = _POW_INLINE.get((s.name, c))
    v = graph.values.get(x.id) if form is not None else None
    if type(v) is not np.ndarray or v.dtype not in (np.float32, np.float64):
        return None
    return form.format(x=fmt(x))


def _plain_scatter(s, graph, r) -> bool:
    """``ns.scatter(g, shape, key, False)`` that is ``zeros(shape); z[key] = g`` (a
    non-empty ``g`` and a basic key), written out to save the call."""
    if len(s.args) != 4 or s.kw or type(s.outs) is not int or r(s.outs) != s.outs:
        return False
    g, shape, key, accumulate = s.args
    if accumulate is not False or type(g) is not Var or type(shape) is not tuple:
        return False
    v = graph.values.get(g.id)
    if not isinstance(v, (np.ndarray, np.generic)) or v.size == 0 or \
            v.dtype.name not in _DTYPE_NAMES:
        return False
    key = key if type(key) is tuple else (key,)
    return all(type(k) in (int, slice) or k is Ellipsis or k is None for k in key) and \
        all(type(k) is not slice or all(type(x) in (int, type(None))
                                        for x in (k.start, k.stop, k.step)) for k in key)


def _copied_outputs(fwd_outputs, r, roots, const, fwd_inputs, saved) -> list:
    """Which outputs the forward returns as a copy: a constant, and an output whose
    memory the simplifications made another's (``x ** 1`` is ``x``, a ``where`` that
    picks one side whole): an input, another output or a value kept for the backward.
    Eager returns new memory there, which the caller may write into."""
    taken = {roots.get(v, v) for v, _ in fwd_inputs}
    taken |= {roots.get(r(v), r(v)) for v in saved}
    copies = []
    for v in fwd_outputs:
        mem = roots.get(r(v), r(v))
        own = roots.get(v, v)
        copy = r(v) in const or mem in const or mem != own and mem in taken
        copies.append(copy)
        taken.add(mem)
    return copies


def _both_returned(outs, hit, roots, fwd_out_set) -> bool:
    """Two equal values that are the memory of two outputs stay two arrays (eager's
    outputs do not share memory: a write into one must not reach the other)."""
    return any(roots.get(o, o) in fwd_out_set and roots.get(h, h) in fwd_out_set and
               roots.get(o, o) != roots.get(h, h) for o, h in zip(outs, hit))


def _const_key(value):
    a = np.asarray(value)
    if a.size > 64 or a.dtype.kind == "O":
        return ("id", id(value))
    return (a.dtype.str, a.shape, a.tobytes())


def generate(graph, split: int, fwd_inputs, fwd_outputs, bwd_inputs, bwd_outputs,
             title: str) -> Program:
    """``fwd_inputs``/``bwd_inputs``: [(var, name)]; ``fwd_outputs``: vars the forward
    returns (with every write it makes to its inputs done in place); ``bwd_outputs``:
    a var or None per differentiable input."""
    stmts = graph.stmts
    mutated = graph.mutated
    roots = graph.roots

    # -- constants, folding, common subexpressions ------------------------------------
    # the backward recomputes rather than keeps a returned value (an in-place write into
    # an output after the call must not reach the backward: eager keeps its own copy)
    fwd_out_set = {roots.get(v, v) for v in fwd_outputs}  # (an output's memory: its root)
    const = {}   # var -> value (a constant of the program)
    _CONSTS_NOW[0] = const
    rep = {}     # var -> the var that holds the same value
    seen = {}    # CSE key -> outs
    const_seen = {}
    version = {}  # root var -> writes into it so far (CSE across writes to other memory)
    producers = {}  # var -> its ns.copy / ns.view_replace statement (_read_through)
    kept = []
    for i, s in enumerate(stmts):
        kind = s.kind
        if kind == "const":
            v = s.outs
            if roots[v] in mutated:
                kept.append((i, s))
                continue
            ck = _const_key(s.args[0])
            hit = const_seen.get(ck)
            if hit is not None:
                rep[v] = hit
            else:
                const_seen[ck] = v
                const[v] = s.args[0]
            continue
        if kind in _WRITES:
            root = roots[_target(s)]
            version[root] = version.get(root, 0) + 1
            kept.append((i, s))
            continue
        if kind == "guard":
            (a,) = _stmt_vars(s)
            if rep.get(a, a) in const:
                continue  # a guard on a constant always holds
            kept.append((i, s))
            continue
        if kind not in _PURE:
            kept.append((i, s))
            continue
        outs = _outs(s)
        if any(roots[o] in mutated and roots[o] == o for o in outs):
            kept.append((i, s))  # a fresh array written later: never shared or folded
            continue
        args = [rep.get(v, v) for v in _stmt_vars(s)]
        if all(a in const for a in args) and all(roots[o] not in mutated for o in outs):
            for o in outs:  # folded: the value the trace computed
                ck = _const_key(graph.values[o])
                hit = const_seen.get(ck)
                if hit is not None:
                    rep[o] = hit
                else:
                    const_seen[ck] = o
                    # (a copy: the traced run hands the value itself to its caller)
                    const[o] = np.array(graph.values[o], copy=True)
            continue
        if kind == "getitem":
            s = _read_through(s, rep, graph, producers)
            args = [rep.get(v, v) for v in _stmt_vars(s)]
        picked = _pick_where(s, rep, const, graph) if s.name == "np.where" else \
            _identity(s, rep, graph)
        if picked is not None:  # where(c, a, b) with a constant c that picks a or b whole
            rep[outs[0]] = picked
            continue
        key = (s.kind, s.name, _key_of(s.args, rep), _key_of(s.kw, rep),
               tuple(version.get(roots[a], 0) for a in args))
        hit = seen.get(key)
        if hit is not None and not (i >= split and any(roots.get(h, h) in fwd_out_set
                                                       for h in hit)) and not (
                i < split and _both_returned(outs, hit, roots, fwd_out_set)):
            for o, h in zip(outs, hit):
                rep[o] = h
            continue
        if hit is None:
            seen[key] = outs
        if kind == "call" and s.name in _READ_THROUGH and type(s.outs) is int:
            producers[s.outs] = s
        kept.append((i, s))

    def r(v):
        return rep.get(v, v)

    # -- dead code, from the outputs back ------------------------------------------------
    def live_pass(items, live):
        out = []
        for i, s in reversed(items):
            outs = _outs(s)
            if s.kind in _WRITES or s.kind in ("guard", "draw") or any(r(o) in live and
                                                                       r(o) == o for o in outs):
                out.append((i, s))
                for v in _stmt_vars(s):
                    live.add(r(v))
        out.reverse()
        return out

    bwd_items = [(i, s) for i, s in kept if i >= split]
    fwd_items = [(i, s) for i, s in kept if i < split]
    blive = {r(v) for v in bwd_outputs if v is not None}
    bwd_items = live_pass(bwd_items, blive)
    bdefined = {r(o) for _, s in bwd_items for o in _outs(s)} | {v for v, _ in bwd_inputs}
    saved = sorted(v for v in blive if v not in bdefined and v not in const)
    flive = {r(v) for v in fwd_outputs} | set(saved)
    fwd_items = live_pass(fwd_items, flive)

    # -- names ---------------------------------------------------------------------------
    names = {}
    used = set()
    for v, name in list(fwd_inputs) + list(bwd_inputs):
        if _RESERVED.match(name) or name in _RESERVED_WORDS:
            name += "_"  # (never a name of the generated code's own)
        base = name
        k = 1
        while name in used:
            k += 1
            name = f"{base}_{k}"
        used.add(name)
        names[v] = name
    n_named = len(names)
    env = {"np": np, "nan": math.nan, "inf": math.inf, "_miss": _miss, "_same": _same,
           "_same_array": _same_array}
    from ..backend.numpy_backend import RAW
    env["ns"] = RAW
    consts_used = {}
    bound = {}
    counts = {}
    copied = {}  # other array constants (written into after a copy, compared by guards)

    def fresh(prefix):
        k = counts.get(prefix, 0)
        counts[prefix] = k + 1
        return f"{prefix}{k}"

    def cname(v):
        value = const[v]
        n = consts_used.get(v)
        if n is None:
            n = consts_used[v] = fresh("c")
            env[n] = value
        return n

    def bind(obj, prefix="k"):
        n = bound.get(id(obj))
        if n is None:
            n = bound[id(obj)] = fresh(prefix)
            env[n] = obj
            if prefix == "c":  # an array constant: listed in the header
                copied[n] = obj
        return n

    def name_of(v):
        v = r(v)
        if v in const:
            return cname(v)
        n = names.get(v)
        if n is None:  # numbered in the order the code defines them: v1, v2, ...
            n = names[v] = f"v{len(names) - n_named + 1}"
        return n

    def fmt(a, in_key=False):
        t = type(a)
        if t is Var:
            return name_of(a.id)
        if t is float:
            if a != a:
                return "nan"
            if a in (math.inf, -math.inf):
                return "inf" if a > 0 else "-inf"
            return repr(a)
        if t is int or t is bool or a is None or t is str:
            return repr(a)
        if a is Ellipsis:
            return "..."
        if t is tuple:
            if in_key:
                return ", ".join(fmt(x, True) for x in a) + ("," if len(a) == 1 else "")
            return "(" + ", ".join(fmt(x) for x in a) + ("," if len(a) == 1 else "") + ")"
        if t is list:
            return "[" + ", ".join(fmt(x) for x in a) + "]"
        if t is slice:
            if in_key:
                s = ("" if a.start is None else fmt(a.start)) + ":" + \
                    ("" if a.stop is None else fmt(a.stop))
                return s + ("" if a.step is None else ":" + fmt(a.step))
            return f"slice({fmt(a.start)}, {fmt(a.stop)}, {fmt(a.step)})"
        if isinstance(a, np.dtype) and a.name in _DTYPE_NAMES:
            n = a.name if a.name != "bool" else "bool_"  # (never the builtin bool)
            env[n] = a  # (a dtype object: ``float32`` = np.dtype("float32"))
            return n
        if isinstance(a, type) and issubclass(a, np.generic) and a.__name__ in _DTYPE_NAMES:
            return f"np.{a.__name__}"
        return bind(a)

    def key_src(key):  # x[0, 1:3, ...]: subscript syntax
        return fmt(key, True) if type(key) in (tuple, slice) else fmt(key)

    def call_args(s):
        parts = [fmt(a) for a in s.args]
        parts += [f"{k}={fmt(v)}" for k, v in s.kw.items()]
        return ", ".join(parts)

    def note_of(s):
        note = s.note
        if not note:
            return ""
        op, site = note
        where = _short_site(site)
        return f"{op} · {where}" if where else op

    guards = []

    def emit(items, lines, returned=()):
        into, frees = _reuse_plan(items, returned, graph, r, const)
        scalar_ok = _ufunc_only_uses(items, returned, r)
        for j, (_, s) in enumerate(items):
            kind = s.kind
            outs = _outs(s)
            lhs = ", ".join(name_of(o) if r(o) == o else "_" for o in outs)
            if len(outs) == 1 and type(s.outs) is tuple:
                lhs += ","
            if kind == "call":
                args = call_args(s)
                if s.name.startswith("@"):  # a function without a NumPy name: bound
                    s.name = bind(s.fn, "f")
                if j in into:  # Note [buffer reuse]
                    args += f", out={name_of(into[j])}"
                inline = _inline_pow(s, graph, fmt) if s.name in _POW_WORDS and \
                    j not in into else None
                if s.name == "ns.scatter" and _plain_scatter(s, graph, r):
                    g, shape, key, _ = s.args  # (ns.scatter's own two steps, inlined)
                    lines.append((f"{lhs} = np.zeros({fmt(shape)}, "
                                  f"{fmt(graph.values[g.id].dtype)})", note_of(s)))
                    lines.append((f"{lhs}[{key_src(key)}] = {fmt(g)}", note_of(s)))
                    continue
                rhs = inline or f"{s.name}({args})"
                if s.as_array and not (type(s.outs) is int and r(s.outs) in scalar_ok):
                    rhs = f"np.asarray({rhs})"
                code = f"{lhs} = {rhs}"
            elif kind == "getitem":
                arr, key = s.args
                code = f"{lhs} = {fmt(arr)}[{key_src(key)}]"
            elif kind == "setitem":
                arr, key, val = s.args
                code = f"{fmt(arr)}[{key_src(key)}] = {fmt(val)}"
            elif kind == "inplace":
                code = f"{s.name}({call_args(s)})"
            elif kind == "const":  # a constant the program writes into: a fresh copy
                code = f"{lhs} = {bind(s.args[0], 'c')}.copy()"
            elif kind == "draw":
                gen = f"gen{s.fn}"
                env[gen] = graph.draws[s.fn]
                args = ", ".join([fmt(a) for a in s.args] +
                                 [f"{k}={fmt(v)}" for k, v in s.kw.items()])
                code = f"{lhs} = np.asarray({gen}._rng.{s.name}({args}))"
            elif kind == "scalar":  # arithmetic on a Python number read fresh each call
                a, b = s.args
                code = f"{lhs} = {fmt(a)} {s.name} {fmt(b)}"
            elif kind == "guard":
                k = len(guards)
                guards.append(s)
                code = _guard_code(s, fmt, bind, k)
            elif kind == "input":
                continue
            else:  # pragma: no cover - every kind is handled above
                raise AssertionError(kind)
            lines.append((code, note_of(s)))
            if j in frees:
                lines.append(("del " + ", ".join(name_of(o) for o in frees[j]), ""))

    prog = Program()
    prog.title = title
    prog.saved = saved
    fwd_lines: list = []
    emit(fwd_items, fwd_lines, [r(v) for v in fwd_outputs] + saved)
    fwd_lines = _atomic(fwd_items, fwd_lines, fwd_inputs, names, graph, env)
    outs_src = ", ".join(f"np.copy({name_of(v)})" if copy else name_of(v)
                         for v, copy in zip(fwd_outputs, _copied_outputs(
                             fwd_outputs, r, roots, const, fwd_inputs, saved)))
    saved_src = ", ".join(name_of(v) for v in saved)
    fparams = ", ".join(names[v] for v, _ in fwd_inputs)
    fsrc = _function("forward", fparams, fwd_lines,
                     f"return ({outs_src}{',' if len(fwd_outputs) == 1 else ''}), "
                     f"({saved_src}{',' if len(saved) == 1 else ''})")
    prog.guards = len(guards)
    bsrc = ""
    if bwd_outputs:
        bwd_lines: list = []
        emit(bwd_items, bwd_lines, [r(v) for v in bwd_outputs if v is not None])
        bparams = ", ".join(["saved"] + [names[v] for v, _ in bwd_inputs])
        unpack = []
        if saved:
            unpack.append((f"{saved_src}{',' if len(saved) == 1 else ''} = saved",
                           "values kept by the forward"))
        bsrc = _function("backward", bparams, unpack + bwd_lines,
                         "return (" + ", ".join(name_of(v) if v is not None else "None"
                                                for v in bwd_outputs)
                         + ("," if len(bwd_outputs) == 1 else "") + ")")
        bdefs = {o for _, s in bwd_items if s.kind == "call" for o in _outs(s)}
        outs = [r(v) for v in bwd_outputs if v is not None]
        prog.fresh = all(v in bdefs and roots[v] == v and v not in const and
                         outs.count(v) == 1 for v in outs)
    consts_doc = _consts_doc(consts_used, const, copied)
    header = f"# {title}\n" + consts_doc
    prog.forward_source = header + fsrc
    prog.backward_source = bsrc
    filename = f"<compiled {title}>"
    full = fsrc + "\n" + bsrc
    linecache.cache[filename] = (len(full), None, full.splitlines(True), filename)
    code = compile(full, filename, "exec")
    exec(code, env)
    prog.forward = env["forward"]
    prog.backward = env.get("backward")
    _VARS.clear()
    _CONSTS_NOW[0] = {}
    return prog


_RESERVED = re.compile(r"^(c|v|k|f|gen)\d+$|^_")
_RESERVED_WORDS = frozenset(("np", "ns", "nan", "inf", "saved", "bool_", "float16",
                             "float32", "float64", "int8", "int16", "int32", "int64",
                             "uint8", "uint16", "uint32", "uint64", "complex64",
                             "complex128", "bool", "float", "int", "complex"))
_DTYPE_NAMES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                "uint64", "float16", "float32", "float64", "complex64", "complex128",
                "bool_"}


def _guard_code(s, fmt, bind, k):
    v = fmt(s.args[0])
    value = s.kw["value"]
    how = s.name
    if how == "call":  # a Python value a rule computed from traced values
        kw = s.kw["kw"]
        args = ", ".join([fmt(a) for a in s.args[0]] + [f"{k}={fmt(v)}" for k, v in kw.items()])
        display = s.kw["display"]
        if display.startswith("@"):
            display = bind(s.fn, "f")
        return f"if not _same({display}({args}), {fmt(value)}): _miss({k})"
    if how == "shape":
        return f"if {v}.shape != {value!r}: _miss({k})"
    if how == "sign":
        return f"if ({v} >= 0) is not {value!r}: _miss({k})"
    if how == "bool":
        return f"if bool({v}) is not {value!r}: _miss({k})"
    if how == "int":
        return f"if int({v}) != {value!r}: _miss({k})"
    if how in ("float", "scalar"):  # (a traced float's value, a lifted number's value)
        return f"if not _same(float({v}), {fmt(value)}): _miss({k})"
    if how in ("item", "tolist", "complex"):
        call = {"item": ".item()", "tolist": ".tolist()", "complex": ""}[how]
        expr = f"complex({v})" if how == "complex" else f"{v}{call}"
        return f"if not _same({expr}, {bind(value)}): _miss({k})"
    return f"if not _same_array({v}, {bind(value, 'c')}): _miss({k})"


def _function(name, params, lines, ret):
    width = max([len(c) for c, _ in lines if len(c) <= 52] + [0])  # (long lines: 2 spaces)
    body = []
    for code, note in lines:
        body.append(f"    {code}" + (f"{' ' * max(1, width - len(code) + 2)}# {note}"
                                       if note else ""))
    body.append(f"    {ret}")
    return f"def {name}({params}):\n" + "\n".join(body) + "\n"


_SITES: dict = {}


def _short_site(site) -> str:
    if site is None:
        return ""
    got = _SITES.get(site)
    if got is None:
        from ..autograd.node import site_line
        if len(_SITES) > 4096:
            _SITES.clear()
        got = _SITES[site] = f"{os.path.basename(site[0].co_filename)}:{site_line(site)}"
    return got


def _consts_doc(used, const, copied=None) -> str:
    lines = []
    named = [(n, const[v]) for v, n in used.items()] + list((copied or {}).items())
    for n, value in sorted(named, key=lambda p: int(p[0][1:])):
        a = np.asarray(value)
        if a.size <= 4:
            lines.append(f"# {n} = {a.tolist()!r} ({a.dtype.name}{', 0-d' if a.ndim == 0 else ''})")
        else:
            lines.append(f"# {n}: {a.dtype.name} array of shape {a.shape}")
    return "\n".join(lines) + ("\n" if lines else "")


__all__ = ["generate", "Program", "GuardMiss", "Stmt"]
