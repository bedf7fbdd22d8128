"""``DataLoader`` and the default collate function.

Note [tensor dataset fast path]: a ``TensorDataset`` (possibly inside ``Subset``\\ s, as
``random_split`` makes) batched with the default collate function gives the same batches
as indexing each sample and stacking them, so the loader takes each batch with one NumPy
fancy index per tensor instead: a batch costs a few microseconds instead of two Tensors
per sample.  Tensors that require grad take the general path (stacking is recorded).

Loading always runs in the calling process: ``num_workers`` and the other
multiprocessing options are accepted for compatibility and have no effect;
``pin_memory=True`` pins each batch when CuPy sees a GPU (PyTorch's warning otherwise).
"""

from __future__ import annotations

import collections.abc
import copy
import warnings

import numpy as np

from ..._creation import tensor
from ..._tensor import Tensor, wrap
from .dataset import IterableDataset, Subset, TensorDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]

_COLLATE_ERROR = ("default_collate: batch must contain tensors, numpy arrays, numbers, "
                  "dicts or lists; found {}")


def get_worker_info():
    """Always ``None``: data loading runs in the main process."""


def _stack(batch) -> Tensor:
    shape = batch[0]._data.shape
    for i, t in enumerate(batch):
        if t._rg:
            from ...ops.shape import stack
            return stack(batch, 0)
        if t._data.shape != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{list(shape)} at entry 0 and {list(t._data.shape)} at "
                               f"entry {i}")
    return wrap(np.stack([t._data for t in batch]))


def _pinned(batch):
    """A batch with every tensor in page-locked host memory (``Tensor.pin_memory``), so
    ``.to("cuda", non_blocking=True)`` can overlap the copy."""
    if isinstance(batch, Tensor):
        return batch.pin_memory()
    if isinstance(batch, dict):
        return type(batch)((k, _pinned(v)) for k, v in batch.items())
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(_pinned(v) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(_pinned(v) for v in batch)
    return batch


def default_collate(batch):
    """Merge a list of samples into a batch, as PyTorch's ``default_collate`` does:
    tensors and NumPy arrays are stacked along a new first dimension, Python floats
    become a float64 tensor and ints an int64 tensor, strings stay a list, and dicts,
    tuples (returned as lists), named tuples and lists are collated field by field."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack(batch)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "USO":
            raise TypeError(_COLLATE_ERROR.format(elem.dtype))
        return default_collate([tensor(b) for b in batch])
    if isinstance(elem, (np.bool_, np.number)):
        return tensor(np.array(batch))
    if isinstance(elem, float):
        return tensor(batch, dtype=np.float64)
    if isinstance(elem, int):
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        merged = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update(merged)
                return clone
            return type(elem)(merged)
        except TypeError:
            return merged
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [default_collate(list(s)) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return fields  # a list, as PyTorch returns for tuples
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone = copy.copy(elem)
                for i, field in enumerate(fields):
                    clone[i] = field
                return clone
            return type(elem)(fields)
        except TypeError:
            return fields
    raise TypeError(_COLLATE_ERROR.format(type(elem)))


def default_convert(data):
    """Without batching (``batch_size=None``): NumPy arrays become tensors, containers
    are converted element by element, everything else is left alone."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "USO":
        return tensor(data)
    if isinstance(data, (np.bool_, np.number)):
        return tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, list):
        return [default_convert(d) for d in data]
    return data


