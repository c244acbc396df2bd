"""Out-of-range indices raise PyTorch's cpu exception type on every device (issue 12): index_select
is a RuntimeError along dim 1 of a tensor of 2+ dims and an IndexError elsewhere, while tensor
indexing (``x[:, idx]``), index_copy_, index_fill_, take and put_ are IndexErrors on every dim
and gather / scatter / index_add RuntimeErrors. On wgpu the report comes from the device (a
separate error code per type), at the next read."""

from __future__ import annotations

import math

import pytest
import torch

import wgtorch


def _cases(lib):
    x = lambda *s: lib.arange(float(max(1, math.prod(s)))).reshape(s) if 0 not in s else lib.zeros(s)  # noqa: E731
    ix = lambda v: lib.tensor(v)  # noqa: E731
    return {
        "index_select d0": lambda: x(3, 4).index_select(0, ix([0, 5])),
        "index_select d1": lambda: x(3, 4).index_select(1, ix([0, 5])),
        "index_select d1 negative": lambda: x(3, 4).index_select(1, ix([-1])),
        "index_select d1 of 3-d": lambda: x(2, 3, 4).index_select(1, ix([9])),
        "index_select d2 of 3-d": lambda: x(2, 3, 4).index_select(2, ix([9])),
        "index_select d-1": lambda: x(2, 3, 4).index_select(-1, ix([9])),
        "index_select d1 transposed": lambda: x(4, 3).t().index_select(1, ix([9])),
        "index_select d1 strided": lambda: x(2, 3, 4)[:, :, ::2].index_select(1, ix([9])),
        "index_select d1 int": lambda: x(3, 4).to(lib.int64).index_select(1, ix([4])),
        "index_select d1 float16": lambda: x(3, 4).to(lib.float16).index_select(1, ix([4])),
        "index_select 1-d": lambda: x(5).index_select(0, ix([7])),
        "index_select empty other dim": lambda: x(2, 3, 0).index_select(1, ix([9])),
        "getitem x[t]": lambda: x(3, 4)[ix([5])],
        "getitem x[:, t]": lambda: x(3, 4)[:, ix([0, 7])],
        "getitem x[:, t] negative": lambda: x(3, 4)[:, ix([-5])],
        "getitem x[:, :, t]": lambda: x(2, 3, 4)[:, :, ix([4])],
        "getitem x[0, :, t]": lambda: x(2, 3, 4)[0, :, ix([4])],
        "gather d1": lambda: x(3, 4).gather(1, ix([[0, 9]])),
        "scatter d1": lambda: x(3, 4).scatter(1, ix([[0, 9]]), lib.ones(1, 2)),
        "scatter_add d1": lambda: x(3, 4).scatter_add(1, ix([[0, 9]]), lib.ones(1, 2)),
        "index_add d1": lambda: x(3, 4).index_add(1, ix([0, 9]), lib.ones(3, 2)),
        "index_copy d0": lambda: x(3, 4).index_copy(0, ix([0, 9]), lib.ones(2, 4)),
        "index_copy d1": lambda: x(3, 4).index_copy(1, ix([0, 9]), lib.ones(3, 2)),
        "index_fill d0": lambda: x(3, 4).index_fill(0, ix([0, 9]), 1.0),
        "index_fill d1": lambda: x(3, 4).index_fill(1, ix([0, -9]), 1.0),
        "take": lambda: x(3, 4).take(ix([0, 99])),
        "put": lambda: x(3, 4).put(ix([0, 99]), lib.ones(2)),
        "put accumulate": lambda: x(3, 4).put(ix([0, -13]), lib.ones(2), accumulate=True),
        "put into empty": lambda: x(0).put(ix([0]), lib.ones(1)),
        "embedding": lambda: lib.nn.functional.embedding(ix([0, 9]), x(3, 4)),
    }


def _moved(device):
    class Lib:  # wgtorch with its factories on `device`
        def __getattr__(self, name):
            attr = getattr(wgtorch, name)
            if name in ("arange", "tensor", "ones", "zeros"):
                return lambda *a, **k: attr(*a, device=device, **k)
            return attr

    return Lib()


def _raised(fn, sync=None):
    try:
        out = fn()
        if out is not None and hasattr(out, "cpu"):
            out.cpu().numpy()  # a device reports at the next read
        if sync:
            sync()
    except Exception as e:  # noqa: BLE001  (the type is what is compared)
        return type(e)
    return None


@pytest.mark.parametrize("name", list(_cases(torch)))
def test_out_of_range_index_exception_type_matches_pytorch(device, name):
    expected = _raised(_cases(torch)[name])
    assert expected is not None, "the case must fail in PyTorch"
    sync = wgtorch.wgpu.synchronize if device == "wgpu" else None
    assert _raised(_cases(_moved(device))[name], sync) is expected
    if device == "wgpu":  # the device keeps working, and the report was cleared
        x = wgtorch.arange(6.0, device=device).reshape(2, 3)
        assert x.index_select(1, wgtorch.tensor([2, 0], device=device)).tolist() == [[2.0, 0.0], [5.0, 3.0]]


def test_index_select_dim1_message_is_pytorchs(device):
    x = wgtorch.zeros(3, 4, device=device)
    with pytest.raises(RuntimeError, match="INDICES element is out of DATA bounds, id=5 axis_dim=4"):
        x.index_select(1, wgtorch.tensor([0, 5], device=device)).cpu()


def test_in_range_indices_still_select(device):
    x = wgtorch.arange(24.0, device=device).reshape(2, 3, 4)
    t = torch.arange(24.0).reshape(2, 3, 4)
    i = [2, 0, -1]
    assert x[:, wgtorch.tensor(i, device=device)].tolist() == t[:, torch.tensor(i)].tolist()
    assert x.index_copy(1, wgtorch.tensor([2, 0], device=device), wgtorch.ones(2, 2, 4, device=device)).tolist() \
        == t.index_copy(1, torch.tensor([2, 0]), torch.ones(2, 2, 4)).tolist()
    assert x.put(wgtorch.tensor([-1, 3], device=device), wgtorch.ones(2, device=device), accumulate=True).tolist() \
        == t.put(torch.tensor([-1, 3]), torch.ones(2), accumulate=True).tolist()
