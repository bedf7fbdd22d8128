"""``chainrule jacobian EXPR --at x=1 ...``: values, Jacobian, VJP, JVP, Hessian.

The expression's outputs (a tuple for several) are flattened into one vector y, and
the variables, in the order of ``--at``, into one vector of columns, so J is a matrix
with a row per element of y.  J comes from ``autograd.functional.jacobian`` (one batched
backward pass), vᵀJ from ``functional.vjp``, J u from ``functional.jvp`` (forward mode),
the Hessian from ``functional.hessian``.
"""

from __future__ import annotations

import json
import math
import re
import sys

import numpy as np

from .expr import CONSTANTS, FUNCTIONS, ExpressionError, _printable, parse, parse_value, short

__all__ = ["add_parser", "compute", "normalize_argv", "run"]

MAX_JACOBIAN = 4_000_000  # entries of J (or H) we agree to build
MAX_BATCHED = 50_000_000  # elements of one batched cotangent: rows x the largest value
MAX_PASSES = 1_000_000_000  # elements all rows' backward passes compute: rows x work
_VALUE_OPTIONS = ("--at", "--vjp", "--jvp", "--graph")
_OPTION = re.compile(r"--[A-Za-z][A-Za-z0-9_-]*(=.*)?", re.S)


def normalize_argv(args: list) -> list:
    """The ``jacobian`` arguments with values and expressions that start with ``-`` made
    unambiguous for argparse: ``--vjp -1,2`` becomes ``--vjp=-1,2`` and an expression
    such as ``-x0**2`` moves behind ``--``.  (argparse takes both for options.)"""
    out, positional = [], []
    i = 0
    while i < len(args):
        tok = args[i]
        if tok == "--":
            out.extend(args[i:])
            break
        full = [o for o in _VALUE_OPTIONS if o.startswith(tok)] if tok.startswith("--") \
            and len(tok) > 2 else []
        if len(full) == 1 and i + 1 < len(args):  # argparse accepts --vj for --vjp
            out.append(f"{tok}={args[i + 1]}")
            i += 2
            continue
        if tok.startswith("-") and tok != "-" and tok not in ("-h", "--help") \
                and not _OPTION.fullmatch(tok):
            positional.append(tok)
        else:
            out.append(tok)
        i += 1
    if positional:
        at = out.index("--") + 1 if "--" in out else len(out)
        out[at:at] = ([] if "--" in out else ["--"]) + positional
    return out


