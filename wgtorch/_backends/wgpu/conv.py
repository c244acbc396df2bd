"""2-d convolution on wgpu as an implicit GEMM (``shaders/conv.wgsl``): forward, and the
gradients of the input and of the weight. No im2col buffer is made: the kernels' operand loads
compute the convolution's addresses (zero padding, stride, dilation) on the fly. float32 and
float16 accumulate in f32, float64 (shader-f64) in f64 (kernels.py's f64 mode).

Each thread owns a TM x TN block of the GEMM's result, unrolled here in Python as the register
matmul kernel is (``matmul.py``; lavapipe keeps unrolled scalars in registers). Software adapters
get 16-thread workgroups and blocks of up to 8x8, hardware ones 64 threads and 4x4 blocks;
the block shape follows the GEMM (a depthwise convolution's N of 1 gets 16x1 blocks), and how
many threads sit side by side along N is a dispatch parameter, so few pipelines compile.

Padding is tested per load (a zero where a tap falls outside the input); on software adapters
the input is padded into a new buffer first instead (``conv_prepad``): one copy of the input
(never the k*k-times larger im2col columns) is cheaper there than the test in every load. The
gradient of the bias is a plain sum over (N, H_out, W_out) and stays with the reduce kernels. The
front end (``nn/_conv.py``) also runs transposed convolutions on these three GEMMs. The weight
gradient has no split over K: its parallelism is C_out x C_in / groups x kH x kW outputs, which a
large GPU would want split (not done).

Grids past 65,535 workgroups are folded into 2-D by the runtime; the kernels rebuild the linear
id and ignore the overshoot. On a software adapter K is split into slices within
lavapipe's loop limit (later slices add to the result), as the matmul does.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..._dtype import float16, float32, float64
from .array import WgpuArray
from .kernels import specialise
from .matmul import LOOP_BUDGET
from .params import ParamBlock

_I = [
    f"{name}: i32"
    for name in ("cin", "cout", "cg", "og", "h", "w", "ho", "wo", "kh", "kw", "sh", "sw", "ph", "pw", "dh", "dw")
]
PARAMS = ParamBlock(
    "m: i32",
    "n: i32",
    "k: i32  // the GEMM of one group (K in full; the dispatch loops over a slice)",
    "k_begin: i32",
    "k_end: i32",
    "wg_total: u32  // workgroups doing work (the folded grid may overshoot)",
    "tiles_m: u32",
    "tiles_n: u32",
    "wgn: u32  // threads side by side along N (a power of two dividing WG)",
    "flags: u32  // bit 0: add the bias; bit 1: add to the result (a later slice of K)",
    *_I,
    "x_off: i32",
    "xs_n: i32",
    "xs_c: i32",
    "xs_h: i32",
    "xs_w: i32",
    "y_off: i32  // dy (the backward kernels)",
    "ys_n: i32",
    "ys_c: i32",
    "ys_h: i32",
    "ys_w: i32",
    "w_off: i32",
    "b_off: i32",
    "out_off: i32  // the result is contiguous from here",
    "dil_qh: i32  // conv_dgrad: dilation / stride and dilation % stride, per dim",
    "dil_rh: i32",
    "dil_qw: i32",
    "dil_rw: i32",
)
META = PARAMS.struct
_I32_MAX = 2**31 - 1


@dataclass(frozen=True)
class ConvConfig:
    """``wg`` threads per workgroup, each computing ``tm`` x ``tn`` outputs of the GEMM."""

    wg: int
    tm: int
    tn: int


def _pow2_at_least(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


def choose_config(software: bool, m: int, n: int, max_threads: int = 256) -> ConvConfig:
    """The block for an (m, n) GEMM: wide along N where N allows (16 columns on a software
    adapter, 4 on hardware), 1 column for N <= 2 (depthwise); fewer rows where M is short.

    On lavapipe (2 cores, loaded), 3x3 32->64 forward at batch 16, 32x32: 8x8 blocks ran it in
    2.9-4.4 s, 8x16 in 3.1-4.0 s (no clear gain) but compiled ~3x longer (over a minute), 4x8
    took 6.9 s and 4x4 10 s."""
    wg = min(16 if software else 64, max_threads)
    if software:
        tn = 8 if n >= 6 else 4 if n >= 3 else 1
        tm = 8 if tn == 8 else 16
    else:
        tn = 4 if n >= 3 else 1
        tm = 4 if tn == 4 else 8
    return ConvConfig(wg, min(tm, _pow2_at_least(m)), tn)


def _threads_along_n(cfg: ConvConfig, n: int) -> int:
    return min(cfg.wg, _pow2_at_least(-(-n // cfg.tn)))


def kernel_source(kernel: str, ts: str, cfg: ConvConfig, inside: bool = False) -> str:
    """conv.wgsl specialised: only ``kernel``'s section, its TM x TN block unrolled; ``inside``:
    the input has no padding (every tap is inside it). ``ts`` f64 computes in float64
    (kernels.py's f64 mode; f32 and f16 compute in f32)."""
    consts = {"WG": cfg.wg, "TM": cfg.tm, "TN": cfg.tn, "INSIDE": inside}
    f64 = ts == "f64"
    markers = _block_code(cfg.tm, cfg.tn, "f64" if f64 else "f32")
    return specialise("conv", {"TS": ts}, consts, markers, section=kernel, params=PARAMS, f64=f64)


_XYZW = "xyzw"


def _block_code(tm: int, tn: int, tc: str = "f32") -> dict[str, str]:
    """The unrolled register block, accumulating in ``tc``. Columns go in vec4 accumulators where
    TN allows (4x fewer instructions for the shader compiler than scalars; lavapipe's compile time
    grows fast)."""
    vec = tn % 4 == 0
    setup = [f"let row{i} = row_of(g, min(r0 + {i}, P.m - 1));" for i in range(tm)]
    setup += [f"let col{j} = col_of(g, min(c0 + {j}, P.n - 1));" for j in range(tn)]
    step = [f"let a{i} = load_a(row{i}, kd);" for i in range(tm)]
    if vec:
        setup += [f"var acc{i}_{q} = vec4<{tc}>();" for i in range(tm) for q in range(tn // 4)]
        step += [
            f"let b{q} = vec4<{tc}>({', '.join(f'load_b(kd, col{4 * q + e})' for e in range(4))});"
            for q in range(tn // 4)
        ]
        step += [f"acc{i}_{q} = fma(vec4<{tc}>(a{i}), b{q}, acc{i}_{q});" for i in range(tm) for q in range(tn // 4)]
    else:
        setup += [f"var acc{i}_{j} = {tc}(0.0);" for i in range(tm) for j in range(tn)]
        step += [f"let b{j} = load_b(kd, col{j});" for j in range(tn)]
        step += [f"acc{i}_{j} = fma(a{i}, b{j}, acc{i}_{j});" for i in range(tm) for j in range(tn)]
    store = []
    for i in range(tm):
        store.append(f"if (r0 + {i} < P.m) {{")
        for j in range(tn):
            acc = f"acc{i}_{j // 4}.{_XYZW[j % 4]}" if vec else f"acc{i}_{j}"
            store.append(f"    if (c0 + {j} < P.n) {{ store(row{i}, col{j}, {acc}); }}")
        store.append("}")
    return {
        "SETUP": "\n".join("    " + s for s in setup),
        "STEP": "\n".join("        " + s for s in step),
        "STORE": "\n".join("    " + s for s in store),
    }


def _view4(a: WgpuArray) -> tuple:
    """(offset, strides of n, c, h, w) of a 4-D view; strides of size-1 dims do not matter."""
    return (a.offset, *a.strides)


def _check_i32(*arrays) -> None:
    for a in arrays:
        if a is not None and a.span()[1] > _I32_MAX:
            raise RuntimeError("conv2d on wgpu addresses tensors with 32-bit offsets; this one is too large")


class ConvOps:
    """Mixin for `WgpuBackend`: the optional fused convolution (`..protocol.FusedConv`)."""

    #: a fixed `ConvConfig` for every convolution GEMM; None chooses one per GEMM. Tests set it.
    conv_config: ConvConfig | None = None
    #: the longest slice of K one dispatch loops over on a software adapter. Tests lower it.
    conv_loop_budget: int = LOOP_BUDGET
    #: pad x into a new buffer first, so that the forward and weight-gradient kernels skip the
    #: padding test per load; None: on software adapters only (on lavapipe the test costs more
    #: ALU than the copy; a GPU would rather save the memory traffic). Tests set it.
    conv_prepad: bool | None = None

    def _unpadded(self, x: WgpuArray, padding: tuple) -> tuple:
        """(x, padding), or (x zero-padded into a new array, no padding) where ``conv_prepad``."""
        prepad = self.rt.is_software if self.conv_prepad is None else self.conv_prepad
        if not prepad or not any(p for pair in padding for p in pair) or x.size == 0:
            return x, padding
        (t, b), (left, right) = padding
        n, c, h, w = x.shape
        out = self.empty((n, c, h + t + b, w + left + right), x.dtype)
        self.elementwise("copy", [0.0], x.dtype, x.dtype, out=out)
        interior = self.getitem(out, (slice(None), slice(None), slice(t, t + h), slice(left, left + w)))
        self.elementwise("copy", [x], x.dtype, x.dtype, out=interior)
        return out, ((0, 0), (0, 0))

    def _conv_dtype(self, *arrays) -> str:
        dt = arrays[0].dtype
        if dt not in (float32, float16, float64) or any(a is not None and a.dtype is not dt for a in arrays):
            raise TypeError(
                f"conv2d on wgpu takes float32, float16 or float64 tensors of one dtype, got "
                f"{', '.join(a.dtype.name for a in arrays if a is not None)}"
            )
        self.check_dtype(dt)
        return dt.wgsl

    def _conv_run(
        self, kernel: str, ts: str, gemm: tuple, groups: int, conv: tuple, x, dy, w, bias, out, inside=False
    ) -> None:
        """Dispatch one implicit GEMM (``gemm`` = (M, N, K) per group) over every group, K split
        into slices within the loop budget on software adapters; ``inside``: x has no padding."""
        m, n, k = gemm
        if m == 0 or n == 0 or groups == 0:
            return
        _check_i32(x, dy, w, bias, out)
        rt = self.rt
        cfg = self.conv_config or choose_config(
            rt.is_software, m, n, rt.limits.get("max-compute-invocations-per-workgroup", 256)
        )
        wgn = _threads_along_n(cfg, n)
        tiles_m = -(-m // (cfg.tm * (cfg.wg // wgn)))
        tiles_n = -(-n // (cfg.tn * wgn))
        total = tiles_m * tiles_n * groups
        key = ("conv", kernel, ts, cfg, inside)
        p = rt.pipeline(
            key, lambda: kernel_source(kernel, ts, cfg, inside), ("rw", "r", "r", "r", "r"), f"conv:{kernel}"
        )
        x = x if x is not None else out  # bound in place of an unused operand, never read
        dy = dy if dy is not None else out
        b = bias if bias is not None else out
        buffers = (out.buffer, x.buffer, w.buffer, dy.buffer, b.buffer)
        (sh, sw), (dh, dw) = conv[10:12], conv[14:16]
        views = (*_view4(x), *_view4(dy), w.offset, b.offset, out.offset, dh // sh, dh % sh, dw // sw, dw % sw)
        budget = self.conv_loop_budget if rt.is_software else max(k, 1)
        for k0 in range(0, max(k, 1), budget):
            flags = (1 if bias is not None and k0 == 0 else 0) | (2 if k0 else 0)
            meta = (m, n, k, k0, min(k, k0 + budget), total, tiles_m, tiles_n, wgn, flags, *conv, *views)
            rt.dispatch(p, buffers, META, meta, total)

    @staticmethod
    def _conv_sizes(cin, cout, groups, hw, ohw, ksize, stride, padding, dilation) -> tuple:
        return (
            cin,
            cout,
            cin // groups,
            cout // groups,
            *hw,
            *ohw,
            *ksize,
            *stride,
            padding[0][0],
            padding[1][0],
            *dilation,
        )

    def conv2d_forward(self, x, weight, bias, stride: tuple, padding: tuple, dilation: tuple, groups: int):
        ts = self._conv_dtype(x, weight, bias)
        n, cin, h, w = x.shape
        cout, cg, kh, kw = weight.shape
        ho, wo = _out_size((h, w), (kh, kw), stride, padding, dilation)
        out = self.empty((n, cout, ho, wo), x.dtype)
        weight = _dense(self, weight)
        bias = _dense(self, bias) if bias is not None else None
        x, padding = self._unpadded(x, padding)
        conv = self._conv_sizes(cin, cout, groups, x.shape[2:], (ho, wo), (kh, kw), stride, padding, dilation)
        inside = not any(p for pair in padding for p in pair)
        gemm = (n * ho * wo, cout // groups, cg * kh * kw)
        self._conv_run("conv_fwd", ts, gemm, groups, conv, x, None, weight, bias, out, inside)
        return out

    def conv2d_backward_input(
        self, grad, weight, input_shape: tuple, stride: tuple, padding: tuple, dilation: tuple, groups: int
    ):
        ts = self._conv_dtype(grad, weight)
        n, cin, h, w = input_shape
        cout, cg, kh, kw = weight.shape
        ho, wo = grad.shape[2:]
        out = self.empty(tuple(input_shape), grad.dtype)
        weight = _dense(self, weight)
        conv = self._conv_sizes(cin, cout, groups, (h, w), (ho, wo), (kh, kw), stride, padding, dilation)
        self._conv_run(
            "conv_dgrad", ts, (n * h * w, cg, cout // groups * kh * kw), groups, conv, None, grad, weight, None, out
        )
        return out

    def conv2d_backward_weight(
        self, grad, x, weight_shape: tuple, stride: tuple, padding: tuple, dilation: tuple, groups: int
    ):
        ts = self._conv_dtype(grad, x)
        n, cin, h, w = x.shape
        cout, cg, kh, kw = weight_shape
        ho, wo = grad.shape[2:]
        out = self.empty(tuple(weight_shape), grad.dtype)
        x, padding = self._unpadded(x, padding)
        conv = self._conv_sizes(cin, cout, groups, x.shape[2:], (ho, wo), (kh, kw), stride, padding, dilation)
        inside = not any(p for pair in padding for p in pair)
        # K = 0 (an empty batch) still dispatches once: the kernel stores the zero gradient.
        gemm = (cout // groups, cg * kh * kw, n * ho * wo)
        self._conv_run("conv_wgrad", ts, gemm, groups, conv, x, grad, out, None, out, inside)
        return out


def _dense(be, a: WgpuArray) -> WgpuArray:
    return a if a.contiguous else be.elementwise("copy", [a], a.dtype, a.dtype)


def _out_size(hw, ksize, stride, padding, dilation) -> tuple:
    return tuple(
        (n + p0 + p1 - d * (k - 1) - 1) // s + 1 for n, k, s, (p0, p1), d in zip(hw, ksize, stride, padding, dilation)
    )


__all__ = ["ConvConfig", "ConvOps", "choose_config", "kernel_source"]
