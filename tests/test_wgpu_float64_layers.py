"""float64 in the fused layer kernels on wgpu (shader-f64): convolution (conv.wgsl), attention
(attention.wgsl) and the recurrent cells (rnn.wgsl) against PyTorch's float64 on the CPU.

Values and gradients to float64 tolerances (rtol 1e-12: a float32 result misses by ~5 orders of
magnitude), odd sizes, strides / padding / dilation / groups, non-contiguous inputs, masks, GQA,
K split into slices; training steps of Conv2d, LSTM, GRU, MultiheadAttention and
TransformerEncoderLayer; and the LSTMCell + LBFGS time-sequence model of pytorch/examples. On
wgpu each test also checks that the fused kernel ran (not a composite); on cpu the NumPy
backend computes the same cases in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch as T

import wgtorch as torch
from wgtorch._backends.wgpu import WgpuBackend
from wgtorch._backends.wgpu.conv import ConvConfig, choose_config

TF = T.nn.functional
F = torch.nn.functional
RTOL, ATOL = 1e-12, 1e-12
FUSED = ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight", "attention_forward",
         "attention_backward", "rnn_forward", "rnn_backward")
SMALL = ConvConfig(wg=16, tm=2, tn=4)  # few, quick shader compiles on lavapipe


@pytest.fixture
def f64_device(device):
    """``device`` where float64 computes (a wgpu adapter without shader-f64 is the other file's case)."""
    if device == "wgpu" and not torch.wgpu.get_device_properties().float64:
        pytest.skip("this adapter has no shader-f64 (tests/test_wgpu_float64.py checks its clear error)")
    return device


@pytest.fixture
def fused(monkeypatch):
    """Counts the calls of each fused kernel method of the wgpu backend."""
    counts = dict.fromkeys(FUSED, 0)
    for name in FUSED:
        orig = getattr(WgpuBackend, name)

        def counted(self, *args, _orig=orig, _name=name):
            counts[_name] += 1
            return _orig(self, *args)

        monkeypatch.setattr(WgpuBackend, name, counted)
    return counts


@pytest.fixture
def small_conv(monkeypatch):
    if torch.wgpu.is_available():
        monkeypatch.setattr(torch.empty(1, device="wgpu")._be, "conv_config", SMALL)


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _close(got, want, rtol=RTOL, atol=ATOL):
    assert got.dtype is torch.float64, got.dtype
    want = want.detach().numpy() if isinstance(want, T.Tensor) else want
    np.testing.assert_allclose(got.detach().cpu().numpy(), want, rtol=rtol, atol=atol)


def _compare(wfn, tfn, arrays, device, transform=None):
    """``wfn`` / ``tfn`` of float64 leaves (``transform`` makes views of them): the output and every
    leaf's gradient (upstream gradient random) against PyTorch's."""
    w = [None if a is None else torch.tensor(a, device=device, requires_grad=True) for a in arrays]
    t = [None if a is None else T.tensor(a, requires_grad=True) for a in arrays]
    wo = wfn(*(transform(w) if transform else w))
    to = tfn(*(transform(t) if transform else t))
    up = _rand(*to.shape, seed=99)
    wo.backward(torch.tensor(up, device=device))
    to.backward(T.tensor(up))
    _close(wo, to)
    for a, b in zip(w, t):
        if a is not None:
            _close(a.grad, b.grad)


def _ran(fused, device, *names):
    if device == "wgpu":
        assert all(fused[n] for n in names), fused


# -- convolution ------------------------------------------------------------------------------------
CONV = [  # (input, weight, bias?, kwargs)
    ((2, 3, 7, 5), (5, 3, 3, 3), True, dict(stride=(2, 1), padding=1)),
    ((1, 4, 6, 7), (6, 2, 3, 2), True, dict(groups=2, dilation=(2, 1), padding=(2, 1))),
    ((2, 3, 5, 5), (3, 1, 3, 3), False, dict(groups=3, padding=1)),  # depthwise (N of 1: scalar accumulators)
    ((1, 2, 4, 4), (3, 2, 1, 1), True, {}),
]


@pytest.mark.parametrize("xs, ws, bias, kw", CONV)
def test_conv2d(f64_device, fused, small_conv, xs, ws, bias, kw):
    arrays = [_rand(*xs, seed=1), _rand(*ws, seed=2), _rand(ws[0], seed=3) if bias else None]
    _compare(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw), arrays, f64_device)
    _ran(fused, f64_device, "conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight")


