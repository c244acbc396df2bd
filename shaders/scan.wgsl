// Inclusive scans along one dim: cumsum, cumprod, cummax/cummin (value and index), logcumsumexp.
//
// The input is viewed, without a copy, as `rows` rows of `K` elements: element k of row `row`
// is at P.in_off + kept_offset(row, in) + k * P.in_stride (any strided view); the result goes to
// the same place through the output's strides. One kernel, parameterised by the combine op.
//
// The host (wgtorch/_backends/wgpu/scan.py) keeps the shared part and ONE `//@kernel` section,
// and prepends:
//   TI, TA, TO  input storage, accumulator and output storage types (TA: f32 for f16/f32 results,
//               i32 for int32/int64, u32 for bool cummax/cummin)
//   KEPT_NDIM   kept dims after merging (0: one row)
//   HAS_IDX     cummax/cummin: carry (value, index) pairs, indices to `dst_idx` (stored as TXO:
//               i32, or i64 for the int64 result on a device with shader-int64; block totals' are i32)
//   IDX_IN      indices come from `src_idx` (a pass over block totals), else the position k
//   SEED        start block b of each row from `pre[row * nblocks + b - 1]` (scanned block totals)
//   TOTALS      write each block's total (to dst[row * nblocks + b]) instead of the scan
//   WG, ITEMS, FOLD   workgroup size, elements per invocation, WG == FOLD * FOLD
// and fills OPS with `ident()` and `combine(a, b)` (a comes before b; associative).
//
// Long rows take three dispatches (reduce-then-scan): block totals, a scan of the totals
// (recursively the same kernels), then the block scans seeded with the totals' prefix. Accumulators stay in TA throughout, so a float16 result is rounded once.

struct Pair {
    v: TA,
    i: i32,  // cummax/cummin: the index of the value; else unused
}

{{OPS}}

@group(0) @binding(1) var<storage, read> src: array<TI>;
@group(0) @binding(2) var<storage, read> src_idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> dst: array<TO>;
@group(0) @binding(4) var<storage, read_write> dst_idx: array<TXO>;
@group(0) @binding(5) var<storage, read> pre: array<TA>;
@group(0) @binding(6) var<storage, read> pre_idx: array<i32>;

// No element (padding past K): combine(a, none) == a for every op.
const IDX_NONE: i32 = -1;

fn kept_offset(row: u32, out: bool) -> u32 {
    var rem = row;
    var off = 0u;
    for (var d = KEPT_NDIM - 1; d >= 0; d--) {
        let n = P.kept_shape[d];
        off += (rem % n) * select(P.kept_in[d], P.kept_out[d], out);
        rem = rem / n;
    }
    return off;
}

fn load(base: u32, k: u32) -> Pair {
    let o = base + k * P.in_stride;
    var i = i32(k);
    if (IDX_IN) {
        i = src_idx[P.in_idx_off + (o - P.in_off)];
    }
    return Pair(TA(src[o]), i);
}

fn store(base: u32, k: u32, a: Pair) {
    let o = base + k * P.out_stride;
    dst[o] = TO(a.v);
    if (HAS_IDX) {
        dst_idx[P.out_idx_off + (o - P.out_off)] = TXO(a.i);
    }
}

fn seed(row: u32, blk: u32) -> Pair {
    if (SEED && blk > 0u) {
        let j = row * P.nblocks + blk - 1u;
        var i = 0;
        if (HAS_IDX) {
            i = pre_idx[P.pre_idx_off + j];
        }
        return Pair(pre[P.pre_off + j], i);
    }
    return Pair(ident(), IDX_NONE);
}

