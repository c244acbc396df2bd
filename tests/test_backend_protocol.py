"""Every backend implements the whole protocol (`wgtorch/_backends/protocol.py`) with its parameter
names, and the front end calls nothing on a backend that the protocol does not declare."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import wgtorch
from wgtorch._backends.array import ArrayBackend
from wgtorch._backends.array_cuda import CudaArrayBackend
from wgtorch._backends.protocol import METHODS, OPTIONAL, OPTIONAL_BY_CLASS, Backend, FusedAttentionProbs
from wgtorch._backends.wgpu import WgpuBackend
from wgtorch._device import BACKENDS

CLASSES = [ArrayBackend, CudaArrayBackend, WgpuBackend]


def _params(fn) -> list[str]:
    return [p.name for p in inspect.signature(fn).parameters.values()][1:]  # without self


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("method", METHODS)
def test_backend_implements_the_protocol(cls, method):
    impl = getattr(cls, method, None)
    assert callable(impl), f"{cls.__name__} lacks {method}"
    assert _params(impl) == _params(getattr(Backend, method)), f"{cls.__name__}.{method}: parameters differ"


@pytest.mark.parametrize("method", OPTIONAL)
def test_optional_methods_keep_their_declared_parameters(method):
    """A backend may lack an optional fused kernel; one that has it takes the declared parameters."""
    for cls in CLASSES:
        impl = getattr(cls, method, None)
        if impl is not None:
            assert _params(impl) == _params(getattr(OPTIONAL_BY_CLASS[method], method)), f"{cls.__name__}.{method}"
    if OPTIONAL_BY_CLASS[method] is not FusedAttentionProbs:  # the CPU-side way to keep attention's state
        assert getattr(WgpuBackend, method, None) is not None  # wgpu has every other one today


def test_the_front_end_calls_only_protocol_methods():
    root = Path(wgtorch.__file__).parent
    used = set()
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("_backends/", "validate/", "bench/")):
            continue  # the backends themselves, and tools that poke at backend internals on purpose
        text = path.read_text()
        used |= {(m, rel) for m in re.findall(r"\b_?be\.([a-z_]+)\(", text)}
        used |= {(m, rel) for m in re.findall(r"\boptional\([^,]+,\s*\"([a-z_0-9]+)\"\)", text)}
    unknown = sorted((m, f) for m, f in used if m not in METHODS and m not in OPTIONAL)
    assert not unknown, f"backend methods called but not in the protocol: {unknown}"


def test_backends_are_found_by_name():
    assert set(BACKENDS) == {"cpu", "wgpu", "cuda"}
    assert wgtorch.ones(1).device.type == "cpu"
