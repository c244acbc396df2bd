// Sorting and searching: a bitonic sort of (key, index) pairs per row, and a binary search.
//
// sort (wgtorch/_backends/wgpu/sort.py runs the passes):
//   init    each row of n elements becomes P (n rounded up to a power of two) pairs in `pairs`:
//           (key, j) with key an order-preserving u32 of the value (two u32 words for float64:
//           W = 3 words a pair, else 2; NaN largest, -0.0 == 0.0; inverted for a descending sort)
//           and j its position; padding pairs are (all ones, j), and since j >= n they sort after
//           every real pair.
//   local   one workgroup sorts BLOCK consecutive pairs in workgroup memory: every bitonic stage
//           k <= min(P, BLOCK) (P.k == 0), or the steps j < BLOCK of stage P.k (a merge pass).
//   global  one step (k, j >= BLOCK) of a stage, one thread per compared pair, or two steps
//           (j and j / 2 >= BLOCK) with one thread per four pairs.
//   finish  writes the first `count` positions of each sorted row: the index and the value it
//           points at, read again from the input (so -0.0 and NaN payloads come out unchanged).
// The pairs are compared as (key, index): all distinct, so the network's result is the stable
// order whatever the network. Rows are P-aligned runs of the flat pair array and no stage is
// longer than P, so a pass sorts every row at once.
//
// search: one thread per value; a binary search with PyTorch's comparisons (the first position
// whose element is >= v, or > v with `right`), through `sorter` where given.
//
// The host prepends TI (input storage: f64, f32, f16, i32, u32 for bool; i64 for int64 only in search),
// TIO (the storage of int64 indices: i32, or i64 on a device with shader-int64), TC (its compare type),
// KIND (0 float, 1 signed int, 2 unsigned), W (words a pair), KEPT_NDIM, WG, PPT (pairs a thread compares per step),
// BLOCK (= 2 * WG * PPT) and the section's parameter block.

//@f32 begin (the f64 kernels' float_key is the prelude's: f64 bitcasts are refused)
// The order-preserving key of a float (NaN largest, -0.0 == 0.0), in .x (.y is 0: one key word).
fn float_key(x: f32) -> vec2<u32> {
    if (is_nan(x)) {
        return vec2<u32>(0xffffffffu, 0u);
    }
    var b = bitcast<u32>(x);
    if (b == 0x80000000u) {
        b = 0u;  // -0.0 sorts as 0.0 (they compare equal)
    }
    return vec2<u32>(select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u), 0u);
}
//@f32 end

fn to_key(v: TI) -> vec2<u32> {
    if (KIND == 0) {
        return float_key(f32(v));
    } else if (KIND == 1) {
        return vec2<u32>(bitcast<u32>(i32(v)) ^ 0x80000000u, 0u);
    }
    return vec2<u32>(u32(v), 0u);
}

// Whether pair (ka, ia) comes after pair (kb, ib) (keys compared word by word, .x first).
fn after(ka: vec2<u32>, ia: u32, kb: vec2<u32>, ib: u32) -> bool {
    return ka.x > kb.x || (ka.x == kb.x && (ka.y > kb.y || (ka.y == kb.y && ia > ib)));
}

// Pair g of `pairs` is W words from P.pairs_offset + W * g: the key's W - 1 words, then the index.
//@kernel init
@group(0) @binding(1) var<storage, read> src: array<TI>;
@group(0) @binding(2) var<storage, read_write> pairs: array<u32>;

fn kept_in(row: u32) -> u32 {
    var rem = row;
    var off = 0u;
    for (var d = KEPT_NDIM - 1; d >= 0; d--) {
        let n = P.kept_shape[d];
        off += (rem % n) * P.kept_in[d];
        rem = rem / n;
    }
    return off;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = gid.x + gid.y * nwg.x * u32(WG);
    if (t >= P.total) {
        return;
    }
    let row = t / P.P;
    let j = t % P.P;
    var key = vec2<u32>(0xffffffffu);
    if (j < P.n) {
        key = to_key(src[P.in_offset + kept_in(row) + j * P.in_stride]);
        if (P.descending != 0u) {
            key = ~key;
        }
    }
    let at = P.pairs_offset + W * t;
    pairs[at] = key.x;
    if (W == 3u) {
        pairs[at + 1u] = key.y;
    }
    pairs[at + W - 1u] = j;
}
//@end

