"""Safe math expressions for the command line: parsed with ``ast``, checked against a
whitelist, evaluated with chainrule ops.  Never ``eval``/``exec``.

Accepted: numbers, variable names, ``pi`` and ``e``; ``+ - * / ** % @`` and unary
``-``/``+``; calls of the functions in :data:`FUNCTIONS` (positional arguments only);
indexing with integer constants and slices (``x[0]``, ``x[1:]``, ``A[0, 1]``); list
literals (``[x0, x1]``, stacked into a vector); a top-level tuple for several outputs.
Everything else (attributes, comparisons, lambdas, comprehensions, keywords, strings,
...) is refused, and limits on the expression's length, its nesting depth (a flat chain
``a + b + c ...`` is long, not deep), the size of number literals and of constant
exponents stop inputs that would be huge to compute.  Constant sub-expressions are
folded in float64 when checked, so ``9**9**9`` and ``2**10000`` meet the same exponent
rule and ``1e100**4`` is refused as an overflow.  Every operation's result size is
checked from the shapes before it is computed (:data:`LIMITS`), and evaluation walks the
tree without recursion.  Errors are :class:`ExpressionError`, which point at the column
of the problem and echo at most :data:`SHOWN` characters of the input around it.
"""

from __future__ import annotations

import ast
import math

import numpy as np

__all__ = ["FUNCTIONS", "LIMITS", "Expression", "ExpressionError", "parse", "parse_value"]

LIMITS = {
    "length": 2000,        # characters in an expression
    "depth": 64,           # nesting depth of the syntax tree
    "literal": 1e100,      # largest |number| written in an expression
    "literal_chars": 40,   # longest number literal, in characters
    "exponent": 1000,      # largest |constant exponent| in x ** c
    "elements": 10_000,    # elements of a variable's value
    "value_length": 400_000,  # characters in a --at/--vjp/--jvp value
    "intermediate": 4_000_000,  # elements of any value the expression computes
    "work": 20_000_000,    # elements computed by one evaluation, all values together
}
SHOWN = 76  # characters of the input echoed under an error (a window around the caret)
MESSAGE = 300  # characters of an error message


