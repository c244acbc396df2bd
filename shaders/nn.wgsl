// Fused nn kernels: cross-entropy / NLL (forward and backward) and layer norm (forward, backward
// of the input, backward of weight and bias).
//
// The host (wgtorch/backends/wgpu/nn.py) keeps the shared part of this file and ONE of the
// `//@kernel NAME` ... `//@end` sections (each defines its own bindings and `main`), and prepends:
//   TX           storage type of the float tensors (f32 or f16: arithmetic in f32; f64: the f64 kernel)
//   TT           storage type of the class targets (i32, or i64 for int64 on a device with shader-int64)
//   WG           workgroup size
//   TPR          threads per row (a power of two <= WG) for the row kernels: each row's elements
//                are strided over TPR lanes and the partial results combined in workgroup memory
//   LOG_SOFTMAX  cross-entropy (true) or NLL on log-probabilities (false)
//   SMOOTH       label smoothing is on (needs the weighted sum of the row)
//   HAS_WEIGHT, HAS_BIAS, PER_ROW   optional inputs / a per-row upstream gradient
// Buffers bound in place of a missing optional input are never read. Every tensor, inputs and
// outputs alike, is addressed from its element offset P.off[binding - 1].

// struct Meta and its binding P come from the family's ParamBlock (backends/wgpu/*.py).


const RPG: u32 = u32(WG) / u32(TPR);  // rows per workgroup

var<workgroup> sh_a: array<f32, WG>;
var<workgroup> sh_b: array<f32, WG>;


// Where a row kernel's thread works: its row, its lane within the row's TPR threads.
struct RowId {
    row: u32,
    lane: u32,
    local: u32,
    valid: bool,
}

fn row_id(lid: u32, wid: vec3<u32>, nwg: vec3<u32>) -> RowId {
    let group = wid.x + wid.y * nwg.x;
    let row = group * RPG + lid / u32(TPR);
    return RowId(row, lid % u32(TPR), lid, row < P.rows);
}

fn element_id(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * u32(WG);
}

// Sum of v over the TPR lanes of a row; every thread of the workgroup must call it (barriers).
fn seg_sum2(id: RowId, v: vec2<f32>) -> vec2<f32> {
    if (TPR == 1) {
        return v;
    }
    sh_a[id.local] = v.x;
    sh_b[id.local] = v.y;
    for (var s = u32(TPR) / 2u; s > 0u; s = s >> 1u) {
        workgroupBarrier();
        if (id.lane < s) {
            sh_a[id.local] += sh_a[id.local + s];
            sh_b[id.local] += sh_b[id.local + s];
        }
    }
    workgroupBarrier();
    let first = id.local - id.lane;
    let total = vec2<f32>(sh_a[first], sh_b[first]);
    workgroupBarrier();  // the next reduction reuses sh_a / sh_b
    return total;
}

// Running (max m, sum s of exp(x - m)) of two parts merged. Equal maxima (also +inf, +inf)
// add without exp(inf - inf); an empty part (s == 0) contributes nothing.
fn lse_merge(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    if (a.x == b.x) {
        return vec2<f32>(a.x, a.y + b.y);
    }
    let m = max(a.x, b.x);
    let sa = select(a.y * exp(a.x - m), 0.0, a.y == 0.0);
    let sb = select(b.y * exp(b.x - m), 0.0, b.y == 0.0);
    return vec2<f32>(m, sa + sb);
}

fn seg_lse(id: RowId, v: vec2<f32>) -> vec2<f32> {
    if (TPR == 1) {
        return v;
    }
    sh_a[id.local] = v.x;
    sh_b[id.local] = v.y;
    for (var s = u32(TPR) / 2u; s > 0u; s = s >> 1u) {
        workgroupBarrier();
        if (id.lane < s) {
            let r = lse_merge(vec2<f32>(sh_a[id.local], sh_b[id.local]),
                              vec2<f32>(sh_a[id.local + s], sh_b[id.local + s]));
            sh_a[id.local] = r.x;
            sh_b[id.local] = r.y;
        }
    }
    workgroupBarrier();
    let first = id.local - id.lane;
    let total = vec2<f32>(sh_a[first], sh_b[first]);
    workgroupBarrier();
    return total;
}

//@kernel ce_forward
@group(0) @binding(1) var<storage, read> x: array<TX>;
@group(0) @binding(2) var<storage, read> tgt: array<TT>;
@group(0) @binding(3) var<storage, read> weight: array<TX>;
@group(0) @binding(4) var<storage, read_write> loss: array<TX>;
@group(0) @binding(5) var<storage, read_write> wt_out: array<TX>;
@group(0) @binding(6) var<storage, read_write> stats: array<f32>;
@group(0) @binding(7) var<storage, read_write> err: array<atomic<u32>, 4>;

