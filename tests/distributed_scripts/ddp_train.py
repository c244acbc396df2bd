"""DDP on 2 ranks matches one process on the combined batches (run under mpiexec; argv[1] = device)."""

import copy
import sys

import numpy as np

import wgtorch as torch
import wgtorch.distributed as dist
from wgtorch import nn
from wgtorch.nn.parallel import DistributedDataParallel as DDP

device = sys.argv[1]
dist.init_process_group("mpi", timeout=60)
rank, n = dist.get_rank(), dist.get_world_size()
torch.manual_seed(100 + rank)  # different on each rank: DDP must broadcast rank 0's
model = nn.Sequential(nn.Linear(12, 32), nn.Tanh(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5)).to(device)
torch.nn.parallel._buckets.DEFAULT_FIRST_BUCKET_BYTES = 2048  # small buckets: several all-reduces per backward
ddp = DDP(model, bucket_cap_mb=0.002)
torch.nn.parallel._buckets.DEFAULT_FIRST_BUCKET_BYTES = 1024 * 1024
assert len(ddp.reducer.buckets) > 1
reference = copy.deepcopy(model)  # rank 0's weights, now on every rank
gathered = [torch.zeros(12 * 32, device=device) for _ in range(n)]
dist.all_gather(gathered, model[0].weight.detach().reshape(-1))
assert all(np.array_equal(g.cpu().numpy(), gathered[0].cpu().numpy()) for g in gathered), "not broadcast"
assert list(ddp.state_dict()) == ["module." + k for k in model.state_dict()]

rng = np.random.default_rng(0)
steps, local = 4, 6
xs = rng.standard_normal((steps, 2, n * local, 12)).astype(np.float32)
ys = rng.integers(0, 5, (steps, 2, n * local))
loss_fn = nn.CrossEntropyLoss()
opt = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
mine = slice(rank * local, (rank + 1) * local)
for step in range(steps):
    opt.zero_grad()
    ref_opt.zero_grad()
    # Two micro-batches: the first accumulates locally (no_sync), the second averages both.
    for micro in range(2):
        x = torch.tensor(xs[step, micro], device=device)
        y = torch.tensor(ys[step, micro], device=device)
        if micro == 0:
            with ddp.no_sync():
                loss_fn(ddp(x[mine]), y[mine]).backward()
            local_grad = model[4].bias.grad.cpu().numpy()
        else:
            loss_fn(ddp(x[mine]), y[mine]).backward()
        loss_fn(reference(x), y).backward()
    other = torch.tensor(local_grad, device=device)
    dist.all_reduce(other)
    assert not np.allclose(other.cpu().numpy(), local_grad * n), "no_sync did not keep gradients local"
    opt.step()
    ref_opt.step()

for (name, p), q in zip(model.named_parameters(), reference.parameters()):
    diff = np.abs(p.detach().cpu().numpy() - q.detach().cpu().numpy()).max()
    assert diff < 1e-5, f"rank {rank}: {name} differs from the single-process run by {diff}"

# find_unused_parameters: a layer used on rank 0 only gets rank 0's gradient averaged over ranks; a layer
# used nowhere keeps grad None.
class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.never = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x, use_b):
        h = self.a(x)
        return self.b(h) if use_b else h


net = DDP(Branchy().to(device), find_unused_parameters=True)
x = torch.ones(2, 4, device=device)
net(x, rank == 0).sum().backward()
b_grad = net.module.b.bias.grad.cpu().numpy()
assert np.allclose(b_grad, [2.0 / n] * 4), b_grad
assert net.module.never.weight.grad is None
try:
    strict = DDP(Branchy().to(device))
    strict(x, False).sum().backward()
except RuntimeError as e:
    assert "find_unused_parameters=True" in str(e)
else:
    raise AssertionError("unused parameters without find_unused_parameters were accepted")
dist.barrier()
print(f"ddp ok on rank {rank} ({device})")
