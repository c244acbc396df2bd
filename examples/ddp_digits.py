"""Data-parallel training of the digits MLP over MPI: DistributedSampler + DistributedDataParallel.

Each process trains on its share of every epoch (DistributedSampler) and DistributedDataParallel
averages the gradients, so N processes with a per-process batch of B train like one process with
batches of N x B. Needs ``pip install 'wgtorch[distributed,examples]'``.

    mpiexec -n 2 python examples/ddp_digits.py                  # 2 processes on this machine (cpu)
    mpiexec -n 2 python examples/ddp_digits.py --device wgpu    # each process on the GPU
    mpiexec -f hosts -n 8 python examples/ddp_digits.py         # across machines (see the README)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import wgtorch as torch
import wgtorch.distributed as dist
from wgtorch import nn
from wgtorch.nn.parallel import DistributedDataParallel as DDP
from wgtorch.utils.data import DataLoader, DistributedSampler, TensorDataset


def load_data(seed: int):
    """Train and test arrays: pixels scaled to [0, 1], int64 labels (the same split on every rank)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit("this example needs scikit-learn: pip install 'wgtorch[examples]'") from None
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = len(x) // 5
    return x[order[n_test:]], y[order[n_test:]], x[order[:n_test]], y[order[:n_test]]


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, wgpu, cuda ... (default: cpu)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32, help="per process (default: 32)")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(args.device)
    torch.manual_seed(args.seed)  # DDP broadcasts rank 0's initial weights anyway

    x_train, y_train, x_test, y_test = load_data(args.seed)
    train = TensorDataset(torch.tensor(x_train), torch.tensor(y_train))
    sampler = DistributedSampler(train, shuffle=True, seed=args.seed)
    loader = DataLoader(train, batch_size=args.batch_size, sampler=sampler)
    x_test, y_test = torch.tensor(x_test, device=device), torch.tensor(y_test, device=device)

    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
    model = DDP(model.to(device))
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)

    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        total = torch.zeros(2, device=device)
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += torch.stack([loss.detach() * len(yb), torch.tensor(float(len(yb)), device=device)])
        dist.all_reduce(total)  # the epoch's mean loss over every rank's samples
        if rank == 0:
            print(f"epoch {epoch:3d}  loss {(total[0] / total[1]).item():.4f}")

    model.eval()
    with torch.no_grad():
        acc = (model(x_test).argmax(dim=1) == y_test).float().mean().item()
    if rank == 0:
        print(f"trained {args.epochs} epochs on {world} processes ({device}) in {time.perf_counter() - start:.1f} s")
        print(f"test accuracy: {acc:.4f}")
    dist.destroy_process_group()
    return acc


if __name__ == "__main__":
    main()
