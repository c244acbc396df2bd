"""nn.Module machinery, containers, layers, init, gradient clipping and a small MLP trained on
every device: registration and traversal, state dicts and their errors, hooks, repr, to(),
train/eval, PyTorch's default initialisations."""

from __future__ import annotations

import copy
import math
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import wgtorch
import wgtorch.nn as nn
import wgtorch.nn.functional as F
from tests.helpers import assert_close, rand


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.norm = nn.LayerNorm(4)
        self.register_buffer("steps", wgtorch.zeros((), dtype=wgtorch.int64))
        self.register_buffer("scratch", wgtorch.zeros(2), persistent=False)

    def forward(self, x):
        return self.norm(self.fc(x)).relu()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(wgtorch.ones(1))
        self.block = Block()
        self.head = nn.Sequential(nn.Linear(4, 2), nn.Tanh())

    def forward(self, x):
        return self.head(self.block(x)) * self.scale


# -- registration and traversal --------------------------------------------------------------------------

def test_named_members_and_prefixes():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "scale", "block.fc.weight", "block.fc.bias", "block.norm.weight", "block.norm.bias", "head.0.weight",
        "head.0.bias"]
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in net.named_parameters(prefix="model")][1] == "model.block.fc.weight"
    assert [n for n, _ in net.named_buffers()] == ["block.steps", "block.scratch"]
    assert [n for n, _ in net.named_children()] == ["block", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.fc", "block.norm", "head", "head.0",
                                                   "head.1"]
    assert net.get_submodule("head.0") is net.head[0]
    assert net.get_parameter("block.fc.bias") is net.block.fc.bias
    assert net.get_buffer("block.steps") is net.block.steps
    assert all(isinstance(p, nn.Parameter) for p in net.parameters())
    assert len(list(net.modules())) == 7


def test_shared_parameters_and_modules_listed_once():
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.named_parameters(remove_duplicate=False))) == 4
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1"]


def test_setattr_registration_rules():
    m = nn.Module()
    m.w = nn.Parameter(wgtorch.zeros(2))
    m.sub = nn.Linear(1, 1)
    m.plain = 3
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"] and m.plain == 3
    with pytest.raises(TypeError, match=r"cannot assign 'torch.Tensor' as parameter 'w' \(torch.nn.Parameter or "
                                        r"None expected\)"):
        m.w = wgtorch.zeros(2)
    m.w = None
    assert m.w is None and "w" in m._parameters
    with pytest.raises(TypeError, match="cannot assign 'int' as child module 'sub'"):
        m.sub = 5
    m.register_buffer("buf", wgtorch.ones(1))
    m.buf = wgtorch.zeros(3)
    assert m.buf.shape == (3,) and "buf" in m._buffers
    with pytest.raises(TypeError, match="cannot assign 'str' as buffer 'buf'"):
        m.buf = "x"
    with pytest.raises(KeyError, match="attribute 'plain' already exists"):
        m.register_buffer("plain", wgtorch.zeros(1))
    with pytest.raises(KeyError, match='contain ".", got: a.b'):
        m.register_parameter("a.b", None)
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("x", 3)
    del m.sub
    assert "sub" not in m._modules
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'sub'"):
        m.sub  # noqa: B018

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(wgtorch.zeros(1))

    with pytest.raises(AttributeError, match=r"cannot assign parameters before Module.__init__\(\) call"):
        Early()


def test_parameter_basics():
    data = wgtorch.ones(2, 2)
    p = nn.Parameter(data)
    assert isinstance(p, nn.Parameter) and isinstance(p, wgtorch.Tensor) and p.requires_grad and p.is_leaf
    assert repr(p) == "Parameter containing:\ntensor([[1., 1.],\n        [1., 1.]], requires_grad=True)"
    assert not nn.Parameter(data, requires_grad=False).requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(wgtorch.zeros(2, dtype=wgtorch.int64))
    assert not isinstance(p * 2, nn.Parameter)
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.requires_grad and q is not p
    r = pickle.loads(pickle.dumps(p))
    assert isinstance(r, nn.Parameter) and np.array_equal(r.detach().numpy(), p.detach().numpy())


