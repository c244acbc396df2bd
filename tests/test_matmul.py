"""The matmul kernel family (shaders/matmul.wgsl) and its front end (matmul, mm, bmm, dot, @)
against NumPy in float64, on cpu and wgpu; gradients against the analytic NumPy formulas."""

from __future__ import annotations

import numpy as np
import pytest

import wgtorch as torch
from tests.helpers import assert_close, rand
from wgtorch._backends.wgpu import matmul as mm_impl
from wgtorch._backends.wgpu.matmul import HARDWARE, SOFTWARE, TileConfig, choose_config
from wgtorch._device import get_backend


def ref(a, b):
    with np.errstate(invalid="ignore"):  # inf * 0 in the NaN/Inf test
        return (np.asarray(a, np.float64) @ np.asarray(b, np.float64)).astype(np.float32)


def check(a_np, b_np, device, make_a=None, make_b=None, rtol=1e-5, atol=1e-5):
    """a @ b on ``device`` (operands built by make_a/make_b from the host arrays) vs NumPy."""
    a = (make_a or (lambda x: torch.tensor(x, device=device)))(a_np)
    b = (make_b or (lambda x: torch.tensor(x, device=device)))(b_np)
    assert_close(a @ b, ref(a_np, b_np), rtol=rtol, atol=atol)


def has_f16(device) -> bool:
    return device == "cpu" or "shader-f16" in get_backend(torch.device(device)).rt.features


# Around the software tile (8x16 per thread, 4x4 threads: 32x64) and the hardware tile (64x64).
SHAPES = [(1, 1, 1), (3, 5, 7), (33, 65, 17), (31, 9, 63), (32, 16, 64), (33, 17, 65), (64, 12, 128),
          (65, 3, 129), (7, 1, 9), (100, 100, 100), (2, 9, 33), (3, 16, 20), (40, 8, 1), (1, 8, 40)]


@pytest.mark.parametrize("m,k,n", SHAPES)
def test_shapes(device, m, k, n):
    check(rand(m, k, seed=1), rand(k, n, seed=2), device)


# (12, 8, 16) reads A and B as vec4s along K or along M/N by layout; (12, 5, 16) and (7, 8, 9)
# mix vec4 and scalar reads; (7, 5, 9) is scalar throughout: every read-mode pair of the kernel.
@pytest.mark.parametrize("m,k,n", [(12, 8, 16), (12, 5, 16), (7, 8, 9), (7, 5, 9)])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_transposed_operands(device, m, k, n, ta, tb):
    def transposed(x):
        return torch.tensor(np.ascontiguousarray(x.T), device=device).t()

    check(rand(m, k, seed=3), rand(k, n, seed=4), device, transposed if ta else None, transposed if tb else None)


def test_transposed_operands_are_read_in_place(wgpu_device):
    rt = get_backend(torch.device(wgpu_device)).rt
    a = torch.tensor(rand(8, 12, seed=5), device=wgpu_device)
    b = torch.tensor(rand(16, 12, seed=6), device=wgpu_device)
    c = torch.tensor(rand(2, 12, 8, seed=7), device=wgpu_device)
    for x, y in [(a, b.t()), (b.t().t(), a.t()), (a[:, ::3], b.t()[1:5, ::2]), (c.mT, a.t()), (a, c)]:
        before = rt.stats["dispatches"]
        out = x @ y
        assert rt.stats["dispatches"] - before == 1, "an operand view was copied"
        assert_close(out, ref(x.numpy(), y.numpy()), rtol=1e-5, atol=1e-5)


def test_sliced_inputs(device):
    a_np, b_np = rand(20, 30, seed=8), rand(31, 25, seed=9)
    a, b = torch.tensor(a_np, device=device), torch.tensor(b_np, device=device)
    assert_close(a[1::2, 3:18:2] @ b[2:10, ::3], ref(a_np[1::2, 3:18:2], b_np[2:10, ::3]), rtol=1e-5, atol=1e-5)
    # An offset of 1 element: no vec4 path may be taken.
    assert_close(a[1:9, 1:9] @ b[1:9, 1:13], ref(a_np[1:9, 1:9], b_np[1:9, 1:13]), rtol=1e-5, atol=1e-5)
    assert_close(a[1:9, 1:9].t() @ b.t()[1:9, 1:5], ref(a_np[1:9, 1:9].T, b_np.T[1:9, 1:5]), rtol=1e-5, atol=1e-5)