//@kernel local
@group(0) @binding(1) var<storage, read_write> pairs: array<u32>;

// The key's words in two arrays: a one-word key (W == 2) touches only sk, as before float64 keys.
var<workgroup> sk: array<u32, BLOCK>;
var<workgroup> sk_lo: array<u32, BLOCK>;  // (W == 3: the key's second word)

fn sk_get(i: u32) -> vec2<u32> {
    return vec2<u32>(sk[i], select(0u, sk_lo[i], W == 3u));
}

fn sk_set(i: u32, k: vec2<u32>) {
    sk[i] = k.x;
    if (W == 3u) {
        sk_lo[i] = k.y;
    }
}
var<workgroup> si: array<u32, BLOCK>;

// PPT compare-exchanges per thread: pairs (i, i + j) of this block, in stage k (a step's pairs are
// disjoint, so no barrier is needed between them).
fn step(base: u32, lid: u32, k: u32, j: u32) {
    for (var q = 0u; q < u32(PPT); q++) {
        let t = lid + q * u32(WG);
        let i = (t / j) * 2u * j + (t % j);
        let l = i + j;
        let ascending = (((base + i) & (P.P - 1u)) & k) == 0u;
        let ka = sk_get(i);
        let ia = si[i];
        let kb = sk_get(l);
        let ib = si[l];
        if (after(ka, ia, kb, ib) == ascending) {
            sk_set(i, kb);
            si[i] = ib;
            sk_set(l, ka);
            si[l] = ia;
        }
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid3: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let wid = wid3.x + wid3.y * nwg.x;
    let lid = lid3.x;
    let base = wid * u32(BLOCK);
    if (base >= P.total) {
        return;  // (uniform: the whole workgroup leaves)
    }
    for (var e = lid; e < u32(BLOCK); e += u32(WG)) {
        let g = base + e;
        if (g < P.total) {
            let at = P.pairs_offset + W * g;
            sk_set(e, vec2<u32>(pairs[at], select(0u, pairs[at + 1u], W == 3u)));
            si[e] = pairs[at + W - 1u];
        } else {
            sk_set(e, vec2<u32>(0xffffffffu));
            si[e] = 0xffffffffu;
        }
    }
    workgroupBarrier();
    if (P.k == 0u) {
        let kmax = min(P.P, u32(BLOCK));
        for (var k = 2u; k <= kmax; k <<= 1u) {
            for (var j = k >> 1u; j > 0u; j >>= 1u) {
                step(base, lid, k, j);
                workgroupBarrier();
            }
        }
    } else {
        for (var j = u32(BLOCK) >> 1u; j > 0u; j >>= 1u) {
            step(base, lid, P.k, j);
            workgroupBarrier();
        }
    }
    for (var e = lid; e < u32(BLOCK); e += u32(WG)) {
        let g = base + e;
        if (g < P.total) {
            let at = P.pairs_offset + W * g;
            pairs[at] = sk[e];
            if (W == 3u) {
                pairs[at + 1u] = sk_lo[e];
            }
            pairs[at + W - 1u] = si[e];
        }
    }
}
//@end

//@kernel global
@group(0) @binding(1) var<storage, read_write> pairs: array<u32>;

fn key_at(a: u32) -> vec2<u32> {
    return vec2<u32>(pairs[a], select(0u, pairs[a + 1u], W == 3u));
}

fn put(a: u32, k: vec2<u32>, i: u32) {
    pairs[a] = k.x;
    if (W == 3u) {
        pairs[a + 1u] = k.y;
    }
    pairs[a + W - 1u] = i;
}

fn exchange(a: u32, b: u32, ascending: bool) {
    let ka = key_at(a);
    let ia = pairs[a + W - 1u];
    let kb = key_at(b);
    let ib = pairs[b + W - 1u];
    if (after(ka, ia, kb, ib) == ascending) {
        put(a, kb, ib);
        put(b, ka, ia);
    }
}

// One step (distance j) or, with P.fused, two (j, then j / 2): the four pairs i + {0, h, 2h, 3h}
// (h = j / 2) meet only each other in both steps, so one thread does both; half the passes.
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = gid.x + gid.y * nwg.x * u32(WG);
    let j = P.j;
    let ascending_of = P.k;
    if (P.fused == 0u) {
        if (t >= P.total / 2u) {
            return;
        }
        let i = (t / j) * 2u * j + (t % j);
        let ascending = ((i & (P.P - 1u)) & ascending_of) == 0u;
        exchange(P.pairs_offset + W * i, P.pairs_offset + W * (i + j), ascending);
        return;
    }
    if (t >= P.total / 4u) {
        return;
    }
    let h = j / 2u;
    let i = (t / h) * 4u * h + (t % h);
    let ascending = ((i & (P.P - 1u)) & ascending_of) == 0u;
    let e0 = P.pairs_offset + W * i;
    let e1 = e0 + W * h;
    let e2 = e0 + W * j;
    let e3 = e2 + W * h;
    exchange(e0, e2, ascending);
    exchange(e1, e3, ascending);
    exchange(e0, e1, ascending);
    exchange(e2, e3, ascending);
}
//@end

