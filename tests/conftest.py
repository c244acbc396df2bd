"""Shared fixtures: every op test runs on "cpu" (NumPy) and "wgpu" (WGSL; lavapipe in CI).

A run with no wgpu adapter fails at start instead of skipping every wgpu test, unless
WGTORCH_ALLOW_NO_WGPU=1 says that is intended."""

from __future__ import annotations

import os

import pytest

import wgtorch

DEVICES = ["cpu", "wgpu"]


def pytest_sessionstart(session):
    if not wgtorch.wgpu.is_available() and not os.environ.get("WGTORCH_ALLOW_NO_WGPU"):
        pytest.exit("no wgpu adapter found: the WGSL kernels can't be tested. Install a Vulkan driver "
                    "(Debian/Ubuntu: apt-get install mesa-vulkan-drivers) or set WGTORCH_ALLOW_NO_WGPU=1 "
                    "to run the cpu tests alone.", returncode=1)


def pytest_report_header(config):
    if wgtorch.wgpu.is_available():
        return f"wgtorch wgpu adapter: {wgtorch.wgpu.get_device_name()}"
    return "wgtorch wgpu adapter: none"


@pytest.fixture(params=DEVICES)
def device(request):
    if request.param == "wgpu" and not wgtorch.wgpu.is_available():
        pytest.skip("no wgpu adapter (WGTORCH_ALLOW_NO_WGPU=1)")
    return request.param


@pytest.fixture
def wgpu_device():
    if not wgtorch.wgpu.is_available():
        pytest.skip("no wgpu adapter (WGTORCH_ALLOW_NO_WGPU=1)")
    return "wgpu"


@pytest.fixture
def fresh_cuda_state(monkeypatch):
    """Forget any "cuda:0" backend and availability answer, before and after."""
    from wgtorch import _device

    monkeypatch.delitem(_device._backends, wgtorch.device("cuda", 0), raising=False)
    wgtorch.cuda.is_available.cache_clear()
    yield
    wgtorch.cuda.is_available.cache_clear()
