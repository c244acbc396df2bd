"""Neural-network layer benchmarks of the dashboard's ``nn`` suite (workloads defined once in
`wgtorch.bench.suites`), on every column: wgtorch's devices, NumPy, PyTorch where installed."""

from __future__ import annotations

import pytest

from wgtorch.bench.suites import workloads


@pytest.mark.parametrize("workload", [w.name for w in workloads(["nn"])])
def test_nn(run_bench, workload):
    run_bench(workload)
