"""Teach a GRU to predict the next value of noisy sine waves: a small sequence-model training loop.

Every sequence is a sine wave with its own frequency, phase and amplitude plus noise. At each
time step the model sees the values so far and predicts the next one, so it has to infer the
wave's frequency and phase from the history held in its hidden state. The mean squared error
falls from about the signal's variance (guessing) towards the noise level.

    python examples/sequence_gru.py                  # on the CPU (NumPy)
    python examples/sequence_gru.py --device wgpu    # on a GPU through WebGPU
    python examples/sequence_gru.py --quick          # a few seconds: fewer steps
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import wgtorch as torch
from wgtorch import nn

NOISE = 0.05


def make_waves(n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` noisy sine waves of ``length + 1`` samples, shape (n, length + 1), float32."""
    t = np.arange(length + 1)[None, :]
    freq = rng.uniform(0.15, 0.45, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    amp = rng.uniform(0.5, 1.0, (n, 1))
    waves = amp * np.sin(freq * t + phase) + rng.normal(0, NOISE, (n, length + 1))
    return waves.astype(np.float32)


class NextValue(nn.Module):
    """GRU over the sequence, then a linear read-out of every hidden state."""

    def __init__(self, hidden: int):
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        states, _ = self.gru(x)       # (batch, time, hidden)
        return self.head(states)      # (batch, time, 1)


def main(argv=None) -> tuple[float, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, wgpu, wgpu:1, cuda ... (default: cpu)")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps (default: 300)")
    parser.add_argument("--quick", action="store_true", help="60 steps, for tests and a first look")
    parser.add_argument("--hidden", type=int, default=32, help="GRU hidden size (default: 32)")
    parser.add_argument("--batch", type=int, default=32, help="sequences per step (default: 32)")
    parser.add_argument("--length", type=int, default=40, help="time steps per sequence (default: 40)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    steps = 60 if args.quick else args.steps
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    device = torch.device(args.device)

    model = NextValue(args.hidden).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.MSELoss()
    test = torch.tensor(make_waves(256, args.length, rng), device=device).unsqueeze(2)

    def evaluate() -> float:
        with torch.no_grad():
            return loss_fn(model(test[:, :-1]), test[:, 1:]).item()

    first = evaluate()
    print(f"step     0   test mse {first:.5f}   (noise floor {NOISE ** 2:.5f})")
    start = time.perf_counter()
    print_every = max(1, steps // 10)
    for step in range(1, steps + 1):
        # Fresh waves every step: the model can't memorise, it has to learn the dynamics.
        waves = torch.tensor(make_waves(args.batch, args.length, rng), device=device).unsqueeze(2)
        loss = loss_fn(model(waves[:, :-1]), waves[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % print_every == 0 or step == steps:
            print(f"step {step:5d}   train mse {loss.item():.5f}   test mse {evaluate():.5f}")
    final = evaluate()
    print(f"trained on {device} in {time.perf_counter() - start:.1f} s")
    print(f"test mse: {first:.5f} -> {final:.5f}")
    return first, final


if __name__ == "__main__":
    main()