def test_empty_and_k_zero(device):
    out = torch.tensor(np.zeros((3, 0), np.float32), device=device) @ torch.tensor(np.zeros((0, 4), np.float32),
                                                                                   device=device)
    assert_close(out, np.zeros((3, 4), np.float32))
    batched = torch.zeros(2, 3, 0, device=device) @ torch.zeros(2, 0, 5, device=device)
    assert_close(batched, np.zeros((2, 3, 5), np.float32))
    assert tuple((torch.zeros(0, 3, device=device) @ torch.ones(3, 4, device=device)).shape) == (0, 4)
    assert tuple((torch.ones(2, 3, device=device) @ torch.ones(3, 0, device=device)).shape) == (2, 0)
    assert tuple((torch.ones(0, 2, 3, device=device) @ torch.ones(0, 3, 4, device=device)).shape) == (0, 2, 4)


def test_k_zero_overwrites_reused_memory(device):
    for _ in range(2):  # the second result reuses freed memory, which held non-zeros
        x = torch.ones(16, 16, device=device) * 7
        del x
        assert_close(torch.ones(16, 0, device=device) @ torch.ones(0, 16, device=device), np.zeros((16, 16)))


def test_batched(device):
    a_np, b_np = rand(3, 9, 13, seed=10), rand(3, 13, 6, seed=11)
    a, b = torch.tensor(a_np, device=device), torch.tensor(b_np, device=device)
    assert_close(a @ b, ref(a_np, b_np), rtol=1e-5, atol=1e-5)
    assert_close(torch.bmm(a, b), ref(a_np, b_np), rtol=1e-5, atol=1e-5)
    assert_close(a.mT.mT @ b.mT.mT, ref(a_np, b_np), rtol=1e-5, atol=1e-5)
    assert_close(b.mT @ a.mT, ref(b_np.transpose(0, 2, 1), a_np.transpose(0, 2, 1)), rtol=1e-5, atol=1e-5)
    # 4-D, and a batch sliced with a step
    a4, b4 = rand(2, 3, 5, 4, seed=12), rand(2, 3, 4, 8, seed=13)
    assert_close(torch.tensor(a4, device=device) @ torch.tensor(b4, device=device), ref(a4, b4),
                 rtol=1e-5, atol=1e-5)
    a5 = rand(6, 5, 4, seed=14)
    assert_close(torch.tensor(a5, device=device)[::2] @ torch.tensor(b4[0], device=device),
                 ref(a5[::2], b4[0]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sa,sb", [((5, 7), (4, 7, 3)), ((4, 5, 7), (7, 3)), ((2, 1, 5, 7), (3, 7, 4)),
                                   ((1, 5, 8), (3, 8, 4)), ((3, 5, 8), (1, 8, 4)), ((2, 3, 5, 8), (8, 4))])
def test_batch_broadcast(device, sa, sb):
    check(rand(*sa, seed=15), rand(*sb, seed=16), device)


def test_expanded_batch_is_read_with_stride_zero(device):
    a_np, b_np = rand(6, 8, seed=17), rand(4, 8, 12, seed=18)
    a = torch.tensor(a_np, device=device).expand(4, 6, 8)
    assert_close(torch.bmm(a, torch.tensor(b_np, device=device)), ref(a_np, b_np), rtol=1e-5, atol=1e-5)
    b = torch.tensor(b_np[:1], device=device).expand(4, 8, 12)
    assert_close(torch.bmm(torch.tensor(rand(4, 6, 8, seed=19), device=device), b),
                 ref(rand(4, 6, 8, seed=19), b_np[:1]), rtol=1e-5, atol=1e-5)


def test_vectors(device):
    v, w, m = rand(7, seed=20), rand(7, seed=21), rand(7, 5, seed=22)
    tv, tw, tm = (torch.tensor(x, device=device) for x in (v, w, m))
    out = tv @ tw
    assert out.ndim == 0
    assert_close(out, np.float32(v.astype(np.float64) @ w), rtol=1e-5, atol=1e-5)
    assert_close(torch.dot(tv, tw), np.float32(v.astype(np.float64) @ w), rtol=1e-5, atol=1e-5)
    assert_close(tv @ tm, ref(v, m), rtol=1e-5, atol=1e-5)
    assert_close(tm.t() @ tv, ref(m.T, v), rtol=1e-5, atol=1e-5)
    b3 = rand(2, 7, 3, seed=23)
    assert_close(tv @ torch.tensor(b3, device=device), ref(v, b3), rtol=1e-5, atol=1e-5)
    assert_close(torch.tensor(b3, device=device).mT @ tv, ref(b3.transpose(0, 2, 1), v), rtol=1e-5, atol=1e-5)


