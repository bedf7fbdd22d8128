"""``chainrule.save`` / ``chainrule.load``: checkpoints that hold data, never code.

Format
------
A checkpoint is a NumPy ``.npz`` archive (a zip of ``.npy`` members, readable with
``np.load(path)``, no pickle anywhere):

- ``__chainrule__.npy``: the manifest, a 1-D ``uint8`` array holding UTF-8 JSON::

      {"format": "chainrule", "version": 2, "root": NODE}

- ``t0.npy``, ``t1.npy``, ...: one array per stored buffer, written with
  ``allow_pickle=False``, little-endian.

A ``NODE`` is a JSON object whose ``"t"`` names its kind:

===========  ====================================================================
``tensor``   ``{"t": "tensor", "key": "t0", "id": 0, "requires_grad": false}``;
             ``"parameter"`` instead of ``"tensor"`` for an ``nn.Parameter``.  A tensor
             saved twice (the same object, the same ``"id"``) loads as one object.
             Tensors whose memory overlaps (a tensor and its views) share one stored
             buffer, a 1-D array, and each carries ``"view": [offset, shape, stride]``
             in elements of it, so they share memory again after loading, as in
             PyTorch.  Without ``"view"`` the tensor is the whole array.
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

Version 1 files (no ``"id"``, no ``"view"``) still load.

Anything else (modules, functions, arbitrary objects) is refused at save time with a
``TypeError`` naming where it sits in the object, before any file is touched; save a
model's ``state_dict()`` instead of the model.

Loading parses JSON and ``.npy`` data only, so it never executes code, and it is
bounded by the file: each stored array is read once however often the manifest refers
to it, an array's header must match the size the archive declares for it, a
compressed member may not claim more than deflate can produce, the manifest may not be
larger than the file (or 1 MiB) or nested deeper than :data:`MAX_DEPTH`, and a view must
lie inside its buffer.  A corrupt, truncated, crafted or foreign file raises
``RuntimeError`` naming the file and the problem (PyTorch raises ``RuntimeError`` for
a damaged archive too), never another exception type.

Writes to a path are atomic: the archive goes to a temporary file in the same
directory, is flushed to disk, and replaces the target with ``os.replace``; a crash
mid-save leaves the old file intact.  An existing file keeps its permission bits, and a
symbolic link is written through (the link stays a link).  File-like objects
(``io.BytesIO``) are written and read directly.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import stat
import sys
import zipfile
from collections import Counter, OrderedDict

import numpy as np

from . import _dtype
from ._tensor import Size, Tensor, check_device, wrap

__all__ = ["save", "load"]

MANIFEST = "__chainrule__.npy"
FORMAT, VERSION = "chainrule", 2
READS = (1, 2)            # format versions load() understands
MAX_DEPTH = 200           # nesting of containers in a checkpoint (save and load)
MAX_DIMS = 64             # dimensions of a stored array or view
MAX_MANIFEST = 64 << 20   # bytes of manifest JSON
MAX_EXPANDED = 1 << 24    # elements a view may address beyond its buffer's length
DEFLATE_RATIO = 1100      # deflate cannot expand data more than ~1032 times
_SCALARS = {bool: "bool", int: "int", str: "str"}
# what a stored array may hold: little-endian (or byte-sized) bool, int, uint, float
_ARRAY_DTYPES = {np.dtype(c).newbyteorder("<").str for c in "?bhilqBHILQefd"}
_TENSOR_DTYPES = {np.dtype(n).newbyteorder("<").str
                  for n in ("bool", "int8", "int16", "int32", "int64", "uint8",
                            "float16", "float32", "float64")}


# ---- save ---------------------------------------------------------------------------------

class _Encoder:
    """Walks the object once, building the manifest and the list of arrays to write."""

    def __init__(self) -> None:
        self.arrays: list = []
        self.tensors: dict = {}  # id(tensor) -> (tensor, [nodes]); one id per object
        self.ndarrays: dict = {}  # id(array) -> (array, key): the same array, stored once
        self.active: set = set()  # containers on the current path (cycle check)

    def _array(self, arr: np.ndarray) -> str:
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"cannot save an array of dtype {arr.dtype}")
        key = f"t{len(self.arrays)}"
        self.arrays.append((key, arr))
        return key

    def encode(self, obj, path: str, depth: int = 0):
        cls = type(obj)
        if obj is None:
            return {"t": "none"}
        if cls in _SCALARS:
            return {"t": _SCALARS[cls], "v": obj}
        if cls is float:
            return {"t": "float", "v": obj if math.isfinite(obj) else repr(obj)}
        if isinstance(obj, Tensor):
            return self._tensor(obj)
        if isinstance(obj, np.ndarray):
            return {"t": "ndarray", "key": self._checked_array(obj, path)}
        if isinstance(obj, (np.bool_, np.number)):
            return {"t": "npscalar", "key": self._checked_array(np.asarray(obj), path)}
        if isinstance(obj, _dtype.dtype):
            return {"t": "dtype", "v": obj.name}
        if cls in (dict, OrderedDict, Counter):
            kind = {dict: "dict", OrderedDict: "odict", Counter: "counter"}[cls]
            with self._entered(obj, path, depth):
                items = [[self._key(k, path, depth), self.encode(v, f"{path}[{k!r}]",
                                                                 depth + 1)]
                         for k, v in obj.items()]
            return {"t": kind, "items": items}
        if cls in (list, tuple, Size):
            kind = {list: "list", tuple: "tuple", Size: "size"}[cls]
            with self._entered(obj, path, depth):
                items = [self.encode(v, f"{path}[{i}]", depth + 1)
                         for i, v in enumerate(obj)]
            return {"t": kind, "items": items}
        raise TypeError(_refusal(obj, path))

    def _key(self, key, path: str, depth: int):
        if type(key) in (str, int, float, bool, tuple) or key is None:
            return self.encode(key, f"{path} (a key)", depth + 1)
        raise TypeError(f"chainrule.save: the dict at {path} has a key of type "
                        f"{type(key).__name__} ({key!r:.40}); keys must be str, int, float, "
                        f"bool, None or tuples of them.")

    def _checked_array(self, arr: np.ndarray, path: str) -> str:
        seen = self.ndarrays.get(id(arr))
        if seen is not None:
            return seen[1]
        try:
            key = self._array(_little_endian(arr))
        except TypeError:
            raise TypeError(f"chainrule.save: the array at {path} has dtype {arr.dtype}; "
                            f"only bool, integer and floating arrays are saved.") from None
        self.ndarrays[id(arr)] = (arr, key)
        return key

    def _tensor(self, t: Tensor) -> dict:
        nn = sys.modules.get("chainrule.nn")
        kind = "parameter" if nn is not None and isinstance(t, nn.Parameter) else "tensor"
        entry = self.tensors.get(id(t))
        if entry is None:
            entry = self.tensors[id(t)] = (t, [], len(self.tensors))
        node = {"t": kind, "key": None, "id": entry[2], "requires_grad": bool(t._rg)}
        entry[1].append(node)
        return node

    def store_tensors(self) -> None:
        """Give every tensor node its buffer: tensors whose arrays overlap in one NumPy
        buffer (with one dtype) share one stored 1-D array, and their nodes say where in
        it they lie; any other tensor is stored as its own array.  (Tensors that do not
        overlap cannot see each other's writes, so they need not share: a row and the
        last row of a large matrix store two rows, not the matrix.)"""
        groups: dict = {}
        for t, nodes, _ in self.tensors.values():
            arr = t._data
            groups.setdefault(_group_key(arr), []).append((arr, nodes))
        for (root_id, _), members in groups.items():
            for part in ([[m] for m in members] if root_id is None else _overlapping(members)):
                if len(part) == 1 and (root_id is None or _plain(part[0][0])):
                    arr, nodes = part[0]
                    key = self._array(arr if _plain(arr) else np.ascontiguousarray(arr))
                    for node in nodes:
                        node["key"] = key
                    continue
                buffer, views = _shared_buffer([arr for arr, _ in part])
                key = self._array(buffer)
                for (_, nodes), view in zip(part, views):
                    for node in nodes:
                        node["key"] = key
                        node["view"] = view

    @contextlib.contextmanager
    def _entered(self, obj, path: str, depth: int):
        if id(obj) in self.active:
            raise ValueError(f"chainrule.save: the object at {path} contains itself; a "
                             f"checkpoint must be a tree")
        if depth >= MAX_DEPTH:
            raise RuntimeError(f"chainrule.save: the object at {path:.200} is nested more "
                               f"than {MAX_DEPTH} containers deep; chainrule.load refuses "
                               f"deeper checkpoints")
        self.active.add(id(obj))
        try:
            yield
        finally:
            self.active.discard(id(obj))


def _little_endian(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and sys.byteorder == "big"):
        return arr.astype(arr.dtype.newbyteorder("<"))
    return arr


def _plain(arr: np.ndarray) -> bool:
    """Stored as itself: its own bytes in C or Fortran order, little-endian, and no
    element is stored twice (``write_array`` keeps Fortran order)."""
    return ((arr.flags.c_contiguous or arr.flags.f_contiguous)
            and arr.dtype.str in _TENSOR_DTYPES)


def _root(arr: np.ndarray) -> np.ndarray:
    while isinstance(arr.base, np.ndarray):
        arr = arr.base
    return arr


def _group_key(arr: np.ndarray):
    """Arrays with one key are views of one buffer with one dtype and may share a stored
    buffer; ``(None, id)`` keeps an array alone."""
    if arr.size == 0 or arr.dtype.str not in _TENSOR_DTYPES \
            or any(s % arr.itemsize for s in arr.strides):
        return (None, id(arr))
    low, high = _bounds(arr)
    if arr.size > (high - low) // arr.itemsize + MAX_EXPANDED:
        return (None, id(arr))  # expanded beyond what load() accepts: store the values
    return (id(_root(arr)), arr.dtype.str)


def _bounds(arr: np.ndarray):
    """First and one-past-last byte addresses of a non-empty array."""
    low = high = arr.__array_interface__["data"][0]
    for n, s in zip(arr.shape, arr.strides):
        if s < 0:
            low += (n - 1) * s
        else:
            high += (n - 1) * s
    return low, high + arr.itemsize


def _overlapping(members: list) -> list:
    """``(array, nodes)`` members split into runs whose byte ranges overlap."""
    members = sorted(members, key=lambda m: _bounds(m[0])[0])
    parts, high = [], None
    for m in members:
        low, end = _bounds(m[0])
        if high is None or low >= high:
            parts.append([])
            high = end
        parts[-1].append(m)
        high = max(high, end)
    return parts


def _shared_buffer(arrays: list):
    """One 1-D array covering every array of the list (views of one buffer, one dtype),
    and each array's ``[offset, shape, stride]`` in elements of it."""
    size = arrays[0].itemsize
    bounds = [_bounds(a) for a in arrays]
    low = min(b[0] for b in bounds)
    high = max(b[1] for b in bounds)
    first = arrays[min(range(len(arrays)), key=lambda i: bounds[i][0])]
    # the element of `first` at its lowest address, as a view, stretched over the span
    corner = first[tuple(slice(n - 1, n) if s < 0 else slice(0, 1)
                         for n, s in zip(first.shape, first.strides))]
    buffer = np.lib.stride_tricks.as_strided(corner, shape=((high - low) // size,),
                                             strides=(size,), writeable=False)
    views = []
    for a in arrays:
        start = a.__array_interface__["data"][0]
        views.append([(start - low) // size, list(a.shape), [s // size for s in a.strides]])
    return buffer, views


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
        float, bool, None, nested in any way (at most :data:`MAX_DEPTH` deep).
        Anything else raises ``TypeError``.  Tensors that share memory (views) share it
        again after :func:`load`.
    f : str, os.PathLike or binary file object
        A path is written atomically (temporary file + ``os.replace``), keeping an
        existing file's permissions and writing through a symbolic link.

    The remaining arguments exist for PyTorch compatibility and are ignored.  The
    format is described in this module's docstring.
    """
    encoder = _Encoder()
    root = encoder.encode(obj, "root")
    encoder.store_tensors()
    if isinstance(f, (str, os.PathLike)):
        _atomic_write(os.fspath(f), root, encoder.arrays)
    elif hasattr(f, "write"):
        _write_archive(f, root, encoder.arrays)
    else:
        raise TypeError(f"chainrule.save: f must be a path or a writable binary file "
                        f"object, got {type(f).__name__}")


def _atomic_write(path: str, root, arrays) -> None:
    if os.path.islink(path):
        path = os.path.realpath(path)  # write the link's target; the link stays a link
    try:
        old = os.stat(path)
    except OSError:
        old = None
    directory = os.path.dirname(os.path.abspath(path))
    # created like open(path, "wb") would be (0o666 minus the umask), unlike mkstemp
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.urandom(6).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
    except PermissionError:
        if old is None or not stat.S_ISREG(old.st_mode):
            raise
        # the directory is read-only but the file is writable: write it in place
        with open(path, "wb") as fp:
            _write_archive(fp, root, arrays)
        return
    try:
        with os.fdopen(fd, "wb") as fp:
            if old is not None and stat.S_ISREG(old.st_mode):
                _keep_owner_and_mode(fp.fileno(), old)
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


def _keep_owner_and_mode(fd: int, old: os.stat_result) -> None:
    """The replacement gets the replaced file's permission bits (and owner, where we
    may set it), as writing into the file with ``open(path, "wb")`` would keep them."""
    if hasattr(os, "fchown") and (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
        with contextlib.suppress(OSError):
            os.fchown(fd, old.st_uid, old.st_gid)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, stat.S_IMODE(old.st_mode))
    else:  # pragma: no cover - Windows: only the read-only bit exists
        pass


# ---- load ---------------------------------------------------------------------------------

class _Corrupt(Exception):
    """A problem found in the file; load() turns it into a RuntimeError naming the file."""


class _Refused(Exception):
    """A file load() refuses with this whole message (as a RuntimeError)."""


def _fail(why: str):
    raise _Corrupt(why)


class _Decoder:
    def __init__(self, zf: zipfile.ZipFile, size: int) -> None:
        self.zf = zf
        self.size = size  # bytes in the archive
        self.infos = {i.filename: i for i in zf.infolist()}
        self.arrays: dict = {}  # key -> ndarray: each stored array is read once
        self.tensors: dict = {}  # node id (or key) -> Tensor: a shared tensor loads once
        self.version = VERSION

    # -- arrays -----------------------------------------------------------------------
    def member(self, key, limit=None) -> np.ndarray:
        """The array stored under ``key``, read once and checked before allocating."""
        arr = self.arrays.get(key) if isinstance(key, str) else None
        if arr is not None:
            return arr
        info = self.infos.get(f"{key}.npy") if isinstance(key, str) else None
        if info is None:
            _fail(f"the manifest refers to a missing array {key!r:.60}")
        _check_member(info, self.size, limit)
        try:
            with self.zf.open(info) as fp:
                arr = _read_npy(fp, info, key)
        except _Corrupt:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            _fail(f"array {key!r} cannot be read ({type(exc).__name__}: {exc})")
        self.arrays[key] = arr
        return arr

    # -- nodes ------------------------------------------------------------------------
    def decode(self, node, depth: int = 0):
        if not isinstance(node, dict) or not isinstance(node.get("t"), str):
            _fail(f"malformed manifest node {_short(node)}")
        kind = node["t"]
        if depth >= MAX_DEPTH and "items" in node:  # as save() refuses to write it
            _fail(f"the manifest is nested more than {MAX_DEPTH} containers deep")
        if kind == "none":
            return None
        if kind in ("int", "str", "bool"):
            value = node.get("v")
            if type(value) is not {"int": int, "str": str, "bool": bool}[kind]:
                _fail(f"a {kind} node holds {_short(value)}")
            return value
        if kind == "float":
            value = node.get("v")
            if type(value) in (int, float) or value in ("nan", "inf", "-inf"):
                return float(value)
            _fail(f"a float node holds {_short(value)}")
        if kind in ("tensor", "parameter"):
            return self._tensor(node, kind)
        if kind in ("ndarray", "npscalar"):
            arr = self.member(node.get("key"))
            if kind == "ndarray":
                return arr
            if arr.ndim:
                _fail(f"the npscalar {node.get('key')!r} is not 0-dimensional")
            return arr[()]
        if kind == "dtype":
            name = node.get("v")
            if not isinstance(name, str) or name not in _dtype._BY_NAME:
                _fail(f"unknown dtype {_short(name)}")
            return _dtype._BY_NAME[name]
        items = node.get("items")
        if kind in ("list", "tuple", "size"):
            if not isinstance(items, list):
                _fail(f"a {kind} node has no list of items")
            values = [self.decode(v, depth + 1) for v in items]
            if kind == "size" and not all(type(v) is int and v >= 0 for v in values):
                _fail(f"a size holds {_short(values)}")
            return {"list": list, "tuple": tuple, "size": Size}[kind](values)
        if kind in ("dict", "odict", "counter"):
            if not isinstance(items, list):
                _fail(f"a {kind} node has no list of items")
            out = {"dict": dict, "odict": OrderedDict, "counter": Counter}[kind]()
            for pair in items:
                if not isinstance(pair, list) or len(pair) != 2:
                    _fail(f"a {kind} item is not a [key, value] pair: {_short(pair)}")
                key = self.decode(pair[0], depth + 1)
                try:
                    hash(key)
                except TypeError:
                    _fail(f"a {kind} key is unhashable: {_short(key)}")
                out[key] = self.decode(pair[1], depth + 1)
            return out
        _fail(f"unknown node kind {_short(kind)}")

    def _tensor(self, node: dict, kind: str):
        key = node.get("key")
        ident = node.get("id", key) if self.version >= 2 else key
        if not isinstance(ident, (str, int)) or isinstance(ident, bool):
            _fail(f"a tensor node has an invalid id {_short(ident)}")
        t = self.tensors.get(ident)
        if t is not None:
            return t
        arr = self.member(key)
        if "view" in node:
            arr = _view(arr, node["view"], key)
        if arr.dtype.str not in _TENSOR_DTYPES:
            _fail(f"array {key!r} has dtype {arr.dtype}, which a tensor cannot hold")
        rg = node.get("requires_grad", kind == "parameter")
        if type(rg) is not bool:
            _fail(f"requires_grad is {_short(rg)}, not true or false")
        if kind == "parameter":
            from .nn import Parameter
            t = Parameter(wrap(arr), requires_grad=rg)
        else:
            t = wrap(arr)
            if rg:
                t.requires_grad_()
        self.tensors[ident] = t
        return t


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_member(info: zipfile.ZipInfo, archive: int, limit) -> None:
    name = info.filename
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size != info.compress_size:
            _fail(f"member {name!r} is stored with {info.compress_size} bytes but declares "
                  f"{info.file_size}")
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        if info.file_size > DEFLATE_RATIO * info.compress_size + 1024:
            _fail(f"member {name!r} declares {info.file_size} bytes from "
                  f"{info.compress_size} compressed bytes, more than deflate can produce")
    else:
        _fail(f"member {name!r} uses compression method {info.compress_type}; only "
              f"stored and deflated members are read")
    if info.compress_size > archive or info.header_offset > archive:
        _fail(f"member {name!r} declares {info.compress_size} bytes at offset "
              f"{info.header_offset}, beyond the end of the {archive}-byte file")
    if limit is not None and info.file_size > limit:
        _fail(f"member {name!r} holds {info.file_size} bytes; the limit is {limit}")


def _read_npy(fp, info: zipfile.ZipInfo, key: str) -> np.ndarray:
    """An ``.npy`` member: header checked against the member's size, then the data read
    into one array of exactly that size, then the member's CRC (zipfile checks it at
    the end of the data)."""
    fmt = np.lib.format
    version = fmt.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(fp)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = fmt.read_array_header_2_0(fp)
    else:  # read_magic already refuses unknown versions
        _fail(f"array {key!r} has .npy format version {version}")
    if dtype.hasobject or dtype.str not in _ARRAY_DTYPES:
        order = " big-endian" if dtype.byteorder == ">" else ""
        _fail(f"array {key!r} cannot be read: its{order} dtype {dtype} is not supported "
              f"(only little-endian bool, integer and floating arrays; never objects)")
    if not isinstance(shape, tuple) or len(shape) > MAX_DIMS or \
            not all(type(n) is int and n >= 0 for n in shape):
        _fail(f"array {key!r} has an invalid shape {_short(shape)}")
    header = fp.tell() if hasattr(fp, "tell") else None
    count = 1
    for n in shape:
        count *= n
        if count * dtype.itemsize > info.file_size:
            break
    nbytes = count * dtype.itemsize
    if header is None or header + nbytes != info.file_size:
        _fail(f"array {key!r} declares shape {_short(shape)} ({nbytes} bytes of "
              f"{dtype}), which does not match its {info.file_size}-byte member")
    arr = np.empty(count, dtype)
    view = memoryview(arr).cast("B")
    done = 0
    while done < nbytes:
        chunk = fp.read(min(nbytes - done, 1 << 20))
        if not chunk:
            _fail(f"array {key!r} is truncated")
        view[done:done + len(chunk)] = chunk
        done += len(chunk)
    if fp.read(1):  # also makes zipfile verify the member's CRC
        _fail(f"array {key!r} has trailing data")
    if fortran:
        return arr.reshape(shape[::-1]).transpose()
    return arr.reshape(shape)


def _view(buffer: np.ndarray, spec, key) -> np.ndarray:
    """``[offset, shape, stride]`` (in elements) of a 1-D buffer, checked to lie inside
    it; a view whose elements overlap (``expand``) is read-only, as the original was."""
    if not (isinstance(spec, list) and len(spec) == 3 and isinstance(spec[1], list)
            and isinstance(spec[2], list) and len(spec[1]) == len(spec[2]) <= MAX_DIMS
            and all(type(v) is int for v in [spec[0], *spec[1], *spec[2]])):
        _fail(f"a view of {key!r} is not [offset, [sizes], [strides]]: {_short(spec)}")
    offset, shape, strides = spec
    if buffer.ndim != 1:
        _fail(f"a view refers to {key!r}, which is not a 1-D buffer")
    if offset < 0 or any(n < 0 for n in shape):
        _fail(f"a view of {key!r} has a negative offset or size: {_short(spec)}")
    numel = 1
    for n in shape:
        numel *= n
        if numel > buffer.size + MAX_EXPANDED:
            _fail(f"a view of {key!r} has {_short(shape)} elements, far more than the "
                  f"{buffer.size} its buffer holds")
    if numel == 0:
        return np.empty(shape, buffer.dtype)
    low = offset + sum((n - 1) * s for n, s in zip(shape, strides) if s < 0)
    high = offset + sum((n - 1) * s for n, s in zip(shape, strides) if s > 0)
    if low < 0 or high >= buffer.size:
        _fail(f"a view of {key!r} ({_short(spec)}) reaches outside its {buffer.size} "
              f"elements")
    size = buffer.itemsize
    return np.lib.stride_tricks.as_strided(
        buffer[offset:], shape=tuple(shape), strides=tuple(s * size for s in strides),
        writeable=not _overlaps(shape, strides))


def _overlaps(shape, strides) -> bool:
    """Whether two elements may share memory (not provably distinct)."""
    span = 0
    for n, s in sorted(((n, abs(s)) for n, s in zip(shape, strides) if n > 1),
                       key=lambda p: p[1]):
        if s <= span:
            return True
        span += (n - 1) * s
    return False


def _check_map_location(map_location):
    """The device every tensor goes to (None: where it was saved, i.e. the CPU)."""
    if map_location is None or callable(map_location):
        return None  # a callable remaps storages between devices; saved ones are on the CPU
    targets = list(map_location.values()) if isinstance(map_location, dict) else [map_location]
    found = None
    for value in targets:
        try:
            d = check_device(value)
        except AssertionError:
            raise RuntimeError(
                "Attempting to deserialize object on a CUDA device but "
                "torch.cuda.is_available() is False. If you are running on a CPU-only "
                "machine, please use torch.load with map_location=torch.device('cpu') to "
                "map your storages to the CPU.") from None
        if isinstance(map_location, dict):
            continue  # saved tensors are CPU ones: a mapping of other devices changes nothing
        found = d
    return None if found is None or found.type == "cpu" else found


def _to_device(obj, dev):
    """Move every tensor inside a loaded object to ``dev`` (in place for containers)."""
    from ._tensor import Tensor, to_device
    if isinstance(obj, Tensor):
        obj._data = to_device(obj._data, dev)
        if obj._grad is not None:
            obj._grad._data = to_device(obj._grad._data, dev)
    elif isinstance(obj, dict):
        for v in obj.values():
            _to_device(v, dev)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _to_device(v, dev)
    return obj


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None,
         **pickle_load_args):
    """Load an object saved with :func:`save`.

    Parameters
    ----------
    f : str, os.PathLike or binary file object
    map_location : None, 'cpu', device, dict or callable
        ``'cuda'`` (or a CUDA device) puts every tensor on the GPU (CuPy); without one,
        PyTorch's CPU-only error.  A dict or a callable keeps tensors on the CPU, where
        they were saved.
    weights_only : bool, optional
        Accepted; loading is always data-only (nothing is unpickled or executed).

    Raises
    ------
    RuntimeError
        The file is corrupt, truncated, crafted, or not a chainrule checkpoint (this
        includes files written by ``torch.save``, which need pickle).  Memory use is
        bounded by the file's contents (see the module docstring).
    """
    dev = _check_map_location(map_location)
    if isinstance(f, (str, os.PathLike)):
        name = repr(os.fspath(f))
        try:
            with open(f, "rb") as fp:
                out = _load(fp, name)
        except FileNotFoundError:
            raise FileNotFoundError(f"chainrule.load: no such file: {name}") from None
    else:
        if not hasattr(f, "read"):
            raise TypeError(f"chainrule.load: f must be a path or a readable binary file "
                            f"object, got {type(f).__name__}")
        name = repr(getattr(f, "name", None) or f"<{type(f).__name__} object>")
        if not (hasattr(f, "seek") and hasattr(f, "tell")):
            f = io.BytesIO(f.read())
        out = _load(f, name)
    return out if dev is None else _to_device(out, dev)


def _load(fp, name: str):
    try:
        return _read(fp, name)
    except _Refused as exc:
        raise RuntimeError(_clip(str(exc), 600)) from None
    except _Corrupt as exc:
        raise RuntimeError(f"chainrule.load: {name} is corrupt or not a chainrule "
                           f"checkpoint: {_clip(str(exc))}") from None
    except Exception as exc:  # noqa: BLE001 - MemoryError, RecursionError included
        # Note [one exception type]: whatever a damaged file makes zipfile, zlib, NumPy
        # or JSON raise, the caller sees a RuntimeError naming the file.
        raise RuntimeError(f"chainrule.load: {name} is corrupt or not a chainrule "
                           f"checkpoint: {type(exc).__name__}: {_clip(str(exc))}") from exc


def _clip(text: str, limit: int = 300) -> str:
    """One line of at most ``limit`` characters (zipfile quotes whole headers)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _read(fp, name: str):
    try:
        start = fp.tell()
        size = fp.seek(0, io.SEEK_END) - start
        fp.seek(start)
        zf = zipfile.ZipFile(fp)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise _Refused(f"chainrule.load: {name} is not a chainrule checkpoint, or it "
                       f"is truncated or corrupt: it is not a readable zip/npz archive "
                       f"({exc}).") from None
    with zf:
        decoder = _Decoder(zf, size)
        if MANIFEST not in decoder.infos:
            why = "it has no chainrule manifest"
            if any(m.endswith("data.pkl") for m in decoder.infos):
                why += (" (it looks like a torch.save checkpoint, which needs pickle; "
                        "load it with PyTorch and re-save its tensors with chainrule.save)")
            raise _Refused(f"chainrule.load: {name} was not written by "
                           f"chainrule.save: {why}.")
        # the manifest's JSON may not be larger than the file (or 1 MiB): a deflated
        # manifest cannot turn a small file into millions of Python objects
        raw = decoder.member(MANIFEST[:-4], limit=min(MAX_MANIFEST, max(size, 1 << 20)))
        if raw.dtype != np.uint8 or raw.ndim != 1:
            _fail("the manifest is not a 1-D uint8 array")
        try:
            manifest = json.loads(raw.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:  # ValueError: JSONDecodeError,
            _fail(f"the manifest is not valid JSON ({str(exc)[:120]})")  # huge ints
        except RecursionError:
            _fail(f"the manifest is nested more than {MAX_DEPTH} containers deep")
        del decoder.arrays[MANIFEST[:-4]]
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            _fail("the manifest does not describe a chainrule checkpoint")
        version = manifest.get("version")
        if version not in READS or type(version) is not int:
            raise _Refused(f"chainrule.load: {name} has format version "
                           f"{_short(version)}; this chainrule reads versions "
                           f"{', '.join(map(str, READS))}. Upgrade chainrule to load it.")
        decoder.version = version
        return decoder.decode(manifest.get("root"))
