"""Seeded random differential cases: wgtorch ("cpu" and "wgpu") against PyTorch on the CPU.

Each test is one case of the stream ``SEED`` (tests/oracle.py `random_case`: op x shape x dtype x
layout x values, from elementwise, reductions, matmul, views, indexing and in-place families).
The same (seed, index) always builds the same case, so a failure's id reproduces it:
``python tools/fuzz_vs_torch.py --replay SEED:INDEX --device wgpu``. ``N_CASES`` per device keeps
both devices together within about a minute on a 2-core machine; set ORACLE_CASES to run more.
"""

from __future__ import annotations

import os

import pytest

from tests import oracle

SEED = 0
N_CASES = int(os.environ.get("ORACLE_CASES", "700"))

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.mark.parametrize("index", range(N_CASES), ids=lambda i: f"{SEED}:{i}")
def test_random_case(device, index):
    case = oracle.random_case(SEED, index)
    outcome = oracle.check(case, device)
    assert not outcome.failed, outcome.line()