class ExpressionError(ValueError):
    """A refused or failing expression, with the position of the problem."""

    def __init__(self, message, text="", col=None, line=1):
        super().__init__(message)
        self.message = message
        self.text = text
        self.col = col
        self.line = line

    def render(self) -> str:
        """The message on one line, then the offending line (a window of at most
        :data:`SHOWN` characters around the problem) and a caret under the column."""
        out = [f"error: {_printable(self.message, MESSAGE)}"]
        if self.text and self.col is not None:
            lines = self.text.splitlines() or [""]
            src = lines[min(max(self.line, 1), len(lines)) - 1]
            col = min(max(self.col, 0), len(src))
            start = max(0, min(col - SHOWN // 2, len(src) - SHOWN))
            shown = _printable(src[start:start + SHOWN])
            lead = "..." if start else ""
            tail = "..." if start + SHOWN < len(src) else ""
            out.append("  " + lead + shown + tail)
            out.append("  " + " " * (len(lead) + col - start) + "^")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.render()


def _printable(text: str, limit: int | None = None) -> str:
    """``text`` with control characters, line breaks and lone surrogates as ``?``,
    cut to ``limit`` characters."""
    if limit is not None and len(text) > limit:
        text = text[:limit - 3] + "..."
    return "".join(c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else "?"
                   for c in text)


def short(text: str, limit: int = 40) -> str:
    """``repr`` of user text, cut to about ``limit`` characters for a message."""
    r = repr(text)
    return r if len(r) <= limit else r[:limit - 4] + "...'"


def _cr():
    import chainrule
    return chainrule


def _unary(name):
    return lambda x: getattr(_cr(), name)(x)


def _tensors(*values):
    """Numbers as 0-d tensors, for the functions that take tensors only (maximum)."""
    cr = _cr()
    return tuple(v if isinstance(v, cr.Tensor) else cr.tensor(v) for v in values)


FUNCTIONS = {  # name: (arity, implementation on Tensors)
    **{n: (1, _unary(n)) for n in (
        "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp",
        "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "abs",
        "sigmoid", "relu", "erf", "square", "reciprocal", "sign", "floor", "ceil",
        "round", "trunc")},
    "sum": (1, lambda x: x.sum()),
    "mean": (1, lambda x: x.mean()),
    "prod": (1, lambda x: x.prod()),
    "norm": (1, lambda x: x.norm()),
    "max": ((1, 2), lambda x, y=None: x.max() if y is None else _cr().maximum(
        *_tensors(x, y))),
    "min": ((1, 2), lambda x, y=None: x.min() if y is None else _cr().minimum(
        *_tensors(x, y))),
    "atan2": (2, lambda y, x: _cr().atan2(*_tensors(y, x))),
    "pow": (2, lambda x, y: x ** y),
    "dot": (2, lambda x, y: _cr().dot(x, y)),
}
CONSTANTS = {"pi": math.pi, "e": math.e}

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
           ast.Mod: "%", ast.MatMult: "@"}
_ALLOWED = (ast.Expression, ast.Tuple, ast.List, ast.BinOp, ast.UnaryOp, ast.Call,
            ast.Name, ast.Constant, ast.Subscript, ast.Slice, ast.Load,
            ast.USub, ast.UAdd, *_BINOPS)
_WHY = {ast.Attribute: "attribute access is not allowed",
        ast.Compare: "comparisons are not allowed", ast.BoolOp: "and/or are not allowed",
        ast.Lambda: "lambda is not allowed", ast.IfExp: "if/else is not allowed",
        ast.NamedExpr: "assignment is not allowed", ast.Starred: "* unpacking is not allowed",
        ast.keyword: "keyword arguments are not allowed",
        ast.BitXor: "'^' is not allowed; for a power write '**', e.g. x**2",
        ast.FloorDiv: "'//' is not allowed; write floor(a / b)",
        ast.BitAnd: "'&' is not allowed", ast.BitOr: "'|' is not allowed",
        ast.LShift: "'<<' is not allowed", ast.RShift: "'>>' is not allowed",
        ast.Invert: "'~' is not allowed", ast.Not: "'not' is not allowed"}


def _col(text, node, start=False):
    """Character column to point at for ``node`` (ast gives UTF-8 byte offsets): the
    operator of a binary operation, the ``.`` of an attribute, the ``[`` of an index,
    else the node's start."""
    lines = text.splitlines() or [""]
    line = lines[min(max(node.lineno, 1), len(lines)) - 1]
    raw = line.encode("utf-8")
    at = node.col_offset
    inner = getattr(node, "left", None) or getattr(node, "value", None)
    if not start and isinstance(node, (ast.BinOp, ast.Attribute, ast.Subscript)) and \
            isinstance(inner, ast.AST) and inner.end_lineno == node.lineno:
        at = inner.end_col_offset
        while at < len(raw) and raw[at:at + 1] in (b" ", b")", b"\t"):
            at += 1
    return len(raw[:at].decode("utf-8", "ignore"))


class Expression:
    """A checked expression; :meth:`evaluate` runs it on Tensors."""

    def __init__(self, text: str, tree: ast.Expression):
        self.text = text
        body = tree.body
        self.outputs = list(body.elts) if isinstance(body, ast.Tuple) else [body]
        self.names = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                             and n.id not in FUNCTIONS and n.id not in CONSTANTS})
        self.work = 0  # elements the last evaluation computed, all values together
        self.largest = 1  # elements of its largest value

    def error(self, message, node, start=False) -> ExpressionError:
        """An error pointing at ``node``'s operator (see ``_col``), or at its first
        character with ``start``."""
        return ExpressionError(message, self.text, _col(self.text, node, start),
                               node.lineno)

    def check_names(self, known) -> None:
        """Refuse a name that is neither a variable in ``known`` nor a constant."""
        for name in self.names:
            if name not in known:
                given = ", ".join(known) or "none"
                raise self.error(f"unknown name {short(name)} (variables given with --at: "
                                 f"{_printable(given, 200)})", self._find_name(name))

    def evaluate(self, env: dict) -> list:
        """The outputs as Tensors, with ``env`` mapping variable names to Tensors.

        Every operation's result size is checked before it is computed (at most
        ``LIMITS["intermediate"]`` elements, ``LIMITS["work"]`` in all), and the tree
        is walked without recursion, so a long flat sum is fine."""
        self.check_names(list(env))
        self.work, self.largest = 0, max((int(v.numel()) for v in env.values()), default=1)
        return [self._tensor(self._eval(o, env), o) for o in self.outputs]

    def _find_name(self, name):
        for out in self.outputs:
            for n in ast.walk(out):
                if isinstance(n, ast.Name) and n.id == name:
                    return n
        return self.outputs[0]

    def _tensor(self, v, node):
        cr = _cr()
        if isinstance(v, cr.Tensor):
            return v
        # from a float64 array: the number keeps all its digits whatever tensor() does
        return cr.from_numpy(np.array(float(v), dtype=np.float64))

    def _eval(self, root, env):
        """Post-order walk with an explicit stack."""
        values = {}
        for node, kids in _post_order(root):
            values[id(node)] = self._node(node, [values.pop(id(k)) for k in kids], env)
        return values[id(root)]

    def _node(self, node, args, env):
        cr = _cr()
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            if node.id in FUNCTIONS:
                raise self.error(f"{node.id} is a function: call it, e.g. {node.id}(x)", node)
            return env[node.id]
        if isinstance(node, ast.UnaryOp):
            (v,) = args
            return self._apply(node, lambda: -v if isinstance(node.op, ast.USub) else +v)
        if isinstance(node, ast.BinOp):
            a, b = args
            if not isinstance(a, cr.Tensor) and not isinstance(b, cr.Tensor):
                a = self._tensor(a, node)  # numbers meet as float64 tensors: no overflow
            self._meter(node, _binop_size(node.op, a, b))
            return self._apply(node, lambda: _binop(node.op, a, b))
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self._tensor(v, e) for v, e in zip(args, node.elts)]
            if not items:
                raise self.error("an empty list has no value", node)
            self._meter(node, len(items) * int(items[0].numel()))
            return self._apply(node, lambda: cr.stack(items))
        if isinstance(node, ast.Subscript):
            v = self._tensor(args[0], node.value)
            key = _index(node.slice)
            return self._apply(node, lambda: v[key])
        if isinstance(node, ast.Call):
            fn = FUNCTIONS[node.func.id][1]
            xs = [self._tensor(v, a) for v, a in zip(args, node.args)]
            if len(xs) == 2 and node.func.id != "dot":
                self._meter(node, _binop_size(None, *xs))
            else:
                self._meter(node, max((int(x.numel()) for x in xs), default=1))
            return self._apply(node, lambda: fn(*xs))
        raise self.error(f"{type(node).__name__} is not allowed", node)  # unreachable

    def _meter(self, node, size) -> None:
        """Refuse an operation whose result would be too large, before computing it."""
        if size is None:
            return  # the shapes do not fit together: the operation says so itself
        limit = LIMITS["intermediate"]
        if size > limit:
            raise self.error(f"this operation would make a value of {size:,} elements; the "
                             f"limit is {limit:,}", node)
        self.work += size
        self.largest = max(self.largest, size)
        if self.work > LIMITS["work"]:
            raise self.error(f"the expression computes more than {LIMITS['work']:,} "
                             f"elements in all", node)

    def _apply(self, node, thunk):
        try:
            return thunk()
        except ExpressionError:
            raise
        except (RuntimeError, ValueError, TypeError, IndexError, ArithmeticError) as exc:
            first = str(exc).split(". ")[0].strip()
            raise self.error(first or type(exc).__name__, node) from None


