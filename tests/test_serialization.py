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
