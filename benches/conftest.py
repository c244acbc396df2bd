"""pytest-benchmark set-up for the dashboard's suites: the columns (wgtorch devices and peer
libraries) as a parametrized fixture, and ``run_bench`` to time one workload of
`wgtorch.bench.suites` on one column, closing every timed call with the device's synchronize.

Run ``pytest benches/ --benchmark-json=run.json`` and render it with
``python -m wgtorch.bench --from-json run.json``.
"""

from __future__ import annotations

import pytest

from wgtorch.bench.runner import classify, discover_columns, prepare
from wgtorch.bench.suites import BY_NAME

COLUMNS, NOTES = discover_columns()


def pytest_report_header(config):
    return ["wgtorch bench columns: " + ", ".join(f"{c.key} ({c.detail})" for c in COLUMNS)] + NOTES


@pytest.fixture(params=[c.key for c in COLUMNS])
def bench_column(request):
    return next(c for c in COLUMNS if c.key == request.param)


def _skip_if_unavailable(e: Exception, column) -> None:
    status, reason = classify(e)
    if status == "n/a":  # an op or module that has not landed on this device: not a failure
        pytest.skip(f"n/a on {column.key}: {reason}")


@pytest.fixture
def run_bench(benchmark, bench_column):
    """``run_bench(name)`` times workload ``name`` on this test's column."""

    def run(name: str) -> None:
        workload = BY_NAME[name]
        try:
            prepared = prepare(workload, bench_column)
            if prepared is None:
                pytest.skip(f"{bench_column.title} has no equivalent of {workload.label!r}")
            fn, sync = prepared

            def timed():
                fn()
                sync()

            timed()  # warm-up: kernel compiles; an op that is not there yet shows up here
        except pytest.skip.Exception:
            raise
        except Exception as e:
            _skip_if_unavailable(e, bench_column)
            raise
        benchmark.group = f"{workload.suite}: {workload.label}"
        benchmark.extra_info.update(workload=name, column=bench_column.key, suite=workload.suite,
                                    column_title=bench_column.title, column_detail=bench_column.detail,
                                    software=bench_column.software, reference=workload.reference.text)
        benchmark(timed)

    return run
