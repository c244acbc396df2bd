// Scatter family: scatter with assignment or a reduction (prod, amax, amin; sum is index.wgsl's
// scatter_add), float64 reductions and scatter_add by lines (add_lines), and the two passes of
// nonzero (count per chunk, then write coordinates).
//
// The host (wgtorch/_backends/wgpu/scatter.py) prepends the parameter block (ParamBlock), and:
//   TO     element storage type of out/src (f64, f32, f16, i32, u32 for bool; f64 reduces in add_lines)
//   TOUT   out's element type: TO for assignment, atomic<u32> for a reduction
//   TV     the type values combine in (f32 for f16 and f32, i32, u32, i64)
//   TI     the storage type of int64 indices (i32, or i64 on a device with shader-int64)
//   SERIAL the scatter kernel's one thread applies SERIAL_RUN updates from P.serial_first on, in
//          order (int64 stored as i64 with a reduction: WGSL has no 64-bit compare-exchange)
//   NDIM   dimensions of the iteration space (0 .. 8)
//   WG     the workgroup size
// and fills COMBINE (the reduction) and STORE (how one element is written) from the snippets at
// the end of this file.

//@kernel scatter
// One thread per index element; three strided operands walk the index's shape together:
//   0 out, with stride 0 along dim (the index value times P.dim_stride takes its place)
//   1 the index (int32, or int64 as TI; beyond the i32 range it is clamped to it, staying out of range)
//   2 src (possibly a stride-0 broadcast of one value)
// A bad index (negative or >= P.dim_size) never reaches memory: the thread reports it in its
// dispatch's slot of `err` (the runtime raises at the next read or synchronize) and writes nothing.
@group(0) @binding(1) var<storage, read_write> out: array<TOUT>;
@group(0) @binding(2) var<storage, read> src: array<TO>;
@group(0) @binding(3) var<storage, read> index: array<TIX>;
@group(0) @binding(4) var<storage, read_write> err: array<atomic<u32>>;

fn report(k: i32) {
    let e = P.err_slot * 4u;
    loop {  // the first report in the slot wins (the weak exchange may also fail spuriously)
        let r = atomicCompareExchangeWeak(&err[e], 0u, P.code);
        if (r.exchanged) {
            atomicStore(&err[e + 1u], bitcast<u32>(k));
            atomicStore(&err[e + 2u], P.dim_size);
            atomicStore(&err[e + 3u], P.dim);
            return;
        }
        if (r.old_value != 0u) {
            return;
        }
    }
}

{{COMBINE}}

{{STORE}}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * u32(WG);
    if (SERIAL) {  // one run of SERIAL_RUN elements per dispatch, in order (the loop limit: scatter.py)
        if (i == 0u) {
            let stop = min(P.serial_first + u32(SERIAL_RUN), P.numel);
            for (var j = P.serial_first; j < stop; j++) {
                scatter_one(j);
            }
        }
        return;
    }
    if (i >= P.numel) {
        return;
    }
    scatter_one(i);
}

fn scatter_one(i: u32) {
    var rem = i;
    var at_out = P.off_out;
    var at_index = P.off_index;
    var at_src = P.off_src;
    for (var d = NDIM - 1; d >= 0; d--) {
        let n = P.shape[d];
        let c = rem % n;
        rem = rem / n;
        at_out += c * P.stride[0][d];
        at_index += c * P.stride[1][d];
        at_src += c * P.stride[2][d];
    }
    let k = i32(clamp(index[at_index], TIX(-2147483648), TIX(2147483647)));
    if (k < 0 || u32(k) >= P.dim_size) {
        report(k);
        return;
    }
    store(at_out + u32(k) * P.dim_stride, src[at_src]);
}
//@end