def test_matrix_vector_products(device):
    # N == 1 runs as (1, K) @ (K, M) with the operands' roles swapped; M < 4 takes the thin tile.
    a_np, v_np, b3 = rand(37, 12, seed=60), rand(12, 1, seed=61), rand(3, 12, 9, seed=62)
    a, v, b = (torch.tensor(x, device=device) for x in (a_np, v_np, b3))
    assert_close(a @ v, ref(a_np, v_np), rtol=1e-5, atol=1e-5)
    assert_close(a[::2, 1:] @ v[1:], ref(a_np[::2, 1:], v_np[1:]), rtol=1e-5, atol=1e-5)
    assert_close(b.mT @ v, ref(b3.transpose(0, 2, 1), v_np), rtol=1e-5, atol=1e-5)
    assert_close(b.mT @ b[:, :, 4:5], ref(b3.transpose(0, 2, 1), b3[:, :, 4:5]), rtol=1e-5, atol=1e-5)
    assert_close(v.t() @ b, ref(v_np.T, b3), rtol=1e-5, atol=1e-5)
    assert_close(a[:3] @ a.t(), ref(a_np[:3], a_np.T), rtol=1e-5, atol=1e-5)
    assert_close(a[5:7].t().t() @ b[1], ref(a_np[5:7], b3[1]), rtol=1e-5, atol=1e-5)


def test_float16(device):
    if not has_f16(device):
        pytest.skip("no shader-f16 on this adapter")
    for m, k, n in [(8, 8, 16), (5, 3, 7), (33, 40, 20)]:
        a_np, b_np = rand(m, k, seed=24).astype(np.float16), rand(k, n, seed=25).astype(np.float16)
        a = torch.tensor(a_np, device=device)
        b = torch.tensor(b_np, device=device)
        out = a @ b
        assert out.dtype is torch.float16
        # Accumulated in float32: only the final rounding to float16 differs from the reference.
        assert_close(out, ref(a_np, b_np).astype(np.float16), rtol=2e-3, atol=2e-3)
        assert_close(a.t().t() @ b.t().t(), ref(a_np, b_np).astype(np.float16), rtol=2e-3, atol=2e-3)


def test_nan_and_inf_propagate(device):
    a_np, b_np = rand(9, 6, seed=26), rand(6, 11, seed=27, low=0.5, high=2.0)
    a_np[2, 3] = np.nan
    a_np[8, 5] = np.inf   # the last row: on the edge of the tile, where loads are clamped
    b_np[1, 10] = -np.inf  # the last column
    expected = ref(a_np, b_np)
    assert np.isnan(expected[2]).all() and np.isinf(expected[8, :10]).all()
    check(a_np, b_np, device)
    check(a_np, b_np, device, make_a=lambda x: torch.tensor(np.ascontiguousarray(x.T), device=device).t())


def test_1000_cubed(device):
    a_np, b_np = rand(1000, 1000, seed=28), rand(1000, 1000, seed=29)
    check(a_np, b_np, device, rtol=1e-4, atol=1e-3)


def test_more_than_65535_workgroups(device):
    # One workgroup per (tiny) product: 70,000 of them, past the 65,535 per grid dimension.
    a_np, b_np = rand(70_000, 2, 3, seed=30), rand(70_000, 3, 2, seed=31)
    check(a_np, b_np, device)


def test_shape_errors(device):
    a, b = torch.ones(3, 5, device=device), torch.ones(4, 7, device=device)
    with pytest.raises(RuntimeError, match=r"3x5 and 4x7"):
        a @ b
    with pytest.raises(RuntimeError, match=r"batch dimensions \[2\] and \[3\]"):
        torch.ones(2, 3, 4, device=device) @ torch.ones(3, 4, 5, device=device)
    with pytest.raises(RuntimeError, match=r"\[3\].*\[4\]"):
        torch.ones(3, device=device) @ torch.ones(4, device=device)
    with pytest.raises(RuntimeError, match="at least 1D"):
        torch.tensor(2.0, device=device) @ torch.ones(2, device=device)
    with pytest.raises(RuntimeError, match="bmm"):
        torch.bmm(torch.ones(2, 3, 4, device=device), torch.ones(3, 4, 5, device=device))


