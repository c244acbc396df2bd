"""DataLoader worker processes: the same batches as in one process, worker_init_fn and
get_worker_info, seeding, iterable datasets (sharded and not), persistent workers, errors,
timeouts and tensors crossing processes. Datasets are small; most tests use the "fork" start
method (fast), one the "spawn" method (everything crosses by pickling)."""

from __future__ import annotations

import multiprocessing
import os
import random

import numpy as np
import pytest
import torch.utils.data as ptd

import wgtorch as torch
from wgtorch.utils import data as wgd

FORK = "fork"


class Probe(wgd.Dataset):
    """Sample i: (i, worker id, worker seed, pid, a number from each seeded generator, init mark)."""

    def __init__(self, n):
        self.n = n
        self.mark = "main"

    def __getitem__(self, i):
        info = wgd.get_worker_info()
        wid, seed = (info.id, info.seed) if info else (-1, -1)
        return {"i": i, "worker": wid, "seed": seed, "pid": os.getpid(), "py": random.random(),
                "np": float(np.random.rand()), "wg": torch.rand(1).item(), "mark": self.mark}

    def __len__(self):
        return self.n


def _mark(worker_id):
    info = wgd.get_worker_info()
    info.dataset.mark = f"init{worker_id}/{info.num_workers}"


class Numbers(wgd.Dataset):
    def __init__(self, n, fail_at=None, exit_at=None):
        self.n, self.fail_at, self.exit_at = n, fail_at, exit_at

    def __getitem__(self, i):
        if i == self.fail_at:
            raise ValueError(f"bad sample {i}")
        if i == self.exit_at:
            os._exit(3)
        return torch.tensor([i, 2 * i]), np.float32(i) / 2, {"s": str(i), "b": i % 2 == 0}

    def __len__(self):
        return self.n


class Gated(wgd.Dataset):
    def __init__(self, gate):
        self.gate = gate

    def __getitem__(self, i):
        self.gate.wait(60)
        return i

    def __len__(self):
        return 2