fn class_weight(c: u32) -> f32 {
    if (HAS_WEIGHT) {
        return f32(weight[P.off[2] + c]);
    }
    return 1.0;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = row_id(lid, wid, nwg);
    let C = P.cols;
    let inner = P.inner;
    let r = min(id.row, max(P.rows, 1u) - 1u);  // invalid rows compute on a real row, store nothing
    let base = P.off[0] + (r / inner) * C * inner + r % inner;

    var part = vec2<f32>(neg_inf(), 0.0);  // online logsumexp: (max, sum of exp(x - max))
    var wsum = vec2<f32>(0.0, 0.0);        // (sum of w * x, sum of w) for label smoothing
    if (id.valid) {
        for (var c = id.lane; c < C; c += u32(TPR)) {
            let v = f32(x[base + c * inner]);
            if (LOG_SOFTMAX) {
                if (v > part.x) {
                    part = vec2<f32>(v, part.y * exp(part.x - v) + 1.0);
                } else if (v == part.x) {
                    part.y += 1.0;
                } else if (!is_neg_inf(v)) {
                    part.y += exp(v - part.x);
                }
            }
            if (SMOOTH) {
                let w = class_weight(c);
                wsum += vec2<f32>(w * v, w);
            }
        }
    }
    var lse = 0.0;
    if (LOG_SOFTMAX) {
        let total = seg_lse(id, part);
        lse = total.x + log(total.y);
    }
    if (SMOOTH) {
        wsum = seg_sum2(id, wsum);
    }
    if (!id.valid || id.lane != 0u) {
        return;
    }
    let t = i32(clamp(tgt[P.off[1] + r], TT(-2147483648), TT(2147483647)));  // (beyond i32: out of range)
    let eps = P.smoothing;
    var l = 0.0;
    var wt = 0.0;
    var coef = 0.0;
    if (t == P.ignore_index) {
        // ignored: contributes nothing, not even to the mean's denominator
    } else if (t < 0 || u32(t) >= C) {
        // Out-of-range target: never used as an address; reported (the host raises at its next
        // read or synchronize) and the loss poisoned meanwhile.
        loop {  // the weak exchange may fail spuriously: retry until some report holds word 0
            let first = atomicCompareExchangeWeak(&err[0], 0u, P.err_code);
            if (first.exchanged) {
                atomicStore(&err[1], bitcast<u32>(t));
                atomicStore(&err[2], C);
                atomicStore(&err[3], r);
            }
            if (first.exchanged || first.old_value != 0u) {
                break;
            }
        }
        l = nan_f32();
        wt = nan_f32();
        coef = nan_f32();
    } else {
        wt = class_weight(u32(t));
        let xt = f32(x[base + u32(t) * inner]);
        if (LOG_SOFTMAX) {
            l = (1.0 - eps) * wt * (lse - xt);
            coef = (1.0 - eps) * wt;
            if (SMOOTH) {
                l += eps / f32(C) * (wsum.y * lse - wsum.x);
                coef += eps / f32(C) * wsum.y;
            }
        } else {
            l = -wt * xt;
        }
    }
    loss[P.off[3] + r] = TX(l);
    wt_out[P.off[4] + r] = TX(wt);
    stats[P.off[5] + 2u * r] = lse;
    stats[P.off[5] + 2u * r + 1u] = coef;
}
//@end

//@kernel ce_backward
@group(0) @binding(1) var<storage, read> x: array<TX>;
@group(0) @binding(2) var<storage, read> tgt: array<TT>;
@group(0) @binding(3) var<storage, read> weight: array<TX>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<storage, read> grad: array<TX>;
@group(0) @binding(6) var<storage, read_write> gx: array<TX>;

fn class_weight(c: u32) -> f32 {
    if (HAS_WEIGHT) {
        return f32(weight[P.off[2] + c]);
    }
    return 1.0;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = element_id(gid, nwg);
    if (e >= P.numel) {
        return;
    }
    let C = P.cols;
    let inner = P.inner;
    let n = e / (C * inner);
    let c = (e / inner) % C;
    let r = n * inner + e % inner;
    let t = i32(clamp(tgt[P.off[1] + r], TT(-2147483648), TT(2147483647)));  // (beyond i32: out of range)
    var out = 0.0;
    if (t == P.ignore_index) {
        out = 0.0;
    } else if (t < 0 || u32(t) >= C) {
        out = nan_f32();
    } else {
        var g = f32(grad[P.off[4]]);
        if (PER_ROW) {
            g = f32(grad[P.off[4] + r]);
        }
        let wt = class_weight(u32(t));
        let hit = select(f32(0.0), 1.0, u32(t) == c);
        if (LOG_SOFTMAX) {
            let eps = P.smoothing;
            let p = exp(f32(x[P.off[0] + e]) - stats[P.off[3] + 2u * r]);
            out = g * (p * stats[P.off[3] + 2u * r + 1u] - (1.0 - eps) * wt * hit - eps / f32(C) * class_weight(c));
        } else {
            out = -g * wt * hit;
        }
    }
    gx[P.off[5] + e] = TX(out);
}
//@end