def test_module_copy_and_pickle():
    net = Net()
    x = wgtorch.tensor(rand(2, 3, seed=2))
    for clone in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert isinstance(clone.block.fc.weight, nn.Parameter) and clone.block.fc.weight is not net.block.fc.weight
        assert [k for k in clone.state_dict()] == [k for k in net.state_dict()]
        assert_close(clone(x), net(x).detach().numpy(), rtol=1e-6)


# -- modes, grads, apply ------------------------------------------------------------------------------------

def test_train_eval_and_dropout():
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    assert net.training and net[1].training
    assert net.eval() is net and not net[1].training
    x = wgtorch.ones(3, 4)
    assert_close(net(x), net[0](x).detach().numpy())
    net.train()
    assert net[1].training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        net.train("yes")


def test_zero_grad_requires_grad_and_apply():
    net = Net()
    net(wgtorch.ones(2, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen[-1] == "Net" and seen[0] == "Linear"


# -- device and dtype moves ---------------------------------------------------------------------------------

def test_to_device_keeps_parameter_identity(wgpu_device):
    net = Net()
    params = list(net.parameters())
    net(wgtorch.ones(2, 3)).sum().backward()
    before = [p.detach().numpy().copy() for p in params]
    assert net.to(wgpu_device) is net
    assert all(a is b for a, b in zip(params, net.parameters()))
    assert all(p.device.type == "wgpu" and p.grad.device.type == "wgpu" for p in params)
    assert net.block.steps.device.type == "wgpu" and net.block.steps.dtype is wgtorch.int64
    assert all(np.array_equal(b, p.detach().numpy()) for b, p in zip(before, params))
    out = net(wgtorch.ones(2, 3, device=wgpu_device))
    assert out.device.type == "wgpu"
    net.cpu()
    assert all(p.device.type == "cpu" for p in params)


def test_to_dtype_casts_floating_state_only():
    net = Net()
    params = list(net.parameters())
    net.to(wgtorch.float64)
    assert all(p.dtype is wgtorch.float64 for p in params) and all(a is b for a, b in zip(params, net.parameters()))
    assert net.block.steps.dtype is wgtorch.int64
    net.float()
    assert net.block.fc.weight.dtype is wgtorch.float32
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point or complex dtypes"):
        net.to(wgtorch.int32)


# -- state dicts ----------------------------------------------------------------------------------------------

def test_state_dict_keys_and_round_trip(device):
    wgtorch.manual_seed(0)
    a = Net().to(device)
    sd = a.state_dict()
    assert list(sd) == ["scale", "block.steps", "block.fc.weight", "block.fc.bias", "block.norm.weight",
                        "block.norm.bias", "head.0.weight", "head.0.bias"]
    assert not any(v.requires_grad for v in sd.values())
    assert isinstance(a.state_dict(keep_vars=True)["scale"], nn.Parameter)
    wgtorch.manual_seed(1)
    b = Net().to(device)
    x = wgtorch.tensor(rand(5, 3, seed=1), device=device)
    assert not np.allclose(a(x).detach().numpy(), b(x).detach().numpy())
    params_b = list(b.parameters())
    result = b.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    assert all(x is y for x, y in zip(params_b, b.parameters()))
    assert_close(b(x), a(x).detach().numpy(), rtol=1e-6)
    # Loading from another device copies across.
    other = "cpu" if device == "wgpu" else None
    if other:
        b.load_state_dict({k: v.cpu() for k, v in sd.items()})
        assert b.block.fc.weight.device.type == "wgpu"


def test_load_state_dict_errors_leave_module_unchanged():
    net = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    sd = {k: v.clone() + 1 for k, v in net.state_dict().items()}
    sd.pop("1.bias")
    sd["0.extra"] = wgtorch.zeros(1)
    sd["1.weight"] = wgtorch.zeros(3, 2)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    assert str(info.value) == (
        "Error(s) in loading state_dict for Sequential:\n"
        '\tMissing key(s) in state_dict: "1.bias". \n'
        '\tUnexpected key(s) in state_dict: "0.extra". \n'
        "\tsize mismatch for 1.weight: copying a param with shape wgtorch.Size([3, 2]) from checkpoint, the shape "
        "in current model is wgtorch.Size([1, 2]).")
    assert all(np.array_equal(before[k], v.numpy()) for k, v in net.state_dict().items())
    # strict=False reports the keys, still refuses a size mismatch, and loads the rest.
    with pytest.raises(RuntimeError, match="size mismatch for 1.weight"):
        net.load_state_dict(sd, strict=False)
    sd["1.weight"] = wgtorch.zeros(1, 2)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["1.bias"] and result.unexpected_keys == ["0.extra"]
    assert np.array_equal(net[0].bias.detach().numpy(), before["0.bias"] + 1)
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        net.load_state_dict([1, 2])


def test_load_state_dict_assign():
    net = nn.Linear(2, 2)
    w = wgtorch.ones(2, 2)
    net.load_state_dict({"weight": w, "bias": wgtorch.zeros(2)}, assign=True)
    assert isinstance(net.weight, nn.Parameter) and net.weight.requires_grad
    w.fill_(3.0)  # assign shares the tensor's memory
    assert net.weight.detach().numpy()[0, 0] == 3.0


# -- hooks --------------------------------------------------------------------------------------------------

def test_forward_hooks():
    lin = nn.Linear(2, 2)
    calls = []
    pre = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    post = lin.register_forward_hook(lambda m, args, out: calls.append(out.shape) or out + 1)
    y = lin(wgtorch.ones(3, 2))
    assert_close(y, np.broadcast_to(lin.bias.detach().numpy() + 1, (3, 2)), rtol=1e-6)
    assert calls == [(3, 2)]
    pre.remove()
    post.remove()
    assert_close(lin(wgtorch.zeros(1, 2)), lin.bias.detach().numpy()[None], rtol=1e-6)
    with lin.register_forward_hook(lambda m, a, kw, out: out * kw.get("k", 1), with_kwargs=True):
        assert lin._forward_hooks
    assert not lin._forward_hooks
    order = []
    lin.register_forward_hook(lambda m, a, o: order.append("second"))
    lin.register_forward_hook(lambda m, a, o: order.append("first"), prepend=True)
    lin(wgtorch.zeros(1, 2))
    assert order == ["first", "second"]


# -- repr -----------------------------------------------------------------------------------------------------

def test_reprs():
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 10, bias=False))
    assert repr(mlp) == (
        "Sequential(\n"
        "  (0): Flatten(start_dim=1, end_dim=-1)\n"
        "  (1): Linear(in_features=784, out_features=128, bias=True)\n"
        "  (2): ReLU()\n"
        "  (3): Dropout(p=0.1, inplace=False)\n"
        "  (4): Linear(in_features=128, out_features=10, bias=False)\n"
        ")")
    assert repr(Net().block) == (
        "Block(\n  (fc): Linear(in_features=3, out_features=4, bias=True)\n"
        "  (norm): LayerNorm((4,), eps=1e-05, elementwise_affine=True)\n)")
    assert repr(nn.Embedding(10, 3, padding_idx=0)) == "Embedding(10, 3, padding_idx=0)"
    assert repr(nn.GELU(approximate="tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.Softmax(dim=-1)) == "Softmax(dim=-1)"
    assert repr(nn.Identity()) == "Identity()"
    assert repr(nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Tanh()])) == (
        "ModuleList(\n  (0-1): 2 x ReLU()\n  (2): Tanh()\n)")
    assert repr(nn.ModuleDict({"a": nn.Sequential(nn.ReLU())})) == (
        "ModuleDict(\n  (a): Sequential(\n    (0): ReLU()\n  )\n)")


