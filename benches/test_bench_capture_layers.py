"""Captured rows for a GRU training step (nn.GRU 32 -> 64, sequence 10, batch 8, a linear head,
MSE, SGD with momentum) and a transformer encoder-layer training step (d_model 128, 4 heads,
feed-forward 512, batch 8 x sequence 64, causal mask, MSE, AdamW): wgpu eager vs replayed from a
`wgtorch.wgpu.Graph` (captured with ``wgtorch.compile`` of the whole step), next to PyTorch CPU, in
the same run. Under ``WGTORCH_BENCH_MINIMAL=1`` the encoder runs at d_model 32, batch 2 x seq 8.

As in ``test_bench_capture.py``: host-only rows time ``STEPS`` steps without a submit (the replay
row times the replay's encoding and ``finish``; lavapipe runs kernels inside ``submit``), the
synchronized rows whole steps, device included. The replayed AdamW step replays the step count and
bias corrections of its capture (values are not checked here; timing is the same).

Run: .venv/bin/pytest benches/test_bench_capture_layers.py --benchmark-columns=median,iqr,rounds
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import wgtorch as torch

STEPS = 10
needs_wgpu = pytest.mark.skipif(not torch.wgpu.is_available(), reason="no wgpu adapter")


def _put(lib, a, device):
    return lib.tensor(a) if device is None else lib.tensor(a, device=device)


def _gru(lib, device=None):
    """The step, the input tensors it reads (copied into on every wgpu step)."""
    rng = np.random.default_rng(0)
    lib.manual_seed(0)
    gru, head = lib.nn.GRU(32, 64), lib.nn.Linear(64, 1)
    if device is not None:
        gru, head = gru.to(device), head.to(device)
    opt = lib.optim.SGD([*gru.parameters(), *head.parameters()], lr=0.01, momentum=0.9)
    x = _put(lib, rng.standard_normal((10, 8, 32), np.float32), device)
    y = _put(lib, rng.standard_normal((8, 1), np.float32), device)

    def step(x, y):
        opt.zero_grad()
        out, _ = gru(x)
        loss = lib.nn.functional.mse_loss(head(out[-1]), y)
        loss.backward()
        opt.step()
        return loss

    return step, (x, y)


def _encoder(lib, device=None):
    d, ff, n, t = (32, 64, 2, 8) if os.environ.get("WGTORCH_BENCH_MINIMAL") else (128, 512, 8, 64)
    rng = np.random.default_rng(1)
    lib.manual_seed(0)
    layer = lib.nn.TransformerEncoderLayer(d, 4, ff, dropout=0.0, batch_first=True)
    if device is not None:
        layer = layer.to(device)
    # capturable: a capture of AdamW needs it (as in PyTorch); PyTorch CPU runs it without
    opt = lib.optim.AdamW(layer.parameters(), lr=1e-3, capturable=device is not None)
    x = _put(lib, rng.standard_normal((n, t, d), np.float32), device)
    target = _put(lib, rng.standard_normal((n, t, d), np.float32), device)
    kw = {} if device is None else {"device": device}
    mask = lib.nn.Transformer.generate_square_subsequent_mask(t, **kw)

    def step(x, target):
        opt.zero_grad()
        loss = lib.nn.functional.mse_loss(layer(x, src_mask=mask, is_causal=True), target)
        loss.backward()
        opt.step()
        return loss

    return step, (x, target)


WORKLOADS = {"gru": _gru, "encoder": _encoder}


def _timed(benchmark, steps, sync=None):
    benchmark.pedantic(steps, setup=sync, rounds=5, warmup_rounds=1)
    benchmark.extra_info["us_per_step"] = benchmark.stats.stats.median / STEPS * 1e6
    if torch.wgpu.is_available():
        benchmark.extra_info["adapter"] = torch.wgpu.get_device_name()


def _eager(name):
    step, (x, y) = WORKLOADS[name](torch, "wgpu")
    xs, ys = x.clone(), y.clone()  # the step's inputs, copied in each step like the replay's

    def run():
        x.copy_(xs)
        y.copy_(ys)
        step(x, y)

    run()  # kernels compiled, optimizer state allocated
    return run


def _captured(name):
    step, args = WORKLOADS[name](torch, "wgpu")
    compiled = torch.compile(step)
    for _ in range(2):  # warm-up, capture
        compiled(*args)
    (entry,) = compiled._cache.values()
    assert entry.graph is not None, "the step was not captured"
    return compiled, args, entry


@needs_wgpu
@pytest.mark.parametrize("name", list(WORKLOADS))
def test_step_wgpu_eager_host_only(benchmark, name):
    run = _eager(name)

    def steps():
        for _ in range(STEPS):
            run()

    _timed(benchmark, steps, torch.wgpu.synchronize)


@needs_wgpu
@pytest.mark.parametrize("name", list(WORKLOADS))
def test_step_wgpu_captured_host_only(benchmark, name):
    _, args, entry = _captured(name)
    rt = entry.rt

    def steps():
        for _ in range(STEPS):
            for s, a in zip(entry.static, args):
                s.copy_(a)
            entry.graph._encode(rt).finish()  # the replay without its submit (see the docstring)

    _timed(benchmark, steps, torch.wgpu.synchronize)
    benchmark.extra_info["dispatches"] = entry.graph.num_dispatches


@needs_wgpu
@pytest.mark.parametrize("name", list(WORKLOADS))
def test_step_wgpu_eager_synchronized(benchmark, name):
    run = _eager(name)

    def steps():
        for _ in range(STEPS):
            run()
        torch.wgpu.synchronize()

    _timed(benchmark, steps)


@needs_wgpu
@pytest.mark.parametrize("name", list(WORKLOADS))
def test_step_wgpu_captured_synchronized(benchmark, name):
    compiled, args, entry = _captured(name)

    def steps():
        for _ in range(STEPS):
            compiled(*args)  # guards, copies in, one replay
        torch.wgpu.synchronize()

    _timed(benchmark, steps)
    benchmark.extra_info["dispatches"] = entry.graph.num_dispatches


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_step_pytorch_cpu(benchmark, name):
    pt = pytest.importorskip("torch")
    step, args = WORKLOADS[name](pt)

    def steps():
        for _ in range(STEPS):
            step(*args)

    steps()
    _timed(benchmark, steps)
