"""The benchmark workloads, each defined once and shared by the dashboard and ``benches/``.

A workload's ``build(T, device)`` prepares inputs and returns a zero-argument callable that does
one unit of work with the PyTorch-style module ``T`` on ``device``. ``T`` is ``wgtorch`` for the
wgtorch columns and ``torch`` for the PyTorch peer columns, so both run the same code. Its
``numpy()`` (where NumPy has an equivalent) returns the NumPy peer's callable. The callables
return their result so tests can check that every column does the same work.

A workload that can't run on a column raises `Unavailable` (an op that has not landed yet, a
module that does not exist, no equivalent); the dashboard shows it as "n/a (reason)".
Inputs come from seeded NumPy arrays, so they need no device random-number kernel.

``reference`` is the figure the original project's report gave for the same workload: a fixed
column, measured on other hardware, for orientation only.
"""

from __future__ import annotations

import operator

import numpy as np

from .suites_layers import LAYER_WORKLOADS
from .workload import (
    Reference,
    Unavailable,
    Workload,
    attr,
    functional_of,
    host,
    module_on,
    nn_of,
    optim_of,
    put,
    ref,
    submodule,
)

# Re-exported: the dashboard's modules and the tests import a workload's parts from here.
__all__ = ["BY_NAME", "SUITES", "WORKLOADS", "Reference", "Unavailable", "Workload", "ref", "submodule", "workloads"]

__all__ = ["BY_NAME", "SUITES", "WORKLOADS", "Reference", "Unavailable", "Workload", "ref", "submodule", "workloads"]

SUITES = {
    "tensor_ops": "Tensor ops",
    "autograd": "Autograd",
    "nn": "Neural-network layers",
    "layers": "Convolution and attention",
    "memory": "Memory pool",
}


# -- tensor ops --------------------------------------------------------------------------------
def _create(n):
    def build(T, device):
        return lambda: T.ones(n, device=device)
    return build


def _binary(op):
    def build(T, device):
        a, b = put(T, host((100, 100), 1), device), put(T, host((100, 100), 2), device)
        return lambda: op(a, b)
    return build


def _binary_np(op):
    def build():
        a, b = host((100, 100), 1), host((100, 100), 2)
        return lambda: op(a, b)
    return build


def _matmul(n):
    def build(T, device):
        a, b = put(T, host((n, n), 1), device), put(T, host((n, n), 2), device)
        return lambda: a @ b
    return build


def _matmul_np(n):
    def build():
        a, b = host((n, n), 1), host((n, n), 2)
        return lambda: a @ b
    return build


def _on_100x1000(fn):
    def build(T, device):
        x = put(T, host((100, 1000), 3), device)
        return lambda: fn(x)
    return build


def _on_100x1000_np(fn):
    def build():
        x = host((100, 1000), 3)
        return lambda: fn(x)
    return build


# -- autograd ----------------------------------------------------------------------------------
def _variable(T, device):
    return lambda: T.ones(1000, device=device, requires_grad=True)


def _simple_backward(T, device):
    x = put(T, host((10, 10)), device, requires_grad=True)

    def step():
        x.grad = None
        (x * x + x * 2.0).sum().backward()
        return x.grad
    return step


def _complex_backward(T, device):
    x = put(T, host((50, 50), 1), device, requires_grad=True)
    w = put(T, host((50, 50), 2) * 0.1, device, requires_grad=True)

    def step():
        x.grad = w.grad = None
        h = (x @ w).tanh()
        (h * x + x.sigmoid()).mean().backward()
        return w.grad
    return step


def _matrix_gradient(T, device):
    a = put(T, host((100, 100), 1), device, requires_grad=True)
    b = put(T, host((100, 100), 2), device, requires_grad=True)

    def step():
        a.grad = b.grad = None
        (a @ b).sum().backward()
        return a.grad
    return step


def _long_chain(T, device):
    x = put(T, host((10, 10)), device, requires_grad=True)

    def step():
        x.grad = None
        y = x
        for _ in range(50):  # 100 ops
            y = y * 1.001
            y = y + 0.001
        y.sum().backward()
        return x.grad
    return step


