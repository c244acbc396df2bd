"""Layer benchmarks of the dashboard's ``layers`` suite (workloads defined once in
`wgtorch.bench.suites_layers`), on every column: wgtorch's devices and PyTorch where installed."""

from __future__ import annotations

import pytest

from wgtorch.bench.suites import workloads


@pytest.mark.parametrize("workload", [w.name for w in workloads(["layers"])])
def test_layers(run_bench, workload):
    run_bench(workload)
