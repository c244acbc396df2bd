"""wgtorch.utils.data in one process: datasets, random_split, samplers, collation and the
DataLoader's batching, shuffling, lengths and errors, compared with torch.utils.data on the
same inputs wherever the result does not depend on the random stream. Worker processes are
in tests/test_data_workers.py."""

from __future__ import annotations

import collections
import warnings

import numpy as np
import pytest
import torch as pt
import torch.utils.data as ptd

import wgtorch as torch
from wgtorch.utils import data as wgd

Point = collections.namedtuple("Point", "x y")


def same(got, expect):
    """``got`` (wgtorch) has the structure, container types, dtypes and values of ``expect`` (torch)."""
    if isinstance(expect, pt.Tensor):
        assert isinstance(got, torch.Tensor), type(got)
        assert got.dtype.name == str(expect.dtype).removeprefix("torch."), (got.dtype, expect.dtype)
        assert tuple(got.shape) == tuple(expect.shape)
        np.testing.assert_array_equal(got.numpy(), expect.numpy())
    elif isinstance(expect, dict):
        assert type(got) is type(expect) and list(got) == list(expect)
        for k in expect:
            same(got[k], expect[k])
    elif isinstance(expect, (list, tuple)):
        assert type(got) is type(expect) and len(got) == len(expect), (type(got), type(expect))
        for g, e in zip(got, expect):
            same(g, e)
    else:
        assert type(got) is type(expect) and got == expect


def raises_like_torch(fn_wg, fn_pt, same_message=True):
    with pytest.raises(Exception) as expect:
        fn_pt()
    with pytest.raises(type(expect.value)) as got:
        fn_wg()
    if same_message:
        assert str(got.value) == str(expect.value)


class Squares(wgd.Dataset):
    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i * i

    def __len__(self):
        return self.n


