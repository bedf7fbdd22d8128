"""``utils.data``: datasets, samplers, ``DataLoader`` and collation against PyTorch.

Deterministic loaders (no shuffling) must give torch's batches exactly; shuffled
ones are checked for what chainrule promises (permutations, reproducible with a seed),
since the random streams differ from PyTorch's by design.
"""

import collections

import numpy as np
import pytest
from conftest import Raised, assert_mirrors, to_np


def _dataset(lib, n=10):
    x = lib.arange(n * 3, dtype=lib.float32).reshape(n, 3)
    y = lib.arange(n) % 4
    return lib.utils.data.TensorDataset(x, y)


@pytest.mark.parametrize("kwargs", [dict(batch_size=4), dict(batch_size=4, drop_last=True),
                                    dict(batch_size=1), dict(batch_size=None),
                                    dict(batch_size=10), dict(batch_size=32)])
def test_tensor_dataset_batches(cr, torch, kwargs):
    def script(lib):
        loader = lib.utils.data.DataLoader(_dataset(lib), **kwargs)
        return len(loader), [b for b in loader]
    assert_mirrors(script, cr, torch)


def test_subset_and_fast_path_match_general_path(cr):
    D = cr.utils.data
    ds = _dataset(cr, 20)
    sub = D.Subset(D.Subset(ds, list(range(19, -1, -1))), [1, 3, 5, 7, 9, 11, 13])
    fast = list(D.DataLoader(sub, batch_size=3))
    slow = list(D.DataLoader(sub, batch_size=3,
                             collate_fn=lambda b: D.default_collate(b)))
    assert len(fast) == len(slow) == 3
    for f, s in zip(fast, slow):
        for a, b in zip(f, s):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(to_np(a), to_np(b))
    np.testing.assert_array_equal(to_np(fast[0][1]), [18 % 4, 16 % 4, 14 % 4])


class Samples:
    """A map-style dataset of assorted sample types (defined per library)."""

    def __init__(self, lib, kind):
        self.lib, self.kind = lib, kind

    def __len__(self):
        return 5

    def __getitem__(self, i):
        lib = self.lib
        if self.kind == "dict":
            return {"x": lib.full((2,), float(i)), "label": i, "name": f"s{i}"}
        if self.kind == "numbers":
            return (float(i) / 2, i, i % 2 == 0)
        if self.kind == "numpy":
            return np.full((2, 2), i, dtype=np.float32), np.int64(i)
        if self.kind == "namedtuple":
            return Point(lib.tensor([i, i]), i * 1.5)
        if self.kind == "list":
            return [lib.tensor(float(i)), [i, i + 1]]
        raise AssertionError


Point = collections.namedtuple("Point", "xy w")


@pytest.mark.parametrize("kind", ["dict", "numbers", "numpy", "namedtuple", "list"])
def test_default_collate(cr, torch, kind):
    def script(lib):
        batches = list(lib.utils.data.DataLoader(Samples(lib, kind), batch_size=2))
        return [_plain(b) for b in batches]
    assert_mirrors(script, cr, torch)


