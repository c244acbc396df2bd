// Multi-tensor (foreach) optimizer updates: one dispatch updates up to MAX_T tensors of a group.
//
// The host (wgtorch/_backends/wgpu/optim_multi.py) prepends KIND (0 SGD, 1 Adam/AdamW), WG, the
// parameter block P and fills BUFFERS with the storage bindings B0..B{K-1} (the distinct buffers
// the chunk's tensors live in: tensors share pages, so a few bindings cover many tensors) and the
// ld/st functions that switch over them. Every tensor is float32 and dense.
//
// P.e[2t] = (last workgroup + 1 of tensor t, numel, binding indices, param offset),
// P.e[2t + 1] = (grad offset, state 0/1/2 offsets); binding indices pack 4 bits each:
// param, grad, s0, s1, s2. Workgroups are laid out tensor after tensor; each finds its tensor.
//
// SGD  s: lr, momentum, 1 - dampening, weight_decay; s0 = momentum buffer (HAS_BUF).
// Adam s: lr, 1 - beta1, beta2, 1 - beta2, eps, weight_decay, then either (host steps)
//      lr / (1 - beta1^t), sqrt(1 - beta2^t), 1 - lr * weight_decay, or (CAPTURABLE: the step
//      count t of tensor j is B[step_b][step_at + j], on the device) ln(beta1), ln(beta2),
//      1 - lr * weight_decay; s0 = exp_avg, s1 = exp_avg_sq, s2 = max_exp_avg_sq (AMSGRAD).
// INC_STEP: this dispatch only adds 1 to the chunk's step counts (one workgroup), before the update.

const MAXIMIZE: u32 = 1u;
const NESTEROV: u32 = 2u;
const FIRST_STEP: u32 = 4u;
const DECOUPLED: u32 = 8u;
const HAS_BUF: u32 = 16u;
const AMSGRAD: u32 = 32u;
const CAPTURABLE: u32 = 64u;
const INC_STEP: u32 = 128u;

{{BUFFERS}}

fn has(flag: u32) -> bool { return (P.flags & flag) != 0u; }

fn lerp_(start: f32, end: f32, w: f32) -> f32 {
    if (abs(w) < 0.5) {
        return start + w * (end - start);
    }
    return end - (end - start) * (1.0 - w);
}

fn prepared_grad(g_in: f32, p: f32, weight_decay: f32) -> f32 {
    var g = select(g_in, -g_in, has(MAXIMIZE));
    if (weight_decay != 0.0) {
        g = g + weight_decay * p;
    }
    return g;
}

// 1 - beta^t from ln(beta) without cancellation: -expm1(t ln beta) by its series while small.
fn one_minus_pow(ln_beta: f32, t: f32) -> f32 {
    let z = t * ln_beta;
    if (z > -0.5) {
        var s = 1.0;
        for (var k = 12; k >= 2; k = k - 1) {
            s = 1.0 + z / f32(k) * s;
        }
        return -z * s;
    }
    return 1.0 - exp(z);
}

fn sgd(t: u32, i: u32, a: vec4<u32>, b: vec4<u32>) {
    let pb = a.z & 15u;
    let p = ld(pb, a.w + i);
    var g = prepared_grad(ld((a.z >> 4u) & 15u, b.x + i), p, P.s[3]);
    let momentum = P.s[1];
    if (has(HAS_BUF)) {
        let bb = (a.z >> 8u) & 15u;
        var buf: f32;
        if (has(FIRST_STEP)) {
            buf = g;
        } else {
            buf = ld(bb, b.y + i) * momentum + P.s[2] * g;
        }
        st(bb, b.y + i, buf);
        if (has(NESTEROV)) {
            g = g + momentum * buf;
        } else {
            g = buf;
        }
    }
    st(pb, a.w + i, p + (-P.s[0]) * g);
}

fn adam(t: u32, i: u32, a: vec4<u32>, b: vec4<u32>) {
    let pb = a.z & 15u;
    var p = ld(pb, a.w + i);
    let g_in = ld((a.z >> 4u) & 15u, b.x + i);
    var step_size = P.s[6];
    var bc2_sqrt = P.s[7];
    if (has(CAPTURABLE)) {
        let steps = ld(P.step_b, P.step_at + t);
        step_size = P.s[0] / one_minus_pow(P.s[6], steps);
        bc2_sqrt = sqrt(one_minus_pow(P.s[7], steps));
    }
    var g: f32;
    if (has(DECOUPLED)) {
        g = select(g_in, -g_in, has(MAXIMIZE));
        if (P.s[5] != 0.0) {
            p = p * P.s[8];
        }
    } else {
        g = prepared_grad(g_in, p, P.s[5]);
    }
    let mb = (a.z >> 8u) & 15u;
    let vb = (a.z >> 12u) & 15u;
    let m = lerp_(ld(mb, b.y + i), g, P.s[1]);
    let v = ld(vb, b.z + i) * P.s[2] + P.s[3] * g * g;
    st(mb, b.y + i, m);
    st(vb, b.z + i, v);
    var second = v;
    if (has(AMSGRAD)) {
        let xb = (a.z >> 16u) & 15u;
        second = max(ld(xb, b.w + i), v);
        st(xb, b.w + i, second);
    }
    let denom = sqrt(second) / bc2_sqrt + P.s[4];
    st(pb, a.w + i, p + (-step_size) * (m / denom));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let wg = wid.x + wid.y * nwg.x;
    if (has(INC_STEP)) {
        if (wg == 0u && lid.x < P.n) {
            st(P.step_b, P.step_at + lid.x, ld(P.step_b, P.step_at + lid.x) + 1.0);
        }
        return;
    }
    var t = 0u;
    var start = 0u;
    loop {
        if (t >= P.n) {
            return;  // a workgroup of the 2-D fold past the last tensor
        }
        let end = P.e[2u * t].x;
        if (wg < end) {
            break;
        }
        start = end;
        t = t + 1u;
    }
    let a = P.e[2u * t];
    let b = P.e[2u * t + 1u];
    let i = (wg - start) * u32(WG) + lid.x;
    if (i >= a.y) {
        return;
    }
    if (KIND == 0) {
        sgd(t, i, a, b);
    } else {
        adam(t, i, a, b);
    }
}
