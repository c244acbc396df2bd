// Fused scaled-dot-product attention (flash-attention style): forward, and the backward's two
// kernels (dK/dV over key rows, dQ over query rows). The (L, S) score matrix is never stored:
// scores are recomputed block by block from q, k and the forward's per-row logsumexp.
//
// The host (wgtorch/_backends/wgpu/attention.py) keeps one `//@kernel NAME` ... `//@end` section
// and prepends:
//   TX       storage type of q, k, v, the output and the gradients (f32, f16 or f64); arithmetic is f32
//            (f64 for f64: the host's f64 mode writes every f32 of this file, the mask, lse and delta too, as f64)
//   E, EV    head dims of q/k and of v (compiled in: private rows are arrays of that length)
//   WG       threads per workgroup; each thread owns one row (a query row, or a key row in dkv)
//   BT       rows of the other operand staged in workgroup memory per step
//   CAUSAL   key j is kept for query i only when j <= i (top-left aligned)
//   HAS_MASK an additive f32 mask (Zm, L, S), dense; P.mz is 1 (one per batch) or 0 (shared)
// Layouts are dense: q, dO, out (Z, L, E|EV); k, v (Zk, S, E|EV); lse, delta (Z, L) f32, with
// Z = B * HQ query batches and Zk = B * HK key batches (query head h reads key head h / REP).
// Every tensor is addressed from its element offset P.off[binding - 1]. Threads without a row
// still take part in the staging loads and barriers.

// struct Meta and its binding P come from the family's ParamBlock (_backends/wgpu/attention.py).

const UE: u32 = u32(E);
const UEV: u32 = u32(EV);
const UWG: u32 = u32(WG);
const UBT: u32 = u32(BT);

const E4: i32 = (E + 3) / 4;  // head dims in vec4s (the last one zero-padded)
const EV4: i32 = (EV + 3) / 4;
const UE4: u32 = u32(E4);
const UEV4: u32 = u32(EV4);

// Four elements of a row from element e (those at or past n read as 0). Every section binds q, k and v.
fn ld_q(base: u32, e: u32, n: u32) -> vec4<f32> {
    var r = vec4<f32>(0.0);
    for (var c = 0u; c < 4u; c++) {
        if (e + c < n) {
            r[c] = f32(q[base + e + c]);
        }
    }
    return r;
}

fn ld_k(base: u32, e: u32, n: u32) -> vec4<f32> {
    var r = vec4<f32>(0.0);
    for (var c = 0u; c < 4u; c++) {
        if (e + c < n) {
            r[c] = f32(k[base + e + c]);
        }
    }
    return r;
}

fn ld_v(base: u32, e: u32, n: u32) -> vec4<f32> {
    var r = vec4<f32>(0.0);
    for (var c = 0u; c < 4u; c++) {
        if (e + c < n) {
            r[c] = f32(v[base + e + c]);
        }
    }
    return r;
}

fn kv_batch(z: u32) -> u32 {
    return (z / P.hq) * P.hk + (z % P.hq) / P.rep;
}

// The score's additive terms for (query i, key j) of query batch z: -inf where causality drops it.
fn bias(z: u32, i: u32, j: u32) -> f32 {
    var b = 0.0;
    if (CAUSAL && j > i) {
        b = neg_inf();
    }
    if (HAS_MASK) {
        b += mask[P.off[3] + (z * P.mz * P.L + i) * P.S + j];
    }
    return b;
}

// Tile row t of tile_e (E wide) / tile_ev (EV wide), the other operand staged in workgroup memory
// (every section names its two tiles so), dotted with the thread's own row.
fn dot_e(own: ptr<function, array<vec4<f32>, E4>>, t: u32) -> f32 {
    var d = 0.0;
    for (var e = 0u; e < UE4; e++) {
        d += dot((*own)[e], tile_e[t * UE4 + e]);
    }
    return d;
}

fn dot_ev(own: ptr<function, array<vec4<f32>, EV4>>, t: u32) -> f32 {
    var d = 0.0;
    for (var e = 0u; e < UEV4; e++) {
        d += dot((*own)[e], tile_ev[t * UEV4 + e]);
    }
    return d;
}