//@kernel finish
@group(0) @binding(1) var<storage, read> src: array<TI>;
@group(0) @binding(2) var<storage, read> pairs: array<u32>;
@group(0) @binding(3) var<storage, read_write> values: array<TI>;
@group(0) @binding(4) var<storage, read_write> indices: array<TIO>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = gid.x + gid.y * nwg.x * u32(WG);
    if (t >= P.total) {  // here: rows * count outputs
        return;
    }
    let row = t / P.count;
    let j = t % P.count;
    var rem = row;
    var at_in = P.in_offset;
    var at_out = 0u;
    for (var d = KEPT_NDIM - 1; d >= 0; d--) {
        let n = P.kept_shape[d];
        at_in += (rem % n) * P.kept_in[d];
        at_out += (rem % n) * P.kept_out[d];
        rem = rem / n;
    }
    // (an index is always < n; min() only keeps a corrupt one inside the row)
    let idx = min(pairs[P.pairs_offset + W * (row * P.P + j) + W - 1u], P.n - 1u);
    at_out += j * P.out_stride;
    values[P.out_offset + at_out] = src[at_in + idx * P.in_stride];
    indices[P.idx_offset + at_out] = TIO(idx);
}
//@end

//@kernel search
@group(0) @binding(1) var<storage, read> seq: array<TI>;
@group(0) @binding(2) var<storage, read> vals: array<TI>;
@group(0) @binding(3) var<storage, read> sorter: array<TIO>;
@group(0) @binding(4) var<storage, read_write> out: array<TIO>;

// mid >= v (mid > v with `right`), false where either is NaN, as PyTorch's !(a >= b) tests read.
fn beyond(mid: TC, v: TC) -> bool {
    if (KIND == 0) {
        if (is_nan(f32(mid)) || is_nan(f32(v))) {
            return false;
        }
    }
    if (P.right != 0u) {
        return mid > v;
    }
    return mid >= v;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = gid.x + gid.y * nwg.x * u32(WG);
    if (t >= P.numel) {
        return;
    }
    let row = select(t / P.per_row, 0u, P.shared_seq != 0u);
    let base = row * P.m;
    let v = TC(vals[P.vals_offset + t]);
    var lo = 0u;
    var hi = P.m;
    for (var it = 0u; it < 33u && lo < hi; it++) {
        let mid = (lo + hi) >> 1u;
        var at = mid;
        if (P.has_sorter != 0u) {
            // (the host checked the sorter's range; the clamp keeps a bad one inside the row)
            at = u32(clamp(sorter[P.sorter_offset + base + mid], TIO(0), TIO(P.m - 1u)));
        }
        if (beyond(TC(seq[P.seq_offset + base + at]), v)) {
            hi = mid;
        } else {
            lo = mid + 1u;
        }
    }
    out[P.out_offset + t] = TIO(lo);
}
//@end
