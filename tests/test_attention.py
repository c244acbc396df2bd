"""Attention against PyTorch on every device: F.scaled_dot_product_attention (bool / float masks, broadcasting,
causal, scale, GQA, fully masked rows, dropout statistics), nn.MultiheadAttention (every constructor option,
masks, weights), the Transformer layers, encoder, decoder and nn.Transformer. Values and the gradients of every
input and parameter; torch state dicts loading into wgtorch; exception types for invalid input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wgtorch
import wgtorch.nn as nn
import wgtorch.nn.functional as F
from tests.helpers import assert_close, rand

RTOL, ATOL = 1e-4, 1e-5
# torch's own notes on its nested-tensor fast path and on mixing bool / float masks (the tests mix them on purpose)
pytestmark = [pytest.mark.filterwarnings("ignore:enable_nested_tensor is True:UserWarning"),
              pytest.mark.filterwarnings("ignore:Support for mismatched:UserWarning")]


def pair(x, device, grad=True):
    """The same float32 array as a torch tensor and a wgtorch tensor (leaves when float and ``grad``)."""
    x = np.asarray(x)
    g = grad and x.dtype.kind == "f"
    return torch.tensor(x, requires_grad=g), wgtorch.tensor(x, device=device, requires_grad=g)


def tmask(m, device):
    return None if m is None else wgtorch.tensor(m.numpy(), device=device)


def check_backward(t_out, w_out, t_leaves, w_leaves, seed=7):
    """Same upstream gradient into both outputs; compare every leaf's .grad."""
    assert_close(w_out, t_out.detach().numpy(), rtol=RTOL, atol=ATOL)
    up = rand(*t_out.shape, seed=seed)
    t_out.backward(torch.tensor(up))
    w_out.backward(wgtorch.tensor(up, device=w_out.device))
    for t, w in zip(t_leaves, w_leaves):
        if t.grad is None:
            assert w.grad is None
        else:
            assert_close(w.grad, t.grad.numpy(), rtol=1e-3, atol=1e-5)


def load_from(t_mod, w_mod, device):
    """torch module's state dict -> wgtorch module on ``device``; keys must be the same."""
    sd = t_mod.state_dict()
    assert set(w_mod.state_dict()) == set(sd)
    w_mod.load_state_dict({k: wgtorch.tensor(v.detach().numpy()) for k, v in sd.items()})
    return w_mod.to(device)


def check_module_grads(t_mod, w_mod):
    w_params = dict(w_mod.named_parameters())
    assert set(w_params) == {n for n, _ in t_mod.named_parameters()}
    for n, p in t_mod.named_parameters():
        assert w_params[n].grad is not None, n
        assert_close(w_params[n].grad, p.grad.numpy(), rtol=1e-3, atol=1e-5)


# -- scaled_dot_product_attention ------------------------------------------------------------------------------


def sdpa_case(device, q_shape, k_shape, v_shape, mask=None, **kw):
    tq, wq = pair(rand(*q_shape, seed=1), device)
    tk, wk = pair(rand(*k_shape, seed=2), device)
    tv, wv = pair(rand(*v_shape, seed=3), device)
    t_out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=mask, **kw)
    w_out = F.scaled_dot_product_attention(wq, wk, wv, attn_mask=tmask(mask, device), **kw)
    assert w_out.dtype is wgtorch.float32 and tuple(w_out.shape) == tuple(t_out.shape)
    check_backward(t_out, w_out, (tq, tk, tv), (wq, wk, wv))


@pytest.mark.parametrize("kw", [{}, {"is_causal": True}, {"scale": 0.3}, {"is_causal": True, "scale": 2.0}],
                         ids=["plain", "causal", "scale", "causal-scale"])
def test_sdpa_basic(device, kw):
    sdpa_case(device, (2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 3), **kw)


def test_sdpa_3d_and_2d(device):
    sdpa_case(device, (2, 5, 4), (2, 6, 4), (2, 6, 4))
    sdpa_case(device, (5, 4), (6, 4), (6, 2), is_causal=True)


