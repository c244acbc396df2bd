// Matrix multiply: C[b] = A[b] @ B[b] for a batch of (M, K) @ (K, N) products, accumulated in f32.
//
// A and B are strided views (element strides for batch, rows and columns; a batch stride of 0
// broadcasts); C is contiguous (batch, M, N). Two kernels share this file:
//   gemm_registers  no shared memory, large per-thread register blocks: software adapters
//                   (lavapipe runs each invocation as a SIMD lane, and its barriers are costly)
//   gemm_tiled      shared-memory tiles and a small block per thread: hardware GPUs
//
// The host (wgtorch/backends/wgpu/matmul.py) prepends:
//   TS        storage type of A, B and C (f32 or f16)
//   TILED     true selects gemm_tiled
//   WGM, WGN  threads per workgroup along M and N (WG = WGM * WGN)
//   TM, TN    outputs per thread along M and N (gemm_registers: TN a multiple of 4, and TM too
//             when A is read as vec4s along M)
//   BK        K-slice per shared-memory step (gemm_tiled); TILE_A / TILE_B are its tile sizes
//   KS        gemm_registers' K step (4 when it reads A or B as vec4s along K, else 1)
// and fills EPILOGUE with `fn epi(v, batch, row, col, index) -> TS`, the value stored for accumulator
// v at C[batch, row, col] (C[index]): TS(v) for a plain product; with a bias (binding 6, E, read through the e_*
// strides, 0 where it broadcasts) act(alpha * TS(v) + beta * E[...]), each step rounded to TS as
// the separate elementwise ops would (the add comes after the whole dot product, as theirs does);
// `act` is the identity or a chain of elementwise ops folded in by graph fusion (fusion.py); with
// `keep`, C gets the value before `act` and O (the binding after E) the value after it.
// It fills the REG_* markers of gemm_registers (empty for the tiled kernel) with unrolled code
// for one pair of read modes: A and B each read as scalars through their strides, or as vec4s
// along K or along M (A) / N (B), where the host has checked that this dimension is contiguous
// and that offsets, strides and its size are multiples of 4.
//
// gemm_registers is unrolled by the host because lavapipe ran it 3-5x faster that way than the
// same kernel written with loops over local arrays (which it does not keep in registers).
// A and B are each bound twice, as scalars and as vec4s, so every read mode type-checks.

// struct Meta and its binding P come from the family's ParamBlock (backends/wgpu/*.py).

@group(0) @binding(1) var<storage, read_write> C: array<TS>;
@group(0) @binding(2) var<storage, read> A: array<TS>;
@group(0) @binding(3) var<storage, read> A4: array<vec4<TS>>;
@group(0) @binding(4) var<storage, read> B: array<TS>;
@group(0) @binding(5) var<storage, read> B4: array<vec4<TS>>;

{{EPILOGUE}}

const WG: i32 = WGM * WGN;
const BM: i32 = WGM * TM;
const BN: i32 = WGN * TN;

var<workgroup> tile_a: array<f32, TILE_A>;  // [kk * BM + m]
var<workgroup> tile_b: array<f32, TILE_B>;  // [kk * BN + n]

struct Tile {
    batch: u32,
    row0: u32,
    col0: u32,
}

// Linear workgroup index -> (batch, first row, first column) of its BM x BN output tile.
fn tile_of(group: u32) -> Tile {
    let tile_n = group % P.tiles_n;
    let rest = group / P.tiles_n;
    return Tile(rest / P.tiles_m, (rest % P.tiles_m) * u32(BM), tile_n * u32(BN));
}

