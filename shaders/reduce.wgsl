// Reductions (sum, prod, amax, amin, argmax, argmin) and fused softmax / log_softmax.
//
// The input is viewed, without a copy, as [kept dims..., reduced dims...]: output element `row`
// reduces the K elements `row * K + k` of that view. `kept_offset` and `red_offset` turn `row`
// and `k` into storage offsets through the strides in P, so any strided view works (transposed,
// sliced with steps, expanded with stride 0).
//
// The host (wgtorch/_backends/wgpu/reduce.py) prepends:
//   TI        input storage type (f32, f16, i32, u32 for bool)
//   TA        accumulator type (f32 for f16/f32 storage, else the storage type)
//   TO        output storage type (i32 for argmax/argmin)
//   KERNEL    0 reduce, one row per thread (short rows)
//             1 reduce, one row (or one chunk of a row) per workgroup, folded in workgroup memory
//             2 softmax, one row per thread
//             3 softmax, one row per workgroup
//   KEPT_NDIM number of kept dims after merging (0: a single output row)
//   RED_NDIM  number of reduced dims after merging (0: one dim of stride 1, offset = k)
//   ARG       argmax/argmin: carry (value, index) pairs
//   PARTIAL   first pass of a split reduction: write accumulator values (and indices) to partials
//   OUT_BOOL  output is bool: store 0/1
//   LOG       (softmax) log_softmax instead of softmax
//   WG, FOLD  workgroup size and its square root
// and fills BINDINGS (binding 1 `src`, binding 2 `dst`, binding 3 for split argmax partials)
// with `load_index` and `store_index`, and OPS with `ident()` (the identity), IDX_NONE, `note_store`, `combine`
// (value ops) and `take` (arg ops: whether candidate b beats the running a).

// struct Meta and its binding P come from the family's ParamBlock (reduce.py).

{{BINDINGS}}
{{OPS}}

// Workgroup scratch for the tree reductions (sh_i only for argmax/argmin).
var<workgroup> sh_v: array<TA, WG>;
var<workgroup> sh_i: array<i32, WG>;

// ---- helpers (is_nan, max_nan, min_nan, pos_inf, neg_inf are in prelude.wgsl) ----

// Storage offset of the first element of output row `row` (out = false) or of the softmax
// output row (out = true).
fn kept_offset(row: u32, out: bool) -> u32 {
    var rem = row;
    var off = 0u;
    for (var d = KEPT_NDIM - 1; d >= 0; d--) {
        let n = P.kept_shape[d];
        off += (rem % n) * select(P.kept_stride[d], P.kept_stride_out[d], out);
        rem = rem / n;
    }
    return off;
}

// Offset of reduced element k relative to its row.
fn red_offset(k: u32) -> u32 {
    if (RED_NDIM == 0) {
        return k;
    }
    if (RED_NDIM == 1) {
        return k * P.red_stride[0];
    }
    var rem = k;
    var off = 0u;
    for (var d = RED_NDIM - 1; d >= 0; d--) {
        let n = P.red_shape[d];
        off += (rem % n) * P.red_stride[d];
        rem = rem / n;
    }
    return off;
}

// ---- reductions ---------------------------------------------------------------------------
struct Acc {
    v: TA,
    i: i32,
}

fn push(a: Acc, v: TA, i: i32) -> Acc {
    if (ARG) {
        if (take(a.v, a.i, v, i)) {
            return Acc(v, i);
        }
        return a;
    }
    return Acc(combine(a.v, v), 0);
}

fn store_result(o: u32, a: Acc) {
    note_store(a.v);  // (OPS: an int64 prod held in i32 reports its overflow marker here)
    if (ARG && !PARTIAL) {
        store_index(o, a.i);
        return;
    }
    if (OUT_BOOL) {
        dst[P.out_offset + o] = TO(select(0u, 1u, a.v != TA(0)));
    } else {
        dst[P.out_offset + o] = TO(a.v);
    }
    if (ARG) {
        store_index(o, a.i);
    }
}

// Reduce one Acc per invocation to one per workgroup; the result is valid in invocation 0 only.
// Two levels of FOLD (FOLD * FOLD == WG) with two barriers: on lavapipe every barrier costs
// microseconds, far more than the few serial steps it saves in a log2(WG)-level tree.
fn group_reduce(lid: u32, a: Acc) -> Acc {
    sh_v[lid] = a.v;
    if (ARG) {
        sh_i[lid] = a.i;
    }
    workgroupBarrier();
    var r = a;
    if (lid < FOLD) {
        let first = lid * FOLD;  // fold this slice into its first slot, which only this invocation reads
        r = Acc(sh_v[first], 0);
        if (ARG) {
            r.i = sh_i[first];
        }
        for (var j = first + 1u; j < first + FOLD; j++) {
            var ij = 0;
            if (ARG) {
                ij = sh_i[j];
            }
            r = push(r, sh_v[j], ij);
        }
        sh_v[first] = r.v;
        if (ARG) {
            sh_i[first] = r.i;
        }
    }
    workgroupBarrier();
    if (lid == 0u) {
        for (var j = FOLD; j < WG; j += FOLD) {
            var ij = 0;
            if (ARG) {
                ij = sh_i[j];
            }
            r = push(r, sh_v[j], ij);
        }
    }
    return r;
}