@pytest.mark.parametrize("mask_shape", [(5, 6), (1, 1, 5, 6), (2, 1, 5, 6), (3, 5, 6), (1, 6), (5, 1)])
def test_sdpa_bool_mask_broadcast(device, mask_shape):
    m = torch.tensor(np.random.default_rng(4).random(mask_shape) > 0.4)
    sdpa_case(device, (2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 4), mask=m)


@pytest.mark.parametrize("mask_shape", [(5, 6), (2, 3, 5, 6), (1, 6)])
def test_sdpa_float_mask(device, mask_shape):
    m = torch.tensor(rand(*mask_shape, seed=5))
    sdpa_case(device, (2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 4), mask=m)


def test_sdpa_fully_masked_rows_give_zeros(device):
    """torch 2.13 gives zeros (not NaN) and zero gradients for a row with every key masked out."""
    m = torch.ones(4, 5, dtype=torch.bool)
    m[1] = False
    sdpa_case(device, (1, 2, 4, 3), (1, 2, 5, 3), (1, 2, 5, 3), mask=m)
    fm = torch.zeros(4, 5)
    fm[2] = float("-inf")
    sdpa_case(device, (1, 2, 4, 3), (1, 2, 5, 3), (1, 2, 5, 3), mask=fm)


def test_sdpa_causal_and_mask_combine(device):
    m = torch.tensor(np.random.default_rng(6).random((4, 4)) > 0.3)
    sdpa_case(device, (1, 2, 4, 3), (1, 2, 4, 3), (1, 2, 4, 3), mask=m, is_causal=True)


def test_sdpa_causal_rectangular(device):
    sdpa_case(device, (1, 2, 3, 4), (1, 2, 6, 4), (1, 2, 6, 4), is_causal=True)
    sdpa_case(device, (1, 2, 6, 4), (1, 2, 3, 4), (1, 2, 3, 4), is_causal=True)


@pytest.mark.parametrize("kv_heads", [1, 2, 4])
def test_sdpa_gqa(device, kv_heads):
    sdpa_case(device, (2, 4, 5, 4), (2, kv_heads, 6, 4), (2, kv_heads, 6, 3), enable_gqa=True)


def test_sdpa_dropout_statistics(device):
    """dropout_p > 0 zeroes attention weights: with value = ones each output is the kept mass / (1 - p)."""
    wgtorch.manual_seed(0)
    q = wgtorch.tensor(rand(1, 2, 64, 4, seed=1), device=device)
    v = wgtorch.ones(1, 2, 64, 1, device=device)
    out = F.scaled_dot_product_attention(q, q, v, dropout_p=0.5).numpy()
    assert out.shape == (1, 2, 64, 1)
    assert 0.8 < out.mean() < 1.2 and out.std() > 0.05
    full = F.scaled_dot_product_attention(q, q, v, dropout_p=1.0).numpy()
    np.testing.assert_array_equal(full, 0.0)


def test_sdpa_errors(device):
    q = wgtorch.zeros(1, 2, 3, 4, device=device)
    with pytest.raises(RuntimeError):
        F.scaled_dot_product_attention(q, wgtorch.zeros(1, 2, 3, 5, device=device), q)
    with pytest.raises(RuntimeError):  # heads differ and enable_gqa is off
        F.scaled_dot_product_attention(wgtorch.zeros(1, 4, 3, 4, device=device), q[:, :1].expand(1, 3, 3, 4),
                                       q[:, :1].expand(1, 3, 3, 4))
    k3 = wgtorch.zeros(1, 3, 3, 4, device=device)
    with pytest.raises(RuntimeError):  # 3 key heads do not divide 4 query heads
        F.scaled_dot_product_attention(wgtorch.zeros(1, 4, 3, 4, device=device), k3, k3, enable_gqa=True)
    with pytest.raises(RuntimeError):  # integer mask
        F.scaled_dot_product_attention(q, q, q, attn_mask=wgtorch.zeros(3, 3, dtype=wgtorch.int64, device=device))
    with pytest.raises(RuntimeError):  # mask does not broadcast
        F.scaled_dot_product_attention(q, q, q, attn_mask=wgtorch.zeros(3, 2, device=device))
    with pytest.raises(RuntimeError):  # dtypes differ
        F.scaled_dot_product_attention(q, q, q.to(wgtorch.int32))