//@kernel ln_forward
@group(0) @binding(1) var<storage, read> x: array<TX>;
@group(0) @binding(2) var<storage, read> weight: array<TX>;
@group(0) @binding(3) var<storage, read> bias: array<TX>;
@group(0) @binding(4) var<storage, read_write> y: array<TX>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = row_id(lid, wid, nwg);
    let D = P.cols;
    let r = min(id.row, max(P.rows, 1u) - 1u);
    let base = r * D;
    // Two passes (mean, then squared deviations) instead of E[x^2] - E[x]^2: no cancellation.
    var s = 0.0;
    if (id.valid) {
        for (var j = id.lane; j < D; j += u32(TPR)) {
            s += f32(x[P.off[0] + base + j]);
        }
    }
    let mean = seg_sum2(id, vec2<f32>(s, 0.0)).x / f32(D);
    var q = 0.0;
    if (id.valid) {
        for (var j = id.lane; j < D; j += u32(TPR)) {
            let d = f32(x[P.off[0] + base + j]) - mean;
            q += d * d;
        }
    }
    let rstd = inverseSqrt(seg_sum2(id, vec2<f32>(q, 0.0)).x / f32(D) + P.eps);
    if (!id.valid) {
        return;
    }
    for (var j = id.lane; j < D; j += u32(TPR)) {
        var v = (f32(x[P.off[0] + base + j]) - mean) * rstd;
        if (HAS_WEIGHT) {
            v *= f32(weight[P.off[1] + j]);
        }
        if (HAS_BIAS) {
            v += f32(bias[P.off[2] + j]);
        }
        y[P.off[3] + base + j] = TX(v);
    }
    if (id.lane == 0u) {
        stats[P.off[4] + 2u * r] = mean;
        stats[P.off[4] + 2u * r + 1u] = rstd;
    }
}
//@end

//@kernel ln_backward
@group(0) @binding(1) var<storage, read> g: array<TX>;
@group(0) @binding(2) var<storage, read> x: array<TX>;
@group(0) @binding(3) var<storage, read> weight: array<TX>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> gx: array<TX>;

fn scaled_grad(j: u32, base: u32) -> f32 {
    var v = f32(g[P.off[0] + base + j]);
    if (HAS_WEIGHT) {
        v *= f32(weight[P.off[2] + j]);
    }
    return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = row_id(lid, wid, nwg);
    let D = P.cols;
    let r = min(id.row, max(P.rows, 1u) - 1u);
    let base = r * D;
    let mean = stats[P.off[3] + 2u * r];
    let rstd = stats[P.off[3] + 2u * r + 1u];
    // gx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)), gw = g * weight.
    var acc = vec2<f32>(0.0, 0.0);
    if (id.valid) {
        for (var j = id.lane; j < D; j += u32(TPR)) {
            let gw = scaled_grad(j, base);
            let xhat = (f32(x[P.off[1] + base + j]) - mean) * rstd;
            acc += vec2<f32>(gw, gw * xhat);
        }
    }
    let sums = seg_sum2(id, acc) / f32(D);
    if (!id.valid) {
        return;
    }
    for (var j = id.lane; j < D; j += u32(TPR)) {
        let xhat = (f32(x[P.off[1] + base + j]) - mean) * rstd;
        gx[P.off[4] + base + j] = TX(rstd * (scaled_grad(j, base) - sums.x - xhat * sums.y));
    }
}
//@end

//@kernel ln_affine_backward
@group(0) @binding(1) var<storage, read> g: array<TX>;
@group(0) @binding(2) var<storage, read> x: array<TX>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(5) var<storage, read_write> dbias: array<f32>;

// Partial sums over chunks of P.inner rows, one thread per (chunk, position j): dweight[c, j] =
// sum(g * xhat), dbias[c, j] = sum(g) over chunk c's rows. The host sums the chunks (a reduce),
// so no thread loops over all rows, however many there are.
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = element_id(gid, nwg);
    let D = P.cols;
    let chunk = t / D;
    let j = t % D;
    let first = chunk * P.inner;
    if (first >= P.rows) {
        return;
    }
    let last = min(P.rows, first + P.inner);
    var dw = 0.0;
    var db = 0.0;
    for (var r = first; r < last; r++) {
        let gv = f32(g[P.off[0] + r * D + j]);
        let st = P.off[2] + 2u * r;
        let xhat = (f32(x[P.off[1] + r * D + j]) - stats[st]) * stats[st + 1u];
        dw += gv * xhat;
        db += gv;
    }
    dweight[P.off[3] + t] = dw;
    dbias[P.off[4] + t] = db;
}
//@end