def test_dtype_errors(device):
    a = torch.ones(2, 3, device=device)
    with pytest.raises(RuntimeError, match="same dtype.*float32 != int32"):
        a @ torch.ones(3, 2, dtype=torch.int32, device=device)
    ints = torch.tensor(np.arange(6).reshape(2, 3), dtype=torch.int32, device=device)
    if device == "wgpu":
        with pytest.raises(TypeError, match="int32.*float32 and float16|float32 and float16.*int32"):
            ints @ ints.t()
    else:
        assert_close(ints @ ints.t(), np.array([[5, 14], [14, 50]], np.int32))


def _grads(a_np, b_np, device, g_np=None):
    a = torch.tensor(a_np, device=device, requires_grad=True)
    b = torch.tensor(b_np, device=device, requires_grad=True)
    out = a @ b
    g = np.asarray(rand(*out.shape, seed=40) if g_np is None else g_np, np.float32)
    out.backward(torch.tensor(g, device=device))
    return a.grad, b.grad, g


@pytest.mark.parametrize("sa,sb", [((4, 6), (6, 5)), ((3, 4, 6), (3, 6, 5)), ((4, 6), (3, 6, 5)),
                                   ((3, 4, 6), (6, 5)), ((2, 1, 4, 6), (3, 6, 5))])
def test_gradients(device, sa, sb):
    a_np, b_np = rand(*sa, seed=41), rand(*sb, seed=42)
    ga, gb, g = _grads(a_np, b_np, device)
    a64, b64, g64 = (x.astype(np.float64) for x in (a_np, b_np, g))
    full_ga = g64 @ np.swapaxes(b64, -1, -2)
    full_gb = np.swapaxes(a64, -1, -2) @ g64
    # Sum the broadcast batch dims back to each operand's shape.
    assert_close(ga, _sum_to(full_ga, sa), rtol=1e-5, atol=1e-5)
    assert_close(gb, _sum_to(full_gb, sb), rtol=1e-5, atol=1e-5)


def _sum_to(x, shape):
    x = x.sum(axis=tuple(range(x.ndim - len(shape)))) if x.ndim > len(shape) else x
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and x.shape[i] != 1)
    return x.sum(axis=axes, keepdims=True).astype(np.float32)


def test_gradients_of_vector_cases(device):
    v, w, m = rand(6, seed=43), rand(6, seed=44), rand(6, 4, seed=45)
    gv, gw, g = _grads(v, w, device, np.float32(1.5))
    assert_close(gv, 1.5 * w, rtol=1e-6)
    assert_close(gw, 1.5 * v, rtol=1e-6)
    gv, gm, g = _grads(v, m, device)
    assert_close(gv, ref(m, g), rtol=1e-5, atol=1e-5)
    assert_close(gm, np.outer(v, g).astype(np.float32), rtol=1e-5, atol=1e-5)
    gm, gv, g = _grads(m.T.copy(), v, device)
    assert_close(gm, np.outer(g, v).astype(np.float32), rtol=1e-5, atol=1e-5)
    assert_close(gv, ref(m, g), rtol=1e-5, atol=1e-5)


# -- the tile configurations ---------------------------------------------------------------------

class _FakeRuntime:
    def __init__(self, software, **limits):
        self.is_software = software
        self.limits = {"max-compute-invocations-per-workgroup": 256, "max-compute-workgroup-size-x": 256,
                       "max-compute-workgroup-storage-size": 16384, **limits}


def test_config_per_adapter_type():
    assert choose_config(_FakeRuntime(True)) == SOFTWARE and not SOFTWARE.tiled
    assert choose_config(_FakeRuntime(False)) == HARDWARE and HARDWARE.tiled
    small = choose_config(_FakeRuntime(False, **{"max-compute-invocations-per-workgroup": 64,
                                                 "max-compute-workgroup-storage-size": 2048}))
    assert small.tiled and small.threads <= 64 and small.shared_bytes <= 2048