# -- MultiheadAttention ------------------------------------------------------------------------------------------

MHA_OPTIONS = [{}, {"bias": False}, {"add_bias_kv": True}, {"add_zero_attn": True},
               {"add_bias_kv": True, "add_zero_attn": True}, {"kdim": 5, "vdim": 3}, {"batch_first": True}]


def mha_case(device, opts, L=3, S=4, N=2, E=8, H=2, kpm=None, attn_mask=None, **kw):
    torch.manual_seed(0)
    t_mod = torch.nn.MultiheadAttention(E, H, **opts)
    w_mod = load_from(t_mod, nn.MultiheadAttention(E, H, **opts), device)
    bf = opts.get("batch_first", False)

    def shape(n):
        return (N, n) if bf else (n, N)

    tq, wq = pair(rand(*shape(L), E, seed=1), device)
    tk, wk = pair(rand(*shape(S), opts.get("kdim", E), seed=2), device)
    tv, wv = pair(rand(*shape(S), opts.get("vdim", E), seed=3), device)
    t_out, t_w = t_mod(tq, tk, tv, key_padding_mask=kpm, attn_mask=attn_mask, **kw)
    w_out, w_w = w_mod(wq, wk, wv, key_padding_mask=tmask(kpm, device), attn_mask=tmask(attn_mask, device), **kw)
    if t_w is None:
        assert w_w is None
        loss_t, loss_w = t_out, w_out
    else:
        assert_close(w_w, t_w.detach().numpy(), rtol=RTOL, atol=ATOL)
        assert_close(w_out, t_out.detach().numpy(), rtol=RTOL, atol=ATOL)
        r_out, r_w = rand(*t_out.shape, seed=11), rand(*t_w.shape, seed=12)  # weights' rows sum to 1: weigh them
        loss_t = (t_out * torch.tensor(r_out)).sum() + (t_w * torch.tensor(r_w)).sum()
        loss_w = (w_out * wgtorch.tensor(r_out, device=device)).sum() + (w_w * wgtorch.tensor(r_w, device=device)).sum()
    check_backward(loss_t, loss_w, (tq, tk, tv), (wq, wk, wv))
    check_module_grads(t_mod, w_mod)


@pytest.mark.parametrize("opts", MHA_OPTIONS, ids=lambda o: "-".join(o) or "default")
def test_mha_options(device, opts):
    mha_case(device, opts)


@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_mha_masks(device, need_weights, average):
    kpm = torch.tensor([[False, False, True, False], [False, True, True, False]])
    am = torch.tensor(np.random.default_rng(2).random((3, 4)) > 0.7)
    mha_case(device, {}, kpm=kpm, attn_mask=am, need_weights=need_weights, average_attn_weights=average)


def test_mha_float_and_3d_masks(device):
    kpm = torch.tensor(rand(2, 4, seed=8))
    am = torch.tensor(rand(2 * 2, 3, 4, seed=9))
    mha_case(device, {"add_bias_kv": True, "add_zero_attn": True}, kpm=kpm, attn_mask=am)
    mha_case(device, {}, attn_mask=am, need_weights=False)


def test_mha_causal_hint(device):
    L = 4
    mask = torch.nn.Transformer.generate_square_subsequent_mask(L)
    mha_case(device, {"batch_first": True}, L=L, S=L, attn_mask=mask, is_causal=True, need_weights=False)


def test_mha_unbatched(device):
    torch.manual_seed(1)
    t_mod = torch.nn.MultiheadAttention(4, 2)
    w_mod = load_from(t_mod, nn.MultiheadAttention(4, 2), device)
    tx, wx = pair(rand(3, 4, seed=4), device)
    t_out, t_w = t_mod(tx, tx, tx, key_padding_mask=torch.tensor([False, True, False]))
    w_out, w_w = w_mod(wx, wx, wx, key_padding_mask=wgtorch.tensor([False, True, False], device=device))
    assert tuple(w_w.shape) == (3, 3)
    assert_close(w_w, t_w.detach().numpy(), rtol=RTOL, atol=ATOL)
    check_backward(t_out, w_out, (tx,), (wx,))
    check_module_grads(t_mod, w_mod)


