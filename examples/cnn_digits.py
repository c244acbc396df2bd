"""Classify handwritten digits with a small convolutional network (scikit-learn's bundled 8x8 digits).

The data ship inside scikit-learn (``pip install wgtorch[examples]``), so nothing is downloaded.
1,797 images are split 80/20 into training and test sets. The network is the classic shape
Conv2d -> BatchNorm2d -> ReLU -> MaxPool2d, twice, then Dropout and Linear; trained with AdamW and
a one-cycle schedule it reaches about 98 % test accuracy in a few epochs.

    python examples/cnn_digits.py                   # on the CPU (NumPy)
    python examples/cnn_digits.py --device wgpu     # on a GPU through WebGPU
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import wgtorch as torch
from wgtorch import nn


class DigitsCNN(nn.Module):
    """(N, 1, 8, 8) images -> (N, 10) logits."""

    def __init__(self, width: int = 16, dropout: float = 0.25):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),  # -> 4x4
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.MaxPool2d(2),  # -> 2x2
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * width * 4, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def load_data(device, seed: int):
    """Train and test tensors on ``device``: (N, 1, 8, 8) pixels scaled to [0, 1], int64 labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit("this example needs scikit-learn: pip install 'wgtorch[examples]'") from None
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
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
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training set (default: 10)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2, help="peak learning rate (default: 0.01)")
    parser.add_argument("--width", type=int, default=16, help="channels of the first convolution (default: 16)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    x_train, y_train, x_test, y_test = load_data(device, args.seed)
    n = x_train.shape[0]
    batches = -(-n // args.batch_size)
    model = DigitsCNN(args.width).to(device)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, epochs=args.epochs,
                                                    steps_per_epoch=batches)

    start = time.perf_counter()
    columns = [TextColumn("[bold]epoch {task.fields[epoch]:>3}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]:.4f}  test acc {task.fields[acc]:.2%}"),
               TimeElapsedColumn()]
    with Progress(*columns) as progress:
        task = progress.add_task("training", total=args.epochs * batches, epoch=1, loss=float("nan"), acc=0.0)
        for epoch in range(1, args.epochs + 1):
            order = torch.randperm(n, device=device)
            for b in range(batches):
                idx = order[b * args.batch_size:(b + 1) * args.batch_size]
                loss = loss_fn(model(x_train[idx]), y_train[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
                progress.advance(task)
            progress.update(task, epoch=epoch, loss=loss.item(), acc=accuracy(model, x_test, y_test))

    test_acc = accuracy(model, x_test, y_test)
    print(f"trained {args.epochs} epochs on {device} in {time.perf_counter() - start:.1f} s")
    print(f"test accuracy: {test_acc:.4f}")
    return test_acc


if __name__ == "__main__":
    main()
