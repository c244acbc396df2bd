"""Zero-size and 0-d inputs through every op of ops/shape.py, ops/reduce.py and ops/linalg.py,
against PyTorch on cpu and wgpu: values, shapes, dtypes, gradients and exception types.

Each case is a function of (module, tensor) run once with ``torch`` and once with ``wgtorch``
on the same values; what PyTorch raises, wgtorch must raise with the same exception type."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch as pt

import wgtorch

# (PyTorch warns that var/std of fewer than 2 elements has no degrees of freedom)
pytestmark = pytest.mark.filterwarnings("ignore:.*degrees of freedom:UserWarning")

SHAPES = [(), (0,), (2, 0), (0, 3), (2, 0, 3), (0, 2, 3), (1, 0)]


def _mask(m, x):
    return m.zeros(x.shape, dtype=m.bool)


# name -> fn(module, x). x is float32 with requires_grad.
CASES = {
    # ---- ops/shape.py
    "reshape": lambda m, x: x.reshape(-1),
    "reshape_keep": lambda m, x: x.reshape(x.shape),
    "view_split": lambda m, x: x.reshape(x.shape + (1,)).view(x.shape + (1, 1)),
    "permute": lambda m, x: x.permute(*reversed(range(x.ndim))),
    "transpose": lambda m, x: x.transpose(0, -1),
    "t": lambda m, x: x.t(),
    "T_contiguous": lambda m, x: x.permute(*reversed(range(x.ndim))).contiguous(),
    "expand": lambda m, x: x.unsqueeze(0).expand((2,) + x.shape),
    "squeeze": lambda m, x: x.squeeze(),
    "squeeze_dim": lambda m, x: x.squeeze(0),
    "unsqueeze": lambda m, x: x.unsqueeze(-1),
    "flatten": lambda m, x: x.flatten(),
    "flatten_0_0": lambda m, x: x.flatten(0, 0),
    "flatten_bad": lambda m, x: x.flatten(-1, 0) if x.ndim > 1 else x.flatten(1, 0),
    "unflatten": lambda m, x: x.unflatten(0, (x.shape[0], 1)),
    "getitem_slice": lambda m, x: x[1:],
    "getitem_step": lambda m, x: x[::2],
    "getitem_ellipsis_none": lambda m, x: x[..., None],
    "getitem_int": lambda m, x: x[0],
    "getitem_mask": lambda m, x: x[_mask(m, x)],
    "getitem_index": lambda m, x: x[m.zeros(0, dtype=m.long)],
    "narrow": lambda m, x: x.narrow(-1, 0, 0),
    "select": lambda m, x: x.select(-1, 0),
    "clone": lambda m, x: x.clone(),
    "contiguous_view": lambda m, x: x[..., ::2].contiguous(),
    "cat": lambda m, x: m.cat([x, x * 2], 0),
    "cat_last": lambda m, x: m.cat([x, x], -1),
    "stack": lambda m, x: m.stack([x, x]),
    "stack_last": lambda m, x: m.stack([x, x], -1),
    "split": lambda m, x: x.split(2),
    "split_0": lambda m, x: x.split(0),
    "chunk": lambda m, x: x.chunk(4),
    "chunk_last": lambda m, x: x.chunk(3, -1),
    "unbind": lambda m, x: x.unbind(0),
    "unbind_last": lambda m, x: x.unbind(-1),
    # ---- ops/reduce.py
    "sum": lambda m, x: x.sum(),
    "sum_0": lambda m, x: x.sum(0),
    "sum_last_keep": lambda m, x: x.sum(-1, keepdim=True),
    "sum_all_dims": lambda m, x: x.sum(tuple(range(x.ndim))),
    "prod": lambda m, x: x.prod(),
    "prod_0": lambda m, x: x.prod(0),
    "mean": lambda m, x: x.mean(),
    "mean_last": lambda m, x: x.mean(-1),
    "amax": lambda m, x: x.amax(),
    "amax_0": lambda m, x: x.amax(0),
    "amin_last": lambda m, x: x.amin(-1),
    "max": lambda m, x: x.max(),
    "max_0": lambda m, x: x.max(0),
    "min_last": lambda m, x: x.min(-1),
    "argmax": lambda m, x: x.argmax(),
    "argmax_0": lambda m, x: x.argmax(0),
    "argmin_last_keep": lambda m, x: x.argmin(-1, keepdim=True),
    "var": lambda m, x: x.var(),
    "var_0": lambda m, x: x.var(0),
    "std": lambda m, x: x.std(),
    "std_last_c0": lambda m, x: x.std(-1, correction=0),
    "logsumexp_0": lambda m, x: x.logsumexp(0),
    "logsumexp_last": lambda m, x: x.logsumexp(-1),
    "softmax": lambda m, x: x.softmax(-1),
    "log_softmax": lambda m, x: x.log_softmax(0),
    # ---- ops/linalg.py
    "matmul_vec": lambda m, x: x @ x.new_ones(x.shape[-1:]) if x.ndim else x @ x,
    "matmul_mat": lambda m, x: x @ x.new_ones(x.shape[-1:] + (2,)),
    "matmul_left": lambda m, x: x.new_ones((2,) + x.shape[-2:-1]) @ x if x.ndim >= 2 else x @ x,
    "mm_t": lambda m, x: m.mm(x, x.t()) if x.ndim == 2 else m.mm(x, x),
    "mm_inner": lambda m, x: m.mm(x.t(), x) if x.ndim == 2 else m.mm(x, x),
    "bmm": lambda m, x: m.bmm(x, x.transpose(1, 2)) if x.ndim == 3 else m.bmm(x, x),
    "bmm_inner": lambda m, x: m.bmm(x.transpose(1, 2), x) if x.ndim == 3 else m.bmm(x, x),
    "dot": lambda m, x: m.dot(x, x),
}


def _values(shape):
    n = math.prod(shape)
    return (np.arange(n, dtype=np.float32) * 0.5 - 1.0).reshape(shape)


def _run(module, fn, x):
    try:
        return fn(module, x), None
    except Exception as e:  # noqa: BLE001 - the exception type is what is compared
        return None, e


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _compare(got, want, what):
    assert len(got) == len(want), f"{what}: {len(got)} outputs, PyTorch gives {len(want)}"
    for g, w in zip(got, want):
        assert isinstance(g, wgtorch.Tensor), f"{what}: got {type(g).__name__}"
        assert tuple(g.shape) == tuple(w.shape), f"{what}: shape {list(g.shape)} != {list(w.shape)}"
        assert g.dtype.name == str(w.dtype).removeprefix("torch."), f"{what}: dtype {g.dtype} != {w.dtype}"
        np.testing.assert_allclose(g.detach().cpu().numpy(), w.detach().numpy(), rtol=1e-5, atol=1e-6,
                                   equal_nan=True, err_msg=what)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(CASES))
def test_op_on_empty_and_0d_inputs_matches_torch(device, name, shape):
    fn = CASES[name]
    xt = pt.tensor(_values(shape), requires_grad=True)
    xw = wgtorch.tensor(_values(shape), device=device, requires_grad=True)
    want, want_err = _run(pt, fn, xt)
    got, got_err = _run(wgtorch, fn, xw)
    if want_err is not None:
        assert got_err is not None, f"PyTorch raises {type(want_err).__name__}: {want_err}; wgtorch gives {got}"
        assert isinstance(got_err, type(want_err)), f"{type(got_err).__name__}: {got_err} (PyTorch: " \
                                                   f"{type(want_err).__name__}: {want_err})"
        return
    if got_err is not None:
        raise got_err
    want, got = _flat(want), _flat(got)
    _compare(got, want, f"{name}{list(shape)} forward")
    # gradient of the sum of the float outputs
    pairs = [(g, w) for g, w in zip(got, want) if w.dtype.is_floating_point and w.requires_grad]
    if not pairs:
        return
    pt.stack([w.sum() for _, w in pairs]).sum().backward()
    wgtorch.stack([g.sum() for g, _ in pairs]).sum().backward()
    _compare([xw.grad], [xt.grad], f"{name}{list(shape)} gradient")


# Integer and bool inputs: reductions promote (sum/prod to int64) or refuse (mean, var).
INT_CASES = {
    "sum": lambda m, x: x.sum(),
    "sum_0": lambda m, x: x.sum(0),
    "prod_last": lambda m, x: x.prod(-1),
    "amax_0": lambda m, x: x.amax(0),
    "argmin_0": lambda m, x: x.argmin(0),
    "max_last": lambda m, x: x.max(-1),
    "mean": lambda m, x: x.mean(),
    "var": lambda m, x: x.var(),
    "logsumexp_0": lambda m, x: x.logsumexp(0),
    "cat": lambda m, x: m.cat([x, x]),
    "stack": lambda m, x: m.stack([x, x], -1),
    "mask": lambda m, x: x[_mask(m, x)],
    "contiguous": lambda m, x: x.transpose(0, -1).contiguous(),
}


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
@pytest.mark.parametrize("shape", [(), (0,), (2, 0), (0, 3)], ids=str)
@pytest.mark.parametrize("name", list(INT_CASES))
def test_integer_op_on_empty_and_0d_inputs_matches_torch(device, name, shape, dtype):
    fn = INT_CASES[name]
    values = (np.arange(math.prod(shape)) % 3).reshape(shape).astype(dtype)
    want, want_err = _run(pt, fn, pt.tensor(values))
    got, got_err = _run(wgtorch, fn, wgtorch.tensor(values, device=device))
    if want_err is not None:
        assert got_err is not None, f"PyTorch raises {type(want_err).__name__}: {want_err}; wgtorch gives {got}"
        assert isinstance(got_err, type(want_err)), f"{type(got_err).__name__}: {got_err} (PyTorch: {want_err})"
        return
    if got_err is not None:
        raise got_err
    _compare(_flat(got), _flat(want), f"{name}{list(shape)} {dtype}")


# In-place writes of empty and 0-d values, and their refusals.
INPLACE_CASES = {
    "setitem_empty_slice": lambda m, x: x.__setitem__(slice(0, 0), 1.0),
    "setitem_scalar": lambda m, x: x.__setitem__(..., 2.0),
    "setitem_tensor": lambda m, x: x.__setitem__(..., m.ones(x.shape[-1:])),
    "setitem_0d": lambda m, x: x.__setitem__(..., m.tensor(3.0)),
    "setitem_too_big": lambda m, x: x.__setitem__(..., m.ones((2,) + x.shape)),
    "copy_": lambda m, x: x.copy_(m.ones(x.shape[-1:])),
    "copy_0d": lambda m, x: x.copy_(m.tensor(4.0)),
    "copy_mismatch": lambda m, x: x.copy_(m.ones(x.shape + (2,))),
    "fill_": lambda m, x: x.fill_(5.0),
    "zero_": lambda m, x: x.zero_(),
}


@pytest.mark.parametrize("shape", [(), (0,), (2, 0), (0, 3), (2, 3)], ids=str)
@pytest.mark.parametrize("name", list(INPLACE_CASES))
def test_inplace_write_matches_torch(device, name, shape):
    fn = INPLACE_CASES[name]
    xt = pt.tensor(_values(shape))
    xw = wgtorch.tensor(_values(shape), device=device)
    _, want_err = _run(pt, fn, xt)
    _, got_err = _run(wgtorch, lambda m, x: fn(m, x) if m is pt else _on(device, fn, x), xw)
    if want_err is not None:
        assert got_err is not None, f"PyTorch raises {type(want_err).__name__}: {want_err}"
        assert isinstance(got_err, type(want_err)), f"{type(got_err).__name__}: {got_err} (PyTorch: {want_err})"
    elif got_err is not None:
        raise got_err
    _compare([xw], [xt], f"{name}{list(shape)}")


def _on(device, fn, x):
    """fn with wgtorch, its new tensors made on ``device``."""

    class Module:
        tensor = staticmethod(lambda v: wgtorch.tensor(v, device=device))
        ones = staticmethod(lambda shape: wgtorch.ones(shape, device=device))

    return fn(Module, x)


# Gradients PyTorch keeps finite (or gives exactly), where the plain formulas divide by zero.
NAN = float("nan")
GRAD_CASES = [
    ("std_constant_row", [[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]], lambda x: x.std(1)),
    ("std_constant_all", [[2.0, 2.0], [2.0, 2.0]], lambda x: x.std()),
    ("std_c0_single", [[3.0]], lambda x: x.std(1, correction=0)),
    ("prod_one_zero", [2.0, 0.0, 3.0], lambda x: x.prod()),
    ("prod_two_zeros", [2.0, 0.0, 0.0], lambda x: x.prod()),
    ("prod_dim_zeros", [[0.0, 2.0, 3.0], [0.0, 0.0, 1.0], [1.0, 2.0, 4.0]], lambda x: x.prod(1)),
    ("prod_dim0_zeros", [[0.0, 2.0, 3.0], [5.0, 0.0, 1.0]], lambda x: x.prod(0, keepdim=True)),
    ("prod_size1_dim", [[0.0], [2.0]], lambda x: x.prod(1)),
    ("var_n1", [1.0], lambda x: x.var()),
    ("var_dof0_all", [1.0, 2.0], lambda x: x.var(correction=2)),
    ("var_dof_neg_all", [[1.0, 2.0], [3.0, 3.0]], lambda x: x.var(correction=5)),
    ("var_dof0_dim", [[1.0, 2.0], [3.0, 3.0]], lambda x: x.var(1, correction=2)),
    ("var_dof_neg_dim", [1.0, 2.0, 4.0], lambda x: x.var(0, correction=5)),
    ("var_0d", 3.0, lambda x: x.var()),
    ("std_dof0", [1.0, 2.0], lambda x: x.std(correction=2)),
    ("std_dof_neg_dim", [1.0, 2.0], lambda x: x.std(0, correction=3)),
    ("std_0d_c0", 3.0, lambda x: x.std(correction=0)),
    ("var_fractional", [1.0, 2.0, 3.0], lambda x: x.var(correction=0.5)),
    ("logsumexp_neg_inf_row", [[-float("inf")] * 2, [0.0, 1.0]], lambda x: x.logsumexp(1)),
]


@pytest.mark.parametrize("name,values,fn", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_where_the_formula_divides_by_zero_match_torch(device, name, values, fn):
    xt = pt.tensor(values, requires_grad=True)
    xw = wgtorch.tensor(values, device=device, requires_grad=True)
    yt, yw = fn(xt), fn(xw)
    _compare([yw], [yt], f"{name} forward")
    yt.sum().backward()
    yw.sum().backward()
    _compare([xw.grad], [xt.grad], f"{name} gradient")


@pytest.mark.parametrize("op", ["sum", "mean"])
def test_float16_reductions_accumulate_in_float32_like_torch(device, op):
    # 70,000 x 1000 overflows float16 (max 65,504) long before the mean (the sum is inf, as in torch)
    values = np.full(70_000, 1000.0, np.float16)
    want = getattr(pt.tensor(values), op)()
    got = getattr(wgtorch.tensor(values, device=device), op)()
    assert got.dtype is wgtorch.float16
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-3)
    rows = np.stack([values, values])
    np.testing.assert_allclose(getattr(wgtorch.tensor(rows, device=device), op)(1).numpy().astype(np.float64),
                               getattr(pt.tensor(rows), op)(1).numpy().astype(np.float64), rtol=1e-3)


def test_invalid_arguments_raise_like_torch(device):
    with pytest.raises(RuntimeError, match="start_dim cannot come after end_dim"):
        wgtorch.zeros(3, 7, device=device).flatten(1, 0)
    with pytest.raises(RuntimeError, match="'weight' must be 2-D"):
        wgtorch.nn.functional.embedding(wgtorch.tensor([0], device=device), wgtorch.ones(3, device=device))
    with pytest.raises(RuntimeError, match="'weight' must be 2-D"):
        wgtorch.nn.functional.embedding(wgtorch.tensor([0], device=device), wgtorch.ones(3, 2, 2, device=device))
    with pytest.raises(RuntimeError, match="std and var only support floating point"):
        wgtorch.tensor([1, 2], device=device).var()


# Arguments PyTorch refuses: the same exception type, on (2, 3) float tensors.
BAD_ARGS = {
    "expand_negative": lambda m, x: x[:1].expand(-2, 3),
    "expand_leading_minus_one": lambda m, x: x.expand(-1, 2, 3),
    "expand_mismatch": lambda m, x: x.expand(2, 4),
    "view_two_minus_ones": lambda m, x: x.view(-1, -1),
    "reshape_bad_size": lambda m, x: x.reshape(4, -1),
    "unflatten_bad": lambda m, x: x.unflatten(1, (2, 2)),
    "squeeze_dim_out_of_range": lambda m, x: x.squeeze(5),
    "narrow_negative_length": lambda m, x: x.narrow(0, 1, -1),
    "narrow_too_long": lambda m, x: x.narrow(0, 1, 5),
    "narrow_start_out_of_range": lambda m, x: x.narrow(0, -3, 1),
    "split_negative_size": lambda m, x: x.split([1, -1, 3], 1),
    "split_bad_sum": lambda m, x: x.split([1, 1], 1),
    "select_out_of_range": lambda m, x: x.select(1, 3),
    "transpose_out_of_range": lambda m, x: x.transpose(0, 2),
    "stack_dim_out_of_range": lambda m, x: m.stack([x, x], 4),
    "stack_mismatch": lambda m, x: m.stack([x, x[:1]]),
    "cat_mismatch": lambda m, x: m.cat([x, x[:, :1].t()], 0),
    "chunk_zero": lambda m, x: x.chunk(0),
    "unbind_out_of_range": lambda m, x: x.unbind(2),
    "permute_repeated": lambda m, x: x.permute(0, 0),
    "permute_too_few": lambda m, x: x.permute(0),
    "flatten_reversed": lambda m, x: x.flatten(1, 0),
    "flatten_out_of_range": lambda m, x: x.flatten(0, 5),
    "sum_dim_out_of_range": lambda m, x: x.sum(dim=5),
    "sum_repeated_dim": lambda m, x: x.sum((0, 0)),
    "mean_int_dtype": lambda m, x: x.mean(dtype=m.int32),
    "var_dim_out_of_range": lambda m, x: x.var(5),
    "std_unbiased_and_correction": lambda m, x: x.std(unbiased=False, correction=1),
    "amax_empty_dim": lambda m, x: x[:0].amax(0),
    "mm_shapes": lambda m, x: m.mm(x, x),
    "bmm_batch": lambda m, x: m.bmm(x.expand(2, 2, 3), x.t().expand(3, 3, 2)),
    "matmul_batch": lambda m, x: m.matmul(x.expand(2, 2, 3), x.t().expand(3, 3, 2)),
    "matmul_0d": lambda m, x: m.matmul(x[0, 0], x),
    "dot_sizes": lambda m, x: m.dot(x[0], x[0, :2]),
    "dot_2d": lambda m, x: m.dot(x, x),
}


@pytest.mark.parametrize("name", list(BAD_ARGS))
def test_bad_arguments_raise_like_torch(device, name):
    fn = BAD_ARGS[name]
    want, want_err = _run(pt, fn, pt.tensor(_values((2, 3))))
    assert want_err is not None, f"PyTorch accepts {name}: the case is wrong"
    got, got_err = _run(wgtorch, fn, wgtorch.tensor(_values((2, 3)), device=device))
    assert got_err is not None, f"PyTorch raises {type(want_err).__name__}: {want_err}; wgtorch gives {got}"
    assert isinstance(got_err, type(want_err)), f"{type(got_err).__name__}: {got_err} (PyTorch: " \
                                               f"{type(want_err).__name__}: {want_err})"


F16_CASES = ["sum", "sum_0", "mean", "mean_last", "amax_0", "argmax_0", "max_0", "softmax", "logsumexp_last",
             "cat", "stack", "T_contiguous", "getitem_mask", "matmul_mat", "var_0"]


@pytest.mark.parametrize("shape", [(), (0,), (2, 0), (0, 3)], ids=str)
@pytest.mark.parametrize("name", F16_CASES)
def test_float16_op_on_empty_and_0d_inputs_matches_torch(device, name, shape):
    fn = CASES[name]
    values = _values(shape).astype(np.float16)
    want, want_err = _run(pt, fn, pt.tensor(values))
    got, got_err = _run(wgtorch, fn, wgtorch.tensor(values, device=device))
    if want_err is not None:
        assert isinstance(got_err, type(want_err)), f"{got_err!r} (PyTorch: {want_err!r})"
        return
    if got_err is not None:
        raise got_err
    _compare(_flat(got), _flat(want), f"{name}{list(shape)} float16")
