"""The op protocol every backend implements.

A backend owns arrays of one device. An array has ``.shape`` (a tuple) and is a strided view of
some storage; the front end (`wgtorch.Tensor`) never looks inside it. The NumPy and CuPy
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

    # -- strided views (as_strided, unfold, diagonal) ------------------------------------------
    def storage_offset(self, a: Array) -> int:
        """Where a's first element is, in elements from the start of its storage."""
    def as_strided(self, a: Array, shape: tuple, strides: tuple, offset: int) -> Array:
        """A view of a's storage with ``shape`` and ``strides`` (elements, non-negative) that starts
        at element ``offset`` of the storage; the views may overlap. RuntimeError (PyTorch's
        "setStorage: ... out of bounds for storage of size ...") where any element would lie outside
        the storage."""

    # -- compute -------------------------------------------------------------------------------
    def elementwise(self, op: str, operands: list, compute: dtype, out_dtype: dtype,
                    out: Array | None = None) -> Array:
        """Broadcast ``operands`` (arrays or scalars), convert them to ``compute``, apply ``op``
        and store as ``out_dtype``. With ``out`` (an array of the broadcast shape, possibly a
        strided view that overlaps an operand elementwise), write the result through it."""
    # -- the eager path (ops/pointwise.py caches what this returns per op, dtypes, shapes, strides) --
    def elementwise_plan(self, op: str, operands: list, compute: dtype, out_dtype: dtype):
        """A callable ``run(operands)`` that computes ``elementwise(op, operands, compute,
        out_dtype)`` for any operands with the dtypes, shapes, strides and scalar types of these
        (other offsets, buffers and scalar values are fine). The front end caches it."""
    def reduce(self, op: str, a: Array, dims: tuple, keepdim: bool, out_dtype=None) -> Array:
        """Reduce over ``dims`` (sorted, non-empty). NaN propagates through amax/amin/argmax.
        ``out_dtype`` (float32 for a float16 sum): accumulate and store the result in it."""
    def softmax(self, a: Array, dim: int, log: bool) -> Array:
        """Fused softmax (``log``: log_softmax) of a floating-point array over ``dim``:
        exp(x - max) / sum, numerically stable; a row that is all -inf (or holds a NaN) gives NaN,
        as in PyTorch. The result is a new array of a's shape and dtype."""
    def matmul(self, a: Array, b: Array) -> Array:
        """(B, M, K) @ (B, K, N) -> (B, M, N), or 2-D @ 2-D; a and b may be strided views."""
    # -- matmul epilogue (addmm, F.linear with a bias) --
    def matmul_bias(self, a: Array, b: Array, bias: Array, alpha: float = 1.0, beta: float = 1.0) -> Array:
        """A new array ``alpha * (a @ b) + beta * bias`` (bias, of a's dtype, broadcast to the
        product's shape), each step rounded as the separate ops round it; the wgpu backend does
        it in the matmul kernel's store (one dispatch)."""
    def index_select(self, a: Array, dim: int, index: Array, index_error: bool = False) -> Array:
        """a's entries along dim at the 1-d index. A bad index raises (or, on a device, is reported
        as) PyTorch's cpu type for index_select: RuntimeError along dim 1 of a tensor of 2+ dims,
        IndexError elsewhere; ``index_error`` True: IndexError on every dim (``x[:, idx]``)."""
    def gather(self, a: Array, dim: int, index: Array) -> Array: ...
    def scatter_add(self, a: Array, dim: int, index: Array, src: Array, index_error: bool = False) -> Array:
        """A new array: a with src added at index along dim (repeated indices accumulate). A bad
        index gives RuntimeError (scatter_add's type), or IndexError with ``index_error`` (the type
        of the ops built on it: put_ with accumulate)."""

    # -- scatter family (wgtorch/ops/scatter.py, ops/select.py) --------------------------------
    def scatter(self, a: Array, dim: int, index: Array, src: Array, reduce: str | None = None,
                index_error: bool = False) -> Array:
        """A new array: a with src written at index along dim (index may be smaller than src and,
        but along dim, than a; src may be a stride-0 broadcast). ``reduce`` None assigns (which
        of repeated positions wins is unspecified); "sum", "prod", "amax", "amin" combine with
        what is there, NaN propagating through amax/amin. Bad indices raise or are reported as
        in scatter_add (``index_error``: IndexError, for index_copy_, index_fill_ and put_)."""
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
    # -- foreach optimizer updates (optim16): one call for a group's tensors --
    def sgd_foreach(self, params, grads, momentum_buffers, lr, momentum, dampening, weight_decay,
                    nesterov, maximize, first_steps) -> None:
        """`sgd_step` on lists (one first-step flag per tensor); one kernel per chunk on wgpu."""
    def adam_foreach(self, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, lr, beta1, beta2, eps,
                     weight_decay, steps, decoupled, maximize) -> None:
        """`adam_step` on lists. ``steps``: host counts of this step, or (capturable) float32 0-d
        arrays of the counts so far, each incremented by the call on the device."""
    def rnn_forward(self, mode: str, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse: bool, save: bool):
        """One RNN/LSTM/GRU layer in one direction: (output, h_n, c_n, workspace)."""
    def rnn_backward(self, mode: str, ws, x, w_ih, w_hh, dout, dh_n, dc_n, reverse: bool,
                     has_bias: bool, needs: tuple):
        """(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh) of one layer-direction from its workspace."""

    # -- sorting (sort, searchsorted) ----------------------------------------------------------
    def sort(self, a: Array, dim: int, descending: bool):
        """Stable sort of a (possibly strided, at least 1-d) array along ``dim``: (values, int64
        indices), new arrays of a's shape. NaN sorts as the largest value (last ascending, first
        descending), -0.0 equals 0.0, and ties keep their input order in both directions."""
    def searchsorted(self, seq: Array, values: Array, right: bool, sorter):
        """int64 insertion points of ``values`` (values' shape) in the last dim of ``seq`` (the
        same dtype): 1-D, shared by all values, or with values' leading dims. The first position
        whose element is >= v (> v with ``right``), comparisons as PyTorch's (a NaN value goes to
        the end); ``sorter`` (None, or int64 of seq's shape, already range-checked) holds the
        indices that sort each row of seq."""
    # -- scans (cumsum, cumprod, cummax/cummin, logcumsumexp) -----------------------------------
    def scan(self, op: str, a: Array, dim: int, out_dtype: dtype):
        """Inclusive scan of ``a`` along ``dim``: op "sum", "prod", "logsumexp" (a new contiguous
        array of ``out_dtype``, accumulated in float32 for float16), or "max"/"min" (a pair
        (values, int64 indices); a later value that ties wins the index; a NaN, once seen, stays,
        with the index of the last NaN, as PyTorch's cummax/cummin)."""


