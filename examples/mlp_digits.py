"""Classify handwritten digits with a multilayer perceptron (scikit-learn's bundled 8x8 digits).

The data ship inside scikit-learn (``pip install wgtorch[examples]``), so nothing is
downloaded. 1,797 images of 64 pixels are split 80/20 into training and test sets; a
64 -> 128 -> 128 -> 10 MLP trained with AdamW and a one-cycle learning-rate schedule reaches
about 98-99 % test accuracy in a few seconds on a CPU.

    python examples/mlp_digits.py                   # on the CPU (NumPy)
    python examples/mlp_digits.py --device wgpu     # on a GPU through WebGPU
    python examples/mlp_digits.py --save digits.safetensors
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import wgtorch as torch
from wgtorch import nn


def load_data(device, seed: int):
    """Train and test tensors on ``device``: pixels scaled to [0, 1], int64 labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit("this example needs scikit-learn: pip install 'wgtorch[examples]'") from None
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = len(x) // 5
    test, train = order[:n_test], order[n_test:]
    as_tensor = lambda a: torch.tensor(a, device=device)  # noqa: E731
    return as_tensor(x[train]), as_tensor(y[train]), as_tensor(x[test]), as_tensor(y[test])


def accuracy(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        correct = (model(x).argmax(dim=1) == y).float().mean().item()
    model.train()
    return correct


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, wgpu, wgpu:1, cuda ... (default: cpu)")
    parser.add_argument("--epochs", type=int, default=30, help="passes over the training set (default: 30)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2, help="peak learning rate (default: 0.01)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", metavar="PATH", help="write the trained weights to a .safetensors file")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    x_train, y_train, x_test, y_test = load_data(device, args.seed)
    n = x_train.shape[0]
    batches = -(-n // args.batch_size)

    model = nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(),
        nn.Linear(128, 128), nn.ReLU(),
        nn.Linear(128, 10),
    ).to(device)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, epochs=args.epochs,
                                                    steps_per_epoch=batches)

    start = time.perf_counter()
    columns = [TextColumn("[bold]epoch {task.fields[epoch]:>3}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]:.4f}  test acc {task.fields[acc]:.2%}"),
               TimeElapsedColumn()]
    with Progress(*columns) as progress:
        task = progress.add_task("training", total=args.epochs * batches, epoch=1, loss=float("nan"),
                                 acc=0.0)
        for epoch in range(1, args.epochs + 1):
            order = torch.randperm(n, device=device)  # a new shuffle every epoch, on the device
            for b in range(batches):
                idx = order[b * args.batch_size:(b + 1) * args.batch_size]
                loss = loss_fn(model(x_train[idx]), y_train[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
                progress.advance(task)
            # Reading numbers back waits for the device: once per epoch, not per batch.
            progress.update(task, epoch=epoch, loss=loss.item(), acc=accuracy(model, x_test, y_test))

    test_acc = accuracy(model, x_test, y_test)
    print(f"trained {args.epochs} epochs on {device} in {time.perf_counter() - start:.1f} s")
    if args.save:
        torch.save(model.state_dict(), args.save)
        print(f"weights saved to {args.save} (load with model.load_state_dict(wgtorch.load(path)))")
    print(f"test accuracy: {test_acc:.4f}")
    return test_acc


if __name__ == "__main__":
    main()