def _operands(node) -> list:
    """The sub-expressions a node's value is computed from, in order."""
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, (ast.List, ast.Tuple)):
        return node.elts
    if isinstance(node, ast.Subscript):
        return [node.value]
    if isinstance(node, ast.Call):
        return node.args
    return []


def _shape(v) -> tuple:
    return tuple(v.shape) if hasattr(v, "shape") else ()


def _binop_size(op, a, b):
    """Elements of ``a op b`` from the shapes alone; None when they do not fit."""
    sa, sb = _shape(a), _shape(b)
    try:
        if isinstance(op, ast.MatMult):
            if not sa or not sb:
                return None
            batch = np.broadcast_shapes(sa[:-2], sb[:-2])
            shape = batch + sa[-2:-1] + sb[-1:] if len(sb) > 1 else batch + sa[-2:-1]
        else:
            shape = np.broadcast_shapes(sa, sb)
    except ValueError:
        return None
    return math.prod(shape)


def _binop(op, a, b):
    if isinstance(op, ast.Add):
        return a + b
    if isinstance(op, ast.Sub):
        return a - b
    if isinstance(op, ast.Mult):
        return a * b
    if isinstance(op, ast.Div):
        return a / b
    if isinstance(op, ast.Pow):
        return a ** b
    if isinstance(op, ast.Mod):
        return a % b
    return a @ b


