"""Shape-op benchmarks (forward + backward where there is one): an attention-style ``einsum``,
overlapping ``unfold`` windows (their backward accumulates), ``tril`` of a batch of matrices,
``roll`` and ``flip``. cpu and PyTorch CPU (where installed, same group): the sizes below; wgpu
(lavapipe is the same two CPU cores): the smaller sizes, timed up to ``wgtorch.wgpu.synchronize()``.

``pytest benches/test_bench_shape_ops.py`` (add ``--benchmark-json=PATH`` to keep the numbers).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import wgtorch

# name -> (shape on cpu/torch, shape on wgpu, f(lib, x))
CASES = {
    "einsum bhqd,bhkd->bhqk": ((4, 8, 128, 64), (1, 2, 32, 16), lambda m, x: m.einsum("bhqd,bhkd->bhqk", x, x)),
    "unfold(-1, 8, 2)": ((64, 4096), (4, 512), lambda m, x: x.unfold(-1, 8, 2)),
    "tril": ((32, 256, 256), (2, 64, 64), lambda m, x: m.tril(x)),
    "roll(3, -1)": ((256, 4096), (16, 512), lambda m, x: m.roll(x, 3, -1)),
    "flip((0, 1))": ((256, 4096), (16, 512), lambda m, x: m.flip(x, (0, 1))),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("column", ["cpu", "wgpu", "torch"])
def test_shape_op_fwd_bwd(benchmark, column, name):
    big, small, fn = CASES[name]
    shape = small if column == "wgpu" else big
    a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    if column == "torch":
        if importlib.util.find_spec("torch") is None:
            pytest.skip("PyTorch is not installed")
        import torch as lib

        x, sync = lib.tensor(a, requires_grad=True), (lambda: None)
    else:
        if column == "wgpu" and not wgtorch.wgpu.is_available():
            pytest.skip("no wgpu adapter")
        lib = wgtorch
        x = wgtorch.tensor(a, device=column, requires_grad=True)
        sync = wgtorch.wgpu.synchronize if column == "wgpu" else (lambda: None)

    def step():
        x.grad = None
        fn(lib, x).sum().backward()
        sync()

    step()  # warm-up (kernel compiles)
    benchmark.group = f"shape ops: {name} fwd+bwd"
    benchmark.extra_info.update(column=column, shape=list(shape))
    benchmark(step)