def test_conv1d_and_non_contiguous_input(f64_device, fused, small_conv):
    arrays = [_rand(2, 9, 3, seed=4), _rand(4, 3, 3, seed=5), _rand(4, seed=6)]
    view = lambda ts: (ts[0].transpose(1, 2), ts[1], ts[2])  # noqa: E731  (N, C, L) through strides
    _compare(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1),
             lambda x, w, b: TF.conv1d(x, w, b, stride=2, padding=1), arrays, f64_device, view)
    arrays = [_rand(2, 3, 8, 7, seed=7), _rand(4, 3, 2, 3, seed=8), None]
    sliced = lambda ts: (ts[0][:, :, 1::2, :5], ts[1], None)  # noqa: E731
    _compare(lambda x, w, b: F.conv2d(x, w, b, padding=(1, 0)), lambda x, w, b: TF.conv2d(x, w, b, padding=(1, 0)),
             arrays, f64_device, sliced)
    _ran(fused, f64_device, "conv2d_forward", "conv2d_backward_weight")


def test_conv_transpose2d(f64_device, fused, small_conv):
    arrays = [_rand(1, 3, 4, 5, seed=9), _rand(3, 2, 3, 3, seed=10), _rand(2, seed=11)]
    kw = dict(stride=2, padding=1, output_padding=1)
    _compare(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw), lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw),
             arrays, f64_device)
    _ran(fused, f64_device, "conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight")


def test_conv_default_blocks_and_k_slices(wgpu_device, fused, monkeypatch):
    """The configuration chosen per GEMM (vec4 accumulators of f64), and K split into slices that add
    to the previous slice's result (the float64 kept between them: no rounding through float32)."""
    if not torch.wgpu.get_device_properties().float64:
        pytest.skip("no shader-f64")
    be = torch.empty(1, device="wgpu")._be
    arrays = [1.0 + 1e-9 * _rand(2, 5, 6, 6, seed=12), _rand(8, 5, 3, 3, seed=13), _rand(8, seed=14)]
    _compare(lambda x, w, b: F.conv2d(x, w, b, padding=1), lambda x, w, b: TF.conv2d(x, w, b, padding=1),
             arrays, "wgpu")
    monkeypatch.setattr(be, "conv_loop_budget", 7)
    _compare(lambda x, w, b: F.conv2d(x, w, b, padding=1), lambda x, w, b: TF.conv2d(x, w, b, padding=1),
             arrays, "wgpu")
    _ran(fused, "wgpu", "conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight")


def test_conv_hardware_configuration(wgpu_device, fused, monkeypatch):
    """What a GPU adapter gets, in float64: 64 threads, 4x4 and 8x1 blocks, padding tested per load
    (lavapipe pads the input into a copy first)."""
    if not torch.wgpu.get_device_properties().float64:
        pytest.skip("no shader-f64")
    be = torch.empty(1, device="wgpu")._be
    monkeypatch.setattr(be, "conv_prepad", False)
    blocks = ((choose_config(False, 4096, 64), (10, 3, 3, 3), 2), (ConvConfig(64, 8, 1), (6, 1, 3, 3), 6))
    for cfg, ws, groups in blocks:
        monkeypatch.setattr(be, "conv_config", cfg)
        kw = dict(stride=2, padding=(1, 2), groups=groups)
        arrays = [_rand(2, 6, 9, 8, seed=17), _rand(*ws, seed=18), _rand(ws[0], seed=19)]
        _compare(lambda x, w, b, kw=kw: F.conv2d(x, w, b, **kw), lambda x, w, b, kw=kw: TF.conv2d(x, w, b, **kw),
                 arrays, "wgpu")
    _ran(fused, "wgpu", "conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight")


