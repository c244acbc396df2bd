"""Fit y = sin(x) with a small neural network: the smallest complete wgtorch training loop.

Read it top to bottom; it is written like PyTorch code (``import wgtorch as torch``):
make data, define a model, pick a loss and an optimizer, then repeat forward -> loss ->
backward -> step, printing the loss as it falls.

    python examples/regression.py                  # on the CPU (NumPy)
    python examples/regression.py --device wgpu    # on a GPU through WebGPU
"""

from __future__ import annotations

import argparse
import math
import time

import wgtorch as torch
from wgtorch import nn


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, wgpu, wgpu:1, cuda ... (default: cpu)")
    parser.add_argument("--steps", type=int, default=1500, help="optimizer steps (default: 1500)")
    parser.add_argument("--lr", type=float, default=0.01, help="peak learning rate (default: 0.01)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    # 1. Data: 256 points of x in [-pi, pi] and their targets, as (256, 1) columns on the device.
    x = torch.linspace(-math.pi, math.pi, 256, device=device).unsqueeze(1)
    y = torch.sin(x)

    # 2. Model: 1 input -> 64 hidden -> 64 hidden -> 1 output, with tanh between the layers.
    model = nn.Sequential(
        nn.Linear(1, 64), nn.Tanh(),
        nn.Linear(64, 64), nn.Tanh(),
        nn.Linear(64, 1),
    ).to(device)

    # 3. Loss, optimizer, and a schedule that lowers the learning rate smoothly to the end.
    loss_fn = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.steps)

    # 4. The training loop. Reading the loss (.item()) waits for the device, so do it rarely.
    start = time.perf_counter()
    print_every = max(1, args.steps // 10)
    for step in range(1, args.steps + 1):
        prediction = model(x)
        loss = loss_fn(prediction, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step % print_every == 0 or step == 1:
            print(f"step {step:5d}   loss {loss.item():.6f}   lr {scheduler.get_last_lr()[0]:.5f}")

    # 5. Evaluate without building a graph.
    with torch.no_grad():
        final = loss_fn(model(x), y).item()
    print(f"trained on {device} in {time.perf_counter() - start:.1f} s")
    print(f"final mse: {final:.6f}")
    return final


if __name__ == "__main__":
    main()
