"""DataLoader worker processes (like ``torch.utils.data._utils.worker``).

A worker seeds Python's `random`, NumPy's global generator and wgtorch's global generator
from ``base_seed + worker_id``, runs the ``worker_init_fn``, then serves
``(task index, keys)`` requests from its index queue with collated batches on the shared
result queue until it receives None. An exception travels back as an `ExceptionWrapper`
that the main process re-raises; the end of an iterable dataset as
`_IterableDatasetStopIteration`; a persistent worker restarts its fetcher on `_ResumeIteration`."""

from __future__ import annotations

import os
import queue
import random
import sys
import traceback
from dataclasses import dataclass

from ... import _creation as C
from ... import _device
from ._fetch import create_fetcher

MP_STATUS_CHECK_INTERVAL = 5.0  # seconds between checks that the other side is alive

_worker_info = None


@dataclass(frozen=True)
class WorkerInfo:
    """What `get_worker_info` returns in a worker: its ``id`` (0 .. ``num_workers`` - 1), the
    ``seed`` its generators were seeded with, and its own copy of the ``dataset``."""

    id: int
    num_workers: int
    seed: int
    dataset: object


def get_worker_info() -> WorkerInfo | None:
    """The `WorkerInfo` of this DataLoader worker process; None in the main process."""
    return _worker_info


class ExceptionWrapper:
    """An exception and its traceback, as text, to raise again in another process."""

    def __init__(self, exc_info=None, where: str = "in background") -> None:
        exc_info = exc_info or sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self):
        """Raise ``exc_type("Caught <type> <where>.\\nOriginal Traceback ...")`` (a RuntimeError
        where the type can't be built from one message)."""
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        try:
            exception = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exception


@dataclass(frozen=True)
class _IterableDatasetStopIteration:
    worker_id: int


class _ResumeIteration:
    """Sent to persistent workers at the start of each new pass; they answer it back."""


class _ManagerWatchdog:
    """Whether the process that started this worker is still alive."""

    def __init__(self) -> None:
        self.manager_pid = os.getppid()
        self.manager_dead = False

    def is_alive(self) -> bool:
        if not self.manager_dead:
            self.manager_dead = os.getppid() != self.manager_pid
        return not self.manager_dead


def _forked_backend_class(cls, name: str):
    """``cls`` with every public attribute raising: what a GPU backend object inherited
    through fork becomes in a worker."""

    def __getattribute__(self, attr):
        if attr.startswith("__"):
            return object.__getattribute__(self, attr)
        raise RuntimeError(f"Cannot use {name} tensors in a forked DataLoader worker process: the GPU driver "
                           "state of the parent does not survive fork. Keep the dataset's tensors on the cpu (and "
                           "move batches to the device in the main process), or use "
                           "multiprocessing_context='spawn' or 'forkserver', which give workers cpu copies.")

    return type(f"Forked{cls.__name__}", (cls,), {"__slots__": (), "__getattribute__": __getattribute__})


def _guard_devices_after_fork() -> None:
    """Make the wgpu/CUDA backends a forked worker inherited raise a clear RuntimeError (PyTorch
    refuses CUDA in a forked child the same way) instead of waiting forever on a GPU queue whose
    threads stayed in the parent."""

    for dev, be in _device._backends.items():
        if dev.type != "cpu" and not type(be).__name__.startswith("Forked"):
            be.__class__ = _forked_backend_class(type(be), str(dev))


def _seed_worker(base_seed: int, worker_id: int) -> int:
    import numpy as np


    seed = base_seed + worker_id
    random.seed(seed)
    C.manual_seed(seed % 2**64)
    np.random.seed(np.random.SeedSequence([worker_id, base_seed & 0xFFFFFFFF, base_seed >> 32, 0]).generate_state(4))
    return seed


def _worker_loop(iterable, dataset, index_queue, data_queue, done_event, auto_collation, collate_fn, drop_last,
                 base_seed, init_fn, worker_id, num_workers, forked=False) -> None:
    from ._reductions import init_reductions

    global _worker_info
    try:
        init_reductions()
        if forked:
            _guard_devices_after_fork()
        seed = _seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        init_exception = None
        fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = create_fetcher(iterable, dataset, auto_collation, collate_fn, drop_last)
        except Exception:
            init_exception = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
        iteration_end = False  # this worker's stream ended: skip requests until None comes
        watchdog = _ManagerWatchdog()
        while watchdog.is_alive():
            try:
                r = index_queue.get(timeout=MP_STATUS_CHECK_INTERVAL)
            except queue.Empty:
                continue
            if isinstance(r, _ResumeIteration):
                data_queue.put((r, None))
                iteration_end = False
                fetcher = create_fetcher(iterable, dataset, auto_collation, collate_fn, drop_last)
                continue
            if r is None:
                break
            if done_event.is_set() or iteration_end:
                continue
            idx, index = r
            if init_exception is not None:
                data, init_exception = init_exception, None
            else:
                try:
                    data = fetcher.fetch(index)
                except StopIteration:
                    if not iterable:
                        data = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
                    else:
                        data = _IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                except Exception:
                    data = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
            data_queue.put((idx, data))
            del data, idx, index, r
    except KeyboardInterrupt:
        pass  # the main process raises it
    if done_event.is_set():
        data_queue.cancel_join_thread()
        data_queue.close()
