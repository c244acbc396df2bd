"""float16, float32 and float64 side by side on wgpu, in the same run (issue 17): a square matmul,
one training step of a small MLP (Linear-Tanh-Linear, MSE, Adam) and one of a small model through
the fused layer kernels (Conv2d, MultiheadAttention, LSTM: `_LayersNet`), each timed up to
``wgtorch.wgpu.synchronize()``, with PyTorch's CPU rows for the same dtypes as the reference
(on one thread: on a loaded 2-core machine its second thread waits for a busy core and the rows'
medians swing 50-fold). A wgpu row
whose dtype the adapter lacks (shader-f16 / shader-f64) is skipped, saying which. Each row runs a
fixed ``ROUNDS`` (after a warm-up that compiles), so the whole file takes about a minute on lavapipe.

``pytest benches/test_bench_dtypes.py`` (add ``--benchmark-json=PATH`` to keep the numbers;
``--benchmark-timer=time.process_time`` counts CPU time instead of wall time, steadier on a
loaded machine: lavapipe's threads are this process's).
"""

from __future__ import annotations

import numpy as np
import pytest

import wgtorch

DTYPES = ["float16", "float32", "float64"]
COLUMNS = [f"{lib}-{dt}" for dt in DTYPES for lib in ("wgpu", "torch-cpu")]
_FEATURE = {"float16": "shader-f16", "float64": "shader-f64"}
MATMUL_N = 256
ROUNDS = 30
LAYER_ROUNDS = 10  # (a layers step is ~10x an MLP step)
#: a float16 product of standard normals accumulates in f32 and rounds once (PyTorch CPU's too): its
#: error is a few f16 ulps of the result, ~1e-3 of the matrix's scale
_MATMUL_RTOL = {"float16": 1e-2, "float32": 1e-4, "float64": 1e-12}


@pytest.fixture
def one_torch_thread():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _lib(column: str, request):
    """(library, device, dtype name) of a column, skipping a wgpu column the adapter cannot run."""
    lib_name, _, dtype = column.rpartition("-")
    if lib_name == "torch-cpu":
        request.getfixturevalue("one_torch_thread")
        return pytest.importorskip("torch"), "cpu", dtype
    if not wgtorch.wgpu.is_available():
        pytest.skip("no wgpu adapter")
    feature = _FEATURE.get(dtype)
    if feature and feature not in wgtorch.wgpu.get_device_properties().features:
        pytest.skip(f"this adapter has no {feature}")
    return wgtorch, "wgpu", dtype


def _sync(lib):
    return wgtorch.wgpu.synchronize if lib is wgtorch else (lambda: None)


@pytest.mark.parametrize("column", COLUMNS)
def test_matmul_by_dtype(benchmark, request, column):
    lib, device, dtype = _lib(column, request)
    n = MATMUL_N
    rng = np.random.default_rng(0)
    a_host, b_host = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    dt = getattr(lib, dtype)
    a = lib.tensor(a_host, device=device).to(dt)
    b = lib.tensor(b_host, device=device).to(dt)
    sync = _sync(lib)

    def timed():
        r = a @ b
        sync()
        return r

    got = timed().cpu().double().numpy()  # warm-up (compiles), and a check that it is the product
    want = a.cpu().double().numpy() @ b.cpu().double().numpy()  # (of the rounded operands)
    assert np.abs(got - want).max() <= _MATMUL_RTOL[dtype] * np.abs(want).max()
    benchmark.group = f"matmul {n}x{n}: float16, float32, float64 (wgpu and PyTorch CPU)"
    benchmark.extra_info.update({"column": column, "gflops": None})
    benchmark.pedantic(timed, rounds=ROUNDS)
    benchmark.extra_info["gflops"] = 2 * n**3 / benchmark.stats.stats.median / 1e9


def _step(lib, device, dtype):
    """One training step's closure (and its sync) for ``lib`` (wgtorch or PyTorch)."""
    rng = np.random.default_rng(0)
    dt = getattr(lib, dtype)
    model = lib.nn.Sequential(lib.nn.Linear(64, 128), lib.nn.Tanh(), lib.nn.Linear(128, 10)).to(device).to(dt)
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    x = lib.tensor(rng.standard_normal((64, 64)), device=device).to(dt)
    y = lib.tensor(rng.standard_normal((64, 10)), device=device).to(dt)
    return _mse_step(model, opt, x, y, _sync(lib))


def _mse_step(model, opt, x, y, sync):
    """One training step on the squared error, synchronized, as a closure (both step benchmarks)."""

    def step():
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        sync()
        return loss

    return step


@pytest.mark.parametrize("column", COLUMNS)
def test_training_step_by_dtype(benchmark, request, column):
    lib, device, dtype = _lib(column, request)
    step = _step(lib, device, dtype)
    assert np.isfinite(float(step().detach().cpu().double()))  # warm-up: compiles the kernels
    benchmark.group = "MLP 64-128-10 training step (Adam, batch 64): float16, float32, float64"
    benchmark.extra_info["column"] = column
    benchmark.pedantic(step, rounds=ROUNDS)


def _layers_net(lib):
    """Conv2d (stride 2) -> tanh -> the 16 positions as a sequence -> self-attention (residual) -> LSTM ->
    Linear on the last step: every fused layer kernel family of wgpu (conv, attention, rnn) in one step."""

    class LayersNet(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = lib.nn.Conv2d(2, 8, 3, stride=2, padding=1)
            self.attn = lib.nn.MultiheadAttention(8, 2, batch_first=True)
            self.rnn = lib.nn.LSTM(8, 8, batch_first=True)
            self.head = lib.nn.Linear(8, 1)

        def forward(self, x):
            s = self.conv(x).tanh().flatten(2).transpose(1, 2)
            s = s + self.attn(s, s, s, need_weights=False)[0]
            return self.head(self.rnn(s)[0][:, -1])

    return LayersNet()


@pytest.mark.parametrize("column", COLUMNS)
def test_layers_step_by_dtype(benchmark, request, column):
    lib, device, dtype = _lib(column, request)
    dt = getattr(lib, dtype)
    rng = np.random.default_rng(0)
    model = _layers_net(lib).to(device).to(dt)
    opt = lib.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    x = lib.tensor(rng.standard_normal((4, 2, 8, 8)), device=device).to(dt)
    y = lib.tensor(rng.standard_normal((4, 1)), device=device).to(dt)
    step = _mse_step(model, opt, x, y, _sync(lib))

    assert np.isfinite(float(step().detach().cpu().double()))  # warm-up: compiles the kernels
    benchmark.group = "Conv2d + MultiheadAttention + LSTM training step (SGD, batch 4, 16 steps): by dtype"
    benchmark.extra_info["column"] = column
    benchmark.pedantic(step, rounds=LAYER_ROUNDS)