class Range(wgd.IterableDataset):
    """start .. end - 1, split between workers when ``shard``."""

    def __init__(self, start, end, shard=True):
        self.start, self.end, self.shard = start, end, shard

    def __iter__(self):
        info = wgd.get_worker_info()
        lo, hi = self.start, self.end
        if info is not None and self.shard:
            per = -(-(hi - lo) // info.num_workers)
            lo = lo + info.id * per
            hi = min(lo + per, self.end)
        return iter(range(lo, hi))


def _flat(batches):
    return [(b[0].tolist(), b[1].tolist(), b[2]["s"], b[2]["b"].tolist()) for b in batches]


@pytest.mark.parametrize("shuffle", [False, True])
def test_two_workers_give_the_same_batches_as_none(shuffle):
    ds = Numbers(11)
    runs = []
    for workers in (0, 2):
        torch.manual_seed(5)
        kw = {"multiprocessing_context": FORK} if workers else {}
        runs.append(_flat(wgd.DataLoader(ds, batch_size=3, shuffle=shuffle, num_workers=workers, **kw)))
    assert runs[0] == runs[1] and len(runs[0]) == 4
    b = next(iter(wgd.DataLoader(ds, batch_size=3, num_workers=2, multiprocessing_context=FORK)))
    assert b[0].device.type == "cpu" and b[0].dtype is torch.int64 and b[1].dtype is torch.float32
    assert b[2]["b"].dtype is torch.bool and b[2]["s"] == ["0", "1", "2"]


def test_worker_init_fn_worker_info_and_seeds():
    loader = wgd.DataLoader(Probe(8), batch_size=2, num_workers=2, worker_init_fn=_mark,
                            multiprocessing_context=FORK, generator=torch.Generator().manual_seed(3))
    batches = list(loader)
    assert [b["i"].tolist() for b in batches] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert [b["worker"].tolist() for b in batches] == [[0, 0], [1, 1], [0, 0], [1, 1]]  # round robin
    assert [b["mark"] for b in batches] == [["init0/2"] * 2, ["init1/2"] * 2] * 2
    seeds = {w: s for b in batches for w, s in zip(b["worker"].tolist(), b["seed"].tolist())}
    assert seeds[1] == seeds[0] + 1 and seeds[0] >= 0
    pids = {p for b in batches for p in b["pid"].tolist()}
    assert len(pids) == 2 and os.getpid() not in pids
    # each worker's generators are seeded: the workers differ, and the same loader seed repeats them
    again = list(wgd.DataLoader(Probe(8), batch_size=2, num_workers=2, worker_init_fn=_mark,
                                multiprocessing_context=FORK, generator=torch.Generator().manual_seed(3)))
    for key in ("seed", "py", "np", "wg"):
        assert [b[key].tolist() for b in again] == [b[key].tolist() for b in batches], key
    for key in ("py", "np", "wg"):
        assert batches[0][key][0].item() != batches[1][key][0].item(), key
    other = list(wgd.DataLoader(Probe(8), batch_size=2, num_workers=2, multiprocessing_context=FORK,
                                generator=torch.Generator().manual_seed(4)))
    assert other[0]["seed"].tolist() != batches[0]["seed"].tolist()
    assert wgd.get_worker_info() is None


def test_iterable_dataset_in_workers():
    sharded = wgd.DataLoader(Range(0, 10), batch_size=3, num_workers=2, multiprocessing_context=FORK)
    got = [b.tolist() for b in sharded]
    # worker 0 has 0..4, worker 1 has 5..9; batches alternate between them while both last
    assert got == [[0, 1, 2], [5, 6, 7], [3, 4], [8, 9]]
    copies = wgd.DataLoader(Range(0, 4, shard=False), batch_size=None, num_workers=2, multiprocessing_context=FORK)
    assert sorted(copies) == [0, 0, 1, 1, 2, 2, 3, 3]  # each worker iterates its own copy
    uneven = wgd.DataLoader(Range(0, 3), batch_size=2, drop_last=True, num_workers=2, multiprocessing_context=FORK)
    assert [b.tolist() for b in uneven] == [[0, 1]]  # worker 1 holds 1 item: no full batch


def test_persistent_workers_keep_their_processes():
    loader = wgd.DataLoader(Probe(4), batch_size=2, num_workers=2, persistent_workers=True,
                            multiprocessing_context=FORK)
    first = list(loader)
    second = list(loader)
    assert [b["i"].tolist() for b in first] == [b["i"].tolist() for b in second] == [[0, 1], [2, 3]]
    assert {p for b in first for p in b["pid"].tolist()} == {p for b in second for p in b["pid"].tolist()}
    it = iter(loader)
    assert it is loader._iterator
    next(it)  # a pass left unfinished does not disturb the next one
    assert [b["i"].tolist() for b in loader] == [[0, 1], [2, 3]]
    stream = wgd.DataLoader(Range(0, 6), batch_size=2, num_workers=2, persistent_workers=True,
                            multiprocessing_context=FORK)
    assert [b.tolist() for b in stream] == [b.tolist() for b in stream] == [[0, 1], [3, 4], [2], [5]]


def test_prefetch_and_out_of_order():
    ds = Numbers(9)
    loader = wgd.DataLoader(ds, batch_size=2, num_workers=2, prefetch_factor=1, multiprocessing_context=FORK)
    assert _flat(loader) == _flat(wgd.DataLoader(ds, batch_size=2))
    unordered = wgd.DataLoader(ds, batch_size=2, num_workers=2, in_order=False, multiprocessing_context=FORK)
    assert sorted(_flat(unordered)) == sorted(_flat(wgd.DataLoader(ds, batch_size=2)))


def test_worker_exception_is_reraised_with_its_type():
    loader = wgd.DataLoader(Numbers(6, fail_at=3), batch_size=2, num_workers=2, multiprocessing_context=FORK)
    it = iter(loader)
    assert next(it)[0].tolist() == [[0, 0], [1, 2]]
    with pytest.raises(ValueError, match=r"Caught ValueError in DataLoader worker process 1\.(.|\n)*bad sample 3"):
        next(it)

    def bad_init(worker_id):
        raise KeyError("no init")

    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker process 0"):
        list(wgd.DataLoader(Numbers(2), num_workers=1, worker_init_fn=bad_init, multiprocessing_context=FORK))


def test_timeout_and_dead_worker():
    gate = multiprocessing.get_context(FORK).Event()  # the worker answers only once it is set
    slow = wgd.DataLoader(Gated(gate), num_workers=1, timeout=0.2, multiprocessing_context=FORK)
    it = iter(slow)
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0\.2 seconds"):
        next(it)
    gate.set()  # let it finish, so that shutting it down is quick
    del it
    dying = wgd.DataLoader(Numbers(2, exit_at=0), num_workers=1, timeout=1, multiprocessing_context=FORK)
    it = iter(dying)
    it._workers[0].join(30)  # it exits on its first sample
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly"):
        next(it)


def test_tensors_cross_as_numpy_and_come_back_on_the_cpu(device):
    # spawn: the dataset is pickled into the workers, device tensors and all; workers hold cpu copies
    x = torch.tensor(np.arange(12, dtype=np.float32).reshape(6, 2), device=device)
    y = torch.tensor([True, False, True, True, False, False], device=device)
    ds = wgd.TensorDataset(x, y)
    batches = list(wgd.DataLoader(ds, batch_size=4, num_workers=1, multiprocessing_context="spawn"))
    assert [b[0].device.type for b in batches] == ["cpu", "cpu"]
    assert [b[0].dtype for b in batches] == [torch.float32] * 2 and batches[1][1].dtype is torch.bool
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in batches]), x.numpy())
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), y.numpy())


def test_forked_workers_refuse_gpu_tensors_instead_of_hanging(wgpu_device):
    ds = wgd.TensorDataset(torch.arange(4, device=wgpu_device))
    with pytest.raises(RuntimeError, match="(?s)Caught RuntimeError in DataLoader worker process 0.*Cannot use "
                                           "wgpu:0 tensors in a forked DataLoader worker process"):
        list(wgd.DataLoader(ds, batch_size=2, num_workers=1, timeout=30, multiprocessing_context=FORK))
    # the main process's backend is untouched
    assert ds[1][0].item() == 1


def _plain(x):
    """A batch as comparable plain data: tensors (either library) as (dtype name, values)."""
    if hasattr(x, "tolist") and hasattr(x, "dtype"):
        return ("tensor", str(x.dtype).split(".")[-1], x.tolist())
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x).__name__, [_plain(v) for v in x]
    return x


@pytest.mark.parametrize("cfg", [{"batch_size": 3}, {"batch_size": None}, {"batch_sampler": [[0, 6], [1], [2, 3, 4]]},
                                 {"sampler": [6, 5, 4], "batch_size": 2},
                                 {"batch_size": 2, "drop_last": True, "persistent_workers": True}])
def test_worker_batches_like_torch(cfg):
    samples = [{"a": np.arange(2) + i, "b": float(i), "c": [i, "s"]} for i in range(7)]
    ours = [_plain(b) for b in wgd.DataLoader(samples, num_workers=2, multiprocessing_context=FORK, **cfg)]
    theirs = [_plain(b) for b in ptd.DataLoader(samples, num_workers=2, multiprocessing_context=FORK, **cfg)]
    assert ours == theirs
