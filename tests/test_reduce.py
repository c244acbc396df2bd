"""The reduction kernel family (shaders/reduce.wgsl: sum, prod, amax, amin, argmax, argmin and the
fused softmax/log_softmax) and the front-end reductions built on it, against NumPy, on cpu and
wgpu. Tests named ``*_every_strategy`` force each wgpu work shape (one row per thread, one per
workgroup, split into partials) so every kernel path runs on any adapter."""

from __future__ import annotations

import numpy as np
import pytest

import wgtorch as torch
import wgtorch._backends.wgpu.reduce as wgpu_reduce
from tests.helpers import assert_close, rand

NP = {"sum": np.sum, "prod": np.prod, "amax": np.max, "amin": np.min}
VALUE_OPS = list(NP)


def reference(op, x, dim, keepdim=False):
    axis = tuple(range(x.ndim)) if dim is None else dim
    with np.errstate(all="ignore"):
        if op in ("argmax", "argmin"):
            r = getattr(np, op)(x, axis=axis)
            return np.expand_dims(r, axis) if keepdim else r
        return NP[op](x.astype(np.float64) if x.dtype.kind == "f" else x, axis=axis, keepdims=keepdim)


def values_for(op, shape, seed=0):
    if op == "prod":  # products of many values stay finite when their logs average 0
        return np.exp(rand(*shape, seed=seed, low=-0.05, high=0.05))
    return rand(*shape, seed=seed)


# -- every op, every way of choosing dims ---------------------------------------------------------
DIM_CASES = [
    ((7,), 0), ((7,), -1), ((7,), None), ((3, 5), 1), ((3, 5), 0), ((3, 5), -2), ((3, 5), (0, 1)),
    ((4, 5, 6), (0, 2)), ((4, 5, 6), (-1, -3)), ((4, 5, 6), 1), ((4, 5, 6), None), ((2, 3, 4, 5), (1, 2)),
    ((2, 3, 4, 5), (0, 3)), ((129, 3), 0), ((3, 9000), 1), ((20000,), None),
]


