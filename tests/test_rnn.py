"""Recurrent layers (nn.RNN / LSTM / GRU and their cells) against float64 NumPy references of
PyTorch's equations (``rnn_reference.py``): outputs, final states and every gradient (input, initial
states, each parameter), on cpu and wgpu; state-dict names, init, dropout, errors, dispatch
counts and the sequence_gru example."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import wgtorch
from tests.rnn_reference import GATES, cell_backward, cell_forward, ref_module, ref_params
from wgtorch.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

ROOT = Path(__file__).resolve().parents[1]


def test_reference_gradients_match_finite_differences():
    """The reference backward itself, against central differences in float64."""
    rng = np.random.default_rng(5)
    T, B, I, H, L, D = 3, 2, 2, 3, 2, 2
    for mode in GATES:
        params = ref_params(mode, I, H, L, D, True, seed=3)
        x = rng.normal(size=(T, B, I))
        h0, c0 = rng.normal(size=(L * D, B, H)), rng.normal(size=(L * D, B, H))
        wo, wh, wc = rng.normal(size=(T, B, D * H)), rng.normal(size=(L * D, B, H)), rng.normal(size=(L * D, B, H))

        def loss(x, h0, c0, params, mode=mode, wo=wo, wh=wh, wc=wc):
            out, hn, cn, _ = ref_module(mode, x, h0, c0, params, L, D, wo, wh, wc)
            return (out * wo).sum() + (hn * wh).sum() + ((cn * wc).sum() if cn is not None else 0)

        _, _, _, (dx, dh0, dc0, grads) = ref_module(mode, x, h0, c0, params, L, D, wo, wh, wc)
        targets = [(x, dx), (h0, dh0)] + ([(c0, dc0)] if mode == "LSTM" else [])
        targets += [(params[k], grads[k]) for k in params]
        for arr, analytic in targets:
            num = np.zeros_like(arr)
            for i in range(arr.size):
                keep = arr.flat[i]
                arr.flat[i] = keep + 1e-6
                up = loss(x, h0, c0, params)
                arr.flat[i] = keep - 1e-6
                num.flat[i] = (up - loss(x, h0, c0, params)) / 2e-6
                arr.flat[i] = keep
            np.testing.assert_allclose(analytic, num, rtol=1e-5, atol=1e-6, err_msg=mode)


# -- modules against the reference ------------------------------------------------------------------
MODULES = {"RNN_TANH": (RNN, {"nonlinearity": "tanh"}), "RNN_RELU": (RNN, {"nonlinearity": "relu"}),
           "LSTM": (LSTM, {}), "GRU": (GRU, {})}
# (T, B, I, H, layers, bidirectional, batch_first, with h0, bias, unbatched, loss parts)
CONFIGS = {
    "1layer": (4, 3, 5, 6, 1, False, False, True, True, False, "all"),
    "2layer_bidir_batch_first_h13": (3, 2, 4, 13, 2, True, True, False, True, False, "all"),
    "seq1_batch1_bidir_h64": (1, 1, 3, 64, 1, True, False, True, True, False, "all"),  # B*H = 64 = WG
    "2layer_unbatched_nobias": (3, None, 4, 5, 2, False, False, True, False, True, "all"),
    "unbatched_batch_first_output_only": (5, None, 3, 4, 1, True, True, False, True, True, "output"),
    "state_only_wg65": (2, 1, 3, 65, 1, False, False, True, True, False, "state"),
}


def _t(a, dev, grad=False):
    return wgtorch.tensor(np.asarray(a, np.float32), device=dev, requires_grad=grad)


@pytest.mark.parametrize("config", CONFIGS.keys())
@pytest.mark.parametrize("mode", GATES.keys())
def test_module_matches_reference(device, mode, config):
    T, B, I, H, L, bidir, batch_first, with_h0, bias, unbatched, parts = CONFIGS[config]
    D = 2 if bidir else 1
    cls, kw = MODULES[mode]
    rng = np.random.default_rng(hash((mode, config)) % 2**32)
    Bn = 1 if unbatched else B
    params = ref_params(mode, I, H, L, D, bias)
    x = rng.normal(size=(T, Bn, I))
    h0 = rng.normal(size=(L * D, Bn, H)) if with_h0 else None
    c0 = rng.normal(size=(L * D, Bn, H)) if with_h0 and mode == "LSTM" else None
    wo = rng.normal(size=(T, Bn, D * H)) * (parts != "state")
    wh = rng.normal(size=(L * D, Bn, H)) * (parts != "output")
    wc = rng.normal(size=(L * D, Bn, H)) * (parts != "output")
    out, hn, cn, (dx, dh0, dc0, grads) = ref_module(mode, x, h0, c0, params, L, D, wo, wh, wc)

    m = cls(I, H, L, bias=bias, batch_first=batch_first, bidirectional=bidir, **kw).to(device)
    m.load_state_dict({k: wgtorch.tensor(v, dtype=wgtorch.float32) for k, v in params.items()})

    def shaped(a, states=False):  # reference layout -> the module's layout
        if a is None:
            return None
        if unbatched:
            return a[:, 0]
        return a if states or not batch_first else a.transpose(1, 0, 2)

    xt = _t(shaped(x), device, True)
    h0t = _t(shaped(h0, True), device, True) if with_h0 else None
    c0t = _t(shaped(c0, True), device, True) if c0 is not None else None
    hx = (h0t, c0t) if mode == "LSTM" and with_h0 else h0t
    got_out, state = m(xt) if hx is None else m(xt, hx)
    got_hn, got_cn = state if mode == "LSTM" else (state, None)
    loss = (got_out * _t(shaped(wo), device)).sum()
    loss = loss + (got_hn * _t(shaped(wh, True), device)).sum()
    if mode == "LSTM":
        loss = loss + (got_cn * _t(shaped(wc, True), device)).sum()
    loss.backward()

    tol = {"rtol": 2e-4, "atol": 2e-5}
    np.testing.assert_allclose(got_out.detach().numpy(), shaped(out), **tol)
    np.testing.assert_allclose(got_hn.detach().numpy(), shaped(hn, True), **tol)
    if mode == "LSTM":
        np.testing.assert_allclose(got_cn.detach().numpy(), shaped(cn, True), **tol)
    gtol = {"rtol": 1e-3, "atol": 1e-4}
    np.testing.assert_allclose(xt.grad.numpy(), shaped(dx), **gtol)
    if with_h0:
        np.testing.assert_allclose(h0t.grad.numpy(), shaped(dh0, True), **gtol)
    if c0t is not None:
        np.testing.assert_allclose(c0t.grad.numpy(), shaped(dc0, True), **gtol)
    named = dict(m.named_parameters())
    assert sorted(named) == sorted(grads)
    for k, g in grads.items():
        np.testing.assert_allclose(named[k].grad.numpy(), g, err_msg=k, **gtol)


def test_float64_on_cpu_matches_reference_tightly():
    T, B, I, H, L = 3, 2, 3, 4, 2
    params = ref_params("GRU", I, H, L, 2, True)
    rng = np.random.default_rng(0)
    x, h0 = rng.normal(size=(T, B, I)), rng.normal(size=(L * 2, B, H))
    wo, wh = rng.normal(size=(T, B, 2 * H)), rng.normal(size=(L * 2, B, H))
    out, hn, _, (dx, dh0, _, grads) = ref_module("GRU", x, h0, None, params, L, 2, wo, wh, wh)
    m = GRU(I, H, L, bidirectional=True, dtype=wgtorch.float64)
    m.load_state_dict({k: wgtorch.tensor(v) for k, v in params.items()})
    xt, h0t = wgtorch.tensor(x, requires_grad=True), wgtorch.tensor(h0, requires_grad=True)
    o, h = m(xt, h0t)
    ((o * wgtorch.tensor(wo)).sum() + (h * wgtorch.tensor(wh)).sum()).backward()
    assert o.dtype is wgtorch.float64
    np.testing.assert_allclose(o.detach().numpy(), out, rtol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h0t.grad.numpy(), dh0, rtol=1e-10, atol=1e-12)
    for k, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[k], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", GATES.keys())
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_cells_match_reference(device, mode, batched, with_state):
    I, H = 4, 7
    B = 3 if batched else 1
    rng = np.random.default_rng(11)
    p = ref_params(mode, I, H, 1, 1, True)
    w = [p["weight_ih_l0"], p["weight_hh_l0"], p["bias_ih_l0"], p["bias_hh_l0"]]
    x = rng.normal(size=(B, I))
    h = rng.normal(size=(B, H)) if with_state else np.zeros((B, H))
    c = rng.normal(size=(B, H)) if with_state else np.zeros((B, H))
    h1, c1, cache = cell_forward(mode, x, h, c, *w)
    dh, dc = rng.normal(size=(B, H)), rng.normal(size=(B, H))
    gx, gh, gc, gw_ih, gw_hh, gb_ih, gb_hh = cell_backward(mode, cache, dh, dc if mode == "LSTM" else None,
                                                           w[0], w[1])
    cell = {"RNN_TANH": lambda: RNNCell(I, H), "RNN_RELU": lambda: RNNCell(I, H, nonlinearity="relu"),
            "LSTM": lambda: LSTMCell(I, H), "GRU": lambda: GRUCell(I, H)}[mode]().to(device)
    cell.load_state_dict({"weight_ih": _t(w[0], "cpu"), "weight_hh": _t(w[1], "cpu"), "bias_ih": _t(w[2], "cpu"),
                          "bias_hh": _t(w[3], "cpu")})
    sel = (lambda a: a) if batched else (lambda a: a[0])
    xt = _t(sel(x), device, True)
    ht = _t(sel(h), device, True) if with_state else None
    ct = _t(sel(c), device, True) if with_state else None
    if mode == "LSTM":
        h_new, c_new = cell(xt, (ht, ct) if with_state else None)
        loss = (h_new * _t(sel(dh), device)).sum() + (c_new * _t(sel(dc), device)).sum()
        np.testing.assert_allclose(c_new.detach().numpy(), sel(c1), rtol=2e-4, atol=2e-5)
    else:
        h_new = cell(xt, ht)
        loss = (h_new * _t(sel(dh), device)).sum()
    assert tuple(h_new.shape) == ((B, H) if batched else (H,))
    np.testing.assert_allclose(h_new.detach().numpy(), sel(h1), rtol=2e-4, atol=2e-5)
    loss.backward()
    gtol = {"rtol": 1e-3, "atol": 1e-4}
    np.testing.assert_allclose(xt.grad.numpy(), sel(gx), **gtol)
    if with_state:
        np.testing.assert_allclose(ht.grad.numpy(), sel(gh), **gtol)
        if mode == "LSTM":
            np.testing.assert_allclose(ct.grad.numpy(), sel(gc), **gtol)
    for name, ref in (("weight_ih", gw_ih), ("weight_hh", gw_hh), ("bias_ih", gb_ih), ("bias_hh", gb_hh)):
        np.testing.assert_allclose(getattr(cell, name).grad.numpy(), ref, err_msg=name, **gtol)


# -- edge cases -------------------------------------------------------------------------------------
def test_noncontiguous_input_and_state(device):
    """Strided views (a step slice of the batch, a transposed state) give the same results as
    their contiguous copies, gradients included."""
    rng = np.random.default_rng(2)
    wgtorch.manual_seed(0)
    m = LSTM(3, 5, bidirectional=True).to(device)
    base = rng.normal(size=(4, 6, 3)).astype(np.float32)
    h_base = rng.normal(size=(3, 2, 5)).astype(np.float32)  # (B, D, H): transposed to (D, B, H)
    results = []
    for strided in (True, False):
        xb = wgtorch.tensor(base, device=device, requires_grad=True)
        hb = wgtorch.tensor(h_base, device=device, requires_grad=True)
        x = xb[:, ::2] if strided else xb[:, ::2].contiguous()
        h0 = hb.transpose(0, 1) if strided else hb.transpose(0, 1).contiguous()
        out, (hn, cn) = m(x, (h0, h0 * 0.5))
        (out.sum() + (hn * hn).sum() + cn.sum()).backward()
        results.append([out.detach().numpy(), hn.detach().numpy(), xb.grad.numpy(), hb.grad.numpy()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_cell_with_strided_input_and_parameters(device):
    wgtorch.manual_seed(1)
    cell = GRUCell(3, 4).to(device)
    plain = GRUCell(3, 4).to(device)
    plain.load_state_dict(cell.state_dict())
    # parameters that are strided views of bigger tensors
    with wgtorch.no_grad():
        wide = wgtorch.zeros(24, device=device)
        wide[::2] = cell.bias_ih
        cell.bias_ih = wgtorch.nn.Parameter(wide[::2])
    x = wgtorch.tensor(np.random.default_rng(3).normal(size=(3, 5)).astype(np.float32), device=device)
    h = wgtorch.tensor(np.random.default_rng(4).normal(size=(5, 4)).astype(np.float32), device=device)
    got = cell(x.t(), h)  # x.t() is (5, 3) with strides (1, 5)
    want = plain(x.t().contiguous(), h)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-6, atol=1e-6)


def test_nan_propagates_only_through_its_batch_row(device):
    x = np.random.default_rng(0).normal(size=(4, 3, 2)).astype(np.float32)
    x[1, 0, 0] = np.nan
    for cls in (RNN, LSTM, GRU):
        wgtorch.manual_seed(0)
        out, _ = cls(2, 3).to(device)(wgtorch.tensor(x, device=device))
        got = out.detach().numpy()
        assert np.isfinite(got[0]).all() and np.isnan(got[1:, 0]).all(), cls.__name__
        assert np.isfinite(got[:, 1:]).all(), cls.__name__


def test_zero_batch(device):
    for cls in (RNN, LSTM, GRU):
        m = cls(3, 4, 2, bidirectional=True).to(device)
        x = wgtorch.zeros(5, 0, 3, device=device, requires_grad=True)
        out, state = m(x)
        hn = state[0] if cls is LSTM else state
        assert tuple(out.shape) == (5, 0, 8) and tuple(hn.shape) == (4, 0, 4)
        (out.sum() + hn.sum()).backward()
        assert tuple(x.grad.shape) == (5, 0, 3)
        for name, p in m.named_parameters():
            assert not p.grad.numpy().any(), name


def test_past_65535_workgroups(wgpu_device):
    """B * H = 4,198,400 threads: 65,600 workgroups of 64, so the grid folds into 2-D."""
    B, H, I = 65600, 64, 2
    params = ref_params("GRU", I, H, 1, 1, True)
    rng = np.random.default_rng(4)
    x, h0 = rng.normal(size=(1, B, I)), rng.normal(size=(1, B, H))
    w = [params[k] for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")]
    expected, _, _ = cell_forward("GRU", x[0], h0[0], None, *w)
    m = GRU(I, H).to("wgpu")
    m.load_state_dict({k: wgtorch.tensor(v, dtype=wgtorch.float32) for k, v in params.items()})
    with wgtorch.no_grad():
        out, hn = m(_t(x, "wgpu"), _t(h0, "wgpu"))
    np.testing.assert_allclose(hn.numpy()[0], expected, rtol=1e-4, atol=2e-5)


# -- structure: parameters, state dict, init, repr ---------------------------------------------------
def test_state_dict_keys_and_shapes_match_pytorch():
    lstm = LSTM(10, 20, num_layers=2, bidirectional=True)
    names = []
    for layer in (0, 1):
        for sfx in ("", "_reverse"):
            names += [f"weight_ih_l{layer}{sfx}", f"weight_hh_l{layer}{sfx}", f"bias_ih_l{layer}{sfx}",
                      f"bias_hh_l{layer}{sfx}"]
    sd = lstm.state_dict()
    assert list(sd) == names
    assert tuple(sd["weight_ih_l0"].shape) == (80, 10) and tuple(sd["weight_ih_l1_reverse"].shape) == (80, 40)
    assert tuple(sd["weight_hh_l1"].shape) == (80, 20) and tuple(sd["bias_hh_l0_reverse"].shape) == (80,)
    assert list(GRU(3, 4, num_layers=2, bias=False).state_dict()) == [
        "weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"]
    assert tuple(GRU(3, 4).weight_hh_l0.shape) == (12, 4) and tuple(RNN(3, 4).bias_ih_l0.shape) == (4,)
    assert list(RNN(3, 4, 1, "relu").state_dict()) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    for cell, g in ((RNNCell, 1), (LSTMCell, 4), (GRUCell, 3)):
        sd = cell(3, 5).state_dict()
        assert list(sd) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
        assert tuple(sd["weight_ih"].shape) == (g * 5, 3) and tuple(sd["weight_hh"].shape) == (g * 5, 5)
        assert list(cell(3, 5, bias=False).state_dict()) == ["weight_ih", "weight_hh"]
        assert cell(3, 5, bias=False).bias_ih is None
    parent = wgtorch.nn.Sequential(GRU(2, 3))
    assert list(parent.state_dict())[:2] == ["0.weight_ih_l0", "0.weight_hh_l0"]
    assert [[p.shape[0] for p in ws] for ws in lstm.all_weights][1] == [80, 80, 80, 80]


def test_init_is_uniform_within_one_over_sqrt_hidden(device):
    wgtorch.manual_seed(3)
    m = GRU(50, 16, num_layers=2, device=device)
    bound = 1 / np.sqrt(16)
    values = []
    for name, p in m.named_parameters():
        assert p.device == wgtorch.zeros(1, device=device).device, name
        v = p.detach().numpy()
        assert np.abs(v).max() <= bound, name
        values.append(v.ravel())
    v = np.concatenate(values)
    assert abs(v.mean()) < 0.01 and abs(v.std() - bound / np.sqrt(3)) < 0.01
    assert np.abs(v).max() > 0.95 * bound
    cell = LSTMCell(4, 9, device=device)
    assert np.abs(cell.weight_hh.detach().numpy()).max() <= 1 / 3 and cell.weight_hh.device == m.weight_ih_l0.device


def test_extra_repr_like_pytorch():
    assert repr(RNN(10, 20)) == "RNN(10, 20)"
    assert repr(RNN(10, 20, 2, nonlinearity="relu")) == "RNN(10, 20, num_layers=2)"
    assert repr(LSTM(4, 5, 2, bias=False, batch_first=True, dropout=0.5, bidirectional=True)) == \
        "LSTM(4, 5, num_layers=2, bias=False, batch_first=True, dropout=0.5, bidirectional=True)"
    assert repr(GRU(3, 4)) == "GRU(3, 4)"
    assert repr(RNNCell(3, 4, nonlinearity="relu")) == "RNNCell(3, 4, nonlinearity=relu)"
    assert repr(LSTMCell(3, 4, bias=False)) == "LSTMCell(3, 4, bias=False)"
    assert repr(GRUCell(3, 4)) == "GRUCell(3, 4)"
    assert RNN(3, 4, nonlinearity="relu").nonlinearity == "relu"


# -- dropout between layers -------------------------------------------------------------------------
def test_dropout_only_between_layers_and_only_in_training(device):
    x = wgtorch.tensor(np.random.default_rng(1).normal(size=(5, 3, 4)).astype(np.float32), device=device)
    wgtorch.manual_seed(0)
    m = GRU(4, 6, num_layers=2, dropout=1.0).to(device)
    zeroed = GRU(4, 6, num_layers=2).to(device)
    zeroed.load_state_dict(m.state_dict())
    with wgtorch.no_grad():
        zeroed.weight_ih_l1.zero_()  # layer 2 sees zeros, as dropout(p=1) makes its input
    m.train()
    out_train, h_train = m(x)
    out_zeroed, h_zeroed = zeroed.eval()(x)
    np.testing.assert_allclose(out_train.detach().numpy(), out_zeroed.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_train.detach().numpy(), h_zeroed.detach().numpy(), rtol=1e-5, atol=1e-6)

    m.dropout = 0.5
    m.eval()
    out_eval, h_eval = m(x)
    plain = GRU(4, 6, num_layers=2).to(device)
    plain.load_state_dict(m.state_dict())
    np.testing.assert_allclose(out_eval.detach().numpy(), plain(x)[0].detach().numpy(), rtol=1e-6, atol=1e-6)
    m.train()
    wgtorch.manual_seed(7)
    out_a, h_a = m(x)
    wgtorch.manual_seed(7)
    out_b, _ = m(x)
    np.testing.assert_array_equal(out_a.detach().numpy(), out_b.detach().numpy())
    assert not np.allclose(out_a.detach().numpy(), out_eval.detach().numpy())
    # layer 0's own states are not dropped: dropout acts on what flows between layers
    np.testing.assert_allclose(h_a.detach().numpy()[0], h_eval.detach().numpy()[0], rtol=1e-6, atol=1e-6)

    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        single = LSTM(4, 6, dropout=0.5).to(device)
    np.testing.assert_allclose(single.train()(x)[0].detach().numpy(), single.eval()(x)[0].detach().numpy(),
                               rtol=1e-6, atol=1e-6)


# -- errors -----------------------------------------------------------------------------------------
def _raises(exc, match, fn):
    with pytest.raises(exc) as info:
        fn()
    assert match in str(info.value), str(info.value)


def test_constructor_errors():
    _raises(ValueError, "Unknown nonlinearity 'gelu'. Select from 'tanh' or 'relu'.",
            lambda: RNN(3, 4, nonlinearity="gelu"))
    _raises(ValueError, "hidden_size must be greater than zero", lambda: GRU(3, 0))
    _raises(ValueError, "num_layers must be greater than zero", lambda: LSTM(3, 4, 0))
    _raises(ValueError, "dropout should be a number in range [0, 1]", lambda: GRU(3, 4, 2, dropout=1.5))
    _raises(TypeError, "hidden_size should be of type int, got: float", lambda: GRU(3, 4.0))
    _raises(NotImplementedError, "proj_size", lambda: LSTM(3, 8, proj_size=4))
    _raises(ValueError, "proj_size argument is only supported for LSTM, not RNN or GRU",
            lambda: GRU(3, 8, proj_size=4))
    _raises(RuntimeError, "Unknown nonlinearity: gelu", lambda: RNNCell(3, 4, nonlinearity="gelu")(wgtorch.zeros(2, 3)))


def test_input_and_state_errors(device):
    z = lambda *s: wgtorch.zeros(*s, device=device)  # noqa: E731
    rnn, lstm, gru = RNN(4, 20).to(device), LSTM(4, 20).to(device), GRU(4, 20).to(device)
    _raises(ValueError, "RNN: Expected input to be 2D or 3D, got 4D tensor instead", lambda: rnn(z(1, 2, 3, 4)))
    _raises(ValueError, "LSTM: Expected input to be 2D or 3D, got 1D instead", lambda: lstm(z(4)))
    _raises(ValueError, "GRU: Expected input to be 2D or 3D, got 4D instead", lambda: gru(z(1, 1, 1, 4)))
    _raises(RuntimeError, "input.size(-1) must be equal to input_size. Expected 4, got 3", lambda: gru(z(5, 3, 3)))
    _raises(RuntimeError, "Expected hidden size (1, 3, 20), got [1, 2, 20]", lambda: gru(z(5, 3, 4), z(1, 2, 20)))
    _raises(RuntimeError, "Expected hidden size (1, 3, 20), got [1, 3, 21]", lambda: rnn(z(5, 3, 4), z(1, 3, 21)))
    _raises(RuntimeError, "Expected hidden[1] size (1, 3, 20), got [1, 2, 20]",
            lambda: lstm(z(5, 3, 4), (z(1, 3, 20), z(1, 2, 20))))
    _raises(RuntimeError, "Expected hidden[0] size (1, 3, 20), got [2, 3, 20]",
            lambda: lstm(z(5, 3, 4), (z(2, 3, 20), z(1, 3, 20))))
    _raises(RuntimeError, "For batched 3-D input, hx should also be 3-D but got 2-D tensor",
            lambda: gru(z(5, 3, 4), z(3, 20)))
    _raises(RuntimeError, "For unbatched 2-D input, hx should also be 2-D but got 3-D tensor",
            lambda: rnn(z(5, 4), z(1, 1, 20)))
    _raises(RuntimeError, "For batched 3-D input, hx and cx should also be 3-D but got (2-D, 2-D) tensors",
            lambda: lstm(z(5, 3, 4), (z(3, 20), z(3, 20))))
    _raises(RuntimeError, "Expected sequence length to be larger than 0 in RNN", lambda: gru(z(0, 3, 4)))
    _raises(ValueError, "input must have the type wgtorch.float32, got type wgtorch.int32",
            lambda: gru(wgtorch.zeros(5, 3, 4, dtype=wgtorch.int32, device=device)))
    cell, lcell = GRUCell(4, 7).to(device), LSTMCell(4, 7).to(device)
    _raises(ValueError, "GRUCell: Expected input to be 1D or 2D, got 3D instead", lambda: cell(z(1, 2, 4)))
    _raises(ValueError, "GRUCell: Expected hidden to be 1D or 2D, got 3D instead", lambda: cell(z(2, 4), z(1, 2, 7)))
    _raises(RuntimeError, "input has inconsistent input_size: got 3 expected 4", lambda: cell(z(2, 3)))
    _raises(RuntimeError, "Input batch size 2 doesn't match hidden batch size 3", lambda: cell(z(2, 4), z(3, 7)))
    _raises(RuntimeError, "hidden[1] has inconsistent hidden_size: got 5, expected 7",
            lambda: lcell(z(2, 4), (z(2, 7), z(2, 5))))


def test_device_mismatch_errors(wgpu_device):
    gru = GRU(4, 5)
    x = wgtorch.zeros(3, 2, 4)
    _raises(RuntimeError, "Input and hidden tensors are not at the same device, found input tensor at cpu and "
            "hidden tensor at wgpu:0", lambda: gru(x, wgtorch.zeros(1, 2, 5, device="wgpu")))
    _raises(RuntimeError, "Input and parameter tensors are not at the same device, found input tensor at wgpu:0 "
            "and parameter tensor at cpu", lambda: gru(x.to("wgpu")))
    _raises(RuntimeError, "Input and parameter tensors are not at the same device",
            lambda: LSTMCell(4, 5)(x[0].to("wgpu")))


# -- speed by construction: dispatches per time step --------------------------------------------------
def _dispatches(fn):
    rt = wgtorch.zeros(1, device="wgpu")._be.rt
    before = rt.stats["dispatches"]
    fn()
    return rt.stats["dispatches"] - before


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_dispatches_per_time_step(wgpu_device, cls):
    """Forward: one matmul and one fused kernel per step; backward: one kernel and one matmul."""
    m = cls(8, 16).to("wgpu")
    counts = {}
    for T in (4, 12):
        x = wgtorch.zeros(T, 3, 8, device="wgpu", requires_grad=True)
        h0 = wgtorch.zeros(1, 3, 16, device="wgpu")
        hx = (h0, h0) if cls is LSTM else h0
        state = {}
        counts[T, "fwd"] = _dispatches(lambda x=x, hx=hx, state=state: state.update(out=m(x, hx)[0]))
        loss = state["out"].sum()
        for p in m.parameters():
            p.grad = None  # no accumulation adds in the count
        counts[T, "bwd"] = _dispatches(loss.backward)
    assert (counts[12, "fwd"] - counts[4, "fwd"]) / 8 <= 2, counts
    assert (counts[12, "bwd"] - counts[4, "bwd"]) / 8 <= 2, counts


# -- the example --------------------------------------------------------------------------------------
def test_sequence_gru_example_learns(device, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("sequence_gru", ROOT / "examples" / "sequence_gru.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    first, final = example.main(["--quick", "--device", device])
    out = capsys.readouterr().out
    assert final < first / 10, out
    assert f"test mse: {first:.5f} -> {final:.5f}" in out


def test_sequence_gru_example_runs_as_a_script():
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "sequence_gru.py"), "--steps", "5"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "test mse:" in result.stdout


def test_float16_on_wgpu_follows_float32(wgpu_device):
    wgtorch.manual_seed(0)
    for cls in (RNN, LSTM, GRU):
        ref = cls(3, 5, 2, bidirectional=True)
        half = cls(3, 5, 2, bidirectional=True).to("wgpu", wgtorch.float16)
        half.load_state_dict(ref.state_dict())
        x = wgtorch.tensor(np.random.default_rng(0).normal(size=(4, 2, 3)).astype(np.float32), requires_grad=True)
        xh = x.detach().to("wgpu", wgtorch.float16).requires_grad_()
        out, out_h = ref(x)[0], half(xh)[0]
        out.sum().backward()
        out_h.float().sum().backward()
        assert out_h.dtype is wgtorch.float16 and half.weight_hh_l1.grad.dtype is wgtorch.float16
        np.testing.assert_allclose(out_h.detach().float().numpy(), out.detach().numpy(), atol=3e-3)
        np.testing.assert_allclose(xh.grad.float().numpy(), x.grad.numpy(), rtol=2e-2, atol=2e-2)
        np.testing.assert_allclose(half.weight_ih_l0.grad.float().numpy(), ref.weight_ih_l0.grad.numpy(),
                                   rtol=2e-2, atol=2e-2)


def test_double_backward_raises(device):
    m = GRU(2, 3).to(device)
    x = wgtorch.zeros(2, 1, 2, device=device, requires_grad=True)
    with pytest.raises(NotImplementedError, match="double backward"):
        wgtorch.autograd.grad(m(x)[0].sum(), x, create_graph=True)