// The backward's terms for (query i of batch z, key j), recomputed from the forward's logsumexp li:
// (p, dp) with p = exp(score - li) and dp = dO_i . v_j. The own rows are q and dO in attn_dq (tiles: k
// and v), k and v in attn_dkv (tiles: q and dO); both products are symmetric, so one function serves.
fn p_dp(own_e: ptr<function, array<vec4<f32>, E4>>, own_ev: ptr<function, array<vec4<f32>, EV4>>, t: u32,
        z: u32, i: u32, j: u32, li: f32) -> vec2<f32> {
    return vec2<f32>(exp(dot_e(own_e, t) * P.scale + bias(z, i, j) - li), dot_ev(own_ev, t));
}

//@kernel attn_forward
@group(0) @binding(1) var<storage, read_write> q: array<TX>;
@group(0) @binding(2) var<storage, read_write> k: array<TX>;
@group(0) @binding(3) var<storage, read_write> v: array<TX>;
@group(0) @binding(4) var<storage, read_write> mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<TX>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;

var<workgroup> tile_e: array<vec4<f32>, BT * E4>;  // k rows
var<workgroup> tile_ev: array<vec4<f32>, BT * EV4>;  // v rows

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let group = wid.x + wid.y * nwg.x;
    let z = group / P.gpz;
    if (z >= P.z) {
        return;  // a folded grid's spare workgroups (uniform: the whole workgroup leaves)
    }
    let row0 = (group % P.gpz) * UWG;
    let i = row0 + lid;
    let row_ok = i < P.L;
    let zk = kv_batch(z);
    var qr: array<vec4<f32>, E4>;
    var acc: array<vec4<f32>, EV4>;
    for (var e = 0u; e < UE4; e++) {
        qr[e] = vec4<f32>(0.0);
        if (row_ok) {
            qr[e] = ld_q(P.off[0] + (z * P.L + i) * UE, 4u * e, UE);
        }
    }
    for (var e = 0u; e < UEV4; e++) {
        acc[e] = vec4<f32>(0.0);
    }
    var m = neg_inf();
    var l = 0.0;
    var kend = P.S;
    if (CAUSAL) {
        kend = min(P.S, row0 + UWG);  // keys past the block's last row are dropped for all its rows
    }
    for (var j0 = 0u; j0 < kend; j0 += UBT) {
        workgroupBarrier();  // the previous step's reads are done
        for (var t = lid; t < UBT * UE4; t += UWG) {
            let j = j0 + t / UE4;
            tile_e[t] = vec4<f32>(0.0);
            if (j < P.S) {
                tile_e[t] = ld_k(P.off[1] + (zk * P.S + j) * UE, 4u * (t % UE4), UE);
            }
        }
        for (var t = lid; t < UBT * UEV4; t += UWG) {
            let j = j0 + t / UEV4;
            tile_ev[t] = vec4<f32>(0.0);
            if (j < P.S) {
                tile_ev[t] = ld_v(P.off[2] + (zk * P.S + j) * UEV, 4u * (t % UEV4), UEV);
            }
        }
        workgroupBarrier();
        if (row_ok) {
            var sc: array<f32, BT>;
            var bm = neg_inf();
            for (var jj = 0u; jj < UBT; jj++) {
                let j = j0 + jj;
                var s = neg_inf();
                if (j < P.S) {
                    s = dot_e(&qr, jj) * P.scale + bias(z, i, j);
                }
                sc[jj] = s;
                bm = max_nan(bm, s);
            }
            if (!is_neg_inf(bm)) {  // a block with no key left changes nothing
                let mn = max_nan(m, bm);
                let corr = exp(m - mn);  // 0 while nothing was kept yet (m = -inf)
                l *= corr;
                for (var e = 0u; e < UEV4; e++) {
                    acc[e] *= corr;
                }
                for (var jj = 0u; jj < UBT; jj++) {
                    let p = exp(sc[jj] - mn);
                    l += p;
                    for (var e = 0u; e < UEV4; e++) {
                        acc[e] += p * tile_ev[jj * UEV4 + e];
                    }
                }
                m = mn;
            }
        }
    }
    if (row_ok) {
        // A row with every key masked out gives zeros and lse -inf (the backward skips it).
        let dead = l == 0.0;
        let inv = select(1.0 / l, 0.0, dead);
        let base = P.off[4] + (z * P.L + i) * UEV;
        for (var e = 0u; e < UEV; e++) {
            out[base + e] = TX(acc[e / 4u][e % 4u] * inv);
        }
        lse[P.off[5] + z * P.L + i] = select(m + log(l), neg_inf(), dead);
    }
}
//@end

