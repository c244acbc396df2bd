"""DDP starts a bucket's all-reduce during backward, before the first layers' gradients are computed, and
waits for every bucket before backward returns: asserted by the order of recorded events (mpiexec)."""

import wgtorch as torch
import wgtorch.distributed as dist
from wgtorch import nn
from wgtorch.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("mpi", timeout=60)
events = []
real_all_reduce = dist.all_reduce


def recording_all_reduce(tensor, *args, **kwargs):
    events.append(("all_reduce start", tensor.numel()))
    work = real_all_reduce(tensor, *args, **kwargs)
    real_wait = work.wait

    def wait(timeout=None):
        events.append(("all_reduce wait", tensor.numel()))
        return real_wait(timeout)

    work.wait = wait
    return work


dist.all_reduce = recording_all_reduce


class Mark(torch.autograd.Function):
    """Identity that records when backward reaches it (between the first and second layers)."""

    @staticmethod
    def forward(ctx, x):
        return x * 1

    @staticmethod
    def backward(ctx, g):
        events.append(("backward reaches layer 1", 0))
        return g


class MarkLayer(nn.Module):
    def forward(self, x):
        return Mark.apply(x)


# Reverse order: bucket 0 = last layer + the 600x600 layer (1.47 MB >= the 1 MB first bucket), bucket 1 = layer 1.
# Bucket 0 must start before backward reaches layer 1, and bucket 1 after layer 1's gradients exist.
model = nn.Sequential(nn.Linear(32, 600), MarkLayer(), nn.ReLU(), nn.Linear(600, 600), nn.ReLU(), nn.Linear(600, 10))
ddp = DDP(model)
sizes = [sum(p.numel() for p in b) for b in ddp.reducer.buckets]
assert sizes == [10 + 6000 + 600 + 360000, 600 + 19200], sizes
ddp(torch.randn(4, 32)).sum().backward()
events.append(("backward returned", 0))
names = [e[0] for e in events]
assert names == ["all_reduce start", "backward reaches layer 1", "all_reduce start", "all_reduce wait",
                 "all_reduce wait", "backward returned"], events
assert [e[1] for e in events if e[0] == "all_reduce start"] == sizes
dist.all_reduce = real_all_reduce
print(f"overlap ok on rank {dist.get_rank()}: {names}")
