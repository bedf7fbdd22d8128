"""``chainrule.save`` / ``chainrule.load``: checkpoints that hold data, never code.

Format
------
A checkpoint is a NumPy ``.npz`` archive (a zip of ``.npy`` members, readable with
``np.load(path)``, no pickle anywhere):

- ``__chainrule__.npy``: the manifest, a 1-D ``uint8`` array holding UTF-8 JSON::

      {"format": "chainrule", "version": 1, "root": NODE}

- ``t0.npy``, ``t1.npy``, ...: one array per saved tensor (or NumPy array / scalar),
  written with ``allow_pickle=False``.

A ``NODE`` is a JSON object whose ``"t"`` names its kind:

===========  ====================================================================
``tensor``   ``{"t": "tensor", "key": "t0", "requires_grad": false}``; ``"parameter"``
             instead of ``"tensor"`` for an ``nn.Parameter``.  A tensor saved twice
             (the same object) is stored once and loaded as one object.
``ndarray``  ``{"t": "ndarray", "key": "t1"}``; ``npscalar`` is the same for a NumPy
             scalar (stored as a 0-d array).
``dict``     ``{"t": "dict", "items": [[KEY_NODE, NODE], ...]}`` (keys keep their
             type: optimizer state dicts have int keys); also ``odict`` for
             ``OrderedDict`` and ``counter`` for ``collections.Counter``.
``list``     ``{"t": "list", "items": [NODE, ...]}``; also ``tuple`` and ``size``
             (``chainrule.Size``).
scalars      ``{"t": "int" | "float" | "bool" | "str", "v": value}`` and
             ``{"t": "none"}``; a non-finite float is ``"v": "nan" | "inf" | "-inf"``.
``dtype``    ``{"t": "dtype", "v": "float32"}``.
===========  ====================================================================

Anything else (modules, functions, arbitrary objects) is refused at save time with a
``TypeError`` naming where it sits in the object, before any file is touched; save a
model's ``state_dict()`` instead of the model.  Loading parses JSON and ``.npy`` data
only, so it never executes code; a corrupt, truncated or foreign file raises
``RuntimeError`` naming the file.

Writes to a path are atomic: the archive goes to a temporary file in the same
directory, is flushed to disk, and replaces the target with ``os.replace``; a crash
mid-save leaves the old file intact.  File-like objects (``io.BytesIO``) are written
and read directly.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import sys
import zipfile
from collections import Counter, OrderedDict

import numpy as np

from . import _dtype
from ._tensor import Size, Tensor, check_device, wrap

__all__ = ["save", "load"]

MANIFEST = "__chainrule__.npy"
FORMAT, VERSION = "chainrule", 1
_SCALARS = {bool: "bool", int: "int", str: "str"}


# ---- save ---------------------------------------------------------------------------------

class _Encoder:
    """Walks the object once, building the manifest and the list of arrays to write."""

    def __init__(self) -> None:
        self.arrays: list = []
        self.seen: dict = {}  # id(tensor) -> key, so a shared tensor is stored once
        self.keep: list = []  # the tensors behind ``seen`` stay alive while encoding
        self.active: set = set()  # containers on the current path (cycle check)

    def _array(self, arr: np.ndarray) -> str:
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"cannot save an array of dtype {arr.dtype}")
        key = f"t{len(self.arrays)}"
        self.arrays.append((key, arr))
        return key

    def encode(self, obj, path: str):
        cls = type(obj)
        if obj is None:
            return {"t": "none"}
        if cls in _SCALARS:
            return {"t": _SCALARS[cls], "v": obj}
        if cls is float:
            return {"t": "float", "v": obj if math.isfinite(obj) else repr(obj)}
        if isinstance(obj, Tensor):
            return self._tensor(obj, path)
        if isinstance(obj, np.ndarray):
            return {"t": "ndarray", "key": self._checked_array(obj, path)}
        if isinstance(obj, (np.bool_, np.number)):
            return {"t": "npscalar", "key": self._checked_array(np.asarray(obj), path)}
        if isinstance(obj, _dtype.dtype):
            return {"t": "dtype", "v": obj.name}
        if cls in (dict, OrderedDict, Counter):
            kind = {dict: "dict", OrderedDict: "odict", Counter: "counter"}[cls]
            with self._entered(obj, path):
                items = [[self._key(k, path), self.encode(v, f"{path}[{k!r}]")]
                         for k, v in obj.items()]
            return {"t": kind, "items": items}
        if cls in (list, tuple, Size):
            kind = {list: "list", tuple: "tuple", Size: "size"}[cls]
            with self._entered(obj, path):
                items = [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]
            return {"t": kind, "items": items}
        raise TypeError(_refusal(obj, path))

    def _key(self, key, path: str):
        if type(key) in (str, int, float, bool, tuple) or key is None:
            return self.encode(key, f"{path} (a key)")
        raise TypeError(f"chainrule.save: the dict at {path} has a key of type "
                        f"{type(key).__name__} ({key!r:.40}); keys must be str, int, float, "
                        f"bool, None or tuples of them.")

    def _checked_array(self, arr: np.ndarray, path: str) -> str:
        try:
            return self._array(arr)
        except TypeError:
            raise TypeError(f"chainrule.save: the array at {path} has dtype {arr.dtype}; "
                            f"only bool, integer and floating arrays are saved.") from None

    def _tensor(self, t: Tensor, path: str) -> dict:
        nn = sys.modules.get("chainrule.nn")
        kind = "parameter" if nn is not None and isinstance(t, nn.Parameter) else "tensor"
        key = self.seen.get(id(t))
        if key is None:
            key = self.seen[id(t)] = self._array(t._data)
            self.keep.append(t)
        return {"t": kind, "key": key, "requires_grad": bool(t._rg)}

    @contextlib.contextmanager
    def _entered(self, obj, path: str):
        if id(obj) in self.active:
            raise ValueError(f"chainrule.save: the object at {path} contains itself; a "
                             f"checkpoint must be a tree")
        self.active.add(id(obj))
        try:
            yield
        finally:
            self.active.discard(id(obj))


def _refusal(obj, path: str) -> str:
    name = f"{type(obj).__module__}.{type(obj).__qualname__}"
    hint = ""
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        hint = " Save its state_dict() instead, and load it with load_state_dict()."
    return (f"chainrule.save: cannot save the {name} object at {path}. Checkpoints hold "
            f"data only (tensors, NumPy arrays, dicts, lists, tuples, str, int, float, "
            f"bool, None), never code or arbitrary objects, so that loading one cannot "
            f"run anything.{hint}")


def _write_member(zf: zipfile.ZipFile, name: str, arr: np.ndarray) -> None:
    with zf.open(name, "w", force_zip64=True) as fp:
        np.lib.format.write_array(fp, np.asarray(arr), allow_pickle=False)


def _write_archive(fileobj, root, arrays) -> None:
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "root": root},
                          allow_nan=False, separators=(",", ":")).encode("utf-8")
    with zipfile.ZipFile(fileobj, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        _write_member(zf, MANIFEST, np.frombuffer(manifest, np.uint8))
        for key, arr in arrays:
            _write_member(zf, key + ".npy", arr)


def save(obj, f, pickle_module=None, pickle_protocol=None,
         _use_new_zipfile_serialization=True) -> None:
    """Save tensors, state dicts and nested containers of them to ``f``.

    Parameters
    ----------
    obj : object
        Tensors, NumPy arrays, dicts (also ``OrderedDict``), lists, tuples, str, int,
        float, bool, None, nested in any way.  Anything else raises ``TypeError``.
    f : str, os.PathLike or binary file object
        A path is written atomically (temporary file + ``os.replace``).

    The remaining arguments exist for PyTorch compatibility and are ignored.  The
    format is described in this module's docstring.
    """
    encoder = _Encoder()
    root = encoder.encode(obj, "root")
    if isinstance(f, (str, os.PathLike)):
        _atomic_write(os.fspath(f), root, encoder.arrays)
    elif hasattr(f, "write"):
        _write_archive(f, root, encoder.arrays)
    else:
        raise TypeError(f"chainrule.save: f must be a path or a writable binary file "
                        f"object, got {type(f).__name__}")


def _atomic_write(path: str, root, arrays) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    # created like open(path, "wb") would be (0o666 minus the umask), unlike mkstemp
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o666)
    try:
        with os.fdopen(fd, "wb") as fp:
            _write_archive(fp, root, arrays)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (POSIX); harmless where unsupported
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


# ---- load ---------------------------------------------------------------------------------

class _Decoder:
    def __init__(self, zf: zipfile.ZipFile, name: str) -> None:
        self.zf = zf
        self.name = name
        self.members = set(zf.namelist())
        self.loaded: dict = {}  # key -> Tensor, so a shared tensor loads as one object

    def fail(self, why: str):
        raise RuntimeError(f"chainrule.load: {self.name} is corrupt or not a chainrule "
                           f"checkpoint: {why}")

    def array(self, key) -> np.ndarray:
        member = f"{key}.npy"
        if not isinstance(key, str) or member not in self.members:
            self.fail(f"the manifest refers to a missing array {key!r}")
        try:
            with self.zf.open(member) as fp:
                arr = np.lib.format.read_array(fp, allow_pickle=False)
                if fp.read(1):  # also makes zipfile verify the member's CRC
                    self.fail(f"array {key!r} has trailing data")
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            self.fail(f"array {key!r} cannot be read ({exc})")
        if arr.dtype.kind not in "biuf":
            self.fail(f"array {key!r} has unsupported dtype {arr.dtype}")
        return arr

    def decode(self, node):
        if not isinstance(node, dict) or "t" not in node:
            self.fail(f"malformed manifest node {node!r:.60}")
        kind = node["t"]
        try:
            if kind == "none":
                return None
            if kind in ("int", "str", "bool"):
                value = node["v"]
                if type(value) is not {"int": int, "str": str, "bool": bool}[kind]:
                    self.fail(f"a {kind} node holds {value!r:.40}")
                return value
            if kind == "float":
                return float(node["v"])
            if kind in ("tensor", "parameter"):
                return self._tensor(node, kind)
            if kind == "ndarray":
                return self.array(node["key"])
            if kind == "npscalar":
                return self.array(node["key"])[()]
            if kind == "dtype":
                return _dtype._BY_NAME[node["v"]]
            if kind in ("list", "tuple", "size"):
                items = [self.decode(v) for v in node["items"]]
                return {"list": list, "tuple": tuple, "size": Size}[kind](items)
            if kind in ("dict", "odict", "counter"):
                cls = {"dict": dict, "odict": OrderedDict, "counter": Counter}[kind]
                out = cls()
                for k, v in node["items"]:
                    out[self.decode(k)] = self.decode(v)
                return out
        except (KeyError, TypeError, ValueError) as exc:
            self.fail(f"malformed {kind!r} node ({type(exc).__name__}: {exc})")
        self.fail(f"unknown node kind {kind!r}")

    def _tensor(self, node: dict, kind: str):
        key = node["key"]
        t = self.loaded.get(key)
        if t is not None:
            return t
        arr = self.array(key)
        if kind == "parameter":
            from .nn import Parameter
            t = Parameter(wrap(arr), requires_grad=bool(node.get("requires_grad", True)))
        else:
            t = wrap(arr)
            if node.get("requires_grad"):
                t.requires_grad_()
        self.loaded[key] = t
        return t


def _check_map_location(map_location) -> None:
    if map_location is None or callable(map_location):
        return  # a callable remaps storages between devices; there is only the CPU
    if isinstance(map_location, dict):
        for value in map_location.values():
            check_device(value)
        return
    check_device(map_location)


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None,
         **pickle_load_args):
    """Load an object saved with :func:`save`.

    Parameters
    ----------
    f : str, os.PathLike or binary file object
    map_location : None, 'cpu', device, dict or callable
        Accepted for PyTorch compatibility; everything loads on the CPU (a CUDA device
        raises).
    weights_only : bool, optional
        Accepted; loading is always data-only (nothing is unpickled or executed).

    Raises
    ------
    RuntimeError
        The file is corrupt, truncated, or not a chainrule checkpoint (this includes
        files written by ``torch.save``, which need pickle).
    """
    _check_map_location(map_location)
    if isinstance(f, (str, os.PathLike)):
        name = repr(os.fspath(f))
        try:
            with open(f, "rb") as fp:
                return _load(fp, name)
        except FileNotFoundError:
            raise FileNotFoundError(f"chainrule.load: no such file: {name}") from None
    if not hasattr(f, "read"):
        raise TypeError(f"chainrule.load: f must be a path or a readable binary file "
                        f"object, got {type(f).__name__}")
    name = repr(getattr(f, "name", None) or f"<{type(f).__name__} object>")
    if not hasattr(f, "seek"):
        f = io.BytesIO(f.read())
    return _load(f, name)


def _load(fp, name: str):
    try:
        zf = zipfile.ZipFile(fp)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise RuntimeError(f"chainrule.load: {name} is not a chainrule checkpoint, or it "
                           f"is truncated or corrupt: it is not a readable zip/npz archive "
                           f"({exc}).") from None
    with zf:
        decoder = _Decoder(zf, name)
        if MANIFEST not in decoder.members:
            why = "it has no chainrule manifest"
            if any(m.endswith("data.pkl") for m in decoder.members):
                why += (" (it looks like a torch.save checkpoint, which needs pickle; "
                        "load it with PyTorch and re-save its tensors with chainrule.save)")
            raise RuntimeError(f"chainrule.load: {name} was not written by "
                               f"chainrule.save: {why}.")
        try:
            manifest = json.loads(decoder.array(MANIFEST[:-4]).tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            decoder.fail(f"the manifest is not valid JSON ({exc})")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            decoder.fail("the manifest does not describe a chainrule checkpoint")
        if manifest.get("version") != VERSION:
            raise RuntimeError(f"chainrule.load: {name} has format version "
                               f"{manifest.get('version')!r}; this chainrule reads version "
                               f"{VERSION}. Upgrade chainrule to load it.")
        return decoder.decode(manifest.get("root"))
