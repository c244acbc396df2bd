"""Scaled dot-product attention benchmarks: ``F.scaled_dot_product_attention`` forward + backward (output
sum, backward to query, key and value). cpu and PyTorch CPU (where installed, same run and group): batch 8,
8 heads, sequence 256, head dim 64; wgpu (lavapipe is the same two CPU cores, 10-50x slower): batch 1,
2 heads, sequence 64, head dim 32, timed up to ``wgtorch.wgpu.synchronize()``. On wgpu ``wgpu`` is the fused
flash-attention kernels (``shaders/attention.wgsl``) and ``wgpu-composite`` the composite (matmul, softmax, where)
they replace, same shape and run; likewise ``cpu`` is the NumPy fused path (``_backends/array_attention.py``) and
``cpu-composite`` the composite on cpu (wgpu stays at B1 H2 L64 E32: B8 H8 L256 E64 takes seconds per step on
lavapipe). Measured on lavapipe (2 shared cores), fwd+bwd median: fused 48 ms vs composite 19 ms (full), 63 vs
28 ms (causal): on a software adapter the per-row private accumulators cost more than the composite's tiled
matmuls save; the fused kernels' gain is memory (no (L, S) scores) and, on a GPU, bandwidth.

``pytest benches/test_bench_attention.py`` (add ``--benchmark-json=PATH`` to keep the numbers).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import wgtorch
import wgtorch.nn.functional as F
from wgtorch.nn import _attention_fused

SHAPES = {"cpu": (8, 8, 256, 64), "cpu-composite": (8, 8, 256, 64), "torch": (8, 8, 256, 64), "wgpu": (1, 2, 64, 32),
          "wgpu-composite": (1, 2, 64, 32)}


def _inputs(shape):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("column", ["cpu", "cpu-composite", "wgpu", "wgpu-composite", "torch"])
def test_sdpa_fwd_bwd(benchmark, column, causal, monkeypatch):
    shape = SHAPES[column]
    arrays = _inputs(shape)
    if column == "torch":
        if importlib.util.find_spec("torch") is None:
            pytest.skip("PyTorch is not installed")
        import torch

        leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
        attend, sync = torch.nn.functional.scaled_dot_product_attention, (lambda: None)
    else:
        device = column.partition("-")[0]
        if device == "wgpu" and not wgtorch.wgpu.is_available():
            pytest.skip("no wgpu adapter")
        if column.endswith("-composite"):
            monkeypatch.setattr(_attention_fused, "USE_FUSED", False)
        leaves = [wgtorch.tensor(a, device=device, requires_grad=True) for a in arrays]
        attend = F.scaled_dot_product_attention
        sync = wgtorch.wgpu.synchronize if device == "wgpu" else (lambda: None)

    def step():
        for t in leaves:
            t.grad = None
        attend(*leaves, is_causal=causal).sum().backward()
        sync()

    step()  # warm-up (kernel compiles)
    benchmark.group = f"sdpa fwd+bwd {'causal' if causal else 'full'}"
    benchmark.extra_info.update(column=column, shape=list(shape))
    benchmark(step)
