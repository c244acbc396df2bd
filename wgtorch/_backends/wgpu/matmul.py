"""Matrix multiply on wgpu: ``shaders/matmul.wgsl``, with a tile configuration chosen per adapter.

Two kernels share the family file:

- software adapters (lavapipe, ``rt.is_software``) get a register-blocked kernel with no shared
  memory, unrolled here in Python: lavapipe runs each invocation as one SIMD lane and its
  barriers are expensive, so a small workgroup whose threads each own a block of C is fastest
  (a thinner block, one row per thread, where M < 4; a matrix-vector product swaps its operands
  to get there);
- hardware GPUs get a shared-memory tiled kernel (64x64 tiles, a K-slice of 16, 4x4 outputs per
  thread), shrunk where the adapter's workgroup limits are smaller.

Operands are read in place through their strides (a transposed or sliced view is never copied;
a batch stride of 0 broadcasts). The register kernel has vec4 fast paths for operands whose rows
or columns are contiguous and 4-aligned; anything else takes the scalar strided path. The read
modes are part of the pipeline key, so each layout compiles once.

Both kernels store through an epilogue (``matmul_bias``): ``alpha * (A @ B) + beta * bias``, the
bias read through its strides (a [N] vector broadcast along rows, or a full [M, N] ``input`` as
addmm's), each step rounded as the separate elementwise ops round it, so one dispatch gives what a
matmul followed by an add gives. Graph fusion (fusion.py) folds the elementwise ops that follow a
matmul and read only its output element (ReLU, GELU ...) into the same store (`with_activation`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..._dtype import dtype, float32, float64
from .array import WgpuArray
from .kernels import specialise
from .params import ParamBlock

# m, n, k, groups, tiles_m, tiles_n, C's offset, pad, a: offset, batch/row/col strides, b: the same
PARAMS = ParamBlock(
    "m: u32", "n: u32", "k: u32",
    "groups: u32  // workgroups doing work (the grid may be folded into 2-D and overshoot)",
    "tiles_m: u32", "tiles_n: u32",
    "c_off: u32  // C is contiguous from here (tensors share pages, so it may not be 0)",
    "o_off: u32  // the epilogue's second output, O (Epilogue.keep), is contiguous from here",
    "a_off: u32", "a_sb: u32", "a_sm: u32", "a_sk: u32",
    "b_off: u32", "b_sb: u32", "b_sk: u32", "b_sn: u32",
    "e_off: u32  // the epilogue's bias: offset and batch/row/column strides (0 where it broadcasts)",
    "e_sb: u32", "e_sm: u32", "e_sn: u32",
    "alpha: f32", "beta: f32", "_pad1: u32", "_pad2: u32",
)
META = PARAMS.struct
META64 = PARAMS.widened().struct  # float64 kernels: alpha and beta as doubles (kernels.py's f64 mode)

# Mesa's llvmpipe (lavapipe) silently ends an invocation's loops after 65,535 iterations in all:
# on a software adapter a longer K runs as a sum of products over slices of K (`k_slice`).
LOOP_BUDGET = 32768


def k_slice(cfg: TileConfig) -> int:
    """The longest K one dispatch of ``cfg`` loops over within LOOP_BUDGET: the register kernel
    loops once per element of K (or per 4); the tiled kernel's per-slice loops are bounded here
    as if none unrolled (measured with HARDWARE: ~2 iterations per element of K, bound 30)."""
    if not cfg.tiled:
        return LOOP_BUDGET
    loads = -(-cfg.bm * cfg.bk // cfg.threads) + -(-cfg.bn * cfg.bk // cfg.threads)
    per_slice = 1 + loads + cfg.bk * (1 + 2 * cfg.tm + cfg.tn + cfg.tm * cfg.tn)
    return max(1, LOOP_BUDGET // per_slice) * cfg.bk

# How the register kernel reads an operand (chooses the loads `_register_code` emits).
SCALAR, VEC_K, VEC_OUTER = 0, 1, 2


@dataclass(frozen=True)
class TileConfig:
    """One kernel configuration: ``wgm`` x ``wgn`` threads, each computing ``tm`` x ``tn``
    outputs; ``tiled`` kernels stage ``bk``-deep slices of A and B in shared memory."""

    tiled: bool
    wgm: int
    wgn: int
    tm: int
    tn: int
    bk: int = 1

    @property
    def bm(self) -> int:
        return self.wgm * self.tm

    @property
    def bn(self) -> int:
        return self.wgn * self.tn

    @property
    def threads(self) -> int:
        return self.wgm * self.wgn

    @property
    def shared_bytes(self) -> int:
        return 4 * self.bk * (self.bm + self.bn) if self.tiled else 0


# Measured on lavapipe (2 cores, LLVM 15, 256-bit), unrolled, at 1024^3: 8x16 outputs per thread
# in 4x4 workgroups ran ~16-24 GFLOP/s (by layout) and compiles in ~0.8 s per read-mode pair;
# 16x16 ran ~20-30 but took ~2.5 s to compile, 16x32 ~10 s. HARDWARE below ran ~2 there.
SOFTWARE = TileConfig(tiled=False, wgm=4, wgn=4, tm=8, tn=16)
# The usual shape for discrete and integrated GPUs: 256 threads, 64x64 tiles, 8 KiB shared.
HARDWARE = TileConfig(tiled=True, wgm=16, wgn=16, tm=4, tn=4, bk=16)


def choose_config(rt) -> TileConfig:
    """The configuration for ``rt``'s adapter, shrunk to fit its workgroup limits."""
    cfg = SOFTWARE if rt.is_software else HARDWARE
    limits = rt.limits
    max_threads = min(limits.get("max-compute-invocations-per-workgroup", 256),
                      limits.get("max-compute-workgroup-size-x", 256))
    max_shared = limits.get("max-compute-workgroup-storage-size", 16384)
    wgm, wgn, bk = cfg.wgm, cfg.wgn, cfg.bk
    while wgm * wgn > max_threads:
        if wgm >= wgn:
            wgm //= 2
        else:
            wgn //= 2
    cfg = TileConfig(cfg.tiled, wgm, wgn, cfg.tm, cfg.tn, bk)
    while cfg.shared_bytes > max_shared and cfg.bk > 1:
        cfg = TileConfig(cfg.tiled, cfg.wgm, cfg.wgn, cfg.tm, cfg.tn, cfg.bk // 2)
    return cfg


def _read_mode(off: int, s_batch: int, s_outer: int, s_k: int, outer: int, k: int) -> int:
    """The vec4 mode an operand allows: VEC_K when each row (along K) is contiguous, VEC_OUTER
    when each column (along M for A, N for B) is; both need every offset, stride and the
    vectorised size to be multiples of 4. Strides of size-1 dims arrive as 0."""
    if off % 4 or s_batch % 4:
        return SCALAR
    if s_k == 1 and k % 4 == 0 and s_outer % 4 == 0:
        return VEC_K
    if s_outer == 1 and outer % 4 == 0 and s_k % 4 == 0:
        return VEC_OUTER
    return SCALAR


class MatmulOps:
    """Mixin for `WgpuBackend`: the ``matmul`` op of the protocol."""

    #: the tile configuration; None until first use (then ``choose_config``). Tests may set it
    #: to exercise the other kernel on this adapter.
    matmul_config: TileConfig | None = None

    def matmul(self, a: WgpuArray, b: WgpuArray) -> WgpuArray:
        """(M, K) @ (K, N) or (B, M, K) @ (B, K, N) (a batch of 1 broadcasts), as a new contiguous
        array. float32 and float16 (accumulated in float32)."""
        return self._matmul(a, b, None, 1.0, 1.0)

    def matmul_bias(self, a: WgpuArray, b: WgpuArray, bias: WgpuArray, alpha=1.0, beta=1.0) -> WgpuArray:
        """``alpha * (a @ b) + beta * bias`` in one dispatch: ``bias`` (a's dtype) broadcasts to the
        product's shape ([N] along rows, [M, 1], [M, N] ...); added after the whole dot product."""
        if bias.dtype is not a.dtype:
            raise TypeError(f"expected bias to have the matmul's dtype {a.dtype.name}, got {bias.dtype.name}")
        return self._matmul(a, b, bias, float(alpha), float(beta))

    def _matmul(self, a: WgpuArray, b: WgpuArray, bias, alpha: float, beta: float) -> WgpuArray:
        dt = a.dtype
        if b.dtype is not dt:
            raise TypeError(f"expected m1 and m2 to have the same dtype, but got: {dt.name} != "
                            f"{b.dtype.name}")
        if dt.wgsl not in ("f32", "f16", "f64"):
            raise TypeError(f"matmul on wgpu supports float32 and float16 (and float64 with shader-f64), got {dt.name}")
        self.check_dtype(dt)
        if a.ndim != b.ndim or a.ndim not in (2, 3):
            raise RuntimeError(f"matmul on wgpu takes two 2-D or two 3-D arrays, got shapes "
                               f"{list(a.shape)} and {list(b.shape)}")
        m, k = a.shape[-2:]
        k2, n = b.shape[-2:]
        batch_a = a.shape[0] if a.ndim == 3 else 1
        batch_b = b.shape[0] if b.ndim == 3 else 1
        if k != k2 or (batch_a != batch_b and 1 not in (batch_a, batch_b)):
            raise RuntimeError(f"matmul shapes cannot be multiplied: {list(a.shape)} and {list(b.shape)}")
        batch = max(batch_a, batch_b)
        shape = (batch, m, n) if a.ndim == 3 else (m, n)
        re = _bias_strides(bias, shape) if bias is not None else (0, 0, 0, 0)  # batch, M, N
        cfg = self.matmul_config
        if cfg is None:
            cfg = self.matmul_config = choose_config(self.rt)
        longest = k_slice(cfg) if self.rt.is_software else k
        if k > longest and m * n * batch:
            out = self._matmul_k_slices(a, b, longest)
            return out if bias is None else self._epilogue_eager(out, bias, alpha, beta)
        out = self.empty(shape, dt)
        if out.size == 0:
            return out

        # Offsets and strides in elements, strides 0 on size-1 dims (so they never block a vec4 path).
        ra = (a.offset, a.strides[0] if a.ndim == 3 and batch_a != 1 else 0,
              a.strides[-2] if m != 1 else 0, a.strides[-1] if k != 1 else 0)  # batch, M, K
        rb = (b.offset, b.strides[0] if b.ndim == 3 and batch_b != 1 else 0,
              b.strides[-2] if k != 1 else 0, b.strides[-1] if n != 1 else 0)  # batch, K, N
        buf_a, buf_b = a.buffer, b.buffer
        if n == 1 < m:
            # A matrix-vector product runs as (1, K) @ (K, M) = b^T @ a^T: the (batch, 1, M)
            # result has the memory layout of (batch, M, 1), and the thin configuration fits it.
            m, n = n, m
            ra, rb = (rb[0], rb[1], rb[3], rb[2]), (ra[0], ra[1], ra[3], ra[2])
            re = (re[0], re[1], re[3], re[2])
            buf_a, buf_b = buf_b, buf_a

        if cfg.tiled:
            mode_a = mode_b = SCALAR  # the tiled kernel stages through shared memory either way
        else:
            if m < 4:  # one row per thread: an 8-row block would repeat the same row 8 times
                cfg = TileConfig(tiled=False, wgm=1, wgn=cfg.threads, tm=1, tn=cfg.tn)
            mode_a = _read_mode(*ra, m, k)
            mode_b = _read_mode(rb[0], rb[1], rb[3], rb[2], n, k)
        epi = None if bias is None else Epilogue(scaled=(alpha, beta) != (1.0, 1.0))
        p = matmul_pipeline(self.rt, dt, cfg, mode_a, mode_b, epi)

        tiles_m = -(-m // cfg.bm)
        tiles_n = -(-n // cfg.bn)
        groups = tiles_m * tiles_n * batch
        meta = (m, n, k, groups, tiles_m, tiles_n, out.offset, 0, *ra, *rb, *re, alpha, beta, 0, 0)
        buffers = (out.buffer, buf_a, buf_a, buf_b, buf_b)
        if bias is not None:
            buffers += (bias.buffer,)
        self.rt.dispatch(p, buffers, META64 if dt.wgsl == "f64" else META, meta, groups)
        return out

    def _epilogue_eager(self, out: WgpuArray, bias: WgpuArray, alpha: float, beta: float) -> WgpuArray:
        """The epilogue as separate elementwise ops (after a product summed over slices of K)."""
        dt = out.dtype
        if alpha != 1.0:
            out = self.elementwise("mul", [out, alpha], dt, dt)
        if beta != 1.0:
            bias = self.elementwise("mul", [bias, beta], dt, dt)
        return self.elementwise("add", [out, bias], dt, dt)

    def _matmul_k_slices(self, a: WgpuArray, b: WgpuArray, longest: int) -> WgpuArray:
        """a @ b as a sum over slices of K, each one product within the loop limit; float16
        partials are summed in float32."""
        k = a.shape[-1]
        acc = None
        for start in range(0, k, longest):
            ks = min(longest, k - start)
            part = self.matmul(a.view(a.shape[:-1] + (ks,), a.strides, a.offset + start * a.strides[-1]),
                               b.view(b.shape[:-2] + (ks, b.shape[-1]), b.strides, b.offset + start * b.strides[-2]))
            w = float64 if a.dtype is float64 else float32
            acc = part if acc is None else self.elementwise("add", [acc, part], w, w)
        return acc if acc.dtype is a.dtype else self.elementwise("copy", [acc], acc.dtype, a.dtype)


@dataclass(frozen=True)
class Epilogue:
    """What the store does beyond rounding: add a bias (``scaled``: with alpha and beta, else both
    1), then ``act`` (WGSL defining ``fn act(x: f32) -> f32`` and its helpers; "" is the identity);
    ``keep``: C gets the value before ``act`` and a second output O (the next binding) the value after."""

    bias: bool = True
    scaled: bool = False
    act: str = ""
    keep: bool = False


#: pipeline -> (dtype, config, read modes, Epilogue or None): what `with_activation` rebuilds from
MATMULS: dict = {}


def matmul_pipeline(rt, dt: dtype, cfg: TileConfig, mode_a: int, mode_b: int, epi: Epilogue | None,
                    name: str = "matmul"):
    """The matmul pipeline for one configuration, read-mode pair and epilogue (compiled once)."""
    key = ("matmul", dt.wgsl, cfg, mode_a, mode_b, epi)
    access = ("rw", "r", "r", "r", "r")
    if epi is not None:
        access += ("r",) * epi.bias + ("rw",) * epi.keep
    p = rt.pipeline(key, lambda: _source(dt, cfg, mode_a, mode_b, epi), access, name)
    MATMULS.setdefault(p, (dt, cfg, mode_a, mode_b, epi))
    return p


def with_activation(rt, p, act: str, keep: bool = False, name: str = "matmul+act", bias: bool = False):
    """The pipeline of matmul ``p`` with ``act`` applied to every stored value (see `Epilogue`;
    ``keep``: also store the value before it; ``bias``: add a bias first, unscaled, where ``p`` has
    none), or None when ``p`` is no matmul of this module, already has an activation, or (``bias``)
    already has a bias."""
    info = MATMULS.get(p)
    if info is None:
        return None
    dt, cfg, mode_a, mode_b, epi = info
    if epi is not None and (epi.act or bias):
        return None
    epi = Epilogue(bias=bias, act=act, keep=keep) if epi is None else Epilogue(True, epi.scaled, act, keep)
    return matmul_pipeline(rt, dt, cfg, mode_a, mode_b, epi, name)


def _bias_strides(bias: WgpuArray, shape: tuple) -> tuple:
    """(offset, batch, row, column strides) reading ``bias`` broadcast to ``shape`` (0 where it broadcasts)."""
    if bias.ndim > len(shape) or any(d not in (1, s) for d, s in zip(bias.shape[::-1], shape[::-1])):
        raise RuntimeError(f"the bias of shape {list(bias.shape)} does not broadcast to the product's shape "
                           f"{list(shape)}")
    strides = [0, 0, 0]
    for i in range(1, bias.ndim + 1):
        if bias.shape[-i] != 1:
            strides[-i] = bias.strides[-i]
    return (bias.offset, *strides)


def _epilogue_code(dt: dtype, epi: Epilogue | None) -> str:
    if epi is None:
        return "fn epi(v: f32, b: u32, r: u32, c: u32, i: u32) -> TS {\n    return TS(v);\n}"
    lines = [epi.act or "fn act(x: f32) -> f32 {\n    return x;\n}"]
    if epi.bias:
        lines.append("@group(0) @binding(6) var<storage, read> E: array<TS>;")
    if epi.keep:
        lines.append(f"@group(0) @binding({6 + epi.bias}) var<storage, read_write> O: array<TS>;")
    lines.append("fn epi(v: f32, b: u32, r: u32, c: u32, i: u32) -> TS {")
    lines.append("    var x = f32(TS(v));  // the product as stored")
    if epi.bias:
        lines.append("    var e = f32(E[P.e_off + b * P.e_sb + r * P.e_sm + c * P.e_sn]);")
        if epi.scaled:  # product * alpha and input * beta, each rounded, as the separate ops
            lines.append("    x = f32(TS(x * P.alpha));")
            lines.append("    e = f32(TS(e * P.beta));")
        lines.append("    x = f32(TS(x + e));")
    if epi.keep:
        lines.append("    O[i - P.c_off + P.o_off] = TS(act(x));")
        lines.append("    return TS(x);\n}")
    else:
        lines.append("    return TS(act(x));\n}")
    return "\n".join(lines)


def _source(dt: dtype, cfg: TileConfig, mode_a: int, mode_b: int, epi: Epilogue | None = None) -> str:
    ks = 4 if VEC_K in (mode_a, mode_b) else 1
    consts = {"TILED": cfg.tiled, "WGM": cfg.wgm, "WGN": cfg.wgn, "TM": cfg.tm, "TN": cfg.tn, "BK": cfg.bk,
              "TILE_A": cfg.bk * cfg.bm if cfg.tiled else 1, "TILE_B": cfg.bk * cfg.bn if cfg.tiled else 1,
              "KS": ks}
    markers = dict.fromkeys(("REG_SETUP", "REG_STEP", "REG_STORE"), "")
    f64 = dt.wgsl == "f64"  # float64 accumulates in f64 (the generated f32 names the compute type)
    if not cfg.tiled:
        markers = _register_code(cfg.tm, cfg.tn, ks, mode_a, mode_b)
        if f64:
            markers = {name: code.replace("f32", "f64") for name, code in markers.items()}
    markers["EPILOGUE"] = _epilogue_code(dt, epi)
    if f64:  # (the host writes its markers' compute type)
        markers["EPILOGUE"] = markers["EPILOGUE"].replace("f32", "f64")
    return specialise("matmul", {"TS": dt.wgsl}, consts, markers, params=PARAMS, f64=f64)


_XYZW = "xyzw"


def _register_code(tm: int, tn: int, ks: int, mode_a: int, mode_b: int) -> dict[str, str]:
    """The unrolled body of ``gemm_registers`` (see the REG_* markers in matmul.wgsl)."""
    setup, step, store = [], [], []
    # Row offsets of A, column offsets of B: one per row/column, or one per group of 4 when the
    # operand is read as vec4s along that dimension.
    if mode_a == VEC_OUTER:
        setup += [f"let ar{g} = a_base + min(r0 + {4 * g}u, P.m - 4u);" for g in range(tm // 4)]
    else:
        setup += [f"let ar{i} = a_base + min(r0 + {i}u, P.m - 1u) * P.a_sm;" for i in range(tm)]
    if mode_b == VEC_OUTER:
        setup += [f"let bc{g} = b_base + min(c0 + {4 * g}u, P.n - 4u);" for g in range(tn // 4)]
    else:
        setup += [f"let bc{j} = b_base + min(c0 + {j}u, P.n - 1u) * P.b_sn;" for j in range(tn)]
    setup += [f"var acc{i}_{j} = vec4<f32>();" for i in range(tm) for j in range(tn // 4)]

    # Loads. a(i, kk) names the f32 A[r0 + i, k0 + kk]; bv{kk}_{j} is the vec4 B[k0 + kk, c0 + 4j ..].
    if mode_a == VEC_K:
        step += [f"let a{i} = vec4<f32>(A4[(ar{i} + k0) >> 2u]);" for i in range(tm)]
        def a(i, kk):
            return f"a{i}.{_XYZW[kk]}"
    elif mode_a == VEC_OUTER:
        step += [f"let a{g}_{kk} = vec4<f32>(A4[(ar{g} + (k0 + {kk}u) * P.a_sk) >> 2u]);"
                 for kk in range(ks) for g in range(tm // 4)]
        def a(i, kk):
            return f"a{i // 4}_{kk}.{_XYZW[i % 4]}"
    else:
        step += [f"let a{i}_{kk} = f32(A[ar{i} + (k0 + {kk}u) * P.a_sk]);"
                 for kk in range(ks) for i in range(tm)]
        def a(i, kk):
            return f"a{i}_{kk}"
    if mode_b == VEC_OUTER:
        step += [f"let bv{kk}_{g} = vec4<f32>(B4[(bc{g} + (k0 + {kk}u) * P.b_sk) >> 2u]);"
                 for kk in range(ks) for g in range(tn // 4)]
    elif mode_b == VEC_K:
        step += [f"let b{j} = vec4<f32>(B4[(bc{j} + k0) >> 2u]);" for j in range(tn)]
        step += [f"let bv{kk}_{g} = vec4<f32>({', '.join(f'b{4 * g + q}.{_XYZW[kk]}' for q in range(4))});"
                 for kk in range(ks) for g in range(tn // 4)]
    else:
        step += [f"let b{kk}_{j} = f32(B[bc{j} + (k0 + {kk}u) * P.b_sk]);"
                 for kk in range(ks) for j in range(tn)]
        step += [f"let bv{kk}_{g} = vec4<f32>({', '.join(f'b{kk}_{4 * g + q}' for q in range(4))});"
                 for kk in range(ks) for g in range(tn // 4)]
    step += [f"acc{i}_{g} = fma(vec4<f32>({a(i, kk)}), bv{kk}_{g}, acc{i}_{g});"
             for kk in range(ks) for i in range(tm) for g in range(tn // 4)]

    for i in range(tm):
        store.append(f"if (r0 + {i}u < P.m) {{")
        store.append(f"    let row{i} = c_base + (r0 + {i}u) * P.n + c0;")
        store += [f"    if (c0 + {j}u < P.n) {{ C[row{i} + {j}u] = "
                  f"epi(acc{i}_{j // 4}.{_XYZW[j % 4]}, t.batch, r0 + {i}u, c0 + {j}u, row{i} + {j}u); }}"
                  for j in range(tn)]
        store.append("}")
    indent = {"REG_SETUP": "    ", "REG_STEP": "        ", "REG_STORE": "    "}
    code = {"REG_SETUP": setup, "REG_STEP": step, "REG_STORE": store}
    return {name: "\n".join(indent[name] + line for line in lines) for name, lines in code.items()}


__all__ = ["HARDWARE", "MATMULS", "SOFTWARE", "Epilogue", "MatmulOps", "TileConfig", "choose_config", "k_slice",
           "matmul_pipeline", "with_activation"]
