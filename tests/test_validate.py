"""The kernel validator (``python -m wgtorch.validate``): a normal run passes, a deliberately
broken kernel is reported as FAIL with a non-zero exit status, families without a check are
reported, and the comparison catches NaN, infinity and tolerance mismatches."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wgtorch._backends.wgpu import WgpuBackend
from wgtorch._device import get_backend
from wgtorch.ops import pointwise as pointwise_module
from wgtorch.ops.elementwise_defs import OPS
from wgtorch.validate import cli
from wgtorch.validate.cli import main
from wgtorch.validate.core import compare


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "240")


def _kernels(path) -> dict:
    data = json.loads(path.read_text())
    return {(k["family"], k["name"]): k for d in data["devices"] for k in d["kernels"]}


def test_normal_run_passes(tmp_path, capsys, wgpu_device):
    path = tmp_path / "v.json"
    code = main(["--json", str(path)])
    out = capsys.readouterr().out
    data = json.loads(path.read_text())
    failed = [(k["family"], k["name"], k["failures"][:1]) for d in data["devices"] for k in d["kernels"]
              if k["status"] == "FAIL"]
    assert code == 0 and not failed, failed
    assert data["passed"] and data["exit_code"] == 0
    kernels = _kernels(path)
    checked = {f for f, s in data["families"].items() if s == "checked"}
    assert {"elementwise", "reduce", "matmul", "random"} <= checked
    assert {f for f, _ in kernels} == checked                       # every checked family ran kernels
    assert kernels[("elementwise", "add")]["cases"] >= 20 and kernels[("reduce", "sum")]["time_s"] > 0
    device = data["devices"][0]
    assert device["info"]["name"] and device["limits"]["max-compute-workgroups-per-dimension"] >= 65535
    assert "all kernels passed" in out or "NOT checked" in out
    assert "max-storage-buffer-binding-size" in out and "PASS" in out


def test_a_broken_wgsl_expression_fails(monkeypatch, tmp_path, capsys, wgpu_device):
    be = get_backend("wgpu")
    # A fresh pipeline cache, so the broken source is compiled (and forgotten afterwards).
    monkeypatch.setattr(be.rt, "_pipelines", {})
    monkeypatch.setattr(be, "_ew_plans", {})  # the eager path's plans hold pipelines too
    monkeypatch.setattr(pointwise_module, "_EAGER", {})  # and so do the front end's pre-bound calls
    monkeypatch.setattr(OPS["mul"], "wgsl", "a * b + 0.001")  # the registry entry the kernel is built from
    path = tmp_path / "v.json"
    assert main(["--family", "elementwise", "--no-large", "--json", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "VALIDATION FAILED" in out
    kernels = _kernels(path)
    mul = kernels[("elementwise", "mul")]
    assert mul["status"] == "FAIL" and "values off" in mul["failures"][0]["message"]
    assert mul["max_abs"] == pytest.approx(0.001, rel=0.01)
    assert kernels[("elementwise", "add")]["status"] == "PASS"      # the others are unaffected
    assert json.loads(path.read_text())["exit_code"] == 1


def test_a_broken_backend_method_fails(monkeypatch, capsys, wgpu_device):
    original = WgpuBackend.matmul

    def transposed_result(self, a, b):  # right shape, wrong values
        out = original(self, a, b)
        return self.permute(out, (1, 0)) if out.ndim == 2 and out.shape[0] == out.shape[1] else out

    monkeypatch.setattr(WgpuBackend, "matmul", transposed_result)
    assert main(["--family", "matmul", "--no-large"]) == 1
    assert "matmul" in capsys.readouterr().out


def test_a_crashing_kernel_fails(monkeypatch, capsys, wgpu_device):
    def crash(self, *args):
        raise RuntimeError("device lost")

    monkeypatch.setattr(WgpuBackend, "random", crash)
    assert main(["--family", "random"]) == 1
    assert "RuntimeError: device lost" in capsys.readouterr().out


def test_a_family_without_a_check_is_reported_not_passed(monkeypatch, capsys, wgpu_device):
    checks = dict(cli.CHECKS)
    del checks["random"]
    monkeypatch.setattr(cli, "CHECKS", checks)
    assert main(["--family", "random"]) == 0
    out = capsys.readouterr().out
    assert "NO CHECK" in out and "NOT checked: random" in out
    assert main(["--family", "random", "--strict"]) == 1


def test_bad_requests_exit_2(capsys):
    assert main(["--family", "no_such_family"]) == 2
    assert main(["--device", "cuda:7"]) == 2
    assert "nothing to validate" in capsys.readouterr().out


def test_compare_catches_what_matters():
    ok, _, _ = compare(np.array([1.0, np.nan, np.inf]), np.array([1.0, np.nan, np.inf]), 1e-5, 1e-6)
    assert ok is None
    assert "NaN mismatch" in compare(np.array([1.0, 0.0]), np.array([1.0, np.nan]), 1e-5, 1e-6)[0]
    assert "infinity mismatch" in compare(np.array([np.inf]), np.array([-np.inf]), 1e-5, 1e-6)[0]
    assert "infinity mismatch" in compare(np.array([3e38]), np.array([np.inf]), 1e-5, 1e-6)[0]
    problem, max_abs, max_rel = compare(np.array([1.0, 2.001]), np.array([1.0, 2.0]), 1e-5, 1e-6)
    assert "1 of 2 values off" in problem and max_abs == pytest.approx(0.001) and max_rel == pytest.approx(5e-4)
    assert compare(np.array([1.0, 2.00001]), np.array([1.0, 2.0]), 1e-5, 1e-6)[0] is None
    assert "shape" in compare(np.zeros(3), np.zeros((3, 1)), 1e-5, 1e-6)[0]
    assert "differ" in compare(np.array([1, 2], np.int32), np.array([1, 3], np.int64), 0, 0)[0]
    assert "differ" in compare(np.array([True]), np.array([False]), 0, 0)[0]
    # a flushed denormal: judged by its absolute error, so no alarming relative error
    assert compare(np.array([0.0]), np.array([1e-39]), 1e-5, 1e-6) == (None, 1e-39, 0.0)