//@kernel add_lines
// float64 reductions (scatter_add, scatter's prod/amax/amin): WGSL has no 64-bit atomics, so one
// thread owns each line of the index along dim (every other coordinate fixed) and walks it in
// order, combining src into out[... index ...] with plain loads and stores. Different lines
// address different out elements (out's other coordinates are the line's), so no two threads
// touch one element, and each element combines its values in index order, as PyTorch's cpu loop
// does: exact and deterministic. The iteration space (P.shape, strides 0 out, 1 index, 2 src) is
// the lines; P.line_len steps of P.index_step / P.src_step walk one.
@group(0) @binding(1) var<storage, read_write> out: array<TO>;
@group(0) @binding(2) var<storage, read> src: array<TO>;
@group(0) @binding(3) var<storage, read> index: array<TIX>;
@group(0) @binding(4) var<storage, read_write> err: array<atomic<u32>>;

fn report(k: i32) {  // (the scatter section's)
    let e = P.err_slot * 4u;
    loop {
        let r = atomicCompareExchangeWeak(&err[e], 0u, P.code);
        if (r.exchanged) {
            atomicStore(&err[e + 1u], bitcast<u32>(k));
            atomicStore(&err[e + 2u], P.dim_size);
            atomicStore(&err[e + 3u], P.dim);
            return;
        }
        if (r.old_value != 0u) {
            return;
        }
    }
}

{{COMBINE}}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * u32(WG);
    if (i >= P.numel) {
        return;
    }
    var rem = i;
    var at_out = P.off_out;
    var at_index = P.off_index;
    var at_src = P.off_src;
    for (var d = NDIM - 1; d >= 0; d--) {
        let n = P.shape[d];
        let c = rem % n;
        rem = rem / n;
        at_out += c * P.stride[0][d];
        at_index += c * P.stride[1][d];
        at_src += c * P.stride[2][d];
    }
    for (var j = 0u; j < P.line_len; j++) {
        // (an i64 index beyond the i32 range is clamped to it, staying out of range, as in the scatter section)
        let k = i32(clamp(index[at_index + j * P.index_step], TIX(-2147483648), TIX(2147483647)));
        if (k < 0 || u32(k) >= P.dim_size) {
            report(k);
            continue;
        }
        let at = at_out + u32(k) * P.dim_stride;
        out[at] = TO(combine(TV(out[at]), TV(src[at_src + j * P.src_step])));
    }
}
//@end

//@kernel nz_count
// Thread t counts the nonzero elements among the row-major positions [t * chunk, (t+1) * chunk)
// of a strided input into counts[t].
@group(0) @binding(1) var<storage, read> inp: array<TO>;
@group(0) @binding(2) var<storage, read_write> counts: array<u32>;

{{NONZERO}}

{{WALK}}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = gid.x + gid.y * nwg.x * u32(WG);
    if (t >= P.threads) {
        return;
    }
    let start = t * P.chunk;
    let stop = min(start + P.chunk, P.numel);
    var w = walk_start(start);
    var c = 0u;
    for (var j = start; j < stop; j++) {
        if (nonzero(inp[w.at])) {
            c += 1u;
        }
        w = walk_next(w);
    }
    counts[P.off_out + t] = c;
}
//@end

//@kernel nz_write
// Thread t writes the coordinates of its chunk's nonzero elements as rows of out (NDIM columns),
// from row offsets[t] (the exclusive prefix sum of nz_count's counts) on.
@group(0) @binding(1) var<storage, read> inp: array<TO>;
@group(0) @binding(2) var<storage, read> offsets: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<TI>;

{{NONZERO}}

{{WALK}}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = gid.x + gid.y * nwg.x * u32(WG);
    if (t >= P.threads) {
        return;
    }
    let start = t * P.chunk;
    let stop = min(start + P.chunk, P.numel);
    var row = offsets[P.off_aux + t];
    var w = walk_start(start);
    for (var j = start; j < stop; j++) {
        if (nonzero(inp[w.at])) {
            for (var d = 0; d < NDIM; d++) {
                out[P.off_out + row * u32(NDIM) + u32(d)] = TI(w.coord[d]);
            }
            row += 1u;
        }
        w = walk_next(w);
    }
}
//@end

