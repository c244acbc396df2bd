"""The dashboard's ``layers`` suite: convolution, a CNN training step, scaled-dot-product attention
and a transformer encoder-layer training step, at the sizes the layers issue names. Each runs the
same code on wgtorch's devices and on PyTorch (``T`` is the module), from the same weights.

Under the tests' knob (``WGTORCH_BENCH_MINIMAL=1``) the rows run at small sizes: the same code
paths, at a cost lavapipe (software Vulkan) can afford in CI."""

from __future__ import annotations

import os

import numpy as np

from .workload import Workload, attr, functional_of, host, module_on, nn_of, optim_of, put, ref


def _scaled(full: tuple, small: tuple) -> tuple:
    return small if os.environ.get("WGTORCH_BENCH_MINIMAL") else full


def _conv_step(T, device):
    """Conv2d 3x3 (padding 1), batch 16, 32 -> 64 channels, 32x32: forward, output sum, backward."""
    n, cin, cout, hw = _scaled((16, 32, 64, 32), (2, 4, 8, 8))
    conv = module_on(T, device, lambda: attr(nn_of(T), "Conv2d")(cin, cout, 3, padding=1))
    x = put(T, host((n, cin, hw, hw)), device, requires_grad=True)

    def step():
        x.grad = conv.weight.grad = conv.bias.grad = None
        conv(x).sum().backward()
        return conv.weight.grad
    return step


def _cnn(T):
    nn = nn_of(T)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10))


def _cnn_step(T, device):
    """A CNN training step on MNIST-shaped input (batch 32, 1x28x28): two conv-BN-ReLU-pool stages,
    a linear head, cross-entropy, SGD with momentum."""
    model = module_on(T, device, lambda: _cnn(T))
    opt = attr(optim_of(T), "SGD")(model.parameters(), lr=0.01, momentum=0.9)
    (n,) = _scaled((32,), (2,))
    x = put(T, host((n, 1, 28, 28), 1), device)
    labels = T.tensor(np.random.default_rng(2).integers(0, 10, n), device=device)
    loss_fn = attr(functional_of(T), "cross_entropy")

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), labels)
        loss.backward()
        opt.step()
        return loss
    return step


def _sdpa_step(T, device):
    """F.scaled_dot_product_attention, batch 8, 8 heads, sequence 256, head dim 64, causal:
    forward, output sum, backward to q, k and v."""
    sdpa = attr(functional_of(T), "scaled_dot_product_attention")
    shape = _scaled((8, 8, 256, 64), (1, 2, 16, 8))
    q, k, v = (put(T, host(shape, seed), device, requires_grad=True) for seed in (1, 2, 3))

    def step():
        q.grad = k.grad = v.grad = None
        sdpa(q, k, v, is_causal=True).sum().backward()
        return q.grad
    return step


def _encoder_step(T, device):
    """nn.TransformerEncoderLayer(d_model 128, 4 heads, feed-forward 512, batch_first, no dropout)
    on batch 8 x sequence 64 with a causal mask: forward, MSE loss, backward, AdamW step."""
    nn = nn_of(T)
    layer = module_on(T, device, lambda: nn.TransformerEncoderLayer(128, 4, 512, dropout=0.0, batch_first=True))
    opt = attr(optim_of(T), "AdamW")(layer.parameters(), lr=1e-3)
    n, t = _scaled((8, 64), (2, 8))
    x, target = put(T, host((n, t, 128), 1), device), put(T, host((n, t, 128), 2), device)
    mask = nn.Transformer.generate_square_subsequent_mask(t, device=device)
    mse = attr(functional_of(T), "mse_loss")

    def step():
        opt.zero_grad()
        loss = mse(layer(x, src_mask=mask, is_causal=True), target)
        loss.backward()
        opt.step()
        return loss
    return step


W = Workload
LAYER_WORKLOADS: tuple[Workload, ...] = (
    W("layers", "conv2d_3x3", "Conv2d 3×3 fwd+bwd, b16, 32→64, 32×32", _conv_step, ref(""), heavy=True),
    W("layers", "cnn_train", "CNN step: 2×(conv-BN-ReLU-pool)+linear, b32, 28×28, SGD", _cnn_step, ref(""),
      heavy=True),
    W("layers", "sdpa", "SDPA fwd+bwd, b8, 8 heads, seq 256, dim 64, causal", _sdpa_step, ref(""), heavy=True),
    W("layers", "encoder_train", "TransformerEncoderLayer step: d128, 4 heads, b8, seq 64, AdamW", _encoder_step,
      ref(""), heavy=True),
)
del W