def test_conv2d_training_step(f64_device, fused, small_conv):
    tm = T.nn.Sequential(T.nn.Conv2d(2, 3, 3, padding=1, dtype=T.float64), T.nn.Tanh(),
                         T.nn.Conv2d(3, 2, 2, stride=2, dtype=T.float64))
    wm = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1, dtype=torch.float64), torch.nn.Tanh(),
                             torch.nn.Conv2d(3, 2, 2, stride=2, dtype=torch.float64))
    _train_and_compare(tm, wm, [_rand(3, 2, 5, 5, seed=15)], _rand(3, 2, 2, 2, seed=16), f64_device,
                       lambda p: T.optim.SGD(p, lr=0.1, momentum=0.9),
                       lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9))
    _ran(fused, f64_device, "conv2d_forward", "conv2d_backward_weight")


def _train_and_compare(tm, wm, inputs, target, device, topt, wopt, steps=2, out=lambda y: y, **call_kw):
    """``steps`` optimizer steps of an MSE loss on both models (wm gets tm's weights): the losses and the
    parameters after each step equal PyTorch's to float64 tolerance."""
    wm.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    wm.to(device)
    to, wo = topt(tm.parameters()), wopt(wm.parameters())
    tx = [T.tensor(a) for a in inputs]
    wx = [torch.tensor(a, device=device) for a in inputs]
    for _ in range(steps):
        to.zero_grad()
        wo.zero_grad()
        tl = TF.mse_loss(out(tm(*tx, **call_kw)), T.tensor(target))
        wl = F.mse_loss(out(wm(*wx, **call_kw)), torch.tensor(target, device=device))
        tl.backward()
        wl.backward()
        to.step()
        wo.step()
        _close(wl, tl)
        for a, b in zip(wm.parameters(), tm.parameters()):
            _close(a, b)


# -- recurrent layers -------------------------------------------------------------------------------
@pytest.mark.parametrize("name, kw", [("RNN", {}), ("RNN", dict(nonlinearity="relu")), ("LSTM", {}), ("GRU", {})])
def test_recurrent_layers(f64_device, fused, name, kw):
    """Two bidirectional layers, batch_first with a non-contiguous input, given initial states: the output,
    the final states and the gradients of the input, the states and every weight."""
    tm = getattr(T.nn, name)(3, 5, num_layers=2, bidirectional=True, batch_first=True, dtype=T.float64, **kw)
    wm = getattr(torch.nn, name)(3, 5, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64, **kw)
    wm.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    wm.to(f64_device)
    lstm = name == "LSTM"
    arrays = [_rand(4, 3, 3, seed=20), _rand(4, 3, 5, seed=21)] + ([_rand(4, 3, 5, seed=22)] if lstm else [])
    tl = [T.tensor(a, requires_grad=True) for a in arrays]
    wl = [torch.tensor(a, device=f64_device, requires_grad=True) for a in arrays]

    def run(m, x, *state):
        return m(x.transpose(0, 1), tuple(state) if lstm else state[0])  # (B, T, I) from a (T, B, I) array

    (to, th), (wo, wh) = run(tm, *tl), run(wm, *wl)
    ups = [_rand(*to.shape, seed=23)] + [_rand(*s.shape, seed=24 + i) for i, s in enumerate(th if lstm else (th,))]
    T.autograd.backward([to, *(th if lstm else (th,))], [T.tensor(u) for u in ups])
    torch.autograd.backward([wo, *(wh if lstm else (wh,))], [torch.tensor(u, device=f64_device) for u in ups])
    _close(wo, to)
    for a, b in zip(wh if lstm else (wh,), th if lstm else (th,)):
        _close(a, b)
    for a, b in zip(wl, tl):
        _close(a.grad, b.grad)
    for a, b in zip(wm.parameters(), tm.parameters()):
        _close(a.grad, b.grad)
    _ran(fused, f64_device, "rnn_forward", "rnn_backward")