class Stream(wgd.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


# -- datasets --------------------------------------------------------------------------------
def test_dataset_base_and_addition():
    raises_like_torch(lambda: wgd.Dataset()[0], lambda: ptd.Dataset()[0])
    both = Squares(3) + Squares(2)
    assert isinstance(both, wgd.ConcatDataset) and [both[i] for i in range(5)] == [0, 1, 4, 0, 1]
    chained = Stream(2) + Stream(3)
    assert isinstance(chained, wgd.ChainDataset) and list(chained) == [0, 1, 0, 1, 2] and len(chained) == 5
    assert issubclass(wgd.IterableDataset, wgd.Dataset)


def test_tensor_dataset(device):
    x = torch.arange(12, device=device).reshape(4, 3)
    y = torch.tensor([1.0, 2.0, 3.0, 4.0], device=device)
    ds = wgd.TensorDataset(x, y)
    assert len(ds) == 4 and ds.tensors == (x, y)
    xi, yi = ds[2]
    assert xi.device == x.device and xi.tolist() == [6, 7, 8] and yi.item() == 3.0
    raises_like_torch(lambda: wgd.TensorDataset(x, torch.zeros(3, device=device)),
                      lambda: ptd.TensorDataset(pt.zeros(4), pt.zeros(3)))


def test_concat_dataset_like_torch():
    parts = [list(range(3)), list(range(10, 15)), [], list(range(20, 22))]
    ours, theirs = wgd.ConcatDataset(parts), ptd.ConcatDataset(parts)
    assert ours.cumulative_sizes == theirs.cumulative_sizes and len(ours) == len(theirs)
    assert [ours[i] for i in range(-len(ours), len(ours))] == [theirs[i] for i in range(-len(theirs), len(theirs))]
    raises_like_torch(lambda: ours[-11], lambda: theirs[-11])
    raises_like_torch(lambda: ours[10], lambda: theirs[10], same_message=False)
    raises_like_torch(lambda: wgd.ConcatDataset([]), lambda: ptd.ConcatDataset([]))
    pstream = type("PStream", (ptd.IterableDataset,), {"__iter__": lambda self: iter([])})()
    raises_like_torch(lambda: wgd.ConcatDataset([Stream(2)]), lambda: ptd.ConcatDataset([pstream]))
    raises_like_torch(lambda: wgd.IterableDataset(), lambda: ptd.IterableDataset(), same_message=False)
    with pytest.raises(AssertionError, match="ChainDataset only supports IterableDataset"):
        list(wgd.ChainDataset([Squares(2)]))


def test_subset_and_stack_dataset():
    sub = wgd.Subset(Squares(10), [7, 2, 5])
    assert len(sub) == 3 and [sub[i] for i in range(3)] == [49, 4, 25] and sub.__getitems__([2, 0]) == [25, 49]
    nested = wgd.Subset(wgd.Subset(Squares(10), [9, 8, 7]), [2, 0])
    assert nested.__getitems__([0, 1]) == [49, 81]

    class Bad(wgd.Subset):
        def __getitem__(self, i):
            return 0

    raises_like_torch(lambda: Bad(Squares(2), [0]), lambda: type("Bad", (ptd.Subset,), {
        "__getitem__": lambda self, i: 0})(list(range(2)), [0]))
    st = wgd.StackDataset(Squares(3), ["a", "b", "c"])
    assert st[1] == (1, "b") and st.__getitems__([0, 2]) == [(0, "a"), (4, "c")] and len(st) == 3
    sd = wgd.StackDataset(sq=Squares(3), s=["a", "b", "c"])
    assert sd[2] == {"sq": 4, "s": "c"} and sd.__getitems__([1]) == [{"sq": 1, "s": "b"}]
    raises_like_torch(lambda: wgd.StackDataset(Squares(3), [1]), lambda: ptd.StackDataset([1, 2, 3], [1]))
    raises_like_torch(lambda: wgd.StackDataset(), lambda: ptd.StackDataset())
    raises_like_torch(lambda: wgd.StackDataset([1], a=[1]), lambda: ptd.StackDataset([1], a=[1]))


# -- random_split ----------------------------------------------------------------------------
@pytest.mark.parametrize("n, fractions", [(10, [0.3, 0.3, 0.4]), (7, [0.5, 0.5]), (11, [0.1, 0.2, 0.7]),
                                          (5, [1 / 3, 1 / 3, 1 / 3]), (3, [0.1, 0.1, 0.8]), (100, [0.95, 0.05])])
def test_random_split_fraction_rounding_like_torch(n, fractions):
    with warnings.catch_warnings(record=True) as expect_w:
        warnings.simplefilter("always")
        expect = [len(s) for s in ptd.random_split(range(n), fractions)]
    with warnings.catch_warnings(record=True) as got_w:
        warnings.simplefilter("always")
        splits = wgd.random_split(range(n), fractions)
    assert [len(s) for s in splits] == expect
    assert [str(w.message) for w in got_w] == [str(w.message) for w in expect_w]  # zero-length splits


def test_random_split_is_a_seeded_partition():
    data = list(range(20))
    splits = wgd.random_split(data, [5, 0, 15], generator=torch.Generator().manual_seed(3))
    assert [len(s) for s in splits] == [5, 0, 15] and all(isinstance(s, wgd.Subset) for s in splits)
    items = [s[i] for s in splits for i in range(len(s))]
    assert sorted(items) == data and items != data
    again = wgd.random_split(data, [5, 0, 15], generator=torch.Generator().manual_seed(3))
    assert [s.indices for s in again] == [s.indices for s in splits]
    other = wgd.random_split(data, [5, 0, 15], generator=torch.Generator().manual_seed(4))
    assert [s.indices for s in other] != [s.indices for s in splits]
    torch.manual_seed(1)  # the default generator is the global one
    a = [s.indices for s in wgd.random_split(data, [0.5, 0.5])]
    torch.manual_seed(1)
    assert [s.indices for s in wgd.random_split(data, [0.5, 0.5])] == a


def test_random_split_errors_like_torch():
    for lengths in ([3, 3], [1.5, -0.5], [0.5, 0.6]):
        raises_like_torch(lambda lengths=lengths: wgd.random_split(range(10), lengths),
                          lambda lengths=lengths: ptd.random_split(range(10), lengths))


# -- samplers --------------------------------------------------------------------------------
def test_sequential_and_batch_sampler_like_torch():
    assert list(wgd.SequentialSampler(range(5))) == list(ptd.SequentialSampler(range(5)))
    assert len(wgd.SequentialSampler(range(5))) == 5
    for n in (0, 1, 9, 10, 11):
        for bs in (1, 3, 5, 12):
            for drop_last in (False, True):
                ours = wgd.BatchSampler(wgd.SequentialSampler(range(n)), bs, drop_last)
                theirs = ptd.BatchSampler(ptd.SequentialSampler(range(n)), bs, drop_last)
                assert list(ours) == list(theirs) and len(ours) == len(theirs), (n, bs, drop_last)
    assert list(wgd.BatchSampler(iter(range(5)), 2, False)) == [[0, 1], [2, 3], [4]]  # any iterable


@pytest.mark.parametrize("bs, drop_last", [(0, False), (-1, False), (True, False), (2.0, False), (2, 1), (2, None)])
def test_batch_sampler_errors_like_torch(bs, drop_last):
    raises_like_torch(lambda: wgd.BatchSampler(range(3), bs, drop_last),
                      lambda: ptd.BatchSampler(range(3), bs, drop_last))


def test_random_sampler():
    g = torch.Generator().manual_seed(0)
    s = wgd.RandomSampler(range(10), generator=g)
    first, second = list(s), list(s)
    assert sorted(first) == sorted(second) == list(range(10)) and first != second and len(s) == 10
    assert list(wgd.RandomSampler(range(10), generator=torch.Generator().manual_seed(0))) == first
    long = list(wgd.RandomSampler(range(4), num_samples=10, generator=g))
    assert len(long) == 10 and sorted(long[:4]) == sorted(long[4:8]) == [0, 1, 2, 3] and set(long[8:]) <= set(range(4))
    rep = wgd.RandomSampler(range(3), replacement=True, num_samples=70, generator=g)
    drawn = list(rep)
    assert len(rep) == 70 and len(drawn) == 70 and set(drawn) == {0, 1, 2}
    torch.manual_seed(5)  # without a generator: seeded from the global one
    a = list(wgd.RandomSampler(range(10)))
    torch.manual_seed(5)
    assert list(wgd.RandomSampler(range(10))) == a
    torch.manual_seed(6)
    assert list(wgd.RandomSampler(range(10))) != a


@pytest.mark.parametrize("kwargs", [{"replacement": 1}, {"num_samples": 0}, {"num_samples": -3},
                                    {"num_samples": 2.0}])
def test_random_sampler_errors_like_torch(kwargs):
    raises_like_torch(lambda: wgd.RandomSampler(range(3), **kwargs), lambda: ptd.RandomSampler(range(3), **kwargs))


def test_subset_random_sampler():
    indices = [10, 20, 30, 40, 50]
    s = wgd.SubsetRandomSampler(indices, generator=torch.Generator().manual_seed(2))
    got = list(s)
    assert sorted(got) == indices and len(s) == 5
    assert list(wgd.SubsetRandomSampler(indices, generator=torch.Generator().manual_seed(2))) == got


def test_weighted_random_sampler():
    weights = [0.0, 1.0, 3.0, 0.0, 6.0]
    g = torch.Generator().manual_seed(7)
    draws = np.array(list(wgd.WeightedRandomSampler(weights, 20_000, generator=g)))
    counts = np.bincount(draws, minlength=5) / 20_000
    assert counts[0] == counts[3] == 0
    np.testing.assert_allclose(counts[[1, 2, 4]], [0.1, 0.3, 0.6], atol=0.02)
    s = wgd.WeightedRandomSampler(weights, 3, replacement=False, generator=g)
    assert len(s) == 3 and sorted(s) == [1, 2, 4]
    first = [list(wgd.WeightedRandomSampler([1, 1, 100], 1, replacement=False, generator=g))[0] for _ in range(50)]
    assert first.count(2) > 40  # a heavy weight comes first
    a = list(wgd.WeightedRandomSampler(weights, 8, generator=torch.Generator().manual_seed(1)))
    assert list(wgd.WeightedRandomSampler(weights, 8, generator=torch.Generator().manual_seed(1))) == a
    assert wgd.WeightedRandomSampler(weights, 2).weights.dtype is torch.float64


@pytest.mark.parametrize("args, kwargs", [(([1.0, 2.0], 0), {}), (([1.0, 2.0], True), {}),
                                          (([1.0, 2.0], 2), {"replacement": 0}), (([[1.0, 2.0]], 2), {})])
def test_weighted_random_sampler_errors_like_torch(args, kwargs):
    raises_like_torch(lambda: wgd.WeightedRandomSampler(*args, **kwargs),
                      lambda: ptd.WeightedRandomSampler(*args, **kwargs))


@pytest.mark.parametrize("weights, n, replacement", [([1.0, -1.0], 1, True), ([0.0, 0.0], 1, True),
                                                      ([1.0, 2.0], 3, False), ([1.0, float("nan")], 1, True)])
def test_weighted_random_sampler_draw_errors_like_torch(weights, n, replacement):
    raises_like_torch(lambda: list(wgd.WeightedRandomSampler(weights, n, replacement)),
                      lambda: list(ptd.WeightedRandomSampler(weights, n, replacement)))


# -- collation -------------------------------------------------------------------------------
def _samples(lib, device=None):
    """The same nested samples built for torch (``lib=pt``) or wgtorch."""
    kw = {} if lib is pt else {"device": device}
    return [{"t": lib.tensor([i, i + 1.0], **kw), "np": np.arange(3, dtype=np.int32) + i, "i": i, "f": i / 2,
             "b": i % 2 == 0, "s": f"s{i}", "by": b"x", "npf": np.float32(i), "npb": np.bool_(i), "p": Point(i, "q"),
             "tup": (i, [i * 2.0, "z"]), "lst": [np.float64(i), {"k": i}]} for i in range(3)]


def test_default_collate_like_torch(device):
    same(wgd.default_collate(_samples(torch, device)), ptd.default_collate(_samples(pt)))
    batch = wgd.default_collate([torch.ones(2, 2, device=device)] * 3)
    assert batch.device.type == device and tuple(batch.shape) == (3, 2, 2)
    same(wgd.default_collate([0.5, 1.5]), ptd.default_collate([0.5, 1.5]))  # float64
    halves = [np.zeros((2, 3), np.float16)] * 2
    same(wgd.default_collate(halves), ptd.default_collate(halves))
    same(wgd.default_collate([(1, 2), (3, 4)]), ptd.default_collate([(1, 2), (3, 4)]))


def test_default_convert_like_torch():
    for sample in _samples(pt)[:1] + [np.arange(4), np.float32(3), (1, np.int64(2)), [np.zeros(2)], "text", 5]:
        expect = ptd.default_convert(sample)
        sample_wg = {k: (torch.tensor(v.numpy()) if isinstance(v, pt.Tensor) else v) for k, v in sample.items()} \
            if isinstance(sample, dict) else sample
        same(wgd.default_convert(sample_wg), expect)
    arr = np.array(["a", "b"])
    assert wgd.default_convert(arr) is arr


def test_collate_errors_like_torch():
    raises_like_torch(lambda: wgd.default_collate([[1, 2], [3]]), lambda: ptd.default_collate([[1, 2], [3]]))
    raises_like_torch(lambda: wgd.default_collate([object()]), lambda: ptd.default_collate([object()]),
                      same_message=False)
    raises_like_torch(lambda: wgd.default_collate([{1}]), lambda: ptd.default_collate([{1}]))
    strings = [np.array(["a", "b"])] * 2
    raises_like_torch(lambda: wgd.default_collate(strings), lambda: ptd.default_collate(strings))
    raises_like_torch(lambda: wgd.default_collate([torch.zeros(2), torch.zeros(3)]),
                      lambda: ptd.default_collate([pt.zeros(2), pt.zeros(3)]))


# -- DataLoader ------------------------------------------------------------------------------
@pytest.mark.parametrize("n, batch_size, drop_last", [(10, 1, False), (10, 3, False), (10, 3, True), (10, 5, True),
                                                      (10, 11, False), (10, 11, True), (0, 2, False)])
def test_sequential_batches_like_torch(device, n, batch_size, drop_last):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.arange(n)
    ours = wgd.DataLoader(wgd.TensorDataset(torch.tensor(x, device=device), torch.tensor(y, device=device)),
                          batch_size=batch_size, drop_last=drop_last)
    theirs = ptd.DataLoader(ptd.TensorDataset(pt.tensor(x), pt.tensor(y)), batch_size=batch_size, drop_last=drop_last)
    got, expect = list(ours), list(theirs)
    assert len(ours) == len(theirs) == len(got) == len(expect)
    same(got, expect)
    assert all(t.device.type == device for b in got for t in b)


def test_shuffle_follows_the_seed(device):
    ds = wgd.TensorDataset(torch.arange(16, device=device))

    def order(loader):
        return [v for (b,) in loader for v in b.tolist()]

    torch.manual_seed(0)
    loader = wgd.DataLoader(ds, batch_size=4, shuffle=True)
    epoch1, epoch2 = order(loader), order(loader)
    assert sorted(epoch1) == sorted(epoch2) == list(range(16)) and epoch1 != epoch2 and epoch1 != list(range(16))
    torch.manual_seed(0)
    assert order(wgd.DataLoader(ds, batch_size=4, shuffle=True)) == epoch1
    torch.manual_seed(1)
    assert order(wgd.DataLoader(ds, batch_size=4, shuffle=True)) != epoch1
    with_gen = order(wgd.DataLoader(ds, batch_size=3, shuffle=True, generator=torch.Generator().manual_seed(9)))
    torch.manual_seed(123)  # the global stream does not matter with a generator
    assert order(wgd.DataLoader(ds, batch_size=3, shuffle=True, generator=torch.Generator().manual_seed(9))) == with_gen


def test_sampler_batch_sampler_and_collate_fn():
    ds = Squares(6)
    assert [b.tolist() for b in wgd.DataLoader(ds, batch_size=2, sampler=[5, 0, 3])] == [[25, 0], [9]]
    loader = wgd.DataLoader(ds, batch_sampler=[[1, 2], [0], [5, 4, 3]])
    assert [b.tolist() for b in loader] == [[1, 4], [0], [25, 16, 9]] and len(loader) == 3
    assert list(wgd.DataLoader(ds, batch_size=4, collate_fn=sum)) == [0 + 1 + 4 + 9, 16 + 25]
    # batch_size=None: samples one by one through default_convert, as torch
    same(list(wgd.DataLoader(ds, batch_size=None)), list(ptd.DataLoader(list(map(ds.__getitem__, range(6))),
                                                                      batch_size=None)))
    arrays = [np.full(2, i) for i in range(3)]
    same(list(wgd.DataLoader(arrays, batch_size=None)), list(ptd.DataLoader(arrays, batch_size=None)))
    loader = wgd.DataLoader(ds, batch_size=4)
    assert isinstance(loader.sampler, wgd.SequentialSampler) and isinstance(loader.batch_sampler, wgd.BatchSampler)
    assert isinstance(wgd.DataLoader(ds, shuffle=True).sampler, wgd.RandomSampler)


def test_iterable_dataset_loading_and_len_like_torch():
    for batch_size, drop_last in [(None, False), (1, False), (3, False), (3, True), (7, False)]:
        ours = wgd.DataLoader(Stream(7), batch_size=batch_size, drop_last=drop_last)
        pstream = type("PStream", (ptd.IterableDataset,), {"__iter__": lambda self: iter(range(7)),
                                                          "__len__": lambda self: 7})()
        theirs = ptd.DataLoader(pstream, batch_size=batch_size, drop_last=drop_last)
        assert len(ours) == len(theirs)
        same(list(ours), list(theirs))


def test_getitems_is_used_for_batches():
    class Batched(Squares):
        def __getitems__(self, indices):
            return [-i for i in indices]

    assert [b.tolist() for b in wgd.DataLoader(Batched(5), batch_size=2)] == [[0, -1], [-2, -3], [-4]]


def _loader_error_cases(lib):
    data = lib.utils.data
    ds, stream = list(range(4)), type("S", (data.IterableDataset,), {"__iter__": lambda self: iter([])})()
    s = data.SequentialSampler(ds)
    return [lambda: data.DataLoader(ds, shuffle=True, sampler=s),
            lambda: data.DataLoader(ds, batch_size=2, batch_sampler=[[0]]),
            lambda: data.DataLoader(ds, shuffle=True, batch_sampler=[[0]]),
            lambda: data.DataLoader(ds, drop_last=True, batch_sampler=[[0]]),
            lambda: data.DataLoader(ds, sampler=s, batch_sampler=[[0]]),
            lambda: data.DataLoader(ds, batch_size=None, drop_last=True),
            lambda: data.DataLoader(ds, num_workers=-1),
            lambda: data.DataLoader(ds, timeout=-1),
            lambda: data.DataLoader(ds, prefetch_factor=2),
            lambda: data.DataLoader(ds, num_workers=1, prefetch_factor=-1),
            lambda: data.DataLoader(ds, persistent_workers=True),
            lambda: data.DataLoader(ds, multiprocessing_context="fork"),
            lambda: data.DataLoader(ds, num_workers=1, multiprocessing_context="nope"),
            lambda: data.DataLoader(ds, num_workers=1, multiprocessing_context=3),
            lambda: data.DataLoader(ds, batch_size=0),
            lambda: data.DataLoader(stream, shuffle=True),
            lambda: setattr(data.DataLoader(ds), "batch_size", 3),
            lambda: setattr(data.DataLoader(ds), "dataset", ds),
            lambda: iter(data.DataLoader(ds, timeout=1)),
            lambda: len(data.DataLoader(stream))]


@pytest.mark.parametrize("case", range(len(_loader_error_cases(pt))))
def test_loader_errors_like_torch(case):
    raises_like_torch(_loader_error_cases(torch)[case], _loader_error_cases(pt)[case])


def test_iterable_dataset_refuses_samplers_like_torch():
    pstream = type("S", (ptd.IterableDataset,), {"__iter__": lambda self: iter([])})()
    for kwargs in ({"sampler": [0]}, {"batch_sampler": [[0]]}):
        raises_like_torch(lambda kwargs=kwargs: wgd.DataLoader(Stream(2), **kwargs),
                          lambda kwargs=kwargs: ptd.DataLoader(pstream, **kwargs))


def test_get_worker_info_is_none_in_the_main_process():
    assert wgd.get_worker_info() is None and ptd.get_worker_info() is None


def test_pin_memory_is_accepted_and_changes_nothing():
    ds = wgd.TensorDataset(torch.arange(5))
    pinned = [b.tolist() for (b,) in wgd.DataLoader(ds, batch_size=2, pin_memory=True)]
    assert pinned == [b.tolist() for (b,) in wgd.DataLoader(ds, batch_size=2)]


def test_iterable_dataset_longer_than_its_len_warns_like_torch():
    class Liar(Stream):
        def __len__(self):
            return 2

    ptliar = type("PLiar", (ptd.IterableDataset,), {"__iter__": lambda self: iter(range(4)), "__len__": lambda self: 2})
    for lib, ds in ((ptd, ptliar()), (wgd, Liar(4))):
        loader = lib.DataLoader(ds, batch_size=None)
        assert len(loader) == 2
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert list(loader) == [0, 1, 2, 3]
        messages = [str(w.message).split(" was reported")[1] for w in caught]
        if lib is ptd:
            expect = messages
    assert messages == expect and len(messages) == 2
    assert "2(when accessing len(dataloader)), but 3 samples" in messages[0]


def test_generic_subscripting():
    class Ints(wgd.Dataset[int]):
        def __getitem__(self, i):
            return i

    class Evens(wgd.Sampler[int]):
        def __iter__(self):
            return iter([0, 2])

    assert [b.tolist() for b in wgd.DataLoader(Ints(), sampler=Evens(), batch_size=2)] == [[0, 2]]
    assert issubclass(wgd.RandomSampler, wgd.Sampler) and issubclass(wgd.TensorDataset, wgd.Dataset)