def _index(node):
    """The Python key of a checked subscript: ints, slices of ints, tuples of them."""
    if isinstance(node, ast.Tuple):
        return tuple(_index(e) for e in node.elts)
    if isinstance(node, ast.Slice):
        return slice(*(None if p is None else _int(p) for p in (node.lower, node.upper,
                                                                   node.step)))
    return _int(node)


def _int(node):
    if isinstance(node, ast.UnaryOp):
        v = _int(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    return node.value


def _int_const(node) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) is int


def _const_value(node):
    """The value of a constant number, possibly signed; None otherwise."""
    sign = 1
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return sign * node.value
    return None


def parse(text: str) -> Expression:
    """Check ``text`` and return an :class:`Expression` (raises :class:`ExpressionError`)."""
    if not isinstance(text, str):
        raise ExpressionError("the expression must be a string")
    if len(text) > LIMITS["length"]:
        raise ExpressionError(f"the expression is {len(text):,} characters long; the limit "
                              f"is {LIMITS['length']:,}", text, LIMITS["length"])
    text = text.strip()
    if not text:
        raise ExpressionError("the expression is empty", text, 0)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(text, exc) from None
    except (ValueError, MemoryError, RecursionError) as exc:  # null bytes, surrogates
        raise ExpressionError(f"cannot parse the expression: {exc}", text, 0) from None
    _check(text, tree)
    return Expression(text, tree)


def _syntax_error(text: str, exc: SyntaxError) -> ExpressionError:
    """Python's message, with the caret where the problem is: Python points at the
    start of a number that runs into a name (``2x``) and at column 0 when the input
    ends too early (``x+``)."""
    lines = text.splitlines() or [""]
    line = min(max(exc.lineno or 1, 1), len(lines))
    src = lines[line - 1]
    col = (exc.offset or 0) - 1
    msg = exc.msg or "invalid syntax"
    if col < 0 or col > len(src):
        col = len(src)  # the input ended where more was expected
        if msg == "invalid syntax":
            msg = "the expression ends too early"
    if "literal" in msg and col < len(src):  # "invalid decimal literal": 2x0, 1.5e
        number = "0123456789._"
        end = col
        while end < len(src) and src[end] in number:
            end += 1
        start = col
        while start > 0 and (src[start - 1] in number or src[start - 1] in "eE"
                             and start > 1 and src[start - 2] in number):
            start -= 1
        name = end
        while name < len(src) and (src[name].isalnum() or src[name] == "_"):
            name += 1
        if start < end < len(src) and src[end].isalpha() and \
                not (src[end] in "eE" and src[end + 1:end + 2].isdigit()):
            col = end
            msg += f"; for a product write {src[start:end]}*{src[end:name][:20]}"
    return ExpressionError(f"syntax error: {msg}", text, col, line)