class _TSeq(T.nn.Module):
    """A recurrent layer with a linear head on its last output (_WSeq: the same in wgtorch)."""

    def __init__(self, kind: str):
        super().__init__()
        self.rnn = getattr(T.nn, kind)(3, 6, dtype=T.float64)
        self.head = T.nn.Linear(6, 2, dtype=T.float64)

    def forward(self, x):
        return self.head(self.rnn(x)[0][-1])


class _WSeq(torch.nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        self.rnn = getattr(torch.nn, kind)(3, 6, dtype=torch.float64)
        self.head = torch.nn.Linear(6, 2, dtype=torch.float64)

    def forward(self, x):
        return self.head(self.rnn(x)[0][-1])


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_recurrent_training_step(f64_device, fused, kind):
    _train_and_compare(_TSeq(kind), _WSeq(kind), [_rand(5, 4, 3, seed=30)], _rand(4, 2, seed=31), f64_device,
                       lambda p: T.optim.Adam(p, lr=0.05), lambda p: torch.optim.Adam(p, lr=0.05))
    _ran(fused, f64_device, "rnn_forward", "rnn_backward")


# -- attention --------------------------------------------------------------------------------------
def _masks(L, S, seed):
    rng = np.random.default_rng(seed)
    keep = rng.random((L, S)) > 0.4
    keep[:, 0] = True
    keep[-1] = False  # a row with every key masked out: output 0, gradients 0 (NaN in PyTorch's math path)
    return keep


SDPA = [  # (q, k, v shapes, mask kind, kwargs)
    ((2, 3, 5, 7), (2, 3, 6, 7), (2, 3, 6, 5), None, {}),  # E != Ev, L != S
    ((1, 2, 19, 4), (1, 2, 19, 4), (1, 2, 19, 3), None, dict(is_causal=True)),  # past one 16-row workgroup
    ((2, 2, 4, 3), (2, 2, 6, 3), (2, 2, 6, 3), "float", dict(scale=0.3)),  # a mask per batch and head
    ((1, 4, 3, 5), (1, 2, 7, 5), (1, 2, 7, 5), None, dict(enable_gqa=True)),
]


@pytest.mark.parametrize("qs, ks, vs, mask, kw", SDPA)
def test_scaled_dot_product_attention(f64_device, fused, qs, ks, vs, mask, kw):
    arrays = [_rand(*qs, seed=40), _rand(*ks, seed=41), _rand(*vs, seed=42)]
    m = None if mask is None else _rand(*qs[:2], qs[2], ks[2], seed=43)
    _compare(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, None if m is None else torch.tensor(
                 m, device=f64_device), **kw),
             lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, None if m is None else T.tensor(m), **kw),
             arrays, f64_device)
    _ran(fused, f64_device, "attention_forward", "attention_backward")


def test_attention_bool_mask_and_non_contiguous(f64_device, fused):
    """A shared bool mask (kept rows; PyTorch's float64 gives NaN for the fully masked row, as its
    composite does: that row is compared separately) and q, k, v as transposed views."""
    arrays = [_rand(2, 6, 3, 4, seed=44), _rand(2, 5, 3, 4, seed=45), _rand(2, 5, 3, 4, seed=46)]
    keep = _masks(6, 5, 47)
    keep[-1] = True  # (the fully masked row is the next test's)
    view = lambda ts: [t.transpose(1, 2) for t in ts]  # noqa: E731  (B, L, H, E) -> (B, H, L, E)
    _compare(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, torch.tensor(keep, device=f64_device)),
             lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, T.tensor(keep)), arrays, f64_device, view)
    _ran(fused, f64_device, "attention_forward", "attention_backward")


