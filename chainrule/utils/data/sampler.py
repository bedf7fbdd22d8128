"""Samplers: which indices a ``DataLoader`` visits, and in what order.

Note [random streams]: random samplers draw from NumPy's PCG64 through
``chainrule.Generator``; a seed makes the order reproducible but it is not PyTorch's
order for the same seed.  Without a generator, each pass draws a fresh seed from the
default generator, so ``chainrule.manual_seed`` fixes the whole run.
"""

from __future__ import annotations

import numpy as np

from ..._creation import default_generator

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "BatchSampler"]


def _rng(generator) -> np.random.Generator:
    """The NumPy generator to draw one pass from (Note [random streams])."""
    if generator is not None:
        return generator._rng
    seed = int(default_generator._rng.integers(0, 2 ** 63 - 1))
    return np.random.default_rng(seed)


class Sampler:
    """Base class: iterating yields dataset indices (or lists of them)."""

    def __init__(self, data_source=None) -> None:
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """Indices ``0, 1, ..., len(data_source) - 1``."""

    def __init__(self, data_source) -> None:
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation of the indices (or ``num_samples`` draws with
    ``replacement=True``)."""

    def __init__(self, data_source, replacement: bool = False, num_samples=None,
                 generator=None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got "
                            f"replacement={replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got "
                             f"num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        # lazily, in blocks (as PyTorch draws 32 at a time): num_samples=10**10 with
        # replacement must not allocate 10**10 indices up front
        n = len(self.data_source)
        rng = _rng(self.generator)
        left = self.num_samples
        if self.replacement:
            while left > 0:
                k = min(left, 4096)
                yield from rng.integers(0, n, k).tolist()
                left -= k
            return
        while left > 0:
            k = min(left, n)
            yield from rng.permutation(n)[:k].tolist()
            left -= k

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order."""

    def __init__(self, indices, generator=None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        order = _rng(self.generator).permutation(len(self.indices))
        return (self.indices[i] for i in order.tolist())

    def __len__(self) -> int:
        return len(self.indices)


class BatchSampler(Sampler):
    """Group another sampler's indices into lists of ``batch_size``."""

    def __init__(self, sampler, batch_size: int, drop_last: bool) -> None:
        if (not isinstance(batch_size, int) or isinstance(batch_size, bool)
                or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got "
                             f"drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        size = self.batch_size
        if isinstance(self.sampler, (SequentialSampler, RandomSampler)) and \
                len(self.sampler) <= 1 << 20:
            indices = list(self.sampler)  # one pass; slicing beats appending
            stop = len(indices) - len(indices) % size if self.drop_last else len(indices)
            for start in range(0, stop, size):
                yield indices[start:start + size]
            return
        batch = []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