def add_parser(sub):
    p = sub.add_parser(
        "jacobian", help="evaluate an expression and its Jacobian at a point",
        description="Evaluate EXPR and its Jacobian J (rows: outputs in order, flattened; "
                    "columns: the --at variables in order, flattened). Functions: "
                    + ", ".join(sorted(FUNCTIONS)) + "; constants: pi, e.")
    p.add_argument("expression", help='e.g. "2*x0 + x1**2, x0**2 + 2*x1**3"')
    p.add_argument("--at", action="append", default=[], metavar="NAME=VALUE",
                   help='a variable and its value: x0=1 or "x=[1,2,3]" (repeat; the order '
                        "gives J's columns)")
    p.add_argument("--vjp", metavar="V", help="print v^T J for v (one entry per output "
                                              "element), e.g. 1,2")
    p.add_argument("--jvp", metavar="U", help="print J u for u (one entry per input "
                                              "element), e.g. 1,0")
    p.add_argument("--hessian", action="store_true",
                   help="print the Hessian of a scalar expression")
    p.add_argument("--graph", metavar="PATH", help="draw the autograd graph (.svg, .html "
                                                   "or .dot)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p


def _variables(specs):
    names, values = [], []
    for spec in specs:
        name, eq, text = spec.partition("=")
        name = name.strip()
        if not eq:
            raise ExpressionError(f"--at {short(spec)}: write NAME=VALUE, e.g. x0=1", spec,
                                  len(spec))
        if not (name.isidentifier() and name.isascii()) or name.startswith("_"):
            raise ExpressionError(f"--at: {short(name)} is not a valid variable name", spec,
                                  0)
        if name in FUNCTIONS or name in CONSTANTS:
            raise ExpressionError(f"--at: {short(name)} is the name of a function or "
                                  f"constant", spec, 0)
        if name in names:
            raise ExpressionError(f"--at: {short(name)} is given twice", spec, 0)
        try:
            values.append(parse_value(text))
        except ExpressionError as exc:
            raise ExpressionError(f"--at {name}: {exc.message}", spec,
                                  len(spec) - len(text) + (exc.col or 0)) from None
        names.append(name)
    return names, values


def _vector(text, n, what):
    v = parse_value(text if text.strip().startswith("[") else f"[{text}]")
    if v.ndim == 0:
        v = v.reshape(1)
    v = v.reshape(-1)
    if v.size != n:
        raise ExpressionError(f"--{what}: got {v.size} numbers, expected {n} (one per "
                              f"{'output' if what == 'vjp' else 'input'} element)", text, 0)
    return v


def compute(expression, at, vjp=None, jvp=None, hessian=False):
    """Everything the command prints, as plain Python data (raises ExpressionError)."""
    import chainrule as cr
    from chainrule.autograd import functional as F

    expr = parse(expression)
    names, values = _variables(at)
    expr.check_names(names)
    inputs = tuple(cr.tensor(v, dtype=cr.float64) for v in values)
    sizes = [int(v.size) for v in values]
    n = sum(sizes)

    def func(*xs):
        outs = expr.evaluate(dict(zip(names, xs)))
        if not outs:
            raise ExpressionError("the expression has no outputs (an empty tuple)",
                                  expr.text, 0)
        return cr.cat([o.reshape(-1) for o in outs]) if len(outs) > 1 else \
            outs[0].reshape(-1)

    with cr.no_grad():
        y = func(*inputs)
    m = int(y.numel())
    _check_size("the Jacobian", m, n, expr)
    if hessian:
        if m != 1:
            raise ExpressionError(f"--hessian needs a scalar expression; this one has {m} "
                                  f"output elements (reduce it, e.g. sum(...))", expr.text, 0)
        _check_size("the Hessian", n, n, expr)
    result = {"expression": expr.text, "variables": names,
              "at": {k: v.tolist() for k, v in zip(names, values)},
              "columns": _labels(names, values), "rows": _out_labels(expr, y),
              "y": y.tolist()}
    # Note [empty sides]: with no input or no output element J is an empty matrix, and
    # when the output does not depend on the inputs (a constant) every derivative is
    # zero; the library is only asked about outputs that depend on inputs.
    empty = m == 0 or n == 0 or not _depends(func, inputs)
    if empty:
        result["jacobian"] = np.zeros((m, n)).tolist()
    else:
        J = F.jacobian(func, inputs)
        result["jacobian"] = np.concatenate(
            [j._data.reshape(m, -1) for j in J], axis=1).tolist()
    if vjp is not None:
        v = _vector(vjp, m, "vjp")
        result["v"] = v.tolist()
        if empty:
            result["vjp"] = [0.0] * n
        else:
            _, gs = F.vjp(func, inputs, cr.tensor(v, dtype=cr.float64))
            result["vjp"] = np.concatenate([g._data.reshape(-1) for g in gs]).tolist()
    if jvp is not None:
        u = _vector(jvp, n, "jvp")
        result["u"] = u.tolist()
        if empty:
            result["jvp"] = [0.0] * m
        else:
            parts, off = [], 0
            for x, k in zip(inputs, sizes):
                parts.append(cr.tensor(u[off:off + k].reshape(tuple(x.shape)),
                                       dtype=cr.float64))
                off += k
            _, t = F.jvp(func, inputs, tuple(parts))
            result["jvp"] = t._data.reshape(-1).tolist()
    if hessian:
        if empty:
            result["hessian"] = np.zeros((n, n)).tolist()
        else:
            H = F.hessian(lambda *xs: func(*xs).reshape(()), inputs)
            rows = []
            for i, k in enumerate(sizes):
                rows.append(np.concatenate([H[i][j]._data.reshape(k, sizes[j])
                                            for j in range(len(sizes))], axis=1))
            result["hessian"] = np.concatenate(rows, axis=0).tolist()
    return result, (expr, names, inputs, func)


def _depends(func, inputs) -> bool:
    """Whether the output is computed from the inputs (has a graph back to them)."""
    import chainrule as cr
    xs = [x.detach().requires_grad_() for x in inputs]
    with cr.enable_grad():
        return bool(func(*xs).requires_grad)


def _check_size(what, rows, cols, expr) -> None:
    """Refuse a matrix, or the batched backward pass that builds it (``rows`` passes
    through every value the expression computes), that is too large: before any of it
    is allocated."""
    if rows * max(cols, 1) > MAX_JACOBIAN:
        raise ExpressionError(f"{what} would have {rows:,} x {cols:,} entries; the limit is "
                              f"{MAX_JACOBIAN:,}", expr.text, 0)
    if rows * expr.largest > MAX_BATCHED or rows * expr.work > MAX_PASSES:
        raise ExpressionError(f"{what} needs {rows:,} backward passes through values of up "
                              f"to {expr.largest:,} elements ({expr.work:,} in all); the "
                              f"limits are {MAX_BATCHED:,} elements at once and "
                              f"{MAX_PASSES:,} in all", expr.text, 0)


def _labels(names, values):
    out = []
    for name, v in zip(names, values):
        if v.ndim == 0:
            out.append(name)
        else:
            out.extend(f"{name}[{', '.join(map(str, i))}]" for i in np.ndindex(*v.shape))
    return out


def _out_labels(expr, y):
    if len(expr.outputs) == 1 and y.numel() == 1:
        return ["y"]
    return [f"y[{i}]" for i in range(int(y.numel()))]


def _num(v) -> str:
    """``fmt_num`` (6.0 -> 6, 1/3 -> 0.333333, nan, inf), inlined: a 2000 x 2000
    Jacobian has four million cells."""
    if v != v:
        return "nan"
    if v in (math.inf, -math.inf):
        return "inf" if v > 0 else "-inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6g}"


def _fmt(x) -> str:
    if isinstance(x, list):
        return "[" + ", ".join(_fmt(e) for e in x) + "]"
    return _num(x)


def _matrix(name, rows) -> list:
    """``J = [[2, 4], [2, 24]]`` on one line, or one aligned row per line when long."""
    if not rows or len(rows) * len(rows[0]) <= 32:  # more cannot fit in 100 characters
        one = f"{name} = {_fmt(rows)}"
        if len(one) <= 100 or not rows:
            return [one]
    cells = [[_num(v) for v in r] for r in rows]
    width = max((len(c) for r in cells for c in r), default=1)
    lines = []
    for i, r in enumerate(cells):
        lead = f"{name} = [" if i == 0 else " " * (len(name) + 4)
        tail = "]]" if i == len(cells) - 1 else "],"
        lines.append(f"{lead}[{', '.join(c.rjust(width) for c in r)}{tail}")
    return lines


def _jsonable(x):
    if isinstance(x, list):
        return [_jsonable(e) for e in x]
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, float) and not math.isfinite(x):
        return _num(x)
    return x