#: every method of the protocol, for the conformance test (tests/test_backend_protocol.py).
METHODS = tuple(name for name in vars(Backend) if not name.startswith("_") and callable(getattr(Backend, name)))


def check_strided_bounds(shape, strides, offset: int, storage_size: int, itemsize: int) -> None:
    """Raise PyTorch's RuntimeError where a view (shape, strides, offset; elements) of a storage of
    ``storage_size`` elements would reach outside it (every backend's ``as_strided`` calls this)."""
    if any(n < 0 for n in shape) or any(s < 0 for s in strides) or offset < 0 or len(shape) != len(strides):
        raise RuntimeError(f"as_strided: invalid geometry: sizes {list(shape)}, strides {list(strides)}, "
                           f"storage offset {offset}")
    if 0 in shape:
        return  # an empty view addresses nothing (PyTorch accepts any offset then)
    need = offset + 1 + sum((n - 1) * s for n, s in zip(shape, strides))
    if need > storage_size:
        raise RuntimeError(f"setStorage: sizes {list(shape)}, strides {list(strides)}, storage offset {offset}, and "
                           f"itemsize {itemsize} requiring a storage size of {need * itemsize} are out of bounds "
                           f"for storage of size {storage_size * itemsize}")


# -- optional fused kernels (a backend may lack them; ask with `optional`) --------------------
class FusedConv(Protocol):
    """2-d convolution as one kernel per pass (wgpu: an implicit GEMM, ``wgpu/conv.py``). A
    backend without it runs the composite of ``wgtorch/nn/_conv.py`` (im2col columns and a
    matmul), which is also the reference the kernels are tested against. Arrays are 4-D
    (N, C, H, W) with any strides, ``weight`` is (C_out, C_in / groups, kH, kW), ``stride`` and
    ``dilation`` are pairs and ``padding`` is ((top, bottom), (left, right)) of zeros; float32
    and float16, and float64 (wgpu: with shader-f64). Each returns a new contiguous array."""

    def conv2d_forward(self, x, weight, bias, stride: tuple, padding: tuple, dilation: tuple, groups: int):
        """(N, C_out, H_out, W_out): the convolution of x by weight, plus bias (C_out,) or None."""
    def conv2d_backward_input(self, grad, weight, input_shape: tuple, stride: tuple, padding: tuple,
                              dilation: tuple, groups: int):
        """The gradient of the input (of shape ``input_shape``) from the output's ``grad``."""
    def conv2d_backward_weight(self, grad, x, weight_shape: tuple, stride: tuple, padding: tuple,
                               dilation: tuple, groups: int):
        """The gradient of the weight (of shape ``weight_shape``) from the output's ``grad``."""


