// Optimizer updates: one fused dispatch per parameter writes the parameter and its state in place.
//
// The host (wgtorch/backends/wgpu/optim.py) prepends:
//   SP   the element type of the parameter and state buffers: TP or vec4<TP>, with TP the
//        storage type (f32 or f16); vec4 when sizes and offsets allow (fewer, wider loads)
//   SG   the same for the gradient
//   V    what one invocation computes on: f32, or vec4<f32> with the vec4 storage types
//   WG   the workgroup size
// and fills the BINDINGS marker (binding 1 `param`, binding 2 `grad`, then the state buffers
// `s0`, `s1`, `s2` the optimizer has) and BODY (loads, a call to one update function below,
// stores). P.numel and P.offset count elements of SP. Everything is computed in f32, in the order PyTorch's single-tensor implementations
// use, so results match the NumPy backend to float32 rounding.
//
// Hyper-parameters travel in P.s (their meaning depends on the optimizer, see each function)
// and booleans in P.flags, so changing a learning rate never compiles a new kernel.

// struct Meta and its binding P come from the family's ParamBlock (backends/wgpu/*.py).

const MAXIMIZE: u32 = 1u;
const NESTEROV: u32 = 2u;
const FIRST_STEP: u32 = 4u;
const DECOUPLED: u32 = 8u;

{{BINDINGS}}

fn has(flag: u32) -> bool { return (P.flags & flag) != 0u; }

// torch.lerp's formula: the two halves keep start + 1 * (end - start) == end exactly.
fn lerp_(start: V, end: V, w: f32) -> V {
    if (abs(w) < 0.5) {
        return start + w * (end - start);
    }
    return end - (end - start) * (1.0 - w);
}

// The gradient after `maximize` and L2 weight decay (g + weight_decay * p), as every optimizer
// starts. The decay is skipped at 0 so an inf parameter does not turn the gradient into NaN.
fn prepared_grad(g_in: V, p: V, weight_decay: f32) -> V {
    var g = select(g_in, -g_in, has(MAXIMIZE));
    if (weight_decay != 0.0) {
        g = g + weight_decay * p;
    }
    return g;
}

// SGD. s: lr, momentum, 1 - dampening, weight_decay. buf is ignored when momentum is 0.
struct SgdOut { p: V, buf: V }

fn sgd(p: V, g_in: V, buf_in: V) -> SgdOut {
    let lr = P.s[0];
    let momentum = P.s[1];
    var g = prepared_grad(g_in, p, P.s[3]);
    var buf = buf_in;
    if (momentum != 0.0) {
        if (has(FIRST_STEP)) {
            buf = g;  // the buffer starts as a copy of the first gradient
        } else {
            buf = buf * momentum + P.s[2] * g;
        }
        if (has(NESTEROV)) {
            g = g + momentum * buf;
        } else {
            g = buf;
        }
    }
    return SgdOut(p + (-lr) * g, buf);
}

// Adam and AdamW. s: 1 - lr * weight_decay (decoupled decay factor), 1 - beta1, beta2,
// 1 - beta2, eps, weight_decay, lr / (1 - beta1^step), sqrt(1 - beta2^step).
// vmax is the running maximum of v (amsgrad); the caller ignores it otherwise.
struct AdamOut { p: V, m: V, v: V, vmax: V }

fn adam(p_in: V, g_in: V, m_in: V, v_in: V, vmax_in: V, amsgrad: bool) -> AdamOut {
    var p = p_in;
    var g: V;
    if (has(DECOUPLED)) {
        g = select(g_in, -g_in, has(MAXIMIZE));
        if (P.s[5] != 0.0) {
            p = p * P.s[0];
        }
    } else {
        g = prepared_grad(g_in, p, P.s[5]);
    }
    let m = lerp_(m_in, g, P.s[1]);
    let v = v_in * P.s[2] + P.s[3] * g * g;
    var vmax = vmax_in;
    var second = v;
    if (amsgrad) {
        vmax = max(vmax_in, v);
        second = vmax;
    }
    let denom = sqrt(second) / P.s[7] + P.s[4];
    return AdamOut(p + (-P.s[6]) * (m / denom), m, v, vmax);
}

// RMSprop. s: lr, alpha, 1 - alpha, eps, weight_decay, momentum. gavg (centered) and buf
// (momentum > 0) are ignored when unused.
struct RmspropOut { p: V, sq: V, gavg: V, buf: V }

fn rmsprop(p: V, g_in: V, sq_in: V, gavg_in: V, buf_in: V, centered: bool) -> RmspropOut {
    let lr = P.s[0];
    let g = prepared_grad(g_in, p, P.s[4]);
    let sq = sq_in * P.s[1] + P.s[2] * g * g;
    var gavg = gavg_in;
    var avg: V;
    if (centered) {
        gavg = lerp_(gavg_in, g, P.s[2]);
        avg = sqrt(sq + (-1.0 * gavg) * gavg);
    } else {
        avg = sqrt(sq);
    }
    avg = avg + P.s[3];
    let momentum = P.s[5];
    if (momentum > 0.0) {
        let buf = buf_in * momentum + g / avg;
        return RmspropOut(p + (-lr) * buf, sq, gavg, buf);
    }
    return RmspropOut(p + (-lr) * (g / avg), sq, gavg, buf_in);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * u32(WG);
    if (i >= P.numel) {
        return;
    }
    let ip = P.offset[0] + i;
    let p = V(param[ip]);
    let g = V(grad[P.offset[1] + i]);
{{BODY}}
}
