"""The op protocol every backend implements.

A backend owns arrays of one device. An array has ``.shape`` (a tuple) and is a strided view of
some storage; the front end (`wgtorch._tensor.Tensor`) never looks inside it. The NumPy and CuPy
backends (`array.py`) use their own ndarrays; the wgpu backend (`wgpu/`) uses `WgpuArray`.

Operands passed to compute methods are arrays of this backend or Python scalars. The front end
has already checked shapes, dtypes and devices, and chosen the compute dtype by PyTorch's
promotion rules, so a backend only computes.

Elementwise ops are declared once in `wgtorch/ops/elementwise_defs.py` (the registry): each
backend compiles the declaration's code for it (a NumPy expression, a WGSL expression).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from .._dtype import dtype
from ..ops.elementwise_defs import OPS, PREDICATES  # noqa: F401  (PREDICATES: re-exported)

Array = Any

#: name -> arity (number of tensor-or-scalar operands), from the op registry. Ops with scalar
#: parameters (leaky_relu's slope ...) receive them as extra operands.
ELEMENTWISE = {name: op.arity for name, op in OPS.items()}

#: reductions: sum, prod, amax, amin (values) and argmax, argmin (int64 indices, one dim).
REDUCTIONS = ("sum", "prod", "amax", "amin", "argmax", "argmin")


class Backend(Protocol):
    device: Any
    name: str

    # -- moving data ---------------------------------------------------------------------------
    def from_numpy(self, a: np.ndarray, dt: dtype) -> Array:
        """Copy a host array (already of ``dt.np``) to the device."""

    def to_numpy(self, a: Array) -> np.ndarray:
        """Copy an array to the host (waits for pending work). The result may be a view of a
        private buffer; callers must not write to it."""

    # -- creation ------------------------------------------------------------------------------
    def empty(self, shape: tuple, dt: dtype) -> Array: ...
    def arange(self, start, step, n: int, dt: dtype) -> Array: ...
    def random(self, kind: str, shape: tuple, dt: dtype, seed: int, counter: int,
               low: float, high: float) -> Array:
        """"uniform" in [low, high), "normal" (mean low, std high), "randint" in [low, high).
        Counter-based: the same (seed, counter) gives the same numbers on every backend."""

    # -- views (never copy) --------------------------------------------------------------------
    def strides(self, a: Array) -> tuple:
        """Strides in elements."""
    def reshape(self, a: Array, shape: tuple) -> Array | None:
        """A view with the new shape, or None where a's strides do not allow one."""
    def permute(self, a: Array, dims: tuple) -> Array: ...
    def expand(self, a: Array, shape: tuple) -> Array:
        """Broadcast to ``shape`` with stride 0 on the new and size-1 dims."""
    def getitem(self, a: Array, key: tuple) -> Array:
        """Basic indexing: ints, slices with positive steps (already clamped), None."""
    def same_storage(self, a: Array, b: Array) -> bool:
        """Whether a and b may view the same memory (in-place ops check for overlap)."""

    # -- compute -------------------------------------------------------------------------------
    def elementwise(self, op: str, operands: list, compute: dtype, out_dtype: dtype,
                    out: Array | None = None) -> Array:
        """Broadcast ``operands`` (arrays or scalars), convert them to ``compute``, apply ``op``
        and store as ``out_dtype``. With ``out`` (an array of the broadcast shape, possibly a
        strided view that overlaps an operand elementwise), write the result through it."""
    def reduce(self, op: str, a: Array, dims: tuple, keepdim: bool, out_dtype=None) -> Array:
        """Reduce over ``dims`` (sorted, non-empty). NaN propagates through amax/amin/argmax.
        ``out_dtype`` (float32 for a float16 sum): accumulate and store the result in it."""
    def softmax(self, a: Array, dim: int, log: bool) -> Array:
        """Fused softmax (``log``: log_softmax) of a floating-point array over ``dim``:
        exp(x - max) / sum, numerically stable; a row that is all -inf (or holds a NaN) gives NaN,
        as in PyTorch. The result is a new array of a's shape and dtype."""
    def matmul(self, a: Array, b: Array) -> Array:
        """(B, M, K) @ (B, K, N) -> (B, M, N), or 2-D @ 2-D; a and b may be strided views."""
    def index_select(self, a: Array, dim: int, index: Array) -> Array: ...
    def gather(self, a: Array, dim: int, index: Array) -> Array: ...
    def scatter_add(self, a: Array, dim: int, index: Array, src: Array) -> Array:
        """A new array: a with src added at index along dim (repeated indices accumulate)."""

    # -- scatter family (wgtorch/ops/scatter.py, ops/select.py) --------------------------------
    def scatter(self, a: Array, dim: int, index: Array, src: Array, reduce: str | None = None) -> Array:
        """A new array: a with src written at index along dim (index may be smaller than src and,
        but along dim, than a; src may be a stride-0 broadcast). ``reduce`` None assigns (which
        of repeated positions wins is unspecified); "sum", "prod", "amax", "amin" combine with
        what is there, NaN propagating through amax/amin. Bad indices raise or are reported as
        in scatter_add."""
    def nonzero(self, a: Array) -> Array:
        """(n, a.ndim) int64 coordinates of a's nonzero elements (NaN is nonzero) in row-major
        order. n is data-dependent, so this waits for the device."""

    # -- runtime -------------------------------------------------------------------------------
    def synchronize(self) -> None: ...
    def check_dtype(self, dt: dtype) -> None:
        """Raise a TypeError naming what is missing where this device cannot hold ``dt``."""

    # -- fused kernels (each has a composite reference in the NumPy backend) -------------------
    def cross_entropy_forward(self, x, target, weight, outer: int, classes: int, inner: int,
                              ignore_index: int, label_smoothing: float, log_softmax: bool):
        """Per-row (loss, target weight, stats) of cross-entropy (or NLL); `array_nn.py` says how."""
    def cross_entropy_backward(self, x, target, weight, stats, grad, per_row: bool, outer: int, classes: int,
                               inner: int, ignore_index: int, label_smoothing: float, log_softmax: bool):
        """The gradient of the per-row losses weighted by ``grad``."""
    def layer_norm_forward(self, x, weight, bias, rows: int, size: int, eps: float):
        """(y, stats) of layer norm over the last ``size`` elements of each of ``rows`` rows."""
    def layer_norm_backward(self, grad, x, weight, stats, rows: int, size: int, need_affine: bool):
        """(dx, dweight, dbias) from the forward's stats."""
    def sgd_step(self, param, grad, momentum_buffer, lr, momentum, dampening, weight_decay,
                 nesterov, maximize, first_step) -> None:
        """One SGD step, in place on ``param`` and ``momentum_buffer``."""
    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,
                  weight_decay, step, decoupled, maximize) -> None:
        """One Adam / AdamW step, in place on ``param`` and its state."""
    def rmsprop_step(self, param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                     weight_decay, momentum, maximize) -> None:
        """One RMSprop step, in place on ``param`` and its state (``grad_avg`` given when centered)."""
    def rnn_forward(self, mode: str, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse: bool, save: bool):
        """One RNN/LSTM/GRU layer in one direction: (output, h_n, c_n, workspace)."""
    def rnn_backward(self, mode: str, ws, x, w_ih, w_hh, dout, dh_n, dc_n, reverse: bool,
                     has_bias: bool, needs: tuple):
        """(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh) of one layer-direction from its workspace."""