/* Snippets; scatter.py cuts them out at the "//! name" lines (inert here).

//! combine_sum
fn combine(a: TV, b: TV) -> TV { return a + b; }

//! combine_prod
fn combine(a: TV, b: TV) -> TV { return a * b; }

//! combine_amax_float
fn combine(a: TV, b: TV) -> TV { return max_nan(a, b); }

//! combine_amin_float
fn combine(a: TV, b: TV) -> TV { return min_nan(a, b); }

//! combine_amax
fn combine(a: TV, b: TV) -> TV { return max(a, b); }

//! combine_amin
fn combine(a: TV, b: TV) -> TV { return min(a, b); }

//! combine_none
fn combine(a: TV, b: TV) -> TV { return b; }

//! store_assign
fn store(at: u32, v: TO) {
    out[at] = v;
}

//! store_serial
// SERIAL: this thread is the only writer.
fn store(at: u32, v: TO) {
    out[at] = combine(out[at], v);
}

//! store_cas32
// No float (or multiply/min/max on every type) atomics in WGSL: compare-exchange on the bits
// until no other thread changed the word in between; stop early where the value would not change
// (NaN bits compare equal as integers, so NaN cannot loop forever).
fn store(at: u32, v: TO) {
    var old = atomicLoad(&out[at]);
    loop {
        let updated = bitcast<u32>(combine(bitcast<TV>(old), TV(v)));
        if (updated == old) {
            break;
        }
        let r = atomicCompareExchangeWeak(&out[at], old, updated);
        if (r.exchanged) {
            break;
        }
        old = r.old_value;
    }
}

//! store_cas16
// Two f16 share a u32 word: this element's half is combined in f32 and replaced (the prelude's
// f16_at / with_f16), the neighbour's bits stay.
fn store(at: u32, v: TO) {
    let word = at >> 1u;
    let shift = (at & 1u) * 16u;
    var old = atomicLoad(&out[word]);
    loop {
        let updated = with_f16(old, shift, combine(f16_at(old, shift), f32(v)));
        if (updated == old) {
            break;
        }
        let r = atomicCompareExchangeWeak(&out[word], old, updated);
        if (r.exchanged) {
            break;
        }
        old = r.old_value;
    }
}

//! walk
// A chunk's walk over the input in row-major order: the coordinates and address of its first
// position from divisions, then one carry step a position (no division per element).
struct Walk {
    coord: array<u32, 8>,
    at: u32,
}

fn walk_start(j: u32) -> Walk {
    var w: Walk;
    var rem = j;
    w.at = P.off_in;
    for (var d = NDIM - 1; d >= 0; d--) {
        let n = P.shape[d];
        w.coord[d] = rem % n;
        w.at += w.coord[d] * P.stride[d];
        rem = rem / n;
    }
    return w;
}

fn walk_next(w0: Walk) -> Walk {
    var w = w0;
    for (var d = NDIM - 1; d >= 0; d--) {
        w.coord[d] += 1u;
        w.at += P.stride[d];
        if (w.coord[d] < P.shape[d]) {
            break;
        }
        w.at -= P.shape[d] * P.stride[d];  // u32 wraps and comes back: the sum stays in range
        w.coord[d] = 0u;
    }
    return w;
}

//! nonzero_f32
// On the bits: NaN is nonzero, -0.0 is zero, whatever the compiler assumes about NaN.
fn nonzero(v: TO) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) != 0u; }

//! nonzero_f64
// (f64 bitcasts are refused: NaN through the prelude's is_nan; -0.0 == 0.0 is zero)
fn nonzero(v: TO) -> bool { return is_nan(v) || v != 0.0; }

//! nonzero_other
fn nonzero(v: TO) -> bool { return v != TO(0); }
*/