def _plain(obj):
    """Named tuples as ``(type name, fields)`` so both libraries compare."""
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return (type(obj).__name__, [_plain(o) for o in obj])
    if isinstance(obj, list):
        return [_plain(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def test_collate_errors(cr, torch):
    def ragged(lib):
        return lib.utils.data.default_collate([[1, 2], [3]])

    def unknown(lib):
        return lib.utils.data.default_collate([object(), object()])

    def shapes(lib):
        return lib.utils.data.default_collate([lib.zeros(2), lib.zeros(3)])
    for script in (ragged, unknown, shapes):
        assert isinstance(assert_mirrors(script, cr, torch), Raised)


@pytest.mark.parametrize("kwargs", [
    dict(shuffle=True, sampler=[0, 1]),
    dict(batch_sampler=[[0, 1]], batch_size=2),
    dict(batch_size=None, drop_last=True),
    dict(num_workers=-1),
])
def test_loader_argument_errors(cr, torch, kwargs):
    def script(lib):
        lib.utils.data.DataLoader(_dataset(lib), **kwargs)
    assert isinstance(assert_mirrors(script, cr, torch), Raised)


def test_custom_sampler_batch_sampler_and_collate(cr, torch):
    def script(lib):
        D = lib.utils.data
        ds = _dataset(lib)
        a = list(D.DataLoader(ds, batch_size=3, sampler=[9, 0, 4, 4, 2]))
        b = list(D.DataLoader(ds, batch_sampler=[[1, 2], [7]]))
        c = list(D.DataLoader(ds, batch_size=4, collate_fn=lambda s: len(s)))
        d = list(D.BatchSampler(D.SequentialSampler(range(7)), 3, drop_last=False))
        return a, b, c, d, len(D.BatchSampler(range(7), 3, True))
    assert_mirrors(script, cr, torch)


def test_iterable_dataset(cr, torch):
    def script(lib):
        class Stream(lib.utils.data.IterableDataset):
            def __iter__(self):
                return iter(lib.tensor([float(i)]) for i in range(7))
        return [list(lib.utils.data.DataLoader(Stream(), batch_size=3, drop_last=d))
                for d in (False, True)]
    assert_mirrors(script, cr, torch)


def test_shuffle_is_a_permutation_and_reproducible(cr):
    D = cr.utils.data
    ds = _dataset(cr, 50)

    def epoch(loader):
        return np.concatenate([to_np(y) for _, y in loader]), np.concatenate(
            [to_np(x)[:, 0] / 3 for x, _ in loader])

    g = cr.Generator().manual_seed(7)
    loader = D.DataLoader(ds, batch_size=8, shuffle=True, generator=g)
    _, order1 = epoch(loader)
    _, order2 = epoch(loader)
    assert sorted(order1) == list(range(50)) and sorted(order2) == list(range(50))
    assert not np.array_equal(order1, order2)  # a new order each epoch
    again = D.DataLoader(ds, batch_size=8, shuffle=True,
                         generator=cr.Generator().manual_seed(7))
    np.testing.assert_array_equal(epoch(again)[1], order1)
    cr.manual_seed(3)
    first = epoch(D.DataLoader(ds, batch_size=8, shuffle=True))[1]
    cr.manual_seed(3)
    np.testing.assert_array_equal(epoch(D.DataLoader(ds, batch_size=8, shuffle=True))[1],
                                  first)


def test_random_sampler_with_replacement(cr):
    s = cr.utils.data.RandomSampler(range(5), replacement=True, num_samples=12,
                                    generator=cr.Generator().manual_seed(0))
    drawn = list(s)
    assert len(drawn) == len(s) == 12 and all(0 <= i < 5 for i in drawn)
    s = cr.utils.data.RandomSampler(range(5), num_samples=12)
    assert sorted(list(s)[:10]) == sorted(list(range(5)) * 2)


@pytest.mark.parametrize("lengths", [[3, 7], [0.3, 0.7], [0.33, 0.33, 0.34], [0.5, 0.5],
                                     [0.25, 0.25, 0.25, 0.25]])
def test_random_split_sizes_match_torch(cr, torch, lengths):
    def script(lib):
        parts = lib.utils.data.random_split(range(10), lengths)
        return [len(p) for p in parts]
    assert_mirrors(script, cr, torch)
    parts = cr.utils.data.random_split(range(10), lengths,
                                       generator=cr.Generator().manual_seed(1))
    assert sorted(i for p in parts for i in p) == list(range(10))


def test_random_split_errors_and_reproducibility(cr, torch):
    def script(lib):
        lib.utils.data.random_split(range(10), [3, 3])
    assert isinstance(assert_mirrors(script, cr, torch), Raised)

    def script2(lib):
        lib.utils.data.random_split(range(10), [1.5, -0.5])
    assert_mirrors(script2, cr, torch)
    a = cr.utils.data.random_split(range(10), [4, 6], generator=cr.Generator().manual_seed(5))
    b = cr.utils.data.random_split(range(10), [4, 6], generator=cr.Generator().manual_seed(5))
    assert [list(p) for p in a] == [list(p) for p in b]


def test_dataset_basics(cr, torch):
    def script(lib):
        D = lib.utils.data
        ds = _dataset(lib, 4)
        both = ds + ds
        sub = D.Subset(ds, [3, 1])
        return len(both), both[5], both[-1], sub[0], len(sub), ds[1]
    assert_mirrors(script, cr, torch)

    def mismatch(lib):
        lib.utils.data.TensorDataset(lib.zeros(3), lib.zeros(4))
    assert isinstance(assert_mirrors(mismatch, cr, torch), Raised)


def test_requires_grad_tensors_are_stacked_with_history(cr, torch):
    def script(lib):
        x = lib.ones(4, 2, requires_grad=True)
        (batch,) = next(iter(lib.utils.data.DataLoader(lib.utils.data.TensorDataset(x),
                                                       batch_size=2)))
        batch.sum().backward()
        return batch.requires_grad, x.grad
    assert_mirrors(script, cr, torch)


def test_random_sampler_with_replacement_is_lazy():
    """num_samples=10**10 must not allocate the indices (PyTorch draws them lazily)."""
    import itertools
    import tracemalloc

    from chainrule.utils.data import BatchSampler, RandomSampler
    tracemalloc.start()
    s = RandomSampler(range(10), replacement=True, num_samples=10 ** 10)
    first = list(itertools.islice(iter(s), 1000))
    batches = list(itertools.islice(iter(BatchSampler(s, 32, False)), 10))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(s) == 10 ** 10 and len(BatchSampler(s, 32, False)) == -(-10 ** 10 // 32)
    assert all(0 <= i < 10 for i in first) and all(len(b) == 32 for b in batches)
    assert peak < 50 * 1024 * 1024
