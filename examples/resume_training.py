"""Train, save a checkpoint, stop, and resume where training left off, as PyTorch programs do.

A small regression network learns y = sin(x0) + x1 * x2 from mini-batches (a shuffling
``DataLoader``). After every epoch the script saves a checkpoint with ``wgtorch.save``: the model's
and the optimizer's ``state_dict``, the learning-rate schedule, the epoch, a config dict, and the
random number states (the DataLoader's shuffling generator and the global one, which dropout draws
from). ``--resume`` loads it with ``wgtorch.load`` and goes on from the next epoch; because every
state is restored, an interrupted and resumed run ends with exactly the loss of a run that never
stopped.

    python examples/resume_training.py --epochs 6 --checkpoint ckpt.pt --stop-after 3
    python examples/resume_training.py --epochs 6 --checkpoint ckpt.pt --resume
    python examples/resume_training.py --device wgpu
"""

from __future__ import annotations

import argparse
import os
import tempfile

import wgtorch as torch
from wgtorch import nn
from wgtorch.utils.data import DataLoader, TensorDataset


def make_data(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, generator=g) * 4 - 2
    y = (torch.sin(x[:, 0]) + x[:, 1] * x[:, 2]).unsqueeze(1)
    return TensorDataset(x, y)


def build(config: dict, device):
    model = nn.Sequential(
        nn.Linear(3, config["hidden"]),
        nn.ReLU(),
        nn.Dropout(config["dropout"]),
        nn.Linear(config["hidden"], 1),
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    return model, optimizer, scheduler


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, wgpu, cuda ... (default: cpu)")
    parser.add_argument("--epochs", type=int, default=6, help="total epochs (default: 6)")
    parser.add_argument(
        "--checkpoint",
        default=os.path.join(tempfile.gettempdir(), "wgtorch_resume.pt"),
        help="where the checkpoint is written and read",
    )
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    parser.add_argument("--stop-after", type=int, default=None, help="stop after this epoch (an interruption)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    config = {"hidden": 32, "dropout": 0.1, "lr": 0.01, "batch_size": 32, "samples": 512}

    torch.manual_seed(args.seed)
    shuffle = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(
        make_data(config["samples"], args.seed + 1), batch_size=config["batch_size"], shuffle=True, generator=shuffle
    )
    model, optimizer, scheduler = build(config, device)
    start = 1
    if args.resume:
        # on the cpu: the random states must stay there, and load_state_dict moves the rest to the device
        checkpoint = torch.load(args.checkpoint, map_location="cpu")
        config = checkpoint["config"]
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        shuffle.set_state(checkpoint["shuffle_rng"])
        torch.set_rng_state(checkpoint["rng"])
        start = checkpoint["epoch"] + 1
        print(f"resumed from {args.checkpoint} after epoch {checkpoint['epoch']}")

    loss_fn = nn.MSELoss()
    loss = None
    for epoch in range(start, args.epochs + 1):
        model.train()
        total = torch.zeros((), device=device)
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total = total + loss.detach() * x.shape[0]
        scheduler.step()
        loss = total / config["samples"]
        print(f"epoch {epoch}  loss {loss:.4f}  lr {scheduler.get_last_lr()[0]:.5f}")
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "epoch": epoch,
                "config": config,
                "shuffle_rng": shuffle.get_state(),
                "rng": torch.get_rng_state(),
            },
            args.checkpoint,
        )
        if args.stop_after is not None and epoch >= args.stop_after:
            print(f"stopped after epoch {epoch}; checkpoint in {args.checkpoint}")
            return float(loss)
    if loss is None:
        raise SystemExit(f"nothing to do: the checkpoint is at epoch {start - 1} of {args.epochs}")
    final = float(loss)
    print(f"final loss {final:.4f} ({final!r})")
    return final


if __name__ == "__main__":
    main()