def test_mha_fully_padded_is_nan_with_weights(device):
    """As torch: need_weights=True takes the plain softmax path, so a fully padded sequence gives NaN."""
    torch.manual_seed(2)
    t_mod = torch.nn.MultiheadAttention(4, 2, batch_first=True)
    w_mod = load_from(t_mod, nn.MultiheadAttention(4, 2, batch_first=True), device)
    x = rand(1, 3, 4, seed=5)
    t_out, t_w = t_mod(torch.tensor(x), torch.tensor(x), torch.tensor(x), key_padding_mask=torch.ones(1, 3).bool())
    w_x = wgtorch.tensor(x, device=device)
    w_out, w_w = w_mod(w_x, w_x, w_x, key_padding_mask=wgtorch.ones(1, 3, device=device).bool())
    assert np.isnan(t_out.detach().numpy()).all() and np.isnan(w_out.detach().numpy()).all()
    assert np.isnan(w_w.detach().numpy()).all()


def test_mha_fully_padded_is_zero_without_weights(device):
    """need_weights=False goes through SDPA: a fully padded sequence gives zeros (+ out_proj bias), as torch."""
    kpm = torch.tensor([[True, True, True, True], [False, True, False, False]])
    mha_case(device, {"batch_first": True}, kpm=kpm, need_weights=False)


def test_mha_init_and_keys():
    wgtorch.manual_seed(0)
    m = nn.MultiheadAttention(16, 4, add_bias_kv=True)
    assert list(m.state_dict()) == list(torch.nn.MultiheadAttention(16, 4, add_bias_kv=True).state_dict())
    np.testing.assert_array_equal(m.in_proj_bias.detach().numpy(), 0)
    np.testing.assert_array_equal(m.out_proj.bias.detach().numpy(), 0)
    bound = np.sqrt(6 / (16 + 48))  # xavier_uniform_ on (3E, E)
    w = m.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    sep = nn.MultiheadAttention(8, 2, kdim=3, vdim=5, bias=False)
    assert set(sep.state_dict()) == set(torch.nn.MultiheadAttention(8, 2, kdim=3, vdim=5, bias=False).state_dict())
    assert sep.in_proj_weight is None and sep.in_proj_bias is None and sep.out_proj.bias is None
    assert "out_proj" in repr(m)


def test_mha_errors(device):
    with pytest.raises(AssertionError):
        nn.MultiheadAttention(5, 2)
    m = nn.MultiheadAttention(4, 2).to(device)
    x = wgtorch.zeros(3, 2, 4, device=device)
    with pytest.raises(AssertionError):  # embed dim
        m(wgtorch.zeros(3, 2, 5, device=device), x, x)
    with pytest.raises(AssertionError):  # key padding mask shape
        m(x, x, x, key_padding_mask=wgtorch.zeros(2, 4, device=device).bool())
    with pytest.raises(RuntimeError):  # attn mask shape
        m(x, x, x, attn_mask=wgtorch.zeros(2, 3, device=device).bool())
    with pytest.raises(AssertionError):  # integer mask
        m(x, x, x, attn_mask=wgtorch.zeros(3, 3, dtype=wgtorch.int64, device=device))
    with pytest.raises(RuntimeError):  # is_causal without a mask
        m(x, x, x, is_causal=True)


# -- Transformer layers ------------------------------------------------------------------------------------------

LAYER_OPTIONS = [{}, {"norm_first": True}, {"activation": "gelu"}, {"batch_first": True}, {"bias": False},
                 {"layer_norm_eps": 1e-3, "activation": "gelu", "norm_first": True}]
LAYER_KW = {"d_model": 8, "nhead": 2, "dim_feedforward": 12, "dropout": 0.0}


