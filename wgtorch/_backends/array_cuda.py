"""The "cuda" backend: `ArrayBackend` over CuPy, with the hot ops fused into CUDA kernels.

Everything the NumPy reference does with ``xp`` runs on the GPU as it is (matmul is cuBLAS through
``cupy.matmul``; all work goes to CuPy's current stream and nothing waits for the device except
`to_numpy` and `synchronize`). This subclass replaces, for float32/float64 arrays, the ops that
the reference spells as many small array expressions by one kernel each from `cupy_kernels`:
cross-entropy forward and backward, the SGD/Adam/AdamW/RMSprop updates, the LSTM and GRU cell of
each time step, erf/gelu, and Philox random words; other dtypes and modes take the reference path.

Bad input never costs a host round trip: index kernels and the cross-entropy kernel write a
report into five device-side int64 "error words", and the next `to_numpy` (``.item()``,
``.numpy()``, print) or `synchronize` raises it, as the wgpu backend and CUDA's device-side
asserts do. Out-of-range indices never address memory (CuPy's gathers wrap them; the scatter
kernel skips them).
"""

from __future__ import annotations

import math

import numpy as np

from .. import cuda
from . import cupy_kernels as K
from . import random as _random
from .array import ArrayBackend
from .array_rnn import RNNLayout, sequence_grads

_FAST = (np.dtype(np.float32), np.dtype(np.float64))
_FUSED_UNARY = {"erf": K.ERF, "gelu": K.GELU}
# scatter_add dtypes without a CUDA atomic add run in a wider one (integers wrap the same way).
_SCATTER_WORK = {np.dtype(np.float16): np.float32, np.dtype(np.uint8): np.int64, np.dtype(np.int8): np.int64,
                 np.dtype(np.int16): np.int64}
_INDEX_OPS = {K.ERR_INDEX_SELECT: "index_select", K.ERR_GATHER: "gather", K.ERR_SCATTER_ADD: "scatter_add"}
_DEFERRED = "reported at the first read or synchronize after the op, as device-side errors are"
_MASK32 = 0xFFFFFFFF

# Methods that run inside ``with cupy.cuda.Device(index)`` for a backend of cuda:1 and up, so
# each device's arrays are made and used on that device whatever the current device is.
_DEVICE_METHODS = ("from_numpy", "to_numpy", "empty", "arange", "random", "reshape", "permute", "expand",
                   "getitem", "elementwise", "reduce", "softmax", "matmul", "index_select", "gather",
                   "scatter_add", "cross_entropy_forward", "cross_entropy_backward", "layer_norm_forward",
                   "layer_norm_backward", "sgd_step", "adam_step", "rmsprop_step", "rnn_forward", "rnn_backward",
                   "synchronize")


def _fast(dt, *arrays) -> bool:
    """Whether the fused kernels apply: a float32/float64 ``dt`` shared by every given array."""
    return dt in _FAST and all(a is None or a.dtype == dt for a in arrays)


def _reported_error(words) -> IndexError:
    code, value, size, dim, pos = (int(w) for w in words[:5])
    if code == K.ERR_TARGET:
        return IndexError(f"Target {value} is out of bounds. (cross_entropy / nll_loss on cuda, row {pos}, "
                          f"{size} classes; {_DEFERRED})")
    return IndexError(f"index out of range in self: {_INDEX_OPS.get(code, 'an index kernel')} on cuda met index "
                      f"{value} for dimension {dim} of size {size} ({_DEFERRED})")


def _on_device(device, method):
    def run(*args, **kwargs):
        with device:
            return method(*args, **kwargs)

    return run


