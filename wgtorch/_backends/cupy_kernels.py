"""CUDA kernels for the "cuda" device: the hot fused ops as ``cupy.ElementwiseKernel`` sources.

Each kernel is a `KernelSpec` (plain strings: the module imports without CuPy) built on first use
by `Kernels` through ``xp.ElementwiseKernel``, so it launches on the current CUDA stream like every
other CuPy op and compiles once per dtype (CuPy caches the binary on disk too). The kernels do in
one launch what the NumPy reference (array_nn.py, array_optim.py, array_rnn.py, random.py) does
in ten to thirty, with the same formulas in the same order, in the arrays' own dtype ``T``
(float32 or float64; float16 keeps the reference path). Optimizer kernels compile with
``--fmad=false`` so that no multiply-add is contracted: their updates round like the reference's.

ElementwiseKernel conventions used here: a non-raw parameter is the element at the loop index
``i`` (of the broadcast shape of the non-raw arrays); a ``raw`` one is the whole array, indexed
``a[k]`` by the C-order position ``k`` in its logical shape; scalars are passed as Python numbers
and converted to the declared type. Optional state is selected by generating a variant per flag
combination (`sgd`, `adam`, `rmsprop`), so no kernel takes a dummy array it could write.

Kernels that meet bad input (an index out of range, a cross-entropy target outside [0, C)) record
it in a device array of five int64 "error words" (code, value, size, dim, position; the first
report wins) and leave the element alone or NaN, never touching memory out of bounds; the backend
raises the matching exception at the next read or synchronize (see array_cuda.py).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

from .random import PHILOX_M0, PHILOX_M1, PHILOX_ROUNDS, PHILOX_W0, PHILOX_W1

#: Cross-entropy rows with more classes than this take the reference path, whose reductions
#: are block-parallel; the fused kernel gives each row one thread, good for C up to a few
#: thousand (and for (N, C, d...) inputs, whose rows are adjacent in memory).
CE_MAX_CLASSES = 2048

# Error codes written into word 0 of the error words.
ERR_INDEX_SELECT, ERR_GATHER, ERR_SCATTER_ADD, ERR_TARGET = 0x101, 0x102, 0x103, 0x201


class KernelSpec(NamedTuple):
    """The arguments of one ``cupy.ElementwiseKernel``."""

    name: str
    in_params: str
    out_params: str
    operation: str
    preamble: str = ""
    options: tuple = ()


# Helpers shared by the kernels; templates, so they compile for any T (CuPy puts the typedefs
# of T before the preamble).
_COMMON = r"""
template <typename T> __device__ __forceinline__ T wg_sigmoid(T x) { return T(1) / (T(1) + exp(-x)); }

// NumPy's maximum: NaN if either side is NaN.
template <typename T> __device__ __forceinline__ T wg_maximum(T a, T b) { return (a != a || a > b) ? a : b; }

