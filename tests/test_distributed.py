"""wgtorch.distributed, DistributedDataParallel and DistributedSampler.

The multi-process tests launch ``mpiexec -n 2`` on the small scripts in tests/distributed_scripts/
(each bounded by a timeout) and compare against single-process results; the sampler and the bucket
assignment are compared with PyTorch's in this process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch as pt

import wgtorch
import wgtorch.distributed as dist
from wgtorch.nn.parallel._buckets import compute_bucket_assignment_by_size
from wgtorch.utils.data import DistributedSampler

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "tests" / "distributed_scripts"
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")


def mpirun(script: str, *args: str, n: int = 2, timeout: float = 120, script_dir: Path = SCRIPTS):
    """Run ``script`` on ``n`` ranks with this worktree's wgtorch; returns (returncode, output, seconds)."""
    if not dist.is_mpi_available():
        pytest.skip("mpi4py is not installed (pip install 'wgtorch[distributed]')")
    if MPIEXEC is None:
        pytest.skip("no mpiexec found (pip install mpich)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    start = time.monotonic()
    proc = subprocess.run([MPIEXEC, "-n", str(n), sys.executable, str(script_dir / script), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start


def test_collectives_values(device):
    rc, out, _ = mpirun("collectives.py", device)
    assert rc == 0, out
    assert f"collectives ok on rank 0 ({device})" in out and f"collectives ok on rank 1 ({device})" in out, out


def test_collectives_values_on_emulated_cuda():
    """The "cuda" path (CuPy arrays staged through the host) on tests/fake_cupy.py's device."""
    rc, out, _ = mpirun("collectives.py", "fakecuda")
    assert rc == 0, out
    assert out.count("ok on rank") == 2 and "(cuda)" in out, out


def test_ddp_two_ranks_match_one_process_on_the_combined_batches(device):
    rc, out, _ = mpirun("ddp_train.py", device)
    assert rc == 0, out
    assert out.count("ddp ok on rank") == 2, out


def test_ddp_bucket_all_reduce_starts_during_backward():
    rc, out, _ = mpirun("ddp_overlap.py")
    assert rc == 0, out
    assert out.count("overlap ok on rank") == 2, out


def test_a_rank_that_raises_aborts_the_others_instead_of_hanging():
    rc, out, seconds = mpirun("peer_fails.py", "raise", "20")
    if rc != 0 and not out:
        # As in the stall test below: seen once in a full run on the loaded 2-core machine (2026-12-02),
        # the aborted job printed nothing at all. Run it once more; a real fault fails again.
        rc, out, seconds = mpirun("peer_fails.py", "raise", "20")
    assert rc != 0
    assert "ValueError: rank 1 failed on purpose" in out, out
    assert "unreachable" not in out
    assert seconds < 20, f"the job took {seconds:.0f} s: rank 0 waited for the collective timeout"


def test_a_stalled_rank_makes_the_collective_time_out_with_a_clear_error():
    rc, out, seconds = mpirun("peer_fails.py", "stall", "3")
    if rc != 0 and not out:
        # Seen once in a full run on the loaded 2-core machine: the aborted job printed nothing at
        # all (not even mpiexec's own abort notice). Run it once more; a real fault fails again.
        rc, out, seconds = mpirun("peer_fails.py", "stall", "3")
    assert rc != 0
    assert "RuntimeError: wgtorch.distributed.all_reduce timed out after 3 s on rank 0 of 2" in out, out
    assert "unreachable" not in out
    assert seconds < 45, f"the job took {seconds:.0f} s"


def test_ddp_digits_example_learns():
    pytest.importorskip("sklearn", reason="the digits example needs scikit-learn (the 'examples' extra)")
    rc, out, _ = mpirun("ddp_digits.py", "--epochs", "3", script_dir=ROOT / "examples")
    assert rc == 0, out
    acc = float(out.split("test accuracy: ")[1].split()[0])
    assert acc >= 0.9, out
    assert "2 processes" in out, out


def test_local_rank_before_init_comes_from_the_launcher(monkeypatch):
    for name in ("LOCAL_RANK", "MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="local rank unknown"):
        dist.get_local_rank()
    assert dist.get_node_local_rank(fallback_rank=7) == 7
    monkeypatch.setenv("MPI_LOCALRANKID", "3")
    assert dist.get_local_rank() == 3


def test_not_initialized_and_other_backends_are_refused():
    assert dist.is_available() and not dist.is_initialized()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(ValueError, match="only 'mpi'"):
        dist.init_process_group("nccl")
    with pytest.raises(ValueError, match="rendezvous"):
        dist.init_process_group("mpi", init_method="tcp://10.0.0.1:23456")
    with pytest.raises(RuntimeError, match="init_process_group"):
        wgtorch.nn.parallel.DistributedDataParallel(wgtorch.nn.Linear(2, 2))
    assert [k.value for k in dist.ReduceOp] == [0, 1, 2, 3, 4]
    assert [k.name for k in dist.ReduceOp] == [k for k in ("SUM", "AVG", "PRODUCT", "MIN", "MAX")]


# -- bucket assignment against PyTorch's --------------------------------------------------------------
@pytest.mark.parametrize("sizes,limits", [
    ([10, 6000, 600, 360000, 600, 19200], [1024 * 1024, 25 * 1024 * 1024]),
    ([19200, 600, 360000, 600, 6000, 10], [1024 * 1024, 100]),
    ([5] * 40, [64, 200]),
    ([300000, 1, 300000, 1, 300000, 1, 300000], [1024 * 1024, 2 * 1024 * 1024]),
])
def test_bucket_assignment_matches_torch(sizes, limits):
    ours = compute_bucket_assignment_by_size([wgtorch.empty(n) for n in sizes], limits)
    theirs, _ = pt.distributed._compute_bucket_assignment_by_size([pt.empty(n) for n in sizes], limits)
    assert ours == theirs


def test_bucket_assignment_separates_dtypes_like_torch():
    dts = [(wgtorch.float32, pt.float32), (wgtorch.float64, pt.float64)]
    picks = [0, 1, 0, 0, 1, 1, 0]
    ours = compute_bucket_assignment_by_size([wgtorch.empty(50, dtype=dts[k][0]) for k in picks], [300])
    theirs, _ = pt.distributed._compute_bucket_assignment_by_size([pt.empty(50, dtype=dts[k][1]) for k in picks],
                                                                  [300])
    assert ours == theirs


# -- DistributedSampler against PyTorch's ------------------------------------------------------------
CONFIGS = [(n, r, drop) for n in (0, 1, 3, 10, 11, 17) for r in (1, 2, 3, 4, 7) for drop in (False, True)]


@pytest.mark.parametrize("n,replicas,drop_last", CONFIGS)
def test_distributed_sampler_equals_torch_without_shuffle(n, replicas, drop_last):
    data = list(range(n))
    for rank in range(replicas):
        ours = DistributedSampler(data, replicas, rank, shuffle=False, drop_last=drop_last)
        theirs = pt.utils.data.DistributedSampler(data, replicas, rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs) and ours.total_size == theirs.total_size


@pytest.mark.parametrize("n,replicas,drop_last", [(10, 3, False), (10, 3, True), (11, 4, False), (3, 7, False),
                                                  (17, 2, True)])
def test_distributed_sampler_shuffle_partitions_like_torch(n, replicas, drop_last):
    """Each library has its own RNG: map both index lists back to positions in their own epoch's
    permutation; the positions every rank gets must be the same."""
    data = list(range(n))
    for epoch in (0, 3):
        perm_ours = wgtorch.randperm(n, generator=wgtorch.Generator().manual_seed(5 + epoch)).tolist()
        perm_theirs = pt.randperm(n, generator=pt.Generator().manual_seed(5 + epoch)).tolist()
        seen = []
        for rank in range(replicas):
            ours = DistributedSampler(data, replicas, rank, shuffle=True, seed=5, drop_last=drop_last)
            theirs = pt.utils.data.DistributedSampler(data, replicas, rank, shuffle=True, seed=5, drop_last=drop_last)
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            a, b = list(ours), list(theirs)
            assert [perm_ours.index(i) for i in a] == [perm_theirs.index(i) for i in b]
            assert len(a) == len(ours) == len(theirs)
            seen += a
        if not drop_last:
            assert set(seen) == set(data)
        else:
            assert len(set(seen)) == len(seen)


def test_distributed_sampler_epochs_and_arguments():
    s = DistributedSampler(range(50), 2, 1, seed=3)
    first = list(s)
    assert list(s) == first
    s.set_epoch(1)
    other = DistributedSampler(range(50), 2, 0, seed=3)
    other.set_epoch(1)
    assert list(s) != first and sorted(list(s) + list(other)) == list(range(50))
    assert list(DistributedSampler(range(50), 2, 1, seed=3)) == first
    with pytest.raises(ValueError, match="Invalid rank 2"):
        DistributedSampler(range(5), 2, 2)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(5))
    loader = wgtorch.utils.data.DataLoader(np.arange(10), batch_size=2, sampler=DistributedSampler(range(10), 2, 0,
                                                                                                   shuffle=False))
    assert [b.tolist() for b in loader] == [[0, 2], [4, 6], [8]]