def _check(text, tree):
    """Whitelist node types, names, calls, subscripts and the size limits, and fold
    constant sub-expressions as evaluation would (float64), refusing one that
    overflows (iterative: no recursion)."""
    expr = Expression.__new__(Expression)
    expr.text = text
    stack = [(tree, 0, tree)]
    while stack:
        node, depth, parent = stack.pop()
        # operators and contexts have no position of their own: point at their parent
        at = node if hasattr(node, "lineno") else parent
        if not hasattr(at, "lineno"):
            at = None
        if depth > LIMITS["depth"] and at is node:  # contexts and operators add no level
            raise _error_at(expr, f"the expression is nested too deeply (limit "
                                  f"{LIMITS['depth']} levels)", at)
        if not isinstance(node, _ALLOWED):
            raise _error_at(expr, _WHY.get(type(node), f"{type(node).__name__} is not "
                                                      f"allowed in an expression"), at)
        if isinstance(node, ast.Constant):
            _check_number(expr, node)
        elif isinstance(node, ast.Call):
            _check_call(expr, node)
            stack.extend((a, depth + 1, node) for a in node.args)
            continue
        elif isinstance(node, ast.Subscript):
            _check_key(expr, node.slice)
            stack.append((node.value, depth + 1, node))
            continue
        elif isinstance(node, ast.Name) and node.id.startswith("_"):
            raise expr.error(f"names starting with '_' are not allowed: {short(node.id)}",
                             node)
        for child in ast.iter_child_nodes(node):
            # a chain a + b - c + ... nests to the left: it is long, not deep
            chain = isinstance(node, ast.BinOp) and child is node.left
            stack.append((child, depth if chain else depth + 1, node))
    _fold(expr, tree.body)


def _error_at(expr, message, node) -> ExpressionError:
    return expr.error(message, node) if node is not None else \
        ExpressionError(message, expr.text, 0)


def _post_order(root):
    """``(node, operands)`` children first, with an explicit stack (no recursion limit)."""
    stack = [(root, False)]
    while stack:
        node, ready = stack.pop()
        kids = _operands(node)
        if not ready and kids:
            stack.append((node, True))
            stack.extend((k, False) for k in reversed(kids))
            continue
        yield node, kids


def _fold(expr, root) -> None:
    """Compute every constant sub-expression in float64, as evaluation will, and refuse
    an exponent beyond ``LIMITS["exponent"]`` or a constant that overflows (``2**10000``,
    ``9**9**9``, ``1e300*1e300``), so the same rule holds however a number is written."""
    values = {}  # id(node) -> float, for constant nodes
    for node, kids in _post_order(root):
        args = [values.get(id(k)) for k in kids]
        for k in kids:
            values.pop(id(k), None)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) or \
                isinstance(node, ast.Call) and node.func.id == "pow" and len(args) == 2:
            c = args[1]
            if c is not None and abs(c) > LIMITS["exponent"]:
                raise expr.error(f"the exponent {_number(c)} is too large (limit "
                                 f"{LIMITS['exponent']})", kids[1], start=True)
        value = _constant(node, args)
        if value is None:
            continue
        # overflow: huge finite operands, infinite result (1/0 and 0**-1 are poles: inf)
        if math.isinf(value) and all(math.isfinite(x) and x != 0 for x in args):
            seg = _printable(ast.get_source_segment(expr.text, node) or "", 40)
            raise expr.error(f"the constant {seg} overflows float64 (|x| > 1.8e308)", node)
        values[id(node)] = value


def _number(c: float) -> str:
    return str(int(c)) if float(c).is_integer() and abs(c) < 1e16 else f"{c:g}"


