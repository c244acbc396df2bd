"""examples/resume_training.py: an interrupted run resumed from its checkpoint ends with exactly
the loss of a run that never stopped (model, optimizer, schedule and both random states are
restored). Run as a script in a subprocess on cpu, as a user would."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "resume_training.py"


def _run(*args) -> str:
    # the script's own directory comes first on sys.path: point PYTHONPATH at this checkout
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _epoch_losses(out: str) -> dict:
    return {int(e): float(v) for e, v in re.findall(r"epoch (\d+)  loss (\d+\.\d{4})", out)}


def test_resume_gives_the_uninterrupted_loss(tmp_path):
    straight = _run("--epochs", 4, "--checkpoint", tmp_path / "a.pt")
    first = _run("--epochs", 4, "--checkpoint", tmp_path / "b.pt", "--stop-after", 2)
    assert "stopped after epoch 2" in first and "final loss" not in first
    second = _run("--epochs", 4, "--checkpoint", tmp_path / "b.pt", "--resume")
    assert "resumed from" in second and "after epoch 2" in second
    final = re.search(r"final loss (\d+\.\d{4}) \((.+)\)", straight)
    assert final is not None, straight
    assert f"final loss {final.group(1)} ({final.group(2)})" in second  # bit for bit (the repr)
    losses = _epoch_losses(straight)
    assert sorted(losses) == [1, 2, 3, 4] and losses[4] < losses[1] / 2  # it learns
    assert {**_epoch_losses(first), **_epoch_losses(second)} == losses
    import wgtorch

    ckpt = wgtorch.load(tmp_path / "a.pt")
    assert set(ckpt) == {"model", "optimizer", "scheduler", "epoch", "config", "shuffle_rng", "rng"}
    assert ckpt["epoch"] == 4 and ckpt["config"]["hidden"] == 32 and "state" in ckpt["optimizer"]
    assert ckpt["rng"].dtype is wgtorch.uint8 and ckpt["shuffle_rng"].dtype is wgtorch.uint8


def test_resume_in_process_on_the_device(device, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("example_resume_training", SCRIPT)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    straight = example.main(["--device", device, "--epochs", "2", "--checkpoint", str(tmp_path / "a.pt")])
    example.main(["--device", device, "--epochs", "2", "--checkpoint", str(tmp_path / "b.pt"), "--stop-after", "1"])
    resumed = example.main(["--device", device, "--epochs", "2", "--checkpoint", str(tmp_path / "b.pt"), "--resume"])
    assert resumed == straight
    assert f"final loss {straight:.4f}" in capsys.readouterr().out