//@kernel attn_dq
@group(0) @binding(1) var<storage, read_write> q: array<TX>;
@group(0) @binding(2) var<storage, read_write> k: array<TX>;
@group(0) @binding(3) var<storage, read_write> v: array<TX>;
@group(0) @binding(4) var<storage, read_write> mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> dout: array<TX>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
@group(0) @binding(7) var<storage, read_write> delta: array<f32>;
@group(0) @binding(8) var<storage, read_write> dq: array<TX>;

var<workgroup> tile_e: array<vec4<f32>, BT * E4>;  // k rows
var<workgroup> tile_ev: array<vec4<f32>, BT * EV4>;  // v rows

fn ld_g(base: u32, e: u32, n: u32) -> vec4<f32> {
    var r = vec4<f32>(0.0);
    for (var c = 0u; c < 4u; c++) {
        if (e + c < n) {
            r[c] = f32(dout[base + e + c]);
        }
    }
    return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let group = wid.x + wid.y * nwg.x;
    let z = group / P.gpz;
    if (z >= P.z) {
        return;
    }
    let row0 = (group % P.gpz) * UWG;
    let i = row0 + lid;
    let row_ok = i < P.L;
    let zk = kv_batch(z);
    var qr: array<vec4<f32>, E4>;
    var gr: array<vec4<f32>, EV4>;
    var acc: array<vec4<f32>, E4>;
    var li = neg_inf();
    var di = 0.0;
    for (var e = 0u; e < UE4; e++) {
        qr[e] = vec4<f32>(0.0);
        acc[e] = vec4<f32>(0.0);
    }
    for (var e = 0u; e < UEV4; e++) {
        gr[e] = vec4<f32>(0.0);
    }
    if (row_ok) {
        for (var e = 0u; e < UE4; e++) {
            qr[e] = ld_q(P.off[0] + (z * P.L + i) * UE, 4u * e, UE);
        }
        for (var e = 0u; e < UEV4; e++) {
            gr[e] = ld_g(P.off[4] + (z * P.L + i) * UEV, 4u * e, UEV);
        }
        li = lse[P.off[5] + z * P.L + i];
        di = delta[P.off[6] + z * P.L + i];
    }
    var kend = P.S;
    if (CAUSAL) {
        kend = min(P.S, row0 + UWG);
    }
    for (var j0 = 0u; j0 < kend; j0 += UBT) {
        workgroupBarrier();
        for (var t = lid; t < UBT * UE4; t += UWG) {
            let j = j0 + t / UE4;
            tile_e[t] = vec4<f32>(0.0);
            if (j < P.S) {
                tile_e[t] = ld_k(P.off[1] + (zk * P.S + j) * UE, 4u * (t % UE4), UE);
            }
        }
        for (var t = lid; t < UBT * UEV4; t += UWG) {
            let j = j0 + t / UEV4;
            tile_ev[t] = vec4<f32>(0.0);
            if (j < P.S) {
                tile_ev[t] = ld_v(P.off[2] + (zk * P.S + j) * UEV, 4u * (t % UEV4), UEV);
            }
        }
        workgroupBarrier();
        if (row_ok && !is_neg_inf(li)) {
            for (var jj = 0u; jj < UBT; jj++) {
                let j = j0 + jj;
                if (j >= P.S) {
                    break;
                }
                let pd = p_dp(&qr, &gr, jj, z, i, j, li);
                let ds = pd.x * (pd.y - di);
                for (var e = 0u; e < UE4; e++) {
                    acc[e] += ds * tile_e[jj * UE4 + e];
                }
            }
        }
    }
    if (row_ok) {
        let base = P.off[7] + (z * P.L + i) * UE;
        for (var e = 0u; e < UE; e++) {
            dq[base + e] = TX(acc[e / 4u][e % 4u] * P.scale);
        }
    }
}
//@end

//@kernel attn_dkv
@group(0) @binding(1) var<storage, read_write> q: array<TX>;
@group(0) @binding(2) var<storage, read_write> k: array<TX>;
@group(0) @binding(3) var<storage, read_write> v: array<TX>;
@group(0) @binding(4) var<storage, read_write> mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> dout: array<TX>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
@group(0) @binding(7) var<storage, read_write> delta: array<f32>;
@group(0) @binding(8) var<storage, read_write> dk: array<TX>;
@group(0) @binding(9) var<storage, read_write> dv: array<TX>;

var<workgroup> tile_e: array<vec4<f32>, BT * E4>;  // q rows
var<workgroup> tile_ev: array<vec4<f32>, BT * EV4>;  // dO rows
var<workgroup> tl: array<f32, BT>;
var<workgroup> td: array<f32, BT>;

