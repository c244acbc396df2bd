"""Every collective's values on 2+ ranks, for the device given as argv[1] (run under mpiexec)."""

import sys

import numpy as np

import wgtorch as torch
import wgtorch.distributed as dist

device = sys.argv[1]
if device == "fakecuda":  # the "cuda" path on tests/fake_cupy.py's emulated device (no GPU here)
    from tests.fake_cupy import FakeCupy
    from wgtorch import _device
    from wgtorch._backends.array_cuda import CudaArrayBackend

    device = "cuda"
    _device._backends[torch.device("cuda", 0)] = CudaArrayBackend(FakeCupy(), 0)
    _device._backends[torch.device("cuda", 0)].device = torch.device("cuda", 0)
dist.init_process_group("mpi", timeout=20)
rank, n = dist.get_rank(), dist.get_world_size()
assert dist.is_initialized() and dist.get_backend() == "mpi" and dist.get_local_rank() == rank


def t(values, dtype=torch.float32):
    return torch.tensor(values, dtype=dtype, device=device)


def check(x, expected, what):
    got = x.cpu().numpy()
    assert np.allclose(got, expected), f"rank {rank} {what}: {got} != {expected}"


base = [np.array([1.0, -2.0, 3.0]) * (r + 1) + r for r in range(n)]
expected = {dist.ReduceOp.SUM: sum(base), dist.ReduceOp.AVG: sum(base) / n,
            dist.ReduceOp.PRODUCT: np.prod(base, axis=0), dist.ReduceOp.MIN: np.min(base, axis=0),
            dist.ReduceOp.MAX: np.max(base, axis=0)}
for op, want in expected.items():
    for dtype in (torch.float32, torch.float64) if device != "wgpu" else (torch.float32,):
        x = t(base[rank], dtype)
        assert dist.all_reduce(x, op=op) is None
        check(x, want, f"all_reduce {op} {dtype}")
xi = t([rank + 1, 10 * rank], torch.int64)
dist.all_reduce(xi, op=dist.ReduceOp.MAX)
check(xi, [n, 10 * (n - 1)], "all_reduce int64 MAX")
assert xi.dtype is torch.int64
# A view that is not contiguous is written back through copy_.
m = torch.zeros(3, 4, device=device)
col = m[:, 1]
col.copy_(t([1.0, 2.0, 3.0]))
dist.all_reduce(col)
check(m, np.outer([1, 2, 3], [0, n, 0, 0]), "all_reduce of a strided view")

for src in range(n):
    b = t([rank] * 4)
    dist.broadcast(b, src=src)
    check(b, [src] * 4, f"broadcast from {src}")

outs = [torch.zeros(2, device=device) for _ in range(n)]
dist.all_gather(outs, t([rank, rank * 2]))
for r in range(n):
    check(outs[r], [r, 2 * r], "all_gather")
big = torch.zeros(2 * n, 3, device=device)
dist.all_gather_into_tensor(big, torch.full((2, 3), float(rank), device=device))
check(big, np.repeat(np.arange(n), 6).reshape(2 * n, 3), "all_gather_into_tensor")

inp = torch.arange(2 * n, dtype=torch.float32, device=device) * (rank + 1)
out = torch.zeros(2, device=device)
dist.reduce_scatter_tensor(out, inp)
check(out, np.arange(2 * n)[2 * rank:2 * rank + 2] * sum(range(1, n + 1)), "reduce_scatter_tensor")
dist.reduce_scatter_tensor(out, inp, op=dist.ReduceOp.AVG)
check(out, np.arange(2 * n)[2 * rank:2 * rank + 2] * sum(range(1, n + 1)) / n, "reduce_scatter_tensor AVG")

red = t([rank + 1.0])
dist.reduce(red, dst=n - 1)
if rank == n - 1:
    check(red, [n * (n + 1) / 2], "reduce")

gl = [torch.zeros(2, device=device) for _ in range(n)] if rank == 0 else None
dist.gather(t([rank, -rank]), gl, dst=0)
if rank == 0:
    for r in range(n):
        check(gl[r], [r, -r], "gather")
sc = torch.zeros(3, device=device)
dist.scatter(sc, [t([r] * 3) for r in range(n)] if rank == 0 else None, src=0)
check(sc, [rank] * 3, "scatter")

# Point to point: a ring.
right, left = (rank + 1) % n, (rank - 1) % n
got = torch.zeros(2, device=device)
if rank % 2 == 0:
    dist.send(t([rank, 7.0]), dst=right)
    assert dist.recv(got, src=left) == left
else:
    assert dist.recv(got) == left  # from any rank
    dist.send(t([rank, 7.0]), dst=right)
check(got, [left, 7.0], "send/recv")

# Async handles: started, then waited; results appear only after wait() for copied tensors.
a = t(base[rank])
work = dist.all_reduce(a, op=dist.ReduceOp.SUM, async_op=True)
assert isinstance(work, dist.Work)
b2 = t([rank] * 3)
work2 = dist.broadcast(b2, src=0, async_op=True)
assert work.wait() is True and work.is_completed()
work2.wait()
check(a, expected[dist.ReduceOp.SUM], "async all_reduce")
check(b2, [0] * 3, "async broadcast")
w = dist.barrier(async_op=True)
while not w.is_completed():
    pass
# Sub-group of rank 0 alone.
g = dist.new_group([0])
assert dist.get_rank(g) == (0 if rank == 0 else -1) and dist.get_world_size(g) == 1
s = t([5.0])
assert dist.all_reduce(s, group=g) is None
check(s, [5.0], "all_reduce in a group of one")
try:
    dist.all_reduce(t([1], torch.int64), op=dist.ReduceOp.AVG)
except ValueError as e:
    assert "floating-point" in str(e)
else:
    raise AssertionError("AVG of integers was accepted")
dist.barrier()
dist.destroy_process_group()
assert not dist.is_initialized()
try:
    dist.init_process_group("mpi", world_size=n + 1)
except ValueError as e:
    assert "disagrees with MPI" in str(e)
else:
    raise AssertionError("a world_size MPI contradicts was accepted")
dist.init_process_group("mpi", rank=rank, world_size=n)  # again, after destroy_process_group
assert dist.get_world_size() == n
dist.destroy_process_group()
print(f"collectives ok on rank {rank} ({device})")
