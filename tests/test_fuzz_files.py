"""Fuzzer 5.7 (issue 8): checkpoint files and the command line, as an adversary would.

Files: real checkpoints (tensors of every dtype, views sharing storage, nested
containers, a module's and an optimizer's state dicts) are saved, then loaded back
truncated at many offsets, with random bytes flipped, and rebuilt by hand with
manipulated manifests and ``.npy`` headers (shapes, dtypes, offsets, references,
nesting, huge numbers, lying zip sizes, compression).  Every load either returns the
saved object (the same values, dtypes, types and sharing of memory) or raises
``RuntimeError`` naming the file (``torch.load`` raises ``RuntimeError`` for a damaged
archive too), and the crafted, small files never make it allocate more than
``MEMORY`` bytes (tracemalloc).

Command line: random and hostile ``chainrule jacobian`` command lines; every run exits
0 or 2, never prints a traceback, refuses in at most three short lines (message, echo,
caret; argparse: usage and message), and finishes quickly.

CI sizes are below; ``CHAINRULE_FUZZ=long`` runs ten times more.
"""

from __future__ import annotations

import io
import json
import math
import struct
import time
import tracemalloc
import zipfile
from collections import Counter, OrderedDict

import numpy as np
import pytest
from conftest import to_np
from fuzzing import budget, cases, record, rng
from test_cli import run_main
from test_serialization import _assert_equal

import chainrule as cr

pytestmark = pytest.mark.chainrule_only

MEMORY = 64 << 20  # bytes a crafted small file may make load() allocate


# ---- checkpoints ----------------------------------------------------------------------

def _dtypes():
    g = np.random.default_rng(1)
    out = {name: cr.from_numpy(g.normal(size=(3, 2)).astype(name))
           for name in ("float16", "float32", "float64")}
    out.update({name: cr.from_numpy(g.integers(-100, 100, size=5).astype(name))
                for name in ("int8", "int16", "int32", "int64", "uint8")})
    out["bool"] = cr.tensor([True, False, True])
    out["scalar"] = cr.tensor(2.5, dtype=cr.float64)
    out["empty"] = cr.zeros(0, 3)
    out["grad"] = cr.ones(2, requires_grad=True)
    return out


def _views():
    t = cr.arange(24.0).reshape(4, 6)
    return {"t": t, "row": t[1], "col": t[:, 2], "tt": t.t(), "step": t[::2, 1::3],
            "flat": t.view(24)[5:], "exp": cr.tensor([1.0, 2.0]).expand(3, 2),
            "same": [t, t], "i": cr.arange(10)[2:7]}


def _nested():
    return {"list": [1, 2.5, "ü€", None, True, [math.nan, -math.inf, 2 ** 70]],
            "tuple": (cr.ones(2), (cr.zeros(1),)), "odict": OrderedDict(a=1, b=cr.ones(1)),
            "counter": Counter("abracadabra"), 3: {(1, "k"): -0.0}, "dtype": cr.float16,
            "size": cr.zeros(2, 3).shape, "np": np.arange(4, dtype=np.int16),
            "npscalar": np.float32(1.5)}


def _state():
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(4, 3), cr.nn.BatchNorm1d(3), cr.nn.Linear(3, 2))
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    model(cr.randn(5, 4)).sum().backward()
    opt.step()
    return {"model": model.state_dict(), "opt": opt.state_dict(), "epoch": 3}


CHECKPOINTS = {"dtypes": _dtypes, "views": _views, "nested": _nested, "state": _state}


def _saved(obj) -> bytes:
    buf = io.BytesIO()
    cr.save(obj, buf)
    return buf.getvalue()


