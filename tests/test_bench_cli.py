"""The benchmark dashboard (``python -m wgtorch.bench``): workloads do the same work on every
column, tiny runs of each suite on cpu and wgpu, the JSON round trip, --compare, --from-json
(including a real pytest-benchmark run), timing rules and error handling."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import wgtorch
from wgtorch.bench import compare, render
from wgtorch.bench.cli import main
from wgtorch.bench.runner import (
    SHRUNK_NOTE,
    Budget,
    Column,
    Result,
    classify,
    discover_columns,
    measure,
    prepare,
    run_cell,
)
from wgtorch.bench.suites import BY_NAME, SUITES, WORKLOADS, Unavailable, Workload, ref, workloads

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = {c.key: c for c in discover_columns()[0]}

# Peer columns a run shows here: NumPy always, PyTorch CPU where it is installed.
PEERS = ["numpy"] + (["torch:cpu"] if importlib.util.find_spec("torch") else [])


def _host(result):
    if isinstance(result, wgtorch.Tensor):
        return result.detach().numpy()
    if isinstance(result, (tuple, list)):
        return _host(result[0])
    return np.asarray(result)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")  # rich wraps at the terminal width; keep lines whole


@pytest.fixture
def minimal(monkeypatch):
    monkeypatch.setenv("WGTORCH_BENCH_MINIMAL", "1")


@pytest.mark.parametrize("name", [w.name for w in WORKLOADS])
def test_workload_does_the_same_work_on_every_column(name, device, minimal):
    """One call on ``device`` gives what wgtorch's cpu device gives, and NumPy's version agrees
    (the layers rows at their small test sizes)."""
    w = BY_NAME[name]
    try:
        got = prepare(w, COLUMNS["wgpu:0" if device == "wgpu" else "cpu"])[0]()
        expected = prepare(w, COLUMNS["cpu"])[0]() if w.defined_result else None
    except Exception as e:
        status, reason = classify(e)
        if status == "n/a":
            pytest.skip(f"n/a: {reason}")
        raise
    if isinstance(got, dict):  # pool statistics
        assert got["allocated_bytes.all.current"] == wgtorch.wgpu.memory_allocated()
    elif not w.defined_result:  # uninitialised memory: only the shape is defined
        assert _host(got).shape == _host(w.numpy()()).shape
    else:
        np.testing.assert_allclose(_host(got), _host(expected), rtol=1e-4, atol=1e-3)
        if w.numpy is not None:
            np.testing.assert_allclose(_host(w.numpy()()), _host(expected), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("suite", list(SUITES))
def test_tiny_run_of_each_suite_on_cpu_and_wgpu(suite, tmp_path, minimal, capsys, wgpu_device):
    path = tmp_path / "run.json"
    code = main(["--suite", suite, "--device", "cpu", "--device", "wgpu", "--quick", "--json", str(path)])
    out = capsys.readouterr().out
    assert code == 0, out
    data = json.loads(path.read_text())
    record = compare.Record.from_json(data)
    assert [c.key for c in record.columns] == ["cpu", "wgpu:0", *PEERS]
    assert [r.name for r in record.rows] == [w.name for w in workloads([suite])]
    for row in record.rows:
        for key in ("cpu", "wgpu:0"):
            cell = row.cells[key]
            assert cell.status in ("ok", "n/a"), (row.name, key, cell)
            if cell.status == "ok":  # the test knob: no calibration, two samples of one call
                assert cell.number == 1 and len(cell.samples) == 2 and cell.median > 0
                assert cell.q1 <= cell.median <= cell.q3
            else:
                assert cell.reason
        if BY_NAME[row.name].numpy is not None:
            assert row.cells["numpy"].status == "ok"
        else:
            assert "numpy" not in row.cells
    assert SUITES[suite] in out and f"{SUITES[suite]}: cpu " in out  # table title and summary line
    if suite == "memory":
        stats = record.row("stats_read").cells
        assert stats["cpu"].status == "n/a" and "no memory pool" in stats["cpu"].reason
        assert stats["wgpu:0"].status == "ok"
    if suite == "tensor_ops":  # --quick shrinks heavy workloads on a software adapter only
        cells = record.row("matmul_1000").cells
        assert cells["cpu"].status == "ok" and not cells["cpu"].reason
        assert (cells["wgpu:0"].reason == SHRUNK_NOTE) == COLUMNS["wgpu:0"].software


def _record(medians: dict[str, float], created="2026-01-01T00:00:00") -> compare.Record:
    cols = [Column("cpu", "wgtorch", "wgtorch cpu"), Column("numpy", "peer", "NumPy")]
    rows = [compare.Row("tensor_ops", "add_100", "add 100×100", "~2 µs",
                        {k: Result.from_samples([v * 0.9, v, v * 1.1], 10) for k, v in medians.items()}),
            compare.Row("tensor_ops", "sum", "sum 100×1000", "105 µs",
                        {"cpu": Result("n/a", reason="no kernel")})]
    return compare.Record(cols, rows, ["a note"], True, created, {"platform": "test"}, 1.5)


def test_json_round_trip(tmp_path):
    rec = _record({"cpu": 4e-6, "numpy": 2e-6})
    path = tmp_path / "r.json"
    compare.save(rec, path)
    back = compare.load(path)
    assert back.to_json() == rec.to_json()
    cell = back.row("add_100").cells["cpu"]
    assert cell.median == pytest.approx(4e-6) and cell.number == 10 and cell.iqr == pytest.approx(4e-7)
    assert back.row("sum").cells["cpu"].reason == "no kernel"


def test_render_shows_ratio_spread_reference_and_na(tmp_path, capsys):
    path = tmp_path / "r.json"
    compare.save(_record({"cpu": 4e-6, "numpy": 2e-6}), path)
    assert main(["--from-json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "4.00 µs ±5% ×2.00" in out       # median, half-IQR, ratio to the fastest peer
    assert "2.00 µs ±5% ×1.00" in out
    assert "n/a (no kernel)" in out and "105 µs" in out and "note: a note" in out
    assert "geomean ×2.00 vs fastest peer (1), 1 n/a" in out


def test_compare_shows_change_against_a_saved_run(tmp_path, capsys):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    compare.save(_record({"cpu": 8e-6, "numpy": 2e-6}, created="2026-01-01T10:00:00"), old)
    compare.save(_record({"cpu": 4e-6, "numpy": 3e-6}), new)
    assert main(["--from-json", str(new), "--compare", str(old)]) == 0
    out = capsys.readouterr().out
    assert "Δ -50%" in out and "Δ +50%" in out and "2026-01-01T10:00:00" in out
    assert "Δ -50% vs saved" in out  # the suite summary's geometric mean of the cpu changes


def test_compare_after_a_real_run(tmp_path, minimal, capsys):
    old = tmp_path / "old.json"
    assert main(["--suite", "memory", "--device", "cpu", "--json", str(old)]) == 0
    capsys.readouterr()
    assert main(["--suite", "memory", "--device", "cpu", "--compare", str(old)]) == 0
    assert "Δ " in capsys.readouterr().out


def _pytest_benchmark_json(tmp_path) -> Path:
    data = {"datetime": "2026-02-02T00:00:00", "machine_info": {"node": "n", "system": "Linux"}, "benchmarks": [
        {"name": "test_tensor_ops[cpu-add_100]", "fullname": "benches/x.py::test_tensor_ops[cpu-add_100]",
         "params": {"bench_column": "cpu", "workload": "add_100"}, "extra_info": {},
         "stats": {"median": 5e-6, "q1": 4e-6, "q3": 6e-6, "stddev": 1e-6, "iterations": 3}},
        {"name": "test_tensor_ops[numpy-add_100]", "fullname": "benches/x.py::test_tensor_ops[numpy-add_100]",
         "params": None, "extra_info": {},
         "stats": {"median": 2.5e-6, "q1": 2e-6, "q3": 3e-6, "stddev": 1e-6, "iterations": 1}},
        {"name": "test_adam_step", "fullname": "benches/test_bench_optim.py::test_adam_step", "params": None,
         "extra_info": {}, "stats": {"median": 1e-3, "q1": 1e-3, "q3": 1e-3, "stddev": 0, "iterations": 1}}]}
    path = tmp_path / "pb.json"
    path.write_text(json.dumps(data))
    return path


def test_from_json_maps_pytest_benchmark_names_to_rows(tmp_path, capsys):
    rec = compare.load(_pytest_benchmark_json(tmp_path))
    assert rec.source == "pytest-benchmark"
    assert [c.key for c in rec.columns] == ["cpu", "numpy"]      # from params, then from the test id
    assert rec.row("add_100").cells["numpy"].median == 2.5e-6
    assert any("test_adam_step" in n for n in rec.notes)           # not a dashboard row: said so
    assert main(["--from-json", str(_pytest_benchmark_json(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "from pytest-benchmark JSON" in out and "5.00 µs ±20% ×2.00" in out


def test_from_json_renders_a_real_pytest_benchmark_run(tmp_path, capsys):
    path = tmp_path / "pb.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "benches" / "test_bench_tensor_ops.py"), "-q", "-p",
         "no:cacheprovider", "-k", "create_1k and (cpu or numpy)", f"--benchmark-json={path}",
         "--benchmark-max-time=0.01", "--benchmark-min-rounds=2", "--benchmark-warmup=off"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rec = compare.load(path)
    assert set(rec.row("create_1k").cells) == {"cpu", *PEERS}
    assert all(c.median > 0 for c in rec.row("create_1k").cells.values())
    assert main(["--from-json", str(path), "--suite", "tensor_ops"]) == 0
    assert "ones(1,000)" in capsys.readouterr().out


def test_measure_syncs_once_per_sample_not_per_call():
    calls = {"fn": 0, "sync": 0}

    def fn():
        calls["fn"] += 1

    def sync():
        calls["sync"] += 1

    result = measure(fn, sync, Budget(seconds=0.05, target_samples=5, min_samples=3, max_samples=6))
    assert result.status == "ok" and result.number > 100   # calibrated to the time budget
    assert 3 <= len(result.samples) <= 6
    assert calls["fn"] >= result.number * len(result.samples)
    assert calls["sync"] < calls["fn"] / 50                 # one sync closes a whole sample


def _workload(build) -> Workload:
    return Workload("tensor_ops", "fake", "fake", build, ref("1 µs"))


def test_missing_ops_are_na_and_bugs_are_errors():
    cpu = COLUMNS["cpu"]

    def missing_backend_method(T, device):
        raise AttributeError("'WgpuBackend' object has no attribute 'conv2d'")

    def broken(T, device):
        raise ValueError("wrong shape\nmore")

    assert run_cell(_workload(missing_backend_method), cpu, Budget(), False).reason == \
        "WgpuBackend has no conv2d() yet"
    assert classify(Unavailable("later")) == ("n/a", "later")
    assert classify(ModuleNotFoundError("x", name="wgtorch.nn.rnn")) == ("n/a", "wgtorch.nn.rnn is not available yet")
    assert classify(AttributeError("module 'wgtorch.nn' has no attribute 'GRU'")) == \
        ("n/a", "wgtorch.nn.GRU is not available yet")
    assert run_cell(_workload(broken), cpu, Budget(), False) == Result("error", reason="ValueError: wrong shape")


def test_a_failing_workload_shows_as_error_and_exits_1(monkeypatch, minimal, capsys):
    def broken(T, device):
        raise ValueError("boom")

    monkeypatch.setattr("wgtorch.bench.cli.workloads", lambda suites: [_workload(broken)])
    assert main(["--device", "cpu"]) == 1
    assert "error: ValueError: boom" in capsys.readouterr().out


def test_device_filter_and_bad_arguments(capsys):
    cols, _ = discover_columns(["cpu"])
    assert [c.key for c in cols] == ["cpu", *PEERS]          # peers kept unless one is named
    cols, _ = discover_columns(["wgpu", "numpy"])
    assert [c.key for c in cols] == [k for k in COLUMNS if k.startswith("wgpu")] + ["numpy"]
    assert main(["--device", "tpu"]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--suite", "nope"])


def test_reference_figures_parse():
    assert ref("145-155 ns").low == pytest.approx(145e-9) and ref("145-155 ns").high == pytest.approx(155e-9)
    assert ref("~2 µs").seconds == pytest.approx(2e-6) and ref("33 ms").seconds == pytest.approx(0.033)
    assert ref("").seconds is None
    assert render.fmt_time(12.34e-6) == "12.3 µs" and render.fmt_time(2.5) == "2.50 s"
    assert render.fmt_time(150e-9) == "150 ns" and render.fmt_time(0.0331) == "33.1 ms"


def test_module_entry_point_lists_workloads():
    proc = subprocess.run([sys.executable, "-m", "wgtorch.bench", "--list"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0
    assert all(w.name in proc.stdout for w in WORKLOADS)


def test_pytorch_peer_columns(monkeypatch, tmp_path, minimal, capsys):
    """PyTorch is not installed here: stand wgtorch in for it (the workloads are written against
    the PyTorch API) to check the peer plumbing: its column, its cells, ratios against it."""
    monkeypatch.setitem(sys.modules, "torch", wgtorch)
    cols, notes = discover_columns(["cpu", "torch"])
    assert [c.key for c in cols] == ["cpu", "torch:cpu"] and cols[1].detail == f"torch {wgtorch.__version__}"
    path = tmp_path / "t.json"
    assert main(["--suite", "autograd", "--device", "cpu", "--device", "torch", "--json", str(path)]) == 0
    rec = compare.load(path)
    for row in rec.rows:
        assert row.cells["torch:cpu"].status == "ok" and row.cells["torch:cpu"].median > 0
    out = capsys.readouterr().out
    assert "PyTorch cpu" in out and "vs fastest peer (5)" in out
