"""Native int64 on wgpu (issue 17): int64 tensors stored as WGSL i64 where the adapter has shader-int64.

Against PyTorch on the same inputs, with values past 2**31 and 2**53: the round trip, arithmetic,
comparisons and casts, reductions and scans (int32/bool sums into int64 included), creation, the
kernels that read int64 indices or write int64 results (index_select, gather, scatter, sort,
searchsorted, nonzero, cross-entropy targets, randint), 0-d, 0-size and non-contiguous views; and,
in a subprocess with WGTORCH_WGPU_DISABLE_FEATURES=shader-int64, the 32-bit storage mode of an
adapter without it (with its clear OverflowError on upload).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch as T

import wgtorch as torch

# Past 2**31, 2**53 and at both ends of int64.
BIG = [2**40 + 3, -(2**35) - 7, 5, -3, 2**62 + 1, 0, 2**31, -(2**31) - 1, 2**53 + 1, -(2**63), 2**63 - 1]
OTHER = [7, 3, -2, 2**33, 3, 1, -(2**31), 2**31 + 5, -1, 2, -(2**40)]


@pytest.fixture
def native(wgpu_device):
    props = torch.wgpu.get_device_properties()
    asked_narrow = os.environ.get("WGTORCH_WGPU_INT64") == "int32-storage"
    assert props.int64_mode == ("native" if "shader-int64" in props.features and not asked_narrow else "int32-storage")
    if props.int64_mode != "native":
        pytest.skip("this adapter has no shader-int64 (its 32-bit storage is tested in a subprocess below)")
    return wgpu_device


def _pair(values, dtype=None):
    return torch.tensor(values, device="wgpu", dtype=dtype), T.tensor(values, dtype=dtype and getattr(T, dtype.name))


def _same(got, want):
    """Exact equality with PyTorch: values, dtype and shape."""
    got_np = got.cpu().numpy()
    want_np = want.numpy()
    assert got_np.dtype == want_np.dtype, (got_np.dtype, want_np.dtype)
    assert got_np.shape == want_np.shape, (got_np.shape, want_np.shape)
    np.testing.assert_array_equal(got_np, want_np)


def test_round_trip_is_exact(native):
    a, ta = _pair(BIG)
    assert a.dtype is torch.int64
    assert a.cpu().tolist() == BIG
    assert a[3:].cpu().tolist() == BIG[3:] and a[::3].cpu().tolist() == BIG[::3]
    assert torch.tensor(2**62 + 1, device="wgpu").item() == 2**62 + 1  # 0-d
    _same(torch.tensor([], dtype=torch.int64, device="wgpu"), T.tensor([], dtype=T.int64))
    host = torch.tensor(BIG).to("wgpu")
    assert host.cpu().tolist() == BIG


@pytest.mark.parametrize("op", ["add", "sub", "mul", "floor_divide", "remainder", "fmod", "maximum", "minimum",
                                "bitwise_and", "bitwise_or", "bitwise_xor", "gcd", "lcm",
                                "eq", "ne", "lt", "le", "gt", "ge"])
def test_binary_ops_exact(native, op):
    # (PyTorch's own lcm dies of SIGFPE on int64's minimum broadcast against small values)
    a, ta = _pair(BIG if op not in ("gcd", "lcm") else [x if x != -(2**63) else -(2**63) + 1 for x in BIG])
    b, tb = _pair(OTHER)
    _same(getattr(torch, op)(a, b), getattr(T, op)(ta, tb))
    # broadcast against a column, and a non-contiguous (transposed) operand
    _same(getattr(torch, op)(a.reshape(11, 1), b[:4]), getattr(T, op)(ta.reshape(11, 1), tb[:4]))
    _same(getattr(torch, op)(a[:10].reshape(2, 5).t(), b[:2]), getattr(T, op)(ta[:10].reshape(2, 5).t(), tb[:2]))


@pytest.mark.parametrize("op", ["floor_divide", "remainder", "fmod", "lt", "ge", "maximum", "mul"])
@pytest.mark.parametrize("dtypes", [("int32", "int64"), ("int64", "int32")], ids=["i32_i64", "i64_i32"])
def test_mixed_int32_int64_operands(native, op, dtypes):
    """An int32 operand widened to i64 beside an int64 one. lavapipe folded `a < 0` of the widened
    value as if zero-extended, so floor_divide/remainder of a negative int32 truncated (fuzz 23:6851)."""
    vals = [-7, -3, -2, -1, 1, 2, 3, 7, 2**31 - 1, -(2**31)]
    a = [v for v in vals for _ in vals]
    b = [w for _ in vals for w in vals]
    da, db = (getattr(torch, d) for d in dtypes)
    ta, tb = (getattr(T, d) for d in dtypes)
    _same(getattr(torch, op)(torch.tensor(a, dtype=da, device="wgpu"), torch.tensor(b, dtype=db, device="wgpu")),
          getattr(T, op)(T.tensor(a, dtype=ta), T.tensor(b, dtype=tb)))


@pytest.mark.parametrize("scalar", [3, -7, 2**40, -(2**33) + 1])
def test_scalar_operands_travel_exactly(native, scalar):
    a, ta = _pair(BIG)
    for fn in (lambda x: x + scalar, lambda x: x * scalar, lambda x: x - scalar, lambda x: x // scalar,
               lambda x: x % scalar, lambda x: x == scalar, lambda x: x.clamp(-abs(scalar), abs(scalar)),
               lambda x: scalar - x):
        _same(fn(a), fn(ta))


def test_unary_ops_exact(native):
    a, ta = _pair(BIG)
    for name in ("abs", "neg", "sign", "square"):
        _same(getattr(torch, name)(a), getattr(T, name)(ta))
    _same(torch.pow(a[:6], 2), T.pow(ta[:6], 2))  # wraps past 2**63, as PyTorch's
    _same(a.pow(0), ta.pow(0))


def test_division_by_a_zero_tensor_still_raises(native):
    a, _ = _pair(BIG)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        (a // torch.zeros(len(BIG), dtype=torch.int64, device="wgpu")).cpu()
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        T.tensor([1]) // T.tensor([0])


def test_casts_to_and_from_every_dtype(native):
    a, ta = _pair(BIG)
    for dt in ("float32", "float16", "bool", "int32"):
        _same(a.to(getattr(torch, dt)), ta.to(getattr(T, dt)))
    if torch.wgpu.get_device_properties().float64:
        _same(a.double(), ta.double())
        f, tf = _pair([1e12, -3.7, 2.5e15, 0.0, -(2.0**62)], torch.float64)
        _same(f.long(), tf.long())
    f, tf = _pair([1e12, -3.7, 3e9, -0.5, 123456.0], torch.float32)
    _same(f.long(), tf.long())
    i, ti = _pair([2**31 - 1, -(2**31), 5], torch.int32)
    _same(i.long() * 4, ti.long() * 4)
    bl, tbl = _pair([True, False, True], torch.bool)
    _same(bl.long(), tbl.long())


@pytest.mark.parametrize("op", ["sum", "prod", "amax", "amin", "argmax", "argmin"])
def test_reductions_exact(native, op):
    a, ta = _pair(BIG)
    _same(getattr(a, op)(), getattr(ta, op)())
    m, tm = a[:10].reshape(2, 5), ta[:10].reshape(2, 5)
    _same(getattr(m, op)(1), getattr(tm, op)(1))
    _same(getattr(m.t(), op)(0), getattr(tm.t(), op)(0))


def test_int32_and_bool_sums_are_exact_int64(native):
    i, ti = _pair([2**31 - 1] * 9, torch.int32)
    _same(i.sum(), ti.sum())
    _same(i.reshape(3, 3).sum(0), ti.reshape(3, 3).sum(0))
    # long enough for the split (two-pass) reduction
    n = 300_000
    ones = torch.ones(n, dtype=torch.int32, device="wgpu") * (2**31 - 1)
    assert ones.sum().item() == n * (2**31 - 1)
    bl = torch.ones(5000, dtype=torch.bool, device="wgpu")
    _same(bl.sum(), T.ones(5000, dtype=T.bool).sum())


def test_empty_reductions(native):
    e, te = _pair([], torch.int64)
    _same(e.sum(), te.sum())
    _same(e.prod(), te.prod())


@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
def test_scans_exact(native, op):
    a, ta = _pair(BIG)
    _same(getattr(a, op)(0), getattr(ta, op)(0))
    i, ti = _pair([2**31 - 1] * 7, torch.int32)
    _same(getattr(i, op)(0, dtype=torch.int64), getattr(ti, op)(0, dtype=T.int64))
    _same(getattr(i, op)(0), getattr(ti, op)(0))  # int32 -> int64, as PyTorch
    long_row = torch.full((3000,), 2**31, device="wgpu")  # several blocks: the recursive scan
    _same(long_row.cumsum(0), T.full((3000,), 2**31).cumsum(0))


def test_cummax_indices(native):
    a, ta = _pair(BIG)
    v, i = a.cummax(0)
    tv, tind = ta.cummax(0)
    _same(v, tv)
    _same(i, tind)


def test_creation_past_int32(native):
    _same(torch.arange(2**33, 2**33 + 5, device="wgpu"), T.arange(2**33, 2**33 + 5))
    _same(torch.arange(-(2**40), 2**42, 2**40, device="wgpu"), T.arange(-(2**40), 2**42, 2**40))
    _same(torch.full((3,), 2**50, device="wgpu"), T.full((3,), 2**50))
    _same(torch.zeros(3, dtype=torch.int64, device="wgpu").fill_(-(2**45)), T.zeros(3, dtype=T.int64).fill_(-(2**45)))


def test_randint_past_int32(native):
    lo = 2**40
    r = torch.randint(lo, lo + 100, (2000,), device="wgpu").cpu().numpy()
    assert r.dtype == np.int64 and r.min() >= lo and r.max() < lo + 100 and len(set(r.tolist())) > 50
    for lo, hi in ((-5, 5), (-(2**40), -(2**40) + 2**32), (2**62, 2**62 + 7)):
        r = torch.randint(lo, hi, (2000,), device="wgpu").cpu().numpy()
        assert r.min() >= lo and r.max() < hi
    # the same stream as the cpu device for the same seed (bit-identical, as int32's)
    torch.manual_seed(3)
    a = torch.randint(2**40, 2**40 + 1000, (16,), device="wgpu").cpu().numpy()
    torch.manual_seed(3)
    b = torch.randint(2**40, 2**40 + 1000, (16,)).numpy()
    np.testing.assert_array_equal(a, b)


def test_index_kernels_with_int64_data_and_indices(native):
    a, ta = _pair(BIG)
    i, ti = _pair([10, 0, 4, 4, 8])
    _same(a.index_select(0, i), ta.index_select(0, ti))
    _same(a.gather(0, i), ta.gather(0, ti))
    _same(a[i], ta[ti])
    _same(a[a > 0], ta[ta > 0])
    src, tsrc = _pair([2**40, 2**32 - 1, 2**62, 2**62, -1])
    z, tz = _pair([0, 2**32 - 1, 5, -(2**40), 1, 0, 0, 0, 0, 0, 0])
    _same(z.scatter_add(0, i, src), tz.scatter_add(0, ti, tsrc))  # carries across the 32-bit words
    _same(z.index_add(0, i, src), tz.index_add(0, ti, tsrc))
    f, tf = _pair([1.0, 2.0, 3.0, 4.0])
    j, tj = _pair([9, 0, 3, 2])
    _same(f.index_select(0, j[1:3]), tf.index_select(0, tj[1:3]))  # an index view at an offset
    _same(f.gather(0, j[::2][1:]), tf.gather(0, tj[::2][1:]))
    m, tm = _pair([[1, 2], [3, 4]])
    _same(m.gather(1, torch.tensor([[1, 0], [0, 0]], device="wgpu")), tm.gather(1, T.tensor([[1, 0], [0, 0]])))


def test_index_past_int32_is_out_of_range(native):
    f = torch.tensor([1.0, 2.0, 3.0, 4.0], device="wgpu")
    for bad in (2**32, 2**32 + 1, -(2**33)):  # (their low 32 bits would be a valid index)
        with pytest.raises(IndexError):
            f.index_select(0, torch.tensor([bad], device="wgpu")).cpu()
        with pytest.raises(RuntimeError):
            f.gather(0, torch.tensor([bad], device="wgpu")).cpu()
        with pytest.raises(IndexError):
            T.tensor([1.0, 2.0, 3.0, 4.0]).index_select(0, T.tensor([bad]))


@pytest.mark.parametrize("reduce", [None, "prod", "amax", "amin", "sum"])
def test_scatter_int64(native, reduce):
    a, ta = _pair(BIG)
    idx, tidx = _pair([1, 1, 2, 7, 7, 7, 0, 3, 9, 9, 9])
    base, tbase = _pair([3] * 10)
    if reduce is None:
        _same(base.scatter(0, idx[:4].clone().fill_(5) + torch.arange(4, device="wgpu"), a[:4]),
              tbase.scatter(0, tidx[:4].clone().fill_(5) + T.arange(4), ta[:4]))
    else:
        _same(base.scatter_reduce(0, idx, a, reduce), tbase.scatter_reduce(0, tidx, ta, reduce))
        _same(base.scatter_reduce(0, idx, a, reduce, include_self=False),
              tbase.scatter_reduce(0, tidx, ta, reduce, include_self=False))


def test_sort_topk_search_nonzero(native):
    a, ta = _pair(BIG)
    for kw in ({}, {"descending": True}):
        v, i = a.sort(stable=True, **kw)
        tv, tind = ta.sort(stable=True, **kw)
        _same(v, tv)
        _same(i, tind)
    m, tm = a[:10].reshape(2, 5), ta[:10].reshape(2, 5)
    _same(m.sort(dim=0, stable=True)[1], tm.sort(dim=0, stable=True)[1])
    _same(a.topk(3)[0], ta.topk(3)[0])
    f, tf = _pair([3.0, 1.0, 2.0, 1.0])
    _same(f.sort(stable=True)[1], tf.sort(stable=True)[1])
    _same(f.topk(2)[1], tf.topk(2)[1])
    seq, tseq = _pair([-(2**40), 0, 2**33, 2**50])
    _same(torch.searchsorted(seq, a), T.searchsorted(tseq, ta))
    _same(torch.searchsorted(seq, a, right=True), T.searchsorted(tseq, ta, right=True))
    order = torch.tensor([2, 0, 1], device="wgpu")
    _same(torch.searchsorted(torch.tensor([5.0, 1.0, 3.0], device="wgpu"), torch.tensor([2.0, 4.0], device="wgpu"),
                             sorter=order),
          T.searchsorted(T.tensor([5.0, 1.0, 3.0]), T.tensor([2.0, 4.0]), sorter=T.tensor([2, 0, 1])))
    _same(a.nonzero(), ta.nonzero())
    _same(a.reshape(1, 11).nonzero(), ta.reshape(1, 11).nonzero())


def test_nn_kernels_with_int64_targets(native):
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    target = [1, 0, 4, 2]
    got = torch.nn.functional.cross_entropy(torch.tensor(x, device="wgpu"), torch.tensor(target, device="wgpu"))
    want = T.nn.functional.cross_entropy(T.tensor(x), T.tensor(target))
    assert abs(got.item() - want.item()) < 1e-5
    with pytest.raises(IndexError):
        torch.nn.functional.cross_entropy(torch.tensor(x, device="wgpu"),
                                          torch.tensor([1, 0, 2**32 + 1, 2], device="wgpu")).item()
    w = torch.tensor(np.arange(12, dtype=np.float32).reshape(3, 4), device="wgpu")
    e = torch.nn.functional.embedding(torch.tensor([[2, 0], [1, 1]], device="wgpu"), w)
    np.testing.assert_array_equal(e.cpu().numpy(), np.arange(12, dtype=np.float32).reshape(3, 4)[[[2, 0], [1, 1]]])
    _same(torch.nn.functional.one_hot(torch.tensor([0, 3, 1], device="wgpu"), 4),
          T.nn.functional.one_hot(T.tensor([0, 3, 1]), 4))


def test_safetensors_round_trip(native, tmp_path):
    import safetensors.numpy

    a = torch.tensor(BIG, device="wgpu")
    torch.save({"a": a, "view": a[1::2].contiguous()}, str(tmp_path / "x.safetensors"))
    raw = safetensors.numpy.load_file(str(tmp_path / "x.safetensors"))
    assert raw["a"].dtype == np.int64 and raw["a"].tolist() == BIG and raw["view"].tolist() == BIG[1::2]
    back = torch.load(str(tmp_path / "x.safetensors"), map_location="wgpu")
    assert back["a"].device.type == "wgpu" and back["a"].tolist() == BIG
    torch.save({"a": a, "view": a[1::2]}, str(tmp_path / "x.pt"))  # PyTorch's format: views share the storage
    want = T.load(str(tmp_path / "x.pt"))
    assert want["a"].tolist() == BIG and want["view"].tolist() == BIG[1::2]
    assert torch.load(str(tmp_path / "x.pt"), map_location="wgpu")["view"].tolist() == BIG[1::2]


_NO_INT64 = """
import os
import wgtorch as torch
props = torch.wgpu.get_device_properties()
assert props.int64_mode == "int32-storage", props
assert ("shader-int64" in props.features) == (os.environ.get("WGTORCH_WGPU_DISABLE_FEATURES") is None), props
try:
    torch.tensor([2**31], device="wgpu")