def test_attention_fully_masked_row_gives_zeros(wgpu_device, fused):
    """The fused kernel's documented result for a row with no key kept (as in float32): 0 and zero
    gradients; the other rows equal PyTorch's float64."""
    if not torch.wgpu.get_device_properties().float64:
        pytest.skip("no shader-f64")
    keep = _masks(4, 5, 48)
    arrays = [_rand(1, 1, 4, 3, seed=49), _rand(1, 1, 5, 3, seed=50), _rand(1, 1, 5, 3, seed=51)]
    w = [torch.tensor(a, device="wgpu", requires_grad=True) for a in arrays]
    out = F.scaled_dot_product_attention(*w, torch.tensor(keep, device="wgpu"))
    out.sum().backward()
    t = [T.tensor(a[:, :, :3] if i == 0 else a, requires_grad=True) for i, a in enumerate(arrays)]
    want = TF.scaled_dot_product_attention(*t, T.tensor(keep[:3]))
    want.sum().backward()
    _close(out[:, :, :3], want)
    assert np.array_equal(out[:, :, 3].detach().cpu().numpy(), np.zeros((1, 1, 3)))
    assert np.array_equal(w[0].grad[:, :, 3].cpu().numpy(), np.zeros((1, 1, 3)))
    _close(w[0].grad[:, :, :3], t[0].grad)
    for a, b in zip(w[1:], t[1:]):
        _close(a.grad, b.grad)
    _ran(fused, "wgpu", "attention_forward", "attention_backward")


def test_attention_hardware_workgroups(wgpu_device, fused, monkeypatch):
    """A GPU adapter's 64-row workgroups (lavapipe gets 16), in float64, causal, past one workgroup."""
    if not torch.wgpu.get_device_properties().float64:
        pytest.skip("no shader-f64")
    monkeypatch.setattr(WgpuBackend, "_attn_wg", lambda self: 64)
    arrays = [_rand(1, 2, 70, 4, seed=56), _rand(1, 2, 70, 4, seed=57), _rand(1, 2, 70, 3, seed=58)]
    _compare(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
             lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True), arrays, "wgpu")
    _ran(fused, "wgpu", "attention_forward", "attention_backward")


def test_multihead_attention_training_step(f64_device, fused):
    tm = T.nn.MultiheadAttention(6, 2, batch_first=True, dtype=T.float64)
    wm = torch.nn.MultiheadAttention(6, 2, batch_first=True, dtype=torch.float64)
    x = _rand(2, 5, 6, seed=52)
    _train_and_compare(tm, wm, [x, x, x], _rand(2, 5, 6, seed=53), f64_device,
                       lambda p: T.optim.SGD(p, lr=0.1, momentum=0.5),
                       lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.5), out=lambda y: y[0],
                       need_weights=False)  # (the weights would take the composite)
    # (SGD: Adam would turn the key bias's gradient, 0 up to rounding, into +-lr steps of rounding's sign)
    _ran(fused, f64_device, "attention_forward", "attention_backward")


def test_transformer_encoder_layer_training_step(f64_device, fused):
    tm = T.nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, dropout=0.0, batch_first=True, dtype=T.float64)
    wm = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, dropout=0.0, batch_first=True,
                                          dtype=torch.float64)

    def train():
        _train_and_compare(tm, wm, [_rand(2, 5, 8, seed=54)], _rand(2, 5, 8, seed=55), f64_device,
                           lambda p: T.optim.SGD(p, lr=0.05), lambda p: torch.optim.SGD(p, lr=0.05))

    train()
    _ran(fused, f64_device, "attention_forward", "attention_backward")


# -- the time-sequence model of pytorch/examples: two LSTMCells, a Linear, LBFGS, float64 ------------
def _time_seq_cells(lib, hidden=5):
    return (lib.nn.LSTMCell(1, hidden, dtype=lib.float64), lib.nn.LSTMCell(hidden, hidden, dtype=lib.float64),
            lib.nn.Linear(hidden, 1, dtype=lib.float64))


def _time_seq_forward(lib, cells, x):
    """Each step's input through both cells and the head: the predictions (B, T)."""
    lstm1, lstm2, linear = cells
    z = lambda: lib.zeros(x.shape[0], lstm1.hidden_size, dtype=lib.float64, device=x.device)  # noqa: E731
    h1, c1, h2, c2 = z(), z(), z(), z()
    outs = []
    for step in x.split(1, dim=1):
        h1, c1 = lstm1(step, (h1, c1))
        h2, c2 = lstm2(h1, (h2, c2))
        outs.append(linear(h2))
    return lib.cat(outs, dim=1)