def run(args, out=None) -> int:
    """Run the parsed ``jacobian`` command; 0 on success, 2 on a refused input."""
    out = sys.stdout if out is None else out
    try:
        with np.errstate(all="ignore"):  # inf and nan are printed as values
            result, (expr, names, inputs, _) = compute(args.expression, args.at, args.vjp,
                                                          args.jvp, args.hessian)
            if args.graph:
                _draw(args.graph, expr, names, inputs)
                result["graph"] = args.graph
    except ExpressionError as exc:
        print(f"chainrule jacobian: {exc.render()}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a bug of ours: one line, no traceback
        print(f"chainrule jacobian: internal error ({type(exc).__name__}: "
              f"{short(str(exc), 200)}); please report it with the command line",
              file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(_jsonable(result), ensure_ascii=False), file=out)
        return 0
    at = ", ".join(f"{k} = {_fmt(v)}" for k, v in result["at"].items())
    print(f"f = {expr.text}" + (f"   at {at}" if at else ""), file=out)
    print(f"y = {_fmt(result['y'])}", file=out)
    for line in _matrix("J", result["jacobian"]):
        print(line, file=out)
    rows = ", ".join(result["rows"]) or "(none)"
    cols = ", ".join(result["columns"]) or "(none)"
    print(f"    rows: {rows}; columns: {cols}", file=out)
    if "vjp" in result:
        print(f"v^T J = {_fmt(result['vjp'])}   (v = {_fmt(result['v'])})", file=out)
    if "jvp" in result:
        print(f"J u = {_fmt(result['jvp'])}   (u = {_fmt(result['u'])})", file=out)
    if "hessian" in result:
        for line in _matrix("H", result["hessian"]):
            print(line, file=out)
    if args.graph:
        print(f"graph written to {_printable(args.graph)}", file=out)
    return 0


def _draw(path, expr, names, inputs):
    import os

    import chainrule as cr
    from chainrule import viz
    if os.path.splitext(path)[1].lower() not in (".svg", ".html", ".htm", ".dot", ".gv"):
        raise ExpressionError(f"--graph {path!r}: use a .svg, .html or .dot file name")
    xs = [x.detach().requires_grad_() for x in inputs]
    with cr.enable_grad():
        outs = expr.evaluate(dict(zip(names, xs)))
    params = dict(zip(names, xs))
    if len(outs) == 1:
        params["y"] = outs[0]
    else:
        params.update({f"y{i}": o for i, o in enumerate(outs)})
    try:
        viz.graph(*outs, params=params, title=f"chainrule: {expr.text}").save(path)
    except OSError as exc:
        raise ExpressionError(f"--graph: cannot write {path!r}: {exc.strerror or exc}") \
            from None