# -- containers -------------------------------------------------------------------------------------------------

def test_sequential_container():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b)
    assert len(seq) == 2 and seq[0] is a and seq[-1] is b and list(seq) == [a, b]
    seq.append(c)
    assert seq[2] is c and isinstance(seq[1:], nn.Sequential) and list(seq[1:]) == [b, c]
    x = wgtorch.ones(4, 2)
    assert_close(seq(x), c(b(a(x))).detach().numpy())
    del seq[1]
    assert list(seq._modules) == ["0", "1"] and seq[1] is c
    named = nn.Sequential(OrderedDict([("enc", a), ("act", b)]))
    assert named.enc is a and list(named.state_dict()) == ["enc.weight", "enc.bias"]
    with pytest.raises(IndexError):
        seq[5]


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    assert isinstance(layers[-1], nn.Tanh) and isinstance(layers[1:3], nn.ModuleList)
    layers.insert(0, nn.Identity())
    assert isinstance(layers[0], nn.Identity) and len(layers) == 6
    with pytest.raises(NotImplementedError, match='missing the required "forward" function'):
        layers(wgtorch.ones(1))
    d = nn.ModuleDict({"a": nn.Linear(1, 1)})
    d["b"] = nn.ReLU()
    assert list(d.keys()) == ["a", "b"] and "a" in d and len(d) == 2
    assert [n for n, _ in d.named_parameters()] == ["a.weight", "a.bias"]
    assert isinstance(d.pop("b"), nn.ReLU) and list(d) == ["a"]