@pytest.mark.parametrize("op", VALUE_OPS)
@pytest.mark.parametrize("shape,dim", DIM_CASES)
@pytest.mark.parametrize("keepdim", [False, True])
def test_value_reductions_match_numpy(device, op, shape, dim, keepdim):
    x = values_for(op, shape)
    t = torch.tensor(x, device=device)
    if op == "prod" and not isinstance(dim, int):  # PyTorch's prod takes one int dim, or none at all
        with pytest.raises(TypeError):
            t.prod(dim, keepdim)
        if dim is not None or keepdim:
            return
        got = t.prod()
        assert_close(got, reference(op, x, dim, keepdim), rtol=1e-3 if np.prod(shape) > 1000 else 1e-5, atol=1e-5,
                     dtype=torch.float32)
        return
    got = getattr(t, op)(dim, keepdim)
    rtol = (1e-3 if op == "prod" else 1e-4) if np.prod(shape) > 1000 else 1e-5
    assert_close(got, reference(op, x, dim, keepdim), rtol=rtol, atol=1e-5, dtype=torch.float32)


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("shape,dim", [((7,), 0), ((3, 5), 1), ((3, 5), -2), ((4, 5, 6), 1), ((2, 9000), 1),
                                       ((20000,), 0)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_arg_reductions_match_numpy(device, op, shape, dim, keepdim):
    x = rand(*shape, seed=1)
    got = getattr(torch.tensor(x, device=device), op)(dim, keepdim)
    assert_close(got, reference(op, x, dim, keepdim), dtype=torch.int64)


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_arg_reductions_ties_and_nan_pick_the_first(device, op):
    # Small integers make many ties; the first index wins as in PyTorch. A NaN is the extreme
    # and the first NaN wins.
    x = np.random.default_rng(2).integers(0, 3, size=(6, 150)).astype(np.float32)
    x[1, [40, 7, 90]] = np.nan
    x[4, 149] = np.nan
    x[5] = 1.0
    got = getattr(torch.tensor(x, device=device), op)(1)
    assert_close(got, reference(op, x, 1))
    assert got.tolist()[1] == 7 and got.tolist()[4] == 149 and got.tolist()[5] == 0


def test_argmax_over_all_dims(device):
    x = rand(4, 6, seed=3)
    x[2, 5] = 9.0
    t = torch.tensor(x, device=device)
    assert_close(t.argmax(), np.int64(17), dtype=torch.int64)
    assert_close(t.argmin(keepdim=True), np.argmin(x).reshape(1, 1))
    assert_close(torch.argmax(t.t()), np.int64(np.argmax(x.T)))


# -- work shapes and sizes -------------------------------------------------------------------------
STRATEGIES = {
    "thread": lambda rows, K, software: (wgpu_reduce.K_REDUCE_THREAD, 1),
    "group": lambda rows, K, software: (wgpu_reduce.K_REDUCE_GROUP, 1),
    "split": lambda rows, K, software: (wgpu_reduce.K_REDUCE_GROUP, 5),
    "split_then_thread": lambda rows, K, software: (
        (wgpu_reduce.K_REDUCE_THREAD, 1) if K <= 5 else (wgpu_reduce.K_REDUCE_GROUP, 5)),
}


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_wgpu_every_strategy(wgpu_device, monkeypatch, strategy):
    monkeypatch.setattr(wgpu_reduce, "plan_reduce", STRATEGIES[strategy])
    x = rand(5, 300, seed=4)
    x[2, 17] = np.nan
    t = torch.tensor(x, device=wgpu_device)
    for op in VALUE_OPS:
        y = values_for(op, (5, 300))
        assert_close(getattr(torch.tensor(y, device=wgpu_device), op)(1), reference(op, y, 1), rtol=2e-5)
        assert_close(getattr(t, op)(0), reference(op, x, 0), rtol=2e-5)
        every = getattr(t.t(), op)() if op == "prod" else getattr(t.t(), op)(None)  # (prod takes no None)
        assert_close(every, reference(op, x.T, None), rtol=2e-5)
    for op in ("argmax", "argmin"):
        assert_close(getattr(t, op)(1), reference(op, x, 1))
        assert_close(getattr(t[:, ::3], op)(1, True), reference(op, x[:, ::3], 1, True))
        assert_close(getattr(t.t(), op)(0), reference(op, x.T, 0))
    ints = np.random.default_rng(5).integers(-50, 50, size=(3, 200)).astype(np.int32)
    ti = torch.tensor(ints, device=wgpu_device)
    assert_close(ti.sum(1), ints.sum(1, dtype=np.int64))
    assert_close(ti.amin(1), ints.min(1))
    assert_close(ti.argmax(1), ints.argmax(1))


@pytest.mark.parametrize("n", [1, 63, 64, 65, 127, 128, 129])
def test_sizes_around_the_workgroup(device, n):
    x = rand(3, n, seed=n)
    t = torch.tensor(x, device=device)
    assert_close(t.sum(1), x.sum(1), rtol=1e-5)
    assert_close(t.amax(0), x.max(0))
    assert_close(t.argmin(1), x.argmin(1))
    assert_close(t.sum(), np.float32(x.astype(np.float64).sum()), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("strategy", ["thread", "group"])
def test_wgpu_sizes_around_the_workgroup_every_strategy(wgpu_device, monkeypatch, strategy):
    monkeypatch.setattr(wgpu_reduce, "plan_reduce", STRATEGIES[strategy])
    for n in (1, 63, 64, 65, 127, 128, 129):
        x = rand(3, n, seed=n)
        t = torch.tensor(x, device=wgpu_device)
        assert_close(t.sum(1), x.sum(1), rtol=1e-5)
        assert_close(t.amax(0), x.max(0))
        assert_close(t.argmin(1), x.argmin(1))
        assert_close(t.sum(), np.float32(x.astype(np.float64).sum()), rtol=1e-5, atol=1e-5)


def test_wgpu_more_than_65535_workgroups(wgpu_device, monkeypatch):
    # One workgroup per row (forced) over 70,000 rows: the runtime folds the grid into 2-D.
    monkeypatch.setattr(wgpu_reduce, "plan_reduce", STRATEGIES["group"])
    x = rand(70_000, 3, seed=6)
    x[69_999] = [0.0, 5.0, 5.0]
    got = torch.tensor(x, device=wgpu_device).argmax(1)
    assert_close(got, x.argmax(1))
    assert got.tolist()[-1] == 1


# -- layouts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("op", VALUE_OPS + ["argmax"])
def test_non_contiguous_inputs(device, op):
    x = values_for(op, (6, 10, 8), seed=7)
    t = torch.tensor(x, device=device)
    d = 1 if op in ("argmax", "prod") else (0, 2)  # (PyTorch's argmax and prod take one dim)
    views = [
        (t.permute(2, 0, 1), x.transpose(2, 0, 1)),
        (t[1::2, ::3, 1:7:2], x[1::2, ::3, 1:7:2]),
        (t.transpose(0, 2)[:, 2:], x.transpose(2, 1, 0)[:, 2:]),
    ]
    for view, ref in views:
        assert_close(getattr(view, op)(d), reference(op, ref, d), rtol=1e-5)
        assert_close(getattr(view, op)(-1), reference(op, ref, -1), rtol=1e-5)
    row = values_for(op, (1, 9), seed=8)
    expanded = torch.tensor(row, device=device).expand(70, 9)  # stride 0 on dim 0
    big = np.broadcast_to(row, (70, 9))
    for dim in (0, 1):
        assert_close(getattr(expanded, op)(dim), reference(op, big, dim), rtol=1e-5)


def test_wgpu_views_with_too_many_dims_raise_clearly(wgpu_device):
    # Reversing 10 dims of size 2 leaves 9 kept dims that no merge can join: past the kernels' 8.
    x = np.arange(2**10, dtype=np.float32).reshape((2,) * 10)
    t = torch.tensor(x, device=wgpu_device).permute(*reversed(range(10)))
    with pytest.raises(RuntimeError, match="sum: the input view needs 9 strided dimensions .* support 8"):
        t.sum(0)
    assert_close(t.sum((0, 1)), x.transpose(*reversed(range(10))).sum((0, 1)))  # 8 kept dims work


def test_zero_dim_input(device):
    t = torch.tensor(2.5, device=device)
    for op in VALUE_OPS:
        assert_close(getattr(t, op)(), np.float32(2.5))
        assert_close(getattr(t, op)(0, True), np.float32(2.5))
    assert_close(t.argmax(), np.int64(0))
    assert_close(t.argmax(0), np.int64(0))
    values, indices = t.max(0)
    assert_close(values, np.float32(2.5))
    assert_close(indices, np.int64(0))
    assert_close(t.mean(), np.float32(2.5))


def test_zero_size(device):
    e = torch.zeros(0, 3, device=device)
    assert_close(e.sum(0), np.zeros(3, np.float32))
    assert_close(e.prod(0, keepdim=True), np.ones((1, 3), np.float32))
    assert_close(e.sum(), np.float32(0))
    assert_close(torch.zeros(3, 0, device=device).sum(1), np.zeros(3, np.float32))
    assert_close(torch.zeros(3, 0, dtype=torch.int32, device=device).prod(1), np.ones(3, np.int64))
    assert tuple(e.sum(1).shape) == (0,) and tuple(e.amax(1).shape) == (0,)
    assert tuple(e.argmax(1).shape) == (0,)
    assert np.isnan(e.mean().item())
    with pytest.raises(IndexError, match="amax\\(\\): Expected reduction dim 0 to have non-zero size"):
        e.amax(0)
    with pytest.raises(RuntimeError, match="amin\\(\\): Expected reduction dim to be specified for input"):
        e.amin()
    with pytest.raises(IndexError, match="argmax\\(\\): Expected reduction dim to be specified"):  # (as torch)
        e.argmax()
    with pytest.raises(IndexError, match="max\\(\\): Expected reduction dim 0 to have non-zero size"):
        e.max(0)


def test_nan_and_inf(device):
    inf, nan = np.inf, np.nan
    x = np.array([[1.0, nan, 3.0], [inf, -inf, 0.0], [inf, 1.0, 2.0], [-inf, -inf, -inf]], np.float32)
    t = torch.tensor(x, device=device)
    with np.errstate(all="ignore"):
        for op in VALUE_OPS:
            assert_close(getattr(t, op)(1), NP[op](x, axis=1))
            assert_close(getattr(t, op)(0), NP[op](x, axis=0))
    assert_close(t.argmax(1), [1, 0, 0, 0])
    assert_close(t.argmin(1), [1, 1, 1, 0])
    assert_close(t.argmin(0), [3, 0, 3])


# -- dtypes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dt", [np.int32, np.int64])
def test_integer_reductions(device, dt):
    x = np.random.default_rng(9).integers(-1000, 1000, size=(5, 70)).astype(dt)
    x[0, 0] = -2_000_000_000
    t = torch.tensor(x, device=device)
    assert_close(t.sum(1), x.sum(1, dtype=np.int64), dtype=torch.int64)
    assert_close(t.sum(), np.int64(x.astype(np.int64).sum()))
    small = torch.tensor(np.array([[3, -2, 5], [1, 1, 7]], dt), device=device)
    assert_close(small.prod(1), [-30, 7], dtype=torch.int64)
    assert_close(t.amax(1), x.max(1), dtype=torch.int32 if dt is np.int32 else torch.int64)
    assert_close(t.amin(0), x.min(0))
    assert_close(t.argmax(1), x.argmax(1))
    assert_close(t.argmin(0), x.argmin(0))
    assert_close(t.sum(1, dtype=torch.float32), x.sum(1).astype(np.float32), dtype=torch.float32)


def test_bool_reductions_and_all_any(device):
    x = np.zeros((4, 70), bool)
    x[1, 5] = x[2] = True
    x[3, ::2] = True
    t = torch.tensor(x, device=device)
    assert_close(t.sum(1), x.sum(1), dtype=torch.int64)
    assert_close(t.amax(1), x.any(1), dtype=torch.bool)
    assert_close(t.amin(1), x.all(1), dtype=torch.bool)
    assert_close(t.any(1), x.any(1))
    assert_close(t.all(0), x.all(0))
    assert t.any().item() is True and t.all().item() is False
    assert torch.ones(3, 3, dtype=torch.bool, device=device).all().item() is True


def test_float16_accumulates_in_float32(device):
    x = rand(4, 3000, seed=10, low=0.0, high=1.0).astype(np.float16)
    t = torch.tensor(x, device=device)
    exact = x.astype(np.float64).sum(1)
    assert_close(t.sum(1), exact.astype(np.float16), rtol=2e-3, dtype=torch.float16)
    assert_close(t.amax(1), x.max(1))
    assert_close(t.amin(0), x.min(0))
    assert_close(t.argmax(1), x.argmax(1))
    assert_close(t.mean(1), (exact / 3000).astype(np.float16), rtol=2e-3)


# -- front-end composites --------------------------------------------------------------------------
def test_mean_var_std(device):
    x = rand(4, 5, 6, seed=11)
    t = torch.tensor(x, device=device)
    assert_close(t.mean(), np.float32(x.mean()), rtol=1e-5)
    assert_close(t.mean((0, 2), keepdim=True), x.mean((0, 2), keepdims=True), rtol=1e-5)
    assert_close(t.var(1), x.var(1, ddof=1), rtol=1e-4)
    assert_close(t.var((0, 2), unbiased=False), x.var((0, 2)), rtol=1e-4)
    assert_close(t.std(-1, keepdim=True), x.std(-1, ddof=1, keepdims=True), rtol=1e-4)
    assert_close(t.std(correction=0), np.float32(x.std()), rtol=1e-4)
    with pytest.raises(RuntimeError, match="mean\\(\\): could not infer output dtype"):
        torch.tensor([1, 2], device=device).mean()


def test_logsumexp(device):
    x = rand(3, 40, seed=12, low=-5, high=5)
    x[1] = -np.inf
    x[2, :3] = 1000.0
    t = torch.tensor(x, device=device)
    with np.errstate(all="ignore"):
        m = np.max(x, 1, keepdims=True)
        shift = np.where(np.isfinite(m), m, 0)
        expected = (np.log(np.exp(x.astype(np.float64) - shift).sum(1, keepdims=True)) + shift)
    assert_close(t.logsumexp(1), expected[:, 0], rtol=1e-5)
    assert_close(t.logsumexp(1, keepdim=True), expected, rtol=1e-5)
    assert_close(t[0].logsumexp(0), expected[0, 0], rtol=1e-5)


def test_max_min_with_dim(device):
    x = rand(5, 9, seed=13)
    x[2, [1, 4]] = 3.0  # a tie: the first index
    t = torch.tensor(x, device=device)
    values, indices = t.max(1)
    assert_close(values, x.max(1))
    assert_close(indices, x.argmax(1), dtype=torch.int64)
    assert indices.tolist()[2] == 1
    r = t.min(0, keepdim=True)
    assert_close(r.values, x.min(0, keepdims=True))
    assert_close(r.indices, x.argmin(0)[None])
    assert_close(t.max(), np.float32(x.max()))
    assert_close(torch.min(t), np.float32(x.min()))


# -- softmax ---------------------------------------------------------------------------------------
def softmax_ref(x, dim, log=False):
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        shifted = x - np.max(x, axis=dim, keepdims=True)
        s = np.exp(shifted).sum(axis=dim, keepdims=True)
        return shifted - np.log(s) if log else np.exp(shifted) / s


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape,dim", [((7,), 0), ((4, 10), 1), ((4, 10), 0), ((3, 4, 5), -2), ((2, 65), -1),
                                       ((3, 5000), 1), ((130, 3), 0)])
def test_softmax_matches_numpy(device, log, shape, dim):
    x = rand(*shape, seed=14, low=-8, high=8)
    fn = torch.log_softmax if log else torch.softmax
    assert_close(fn(torch.tensor(x, device=device), dim), softmax_ref(x, dim, log), rtol=1e-5, atol=1e-6)


def check_softmax_special_rows_and_layouts(device):
    x = rand(5, 70, seed=15, low=-3, high=3)
    x[0] = -np.inf                       # all -inf: NaN, as in PyTorch
    x[1, ::2] = -np.inf                  # some -inf: exactly 0 there
    x[2, :5] = [1000.0, 999.0, -1000.0, 1000.0, 0.0]  # large values stay finite
    x[3, 7] = np.nan                     # a NaN spoils its row
    t = torch.tensor(x, device=device)
    for log in (False, True):
        fn = torch.log_softmax if log else torch.softmax
        got = fn(t, 1)
        assert_close(got, softmax_ref(x, 1, log), rtol=1e-5, atol=1e-6)
        if not log:
            assert np.all(got.numpy()[1, ::2] == 0)
        assert_close(fn(t.t(), 0), softmax_ref(x.T, 0, log), rtol=1e-5, atol=1e-6)
        assert_close(fn(t[1:, ::3], -1), softmax_ref(x[1:, ::3], -1, log), rtol=1e-5, atol=1e-6)
    assert t.softmax(0).is_contiguous() and t.t().softmax(1).is_contiguous()


def test_softmax_special_rows_and_layouts(device):
    check_softmax_special_rows_and_layouts(device)


@pytest.mark.parametrize("kernel", ["K_SOFTMAX_THREAD", "K_SOFTMAX_GROUP"])
def test_wgpu_softmax_every_strategy(wgpu_device, monkeypatch, kernel):
    pick = getattr(wgpu_reduce, kernel)
    monkeypatch.setattr(wgpu_reduce, "plan_softmax", lambda rows, K, software: pick)
    check_softmax_special_rows_and_layouts(wgpu_device)
    for n in (1, 63, 64, 65, 129):
        x = rand(3, n, seed=n)
        assert_close(torch.tensor(x, device=wgpu_device).softmax(1), softmax_ref(x, 1), rtol=1e-5, atol=1e-7)


def test_softmax_edge_cases(device):
    s = torch.tensor(3.0, device=device)
    assert_close(s.softmax(0), np.float32(1.0))
    assert_close(s.log_softmax(-1), np.float32(0.0))
    assert tuple(torch.zeros(0, 4, device=device).softmax(1).shape) == (0, 4)
    assert tuple(torch.zeros(4, 0, device=device).log_softmax(1).shape) == (4, 0)
    x = rand(3, 50, seed=16).astype(np.float16)
    assert_close(torch.tensor(x, device=device).softmax(1), softmax_ref(x, 1).astype(np.float16),
                 rtol=2e-3, atol=1e-4, dtype=torch.float16)
    ints = torch.tensor([[1, 2]], device=device)
    assert_close(ints.softmax(1, dtype=torch.float32), softmax_ref(np.array([[1.0, 2.0]]), 1), rtol=1e-6)
    with pytest.raises(RuntimeError, match="\"softmax\" not implemented for 'Long'"):
        ints.softmax(1)
    with pytest.raises(IndexError, match="Dimension out of range"):
        torch.zeros(2, 3, device=device).softmax(2)


# -- gradients -------------------------------------------------------------------------------------
def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar f at x (float64)."""
    x = x.astype(np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        g[i] = (f(up) - f(down)) / (2 * eps)
    return g


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dim", [0, 1])
def test_softmax_gradients_match_finite_differences(device, log, dim):
    x = rand(3, 5, seed=17)
    w = rand(3, 5, seed=18)
    t = torch.tensor(x, device=device, requires_grad=True)
    (torch.log_softmax if log else torch.softmax)(t, dim).mul(torch.tensor(w, device=device)).sum().backward()
    expected = numeric_grad(lambda v: (softmax_ref(v, dim, log) * w).sum(), x)
    assert_close(t.grad, expected, rtol=1e-4, atol=1e-5)


def test_gradients_of_sum_mean_prod(device):
    x = rand(3, 4, seed=19, low=0.5, high=2.0)
    w = rand(3, seed=20)
    t = torch.tensor(x, device=device, requires_grad=True)
    (t.sum(1) * torch.tensor(w, device=device)).sum().backward()
    assert_close(t.grad, np.broadcast_to(w[:, None], (3, 4)))
    t.grad = None
    t.mean((0, 1), keepdim=True).sum().backward()
    assert_close(t.grad, np.full((3, 4), 1 / 12, np.float32))
    t.grad = None
    (t.prod(0) * torch.tensor(w[:1].repeat(4), device=device)).sum().backward()
    assert_close(t.grad, w[0] * x.prod(0, keepdims=True) / x, rtol=1e-5)
    t.grad = None
    t.sum().backward()
    assert_close(t.grad, np.ones((3, 4), np.float32))


def test_gradients_of_amax_split_ties_and_max_dim_picks_one(device):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], np.float32)
    t = torch.tensor(x, device=device, requires_grad=True)
    t.amax(1).sum().backward()
    assert_close(t.grad, [[0, 0.5, 0.5], [0.5, 0, 0.5]])
    t.grad = None
    t.amin().backward()
    assert_close(t.grad, [[0, 0, 0], [0, 1, 0]])
    t.grad = None
    t.amax().backward()
    assert_close(t.grad, [[0, 0.5, 0.5], [0, 0, 0]])
    t.grad = None
    values, _ = t.max(1, keepdim=True)
    (values * torch.tensor([[2.0], [3.0]], device=device)).sum().backward()
    assert_close(t.grad, [[0, 2, 0], [3, 0, 0]])


def test_all_and_any_on_empty_tensors_and_dims(device):
    import wgtorch

    x = wgtorch.zeros(0, 3, device=device)
    assert x.all().item() is True and x.any().item() is False
    assert tuple(x.all(1).shape) == (0,) and x.any(0).tolist() == [False, False, False]
    y = wgtorch.tensor([[1.0, 0.0], [float("nan"), 2.0]], device=device)
    assert y.all(1).tolist() == [False, True] and y.any(0).tolist() == [True, True]


# -- lavapipe's loop limit: an invocation's loops stop silently after 65,535 iterations in all ------
def test_wgpu_full_sum_of_2_to_the_26(wgpu_device):
    # 16 chunks of 2**22 gave each thread 65,536 elements: the last of each was dropped
    assert torch.ones(1, device=wgpu_device).expand(2**26).sum().item() == 2**26


@pytest.mark.parametrize("strategy", ["thread", "group"])
def test_wgpu_no_thread_walks_past_the_loop_limit_every_strategy(wgpu_device, monkeypatch, strategy):
    monkeypatch.setattr(wgpu_reduce, "plan_reduce", STRATEGIES[strategy])
    K = 70_000 if strategy == "thread" else 64 * 65_536 + 6  # one row per thread / per workgroup
    x = torch.zeros(K, dtype=torch.float16, device=wgpu_device)
    x[K - 1] = 5.0
    x[K - 3] = 7.0  # odd indices, near the end of the last thread's walk
    assert x.amax(0).item() == 7.0
    assert x.argmax(0).item() == K - 3
    assert torch.ones(1, device=wgpu_device).expand(2, K).sum(1).tolist() == [K, K]


def test_wgpu_softmax_of_a_row_past_the_loop_limit(wgpu_device):
    # one workgroup's three passes over 1.5 M elements ran 3 * 23,438 loop iterations per thread
    x = rand(1_500_000, seed=12, low=-3.0, high=3.0)
    x[-1] = 4.0
    t = torch.tensor(x, device=wgpu_device)
    shifted = x.astype(np.float64) - x.max()
    assert_close(t.softmax(0), np.exp(shifted) / np.exp(shifted).sum(), rtol=1e-4, atol=1e-12)
    assert_close(t.log_softmax(0), shifted - np.log(np.exp(shifted).sum()), rtol=1e-5, atol=1e-5)