class CudaArrayBackend(ArrayBackend):
    """The op protocol on one CUDA device through CuPy (``xp``), with fused kernels."""

    def __init__(self, xp, index: int = 0):
        super().__init__(xp, "cupy")
        self.index = index
        self.kernels = K.Kernels(xp)
        self._errors = None  # the error words, made on first use
        self._armed = False  # a kernel that may report ran since the last check
        if index != 0:
            device = xp.cuda.Device(index)
            for name in _DEVICE_METHODS:
                setattr(self, name, _on_device(device, getattr(self, name)))

    # -- deferred error reports ----------------------------------------------------------------
    def _error_words(self, arm: bool = True):
        if self._errors is None:
            self._errors = self.xp.zeros(5, np.int64)
        self._armed = self._armed or arm
        return self._errors

    def _raise_reported(self) -> None:
        # Called after the stream was waited for, so the words are final.
        self._armed = False
        words = self.xp.asnumpy(self._errors)
        if words[0]:
            self._errors.fill(0)
            raise _reported_error(words)

    def to_numpy(self, a):
        host = self.xp.asnumpy(a)  # waits for the current stream
        if self._armed:
            self._raise_reported()
        return host

    def synchronize(self):
        self.xp.cuda.get_current_stream().synchronize()
        if self._armed:
            self._raise_reported()

    def _check_index(self, index, size: int, code: int, dim: int, ignore=None) -> None:
        self.kernels(K.INDEX_CHECK)(index, size, 0 if ignore is None else ignore, ignore is not None, code, dim,
                                    self._error_words(index.size > 0))

    # -- random and pointwise ------------------------------------------------------------------
    def random(self, kind, shape, dt, seed, counter, low, high):
        n = int(np.prod(shape, dtype=np.int64))
        return _random.generate(kind, n, seed, counter, low, high, dt, xp=self.xp,
                                blocks=self._philox_blocks).reshape(shape)

    def _philox_blocks(self, n: int, seed: int, counter: int):
        """`random.philox_blocks` as one kernel launch."""
        nblocks = (counter % 4 + n + 3) // 4
        words = self.xp.empty(4 * nblocks, np.uint32)
        self.kernels(K.PHILOX)(counter // 4, seed & _MASK32, (seed >> 32) & _MASK32, words, size=nblocks)
        return words

    def elementwise(self, op, operands, compute, out_dtype, out=None):
        spec = _FUSED_UNARY.get(op)
        if spec is not None and out is None and out_dtype is compute and compute.np in _FAST \
                and hasattr(operands[0], "dtype"):
            return self.kernels(spec)(operands[0].astype(compute.np, copy=False))
        return super().elementwise(op, operands, compute, out_dtype, out)

    # -- index -----------------------------------------------------------------------------------
    def index_select(self, a, dim, index, index_error=False):
        # (the device report is an IndexError on every dim: see _reported_error)
        self._check_index(index, a.shape[dim], K.ERR_INDEX_SELECT, dim)
        if a.shape[dim] == 0 and index.size:  # every index is bad and there is nothing to read
            return self.xp.zeros(a.shape[:dim] + index.shape + a.shape[dim + 1:], a.dtype)
        return super().index_select(a, dim, index)

    def gather(self, a, dim, index):
        self._check_index(index, a.shape[dim], K.ERR_GATHER, dim)
        if a.shape[dim] == 0 and index.size:
            return self.xp.zeros(index.shape, a.dtype)
        return super().gather(a, dim, index)

    def scatter_add(self, a, dim, index, src, index_error=False):
        xp = self.xp
        work = _SCATTER_WORK.get(a.dtype, a.dtype)
        out = xp.empty(a.shape, work)  # C-contiguous, which the offsets below assume
        out[...] = a
        strides = [int(np.prod(a.shape[d + 1:], dtype=np.int64)) for d in range(a.ndim)]
        # Offset of each index position in out, without the scattered dim: a sum of broadcast
        # aranges (0 where only that dim varies).
        base = 0
        for d, n in enumerate(index.shape):
            if d != dim and n > 1:
                axis = xp.arange(n, dtype=np.int64).reshape((1,) * d + (n,) + (1,) * (index.ndim - d - 1))
                base = base + axis * strides[d]
        part = src[tuple(slice(0, n) for n in index.shape)].astype(work, copy=False)
        self.kernels(K.SCATTER_ADD)(index, part, base, strides[dim], a.shape[dim], dim, out,
                                    self._error_words(index.size > 0))
        return out if out.dtype == a.dtype else out.astype(a.dtype)

    # -- cross-entropy ---------------------------------------------------------------------------
    def cross_entropy_forward(self, x, target, weight, outer: int, classes: int, inner: int,
                              ignore_index: int, label_smoothing: float, log_softmax: bool):
        if not _fast(x.dtype) or not 0 < classes <= K.CE_MAX_CLASSES:
            # The reference path gives NaN for a bad target; report it too.
            self._check_index(target.reshape(-1), classes, K.ERR_TARGET, 0, ignore=ignore_index)
            return super().cross_entropy_forward(x, target, weight, outer, classes, inner, ignore_index,
                                                 label_smoothing, log_softmax)
        xp = self.xp
        rows = outer * inner
        t = target.reshape(-1).astype(np.int64, copy=False)
        w = x if weight is None else weight.astype(x.dtype, copy=False)  # x stands in when unused
        loss, wt, stats = xp.empty(rows, x.dtype), xp.empty(rows, x.dtype), xp.empty((rows, 2), x.dtype)
        eps = float(label_smoothing)
        self.kernels(K.CE_FORWARD)(xp.ascontiguousarray(x), t, w, weight is not None, classes, inner, ignore_index,
                                   1 - eps, eps / classes, eps != 0, log_softmax, loss, wt, stats,
                                   self._error_words(rows > 0))
        return loss, wt, stats

    def cross_entropy_backward(self, x, target, weight, stats, grad, per_row: bool, outer: int, classes: int,
                               inner: int, ignore_index: int, label_smoothing: float, log_softmax: bool):
        if not _fast(x.dtype, stats) or not 0 < classes <= K.CE_MAX_CLASSES:
            return super().cross_entropy_backward(x, target, weight, stats, grad, per_row, outer, classes, inner,
                                                  ignore_index, label_smoothing, log_softmax)
        t = target.reshape(-1).astype(np.int64, copy=False)
        w = x if weight is None else weight.astype(x.dtype, copy=False)
        g = grad.reshape(-1).astype(x.dtype, copy=False)
        eps = float(label_smoothing)
        gx = self.kernels(K.CE_BACKWARD)(x.reshape(-1), t, w, weight is not None, stats, g, per_row, classes, inner,
                                         ignore_index, 1 - eps, eps / classes, eps != 0, log_softmax)
        return gx.reshape(x.shape)

    # -- optimizers ------------------------------------------------------------------------------
    def sgd_step(self, param, grad, momentum_buffer, lr, momentum, dampening, weight_decay,
                 nesterov, maximize, first_step) -> None:
        with_buf = momentum != 0
        if not _fast(param.dtype, grad, momentum_buffer) or (with_buf and momentum_buffer is None):
            return super().sgd_step(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay,
                                    nesterov, maximize, first_step)
        args = [grad, maximize, weight_decay != 0, weight_decay, -lr]
        if with_buf:
            args += [momentum, 1 - dampening, nesterov, first_step, param, momentum_buffer]
        else:
            args.append(param)
        self.kernels(K.sgd(with_buf))(*args)

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,
                  weight_decay, step, decoupled, maximize) -> None:
        if not _fast(param.dtype, grad, exp_avg, exp_avg_sq, max_exp_avg_sq) or not isinstance(step, (int, float)):
            # (a device step count, from adam_foreach's capturable form: the generic update reads it there)
            return super().adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,
                                     weight_decay, step, decoupled, maximize)
        w = 1 - beta1
        bias_correction1 = 1 - beta1 ** step
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
        amsgrad = max_exp_avg_sq is not None
        outs = [param, exp_avg, exp_avg_sq] + ([max_exp_avg_sq] if amsgrad else [])
        self.kernels(K.adam(amsgrad))(grad, maximize, decoupled, weight_decay != 0, weight_decay,
                                      1 - lr * weight_decay, abs(w) < 0.5, w, 1 - w, beta2, 1 - beta2,
                                      bias_correction2_sqrt, eps, -(lr / bias_correction1), *outs)

    def rmsprop_step(self, param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                     weight_decay, momentum, maximize) -> None:
        with_buf = momentum > 0
        states = (square_avg, grad_avg, momentum_buffer)
        if not _fast(param.dtype, grad, *states) or (with_buf and momentum_buffer is None):
            return super().rmsprop_step(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                                        weight_decay, momentum, maximize)
        w = 1 - alpha
        centered = grad_avg is not None
        args = [grad, maximize, weight_decay != 0, weight_decay, alpha, 1 - alpha, eps, -lr]
        args += [abs(w) < 0.5, w, 1 - w] if centered else []
        args += [momentum] if with_buf else []
        outs = [param, square_avg] + ([grad_avg] if centered else []) + ([momentum_buffer] if with_buf else [])
        self.kernels(K.rmsprop(centered, with_buf))(*args, *outs)

    # -- recurrent layers ------------------------------------------------------------------------
    def rnn_forward(self, mode: str, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse: bool, save: bool):
        """As `ArrayRNNOps.rnn_forward`, with one cell kernel per step for LSTM and GRU."""
        if mode not in ("LSTM", "GRU") or not _fast(x.dtype, h0, c0, w_ih, w_hh, b_ih, b_hh):
            return super().rnn_forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, save)
        xp = self.xp
        T, B, _ = x.shape
        H = w_hh.shape[1]
        lay = RNNLayout(mode, T, B, H, save)
        lstm = mode == "LSTM"
        ws = xp.empty(lay.size, x.dtype)
        hs = ws[: (T + 1) * lay.S].reshape(T + 1, B, H)
        cs = ws[lay.cs: lay.cs + (T + 1) * lay.S].reshape(T + 1, B, H) if lstm else None
        gates = ws[lay.gates:].reshape(T, B, 4 * H) if save else None
        start = lay.prev_slot(lay.order(reverse)[0], reverse) if T else 0
        hs[start] = 0 if h0 is None else h0
        if lstm:
            cs[start] = 0 if c0 is None else c0
        gi = (x.reshape(T * B, x.shape[2]) @ w_ih.T).reshape(T, B, lay.G)
        if b_ih is not None:
            gi = gi + b_ih
        bias = gi if b_hh is None else b_hh  # gi stands in when there is no bias
        cell = self.kernels(K.LSTM_FORWARD if lstm else K.GRU_FORWARD)
        unsaved = None if save else xp.empty(1, x.dtype)  # stands in for gates, never written
        for t in lay.order(reverse):
            p, o = lay.prev_slot(t, reverse), lay.out_slot(t, reverse)
            gh = xp.matmul(hs[p], w_hh.T)
            saved = gates[t] if save else unsaved
            if lstm:
                cell(gi[t], gh, bias, b_hh is not None, cs[p], H, save, hs[o], cs[o], saved)
            else:
                cell(gi[t], gh, bias, b_hh is not None, hs[p], H, save, hs[o], saved)
        out = hs[0:T] if reverse else hs[1:]
        last = 0 if reverse else T
        return out, hs[last], (cs[last] if lstm else None), ws

    def rnn_backward(self, mode: str, ws, x, w_ih, w_hh, dout, dh_n, dc_n, reverse: bool,
                     has_bias: bool, needs: tuple):
        """As `ArrayRNNOps.rnn_backward`, with one cell kernel per step for LSTM and GRU."""
        if mode not in ("LSTM", "GRU") or not _fast(x.dtype, ws, w_ih, w_hh, dout, dh_n, dc_n):
            return super().rnn_backward(mode, ws, x, w_ih, w_hh, dout, dh_n, dc_n, reverse, has_bias, needs)
        xp = self.xp
        T, B, I = x.shape
        H = w_hh.shape[1]
        lay = RNNLayout(mode, T, B, H, True)
        G = lay.G
        lstm = mode == "LSTM"
        hs = ws[: (T + 1) * lay.S].reshape(T + 1, B, H)
        cs = ws[lay.cs: lay.cs + (T + 1) * lay.S].reshape(T + 1, B, H) if lstm else None
        gates = ws[lay.gates:].reshape(T, B, 4 * H)
        dgi = xp.empty((T, B, G), x.dtype)
        dgh = dgi if lstm else xp.empty((T, B, G), x.dtype)
        m = dh_n  # the gradient reaching h_t through W_hh (at the first step: from h_n)
        carry = dc_n if lstm else None
        cell = self.kernels(K.LSTM_BACKWARD if lstm else K.GRU_BACKWARD)
        for t in reversed(lay.order(reverse)):
            p, o = lay.prev_slot(t, reverse), lay.out_slot(t, reverse)
            d_t = 0 if dout is None else dout[t]
            new_carry = xp.empty((B, H), x.dtype)
            if lstm:
                cell(d_t, 0 if m is None else m, 0 if carry is None else carry, cs[o], cs[p], gates[t], H, dgi[t],
                     new_carry)
            else:
                cell(d_t, 0 if m is None else m, 0 if carry is None else carry, hs[p], gates[t], H, dgi[t], dgh[t],
                     new_carry)
            carry = new_carry
            m = xp.matmul(dgh[t], w_hh)
        return sequence_grads(xp, mode, x, w_ih, hs, dgi, dgh, m, carry, reverse, has_bias, needs)



def cupy_backend(index: int) -> ArrayBackend:  # pragma: no cover - needs an NVIDIA GPU
    cp = cuda._require_cupy()
    if index >= cp.cuda.runtime.getDeviceCount():
        raise RuntimeError(f"cuda:{index} does not exist: {cp.cuda.runtime.getDeviceCount()} CUDA "
                           "device(s) are visible")
    return CudaArrayBackend(cp, index)


__all__ = ["CudaArrayBackend"]