def run_pair(t_mod, w_mod, device, t_inputs, kwargs):
    leaves = [pair(x, device) for x in t_inputs]
    t_out = t_mod(*[t for t, _ in leaves], **kwargs)
    w_out = w_mod(*[w for _, w in leaves], **{k: tmask(v, device) if isinstance(v, torch.Tensor) else v
                                              for k, v in kwargs.items()})
    check_backward(t_out, w_out, [t for t, _ in leaves], [w for _, w in leaves])
    check_module_grads(t_mod, w_mod)


@pytest.mark.parametrize("opts", LAYER_OPTIONS, ids=lambda o: "-".join(o) or "default")
def test_encoder_layer(device, opts):
    torch.manual_seed(0)
    t_mod = torch.nn.TransformerEncoderLayer(**LAYER_KW, **opts)
    w_mod = load_from(t_mod, nn.TransformerEncoderLayer(**LAYER_KW, **opts), device)
    kpm = torch.tensor([[False, False, True], [False, False, False]])
    x = rand(2, 3, 8, seed=1) if opts.get("batch_first") else rand(3, 2, 8, seed=1)
    run_pair(t_mod, w_mod, device, [x],
             {"src_mask": torch.nn.Transformer.generate_square_subsequent_mask(3), "src_key_padding_mask": kpm})


@pytest.mark.parametrize("opts", LAYER_OPTIONS[:4], ids=lambda o: "-".join(o) or "default")
def test_decoder_layer(device, opts):
    torch.manual_seed(0)
    t_mod = torch.nn.TransformerDecoderLayer(**LAYER_KW, **opts)
    w_mod = load_from(t_mod, nn.TransformerDecoderLayer(**LAYER_KW, **opts), device)
    mkpm = torch.tensor([[False, True, False, False], [False, False, False, True]])
    bf = opts.get("batch_first")
    tgt, mem = (rand(2, 3, 8, seed=1), rand(2, 4, 8, seed=2)) if bf else (rand(3, 2, 8, seed=1), rand(4, 2, 8, seed=2))
    run_pair(t_mod, w_mod, device, [tgt, mem],
             {"tgt_mask": torch.nn.Transformer.generate_square_subsequent_mask(3), "tgt_is_causal": True,
              "memory_key_padding_mask": mkpm})


def test_callable_activation(device):
    torch.manual_seed(0)
    t_mod = torch.nn.TransformerEncoderLayer(**LAYER_KW, activation=torch.nn.functional.silu)
    w_mod = load_from(t_mod, nn.TransformerEncoderLayer(**LAYER_KW, activation=F.silu), device)
    run_pair(t_mod, w_mod, device, [rand(3, 2, 8, seed=3)], {})


def test_encoder_and_decoder_stacks(device):
    torch.manual_seed(0)
    t_enc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(**LAYER_KW), 2, torch.nn.LayerNorm(8),
                                        enable_nested_tensor=False)
    w_enc = load_from(t_enc, nn.TransformerEncoder(nn.TransformerEncoderLayer(**LAYER_KW), 2, nn.LayerNorm(8),
                                                   enable_nested_tensor=False), device)
    assert "layers.1.self_attn.in_proj_weight" in w_enc.state_dict() and "norm.weight" in w_enc.state_dict()
    mask = torch.nn.Transformer.generate_square_subsequent_mask(3)
    run_pair(t_enc, w_enc, device, [rand(3, 2, 8, seed=1)], {"mask": mask, "is_causal": True})
    t_dec = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(**LAYER_KW), 2)
    w_dec = load_from(t_dec, nn.TransformerDecoder(nn.TransformerDecoderLayer(**LAYER_KW), 2), device)
    run_pair(t_dec, w_dec, device, [rand(3, 2, 8, seed=1), rand(4, 2, 8, seed=2)], {"tgt_mask": mask})


def test_layers_are_independent_copies():
    layer = nn.TransformerEncoderLayer(8, 2, 12)
    enc = nn.TransformerEncoder(layer, 2)
    assert enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight
    assert enc.layers[0].linear1.weight is not layer.linear1.weight


