"""The command line: ``chainrule jacobian EXPR --at x=... [--vjp v] [--jvp u] [--hessian]``.

The seed's numbers through a subprocess and in-process; refused inputs exit with code 2
and point at the column of the problem; a fuzz of random strings and of random
expression trees checks that no input executes code or crashes with an internal
error, and that valid expressions agree with chainrule's own API.
"""

import builtins
import contextlib
import io
import json
import os
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest
import tomllib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.__main__ import main
from chainrule._cli import expr as E

pytestmark = pytest.mark.chainrule_only

SEED = "2*x0 + x1**2, x0**2 + 2*x1**3"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_main(argv):
    """``main(argv)`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse's own usage errors
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


def test_seed_subprocess():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "chainrule", "jacobian", SEED, "--at", "x0=1",
                        "--at", "x1=2", "--vjp", "1,2"], capture_output=True, text=True,
                       env=env, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert "y = [6, 17]" in r.stdout
    assert "J = [[2, 4], [2, 24]]" in r.stdout
    assert "v^T J = [6, 52]" in r.stdout


def test_console_script_declared():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        meta = tomllib.load(f)
    assert meta["project"]["scripts"]["chainrule"] == "chainrule.__main__:main"


def test_seed_in_process_text_and_json():
    rc, out, _ = run_main(["jacobian", SEED, "--at", "x0=1", "--at", "x1=2", "--vjp", "1,2",
                           "--jvp", "1,0"])
    assert rc == 0
    assert "J = [[2, 4], [2, 24]]" in out and "v^T J = [6, 52]" in out
    assert "J u = [2, 2]" in out                              # first column of J
    rc, out, _ = run_main(["jacobian", SEED, "--at", "x0=1", "--at", "x1=2", "--vjp", "2,1",
                           "--json"])
    data = json.loads(out)
    assert data["y"] == [6, 17] and data["jacobian"] == [[2, 4], [2, 24]]
    assert data["vjp"] == [6, 32] and data["columns"] == ["x0", "x1"]
    # columns follow the order of --at
    rc, out, _ = run_main(["jacobian", SEED, "--at", "x1=2", "--at", "x0=1", "--json"])
    assert json.loads(out)["jacobian"] == [[4, 2], [24, 2]]


def test_vectors_indexing_reductions_hessian():
    rc, out, _ = run_main(["jacobian", "sum(x**2) + sin(x[0]) * y", "--at", "x=[1,2,3]",
                           "--at", "y=0.5", "--hessian", "--json"])
    data = json.loads(out)
    assert data["columns"] == ["x[0]", "x[1]", "x[2]", "y"]
    c, s = np.cos(1.0), np.sin(1.0)
    np.testing.assert_allclose(data["jacobian"], [[2 + 0.5 * c, 4, 6, s]])
    np.testing.assert_allclose(data["hessian"], [[2 - 0.5 * s, 0, 0, c], [0, 2, 0, 0],
                                                 [0, 0, 2, 0], [c, 0, 0, 0]], atol=1e-12)
    rc, out, err = run_main(["jacobian", "x * 2", "--at", "x=[1,2]", "--hessian"])
    assert rc == 2 and "scalar" in err


def test_graph_file(tmp_path):
    path = tmp_path / "seed.svg"
    rc, out, _ = run_main(["jacobian", SEED, "--at", "x0=1", "--at", "x1=2", "--graph",
                           str(path)])
    assert rc == 0 and "graph written" in out
    import xml.etree.ElementTree as ET
    root = ET.parse(path).getroot()
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"x0", "x1", "y0", "y1", "PowBackward0"} <= texts
    rc, _, err = run_main(["jacobian", "x", "--at", "x=1", "--graph", str(tmp_path / "a.png")])
    assert rc == 2 and ".svg" in err


@pytest.mark.parametrize("expression, message, col", [
    ("x.__class__", "attribute access", 1),
    ("__import__('os')", "unknown function", 0),
    ("2*x + y1", "unknown name 'y1'", 6),
    ("2*x + (x", "syntax error", 6),
    ("x ** 100000", "exponent", 5),
    ("x[5]", "out of bounds", 1),
    ("[x for x in x]", "ListComp", 0),
    ("lambda: 1", "lambda", 0),
    ("x if x else x", "if/else", 0),
    ("x < 1", "comparison", 0),
    ("'a'", "strings", 0),
    ("sin(x, x)", "takes 1 argument", 0),
    ("sin(x=1)", "keyword", 6),
    ("1" * 50, "number literal", 0),
    ("1e300", "number literal", 0),
    ("sin", "is a function", 0),
    ("(" * 300 + "x" + ")" * 300, "", None),
    ("-" * 100 + "x", "nested too deeply", None),
    ("x" + "+x" * 1500, "characters long", None),
])
def test_refused_inputs_point_at_the_problem(expression, message, col):
    rc, out, err = run_main(["jacobian", "--at", "x=[1,2]", "--", expression])
    assert rc == 2 and out == ""
    assert message in err
    if col is not None:
        lines = err.splitlines()
        assert lines[-1] == "  " + " " * col + "^", err


@pytest.mark.parametrize("at, message", [
    (["x"], "NAME=VALUE"), (["1x=2"], "not a valid variable name"),
    (["sin=1"], "function"), (["x=1", "x=2"], "twice"), (["x=[1,[2]]"], "different"),
    (["x=__import__('os')"], "number or a list"), (["x=1e999"], "too large"),
])
def test_refused_values(at, message):
    argv = ["jacobian", "x"]
    for a in at:
        argv += ["--at", a]
    rc, _, err = run_main(argv)
    assert rc == 2 and message in err


def test_vjp_jvp_lengths_checked():
    rc, _, err = run_main(["jacobian", SEED, "--at", "x0=1", "--at", "x1=2", "--vjp", "1"])
    assert rc == 2 and "expected 2" in err
    rc, _, err = run_main(["jacobian", SEED, "--at", "x0=1", "--at", "x1=2", "--jvp", "1,2,3"])
    assert rc == 2 and "expected 2" in err


def test_demo_still_works(capsys):
    assert main(["demo"]) == 0
    assert "[6.0, 52.0]" in capsys.readouterr().out


# ---- fuzzing ----------------------------------------------------------------------------

class Executed(BaseException):
    """Raised if the command reaches eval/exec/an import: never caught by the CLI."""


@contextlib.contextmanager
def no_code_execution():
    real_import = builtins.__import__

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name not in sys.modules:
            raise Executed(f"import {name}")
        return real_import(name, globals, locals, fromlist, level)

    def refuse(*args, **kwargs):
        raise Executed("eval/exec")

    with mock.patch.object(builtins, "__import__", guarded_import), \
            mock.patch.object(builtins, "eval", refuse), \
            mock.patch.object(builtins, "exec", refuse):
        yield


AT = ["--at", "a=0.7", "--at", "b=-1.3", "--at", "v=[0.5, 1.5, -2]"]
VALUES = {"a": np.array(0.7), "b": np.array(-1.3), "v": np.array([0.5, 1.5, -2.0])}

# warm up: every module the command uses is imported before the guard is on
run_main(["jacobian", "sum(v) + a*b + dot(v, v) + max(a, b) + v[0]"] + AT + ["--vjp", "1",
                                                                              "--jvp", "1,1,1,1,1"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.text(max_size=40),
    st.text(alphabet="abvx01234567890.e+-*/%@()[]:, _sincoqrtlpumx", max_size=40)))
def test_fuzz_random_strings(text):
    with no_code_execution():
        rc, _, err = run_main(["jacobian"] + AT + ["--", text])
    assert rc in (0, 2), (text, err)
    if rc == 0:
        data = json.loads(run_main(["jacobian", "--json"] + AT + ["--", text])[1])
        assert len(data["jacobian"]) == len(data["y"])


_UNARY = ["sin", "cos", "tanh", "exp", "sigmoid", "abs", "sqrt", "log", "atan", "square"]
_REDUCE = ["sum", "mean", "max", "min", "norm", "prod"]


def _num(x):  # a float64 array keeps every digit of x (the CLI builds numbers this way)
    return x if isinstance(x, cr.Tensor) else cr.from_numpy(np.array(float(x)))


@st.composite
def trees(draw, depth=0):
    """``(text, fn(env) -> value, kind)``, kind 's' (scalar) or 'v' (vector of 3)."""
    if depth >= 4 or draw(st.integers(0, 3)) == 0:
        choice = draw(st.integers(0, 4))
        if choice == 0:
            c = draw(st.one_of(st.integers(-5, 5), st.floats(-3, 3).map(lambda f: round(f, 3))))
            return f"({c!r})", lambda env: c, "s"
        if choice == 1:
            name = draw(st.sampled_from(["a", "b"]))
            return name, lambda env: env[name], "s"
        if choice == 2:
            return "v", lambda env: env["v"], "v"
        if choice == 3:
            i = draw(st.integers(-3, 2))
            return f"v[{i}]", lambda env: env["v"][i], "s"
        return "pi", lambda env: np.pi, "s"
    kind = draw(st.integers(0, 4))
    if kind == 0:
        (ta, fa, ka), (tb, fb, kb) = draw(trees(depth + 1)), draw(trees(depth + 1))
        op = draw(st.sampled_from(["+", "-", "*", "/", "**"]))

        def f(env, fa=fa, fb=fb, op=op):
            x, y = fa(env), fb(env)
            if not isinstance(x, cr.Tensor) and not isinstance(y, cr.Tensor):
                x = _num(x)
            return {"+": lambda: x + y, "-": lambda: x - y, "*": lambda: x * y,
                    "/": lambda: x / y, "**": lambda: x ** y}[op]()
        return f"({ta} {op} {tb})", f, "v" if "v" in (ka, kb) else "s"
    if kind == 1:
        t, fa, k = draw(trees(depth + 1))
        name = draw(st.sampled_from(_UNARY))
        return f"{name}({t})", lambda env: getattr(cr, name)(_num(fa(env))), k
    if kind == 2:
        t, fa, k = draw(trees(depth + 1))
        name = draw(st.sampled_from(_REDUCE))
        return f"{name}({t})", lambda env: getattr(_num(fa(env)), name)(), "s"
    if kind == 3:
        t, fa, k = draw(trees(depth + 1))
        return f"(-{t})", lambda env: -fa(env), k
    (ta, fa, ka), (tb, fb, kb) = draw(trees(depth + 1)), draw(trees(depth + 1))
    if ka == kb == "v":
        return (f"dot({ta}, {tb})",
                lambda env: cr.dot(_num(fa(env)), _num(fb(env))), "s")
    return (f"atan2({ta}, {tb})",
            lambda env: cr.atan2(_num(fa(env)), _num(fb(env))), "v" if "v" in (ka, kb) else "s")


def _expected(fn):
    names = ["a", "b", "v"]
    xs = tuple(cr.tensor(VALUES[n], dtype=cr.float64) for n in names)

    def f(*args):
        return _num(fn(dict(zip(names, args)))).reshape(-1)

    with cr.no_grad():
        y = f(*xs)
    J = cr.autograd.functional.jacobian(f, xs)
    m = int(y.numel())
    return y.numpy(), np.concatenate([j.numpy().reshape(m, -1) for j in J], axis=1)


def _floats(x):
    return np.array([[float(v) for v in row] for row in x] if x and isinstance(x[0], list)
                    else [float(v) for v in x], dtype=np.float64)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees())
def test_fuzz_expression_trees_agree_with_library(tree):
    text, fn, _ = tree
    with no_code_execution():
        rc, out, err = run_main(["jacobian", "--json"] + AT + ["--", text])
    assert rc == 0, (text, err)
    data = json.loads(out)
    y, J = _expected(fn)
    np.testing.assert_allclose(_floats(data["y"]), y, rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(_floats(data["jacobian"]).reshape(J.shape), J, rtol=1e-10,
                               atol=1e-12, equal_nan=True)


def test_limits_are_documented():
    for key in ("length", "depth", "literal", "exponent", "elements"):
        assert key in E.LIMITS


# ---- issue 8: hostile inputs ------------------------------------------------------------

def test_flat_sum_of_many_terms_is_not_deep():
    """A chain ``x0+x0+...`` is long, not nested: 64 and 600 terms evaluate (no
    recursion), with their Hessian."""
    for k in (64, 600):
        rc, out, err = run_main(["jacobian", "+".join(["x0"] * k), "--at", "x0=1",
                                 "--hessian", "--json"])
        assert rc == 0, err
        data = json.loads(out)
        assert data["y"] == [k] and data["jacobian"] == [[k]] and data["hessian"] == [[0]]


def test_leading_minus_in_expression_and_values():
    rc, out, err = run_main(["jacobian", "-x0**2", "--at", "x0=3", "--vjp", "-1", "--jvp",
                             "-2", "--json"])
    assert rc == 0, err
    data = json.loads(out)
    assert data["y"] == [-9] and data["vjp"] == [6] and data["jvp"] == [12]
    rc, out, err = run_main(["jacobian", "x0*x1, x0+x1", "--at", "x0=1", "--at", "x1=2",
                             "--vjp", "-1,2", "--jvp", "-1,-2", "--json"])
    assert rc == 0, err
    assert json.loads(out)["vjp"] == [0, 1] and json.loads(out)["jvp"] == [-4, -3]
    # options are still options
    rc, out, _ = run_main(["jacobian", "--json", "-x0", "--at", "x0=2"])
    assert rc == 0 and json.loads(out)["y"] == [-2]
    rc, out, err = run_main(["jacobian", "x0*x1, x0", "--at", "x0=1", "--at", "x1=2",
                             "--vj", "-1,2", "--js"])  # argparse's abbreviations
    assert rc == 0 and json.loads(out)["vjp"] == [0, -1], err


@pytest.mark.parametrize("expression, message, col", [
    ("9**9**9", "exponent 387420489 is too large", 3),
    ("2**10000", "exponent 10000 is too large", 3),
    ("x**(2**11)", "exponent 2048 is too large", 4),
    ("pow(x, 10**4)", "exponent 10000 is too large", 7),
    ("1e100**4", "overflows float64", 5),
    ("x + 1e100*1e100*1e100*1e100", "overflows float64", 21),
    ("x^2", "for a power write '**'", 1),
    ("x // 2", "floor(a / b)", 2),
    ("2x", "for a product write 2*x", 1),
    ("y + 12.5abc", "for a product write 12.5*abc", 8),
    ("x+", "ends too early", 2),
    ("sin(x", "never closed", 3),
])
def test_constant_folding_operators_and_carets(expression, message, col):
    rc, out, err = run_main(["jacobian", "--at", "x=[1,2]", "--", expression])
    assert rc == 2 and out == "" and message in err, err
    assert err.splitlines()[-1] == "  " + " " * col + "^", err


def test_poles_are_values_not_overflows():
    rc, out, err = run_main(["jacobian", "x + 0**-1 + 1/0*0", "--at", "x=1", "--json"])
    assert rc == 0, err
    assert json.loads(out)["y"] == ["nan"]  # inf + inf*0, as float64 arithmetic gives


def test_long_input_echo_is_a_window_around_the_problem():
    text = "x+" * 15_000 + "x"
    rc, _, err = run_main(["jacobian", "--at", "x=1", "--", text])
    assert rc == 2 and "30,001 characters long" in err
    lines = err.splitlines()
    assert len(lines) == 3 and all(len(line) < 200 for line in lines)
    assert lines[1].startswith("  ...") and lines[1].endswith("...")
    assert lines[2].index("^") == 2 + 3 + E.SHOWN // 2  # under column 2000
    # an error deep inside a long expression points at it through the window
    text = "+".join(["x"] * 400) + "+y"
    rc, _, err = run_main(["jacobian", "--at", "x=1", "--", text])
    line, caret = err.splitlines()[1:]
    assert line[caret.index("^")] == "y"


def test_sizes_are_checked_before_allocating():
    col = "[" + ",".join(["[1]"] * 10_000) + "]"
    plane = "[" + ",".join(["[[1]]"] * 10_000) + "]"
    vec = "[" + ",".join(["1"] * 10_000) + "]"
    rc, _, err = run_main(["jacobian", "x*y*z", "--at", f"x={vec}", "--at", f"y={col}",
                           "--at", f"z={plane}"])
    assert rc == 2 and "100,000,000 elements" in err, err
    rc, _, err = run_main(["jacobian", "sum(x@y)", "--at", f"x={col}", "--at",
                           "y=[" + vec + "]"])
    assert rc == 2 and "elements; the limit" in err
    big = "[" + ",".join(["1"] * 3000) + "]"
    rc, _, err = run_main(["jacobian", "sum(x*x)", "--at", f"x={big}", "--hessian"])
    assert rc == 2 and "Hessian would have 3,000 x 3,000" in err
    rc, _, err = run_main(["jacobian", "[x*x] * 1", "--at", f"x={vec}"])
    assert rc == 2 and "Jacobian would have 10,000 x 10,000" in err
    rc, _, err = run_main(["jacobian", "x", "--at", "x=" + "1" * 500_000])
    assert rc == 2 and "characters long" in err


def test_console_errors_are_one_line_and_never_tracebacks():
    rc, out, err = run_main(["jacobian", "x\udcff", "--at", "x=1"])
    assert rc == 2 and err.count("\n") <= 3 and "Traceback" not in err
    with mock.patch("chainrule._cli.jacobian.compute", side_effect=KeyError("boom")):
        rc, _, err = run_main(["jacobian", "x", "--at", "x=1"])
    assert rc == 1 and err.count("\n") == 1 and "internal error (KeyError" in err


def test_hostile_inputs_through_a_real_process():
    """Exit codes and stderr as a shell sees them: one refusal (message, echo, caret),
    exit 2, no traceback; a leading '-' works."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    script = ("import sys; from chainrule.__main__ import main\n"
              "for argv in ([ 'jacobian', '+'.join(['x0'] * 64), '--at', 'x0=1'],\n"
              "             ['jacobian', 'x0+' * 15000 + 'x0', '--at', 'x0=1'],\n"
              "             ['jacobian', '-x0**2', '--at', 'x0=1', '--vjp', '-1']):\n"
              "    try:\n"
              "        rc = main(argv)\n"
              "    except SystemExit as e:\n"
              "        rc = e.code\n"
              "    print('rc', rc, file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       env=env, timeout=120, check=False)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    codes = [line for line in r.stderr.splitlines() if line.startswith("rc ")]
    assert codes == ["rc 0", "rc 2", "rc 0"], r.stderr
    assert len(r.stderr) < 600 and "y = [64]" in r.stdout and "v^T J = [2]" in r.stdout
    r = subprocess.run([sys.executable, "-m", "chainrule", "jacobian", "2x0", "--at", "x0=1"],
                       capture_output=True, text=True, env=env, timeout=120, check=False)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [
        "chainrule jacobian: error: syntax error: invalid decimal literal; for a product "
        "write 2*x0", "  2x0", "   ^"]


def test_a_large_jacobian_is_computed_and_printed():
    """1000 x 1000 (a million cells) is within the limits and prints in about a second."""
    import time
    vec = "[" + ",".join(f"{i / 1000}" for i in range(1000)) + "]"
    start = time.monotonic()
    rc, out, err = run_main(["jacobian", "sin(x)*cos(x) + exp(x)*x - x/3 + tanh(x)*x*x",
                             "--at", f"x={vec}"])
    assert rc == 0, err
    assert time.monotonic() - start < 30
    lines = out.splitlines()
    j = [line for line in lines if line.startswith(("J = [", "     ["))]
    assert len(j) == 1000 and j[0].startswith("J = [[1.66667, ")  # 1 + 1 - 1/3 at 0
    assert j[-1].endswith("]]") and len(j[500].rstrip(",").split(",")) == 1000