fn reduce_thread(row: u32) {
    if (row >= P.rows) {
        return;
    }
    let base = P.offset + kept_offset(row, false);
    var a = Acc(ident(), IDX_NONE);
    for (var k = 0u; k < P.K; k++) {
        let o = base + red_offset(k);
        a = push(a, TA(src[o]), load_index(o, k));
    }
    store_result(row, a);
}

// Workgroup `wid` reduces chunk `wid % chunks` of row `wid / chunks` and writes element `wid`
// (the row itself when chunks == 1, a partial of the split pass otherwise).
fn reduce_group(wid: u32, lid: u32) {
    if (wid >= P.rows * P.chunks) {
        return;
    }
    let row = wid / P.chunks;
    let k0 = (wid % P.chunks) * P.chunk_len;
    let k1 = min(P.K, k0 + P.chunk_len);
    let base = P.offset + kept_offset(row, false);
    var a = Acc(ident(), IDX_NONE);
    for (var k = k0 + lid; k < k1; k += WG) {
        let o = base + red_offset(k);
        a = push(a, TA(src[o]), load_index(o, k));
    }
    let r = group_reduce(lid, a);
    if (lid == 0u) {
        store_result(wid, r);
    }
}

// ---- softmax: max, sum of exp(x - max), write. An all -inf row gives -inf - -inf = NaN,
// as in PyTorch; a NaN anywhere in a row makes the whole row NaN. ----------------------------
fn softmax_value(x: f32, m: f32, s: f32) -> f32 {
    if (LOG) {
        return (x - m) - log(s);
    }
    return exp(x - m) / s;
}

fn softmax_thread(row: u32) {
    if (row >= P.rows) {
        return;
    }
    let base = P.offset + kept_offset(row, false);
    let base_out = P.out_offset + kept_offset(row, true);
    let stride = P.red_stride[0];
    var m = neg_inf();
    for (var k = 0u; k < P.K; k++) {
        m = max_nan(m, f32(src[base + k * stride]));
    }
    var s = 0.0;
    for (var k = 0u; k < P.K; k++) {
        s += exp(f32(src[base + k * stride]) - m);
    }
    for (var k = 0u; k < P.K; k++) {
        dst[base_out + k * P.red_stride_out] = TO(softmax_value(f32(src[base + k * stride]), m, s));
    }
}

// Softmax's workgroup max and sum, broadcast to every invocation (sh_v is f32: TA = f32 for
// softmax kernels; the conversions only keep other specialisations type-correct).
fn group_max_sum(lid: u32, x: f32, is_max: bool) -> f32 {
    sh_v[lid] = TA(x);
    workgroupBarrier();
    if (lid < FOLD) {
        let first = lid * FOLD;
        var r = f32(sh_v[first]);
        for (var j = first + 1u; j < first + FOLD; j++) {
            r = select(r + f32(sh_v[j]), max_nan(r, f32(sh_v[j])), is_max);
        }
        sh_v[first] = TA(r);
    }
    workgroupBarrier();
    var r = f32(sh_v[0]);
    for (var j = FOLD; j < WG; j += FOLD) {
        r = select(r + f32(sh_v[j]), max_nan(r, f32(sh_v[j])), is_max);
    }
    workgroupBarrier();  // sh_v is reused right after
    return r;
}

fn softmax_group(row: u32, lid: u32) {
    if (row >= P.rows) {
        return;
    }
    let base = P.offset + kept_offset(row, false);
    let base_out = P.out_offset + kept_offset(row, true);
    let stride = P.red_stride[0];
    var m = neg_inf();
    for (var k = lid; k < P.K; k += WG) {
        m = max_nan(m, f32(src[base + k * stride]));
    }
    m = group_max_sum(lid, m, true);
    var s = 0.0;
    for (var k = lid; k < P.K; k += WG) {
        s += exp(f32(src[base + k * stride]) - m);
    }
    s = group_max_sum(lid, s, false);
    for (var k = lid; k < P.K; k += WG) {
        dst[base_out + k * P.red_stride_out] = TO(softmax_value(f32(src[base + k * stride]), m, s));
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid3: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    // Grids past 65,535 workgroups are folded into 2-D by the runtime.
    let wid = wid3.x + wid3.y * nwg.x;
    let lid = lid3.x;
    if (KERNEL == 0) {
        reduce_thread(wid * WG + lid);
    } else if (KERNEL == 1) {
        reduce_group(wid, lid);
    } else if (KERNEL == 2) {
        softmax_thread(wid * WG + lid);
    } else {
        softmax_group(wid, lid);
    }
}
