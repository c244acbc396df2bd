"""Conv2d benchmark: a 3x3 convolution (padding 1) forward + backward (output sum, backward),
batch 16, 32 -> 64 channels, 32x32, on wgtorch "cpu" (NumPy) and on PyTorch's CPU where it is
installed, in the same group; on "wgpu" at a smaller size (batch 2, 8 -> 16 channels, 16x16,
lavapipe being a software rasteriser), timed up to ``wgtorch.wgpu.synchronize()``.

The fused group runs the full size on wgpu twice, through the implicit-GEMM kernels
(``shaders/conv.wgsl``) and through the composite they replace (im2col + matmul), beside PyTorch's
CPU, and the same adapter's matmul on the three GEMMs of equal size a fwd+bwd does (forward
(M, K) @ (K, N), input gradient (M, N) @ (N, K), weight gradient (K, M) @ (M, N); M = batch *
32 * 32, N = 64, K = 32 * 9): each row records its GFLOP/s (3 * 2 * M * N * K per step).

``pytest benches/test_bench_conv.py`` (add ``--benchmark-json=PATH`` to keep the numbers).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import wgtorch

FULL = (16, 32, 64, 32)  # batch, in channels, out channels, height = width
SMALL = (2, 8, 16, 16)
COLUMNS = [("cpu", FULL), ("torch", FULL), ("wgpu", SMALL), ("torch", SMALL)]


def _setup(column: str, size):
    n, cin, cout, hw = size
    x = np.random.default_rng(0).standard_normal((n, cin, hw, hw)).astype(np.float32)
    wgtorch.manual_seed(0)
    ref = wgtorch.nn.Conv2d(cin, cout, 3, padding=1)
    if column == "torch":
        if importlib.util.find_spec("torch") is None:
            pytest.skip("PyTorch is not installed")
        import torch

        conv = torch.nn.Conv2d(cin, cout, 3, padding=1)
        conv.load_state_dict({k: torch.from_numpy(v.detach().numpy()) for k, v in ref.state_dict().items()})
        return conv, torch.tensor(x, requires_grad=True), lambda: None
    if column == "wgpu" and not wgtorch.wgpu.is_available():
        pytest.skip("no wgpu adapter")
    conv = ref.to(column)
    return conv, wgtorch.tensor(x, device=column, requires_grad=True), (
        wgtorch.wgpu.synchronize if column == "wgpu" else lambda: None)


@pytest.mark.parametrize("column, size", COLUMNS, ids=[f"{c}-{'x'.join(map(str, s))}" for c, s in COLUMNS])
def test_conv2d_3x3_forward_backward(benchmark, column, size):
    conv, x, sync = _setup(column, size)

    def step():
        x.grad = None
        conv.zero_grad()
        conv(x).sum().backward()
        sync()

    step()  # warm-up (shader compiles on wgpu)
    benchmark.group = f"conv2d 3x3 fwd+bwd, batch/in/out/hw {'/'.join(map(str, size))}"
    benchmark.extra_info.update(column=column, size=list(size))
    benchmark.pedantic(step, rounds=5 if column == "wgpu" else 10, iterations=1, warmup_rounds=1)


FLOPS = 3 * 2 * (16 * 32 * 32) * 64 * (32 * 9)  # the three GEMMs of one step at FULL
FUSED = ["wgpu-fused", "wgpu-composite", "torch", "wgpu-matmul"]


@pytest.mark.parametrize("column", FUSED)
def test_conv2d_3x3_fused_kernel(benchmark, column, monkeypatch):
    from wgtorch.nn import _conv

    benchmark.group = "conv2d 3x3 fwd+bwd, batch/in/out/hw 16/32/64/32: fused kernel vs composite vs matmul"
    if column == "wgpu-matmul":
        if not wgtorch.wgpu.is_available():
            pytest.skip("no wgpu adapter")
        rng = np.random.default_rng(0)
        m, n, k = 16 * 32 * 32, 64, 32 * 9
        a, b, dy = (wgtorch.tensor(rng.standard_normal(s).astype(np.float32), device="wgpu")
                    for s in ((m, k), (k, n), (m, n)))

        def step():
            a @ b, dy @ b.T, a.T @ dy
            wgtorch.wgpu.synchronize()
    else:
        monkeypatch.setattr(_conv, "use_fused_kernels", column != "wgpu-composite")
        conv, x, sync = _setup("torch" if column == "torch" else "wgpu", FULL)

        def step():
            x.grad = None
            conv.zero_grad()
            conv(x).sum().backward()
            sync()

    step()  # warm-up (shader compiles on wgpu)
    benchmark.pedantic(step, rounds=3, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update(column=column, gflops=round(FLOPS / benchmark.stats.stats.min / 1e9, 3))