fn ld_g(base: u32, e: u32, n: u32) -> vec4<f32> {
    var r = vec4<f32>(0.0);
    for (var c = 0u; c < 4u; c++) {
        if (e + c < n) {
            r[c] = f32(dout[base + e + c]);
        }
    }
    return r;
}

// Here P.z counts key batches (B * HK) and P.gpz the workgroups of one key batch; each thread owns
// key row j and sums over the REP query heads reading it and all their query rows.
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let group = wid.x + wid.y * nwg.x;
    let zk = group / P.gpz;
    if (zk >= P.z) {
        return;
    }
    let key0 = (group % P.gpz) * UWG;
    let j = key0 + lid;
    let key_ok = j < P.S;
    var kr: array<vec4<f32>, E4>;
    var vr: array<vec4<f32>, EV4>;
    var gk: array<vec4<f32>, E4>;
    var gv: array<vec4<f32>, EV4>;
    for (var e = 0u; e < UE4; e++) {
        kr[e] = vec4<f32>(0.0);
        gk[e] = vec4<f32>(0.0);
    }
    for (var e = 0u; e < UEV4; e++) {
        vr[e] = vec4<f32>(0.0);
        gv[e] = vec4<f32>(0.0);
    }
    if (key_ok) {
        for (var e = 0u; e < UE4; e++) {
            kr[e] = ld_k(P.off[1] + (zk * P.S + j) * UE, 4u * e, UE);
        }
        for (var e = 0u; e < UEV4; e++) {
            vr[e] = ld_v(P.off[2] + (zk * P.S + j) * UEV, 4u * e, UEV);
        }
    }
    var istart = 0u;
    if (CAUSAL) {
        istart = (key0 / UBT) * UBT;  // queries before the block's first key keep none of its keys
    }
    let b = zk / P.hk;
    let h = zk % P.hk;
    for (var r = 0u; r < P.rep; r++) {
        let z = b * P.hq + h * P.rep + r;
        for (var i0 = istart; i0 < P.L; i0 += UBT) {
            workgroupBarrier();
            for (var t = lid; t < UBT * UE4; t += UWG) {
                let i = i0 + t / UE4;
                tile_e[t] = vec4<f32>(0.0);
                if (i < P.L) {
                    tile_e[t] = ld_q(P.off[0] + (z * P.L + i) * UE, 4u * (t % UE4), UE);
                }
            }
            for (var t = lid; t < UBT * UEV4; t += UWG) {
                let i = i0 + t / UEV4;
                tile_ev[t] = vec4<f32>(0.0);
                if (i < P.L) {
                    tile_ev[t] = ld_g(P.off[4] + (z * P.L + i) * UEV, 4u * (t % UEV4), UEV);
                }
            }
            for (var t = lid; t < UBT; t += UWG) {
                let i = i0 + t;
                tl[t] = neg_inf();
                td[t] = 0.0;
                if (i < P.L) {
                    tl[t] = lse[P.off[5] + z * P.L + i];
                    td[t] = delta[P.off[6] + z * P.L + i];
                }
            }
            workgroupBarrier();
            if (key_ok) {
                for (var ii = 0u; ii < UBT; ii++) {
                    let i = i0 + ii;
                    let li = tl[ii];
                    if (i >= P.L) {
                        break;
                    }
                    if (is_neg_inf(li)) {
                        continue;  // a row with no key kept (its output is 0, so are its gradients)
                    }
                    let pd = p_dp(&kr, &vr, ii, z, i, j, li);
                    for (var e = 0u; e < UEV4; e++) {
                        gv[e] += pd.x * tile_ev[ii * UEV4 + e];
                    }
                    let ds = pd.x * (pd.y - td[ii]);
                    for (var e = 0u; e < UE4; e++) {
                        gk[e] += ds * tile_e[ii * UE4 + e];
                    }
                }
            }
        }
    }
    if (key_ok) {
        let kb = P.off[7] + (zk * P.S + j) * UE;
        for (var e = 0u; e < UE; e++) {
            dk[kb + e] = TX(gk[e / 4u][e % 4u] * P.scale);
        }
        let vb = P.off[8] + (zk * P.S + j) * UEV;
        for (var e = 0u; e < UEV; e++) {
            dv[vb + e] = TX(gv[e / 4u][e % 4u]);
        }
    }
}
//@end
