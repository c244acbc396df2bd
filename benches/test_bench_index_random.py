"""Index and random-number benchmarks: wgtorch on wgpu (each run timed up to
``wgtorch.wgpu.synchronize()``) against NumPy, and PyTorch on the CPU where it is installed, in
the same run and group.

``pytest benches/test_bench_index_random.py`` (add ``--benchmark-json=PATH`` to keep the numbers).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import wgtorch

_RNG = np.random.default_rng(0)
_TABLE = _RNG.standard_normal((10_000, 256)).astype(np.float32)
_ROWS = _RNG.integers(0, 10_000, 4096)
_SQUARE = _RNG.standard_normal((1000, 1000)).astype(np.float32)
_COLS = _RNG.integers(0, 1000, (1000, 1000))
_GRAD = _RNG.standard_normal((4096, 256)).astype(np.float32)


def _scatter_rows_np(grad, rows, n):
    out = np.zeros((n, grad.shape[1]), np.float32)
    np.add.at(out, rows, grad)
    return out


# name -> (inputs, the op on wgtorch/torch tensors, the same op on NumPy arrays, check the result)
WORKLOADS = {
    "index_select_4096_rows_of_10000x256": (
        (_TABLE, _ROWS), lambda t, i: t.index_select(0, i), lambda t, i: t[i], True),
    "gather_dim1_1000x1000": (
        (_SQUARE, _COLS),
        lambda t, i: t.gather(1, i), lambda t, i: np.take_along_axis(t, i, 1), True),
    "scatter_add_4096_rows_into_10000x256": (  # an embedding's backward
        (_GRAD, _ROWS),
        lambda g, i: g.new_zeros((10_000, 256)).scatter_add(0, i[:, None].expand(4096, 256), g),
        lambda g, i: _scatter_rows_np(g, i, 10_000), True),
    "rand_1e6": ((), None, lambda: np.random.default_rng(1).random(1_000_000, np.float32), False),
    "randn_1e6": ((), None, lambda: np.random.default_rng(1).standard_normal(1_000_000, np.float32), False),
}
COLUMNS = ["wgpu", "numpy", "torch"]


def _random_op(name, lib, device):
    size = 1_000_000
    if name == "rand_1e6":
        return (lambda: lib.rand(size, device=device)) if device else (lambda: lib.rand(size))
    return (lambda: lib.randn(size, device=device)) if device else (lambda: lib.randn(size))


def _column(name: str, workload: str, inputs):
    """(run, sync, result-to-NumPy) for one column, or a skip where it can't run here."""
    _, op, op_np, _ = WORKLOADS[workload]
    if name == "numpy":
        return (lambda: op_np(*inputs)), (lambda: None), np.asarray
    if name == "torch":
        if importlib.util.find_spec("torch") is None:
            pytest.skip("PyTorch is not installed")
        import torch

        if op is None:
            return _random_op(workload, torch, None), (lambda: None), lambda r: r.numpy()
        args = [torch.from_numpy(np.ascontiguousarray(x)) for x in inputs]
        return (lambda: op(*args)), (lambda: None), lambda r: r.numpy()
    if not wgtorch.wgpu.is_available():
        pytest.skip("no wgpu adapter")
    if op is None:
        return _random_op(workload, wgtorch, "wgpu"), wgtorch.wgpu.synchronize, lambda r: r.numpy()
    args = [wgtorch.tensor(x, device="wgpu") for x in inputs]
    return (lambda: op(*args)), wgtorch.wgpu.synchronize, lambda r: r.numpy()


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_index_random(benchmark, workload, column):
    inputs, _, op_np, check = WORKLOADS[workload]
    fn, sync, to_numpy = _column(column, workload, inputs)

    def timed():
        r = fn()
        sync()
        return r

    # Warm-up (kernel compiles) doubles as a check that every column computes the same thing.
    result = to_numpy(timed())
    if check:
        np.testing.assert_allclose(result, op_np(*inputs), rtol=1e-5, atol=1e-5)
    else:
        assert result.shape == (1_000_000,) and abs(result.mean() - op_np().mean()) < 0.01
    benchmark.group = f"index/random: {workload}"
    device = wgtorch.wgpu.get_device_name() if column == "wgpu" else "cpu"
    benchmark.extra_info.update(column=column, device=device)
    benchmark(timed)
