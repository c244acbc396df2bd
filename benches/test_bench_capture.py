"""Graph replay benchmarks: an MNIST-shaped training step (784-128-64-10 MLP, batch 100,
cross-entropy, SGD with momentum) on wgpu recorded eagerly each step vs replayed from a
`wgtorch.wgpu.Graph`, and with PyTorch CPU, in the same run.

Host-only rows time 20 steps without a sync or a submit (the device catches up in setup,
untimed): what a training loop pays on the host per step while the GPU works (``us_per_step``
in extra_info). Eager recording submits nothing within 20 steps (its batch holds 1,024
dispatches); the replay row times the replay's encoding and ``finish`` without its ``submit``,
because on a software adapter (lavapipe) ``submit`` runs the kernels on the host, which would
count device time as host time; the submit's own host cost is measured apart (``submit_us``: thread
CPU time of one submit, the device idle) and added in ``us_per_step_with_submit``.
The synchronized rows time whole steps, device included.
Both wgpu paths copy the batch into the step's input tensors (the replay needs it; eager does
it too, to compare like with like). The replayed rows come unfused ("captured") and with the
graph's elementwise fusion ("captured_fused", `_backends/wgpu/fusion.py`); "replayed_steps"
encodes 20 steps in one encoder (``replay(steps=20)``: same inputs every step).

Run: .venv/bin/pytest benches/test_bench_capture.py --benchmark-columns=median,iqr,rounds
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest

import wgtorch as torch

STEPS = 20
needs_wgpu = pytest.mark.skipif(not torch.wgpu.is_available(), reason="no wgpu adapter")


def _data(lib, device=None):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 784), np.float32)
    y = rng.integers(0, 10, 100)
    kw = {} if device is None else {"device": device}
    return lib.tensor(x, **kw), lib.tensor(y, **kw)


def _model(lib, device=None):
    lib.manual_seed(0)
    nn = lib.nn
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    if device is not None:
        model = model.to(device)
    return model, lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def _step(lib, model, opt, x, y):
    loss = lib.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def _timed(benchmark, steps, sync=None):
    benchmark.pedantic(steps, setup=sync, rounds=5, warmup_rounds=1)
    benchmark.extra_info["us_per_step"] = benchmark.stats.stats.median / STEPS * 1e6


def _eager(device="wgpu"):
    model, opt = _model(torch, device)
    xb, yb = _data(torch, device)
    x, y = torch.empty_like(xb), torch.empty_like(yb)

    def step():
        x.copy_(xb)
        y.copy_(yb)
        opt.zero_grad()
        _step(torch, model, opt, x, y)

    step()  # kernels compiled, momentum buffers allocated
    torch.wgpu.synchronize()
    torch.wgpu.reset_peak_memory_stats()
    step()
    step.peak_bytes = torch.wgpu.max_memory_allocated()  # one eager step's peak
    return step


def _graphed(fuse=False):
    model, opt = _model(torch, "wgpu")
    xb, yb = _data(torch, "wgpu")
    x, y = xb.clone(), yb.clone()
    _step(torch, model, opt, x, y)  # warm-up: SGD momentum's first step is special
    opt.zero_grad()
    torch.wgpu.synchronize()
    torch.wgpu.reset_peak_memory_stats()
    g = torch.wgpu.Graph(fuse=fuse)
    with torch.wgpu.graph(g):
        _step(torch, model, opt, x, y)
    g.peak_bytes = torch.wgpu.max_memory_allocated()  # the capture's peak (what the graph keeps)
    return g, x, y, xb, yb


def _info(benchmark, **extra):
    benchmark.extra_info["adapter"] = torch.wgpu.get_device_name()
    benchmark.extra_info.update(extra)


@needs_wgpu
def test_mnist_step_wgpu_eager_host_only(benchmark):
    step = _eager()

    def steps():
        for _ in range(STEPS):
            step()

    _timed(benchmark, steps, torch.wgpu.synchronize)
    _info(benchmark, step_peak_bytes=step.peak_bytes)


@needs_wgpu
@pytest.mark.parametrize("fuse", [False, True], ids=["captured", "captured_fused"])
def test_mnist_step_wgpu_replayed_host_only(benchmark, fuse):
    g, x, y, xb, yb = _graphed(fuse)
    rt = x._be.rt

    def steps():
        for _ in range(STEPS):
            x.copy_(xb)
            y.copy_(yb)
            g._encode(rt).finish()  # the replay without its submit (see the module docstring)

    _timed(benchmark, steps, torch.wgpu.synchronize)
    submit = _submit_us(g, rt)
    _info(benchmark, dispatches=g.num_dispatches, capture_peak_bytes=g.peak_bytes, submit_us=submit,
          us_per_step_with_submit=benchmark.extra_info["us_per_step"] + submit)


def _submit_us(g, rt, rounds: int = 15) -> float:
    """The host (thread CPU) time of submitting one finished replay, the device idle before each:
    what the timed rows leave out. Thread time, because lavapipe runs the kernels on its own
    threads; an idle device, because a submit into lavapipe's backed-up queue waits on it."""
    times = []
    for _ in range(rounds):
        torch.wgpu.synchronize()
        buffer = g._encode(rt).finish()
        t = time.thread_time()
        rt.queue.submit([buffer])
        times.append((time.thread_time() - t) * 1e6)
    torch.wgpu.synchronize()
    return statistics.median(times)


@needs_wgpu
def test_mnist_step_wgpu_replayed_steps_host_only(benchmark):
    """``replay(steps=20)``'s encoding and ``finish`` (no submit): 20 steps in one encoder, on the
    same inputs (nothing can copy a new batch in between); the fused graph."""
    g, x, _y, _xb, _yb = _graphed(True)
    rt = x._be.rt

    def steps():
        g._encode(rt, STEPS).finish()

    _timed(benchmark, steps, torch.wgpu.synchronize)
    _info(benchmark, dispatches=g.num_dispatches)


@needs_wgpu
def test_mnist_step_wgpu_eager_synchronized(benchmark):
    step = _eager()

    def steps():
        for _ in range(STEPS):
            step()
        torch.wgpu.synchronize()

    _timed(benchmark, steps)
    _info(benchmark, step_peak_bytes=step.peak_bytes)


@needs_wgpu
@pytest.mark.parametrize("fuse", [False, True], ids=["captured", "captured_fused"])
def test_mnist_step_wgpu_replayed_synchronized(benchmark, fuse):
    g, x, y, xb, yb = _graphed(fuse)

    def steps():
        for _ in range(STEPS):
            x.copy_(xb)
            y.copy_(yb)
            g.replay()
        torch.wgpu.synchronize()

    _timed(benchmark, steps)
    _info(benchmark, dispatches=g.num_dispatches, capture_peak_bytes=g.peak_bytes)


def test_mnist_step_pytorch_cpu(benchmark):
    pt = pytest.importorskip("torch")
    model, opt = _model(pt)
    x, y = _data(pt)

    def steps():
        for _ in range(STEPS):
            opt.zero_grad()
            _step(pt, model, opt, x, y)

    steps()
    _timed(benchmark, steps)