# -- layers and their default initialisation -----------------------------------------------------------------

def test_linear_default_init(device):
    wgtorch.manual_seed(0)
    lin = nn.Linear(400, 300, device=device)
    bound = 1 / math.sqrt(400)
    w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    assert lin.weight.device.type == device
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.mean()) < 0.01 * bound and abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert np.abs(b).max() <= bound and abs(b.mean()) < 0.1 * bound


def test_layer_norm_and_embedding_init(device):
    ln = nn.LayerNorm((2, 3), device=device)
    assert_close(ln.weight, np.ones((2, 3))) and assert_close(ln.bias, np.zeros((2, 3)))
    assert nn.LayerNorm(4, elementwise_affine=False).weight is None
    wgtorch.manual_seed(0)
    emb = nn.Embedding(500, 40, padding_idx=-1, device=device)
    w = emb.weight.detach().numpy()
    assert emb.padding_idx == 499 and not w[499].any()
    assert abs(w[:499].mean()) < 0.02 and abs(w[:499].std() - 1) < 0.02
    out = emb(wgtorch.tensor([[0, 499]], device=device))
    assert out.shape == (1, 2, 40)
    frozen = nn.Embedding.from_pretrained(wgtorch.ones(3, 2))
    assert not frozen.weight.requires_grad


def test_layers_forward(device):
    x = rand(2, 3, 4, seed=3)
    t = wgtorch.tensor(x, device=device)
    assert nn.Flatten()(t).shape == (2, 12) and nn.Flatten(0, 1)(t).shape == (6, 4)
    assert nn.Unflatten(2, (2, 2))(t).shape == (2, 3, 2, 2)
    assert nn.Identity(54, unused=True)(t) is t
    assert_close(nn.Softmax(dim=-1)(t), F.softmax(t, -1).numpy())
    assert_close(nn.LogSoftmax(dim=1)(t), F.log_softmax(t, 1).numpy())
    for module, fn in ((nn.ReLU(), F.relu), (nn.GELU(), F.gelu), (nn.Tanh(), F.tanh), (nn.Sigmoid(), F.sigmoid),
                       (nn.SiLU(), F.silu), (nn.LeakyReLU(0.3), lambda v: F.leaky_relu(v, 0.3)),
                       (nn.ELU(), F.elu), (nn.Softplus(), F.softplus)):
        assert_close(module(t), fn(t).numpy(), rtol=1e-6)
    ln = nn.LayerNorm(4).to(device)
    assert_close(ln(t), F.layer_norm(t, (4,)).detach().numpy(), rtol=1e-6)


# -- nn.init ---------------------------------------------------------------------------------------------------

