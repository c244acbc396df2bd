"""The addmm family, addcmul/addcdiv, lerp's dtype rule, gcd/lcm/logaddexp2, and the small API
(flags, print options, dtype questions, Tensor.sum_to_size/nbytes/itemsize/is_contiguous,
new_*) against PyTorch on cpu and wgpu: values, dtypes, shapes, gradients and exception types."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import wgtorch as wt


class Lib:
    """``torch`` (on cpu) or ``wgtorch`` on the device under test, with ``t`` to build inputs."""

    def __init__(self, mod, device):
        self.mod, self.device = mod, device

    def t(self, a, dtype="float32", grad=False):
        a = np.asarray(a).astype(dtype)
        x = self.mod.tensor(a) if self.mod is torch else self.mod.tensor(a, device=self.device)
        return x.requires_grad_() if grad else x

    def __getattr__(self, name):
        return getattr(self.mod, name)


def _np(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x.detach().numpy()


def _dt(x) -> str:
    return str(x.dtype).split(".")[-1].replace("bool_", "bool")


def check(device, fn, rtol=1e-5, atol=1e-5, grads=True):
    """fn(L) on both libraries: same values/dtype/shape (and .grad of the inputs fn marks), or
    the same exception type."""
    libs = Lib(torch, "cpu"), Lib(wt, device)
    outs = []
    for lib in libs:
        try:
            outs.append(("ok", fn(lib)))
        except Exception as e:  # noqa: BLE001  (the type is what is compared)
            outs.append(("err", type(e)))
    (kt, t), (kw, w) = outs
    assert kt == kw, (outs, fn)
    if kt == "err":
        assert w is t or issubclass(w, t), (t, w)
        return
    t, *t_in = t if isinstance(t, tuple) else (t,)
    w, *w_in = w if isinstance(w, tuple) else (w,)
    assert _dt(t) == _dt(w) and tuple(t.shape) == tuple(w.shape), (t, w)
    np.testing.assert_allclose(_np(w).astype(np.float64), _np(t).astype(np.float64), rtol=rtol, atol=atol)
    if grads and t_in and t.dtype.is_floating_point:
        torch.manual_seed(0)
        g = torch.randn(t.shape)
        t.backward(g)
        w.backward(wt.tensor(g.numpy(), device=device))
        for a, b in zip(t_in, w_in):
            np.testing.assert_allclose(_np(b.grad), _np(a.grad), rtol=1e-4, atol=1e-4)


def _r(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# -- addmm family ------------------------------------------------------------------------------------
def _addmm(shape_in, m, k, n, beta=1, alpha=1, t1=False):
    def fn(L):
        x = L.t(_r(*shape_in, seed=1), grad=True)
        a = L.t(_r(k, m, seed=2) if t1 else _r(m, k, seed=2), grad=True)
        b = L.t(_r(k, n, seed=3), grad=True)
        return L.addmm(x, a.t() if t1 else a, b, beta=beta, alpha=alpha), x, a, b

    return fn


@pytest.mark.parametrize(
    "case",
    [
        ((2, 3), 2, 4, 3, 1, 1),
        ((3,), 2, 4, 3, 0.5, 2.0),
        ((1, 1), 5, 7, 3, 0, 1),
        ((), 3, 2, 4, 1, -1),
        ((65, 63), 65, 64, 63, 2, 0.5),
        ((0, 3), 0, 4, 3, 1, 1),
        ((2, 3), 2, 0, 3, 1, 1),
    ],
    ids=str,
)
def test_addmm(device, case):
    check(device, _addmm(*case), rtol=1e-4, atol=1e-4)


def test_addmm_transposed_operand(device):
    check(device, _addmm((4, 5), 4, 3, 5, t1=True), rtol=1e-4, atol=1e-4)


def test_addmm_beta_zero_ignores_nan(device):
    check(
        device,
        lambda L: L.addmm(L.t(np.full((2, 3), np.nan)), L.t(_r(2, 4)), L.t(_r(4, 3)), beta=0),
        rtol=1e-5,
        atol=1e-5,
    )
    check(device, lambda L: L.addmm(L.t(np.full((2, 3), np.nan)), L.t(_r(2, 4)), L.t(_r(4, 3)), beta=1))


@pytest.mark.parametrize("k", range(7))
def test_addmm_errors(device, k):
    cases = [
        lambda L: L.addmm(L.t(_r(2, 3)), L.t(_r(4)), L.t(_r(4, 3))),
        lambda L: L.addmm(L.t(_r(2, 3)), L.t(_r(2, 4)), L.t(_r(4))),
        lambda L: L.addmm(L.t(_r(4, 3)), L.t(_r(2, 4)), L.t(_r(4, 3))),
        lambda L: L.addmm(L.t(_r(2, 3)), L.t(_r(2, 4)), L.t(_r(5, 3))),
        lambda L: L.addmv(L.t(_r(2)), L.t(_r(2, 4)), L.t(_r(2, 4))),
        lambda L: L.addr(L.t(_r(2, 3)), L.t(_r(2, 1)), L.t(_r(3))),
        lambda L: L.addbmm(L.t(_r(2, 3)), L.t(_r(5, 2, 4)), L.t(_r(6, 4, 3))),
    ]
    check(device, cases[k])


def test_addmm_integers_on_cpu():
    check(
        "cpu",
        lambda L: L.addmm(
            L.t([[1, 2]], "int64"), L.t([[1, 2], [3, 4]], "int64"), L.t([[5, 6], [7, 8]], "int64"), beta=2, alpha=3
        ),
    )
    check("cpu", lambda L: L.addmm(L.t([[1, 2]], "int64"), L.t([[1, 2]], "int64"), L.t([[5], [7]], "int64"), beta=0.5))


def test_addmv_addr(device):
    check(
        device,
        lambda L: (lambda x, m, v: (L.addmv(x, m, v, beta=0.5, alpha=2), x, m, v))(
            L.t(_r(3), grad=True), L.t(_r(3, 5, seed=1), grad=True), L.t(_r(5, seed=2), grad=True)
        ),
        rtol=1e-4,
    )
    check(
        device,
        lambda L: (lambda x, a, b: (L.addr(x, a, b, alpha=2), x, a, b))(
            L.t(_r(3, 1), grad=True), L.t(_r(3, seed=1), grad=True), L.t(_r(4, seed=2), grad=True)
        ),
        rtol=1e-4,
    )
    check(device, lambda L: L.addr(L.t(np.zeros((2, 3)), "bool"), L.t([1, 0], "bool"), L.t([1, 0, 1], "bool")))


def test_baddbmm_addbmm(device):
    def bad(L):
        x, a, b = L.t(_r(2, 3), grad=True), L.t(_r(5, 2, 4, seed=1), grad=True), L.t(_r(5, 4, 3, seed=2), grad=True)
        return L.baddbmm(x, a, b, beta=0.5, alpha=1.5), x, a, b

    def add(L):
        x, a, b = L.t(_r(2, 3), grad=True), L.t(_r(5, 2, 4, seed=1), grad=True), L.t(_r(5, 4, 3, seed=2), grad=True)
        return L.addbmm(x, a, b, beta=2, alpha=0.5), x, a, b

    check(device, bad, rtol=1e-4, atol=1e-4)
    check(device, add, rtol=1e-4, atol=1e-4)
    check(device, lambda L: L.addbmm(L.t(_r(2, 3)), L.t(np.zeros((0, 2, 4))), L.t(np.zeros((0, 4, 3)))))


def test_inplace_blas_methods(device):
    check(device, lambda L: L.t(_r(2, 3)).addmm_(L.t(_r(2, 4, seed=1)), L.t(_r(4, 3, seed=2)), alpha=2), rtol=1e-4)
    check(device, lambda L: L.t(_r(3)).addmv_(L.t(_r(3, 4, seed=1)), L.t(_r(4, seed=2))), rtol=1e-4)
    check(device, lambda L: L.t(_r(3, 4)).addr_(L.t(_r(3, seed=1)), L.t(_r(4, seed=2))), rtol=1e-4)
    check(device, lambda L: L.t(_r(2, 2, 3)).baddbmm_(L.t(_r(2, 2, 4, seed=1)), L.t(_r(2, 4, 3, seed=2))), rtol=1e-4)
    check(device, lambda L: L.t(_r(2, 3)).addbmm_(L.t(_r(2, 2, 4, seed=1)), L.t(_r(2, 4, 3, seed=2))), rtol=1e-4)
    check(device, lambda L: L.t(_r(3)).addmm_(L.t(_r(2, 4, seed=1)), L.t(_r(4, 3, seed=2))))  # shape error


# -- addcmul / addcdiv -------------------------------------------------------------------------------
def test_addcmul_addcdiv(device):
    def cmul(L):
        x, a, b = L.t(_r(1, 3), grad=True), L.t(_r(2, 1, seed=1), grad=True), L.t(_r(3, seed=2), grad=True)
        return L.addcmul(x, a, b, value=0.5), x, a, b

    def cdiv(L):
        x, a, b = L.t(_r(2, 3), grad=True), L.t(_r(2, 3, seed=1), grad=True), L.t(_r(3, seed=2) + 3, grad=True)
        return x.addcdiv(a, b, value=-2), x, a, b

    check(device, cmul)
    check(device, cdiv, rtol=1e-4)
    check(device, lambda L: L.addcmul(L.t([1, 2], "int32"), L.t([3, 4], "int32"), L.t([5, 6], "int32"), value=2))
    check(device, lambda L: L.addcmul(L.t([1, 2], "int64"), L.t([3, 4], "int64"), L.t([5, 6], "int64"), value=0.5))
    check(device, lambda L: L.addcmul(L.t([1, 2], "int32"), L.t([1.5, 2]), L.t([2.0, 2])))
    check(device, lambda L: L.addcdiv(L.t([1, 2], "int32"), L.t([3, 4], "int32"), L.t([5, 6], "int32")))
    check(device, lambda L: L.t(_r(2, 3)).addcmul_(L.t(_r(2, 3, seed=1)), L.t(_r(3, seed=2)), value=3))
    check(device, lambda L: L.t(_r(2, 3)).addcdiv_(L.t(_r(2, 3, seed=1)), L.t(_r(3, seed=2) + 4)), rtol=1e-4)
    check(device, lambda L: L.t(_r(1)).addcmul_(L.t(_r(2, 1)), L.t(_r(3))))  # broadcast beyond self
    check(device, lambda L: L.t([1, 2], "int64").addcmul_(L.t([1.0, 1]), L.t([1.0, 1])))  # float into long
    check(device, lambda L: L.addcdiv(L.t(np.zeros(0)), L.t(np.zeros(0)), L.t(np.zeros(0))))


# -- lerp's dtypes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("k", range(8))
def test_lerp_dtype_rule(device, k):
    f64 = "float32" if device == "wgpu" else "float64"  # wgpu has no float64: the float16 cases cover it
    other = "float16" if device == "wgpu" else f64
    cases = [
        lambda L: L.lerp(L.t([1.0, 2]), L.t([0.0, 0]), L.t([0.5, 0.5], other)),
        lambda L: L.lerp(L.t([1.0, 2]), L.t(0.0, other), 0.5),
        lambda L: L.lerp(L.t([1.0, 2]), L.t([0.0, 0]), L.t(0.25, other)),  # a 0-d weight may differ
        lambda L: L.lerp(L.t([1.0, 2]), L.t([0.0, 0]), L.t(1, "int64")),
        lambda L: L.lerp(L.t([1.0, 2]), L.t([[0.0], [3]]), L.t([[[0.25]], [[0.75]], [[2.0]]])),
        lambda L: L.t([1.0, 2]).lerp_(L.t([0.0, 0]), L.t([1.0, 1], other)),
        lambda L: L.lerp(L.t([1, 2], "int32"), L.t([0, 0], "int32"), 0.5),
        lambda L: L.lerp(L.t([1.0, 2]), L.t([0.0, 0]), 0.3),
    ]
    check(device, cases[k])


# -- gcd, lcm, logaddexp2 ----------------------------------------------------------------------------
_A = [12, -8, 0, 0, 7, 1, -1, 2**20 * 3, 97, 46368, -(2**31) + 1, 2**31 - 1]
_B = [18, 12, 5, 0, -21, 0, -1, 2**18 * 9, 89, 28657, 3, 2**31 - 2]


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_gcd_lcm(device, dtype):
    for op in ("gcd", "lcm"):
        # int64 is stored as int32 on wgpu: an lcm past 2**31 wraps there (int32 itself wraps in PyTorch too)
        n = len(_A) - 2 if (op, dtype, device) == ("lcm", "int64", "wgpu") else len(_A)
        a, b = _A[:n], _B[:n]
        check(device, lambda L, op=op, a=a, b=b: getattr(L, op)(L.t(a, dtype), L.t(b, dtype)))
        check(device, lambda L, op=op, a=a, b=b: getattr(L.t(a, dtype), op)(L.t(b, dtype)))
        check(device, lambda L, op=op, a=a, b=b: getattr(L.t(a, dtype), op + "_")(L.t(b, dtype)))
        # broadcast, non-contiguous, zero-size, 0-d
        check(
            device,
            lambda L, op=op: getattr(L, op)(
                L.t(np.arange(-30, 30).reshape(6, 10), dtype).t(), L.t([4, 6, 9, 10, 15, 0], dtype)
            ),
        )
        check(device, lambda L, op=op: getattr(L, op)(L.t(np.zeros((0, 3)), dtype), L.t([1, 2, 3], dtype)))
        check(device, lambda L, op=op: getattr(L, op)(L.t(24, dtype), L.t(36, dtype)))


def test_gcd_wide_inputs(device):
    a = np.random.default_rng(0).integers(-(10**6), 10**6, 257)
    b = np.random.default_rng(1).integers(-(10**6), 10**6, 257)
    check(device, lambda L: L.gcd(L.t(a, "int32"), L.t(b, "int32")))
    check(device, lambda L: L.lcm(L.t(a % 1000, "int32"), L.t(b % 1000, "int32")))


@pytest.mark.parametrize("dtype", ["float32", "bool"])
def test_gcd_lcm_refuse_non_integers(device, dtype):
    check(device, lambda L: L.gcd(L.t([1, 2], dtype), L.t([2, 2], dtype)))
    check(device, lambda L: L.lcm(L.t([1, 2], dtype), L.t([2, 2], dtype)))


def test_gcd_mixed_int_dtypes_on_cpu():
    check("cpu", lambda L: L.gcd(L.t([12], "int32"), L.t([8], "int64")))
    check("cpu", lambda L: L.gcd(L.t([12, 200], "uint8"), L.t([8, 150], "uint8")))


def test_logaddexp2(device):
    a = [1.0, -1e30, 0.0, np.inf, -np.inf, np.inf, 100.0, -3.5, np.nan]
    b = [1.0, 2.0, -50.0, np.inf, -np.inf, -np.inf, 99.0, 7.25, 0.0]
    check(device, lambda L: L.logaddexp2(L.t(a), L.t(b)))

    def grad(L):
        x, y = L.t(_r(3, 4), grad=True), L.t(_r(4, seed=1) * 3, grad=True)
        return L.logaddexp2(x, y), x, y

    check(device, grad, rtol=1e-5, atol=1e-6)
    check(device, lambda L: L.logaddexp2(L.t([1, 2], "int64"), L.t([1, 2], "int64")))
    check(device, lambda L: L.t(_r(5)).logaddexp2(L.t(_r(5, seed=3))))


# -- flags -------------------------------------------------------------------------------------------
def test_deterministic_flags():
    assert wt.are_deterministic_algorithms_enabled() is False
    try:
        wt.use_deterministic_algorithms(True, warn_only=True)
        assert wt.are_deterministic_algorithms_enabled() and wt.is_deterministic_algorithms_warn_only_enabled()
    finally:
        wt.use_deterministic_algorithms(False)
    with pytest.raises(TypeError):
        torch.use_deterministic_algorithms(1)
    with pytest.raises(TypeError):
        wt.use_deterministic_algorithms(1)
    assert not wt.are_deterministic_algorithms_enabled()


def test_matmul_precision_and_threads():
    assert wt.get_float32_matmul_precision() == torch.get_float32_matmul_precision() == "highest"
    try:
        wt.set_float32_matmul_precision("high")
        assert wt.get_float32_matmul_precision() == "high" and wt.backends.cuda.matmul.allow_tf32
        with pytest.warns(UserWarning):
            wt.set_float32_matmul_precision("bad")
        assert wt.get_float32_matmul_precision() == "high"
    finally:
        wt.set_float32_matmul_precision("highest")
    assert not wt.backends.cuda.matmul.allow_tf32
    n = wt.get_num_threads()
    assert isinstance(n, int) and n >= 1
    try:
        wt.set_num_threads(3)
        assert wt.get_num_threads() == 3
    finally:
        wt.set_num_threads(n)
    for bad in (0, 1.5):
        with pytest.raises(RuntimeError):
            torch.set_num_threads(bad)
        with pytest.raises(RuntimeError):
            wt.set_num_threads(bad)
    assert wt.get_num_interop_threads() >= 1


@pytest.fixture
def print_defaults():
    yield
    wt.set_printoptions(profile="default")
    torch.set_printoptions(profile="default")


@pytest.mark.parametrize(
    "opts",
    [
        {"precision": 2},
        {"precision": 6},
        {"sci_mode": True},
        {"sci_mode": True, "precision": 3},
        {"threshold": 5},
        {"threshold": 5, "edgeitems": 1},
        {"profile": "short"},
    ],
    ids=str,
)
def test_set_printoptions_like_torch(print_defaults, opts):
    values = [[1.23456789, -2.5, 1000.125], [0.001, 3.0, -7.75]]
    wt.set_printoptions(**opts)
    torch.set_printoptions(**opts)
    assert repr(wt.tensor(values)) == repr(torch.tensor(values))
    assert repr(wt.arange(12.0) + 0.5) == repr(torch.arange(12.0) + 0.5)


def test_set_printoptions_reset(print_defaults):
    before = repr(wt.tensor([1.23456, 2.0]))
    wt.set_printoptions(precision=1, linewidth=20)
    assert repr(wt.tensor([1.23456, 2.0])) != before
    wt.set_printoptions(profile="default")
    assert repr(wt.tensor([1.23456, 2.0])) == before
    with pytest.raises(ValueError):
        wt.set_printoptions(profile="tiny")


# -- dtype questions ---------------------------------------------------------------------------------
_DTYPES = ["bool", "uint8", "int32", "int64", "float16", "float32", "float64"]


def test_promote_types_and_can_cast_all_pairs():
    for a in _DTYPES:
        for b in _DTYPES:
            ta, tb, wa, wb = (
                getattr(torch, a),
                getattr(torch, b),
                getattr(wt, a if a != "bool" else "bool"),
                getattr(wt, b),
            )
            assert wt.promote_types(wa, wb).name == str(torch.promote_types(ta, tb)).split(".")[1], (a, b)
            assert wt.can_cast(wa, wb) == torch.can_cast(ta, tb), (a, b)
    with pytest.raises(TypeError):
        torch.promote_types(1, torch.int32)
    with pytest.raises(TypeError):
        wt.promote_types(1, wt.int32)


def test_result_type_like_torch(device):
    def lib_args(L):
        return [
            L.t([1, 2], "int32"),
            L.t(1.0, "float64" if device == "cpu" else "float32"),
            L.t([1.0], "float16"),
            L.t([True], "bool"),
            1,
            2.5,
            True,
        ]

    targs, wargs = lib_args(Lib(torch, "cpu")), lib_args(Lib(wt, device))
    for i in range(len(targs)):
        for j in range(len(targs)):
            want = str(torch.result_type(targs[i], targs[j])).split(".")[1]
            assert wt.result_type(wargs[i], wargs[j]).name == want, (i, j)


def test_is_floating_point_complex_nonzero(device):
    x = wt.ones(2, device=device)
    assert wt.is_floating_point(x) and not wt.is_floating_point(x.int()) and x.is_floating_point()
    assert not wt.is_complex(x) and not x.is_complex()
    with pytest.raises(TypeError):
        wt.is_floating_point(1.0)
    for v, ok in (([0.0], False), ([3], True), (math.nan, True), (0, False)):
        assert wt.is_nonzero(wt.tensor(v, device=device)) is ok is torch.is_nonzero(torch.tensor(v))
        assert wt.tensor(v, device=device).is_nonzero() is ok
    for v in ([1, 2], []):
        with pytest.raises(RuntimeError):
            torch.is_nonzero(torch.tensor(v))
        with pytest.raises(RuntimeError):
            wt.is_nonzero(wt.tensor(v, device=device))


# -- Tensor methods and properties -------------------------------------------------------------------
@pytest.mark.parametrize("size", [(1, 3), (3,), (2, 1), (1, 1), (), (2, 3), (4, 3), (1, 1, 3), (2,)], ids=str)
def test_sum_to_size(device, size):
    def fn(L):
        x = L.t(_r(2, 3), grad=True)
        return x.sum_to_size(*size), x

    check(device, fn)


def test_sum_to_size_view_and_tuple(device):
    check(device, lambda L: L.t(_r(4, 5)).t().sum_to_size((1, 4)))
    check(device, lambda L: L.t(_r(4, 1, 5)).sum_to_size([4, 1, 1]))


def test_nbytes_itemsize_element_size(device):
    for dt in ("float32", "int64", "bool", "float16"):
        t, w = torch.zeros(3, 5, dtype=getattr(torch, dt)), wt.zeros(3, 5, dtype=getattr(wt, dt), device=device)
        assert (w.nbytes, w.itemsize, w.element_size()) == (t.nbytes, t.itemsize, t.element_size())
    assert wt.zeros(0, 4).nbytes == 0


@pytest.mark.parametrize("k", range(8))
def test_is_contiguous_memory_format(device, k):
    shapes = [
        lambda L: L.zeros(2, 3, 4, 5),
        lambda L: L.zeros(2, 4, 5, 3).permute(0, 3, 1, 2),
        lambda L: L.zeros(2, 3),
        lambda L: L.zeros(1, 3, 4, 5, 6),
        lambda L: L.zeros(1, 4, 5, 6, 3).permute(0, 4, 1, 2, 3),
        lambda L: L.zeros(2, 1, 4, 5),
        lambda L: L.zeros(2, 4, 5, 3).permute(0, 3, 1, 2)[:, :, ::2],
        lambda L: L.zeros(3, 4).t(),
    ]
    t = shapes[k](torch)
    w = shapes[k](_OnDevice(device))  # the view is built on the device (.to() would copy)
    for fmt in ("contiguous_format", "channels_last", "channels_last_3d", "preserve_format"):
        assert w.is_contiguous(memory_format=getattr(wt, fmt)) == t.is_contiguous(memory_format=getattr(torch, fmt)), (
            fmt
        )
    assert w.is_contiguous() == t.is_contiguous()


class _OnDevice:
    def __init__(self, device):
        self.device = device

    def zeros(self, *shape):
        return wt.zeros(*shape, device=self.device)


def test_new_methods_and_clone(device):
    x = wt.ones(2, device=device)
    y = x.new_zeros((2, 3), requires_grad=True)
    assert y.requires_grad and y.dtype is wt.float32 and y.device == x.device and tuple(y.shape) == (2, 3)
    assert x.new_tensor([1, 2]).dtype is wt.float32
    assert x.new_tensor([1, 2], dtype=wt.int64).dtype is wt.int64
    assert x.new_full((2,), 3, requires_grad=True).requires_grad
    assert x.new_ones(3, dtype=wt.int32).dtype is wt.int32
    assert x.new_empty((0,)).shape == (0,)
    assert x.new_zeros(2, device="cpu").device.type == "cpu"
    c = x.clone(memory_format=wt.contiguous_format)
    np.testing.assert_array_equal(c.numpy(), x.numpy())
    assert x.clone(memory_format=wt.preserve_format).shape == x.shape


def test_api_surface():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in (
            "addmm",
            "addmv",
            "addr",
            "baddbmm",
            "addbmm",
            "addcmul",
            "addcdiv",
            "gcd",
            "lcm",
            "logaddexp2",
            "result_type",
            "promote_types",
            "can_cast",
            "is_nonzero",
            "set_printoptions",
            "bernoulli",
            "normal",
            "poisson",
            "multinomial",
            "randint_like",
            "get_rng_state",
            "set_rng_state",
            "use_deterministic_algorithms",
            "set_num_threads",
            "channels_last_3d",
        ):
            assert hasattr(wt, name) and hasattr(torch, name), name
        for name in (
            "addmm_",
            "addcmul_",
            "addcdiv_",
            "gcd_",
            "lcm_",
            "sum_to_size",
            "normal_",
            "uniform_",
            "random_",
            "exponential_",
            "geometric_",
            "cauchy_",
            "log_normal_",
            "bernoulli_",
            "multinomial",
        ):
            assert hasattr(wt.Tensor, name) and hasattr(torch.Tensor, name), name