def _tensors(obj, out=None):
    """Every tensor in ``obj``, depth first, in a fixed order."""
    out = [] if out is None else out
    if isinstance(obj, cr.Tensor):
        out.append(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _tensors(k, out), _tensors(v, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _tensors(v, out)
    return out


def _sharing(obj):
    """Which pairs of tensors share memory: the structure a round trip must keep."""
    arrays = [to_np(t) for t in _tensors(obj)]
    return [[np.shares_memory(a, b) for b in arrays] for a in arrays]


def _same(original, loaded) -> None:
    _assert_equal(original, loaded)
    assert _sharing(original) == _sharing(loaded)


def _load(data: bytes, name="fuzz.pt"):
    """load() of ``data``: the object, or None after the RuntimeError it must raise."""
    f = io.BytesIO(data)
    f.name = name
    try:
        return cr.load(f)
    except RuntimeError as exc:
        assert name in str(exc), exc
        assert "\n" not in str(exc) and len(str(exc)) < 1000, exc
        return None


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_round_trip_then_every_truncation(name):
    """Each checkpoint round-trips exactly; cut anywhere (at every zip record boundary
    and at random offsets), it raises RuntimeError."""
    obj = CHECKPOINTS[name]()
    data = _saved(obj)
    _same(obj, cr.load(io.BytesIO(data)))
    g = rng(f"truncate-{name}")
    marks = [i for i in range(len(data) - 3) if data[i:i + 2] == b"PK"]
    cuts = {c for m in marks for c in range(max(m - 2, 0), min(m + 31, len(data)))}
    cuts |= set(g.integers(0, len(data), size=cases(150)).tolist()) | {0, len(data) - 1}
    deadline = budget(8)
    for n, cut in enumerate(sorted(cuts)):  # noqa: B007 (n counts the cases run)
        loaded = _load(data[:cut])
        if loaded is not None:
            _same(obj, loaded)
        if time.monotonic() > deadline:
            break
    record("files: truncations", n + 1)


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_byte_flips(name):
    """One to three random bytes flipped, half of them in the zip's metadata (headers,
    central directory, manifest): the saved object or RuntimeError."""
    obj = CHECKPOINTS[name]()
    data = _saved(obj)
    g = rng(f"flip-{name}")
    meta = [i for i in range(len(data) - 3) if data[i:i + 2] == b"PK"]
    manifest = data.find(b'{"format"')
    hot = sorted({min(m + k, len(data) - 1) for m in meta for k in range(46)}
                 | set(range(manifest, manifest + 200)))
    deadline = budget(6)
    n = 0
    for n in range(1, cases(500) + 1):  # noqa: B007 (n counts the cases run)
        flipped = bytearray(data)
        for _ in range(g.integers(1, 4)):
            at = int(g.choice(hot)) if g.random() < 0.5 else int(g.integers(len(data)))
            flipped[at] ^= int(g.integers(1, 256))
        loaded = _load(bytes(flipped))
        if loaded is not None:
            _same(obj, loaded)
        if time.monotonic() > deadline:
            break
    record("files: byte flips", n)


# ---- crafted archives -------------------------------------------------------------------

_DESCRS = ["<f8", "<f4", "<f2", "|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u8",
           ">f4", ">i8", "|O", "<c8", "<U3", "|V8", "<M8[s]", "|S2", "<f16"]
_JUNK_INTS = [0, 1, -1, 2, 3, 7, 2 ** 31, 2 ** 63, -(2 ** 63), 10 ** 30, 10 ** 300]


def _junk(g, depth=0):
    """A random JSON value, biased towards what a manifest's readers look at."""
    pick = int(g.integers(12 if depth < 3 else 8))
    if pick == 0:
        return _JUNK_INTS[int(g.integers(len(_JUNK_INTS)))]
    if pick == 1:
        return [math.nan, math.inf, -0.0, 1e308, 0.5, -2.5][int(g.integers(6))]
    if pick == 2:
        return ["t0", "t1", "t9", "", "__chainrule__", "../t0", "t0.npy", "tensor", "nan",
                "inf", "float32", "ü"][int(g.integers(12))]
    if pick == 3:
        return bool(g.integers(2))
    if pick == 4:
        return None
    if pick in (5, 6, 7):  # a node
        kinds = ["tensor", "parameter", "ndarray", "npscalar", "list", "tuple", "size",
                 "dict", "odict", "counter", "int", "float", "str", "bool", "none",
                 "dtype", "exec"]
        node = {"t": kinds[int(g.integers(len(kinds)))]}
        for field in ("key", "id", "v", "items", "view", "requires_grad"):
            if g.random() < 0.4:
                node[field] = _junk(g, depth + 1)
        if node["t"] in ("tensor", "parameter") and g.random() < 0.7:
            node["key"] = f"t{int(g.integers(3))}"
            node["id"] = int(g.integers(4))
            if g.random() < 0.6:
                nd = int(g.integers(0, 4))
                node["view"] = [int(g.integers(-2, 30)),
                                [int(g.choice([0, 1, 2, 3, 5, 10 ** 12])) for _ in range(nd)],
                                [int(g.choice([0, 1, -1, 2, 4, -3, 2 ** 62]))
                                 for _ in range(nd)]]
        return node
    if pick in (8, 9):
        return [_junk(g, depth + 1) for _ in range(int(g.integers(4)))]
    return {str(_junk(g, depth + 1))[:8]: _junk(g, depth + 1) for _ in range(2)}


def _mutate(g, tree):
    """``tree`` (a parsed manifest) with one random sub-value replaced by junk."""
    spots = []

    def walk(node):
        if isinstance(node, dict):
            for k in node:
                spots.append((node, k))
                walk(node[k])
        elif isinstance(node, list):
            for i in range(len(node)):
                spots.append((node, i))
                walk(node[i])
    walk(tree)
    if spots:
        parent, key = spots[int(g.integers(len(spots)))]
        parent[key] = _junk(g)
    return tree


def _npy(g, arr: np.ndarray) -> bytes:
    """``arr`` as .npy bytes, or, one time in three, with a manipulated header."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr)
    if g.random() > 0.35:
        return buf.getvalue()
    descr = _DESCRS[int(g.integers(len(_DESCRS)))] if g.random() < 0.6 else arr.dtype.str
    shape = arr.shape
    r = g.random()
    if r < 0.3:
        shape = tuple(int(g.choice([0, 1, 3, 12, 10 ** 9, 2 ** 62, -1]))
                      for _ in range(int(g.integers(0, 4))))
    elif r < 0.4:
        shape = (1.5,) if g.random() < 0.5 else "(3,)"
    elif r < 0.45:
        shape = (1,) * 70
    header = (f"{{'descr': {descr!r}, 'fortran_order': {bool(g.integers(2))}, "
              f"'shape': {shape!r}, }}")
    header += " " * (-(len(header) + 11) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() \
        + arr.tobytes()[:int(g.integers(arr.nbytes + 1))] * int(g.integers(1, 3))


def _archive(g, manifest: bytes, arrays: dict) -> bytes:
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if g.random() < 0.3 else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", method) as zf:
        zf.writestr("__chainrule__.npy", _npy_manifest(manifest))
        for key, arr in arrays.items():
            if g.random() < 0.95:
                zf.writestr(f"{key}.npy", _npy(g, arr))
    data = bytearray(buf.getvalue())
    if g.random() < 0.2:  # lie about a member's sizes in the central directory
        heads = [i for i in range(len(data) - 4) if data[i:i + 4] == b"PK\x01\x02"]
        at = heads[int(g.integers(len(heads)))]
        field = at + (20 if g.random() < 0.5 else 24)
        data[field:field + 4] = struct.pack("<I", int(g.choice([0, 1, 2 ** 20, 2 ** 32 - 2])))
    return bytes(data)


def _npy_manifest(manifest: bytes) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.frombuffer(manifest, np.uint8))
    return buf.getvalue()


def _touch(obj) -> None:
    """Use what load() returned: every tensor's values can be read and summed."""
    for t in _tensors(obj):
        float(to_np(t).astype(np.float64).sum())
        t.shape, t.dtype, t.stride()


def _crafted_manifest(g, bases):
    name = sorted(bases)[int(g.integers(len(bases)))]
    tree, arrays = bases[name]
    tree = json.loads(json.dumps(tree))
    for _ in range(int(g.integers(1, 4))):
        tree = _mutate(g, tree)
    r = g.random()
    if r < 0.05:  # deep nesting, written by hand
        depth = int(g.choice([150, 199, 200, 201, 5000, 50_000]))
        text = ('{"t":"list","items":[' * depth + '{"t":"none"}' + "]}" * depth)
        raw = ('{"format":"chainrule","version":2,"root":' + text + "}").encode()
    elif r < 0.08:  # a huge integer literal
        raw = ('{"format":"chainrule","version":2,"root":{"t":"int","v":'
               + "9" * int(g.choice([10, 4300, 5000, 100_000])) + "}}").encode()
    elif r < 0.10:
        raw = bytes(g.integers(0, 256, size=int(g.integers(0, 64)), dtype=np.uint8))
    else:
        raw = json.dumps(tree, allow_nan=True).encode()
    return _archive(g, raw, arrays)


def _base(obj):
    """The manifest tree and stored arrays of a real checkpoint."""
    with zipfile.ZipFile(io.BytesIO(_saved(obj))) as zf:
        arrays = {n[:-4]: np.load(zf.open(n)) for n in zf.namelist()}
    manifest = json.loads(arrays.pop("__chainrule__").tobytes())
    return manifest, arrays


def _traced_load(data: bytes):
    """``_load(data)`` and the most memory it allocated at once (tracemalloc runs only
    around the load: tracing everything would make the fuzzer ten times slower)."""
    tracemalloc.start()
    try:
        loaded = _load(data)
        return loaded, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_crafted_archives_raise_runtime_error_within_bounded_memory():
    """Hand-built archives with manipulated manifests, .npy headers, zip sizes and
    compression: load() returns something usable or raises RuntimeError, and never
    allocates more than MEMORY bytes for these small files."""
    bases = {name: _base(build()) for name, build in CHECKPOINTS.items()}
    g = rng("crafted")
    deadline = budget(12)
    outcomes = Counter()
    n = 0
    for n in range(1, cases(1500) + 1):  # noqa: B007 (n counts the cases run)
        data = _crafted_manifest(g, bases)
        assert len(data) < 2 << 20
        loaded, peak = _traced_load(data)
        assert peak < MEMORY, (peak, len(data))
        outcomes["refused" if loaded is None else "loaded"] += 1
        if loaded is not None:
            _touch(loaded)
        del loaded
        if time.monotonic() > deadline:
            break
    record("files: crafted archives", n)
    assert outcomes["refused"] > n // 2 and outcomes["loaded"] > 0, outcomes


def test_reference_bomb_variants_stay_bounded():
    """Many references (tensor, parameter, ndarray and view nodes) to one deflated
    array of 4 to 20 MB: each loads once."""
    g = rng("bomb")
    n = 0
    for n in range(1, cases(6) + 1):  # noqa: B007 (n counts the cases run)
        size = int(g.choice([1, 2, 5])) * 1_000_000
        kinds = [{"t": "tensor", "key": "t0", "id": 0},
                 {"t": "parameter", "key": "t0", "id": 1},
                 {"t": "ndarray", "key": "t0"},
                 {"t": "tensor", "key": "t0", "id": 2, "view": [1, [size - 1], [1]]},
                 {"t": "tensor", "key": "t0", "id": 3, "view": [0, [size, 2], [1, 0]]}]
        items = [kinds[int(i)] for i in g.integers(0, len(kinds), size=300)]
        raw = json.dumps({"format": "chainrule", "version": 2,
                          "root": {"t": "list", "items": items}}).encode()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("__chainrule__.npy", _npy_manifest(raw))
            with zf.open("t0.npy", "w") as fp:
                np.lib.format.write_array(fp, np.zeros(size, np.float32))
        data = buf.getvalue()
        assert len(data) < 100_000
        loaded, peak = _traced_load(data)
        assert peak < 4 * size + (8 << 20), peak  # the array once, and a little
        assert loaded is not None and len(loaded) == 300
        arrays = [to_np(t) for t in _tensors(loaded)]
        assert all(np.shares_memory(a, arrays[0]) for a in arrays)
    record("files: reference bombs", n)


# ---- the command line -------------------------------------------------------------------

_NAMES = ["x", "y", "v", "m", "z", "pi", "e", "sin", "_x", "é", "x" * 300, "__import__"]
_NUMBERS = ["0", "1", "2.5", "-0.0", "1e100", "1e101", "1e-320", "0x1F", "1_0", "9" * 50,
            "3j", "True", "None", "'s'", "1e", ".5", "00", "1000", "-1000", "1001"]
_BINARY = ["+", "-", "*", "/", "**", "%", "@", "^", "//", "&", "|", "<<", "==", "<", " and ",
           " if ", ",", ""]
_FUNCS = ["sin", "exp", "log", "sqrt", "sum", "max", "min", "atan2", "pow", "dot", "norm",
          "prod", "mean", "abs", "eval", "open", "foo"]
_VALUES = ["0.7", "-1.3", "[0.5, 1.5, -2]", "[[1, 2], [3, 4]]", "[[1], [2]]", "[]", "nan",
           "1e308", "[1, [2]]", "--1", "-[1]", "[" * 20, "1" * 400, "x", "[1e100, -1e100]"]


def _expression(g, depth=0) -> str:
    r = g.random()
    if depth > 4 or r < 0.25:
        if g.random() < 0.5:
            return _NAMES[int(g.integers(4))] if g.random() < 0.8 else \
                _NAMES[int(g.integers(len(_NAMES)))]
        return _NUMBERS[int(g.integers(len(_NUMBERS)))]
    if r < 0.55:
        op = _BINARY[int(g.integers(7))] if g.random() < 0.8 else \
            _BINARY[int(g.integers(len(_BINARY)))]
        return f"{_expression(g, depth + 1)}{op}{_expression(g, depth + 1)}"
    if r < 0.7:
        fn = _FUNCS[int(g.integers(len(_FUNCS)))]
        args = ", ".join(_expression(g, depth + 1) for _ in range(int(g.integers(0, 4))))
        return f"{fn}({args})"
    if r < 0.78:
        key = ["0", "-1", "1:", "::2", "::0", "0, 1", "10**9", "99999999999", "x", "None",
               "...", "0.5", ":, None"][int(g.integers(13))]
        return f"{_expression(g, depth + 1)}[{key}]"
    if r < 0.84:
        return "[" + ", ".join(_expression(g, depth + 1)
                               for _ in range(int(g.integers(0, 4)))) + "]"
    if r < 0.9:
        return f"-{_expression(g, depth + 1)}"
    return _hostile(g)


def _hostile(g) -> str:
    k = int(g.integers(12))
    n = int(g.choice([10, 63, 64, 65, 200, 700, 1000]))
    if k == 0:
        return "+".join(["x"] * n)                          # a flat chain
    if k == 1:
        return "(" * n + "x" + ")" * n                      # deep parentheses
    if k == 2:
        return "sin(" * n + "x" + ")" * n                   # deep calls
    if k == 3:
        return "**".join(["9"] * int(g.integers(2, 6)))     # a power tower
    if k == 4:
        return "-" * n + "x"
    if k == 5:
        return "x+" * int(g.choice([1000, 15_000])) + "x"   # too long
    if k == 6:                                               # random characters
        chars = "".join(chr(int(c)) for c in g.integers(1, 0x2FF, size=int(g.integers(1, 40))))
        return chars
    if k == 7:
        return "x" + "\x00\n\t\r\x1b\udcff"[int(g.integers(6))] + "1"
    if k == 8:
        return f"{int(g.integers(1, 10))}x"
    if k == 9:
        return "x*" * int(g.integers(1, 5)) + "v" * int(g.integers(0, 2))
    if k == 10:
        return "[" + "x*y, " * int(g.integers(1, 30)) + "x]"
    return "1e100" + "*1e100" * int(g.integers(1, 5))


def _argv(g, folder=None) -> list:
    argv = ["jacobian"]
    expr = _expression(g)
    if g.random() < 0.1:
        expr = "-" + expr
    ats = [("x", "0.7"), ("y", "-1.3"), ("v", "[0.5, 1.5, -2]")]
    if g.random() < 0.3:
        ats.append(("m", "[[1, 2], [3, 4]]"))
    if g.random() < 0.25:
        name = ["z", "1x", "sin", "x", "", "_p", "é"][int(g.integers(7))]
        ats.append((name, _VALUES[int(g.integers(len(_VALUES)))]))
    parts = [["--at", f"{k}={v}"] if g.random() < 0.9 else [f"--at={k}={v}"] for k, v in ats]
    if g.random() < 0.3:
        parts.append(["--vjp", ",".join(str(int(i)) for i in g.integers(-3, 3, size=int(
            g.integers(0, 4))))])
    if g.random() < 0.3:
        parts.append(["--jvp", ",".join(str(int(i)) for i in g.integers(-3, 3, size=int(
            g.integers(0, 7))))])
    if g.random() < 0.25:
        parts.append(["--hessian"])
    if g.random() < 0.3:
        parts.append(["--json"])
    if g.random() < 0.05:
        parts.append([["--bogus", "-q", "--vjp", "--at", "--", "-"][int(g.integers(6))]])
    if folder is not None and g.random() < 0.03:
        ext = ["svg", "html", "dot", "png", "", "svg/"][int(g.integers(6))]
        parts.append(["--graph", f"{folder}/g{int(g.integers(3))}.{ext}"])
    order = g.permutation(len(parts) + 1)
    for i in order:
        argv += [expr] if i == len(parts) else parts[i]
    return argv


def test_fuzz_command_line(tmp_path):
    g = rng("cli")
    deadline = budget(20)
    seen = Counter()
    n = 0
    for n in range(1, cases(2500) + 1):  # noqa: B007 (n counts the cases run)
        argv = _argv(g, tmp_path)
        start = time.monotonic()
        rc, out, err = run_main(argv)
        took = time.monotonic() - start
        where = (argv, err[:500])
        assert rc in (0, 2), where
        assert "Traceback" not in err and took < 5, where
        if rc == 2:
            lines = err.splitlines()
            assert out == "" and lines, where
            if lines[0].startswith("usage:"):
                assert lines[-1].startswith("chainrule") and len(lines) <= 6, where
            else:
                assert lines[0].startswith("chainrule jacobian: error: "), where
                assert len(lines) in (1, 3), where
                if len(lines) == 3:
                    assert lines[2].strip() == "^", where
            assert all(len(line) < 420 for line in lines), where
        else:
            assert err == "" and len(out) < 200_000, where
            if "--json" in argv:
                json.loads(out)
        seen[rc] += 1
        if time.monotonic() > deadline:
            break
    record("cli: command lines", n)
    assert seen[0] > n // 20 and seen[2] > n // 4, seen
