"""DDP training-step time of the MNIST-shaped MLP (784-128-64-10, batch 100 per process,
cross-entropy, SGD with momentum) on cpu tensors, at any number of processes:

    mpiexec -n 1 python benches/bench_ddp_step.py
    mpiexec -n 2 python benches/bench_ddp_step.py [--steps 40] [--device cpu]

Each rank trains on its own batch; the step time is the slowest rank's, median over the steps
after a warm-up (forward, backward with the bucketed gradient all-reduce, optimizer step).
"""

from __future__ import annotations

import argparse
import statistics
import time

from mpi4py import MPI

import wgtorch as torch
import wgtorch.distributed as dist
from wgtorch.nn.parallel import DistributedDataParallel


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    dist.init_process_group("mpi")
    comm = MPI.COMM_WORLD
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64),
                                torch.nn.ReLU(), torch.nn.Linear(64, 10)).to(args.device)
    ddp = DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    torch.manual_seed(1 + dist.get_rank())
    x = torch.randn(100, 784, device=args.device)
    y = torch.randint(0, 10, (100,), device=args.device)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(ddp(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(5):
        step().item()
    times = []
    for _ in range(args.steps):
        comm.Barrier()
        start = time.perf_counter()
        step().item()
        times.append(comm.allreduce(time.perf_counter() - start, op=MPI.MAX))
    ms = statistics.median(times) * 1e3
    if dist.get_rank() == 0:
        print(f"DDP step, MNIST-shaped MLP, batch 100 per process, {dist.get_world_size()} process(es), "
              f"{args.device}: {ms:.3f} ms")
    dist.destroy_process_group()
    return ms


if __name__ == "__main__":
    main()