def test_init_distributions(device):
    w = wgtorch.empty(300, 200, device=device)
    wgtorch.manual_seed(5)
    nn.init.uniform_(w, -0.5, 1.5)
    a = w.numpy()
    assert a.min() >= -0.5 and a.max() < 1.5 and abs(a.mean() - 0.5) < 0.01
    nn.init.normal_(w, 2.0, 3.0)
    a = w.numpy()
    assert abs(a.mean() - 2.0) < 0.03 and abs(a.std() - 3.0) < 0.03
    fan_in, fan_out = 200, 300
    nn.init.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    nn.init.xavier_normal_(w)
    assert abs(w.numpy().std() - math.sqrt(2 / (fan_in + fan_out))) < 0.002
    nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / fan_out)
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    nn.init.kaiming_normal_(w, a=0.1)
    assert abs(w.numpy().std() - math.sqrt(2 / 1.01) / math.sqrt(fan_in)) < 0.002
    nn.init.constant_(w, 0.25)
    assert np.all(w.numpy() == 0.25)
    nn.init.zeros_(w)
    assert not w.numpy().any()
    nn.init.ones_(w)
    assert np.all(w.numpy() == 1)
    p = nn.Parameter(wgtorch.zeros(3, 3, device=device))
    nn.init.eye_(p)  # works on parameters that require grad (no_grad inside)
    assert_close(p, np.eye(3))


def test_init_gains_and_errors():
    assert nn.init.calculate_gain("linear") == 1 and nn.init.calculate_gain("sigmoid") == 1
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert nn.init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert nn.init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert nn.init.calculate_gain("selu") == pytest.approx(0.75)
    with pytest.raises(ValueError, match="Unsupported nonlinearity gelu"):
        nn.init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="Fan in and fan out can not be computed for tensor with fewer than 2"):
        nn.init.xavier_uniform_(wgtorch.empty(3))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        nn.init.kaiming_uniform_(wgtorch.empty(2, 2), mode="fan_avg")
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        nn.init.kaiming_uniform_(wgtorch.empty(0, 3))


# -- gradient clipping ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm(device, norm_type):
    g1, g2 = rand(3, 4, seed=6), rand(5, seed=7)
    params = [nn.Parameter(wgtorch.zeros(3, 4, device=device)), nn.Parameter(wgtorch.zeros(5, device=device))]
    params[0].grad, params[1].grad = wgtorch.tensor(g1, device=device), wgtorch.tensor(g2, device=device)
    flat = np.concatenate([g1.ravel(), g2.ravel()]).astype(np.float64)
    total = np.abs(flat).max() if norm_type == math.inf else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    norm = nn.utils.clip_grad_norm_(params, 0.5, norm_type)
    assert norm.device.type == device
    assert_close(norm, total, rtol=1e-5)
    scale = min(1.0, 0.5 / (total + 1e-6))
    assert_close(params[0].grad, g1 * scale, rtol=1e-5, atol=1e-7)
    assert_close(params[1].grad, g2 * scale, rtol=1e-5, atol=1e-7)
    nn.utils.clip_grad_norm_(params, 100.0, norm_type)  # below the limit: unchanged
    assert_close(params[1].grad, g2 * scale, rtol=1e-5, atol=1e-7)


def test_clip_grad_value_and_nonfinite(device):
    p = nn.Parameter(wgtorch.zeros(4, device=device))
    p.grad = wgtorch.tensor([-3.0, 0.5, 2.0, -0.1], device=device)
    nn.utils.clip_grad_value_(p, 1.0)
    assert_close(p.grad, [-1.0, 0.5, 1.0, -0.1])
    p.grad = wgtorch.tensor([np.inf, 1.0, 0.0, 0.0], device=device)
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


# -- training end to end --------------------------------------------------------------------------------------

def _train_mlp(device, state, x, y, steps=20, lr=0.1):
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    model.load_state_dict(state)
    model.to(device)
    xt, yt = wgtorch.tensor(x, device=device), wgtorch.tensor(y, device=device)
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(xt), yt)
        model.zero_grad()
        loss.backward()
        with wgtorch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        losses.append(loss.item())
    return np.array(losses)


def test_mlp_trains_identically_on_cpu_and_wgpu(wgpu_device):
    wgtorch.manual_seed(42)
    init = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    state = {k: v.clone() for k, v in init.state_dict().items()}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 784)).astype(np.float32)
    y = rng.integers(0, 10, 100)
    cpu = _train_mlp("cpu", state, x, y)
    gpu = _train_mlp(wgpu_device, state, x, y)
    np.testing.assert_allclose(gpu, cpu, atol=1e-3)
    assert cpu[-1] < 0.85 * cpu[0] and np.all(np.diff(cpu) < 0)  # it learns