def _constant(node, args):
    """The float64 value of a constant node from its operands' values, else None."""
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return CONSTANTS.get(node.id)
    if any(a is None for a in args):
        return None
    with np.errstate(all="ignore"):
        if isinstance(node, ast.UnaryOp):
            return -args[0] if isinstance(node.op, ast.USub) else args[0]
        x = [np.float64(a) for a in args]
        if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.MatMult):
            return float(_binop(node.op, *x))
        if isinstance(node, ast.Call) and node.func.id == "pow":
            return float(x[0] ** x[1])
    return None


def _check_number(expr, node):
    v = node.value
    if type(v) not in (int, float):
        kind = {bool: "True/False", str: "strings", bytes: "bytes", complex:
                "complex numbers"}.get(type(v), repr(v))
        raise expr.error(f"{kind} are not allowed; only real numbers", node)
    src = ast.get_source_segment(expr.text, node) or ""
    if len(src) > LIMITS["literal_chars"] or not math.isfinite(float(v)) \
            or abs(v) > LIMITS["literal"]:
        raise expr.error(f"the number literal is too large (limit |x| <= "
                         f"{LIMITS['literal']:g}, {LIMITS['literal_chars']} characters)", node)


def _check_call(expr, node):
    if not isinstance(node.func, ast.Name):
        what = "attribute access is not allowed" if isinstance(node.func, ast.Attribute) \
            else "only named functions can be called"
        raise expr.error(what, node.func)
    name = node.func.id
    if name not in FUNCTIONS:
        known = ", ".join(sorted(FUNCTIONS))
        raise expr.error(f"unknown function {short(name)}; available: {known}", node.func)
    if node.keywords:
        raise expr.error("keyword arguments are not allowed", node.keywords[0].value)
    for a in node.args:
        if isinstance(a, ast.Starred):
            raise expr.error("* unpacking is not allowed", a)
    arity = FUNCTIONS[name][0]
    ok = arity if isinstance(arity, tuple) else (arity,)
    if len(node.args) not in ok:
        want = " or ".join(map(str, ok))
        raise expr.error(f"{name}() takes {want} argument{'s' if ok != (1,) else ''}, got "
                         f"{len(node.args)}", node)


def _check_key(expr, key):
    parts = key.elts if isinstance(key, ast.Tuple) else [key]
    if len(parts) > 8:
        raise expr.error("too many indices", key)
    for p in parts:
        items = [p] if not isinstance(p, ast.Slice) else \
            [q for q in (p.lower, p.upper, p.step) if q is not None]
        for q in items:
            if not _int_const(q):
                raise expr.error("indices must be integer constants, e.g. x[0] or x[1:3]", q)
            v = _int(q)
            if abs(v) > 10 ** 9:
                raise expr.error("the index is too large", q)


def parse_value(text: str):
    """A variable's value from ``--at``: a number or a (nested) list of numbers, as a
    float64 array."""
    if len(text) > LIMITS["value_length"]:
        raise ExpressionError(f"the value is {len(text):,} characters long; the limit is "
                              f"{LIMITS['value_length']:,}", text[:SHOWN], 0)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise ExpressionError("the value must be a number or a list of numbers, e.g. 2 or "
                              "[1, 2, 3]", text, 0) from None
    def conv(node, d):
        if d > 8:
            raise ExpressionError("the value is nested too deeply", text, 0)
        c = _const_value(node)
        if c is not None:
            if abs(c) > LIMITS["literal"] or not math.isfinite(c):  # no float(huge int)
                raise ExpressionError("the number is too large", text, 0)
            return float(c)
        if isinstance(node, (ast.List, ast.Tuple)):
            return [conv(e, d + 1) for e in node.elts]
        raise ExpressionError("the value must be a number or a list of numbers, e.g. 2 or "
                              "[1, 2, 3]", text, getattr(node, "col_offset", 0))

    value = conv(tree.body, 0)
    try:
        arr = np.array(value, dtype=np.float64)
    except ValueError:
        raise ExpressionError("the rows of the value have different lengths", text, 0) \
            from None
    if arr.size > LIMITS["elements"]:
        raise ExpressionError(f"the value has {arr.size} elements; the limit is "
                              f"{LIMITS['elements']}", text, 0)
    return arr