def test_time_sequence_lstm_cells_with_lbfgs(f64_device, fused):
    """pytorch/examples' time_sequence_prediction, small: sine waves, float64, LBFGS steps (each
    several forward and backward passes through the cells) give PyTorch's losses and weights."""
    tc, wc = _time_seq_cells(T), _time_seq_cells(torch)
    for a, b in zip(wc, tc):
        a.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in b.state_dict().items()})
        a.to(f64_device)
    phase = np.random.default_rng(60).uniform(0, 6, (3, 1))
    wave = np.sin(np.arange(8)[None, :] * 0.4 + phase)
    runs = []
    for lib, cells, dev in ((T, tc, None), (torch, wc, f64_device)):
        kw = {} if dev is None else {"device": dev}
        x, y = lib.tensor(wave[:, :-1], **kw), lib.tensor(wave[:, 1:], **kw)
        opt = lib.optim.LBFGS([p for c in cells for p in c.parameters()], lr=0.8, max_iter=4)

        def closure(lib=lib, cells=cells, x=x, y=y, opt=opt):
            opt.zero_grad()
            loss = lib.nn.functional.mse_loss(_time_seq_forward(lib, cells, x), y)
            loss.backward()
            return loss

        runs.append([float(opt.step(closure).detach()) for _ in range(2)] + [float(closure().detach())])
    np.testing.assert_allclose(runs[1], runs[0], rtol=1e-10)
    assert runs[0][-1] < runs[0][0]  # (it learns)
    for a, b in zip(wc, tc):
        for p, q in zip(a.parameters(), b.parameters()):
            _close(p, q, rtol=1e-10, atol=1e-11)
    _ran(fused, f64_device, "rnn_forward", "rnn_backward")


# -- empty and non-finite inputs ----------------------------------------------------------------------
def test_empty_and_non_finite_inputs(f64_device, small_conv):
    """A zero-size batch through each family (float64 zeros of the right shapes), and NaN / inf entering
    a convolution and attention where PyTorch's float64 has them."""
    d = f64_device
    x = torch.zeros(0, 3, 5, 5, dtype=torch.float64, device=d, requires_grad=True)
    w = torch.tensor(_rand(4, 3, 3, 3, seed=70), device=d, requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    y.sum().backward()
    assert y.shape == (0, 4, 5, 5) and y.dtype is torch.float64
    assert np.array_equal(w.grad.cpu().numpy(), np.zeros((4, 3, 3, 3)))
    q = torch.zeros(2, 0, 4, dtype=torch.float64, device=d)
    assert F.scaled_dot_product_attention(q, q, q).shape == (2, 0, 4)
    out, h = torch.nn.GRU(3, 4, dtype=torch.float64).to(d)(torch.zeros(2, 0, 3, dtype=torch.float64, device=d))
    assert out.shape == (2, 0, 4) and h.shape == (1, 0, 4) and out.dtype is torch.float64

    xv = _rand(1, 2, 5, 6, seed=71)
    xv[0, 0, 2, 3], xv[0, 1, 0, 0] = np.nan, np.inf
    wv = _rand(3, 2, 3, 3, seed=72)
    got = F.conv2d(torch.tensor(xv, device=d), torch.tensor(wv, device=d), padding=1)
    want = TF.conv2d(T.tensor(xv), T.tensor(wv), padding=1).numpy()
    np.testing.assert_allclose(got.cpu().numpy(), want, rtol=RTOL, atol=ATOL, equal_nan=True)
    assert np.isnan(want).any()
    qv = _rand(1, 3, 4, seed=73)
    qv[0, 1, 2] = np.nan
    kv = _rand(1, 5, 4, seed=74)
    got = F.scaled_dot_product_attention(*(torch.tensor(a, device=d) for a in (qv, kv, kv)))
    want = TF.scaled_dot_product_attention(*(T.tensor(a) for a in (qv, kv, kv))).numpy()
    np.testing.assert_allclose(got.cpu().numpy(), want, rtol=RTOL, atol=ATOL, equal_nan=True)
    assert np.isnan(want[0, 1]).all() and not np.isnan(want[0, 0]).any()