@pytest.fixture(params=[HARDWARE, TileConfig(tiled=True, wgm=4, wgn=2, tm=2, tn=3, bk=4)],
                ids=["hardware", "small-tiled"])
def tiled(request, wgpu_device):
    """The hardware GPU kernel forced onto this adapter, so its indexing is tested here too."""
    be = get_backend(torch.device(wgpu_device))
    saved = be.matmul_config
    be.matmul_config = request.param
    yield wgpu_device
    be.matmul_config = saved


def _maybe_transposed(x, transposed, device):
    if transposed:
        return torch.tensor(np.ascontiguousarray(x.T), device=device).t()
    return torch.tensor(x, device=device)


@pytest.mark.parametrize("m,k,n,ta,tb", [(1, 1, 1, False, False), (33, 17, 65, False, False),
                                         (70, 19, 9, True, False), (5, 40, 66, False, True),
                                         (9, 16, 7, True, True)])
def test_tiled_kernel_on_this_adapter(tiled, m, k, n, ta, tb):
    check(rand(m, k, seed=50), rand(k, n, seed=51), tiled, lambda x: _maybe_transposed(x, ta, tiled),
          lambda x: _maybe_transposed(x, tb, tiled))


def test_tiled_kernel_batch_broadcast_and_k_zero(tiled):
    b_np = rand(1, 8, 5, seed=53)
    check(rand(4, 6, 8, seed=52), b_np.repeat(4, 0), tiled,
          make_b=lambda x: torch.tensor(b_np, device=tiled).expand(4, 8, 5))
    check(rand(3, 0, seed=54), rand(0, 4, seed=55), tiled)


def test_read_modes():
    # (offset, batch stride, outer stride, K stride, outer size, K)
    assert mm_impl._read_mode(0, 0, 8, 1, 5, 8) == mm_impl.VEC_K
    assert mm_impl._read_mode(0, 0, 1, 12, 12, 5) == mm_impl.VEC_OUTER
    assert mm_impl._read_mode(1, 0, 8, 1, 5, 8) == mm_impl.SCALAR     # misaligned offset
    assert mm_impl._read_mode(0, 6, 8, 1, 5, 8) == mm_impl.SCALAR     # misaligned batch stride
    assert mm_impl._read_mode(0, 0, 9, 1, 5, 8) == mm_impl.SCALAR     # misaligned rows
    assert mm_impl._read_mode(0, 0, 8, 1, 5, 6) == mm_impl.SCALAR     # K not a multiple of 4
    assert mm_impl._read_mode(0, 0, 2, 16, 5, 8) == mm_impl.SCALAR    # stepped view


# lavapipe ends an invocation's loops after 65,535 iterations in all: longer K runs in slices
def test_k_past_the_loop_limit(device):
    k = 300_000
    a, b = rand(2, k, seed=60, low=0.0, high=1.0), rand(k, 3, seed=61, low=0.0, high=1.0)
    ta, tb = torch.tensor(a, device=device), torch.tensor(b, device=device)
    assert_close(ta @ tb, ref(a, b), rtol=1e-4)  # vec4 reads: 75,000 loop iterations
    assert_close(ta[:, ::2] @ tb[::2], ref(a[:, ::2], b[::2]), rtol=1e-4)  # scalar strided reads: 150,000
    assert_close(torch.dot(ta[0], tb[:, 0]), ref(a[:1], b[:, :1]).reshape(()), rtol=1e-4)


def test_tiled_kernel_k_past_the_loop_limit(tiled):
    a, b = rand(3, 40_000, seed=62, low=0.0, high=1.0), rand(40_000, 2, seed=63, low=0.0, high=1.0)
    assert_close(torch.tensor(a, device=tiled) @ torch.tensor(b, device=tiled), ref(a, b), rtol=1e-4)


def test_k_slice_fits_the_loop_budget():
    assert mm_impl.k_slice(SOFTWARE) == mm_impl.LOOP_BUDGET
    for cfg in (HARDWARE, TileConfig(tiled=True, wgm=4, wgn=2, tm=2, tn=3, bk=4)):
        assert mm_impl.k_slice(cfg) % cfg.bk == 0 and 0 < mm_impl.k_slice(cfg) <= mm_impl.LOOP_BUDGET