# -- nn ----------------------------------------------------------------------------------------
def _linear(batch):
    def build(T, device):
        nn = nn_of(T)
        layer = module_on(T, device, lambda: attr(nn, "Linear")(784, 128))
        x = put(T, host((batch, 784)), device)
        return lambda: layer(x)
    return build


def _train(model, loss, x, target, opt):
    def step():
        opt.zero_grad()
        out = loss(model(x), target)
        out.backward()
        opt.step()
        return out
    return step


def _train_small(T, device):
    nn, F, optim = nn_of(T), functional_of(T), optim_of(T)
    model = module_on(T, device, lambda: attr(nn, "Linear")(10, 1))
    opt = attr(optim, "SGD")(model.parameters(), lr=0.01)
    x, y = put(T, host((16, 10), 1), device), put(T, host((16, 1), 2), device)
    return _train(model, attr(F, "mse_loss"), x, y, opt)


def _mlp(T, sizes):
    nn = nn_of(T)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(attr(nn, "Linear")(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(attr(nn, "ReLU")())
    return attr(nn, "Sequential")(*layers)


def _train_mnist(T, device):
    F, optim = functional_of(T), optim_of(T)
    model = module_on(T, device, lambda: _mlp(T, (784, 128, 64, 10)))
    opt = attr(optim, "SGD")(model.parameters(), lr=0.01, momentum=0.9)
    x = put(T, host((100, 784), 1), device)
    labels = T.tensor(np.random.default_rng(2).integers(0, 10, 100), device=device)
    return _train(model, attr(F, "cross_entropy"), x, labels, opt)


def _three_layer(T, device):
    model = module_on(T, device, lambda: _mlp(T, (256, 512, 512, 10)))
    params = list(model.parameters())
    x = put(T, host((64, 256)), device)

    def step():
        for p in params:
            p.grad = None
        out = model(x)
        (out * out).mean().backward()
        return params[0].grad
    return step


def _gru(backward: bool):
    """nn.GRU(32, 64) over a time-major (10, 8, 32) sequence: inference, or a training step's
    share (output sum, backward)."""
    def build(T, device):
        gru = module_on(T, device, lambda: attr(nn_of(T), "GRU")(32, 64))
        params = list(gru.parameters())
        x = put(T, host((10, 8, 32)), device)

        def forward():
            with T.no_grad():
                return gru(x)[0]

        def train():
            for p in params:
                p.grad = None
            gru(x)[0].sum().backward()
            return params[0].grad
        return train if backward else forward
    return build


# -- memory ------------------------------------------------------------------------------------
def _alloc(shape):
    def build(T, device):
        return lambda: T.empty(shape, device=device)
    return build


def _alloc_np(shape):
    def build():
        return lambda: np.empty(shape, np.float32)
    return build


_CYCLE_SHAPES = ((256,), (64, 64), (16, 16, 16), (1024,))


def _reuse_cycle(T, device):
    """200 allocations, each released at once, cycling through four size buckets."""
    def step():
        t = None
        for i in range(200):
            t = T.empty(_CYCLE_SHAPES[i & 3], device=device)
        return t
    return step


def _reuse_cycle_np():
    def step():
        t = None
        for i in range(200):
            t = np.empty(_CYCLE_SHAPES[i & 3], np.float32)
        return t
    return step


def _stats_read(T, device):
    kind = str(device).split(":")[0]
    if kind == "wgpu":
        return lambda: T.wgpu.memory_stats(device)
    if kind == "cuda":
        return lambda: T.cuda.memory_stats(device) if T.__name__ == "torch" else T.cuda.memory_allocated()
    raise Unavailable(f"the {kind} device has no memory pool")


# -- the rows ----------------------------------------------------------------------------------
W = Workload
WORKLOADS: tuple[Workload, ...] = (
    W("tensor_ops", "create_1k", "ones(1,000)", _create(1000), ref("0.356 µs"),
      lambda: lambda: np.ones(1000, np.float32)),
    W("tensor_ops", "create_1m", "ones(1,000,000)", _create(1_000_000), ref("498 µs"),
      lambda: lambda: np.ones(1_000_000, np.float32)),
    W("tensor_ops", "add_100", "add 100×100", _binary(operator.add), ref("~2 µs"), _binary_np(operator.add)),
    W("tensor_ops", "mul_100", "mul 100×100", _binary(operator.mul), ref("~2 µs"), _binary_np(operator.mul)),
    W("tensor_ops", "sub_100", "sub 100×100", _binary(operator.sub), ref("~2 µs"), _binary_np(operator.sub)),
    W("tensor_ops", "matmul_100", "matmul 100×100", _matmul(100), ref("76 µs"), _matmul_np(100)),
    W("tensor_ops", "matmul_1000", "matmul 1000×1000", _matmul(1000), ref("33 ms"), _matmul_np(1000),
      heavy=True),
    W("tensor_ops", "transpose", "transpose 100×1000 + contiguous",
      _on_100x1000(lambda x: x.transpose(0, 1).contiguous()), ref(""),
      _on_100x1000_np(lambda x: np.ascontiguousarray(x.T))),
    W("tensor_ops", "sum", "sum 100×1000", _on_100x1000(lambda x: x.sum()), ref("105 µs"),
      _on_100x1000_np(lambda x: x.sum())),
    W("tensor_ops", "mean_axis", "mean(dim=1) 100×1000", _on_100x1000(lambda x: x.mean(dim=1)),
      ref("24 µs"), _on_100x1000_np(lambda x: x.mean(axis=1))),

    W("autograd", "variable_1k", "ones(1,000, requires_grad)", _variable, ref("0.64 µs")),
    W("autograd", "backward_simple", "simple backward 10×10", _simple_backward, ref("4.9 µs")),
    W("autograd", "backward_complex", "complex backward 50×50", _complex_backward, ref("40 µs")),
    W("autograd", "matrix_gradient", "matrix gradient 100×100", _matrix_gradient, ref("95 µs")),
    W("autograd", "long_chain", "100-op chain + backward", _long_chain, ref("74 µs")),

    W("nn", "linear_b1", "Linear 784→128, batch 1", _linear(1), ref("93 µs")),
    W("nn", "linear_b100", "Linear 784→128, batch 100", _linear(100), ref("427 µs")),
    W("nn", "train_step", "train step: Linear 10→1, MSE, SGD", _train_small, ref("23 µs")),
    W("nn", "train_mnist", "MNIST step: 784-128-64-10, b100, CE, SGD", _train_mnist, ref("334 µs")),
    W("nn", "three_layer", "3-layer MLP fwd+bwd, 256-512-512-10, b64", _three_layer, ref("3.5 ms")),
    W("nn", "gru", "GRU 32→64 forward, seq 10, batch 8", _gru(False), ref("13.5 ms")),
    W("nn", "gru_train", "GRU 32→64 fwd+bwd, seq 10, batch 8", _gru(True), ref("")),

    W("memory", "alloc_small_1d", "alloc 1-D (256)", _alloc((256,)), ref("145-155 ns"), _alloc_np((256,)),
      defined_result=False),
    W("memory", "alloc_medium_2d", "alloc 2-D (128×128)", _alloc((128, 128)), ref("286-295 ns"),
      _alloc_np((128, 128)), defined_result=False),
    W("memory", "alloc_large_3d", "alloc 3-D (64×128×128)", _alloc((64, 128, 128)), ref("3.6 µs"),
      _alloc_np((64, 128, 128)), defined_result=False),
    W("memory", "reuse_cycle", "reuse cycle: 200 alloc/free", _reuse_cycle, ref("21.6 µs"), _reuse_cycle_np,
      defined_result=False),
    W("memory", "stats_read", "read pool statistics", _stats_read, ref("0.347 µs"), defined_result=False),
) + LAYER_WORKLOADS
del W

BY_NAME = {w.name: w for w in WORKLOADS}


def workloads(suites=None) -> list[Workload]:
    """The workloads of the named suites (all when None), in dashboard order."""
    if suites:
        unknown = set(suites) - set(SUITES)
        if unknown:
            raise ValueError(f"unknown suite(s) {sorted(unknown)}; choose from {list(SUITES)}")
    return [w for w in WORKLOADS if not suites or w.suite in suites]