except OverflowError as e:
    assert "int32" in str(e), e
else:
    raise AssertionError("an int64 value past int32 was accepted in int32-storage mode")
x = torch.tensor([2**31 - 1, -5], device="wgpu")
assert (x + 0).tolist() == [2**31 - 1, -5] and x.sum().item() == 2**31 - 6
assert torch.tensor([3.0, 1.0], device="wgpu").sort()[1].tolist() == [1, 0]
print("ok")
"""


@pytest.mark.parametrize("how", [{"WGTORCH_WGPU_DISABLE_FEATURES": "shader-int64"},
                                 {"WGTORCH_WGPU_INT64": "int32-storage"}])
def test_int32_storage_mode_stays(wgpu_device, how):
    env = dict(os.environ, **how)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-c", _NO_INT64], env=env, cwd=root, capture_output=True, text=True,
                       timeout=180)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]


def test_int64_param_block_layout(native):
    from wgtorch._backends.wgpu.elementwise import PARAMS

    wide = PARAMS.widened_int()
    assert "scalar_i: vec4<i64>" in wide.wgsl and wide.offset_of("scalar_i") % 32 == 0
    assert wide.struct.size == wide.size and wide.size % 32 == 0


def test_graph_capture_replays_int64_ops(native):
    """Captured int64 kernels (their widened parameter blocks are not fused) and a cast from int64
    into a fusable float chain replay exactly."""
    a = torch.tensor(BIG[:8], device="wgpu")
    f = torch.tensor([0.5] * 8, device="wgpu")
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        y = (a + 2**33) * 3 - a // 7
        z = (a.float() * f + 1.0).abs()
        s = a.sum()
    for values in (BIG[:8], BIG[3:]):
        a.copy_(torch.tensor(values, device="wgpu"))
        g.replay()
        t = T.tensor(values)
        _same(y, (t + 2**33) * 3 - t // 7)
        _same(z, (t.float() * 0.5 + 1.0).abs())
        _same(s, t.sum())


@pytest.mark.parametrize("reduce", ["prod", "amax"])
def test_scatter_reduce_int64_past_one_serial_run(native, reduce):
    """A reduction into int64 runs serially in runs of SERIAL_RUN elements (lavapipe's loop limit):
    more than two runs, every element counted."""
    from wgtorch._backends.wgpu.scatter import SERIAL_RUN

    n = 2 * SERIAL_RUN + 123
    rng = np.random.default_rng(5)
    src = rng.integers(-3, 4, n) if reduce == "prod" else rng.integers(-(2**50), 2**50, n)
    idx = rng.integers(0, 40, n)
    got = torch.full((40,), 1, device="wgpu").scatter_reduce(0, torch.tensor(idx, device="wgpu"),
                                                             torch.tensor(src, device="wgpu"), reduce)
    want = T.full((40,), 1).scatter_reduce(0, T.tensor(idx), T.tensor(src), reduce)
    _same(got, want)