#: every method of the protocol, for the conformance test (tests/test_backend_protocol.py).
METHODS = tuple(name for name in vars(Backend) if not name.startswith("_") and callable(getattr(Backend, name)))


# -- optional capabilities (attention, batch-norm statistics) ----------------------------------------------------------
#: Methods a backend MAY have: the front end looks each up with ``getattr(be, name, None)`` and uses
#: its composite reference where it is missing (or does not apply). The wgpu backend implements them.
OPTIONAL = {
    "batch_norm_stats": "batch_norm_stats(x, batch, channels, inner) -> (C, 2) float32 per-channel (mean, biased "
                        "variance) of a dense (N, C, R) array in one pass.",
    "attention_supported": "attention_supported(dt, e, ev) -> bool: whether attention_forward takes this dtype "
                           "and these head dims.",
    "attention_forward": "attention_forward(q, k, v, mask, scale, is_causal, hq, hk) -> (out, lse): fused "
                         "scaled-dot-product attention on dense (Z, L, E) / (Zk, S, E) / (Zk, S, Ev) arrays "
                         "(wgpu/attention.py describes the layouts); lse is the per-row logsumexp, float32.",
    "attention_backward": "attention_backward(grad, q, k, v, mask, out, lse, delta, scale, is_causal, hq, hk) "
                          "-> (dq, dk, dv), with delta = rowsum(grad * out) float32.",
}