//@kernel rows
// One invocation per segment of P.seg_len elements of a row (a whole short row, or one segment
// of a long row on a software adapter), serially: no workgroup memory, no barriers. With
// TOTALS it writes the segment's total; with SEED it starts from the segments before it.
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = gid.x + gid.y * nwg.x * u32(WG);
    if (id >= P.rows * P.nblocks) {
        return;
    }
    let row = id / P.nblocks;
    let seg = id % P.nblocks;
    let in_base = P.in_off + kept_offset(row, false);
    let out_base = P.out_off + kept_offset(row, true);
    let k0 = seg * P.seg_len;
    let k1 = min(P.K, k0 + P.seg_len);
    var acc = seed(row, seg);
    for (var k = k0; k < k1; k++) {
        acc = combine(acc, load(in_base, k));
        if (!TOTALS) {
            store(out_base, k, acc);
        }
    }
    if (TOTALS) {
        dst[P.out_off + id] = TO(acc.v);
        if (HAS_IDX) {
            dst_idx[P.out_idx_off + id] = TXO(acc.i);
        }
    }
}
//@end

//@kernel block
// One workgroup per block of WG * ITEMS elements of one row: each invocation scans its ITEMS
// consecutive elements serially, the WG invocation totals are scanned in workgroup memory in two
// levels of FOLD (work-efficient, three barriers: on lavapipe each barrier costs microseconds),
// then each invocation combines its exclusive prefix into its elements.
var<workgroup> sh_v: array<TA, WG>;
var<workgroup> sh_i: array<i32, WG>;
var<workgroup> sh_gv: array<TA, FOLD>;  // exclusive prefix of each FOLD slice (seed included)
var<workgroup> sh_gi: array<i32, FOLD>;

fn sh_get(j: u32) -> Pair {
    var i = 0;
    if (HAS_IDX) {
        i = sh_i[j];
    }
    return Pair(sh_v[j], i);
}

fn sh_set(j: u32, a: Pair) {
    sh_v[j] = a.v;
    if (HAS_IDX) {
        sh_i[j] = a.i;
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let group = wid.x + wid.y * nwg.x;
    if (group >= P.rows * P.nblocks) {
        return;  // (uniform over the workgroup: every invocation leaves)
    }
    let lid = lid3.x;
    let row = group / P.nblocks;
    let blk = group % P.nblocks;
    let in_base = P.in_off + kept_offset(row, false);
    let k0 = blk * u32(WG * ITEMS) + lid * u32(ITEMS);

    var local: array<Pair, ITEMS>;
    var acc = Pair(ident(), IDX_NONE);
    for (var j = 0u; j < u32(ITEMS); j++) {
        if (k0 + j < P.K) {
            acc = combine(acc, load(in_base, k0 + j));
        }
        local[j] = acc;
    }
    // HAS_IDX keeps IDX_NONE in sh_i for an invocation with no element; other ops' identity works.
    sh_set(lid, acc);
    workgroupBarrier();
    if (lid < FOLD) {  // inclusive scan of slice `lid`, in place
        let first = lid * FOLD;
        var r = sh_get(first);
        for (var j = first + 1u; j < first + FOLD; j++) {
            r = combine(r, sh_get(j));
            sh_set(j, r);
        }
    }
    workgroupBarrier();
    if (lid == 0u) {  // exclusive prefix of the slices, from the block's seed
        var r = seed(row, blk);
        for (var s = 0u; s < FOLD; s++) {
            sh_gv[s] = r.v;
            sh_gi[s] = r.i;
            r = combine(r, sh_get(s * FOLD + FOLD - 1u));
        }
    }
    workgroupBarrier();
    var prefix = Pair(sh_gv[lid / FOLD], sh_gi[lid / FOLD]);
    if (lid % FOLD != 0u) {
        prefix = combine(prefix, sh_get(lid - 1u));
    }
    if (TOTALS) {
        if (lid == u32(WG) - 1u) {
            let total = combine(prefix, acc);
            dst[P.out_off + group] = TO(total.v);
            if (HAS_IDX) {
                dst_idx[P.out_idx_off + group] = TXO(total.i);
            }
        }
        return;
    }
    let out_base = P.out_off + kept_offset(row, true);
    for (var j = 0u; j < u32(ITEMS); j++) {
        if (k0 + j < P.K) {
            store(out_base, k0 + j, combine(prefix, local[j]));
        }
    }
}
//@end