@pytest.mark.parametrize("opts", [{}, {"batch_first": True, "norm_first": True, "activation": "gelu"}],
                         ids=["default", "bf-prenorm-gelu"])
def test_transformer(device, opts):
    torch.manual_seed(0)
    kw = {"d_model": 8, "nhead": 2, "num_encoder_layers": 2, "num_decoder_layers": 1, "dim_feedforward": 12,
          "dropout": 0.0, **opts}
    t_mod = torch.nn.Transformer(**kw)
    w_mod = load_from(t_mod, nn.Transformer(**kw), device)
    bf = opts.get("batch_first", False)
    src, tgt = (rand(2, 4, 8, seed=1), rand(2, 3, 8, seed=2)) if bf else (rand(4, 2, 8, seed=1),
                                                                          rand(3, 2, 8, seed=2))
    run_pair(t_mod, w_mod, device, [src, tgt],
             {"tgt_mask": torch.nn.Transformer.generate_square_subsequent_mask(3),
              "src_key_padding_mask": torch.tensor([[False, False, False, True], [False] * 4])})


def test_generate_square_subsequent_mask(device):
    m = nn.Transformer.generate_square_subsequent_mask(4, device=device)
    assert m.dtype is wgtorch.float32 and str(m.device).startswith(device)
    assert_close(m, torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())
    m64 = nn.Transformer.generate_square_subsequent_mask(2, dtype=wgtorch.float64)
    assert m64.dtype is wgtorch.float64


def test_transformer_init_and_errors():
    wgtorch.manual_seed(0)
    m = nn.Transformer(8, 2, 1, 1, 12)
    assert list(m.state_dict()) == list(torch.nn.Transformer(8, 2, 1, 1, 12).state_dict())
    bound = np.sqrt(6 / (12 + 8))  # xavier_uniform_ on every matrix, linear1 included
    assert np.abs(m.encoder.layers[0].linear1.weight.detach().numpy()).max() <= bound
    with pytest.raises(RuntimeError):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(RuntimeError):  # batch sizes differ
        m(wgtorch.zeros(4, 2, 8), wgtorch.zeros(3, 3, 8))
    with pytest.raises(RuntimeError):  # feature size
        m(wgtorch.zeros(4, 2, 6), wgtorch.zeros(3, 2, 6))


def test_eval_mode_state_dict_from_torch(device):
    """Dropout on: torch's trained-state weights loaded into wgtorch give torch's eval outputs."""
    torch.manual_seed(3)
    t_layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3, batch_first=True).eval()
    t_mha = torch.nn.MultiheadAttention(8, 2, dropout=0.3).eval()
    w_layer = load_from(t_layer, nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3, batch_first=True), device).eval()
    w_mha = load_from(t_mha, nn.MultiheadAttention(8, 2, dropout=0.3), device).eval()
    x = rand(2, 3, 8, seed=4)
    with torch.no_grad(), wgtorch.no_grad():
        assert_close(w_layer(wgtorch.tensor(x, device=device)), t_layer(torch.tensor(x)).numpy(), rtol=RTOL,
                     atol=ATOL)
        xs = np.ascontiguousarray(x.transpose(1, 0, 2))
        t_out, t_w = t_mha(*(torch.tensor(xs),) * 3)
        w_out, w_w = w_mha(*(wgtorch.tensor(xs, device=device),) * 3)
        assert_close(w_out, t_out.numpy(), rtol=RTOL, atol=ATOL)
        assert_close(w_w, t_w.numpy(), rtol=RTOL, atol=ATOL)


def test_train_mode_dropout_is_random(device):
    wgtorch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5).to(device)
    x = wgtorch.tensor(rand(3, 2, 8, seed=1), device=device)
    a, b = layer(x).detach().numpy(), layer(x).detach().numpy()
    assert a.shape == (3, 2, 8) and not np.allclose(a, b)
    layer.eval()
    np.testing.assert_array_equal(layer(x).detach().numpy(), layer(x).detach().numpy())
