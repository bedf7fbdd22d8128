"""Safe math expressions for the command line: parsed with ``ast``, checked against a
whitelist, evaluated with chainrule ops.  Never ``eval``/``exec``.

Accepted: numbers, variable names, ``pi`` and ``e``; ``+ - * / ** % @`` and unary
``-``/``+``; calls of the functions in :data:`FUNCTIONS` (positional arguments only);
indexing with integer constants and slices (``x[0]``, ``x[1:]``, ``A[0, 1]``); list
literals (``[x0, x1]``, stacked into a vector); a top-level tuple for several outputs.
Everything else (attributes, comparisons, lambdas, comprehensions, keywords, strings,
...) is refused, and limits on the expression's length, its nesting depth, the size of
number literals and of constant exponents stop inputs that would be huge to compute.
Errors are :class:`ExpressionError`, which point at the column of the problem.
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
}


class ExpressionError(ValueError):
    """A refused or failing expression, with the position of the problem."""

    def __init__(self, message, text="", col=None, line=1):
        super().__init__(message)
        self.message = message
        self.text = text
        self.col = col
        self.line = line

    def render(self) -> str:
        """The message, the offending line and a caret under the column."""
        out = [f"error: {self.message}"]
        if self.text and self.col is not None:
            lines = self.text.splitlines() or [""]
            src = lines[min(max(self.line, 1), len(lines)) - 1]
            shown = "".join(c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else "?"
                            for c in src)
            out.append("  " + shown)
            out.append("  " + " " * min(max(self.col, 0), len(shown)) + "^")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.render()


def _cr():
    import chainrule
    return chainrule


def _unary(name):
    return lambda x: getattr(_cr(), name)(x)


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
    "max": ((1, 2), lambda x, y=None: x.max() if y is None else _cr().maximum(x, y)),
    "min": ((1, 2), lambda x, y=None: x.min() if y is None else _cr().minimum(x, y)),
    "atan2": (2, lambda y, x: _cr().atan2(y, x)),
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
        ast.keyword: "keyword arguments are not allowed"}


def _col(text, node):
    """Character column to point at for ``node`` (ast gives UTF-8 byte offsets): the
    operator of a binary operation, the ``.`` of an attribute, the ``[`` of an index,
    else the node's start."""
    lines = text.splitlines() or [""]
    line = lines[min(max(node.lineno, 1), len(lines)) - 1]
    raw = line.encode("utf-8")
    at = node.col_offset
    inner = getattr(node, "left", None) or getattr(node, "value", None)
    if isinstance(node, (ast.BinOp, ast.Attribute, ast.Subscript)) and \
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

    def error(self, message, node) -> ExpressionError:
        return ExpressionError(message, self.text, _col(self.text, node), node.lineno)

    def check_names(self, known) -> None:
        """Refuse a name that is neither a variable in ``known`` nor a constant."""
        for name in self.names:
            if name not in known:
                given = ", ".join(known) or "none"
                raise self.error(f"unknown name {name!r} (variables given with --at: "
                                 f"{given})", self._find_name(name))

    def evaluate(self, env: dict) -> list:
        """The outputs as Tensors, with ``env`` mapping variable names to Tensors."""
        self.check_names(list(env))
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
        return cr.tensor(float(v), dtype=cr.float64)

    def _eval(self, node, env):
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
            v = self._eval(node.operand, env)
            return self._apply(node, lambda: -v if isinstance(node.op, ast.USub) else +v)
        if isinstance(node, ast.BinOp):
            a = self._eval(node.left, env)
            b = self._eval(node.right, env)
            if not isinstance(a, cr.Tensor) and not isinstance(b, cr.Tensor):
                a = self._tensor(a, node)  # numbers meet as float64 tensors: no overflow
            return self._apply(node, lambda: _binop(node.op, a, b))
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self._tensor(self._eval(e, env), e) for e in node.elts]
            if not items:
                raise self.error("an empty list has no value", node)
            return self._apply(node, lambda: cr.stack(items))
        if isinstance(node, ast.Subscript):
            v = self._tensor(self._eval(node.value, env), node.value)
            key = _index(node.slice)
            return self._apply(node, lambda: v[key])
        if isinstance(node, ast.Call):
            fn = FUNCTIONS[node.func.id][1]
            args = [self._tensor(self._eval(a, env), a) for a in node.args]
            return self._apply(node, lambda: fn(*args))
        raise self.error(f"{type(node).__name__} is not allowed", node)  # unreachable

    def _apply(self, node, thunk):
        try:
            return thunk()
        except ExpressionError:
            raise
        except (RuntimeError, ValueError, TypeError, IndexError, ArithmeticError) as exc:
            first = str(exc).split(". ")[0].strip()
            raise self.error(first or type(exc).__name__, node) from None


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
        raise ExpressionError(f"the expression is {len(text)} characters long; the limit is "
                              f"{LIMITS['length']}", text, LIMITS["length"])
    if not text.strip():
        raise ExpressionError("the expression is empty", text, 0)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        col = max((exc.offset or 1) - 1, 0)
        line = exc.lineno or 1
        msg = exc.msg if exc.msg else "invalid syntax"
        raise ExpressionError(f"syntax error: {msg}", text.strip(), col, line) from None
    except (ValueError, MemoryError, RecursionError) as exc:  # null bytes, surrogates
        raise ExpressionError(f"cannot parse the expression: {exc}", text, 0) from None
    text = text.strip()
    _check(text, tree)
    return Expression(text, tree)


def _check(text, tree):
    """Whitelist node types, names, calls, subscripts and the size limits (iterative)."""
    expr = Expression.__new__(Expression)
    expr.text = text
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > LIMITS["depth"]:
            raise expr.error(f"the expression is nested too deeply (limit "
                             f"{LIMITS['depth']} levels)", node)
        if not isinstance(node, _ALLOWED):
            why = _WHY.get(type(node), f"{type(node).__name__} is not allowed in an expression")
            if hasattr(node, "lineno"):
                raise expr.error(why, node)
            raise ExpressionError(why, text, 0)
        if isinstance(node, ast.Constant):
            _check_number(expr, node)
        elif isinstance(node, ast.Call):
            _check_call(expr, node)
            for a in node.args:
                stack.append((a, depth + 1))
            continue
        elif isinstance(node, ast.Subscript):
            _check_key(expr, node.slice)
            stack.append((node.value, depth + 1))
            continue
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            c = _const_value(node.right)
            if c is not None and abs(c) > LIMITS["exponent"]:
                raise expr.error(f"the exponent {c!r} is too large (limit "
                                 f"{LIMITS['exponent']})", node.right)
        elif isinstance(node, ast.Name) and node.id.startswith("_"):
            raise expr.error(f"names starting with '_' are not allowed: {node.id!r}", node)
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth + 1))


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
        raise expr.error(f"unknown function {name!r}; available: {known}", node.func)
    if node.keywords:
        raise expr.error("keyword arguments are not allowed", node.keywords[0].value)
    for a in node.args:
        if isinstance(a, ast.Starred):
            raise expr.error("* unpacking is not allowed", a)
    if name == "pow" and len(node.args) == 2:
        c = _const_value(node.args[1])
        if c is not None and abs(c) > LIMITS["exponent"]:
            raise expr.error(f"the exponent {c!r} is too large (limit "
                             f"{LIMITS['exponent']})", node.args[1])
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
            if not math.isfinite(float(c)) or abs(c) > LIMITS["literal"]:
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