fn gemm_registers(lid: u32, t: Tile) {
    let r0 = t.row0 + (lid / u32(WGN)) * u32(TM);
    let c0 = t.col0 + (lid % u32(WGN)) * u32(TN);
    if (r0 >= P.m || c0 >= P.n) {
        return;
    }
    let a_base = P.a_off + t.batch * P.a_sb;
    let b_base = P.b_off + t.batch * P.b_sb;
    // REG_SETUP: the element offset of each of this thread's rows of A (ar*) and columns of B
    // (bc*), clamped onto the last valid row/column (whole groups of 4 in the vec4 modes) so every
    // load is in bounds without a branch (clamped rows and columns are never stored); and the
    // accumulators acc{i}_{j} = C[r0 + i, c0 + 4j .. 4j + 3].
{{REG_SETUP}}
    for (var k0 = 0u; k0 < P.k; k0 += u32(KS)) {
        // REG_STEP: load A[r0 .. r0 + TM, k0 .. k0 + KS] and B[k0 .. k0 + KS, c0 .. c0 + TN] by
        // the read modes, then TM * TN * KS fused multiply-adds.
{{REG_STEP}}
    }
    let c_base = P.c_off + t.batch * P.m * P.n;
    // REG_STORE: the rows and columns inside C.
{{REG_STORE}}
}

fn gemm_tiled(lid: u32, t: Tile) {
    let tx = lid % u32(WGN);
    let ty = lid / u32(WGN);
    let a_base = P.a_off + t.batch * P.a_sb;
    let b_base = P.b_off + t.batch * P.b_sb;
    // Consecutive threads fill consecutive addresses along the operand's contiguous dimension,
    // so the global loads coalesce whichever way round A and B are stored.
    let a_along_k = P.a_sk == 1u;
    let b_along_n = P.b_sn == 1u || P.b_sk != 1u;
    var acc: array<f32, TM * TN>;  // acc[i * TN + j] = C[row0 + ty + i * WGM, col0 + tx + j * WGN]
    for (var k0 = 0u; k0 < P.k; k0 += u32(BK)) {
        for (var e = lid; e < u32(BM * BK); e += u32(WG)) {
            let m = select(e % u32(BM), e / u32(BK), a_along_k);
            let kk = select(e / u32(BM), e % u32(BK), a_along_k);
            let r = t.row0 + m;
            let k = k0 + kk;
            var v = 0.0;
            if (r < P.m && k < P.k) {
                v = f32(A[a_base + r * P.a_sm + k * P.a_sk]);
            }
            tile_a[kk * u32(BM) + m] = v;
        }
        for (var e = lid; e < u32(BN * BK); e += u32(WG)) {
            let n = select(e / u32(BK), e % u32(BN), b_along_n);
            let kk = select(e % u32(BK), e / u32(BN), b_along_n);
            let c = t.col0 + n;
            let k = k0 + kk;
            var v = 0.0;
            if (c < P.n && k < P.k) {
                v = f32(B[b_base + k * P.b_sk + c * P.b_sn]);
            }
            tile_b[kk * u32(BN) + n] = v;
        }
        workgroupBarrier();
        for (var kk = 0; kk < BK; kk++) {
            var ar: array<f32, TM>;
            var br: array<f32, TN>;
            for (var i = 0; i < TM; i++) {
                ar[i] = tile_a[kk * BM + i32(ty) + i * WGM];
            }
            for (var j = 0; j < TN; j++) {
                br[j] = tile_b[kk * BN + i32(tx) + j * WGN];
            }
            for (var i = 0; i < TM; i++) {
                for (var j = 0; j < TN; j++) {
                    acc[i * TN + j] = fma(ar[i], br[j], acc[i * TN + j]);
                }
            }
        }
        workgroupBarrier();
    }

    let c_base = P.c_off + t.batch * P.m * P.n;
    for (var i = 0; i < TM; i++) {
        let r = t.row0 + ty + u32(i * WGM);
        if (r < P.m) {
            for (var j = 0; j < TN; j++) {
                let c = t.col0 + tx + u32(j * WGN);
                if (c < P.n) {
                    let ci = c_base + r * P.n + c;
                    C[ci] = epi(acc[i * TN + j], t.batch, r, c, ci);
                }
            }
        }
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let group = wid.x + wid.y * nwg.x;
    if (group >= P.groups) {
        return;
    }
    if (TILED) {
        gemm_tiled(lid, tile_of(group));
    } else {
        gemm_registers(lid, tile_of(group));
    }
}
