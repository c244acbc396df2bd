// Normalisation statistics in one pass: per-channel mean and biased variance of an (N, C, R) input
// (R = the product of the spatial dims), Welford per thread and Chan's merge across the workgroup.
//
// The host (wgtorch/_backends/wgpu/norm.py) keeps one `//@kernel NAME` ... `//@end` section and prepends:
//   TX   storage type of the input (f32 or f16: arithmetic in f32; f64: the f64 kernel, f64 stats)
//   WG   threads per workgroup (a power of two); one workgroup per channel
// Tensors are addressed from their element offsets P.off[binding - 1].

// struct Meta and its binding P come from the family's ParamBlock (_backends/wgpu/norm.py).

//@kernel bn_stats
@group(0) @binding(1) var<storage, read_write> x: array<TX>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;  // (C, 2): mean, biased variance

var<workgroup> sh_n: array<f32, WG>;
var<workgroup> sh_mean: array<f32, WG>;
var<workgroup> sh_m2: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = wid.x + wid.y * nwg.x;
    if (c >= P.channels) {
        return;  // a folded grid's spare workgroups (uniform: the whole workgroup leaves)
    }
    var n = 0.0;
    var mean = 0.0;
    var m2 = 0.0;
    let total = P.batch * P.inner;
    // Values are shifted by the channel's first element: the running mean stays small, so its rounding
    // does not swamp a small spread around a large mean (the host guarantees total > 0).
    let pivot = f32(x[P.off[0] + c * P.inner]);
    for (var idx = lid; idx < total; idx += u32(WG)) {
        let b = idx / P.inner;
        let r = idx % P.inner;
        let v = f32(x[P.off[0] + (b * P.channels + c) * P.inner + r]) - pivot;
        n += 1.0;
        let d = v - mean;
        mean += d / n;
        m2 += d * (v - mean);
    }
    sh_n[lid] = n;
    sh_mean[lid] = mean;
    sh_m2[lid] = m2;
    for (var s = u32(WG) / 2u; s > 0u; s = s >> 1u) {
        workgroupBarrier();
        if (lid < s) {
            let na = sh_n[lid];
            let nb = sh_n[lid + s];
            let nt = na + nb;
            if (nb > 0.0) {  // Chan et al.: merge (na, mean_a, M2_a) with (nb, mean_b, M2_b)
                let d = sh_mean[lid + s] - sh_mean[lid];
                sh_mean[lid] += d * (nb / nt);
                sh_m2[lid] += sh_m2[lid + s] + d * d * (na * nb / nt);
                sh_n[lid] = nt;
            }
        }
    }
    if (lid == 0u) {
        let nt = sh_n[0];
        stats[P.off[1] + 2u * c] = sh_mean[0] + pivot;
        stats[P.off[1] + 2u * c + 1u] = select(sh_m2[0] / nt, nan_f32(), nt == 0.0);
    }
}
//@end