class DataLoader:
    """Iterate over a dataset in batches.

    Parameters
    ----------
    dataset : Dataset or IterableDataset
    batch_size : int or None, default 1
        ``None`` yields single samples (converted, not collated).
    shuffle : bool, default False
        A new random order each epoch, drawn from ``generator`` (or, without one, from
        a seed drawn from the default generator: ``manual_seed`` makes runs repeatable;
        the orders differ from PyTorch's, see Note [random streams] in ``sampler.py``).
    sampler, batch_sampler : optional
        Custom index orders (mutually exclusive with ``shuffle``, as in PyTorch).
    collate_fn : callable, default :func:`default_collate`
    drop_last : bool, default False
        Drop the last, incomplete batch.
    generator : chainrule.Generator, optional
    pin_memory : bool, default False
        Batches' tensors in page-locked memory (CuPy), for ``.to("cuda", non_blocking=True)``;
        without a GPU, PyTorch's warning and ordinary memory.
    num_workers, timeout, worker_init_fn, prefetch_factor, persistent_workers
        Accepted for compatibility; loading runs in the main process.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None,
                 batch_sampler=None, num_workers=0, collate_fn=None, pin_memory=False,
                 drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None,
                 persistent_workers=False, pin_memory_device="", in_order=True) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 "
                             "to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        self.dataset = dataset
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.generator = generator
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            for name, value in (("shuffle", shuffle not in (None, False) and shuffle),
                                ("sampler", sampler), ("batch_sampler", batch_sampler)):
                if value:
                    raise ValueError(f"DataLoader with IterableDataset: expected "
                                     f"unspecified {name} option, but got {name}={value}")
        elif shuffle not in (None, False) and sampler is not None:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with "
                                 "batch_size, shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is "
                             "mutually exclusive with drop_last")
        if sampler is None and not self._iterable:
            sampler = (RandomSampler(dataset, generator=generator) if shuffle
                       else SequentialSampler(dataset))
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self._auto_collation = batch_sampler is not None or (
            self._iterable and batch_size is not None)
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        if self._auto_collation:
            return len(self.batch_sampler)
        return len(self.sampler)

    def __iter__(self):
        it = self._iter_plain()
        if not self.pin_memory:
            return it
        from ... import cuda
        if not cuda.is_available():  # PyTorch's warning on a machine without a GPU
            warnings.warn("'pin_memory' argument is set as true but no accelerator is found, "
                          "then device pinned memory won't be used.", UserWarning,
                          stacklevel=2)
            return it
        return (_pinned(batch) for batch in it)

    def _iter_plain(self):
        if self._iterable:
            return self._iter_iterable()
        if self._auto_collation:
            fast = self._fast_source() if self.collate_fn is default_collate else None
            if fast is not None:
                return self._iter_fast(*fast)
            return self._iter_batches()
        return (self.collate_fn(self.dataset[i]) for i in self.sampler)

    def _iter_batches(self):
        dataset, collate = self.dataset, self.collate_fn
        getitems = getattr(dataset, "__getitems__", None)
        for indices in self.batch_sampler:
            if getitems is not None:
                samples = getitems(indices)
            else:
                samples = [dataset[i] for i in indices]
            yield collate(samples)

    def _fast_source(self):
        """``(arrays, index map)`` for Note [tensor dataset fast path], else None."""
        dataset, index_map = self.dataset, None
        while type(dataset) is Subset:
            idx = np.asarray(dataset.indices)
            if idx.dtype.kind not in "iu" or idx.ndim != 1:
                return None
            index_map = idx if index_map is None else idx[index_map]
            dataset = dataset.dataset
        if type(dataset) is not TensorDataset:
            return None
        if any(t._rg for t in dataset.tensors):
            return None
        n = len(dataset)
        if index_map is not None and index_map.size and (
                index_map.min() < -n or index_map.max() >= n):
            return None  # let the general path raise its IndexError
        return [t._data for t in dataset.tensors], index_map

    def _iter_fast(self, arrays, index_map):
        for indices in self.batch_sampler:
            idx = np.asarray(indices)
            if idx.dtype.kind not in "iu" or idx.ndim != 1:
                yield default_collate([self.dataset[i] for i in indices])
                continue
            if index_map is not None:
                idx = index_map[idx]
            yield [wrap(a[idx]) for a in arrays]

    def _iter_iterable(self):
        collate = self.collate_fn
        if self.batch_size is None:
            for sample in self.dataset:
                yield collate(sample)
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield collate(batch)
                batch = []
        if batch and not self.drop_last:
            yield collate(batch)
