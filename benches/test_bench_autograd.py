"""Autograd benchmarks of the dashboard's ``autograd`` suite (workloads defined once in
`wgtorch.bench.suites`), on every column: wgtorch's devices, NumPy, PyTorch where installed."""

from __future__ import annotations

import pytest

from wgtorch.bench.suites import workloads


@pytest.mark.parametrize("workload", [w.name for w in workloads(["autograd"])])
def test_autograd(run_bench, workload):
    run_bench(workload)