// Record bad input in the error words; the first report wins.
__device__ __forceinline__ void wg_report(long long* err, long long code, long long value, long long size,
                                          long long dim, long long pos) {
    if (atomicCAS((unsigned long long*)err, 0ULL, (unsigned long long)code) == 0ULL) {
        err[1] = value; err[2] = size; err[3] = dim; err[4] = pos;
    }
}
"""

_ATOMIC_ADD = r"""
__device__ __forceinline__ void wg_atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void wg_atomic_add(double* p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void wg_atomic_add(int* p, int v) { atomicAdd(p, v); }
// int64 adds as uint64: two's complement makes the bits the same.
__device__ __forceinline__ void wg_atomic_add(long long* p, long long v) {
    atomicAdd((unsigned long long*)p, (unsigned long long)v);
}
// bool: NumPy's add.at is a logical or; every writer stores the same value.
__device__ __forceinline__ void wg_atomic_add(bool* p, bool v) { if (v) *p = true; }
"""

_EXACT = ("--fmad=false",)

# -- random ------------------------------------------------------------------------------------
# Philox4x32-10 on whole blocks (see random.py): block first_block + i -> words 4i .. 4i + 3.
PHILOX = KernelSpec(
    "wgtorch_philox", "uint64 first_block, uint32 key0, uint32 key1", "raw uint32 words", f"""
    const unsigned long long blk = first_block + (unsigned long long)i;
    unsigned int c0 = (unsigned int)blk, c1 = (unsigned int)(blk >> 32), c2 = 0u, c3 = 0u;
    unsigned int k0 = key0, k1 = key1;
    for (int rr = 0; rr < {PHILOX_ROUNDS}; ++rr) {{
        const unsigned long long p0 = (unsigned long long)c0 * {PHILOX_M0:#x}ULL;
        const unsigned long long p1 = (unsigned long long)c2 * {PHILOX_M1:#x}ULL;
        const unsigned int n0 = (unsigned int)(p1 >> 32) ^ c1 ^ k0;
        const unsigned int n2 = (unsigned int)(p0 >> 32) ^ c3 ^ k1;
        c1 = (unsigned int)p1; c3 = (unsigned int)p0; c0 = n0; c2 = n2;
        k0 += {PHILOX_W0:#x}u; k1 += {PHILOX_W1:#x}u;
    }}
    words[4 * i] = c0; words[4 * i + 1] = c1; words[4 * i + 2] = c2; words[4 * i + 3] = c3;
    """)

# -- pointwise ---------------------------------------------------------------------------------
ERF = KernelSpec("wgtorch_erf", "T x", "T y", "y = erf(x);")
GELU = KernelSpec("wgtorch_gelu", "T x", "T y", "y = T(0.5) * x * (T(1) + erf(x * T(0.7071067811865476)));")

# -- index -------------------------------------------------------------------------------------
# Reports every index outside [0, size) (``ignore`` is allowed when use_ignore).
INDEX_CHECK = KernelSpec(
    "wgtorch_index_check", "I idx, int64 size, int64 ignore, bool use_ignore, int64 code, int64 dim",
    "raw int64 err", """
    const long long v = (long long)idx;
    if (!(use_ignore && v == ignore) && (v < 0 || v >= size)) wg_report(&err[0], code, v, size, dim, (long long)i);
    """, _COMMON)

# out[base + idx * stride] += src over the positions of idx; ``base`` holds the offset of each
# position with the scattered dim's coordinate left out. Bad indices are reported and skipped.
SCATTER_ADD = KernelSpec(
    "wgtorch_scatter_add", "I idx, T src, int64 base, int64 stride, int64 size, int64 dim",
    "raw T out, raw int64 err", f"""
    const long long v = (long long)idx;
    if (v < 0 || v >= size) wg_report(&err[0], {ERR_SCATTER_ADD}, v, size, dim, (long long)i);
    else wg_atomic_add(&out[base + v * stride], src);
    """, _COMMON + _ATOMIC_ADD)

# -- cross-entropy / NLL -----------------------------------------------------------------------
# One thread per row (outer, inner): x is contiguous (outer, C, inner), row i's classes start at
# (i / inner) * C * inner + i % inner with stride inner. Formulas as in array_nn.py; keep = 1 - eps,
# eps_c = eps / C.
_CE_ROW = """
    const bool ignored = t == ignore_index;
    const bool bad = !ignored && (t < 0 || t >= C);
    const long long st = (ignored || bad) ? 0 : t;
    const T wt = ignored ? T(0) : (has_w ? w[st] : T(1));
"""
CE_FORWARD = KernelSpec(
    "wgtorch_cross_entropy_forward",
    "raw T x, int64 t, raw T w, bool has_w, int64 C, int64 inner, int64 ignore_index, T keep, T eps_c, "
    "bool smooth, bool log_softmax", "T loss, T weight, raw T stats, raw int64 err", """
    const long long base = (i / inner) * C * inner + i % inner;
""" + _CE_ROW + f"""
    const T xt = x[base + st * inner];
    T l, lse = T(0), coef = T(0);
    if (log_softmax) {{
        T m = T(-CUDART_INF);
        for (long long c = 0; c < C; ++c) {{
            const T v = x[base + c * inner];
            if (v > m || v != v) m = v;  // NaN wins, as NumPy's max
        }}
        if (!isfinite(m)) m = T(0);
        T s = T(0), wsum = T(0), swx = T(0);
        for (long long c = 0; c < C; ++c) {{
            const T v = x[base + c * inner];
            const T wc = has_w ? w[c] : T(1);
            s += exp(v - m);
            wsum += wc;
            if (smooth) swx += v * wc;
        }}
        lse = log(s) + m;
        l = keep * wt * (lse - xt);
        if (smooth) l = l + eps_c * (wsum * lse - swx);
        coef = keep * wt + eps_c * wsum;
    }} else {{
        l = -wt * xt;
    }}
    if (ignored) {{ l = T(0); coef = T(0); }}
    T wout = wt;
    if (bad) {{
        l = wout = coef = T(CUDART_NAN);
        wg_report(&err[0], {ERR_TARGET}, t, C, 0, (long long)i);
    }}
    loss = l; weight = wout; stats[2 * i] = lse; stats[2 * i + 1] = coef;
    """, _COMMON)

# One thread per element of x; g is one value, or one per row when per_row.
CE_BACKWARD = KernelSpec(
    "wgtorch_cross_entropy_backward",
    "T x, raw int64 target, raw T w, bool has_w, raw T stats, raw T g, bool per_row, int64 C, int64 inner, "
    "int64 ignore_index, T keep, T eps_c, bool smooth, bool log_softmax", "T gx", """
    const long long c = (i / inner) % C;
    const long long r = (i / (inner * C)) * inner + i % inner;
    const long long t = target[r];
""" + _CE_ROW + """
    T d;
    if (log_softmax) {
        d = exp(x - stats[2 * r]) * stats[2 * r + 1];
        if (smooth) d = d - eps_c * (has_w ? w[c] : T(1)) * (ignored ? T(0) : T(1));
        if (c == st) d = d - keep * wt;
    } else {
        d = (c == st) ? -wt : T(0);
    }
    d = d * g[per_row ? r : 0];
    gx = bad ? T(CUDART_NAN) : d;
    """)


# -- optimizers --------------------------------------------------------------------------------
# As array_optim.py: every Python-side constant (1 - dampening, -lr, ...) is computed in Python
# and converted to T once, as NumPy does with a Python float operand.
_PREPARED_GRAD = """
    T g = maximize ? -grad : grad;
    if (decay) g = g + weight_decay * param;
"""
_LERP = """
    if (lerp_low) {avg} = {avg} + lerp_w * (g - {avg});
    else {avg} = g - (g - {avg}) * lerp_rest;
"""


def sgd(momentum: bool) -> KernelSpec:
    """SGD; with ``momentum`` the variant that updates the momentum buffer ``buf``."""
    ins = "T grad, bool maximize, bool decay, T weight_decay, T neg_lr"
    body = _PREPARED_GRAD
    if momentum:
        ins += ", T momentum, T keep, bool nesterov, bool first_step"
        body += """
    if (first_step) buf = g;
    else buf = buf * momentum + keep * g;
    g = nesterov ? g + momentum * buf : buf;
"""
    body += "    param = param + neg_lr * g;\n"
    return KernelSpec("wgtorch_sgd" + "_momentum" * momentum, ins, "T param" + ", T buf" * momentum, body,
                      options=_EXACT)


def adam(amsgrad: bool) -> KernelSpec:
    """Adam (``decoupled`` False) and AdamW; with ``amsgrad`` the variant keeping ``max_sq``."""
    ins = ("T grad, bool maximize, bool decoupled, bool decay, T weight_decay, T decay_factor, bool lerp_low, "
           "T lerp_w, T lerp_rest, T beta2, T rest2, T bc2_sqrt, T eps, T step_size")
    body = """
    T g = maximize ? -grad : grad;
    if (decoupled) { if (decay) param = param * decay_factor; }
    else if (decay) g = g + weight_decay * param;
""" + _LERP.format(avg="exp_avg") + """
    exp_avg_sq = exp_avg_sq * beta2 + rest2 * g * g;
"""
    if amsgrad:
        body += "    max_sq = wg_maximum(max_sq, exp_avg_sq);\n    const T second = max_sq;\n"
    else:
        body += "    const T second = exp_avg_sq;\n"
    body += "    const T denom = sqrt(second) / bc2_sqrt + eps;\n    param = param + step_size * (exp_avg / denom);\n"
    return KernelSpec("wgtorch_adam" + "_amsgrad" * amsgrad, ins,
                      "T param, T exp_avg, T exp_avg_sq" + ", T max_sq" * amsgrad, body, _COMMON, _EXACT)


def rmsprop(centered: bool, momentum: bool) -> KernelSpec:
    """RMSprop; ``centered`` keeps ``grad_avg``, ``momentum`` the buffer ``buf``."""
    ins = "T grad, bool maximize, bool decay, T weight_decay, T alpha, T rest, T eps, T neg_lr"
    body = _PREPARED_GRAD + "    square_avg = square_avg * alpha + rest * g * g;\n"
    if centered:
        ins += ", bool lerp_low, T lerp_w, T lerp_rest"
        body += _LERP.format(avg="grad_avg") + "    T avg = sqrt(square_avg + (T(-1) * grad_avg) * grad_avg);\n"
    else:
        body += "    T avg = sqrt(square_avg);\n"
    body += "    avg = avg + eps;\n"
    if momentum:
        ins += ", T momentum"
        body += "    buf = buf * momentum + g / avg;\n    param = param + neg_lr * buf;\n"
    else:
        body += "    param = param + neg_lr * (g / avg);\n"
    outs = "T param, T square_avg" + ", T grad_avg" * centered + ", T buf" * momentum
    return KernelSpec(f"wgtorch_rmsprop{'_centered' * centered}{'_momentum' * momentum}", ins, outs, body,
                      options=_EXACT)


# -- recurrent cells ---------------------------------------------------------------------------
# One thread per (batch, hidden) position i = b * H + k of one time step; gi (B, G) holds the
# input projection with b_ih, gh (B, G) the hidden one without b_hh (added here), G = 3H or 4H;
# gates (B, 4H) are the saved activations of array_rnn.RNNLayout.
LSTM_FORWARD = KernelSpec(
    "wgtorch_lstm_forward", "raw T gi, raw T gh, raw T bias, bool has_bias, T c_prev, int64 H, bool save",
    "T h, T c, raw T gates", """
    const long long k = i % H, row = (i / H) * 4 * H;
    T pre[4];
    for (int q = 0; q < 4; ++q) {
        T hh = gh[row + q * H + k];
        if (has_bias) hh = hh + bias[q * H + k];
        pre[q] = gi[row + q * H + k] + hh;
    }
    const T ig = wg_sigmoid(pre[0]), fg = wg_sigmoid(pre[1]), gg = tanh(pre[2]), og = wg_sigmoid(pre[3]);
    const T cn = fg * c_prev + ig * gg;
    c = cn;
    h = og * tanh(cn);
    if (save) {
        gates[row + k] = ig; gates[row + H + k] = fg; gates[row + 2 * H + k] = gg; gates[row + 3 * H + k] = og;
    }
    """, _COMMON)

# dout, m (the gradient through W_hh) and carry (dc) are arrays of (B, H) or 0 when absent.
LSTM_BACKWARD = KernelSpec(
    "wgtorch_lstm_backward", "T dout, T m, T carry, T c_cur, T c_prev, raw T gates, int64 H",
    "raw T dgi, T carry_out", """
    const long long k = i % H, row = (i / H) * 4 * H;
    const T dh = dout + m;
    const T ig = gates[row + k], fg = gates[row + H + k], gg = gates[row + 2 * H + k], og = gates[row + 3 * H + k];
    const T tc = tanh(c_cur);
    const T dc = dh * og * (T(1) - tc * tc) + carry;
    dgi[row + k] = dc * gg * ig * (T(1) - ig);
    dgi[row + H + k] = dc * c_prev * fg * (T(1) - fg);
    dgi[row + 2 * H + k] = dc * ig * (T(1) - gg * gg);
    dgi[row + 3 * H + k] = dh * tc * og * (T(1) - og);
    carry_out = dc * fg;
    """)

GRU_FORWARD = KernelSpec(
    "wgtorch_gru_forward", "raw T gi, raw T gh, raw T bias, bool has_bias, T h_prev, int64 H, bool save",
    "T h, raw T gates", """
    const long long k = i % H, row3 = (i / H) * 3 * H, row4 = (i / H) * 4 * H;
    T ghr = gh[row3 + k], ghz = gh[row3 + H + k], hn = gh[row3 + 2 * H + k];
    if (has_bias) { ghr = ghr + bias[k]; ghz = ghz + bias[H + k]; hn = hn + bias[2 * H + k]; }
    const T r = wg_sigmoid(gi[row3 + k] + ghr);
    const T z = wg_sigmoid(gi[row3 + H + k] + ghz);
    const T n = tanh(gi[row3 + 2 * H + k] + r * hn);
    h = n + z * (h_prev - n);
    if (save) {
        gates[row4 + k] = r; gates[row4 + H + k] = z; gates[row4 + 2 * H + k] = n; gates[row4 + 3 * H + k] = hn;
    }
    """, _COMMON)

# carry is dh * z of the step after (0 when absent); dgh's n part is r times dgi's.
GRU_BACKWARD = KernelSpec(
    "wgtorch_gru_backward", "T dout, T m, T carry, T h_prev, raw T gates, int64 H", "raw T dgi, raw T dgh, T carry_out",
    """
    const long long k = i % H, row3 = (i / H) * 3 * H, row4 = (i / H) * 4 * H;
    const T dh = dout + m + carry;
    const T r = gates[row4 + k], z = gates[row4 + H + k], n = gates[row4 + 2 * H + k], hn = gates[row4 + 3 * H + k];
    const T dn = dh * (T(1) - z) * (T(1) - n * n);
    const T dr = dn * hn * r * (T(1) - r);
    const T dz = dh * (h_prev - n) * z * (T(1) - z);
    dgi[row3 + k] = dr; dgi[row3 + H + k] = dz; dgi[row3 + 2 * H + k] = dn;
    dgh[row3 + k] = dr; dgh[row3 + H + k] = dz; dgh[row3 + 2 * H + k] = dn * r;
    carry_out = dh * z;
    """)


def all_specs() -> list[KernelSpec]:
    """Every kernel and variant (for tests and for warming the compile cache)."""
    specs = [PHILOX, ERF, GELU, INDEX_CHECK, SCATTER_ADD, CE_FORWARD, CE_BACKWARD, LSTM_FORWARD, LSTM_BACKWARD,
             GRU_FORWARD, GRU_BACKWARD]
    specs += [sgd(m) for m in (False, True)] + [adam(a) for a in (False, True)]
    specs += [rmsprop(c, m) for c in (False, True) for m in (False, True)]
    return specs


def launch_types(spec: KernelSpec) -> list[dict[str, str]]:
    """Each {placeholder: dtype name} the backend launches ``spec`` with: ``T`` float32 or float64
    (float16 takes the reference path), ``I`` an int32 or int64 index, and for scatter_add also
    the integer and bool work dtypes of array_cuda.py."""
    words = [p.split() for p in f"{spec.in_params},{spec.out_params}".split(",") if p.strip()]
    names = sorted({w[-2] for w in words if len(w[-2]) == 1})
    choices = {"I": ("int32", "int64"), "T": ("float32", "float64")}
    if spec is SCATTER_ADD:
        choices["T"] += ("int32", "int64", "bool")
    return [dict(zip(names, combo)) for combo in itertools.product(*(choices[n] for n in names))]


class Kernels:
    """The kernels of one array module, each built on first use with ``xp.ElementwiseKernel``."""

    def __init__(self, xp):
        self.xp = xp
        self._built: dict[KernelSpec, object] = {}

    def __call__(self, spec: KernelSpec):
        kernel = self._built.get(spec)
        if kernel is None:
            kernel = self.xp.ElementwiseKernel(spec.in_params, spec.out_params, spec.operation, spec.name,
                                               preamble=spec.preamble, options=spec.options)
            self._built[spec] = kernel
        return kernel


__all__ = ["CE_MAX_CLASSES", "KernelSpec", "Kernels", "all_specs", "launch_types"]