class FusedLayers(Protocol):
    """Fused attention and batch-norm statistics (wgpu: ``wgpu/attention.py``, ``wgpu/norm.py``).
    A backend without them runs the composites of ``nn/_attention.py`` and ``nn/_norm.py``, the
    references the kernels are tested against."""

    def attention_supported(self, dt, e: int, ev: int) -> bool:
        """Whether attention_forward takes this dtype and these head dims."""
    def attention_forward(self, q, k, v, mask, scale: float, is_causal: bool, hq: int, hk: int):
        """(out, lse): fused scaled-dot-product attention on dense (Z, L, E) / (Zk, S, E) / (Zk, S, Ev)
        arrays (``wgpu/attention.py`` describes the layouts); lse is the per-row logsumexp, float32
        (float64 for float64 inputs, where attention_supported takes them; so is the mask then)."""
    def attention_backward(self, grad, q, k, v, mask, out, lse, delta, scale: float, is_causal: bool, hq: int,
                           hk: int):
        """(dq, dk, dv), with delta = rowsum(grad * out) float32 (float64 for float64 inputs)."""
    def batch_norm_stats(self, x, batch: int, channels: int, inner: int):
        """(C, 2) per-channel (mean, biased variance) of a dense (N, C, R) array, in one pass: float32, or
        float64 for a float64 array."""


class FusedAttentionProbs(Protocol):
    """Attention that keeps the probabilities for its backward instead of the logsumexp (NumPy / CuPy:
    ``array_attention.py``; on a CPU the saved (Z, L, S) probabilities are cheaper than recomputing them).
    Same layouts as `FusedLayers.attention_forward`; used in its place where a backend has both."""

    def attention_probs_forward(self, q, k, v, mask, scale: float, is_causal: bool, hq: int, hk: int):
        """(out (Z, L, Ev), probabilities (Z, L, S) float32, 0 in a row with no key kept)."""
    def attention_probs_backward(self, grad, q, k, v, probs, delta, scale: float, hq: int, hk: int):
        """(dq, dk, dv), with delta = rowsum(grad * out) float32."""


def _methods_of(cls) -> tuple:
    return tuple(name for name in vars(cls) if not name.startswith("_") and callable(getattr(cls, name)))


#: the optional methods, by the protocol class that declares them (tests check the backends that have them).
OPTIONAL_BY_CLASS = {name: cls for cls in (FusedConv, FusedLayers, FusedAttentionProbs) for name in _methods_of(cls)}
OPTIONAL = tuple(OPTIONAL_BY_CLASS)


def optional(be, name: str):
    """``be``'s optional method ``name`` (one of OPTIONAL), or None where the backend lacks it."""
    if name not in OPTIONAL:
        raise AttributeError(f"{name!r} is not an optional backend method")
    return getattr(be, name, None)
