"""``chainrule.save`` / ``chainrule.load``: round trips, atomic writes, refusals and
clear errors on corrupt, truncated or foreign files."""

import io
import json
import math
import os
import zipfile
from collections import Counter, OrderedDict

import numpy as np
import pytest
from conftest import TESTING_TORCH, to_np

pytestmark = pytest.mark.chainrule_only


def _checkpoint(cr):
    w = cr.randn(3, 2, requires_grad=True)
    return {
        "model": OrderedDict(weight=w, bias=cr.zeros(2, dtype=cr.float64)),
        "ints": cr.arange(5), "flags": cr.tensor([True, False]), "half": cr.ones(2).half(),
        "scalar": cr.tensor(3.5), "empty": cr.zeros(0, 4),
        "epoch": 7, "loss": 0.125, "nan": math.nan, "inf": -math.inf, "name": "run-1",
        "done": False, "nothing": None, "nested": [1, (2.0, "x", [None, True])],
        "optimizer": {"state": {0: {"step": cr.tensor(3.0), "exp_avg": cr.ones(3, 2)}},
                      "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0]}]},
        "shape": cr.zeros(2, 3).shape, "dtype": cr.float32, "counter": Counter([3, 3, 8]),
        "np": np.arange(4.0), "npscalar": np.float32(2.5), "big_int": 2 ** 70,
    }


def _assert_equal(a, b, path="root"):
    assert type(a) is type(b), (path, type(a), type(b))
    if hasattr(a, "detach") and hasattr(a, "dtype"):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert a.requires_grad == b.requires_grad, path
        np.testing.assert_array_equal(to_np(a), to_np(b), err_msg=path)
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            _assert_equal(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_equal(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b, (path, a, b)


def test_round_trip_path(cr, tmp_path):
    obj = _checkpoint(cr)
    path = tmp_path / "ckpt.pt"
    cr.save(obj, path)
    loaded = cr.load(path)
    _assert_equal(obj, loaded)
    assert loaded["model"]["weight"].is_leaf
    loaded["model"]["bias"].add_(1)  # loaded arrays are writable
    again = cr.load(str(path), map_location="cpu", weights_only=True)
    _assert_equal(obj, again)


def test_round_trip_file_objects(cr):
    obj = _checkpoint(cr)
    buf = io.BytesIO()
    cr.save(obj, buf)
    buf.seek(0)
    _assert_equal(obj, cr.load(buf, map_location=lambda storage, loc: storage))


def test_plain_npz_with_json_manifest(cr, tmp_path):
    path = tmp_path / "m.pt"
    cr.save({"w": cr.ones(2, 2)}, path)
    with np.load(path, allow_pickle=False) as z:
        manifest = json.loads(z["__chainrule__"].tobytes())
        assert manifest["format"] == "chainrule" and manifest["version"] == 2
        key = manifest["root"]["items"][0][1]["key"]
        np.testing.assert_array_equal(z[key], np.ones((2, 2), np.float32))


def test_shared_tensor_is_stored_once(cr):
    t = cr.ones(3)
    buf = io.BytesIO()
    cr.save([t, t, {"again": t}], buf)
    buf.seek(0)
    a, b, c = cr.load(buf)
    assert a is b is c["again"]
    buf.seek(0)
    assert len(zipfile.ZipFile(buf).namelist()) == 2  # manifest + one array


def test_model_and_optimizer_state_dicts(cr, tmp_path):
    p = cr.randn(4, requires_grad=True)
    opt = cr.optim.Adam([p], lr=0.01)
    p.grad = cr.ones(4)
    opt.step()
    sched = cr.optim.lr_scheduler.MultiStepLR(opt, [2, 4])
    path = tmp_path / "train.pt"
    cr.save({"p": p.detach(), "opt": opt.state_dict(), "sched": sched.state_dict()}, path)
    ck = cr.load(path)
    opt2 = cr.optim.Adam([p], lr=1.0)
    opt2.load_state_dict(ck["opt"])
    assert opt2.param_groups[0]["lr"] == 0.01
    assert float(opt2.state[p]["step"]) == 1.0
    assert ck["sched"]["milestones"] == Counter([2, 4])


@pytest.mark.parametrize("bad", [
    lambda cr: {"fn": lambda x: x},
    lambda cr: [object()],
    lambda cr: {"set": {1, 2}},
    lambda cr: {("a", object()): 1},
    lambda cr: {cr.ones(1): 1},
    lambda cr: np.array(["a", "b"]),
    lambda cr: np.array([1, None], dtype=object),
    lambda cr: {"gen": cr.Generator()},
    lambda cr: {"bytes": b"abc"},
], ids=["lambda", "object", "set", "tuple_key", "tensor_key", "str_array", "object_array",
        "generator", "bytes"])
def test_non_data_is_refused_before_writing(cr, tmp_path, bad):
    path = tmp_path / "x.pt"
    with pytest.raises(TypeError, match="chainrule.save"):
        cr.save(bad(cr), path)
    assert not os.listdir(tmp_path)


def test_module_refusal_suggests_state_dict(cr):
    class Model:
        def state_dict(self):
            return {}
    with pytest.raises(TypeError, match=r"root\['m'\].*state_dict\(\)"):
        cr.save({"m": Model()}, io.BytesIO())


def test_self_containing_object_is_refused(cr):
    a = []
    a.append(a)
    with pytest.raises(ValueError, match="contains itself"):
        cr.save(a, io.BytesIO())


def test_crash_mid_save_keeps_the_old_file(cr, tmp_path, monkeypatch):
    from chainrule import _serialization
    path = tmp_path / "ckpt.pt"
    cr.save({"v": cr.ones(1000), "epoch": 1}, path)
    real = _serialization._write_member
    calls = []

    def crashing(zf, name, arr):
        calls.append(name)
        if len(calls) == 3:  # the second tensor: write half of it, then die
            with zf.open(name, "w") as fp:
                fp.write(b"\x93NUMPY" + b"\0" * 100)
            raise KeyboardInterrupt("power cut")
        real(zf, name, arr)

    monkeypatch.setattr(_serialization, "_write_member", crashing)
    with pytest.raises(KeyboardInterrupt):
        cr.save({"v": cr.zeros(1000), "w": cr.zeros(1000), "epoch": 2}, path)
    monkeypatch.setattr(_serialization, "_write_member", real)
    old = cr.load(path)
    assert old["epoch"] == 1 and to_np(old["v"]).sum() == 1000
    assert os.listdir(tmp_path) == ["ckpt.pt"]  # no temporary file left behind


def test_overwrite_is_atomic_replace(cr, tmp_path):
    path = tmp_path / "ckpt.pt"
    cr.save({"epoch": 1}, path)
    cr.save({"epoch": 2}, path)
    assert cr.load(path) == {"epoch": 2}
    assert os.listdir(tmp_path) == ["ckpt.pt"]
    assert (os.stat(path).st_mode & 0o777) == (0o666 & ~_umask())


def _umask():
    old = os.umask(0)
    os.umask(old)
    return old


def _saved_bytes(cr, obj):
    buf = io.BytesIO()
    cr.save(obj, buf)
    return buf.getvalue()


@pytest.mark.parametrize("cut", [0.2, 0.5, 0.9, 0.99])
def test_truncated_file(cr, tmp_path, cut):
    data = _saved_bytes(cr, {"w": cr.randn(50, 50), "b": cr.ones(5)})
    path = tmp_path / "trunc.pt"
    path.write_bytes(data[:int(len(data) * cut)])
    with pytest.raises(RuntimeError, match="trunc.pt"):
        cr.load(path)


def test_corrupted_array_bytes(cr, tmp_path):
    data = bytearray(_saved_bytes(cr, {"w": cr.zeros(200)}))
    start = data.rfind(b"\x93NUMPY")
    data[start + 200] ^= 0xFF  # flip bits inside the array's payload
    path = tmp_path / "flip.pt"
    path.write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match="flip.pt.*corrupt"):
        cr.load(path)


def test_corrupted_manifest(cr, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        with zf.open("__chainrule__.npy", "w") as fp:
            np.lib.format.write_array(fp, np.frombuffer(b'{"format": "chainrule", "ver',
                                                        np.uint8))
    path = tmp_path / "manifest.pt"
    path.write_bytes(buf.getvalue())
    with pytest.raises(RuntimeError, match="manifest.pt.*JSON"):
        cr.load(path)


@pytest.mark.parametrize("root", [{"t": "tensor", "key": "t9"}, {"t": "exec", "v": 1},
                                  {"t": "dict", "items": [[{"t": "list", "items": []}, 1]]},
                                  {"t": "int", "v": "1"}, [1, 2]])
def test_malformed_manifest_nodes(cr, root):
    manifest = json.dumps({"format": "chainrule", "version": 1, "root": root}).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        with zf.open("__chainrule__.npy", "w") as fp:
            np.lib.format.write_array(fp, np.frombuffer(manifest, np.uint8))
    buf.seek(0)
    with pytest.raises(RuntimeError, match="corrupt or not a chainrule checkpoint"):
        cr.load(buf)


def test_foreign_files(cr, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(RuntimeError, match="notes.txt.*not a chainrule checkpoint"):
        cr.load(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.ones(3))
    with pytest.raises(RuntimeError, match="plain.npz.*not written by chainrule.save"):
        cr.load(plain)
    pickled = tmp_path / "pickled.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(RuntimeError, match="pickled.npy"):
        cr.load(pickled)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        cr.load(tmp_path / "missing.pt")


@pytest.mark.skipif(TESTING_TORCH, reason="needs real torch as the writer")
def test_torch_checkpoint_is_refused_with_advice(cr, torch, tmp_path):
    path = tmp_path / "torch.pt"
    torch.save({"w": torch.ones(2)}, path)
    with pytest.raises(RuntimeError, match="torch.save checkpoint"):
        cr.load(path)


def test_pickled_object_arrays_are_never_loaded(cr, tmp_path):
    """A hand-made archive with a pickled member is refused, not unpickled."""
    buf = io.BytesIO()
    manifest = json.dumps({"format": "chainrule", "version": 1,
                           "root": {"t": "ndarray", "key": "t0"}}).encode()
    with zipfile.ZipFile(buf, "w") as zf:
        with zf.open("__chainrule__.npy", "w") as fp:
            np.lib.format.write_array(fp, np.frombuffer(manifest, np.uint8))
        with zf.open("t0.npy", "w") as fp:
            np.lib.format.write_array(fp, np.array([print], dtype=object), allow_pickle=True)
    buf.seek(0)
    with pytest.raises(RuntimeError, match="cannot be read"):
        cr.load(buf)


def test_map_location_cuda_is_refused(cr):
    if cr.__name__ == "chainrule" and cr.cuda.is_available():
        pytest.skip("this machine has a GPU and CuPy: map_location='cuda' works here")
    buf = io.BytesIO(_saved_bytes(cr, {"a": 1}))
    with pytest.raises(RuntimeError, match="CPU"):
        cr.load(buf, map_location="cuda:0")
    buf.seek(0)
    assert cr.load(buf, map_location={"cuda:0": "cpu"}) == {"a": 1}


def test_version_mismatch(cr):
    manifest = json.dumps({"format": "chainrule", "version": 99, "root": None}).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        with zf.open("__chainrule__.npy", "w") as fp:
            np.lib.format.write_array(fp, np.frombuffer(manifest, np.uint8))
    buf.seek(0)
    with pytest.raises(RuntimeError, match="version 99"):
        cr.load(buf)


# ---- issue 8: shared storage, file system, bounded loading ---------------------------

def _views(lib):
    t = lib.arange(12.0)
    m = t.view(3, 4)
    return {"t": t, "tail": t[1:], "tt": m.t(), "step": t[::3], "row": m[1],
            "col": m[:, 2], "again": t, "other": lib.ones(3)}


def _roundtrip(lib, obj, tmp_path, name):
    path = tmp_path / name
    lib.save(obj, path)
    return lib.load(path)


def test_views_share_storage_after_load_like_torch(cr, torch, tmp_path):
    """A tensor and its views are still views of one storage after a round trip:
    writes through one are seen by the others, strides are kept (as torch.load)."""
    ours = _roundtrip(cr, _views(cr), tmp_path, "c.pt")
    ref = _roundtrip(torch, _views(torch), tmp_path, "t.pt")
    assert ours["t"] is ours["again"] and ref["t"] is ref["again"]
    for lib_out in (ours, ref):
        lib_out["t"][5] = 100.0
        lib_out["tt"][3, 0] = -1.0           # element 3 of the base
        lib_out["row"][0] = 7.0              # element 4
    for key in ref:
        np.testing.assert_array_equal(to_np(ours[key]), ref[key].numpy(), err_msg=key)
        assert ours[key].stride() == ref[key].stride(), key
        assert ours[key].is_contiguous() == ref[key].is_contiguous(), key
    with zipfile.ZipFile(tmp_path / "c.pt") as zf:
        assert len(zf.namelist()) == 3       # manifest, one buffer for t, one for ones(3)


def test_expanded_tensor_stays_expanded_and_read_only(cr, torch, tmp_path):
    e = _roundtrip(cr, {"e": cr.tensor([1.0, 2.0]).expand(1000, 2)}, tmp_path, "e.pt")["e"]
    ref = _roundtrip(torch, {"e": torch.tensor([1.0, 2.0]).expand(1000, 2)}, tmp_path,
                     "t.pt")["e"]
    assert e.stride() == ref.stride() == (0, 1)
    assert os.path.getsize(tmp_path / "e.pt") < 2000  # two numbers, not 2000
    with pytest.raises(RuntimeError, match="single memory location"):
        e.add_(1)
    with pytest.raises(RuntimeError, match="single memory location"):
        ref.add_(1)


def test_a_hugely_expanded_tensor_is_stored_by_value(cr, tmp_path):
    """load() refuses a view addressing 2**24 more elements than its buffer; save()
    stores such a tensor's values instead, so every saved file loads."""
    from chainrule._serialization import MAX_EXPANDED
    e = cr.tensor([1.5], dtype=cr.float16).expand(MAX_EXPANDED + 2)
    out = _roundtrip(cr, {"e": e}, tmp_path, "big.pt")["e"]
    assert out.shape == e.shape and out.stride() == (1,) and float(out[-1]) == 1.5


def test_parameter_and_its_data_share_memory(cr, tmp_path):
    p = cr.nn.Parameter(cr.randn(4))
    a, b, c = _roundtrip(cr, [p, p.data, p], tmp_path, "p.pt")
    assert type(a) is cr.nn.Parameter and a is c and a.requires_grad
    assert type(b) is cr.Tensor and not b.requires_grad
    b[0] = 5.0
    assert float(a[0]) == 5.0


def test_state_dict_round_trip_into_a_module(cr, tmp_path):
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.BatchNorm1d(4), cr.nn.Linear(4, 2))
    model(cr.randn(5, 3))  # running stats move
    loaded = _roundtrip(cr, model.state_dict(), tmp_path, "m.pt")
    other = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.BatchNorm1d(4), cr.nn.Linear(4, 2))
    other.load_state_dict(loaded)
    for (k, v), (k2, v2) in zip(model.state_dict().items(), other.state_dict().items()):
        assert k == k2 and v.dtype == v2.dtype
        np.testing.assert_array_equal(to_np(v), to_np(v2))
    x = cr.randn(2, 3)
    model.eval(), other.eval()
    np.testing.assert_array_equal(to_np(model(x).detach()), to_np(other(x).detach()))


def test_overwrite_keeps_permissions(cr, tmp_path):
    path = tmp_path / "secret.pt"
    cr.save({"a": 1}, path)
    os.chmod(path, 0o600)
    cr.save({"a": 2}, path)
    assert os.stat(path).st_mode & 0o7777 == 0o600
    os.chmod(path, 0o640)
    cr.save({"a": 3}, path)
    assert os.stat(path).st_mode & 0o7777 == 0o640 and cr.load(path) == {"a": 3}


def test_save_through_a_symlink(cr, tmp_path):
    target = tmp_path / "real.pt"
    cr.save({"v": 1}, target)
    os.chmod(target, 0o600)
    link = tmp_path / "link.pt"
    os.symlink("real.pt", link)
    cr.save({"v": 2}, link)
    assert os.path.islink(link) and os.readlink(link) == "real.pt"
    assert cr.load(target) == {"v": 2} and os.stat(target).st_mode & 0o777 == 0o600
    dangling = tmp_path / "dangling.pt"
    os.symlink("new.pt", dangling)
    cr.save({"v": 3}, dangling)
    assert os.path.islink(dangling) and cr.load(tmp_path / "new.pt") == {"v": 3}
    assert sorted(os.listdir(tmp_path)) == ["dangling.pt", "link.pt", "new.pt", "real.pt"]


def test_save_into_a_read_only_directory_writes_the_file_in_place(cr, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    path = tmp_path / "ckpt.pt"
    cr.save({"v": 1}, path)
    os.chmod(tmp_path, 0o500)
    try:
        cr.save({"v": 2}, path)
    finally:
        os.chmod(tmp_path, 0o700)
    assert cr.load(path) == {"v": 2}


def _crafted(manifest, members=(), compression=zipfile.ZIP_STORED, raw=False):
    """A hand-built archive: the manifest (a dict, or raw bytes) and ``(name, array)``
    members."""
    buf = io.BytesIO()
    if isinstance(manifest.get("root") if isinstance(manifest, dict) else None, _Raw):
        body = ('{"format":"chainrule","version":2,"root":' + manifest["root"]
                + "}").encode()
    else:
        body = manifest if raw else json.dumps(manifest).encode()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        with zf.open("__chainrule__.npy", "w") as fp:
            np.lib.format.write_array(fp, np.frombuffer(body, np.uint8))
        for name, arr in members:
            with zf.open(name, "w") as fp:
                np.lib.format.write_array(fp, arr, allow_pickle=True)
    return buf.getvalue()


def _man(root, version=2):
    return {"format": "chainrule", "version": version, "root": root}


def test_many_references_to_one_compressed_array_load_it_once(cr, tmp_path):
    """The issue's bomb: a ~20 KB file whose manifest refers 100 times to one
    compressed 20 MB array loads it once (100 times the same tensor), within a bounded
    amount of memory."""
    import tracemalloc
    refs = [{"t": "tensor", "key": "t0", "id": 0} for _ in range(50)]
    refs += [{"t": "tensor", "key": "t0", "id": i} for i in range(1, 51)]  # v2 ids
    refs += [{"t": "ndarray", "key": "t0"}] * 20
    data = _crafted(_man({"t": "list", "items": refs}),
                    [("t0.npy", np.zeros(5_000_000, np.float32))], zipfile.ZIP_DEFLATED)
    assert len(data) < 40_000
    path = tmp_path / "bomb.pt"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        out = cr.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 << 20, peak  # one 20 MB array, not 120 of them
    assert len(out) == 120 and all(o is out[0] for o in out[:50])
    assert all(np.shares_memory(to_np(o), to_np(out[0])) for o in out[50:100])
    assert all(o is out[100] for o in out[100:])


@pytest.mark.parametrize("case, message", [
    (lambda: _crafted(_man({"t": "ndarray", "key": "t0"}),
                      [("t0.npy", np.zeros(3, ">f4"))]), "big-endian"),
    (lambda: _crafted(_man({"t": "ndarray", "key": "t0"}),
                      [("t0.npy", np.zeros(3, "complex64"))]), "not supported"),
    (lambda: _crafted(_man({"t": "ndarray", "key": "t0"}),
                      [("t0.npy", np.array(["a"]))]), "not supported"),
    (lambda: _crafted(_man({"t": "tensor", "key": "t0", "id": 0}),
                      [("t0.npy", np.zeros(3, "uint32"))]), "a tensor cannot hold"),
    (lambda: _crafted(_man(_nested(100_000))), "nested"),
    (lambda: _crafted(_man(_nested(300))), "nested more than 200"),
    (lambda: _crafted(b'{"format":"chainrule","version":2,"root":{"t":"int","v":'
                      + b"9" * 5000 + b"}}", raw=True), "not valid JSON"),
    (lambda: _crafted(_man({"t": "float", "v": [1]})), "float node"),
    (lambda: _crafted(_man({"t": "size", "items": [{"t": "int", "v": -1}]})), "a size"),
    (lambda: _crafted(_man({"t": "list", "items": {"a": 1}})), "list of items"),
    (lambda: _crafted(_man({"t": "dict", "items": [[{"t": "int", "v": 1}]]})), "pair"),
    (lambda: _crafted(_man({"t": "npscalar", "key": "t0"}),
                      [("t0.npy", np.zeros(3))]), "0-dimensional"),
    (lambda: _crafted(_man({"t": "tensor", "key": "t0", "id": 0,
                            "view": [0, [10 ** 30, 10 ** 30], [0, 0]]}),
                      [("t0.npy", np.zeros(3))]), "far more than"),
    (lambda: _crafted(_man({"t": "tensor", "key": "t0", "id": 0,
                            "view": [2, [2], [1]]}), [("t0.npy", np.zeros(3))]), "outside"),
    (lambda: _crafted(_man({"t": "tensor", "key": "t0", "id": 0,
                            "view": [0, [2], [-1]]}), [("t0.npy", np.zeros(3))]), "outside"),
    (lambda: _crafted(_man({"t": "tensor", "key": "t0", "id": 0, "view": [0, [2], [1.5]]}),
                      [("t0.npy", np.zeros(3))]), "not [offset"),
    (lambda: _crafted(_man({"t": "tensor", "key": "t0", "id": True}),
                      [("t0.npy", np.zeros(3))]), "invalid id"),
    (lambda: _crafted(_man({"t": "tensor", "key": "t0", "id": 0, "requires_grad": "yes"}),
                      [("t0.npy", np.zeros(3))]), "requires_grad"),
    (lambda: _crafted(_man({"t": "dtype", "v": "complex128"})), "unknown dtype"),
    (lambda: _crafted(_man(None, version=2 ** 80)), "format version"),
    (lambda: _lying_header((10 ** 12,)), "does not match"),
    (lambda: _lying_header((2 ** 62, 2 ** 62)), "does not match"),
    (lambda: _lying_header((-1,)), "invalid shape"),
    (lambda: _crafted(b"\xff\xfe", raw=True), "not valid JSON"),
    (lambda: _crafted(b"[1, 2]", raw=True), "does not describe"),
])
def test_crafted_files_raise_runtime_error_naming_the_file(cr, tmp_path, case, message):
    path = tmp_path / "crafted.pt"
    path.write_bytes(case())
    with pytest.raises(RuntimeError, match="crafted.pt") as info:
        cr.load(path)
    assert message in str(info.value)


def _nested(depth):
    """A root nested ``depth`` lists deep, as raw JSON (json.dumps would recurse)."""
    return json.loads('{"t":"list","items":[' * depth + '{"t":"none"}' + "]}" * depth) \
        if depth < 500 else _Raw('{"t":"list","items":[' * depth + '{"t":"none"}' + "]}" * depth)


class _Raw(str):
    """JSON text that ``_man``/``_crafted`` insert as it is."""


def _lying_header(shape):
    """A member whose .npy header declares ``shape`` over 24 bytes of data."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": shape})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        with zf.open("__chainrule__.npy", "w") as fp:
            np.lib.format.write_array(fp, np.frombuffer(json.dumps(
                _man({"t": "ndarray", "key": "t0"})).encode(), np.uint8))
        zf.writestr("t0.npy", header.getvalue() + bytes(24))
    return buf.getvalue()


def test_deep_nesting_is_refused_at_save(cr):
    with pytest.raises(RuntimeError, match="nested more than 200"):
        cr.save(_deep_list(250), io.BytesIO())
    buf = io.BytesIO()
    cr.save(_deep_list(199), buf)
    buf.seek(0)
    assert cr.load(buf) == _deep_list(199)


def _deep_list(depth):
    out = []
    for _ in range(depth - 1):
        out = [out]
    return out


def test_version_1_files_still_load(cr):
    data = _crafted(_man({"t": "list", "items": [
        {"t": "tensor", "key": "t0", "requires_grad": True},
        {"t": "tensor", "key": "t0", "requires_grad": True}]}, version=1),
        [("t0.npy", np.arange(3.0, dtype=np.float32))])
    a, b = cr.load(io.BytesIO(data))
    assert a is b and a.requires_grad and a.tolist() == [0.0, 1.0, 2.0]


def test_big_endian_numpy_arrays_are_saved_little_endian(cr):
    arr = np.arange(3, dtype=">i4")
    buf = io.BytesIO()
    cr.save({"a": arr}, buf)
    buf.seek(0)
    out = cr.load(buf)["a"]
    assert out.dtype == np.int32 and out.dtype.byteorder in "=<|" and out.tolist() == [0, 1, 2]


def test_torch_raises_runtime_error_for_a_damaged_archive_too(cr, torch, tmp_path):
    """The exception type we mirror: torch.load of a truncated archive."""
    path = tmp_path / "t.pt"
    torch.save({"w": torch.ones(50)}, path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(RuntimeError):
        torch.load(path)
    ours = tmp_path / "c.pt"
    cr.save({"w": cr.ones(50)}, ours)
    ours.write_bytes(ours.read_bytes()[:len(data) // 2])
    with pytest.raises(RuntimeError, match="c.pt"):
        cr.load(ours)
