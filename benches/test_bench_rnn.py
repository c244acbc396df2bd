"""GRU benchmarks, the seed workload: ``nn.GRU(32, 64)`` over a sequence of 10 steps with batch 8
(time-major input (10, 8, 32)), forward alone (no_grad) and forward + backward (a training step's
share: output sum, backward). Columns: wgtorch on "cpu" (NumPy) and "wgpu" (each run timed up to
``wgtorch.wgpu.synchronize()``), and PyTorch on the CPU where it is installed, in the same group.

The wgpu rows record in ``extra_info`` what makes the layer fast by construction:
- ``dispatches_per_step_fwd`` / ``_bwd``: the marginal dispatches of one more time step (counted
  from ``rt.stats["dispatches"]`` at sequence lengths 10 and 20; targets <= 2 and <= 3), and the
  totals of the seq-10 run;
- ``host_us_per_step_fwd`` / ``_bwd``: host time (recording, no waiting) per time step.

``pytest benches/test_bench_rnn.py`` (add ``--benchmark-json=PATH`` to keep the numbers).
"""

from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest

import wgtorch

SEQ, BATCH, INPUT, HIDDEN = 10, 8, 32, 64
COLUMNS = ["cpu", "wgpu", "torch"]


def _setup(column: str):
    """(module, input, torch-like namespace, sync) for a column, with the same weights everywhere."""
    wgtorch.manual_seed(0)
    ref = wgtorch.nn.GRU(INPUT, HIDDEN)
    x = np.random.default_rng(0).standard_normal((SEQ, BATCH, INPUT)).astype(np.float32)
    if column == "torch":
        if importlib.util.find_spec("torch") is None:
            pytest.skip("PyTorch is not installed")
        import torch

        gru = torch.nn.GRU(INPUT, HIDDEN)
        gru.load_state_dict({k: torch.from_numpy(v.detach().numpy()) for k, v in ref.state_dict().items()})
        return gru, torch.from_numpy(x).requires_grad_(), torch, lambda: None
    if column == "wgpu" and not wgtorch.wgpu.is_available():
        pytest.skip("no wgpu adapter")
    gru = ref.to(column)
    sync = wgtorch.wgpu.synchronize if column == "wgpu" else (lambda: None)
    return gru, wgtorch.tensor(x, device=column, requires_grad=True), wgtorch, sync


def _wgpu_counts(gru, rt) -> dict:
    """Dispatches and host time per step of the wgpu GRU, forward and backward."""
    info = {}
    per_len = {}
    for T in (SEQ, 2 * SEQ, SEQ, 2 * SEQ):  # the second round is warm: no compiles in the timings
        for p in gru.parameters():
            p.grad = None  # a backward into existing grads would add accumulation dispatches
        x = wgtorch.zeros(T, BATCH, INPUT, device="wgpu", requires_grad=True)
        wgtorch.wgpu.synchronize()
        d0 = rt.stats["dispatches"]
        t0 = time.perf_counter()
        out = gru(x)[0]
        t1 = time.perf_counter()
        d1 = rt.stats["dispatches"]
        loss = out.sum()
        d2 = rt.stats["dispatches"]
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        d3 = rt.stats["dispatches"]
        wgtorch.wgpu.synchronize()
        per_len[T] = (d1 - d0, d3 - d2, t1 - t0, t3 - t2)
    fwd10, bwd10, host_fwd, host_bwd = per_len[SEQ]
    info["dispatches_fwd_seq10"], info["dispatches_bwd_seq10"] = fwd10, bwd10
    info["dispatches_per_step_fwd"] = (per_len[2 * SEQ][0] - fwd10) / SEQ
    info["dispatches_per_step_bwd"] = (per_len[2 * SEQ][1] - bwd10) / SEQ
    info["host_us_per_step_fwd"] = host_fwd / SEQ * 1e6
    info["host_us_per_step_bwd"] = host_bwd / SEQ * 1e6
    return info


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("work", ["forward", "forward_backward"])
def test_gru_seq10_batch8(benchmark, column, work):
    gru, x, T, sync = _setup(column)
    params = list(gru.parameters())

    def timed():
        if work == "forward":
            with T.no_grad():
                out = gru(x)[0]
        else:
            for p in params:
                p.grad = None
            out = gru(x)[0]
            out.sum().backward()
        sync()
        return out

    start = time.perf_counter()
    out = timed()  # warm-up: kernel compiles on wgpu
    first_call_s = time.perf_counter() - start
    assert tuple(out.shape) == (SEQ, BATCH, HIDDEN)
    benchmark.group = f"rnn: GRU {INPUT}->{HIDDEN} {work.replace('_', '+')}, seq {SEQ}, batch {BATCH}"
    info = {"column": column, "seq": SEQ, "batch": BATCH, "input_size": INPUT, "hidden_size": HIDDEN,
            "first_call_s": first_call_s}
    if column == "wgpu":
        rt = x._be.rt
        info.update(device=rt.name, software=rt.is_software, **_wgpu_counts(gru, rt))
    benchmark.extra_info.update(info)
    benchmark(timed)
    benchmark.extra_info["us_per_step"] = benchmark.stats.stats.median / SEQ * 1e6
