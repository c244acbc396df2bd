// Fused recurrent cell kernels: one dispatch per time step for all gate nonlinearities and the
// state update (forward), and one for all gate gradients (backward). The matmuls around them
// (x @ W_ih^T for the whole sequence, h @ W_hh^T and dG @ W_hh per step, the weight gradients
// at the end) are separate matmul dispatches; see wgtorch/backends/wgpu/rnn.py.
//
// The host keeps the shared part and ONE `//@kernel NAME` ... `//@end` section, and prepends:
//   TX        storage type of every float buffer (f32, f16 or f64); arithmetic is in f32 (in f64
//             for f64: the host's f64 mode writes every f32 of this file as f64)
//   WG        workgroup size
//   MODE      0 RNN_TANH, 1 RNN_RELU, 2 LSTM, 3 GRU
//   HAS_BIAS  the layer has b_ih and b_hh (forward)
//   SAVE      store the gate activations the backward pass needs (forward)
//
// One thread per (batch row b, hidden unit j). Every operand is row-major with an element offset
// in P; a "workspace" buffer holds the hidden states (T + 1 slots of B x H), the cell states
// (LSTM, T + 1 slots) and the saved gates (B x 4H per step: LSTM i, f, g, o; GRU r, z, n and
// W_hn h + b_hn). Gate order within a G*H row is PyTorch's: LSTM i, f, g, o; GRU r, z, n.

// struct Meta and its binding P come from the family's ParamBlock (backends/wgpu/*.py).


const RNN_TANH: i32 = 0;
const RNN_RELU: i32 = 1;
const LSTM: i32 = 2;
const GRU: i32 = 3;

// sigmoid_, tanh_ and relu_ are in prelude.wgsl.

fn thread_id(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * u32(WG);
}

//@kernel forward
// a0 gi (row b of this step's x @ W_ih^T at a0 + b*G*H), a1 gh (h_prev @ W_hh^T, B x G*H),
// a2 b_ih, a3 b_hh, a4 h_prev, a5 h_out, a6 c_prev, a7 c_out, a8 gates (all in ws but a0..a3).
@group(0) @binding(1) var<storage, read> gi: array<TX>;
@group(0) @binding(2) var<storage, read> gh: array<TX>;
@group(0) @binding(3) var<storage, read> b_ih: array<TX>;
@group(0) @binding(4) var<storage, read> b_hh: array<TX>;
@group(0) @binding(5) var<storage, read_write> ws: array<TX>;

// Gate k's pre-activation parts for (b, j): input side (with b_ih) and hidden side (with b_hh).
fn gate_in(row: u32, k: u32, j: u32) -> f32 {
    let h = P.hidden;
    var v = f32(gi[P.a0 + row + k * h + j]);
    if (HAS_BIAS) {
        v += f32(b_ih[P.a2 + k * h + j]);
    }
    return v;
}

fn gate_hid(row: u32, k: u32, j: u32, has_prev: bool) -> f32 {
    let h = P.hidden;
    var v = 0.0;
    if (has_prev) {
        v = f32(gh[P.a1 + row + k * h + j]);
    }
    if (HAS_BIAS) {
        v += f32(b_hh[P.a3 + k * h + j]);
    }
    return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_id(gid, nwg);
    if (i >= P.numel) {
        return;
    }
    let h = P.hidden;
    let b = i / h;
    let j = i % h;
    let has_prev = (P.flags & 1u) != 0u;
    var h_prev = 0.0;
    if (has_prev) {
        h_prev = f32(ws[P.a4 + i]);
    }
    if (MODE == RNN_TANH || MODE == RNN_RELU) {
        let pre = gate_in(b * h, 0u, j) + gate_hid(b * h, 0u, j, has_prev);
        var y = tanh_(pre);
        if (MODE == RNN_RELU) {
            y = relu_(pre);
        }
        ws[P.a5 + i] = TX(y);
    } else if (MODE == LSTM) {
        let row = b * 4u * h;
        let ig = sigmoid_(gate_in(row, 0u, j) + gate_hid(row, 0u, j, has_prev));
        let fg = sigmoid_(gate_in(row, 1u, j) + gate_hid(row, 1u, j, has_prev));
        let gg = tanh_(gate_in(row, 2u, j) + gate_hid(row, 2u, j, has_prev));
        let og = sigmoid_(gate_in(row, 3u, j) + gate_hid(row, 3u, j, has_prev));
        var c_prev = 0.0;
        if (has_prev) {
            c_prev = f32(ws[P.a6 + i]);
        }
        let c = fg * c_prev + ig * gg;
        ws[P.a7 + i] = TX(c);
        ws[P.a5 + i] = TX(og * tanh_(c));
        if (SAVE) {
            let s = P.a8 + b * 4u * h + j;
            ws[s] = TX(ig);
            ws[s + h] = TX(fg);
            ws[s + 2u * h] = TX(gg);
            ws[s + 3u * h] = TX(og);
        }
    } else {
        let row = b * 3u * h;
        let r = sigmoid_(gate_in(row, 0u, j) + gate_hid(row, 0u, j, has_prev));
        let z = sigmoid_(gate_in(row, 1u, j) + gate_hid(row, 1u, j, has_prev));
        let hn = gate_hid(row, 2u, j, has_prev);  // W_hn h + b_hn, inside the reset product
        let n = tanh_(gate_in(row, 2u, j) + r * hn);
        ws[P.a5 + i] = TX(n + z * (h_prev - n));
        if (SAVE) {
            let s = P.a8 + b * 4u * h + j;
            ws[s] = TX(r);
            ws[s + h] = TX(z);
            ws[s + 2u * h] = TX(n);
            ws[s + 3u * h] = TX(hn);
        }
    }
}
//@end

//@kernel backward
// a0 dout (grad of h_t from the layer's output, B x H), a1 M (dG_{next} @ W_hh, or dh_n at the
// first step), a2 h_out, a3 h_prev, a4 c_out, a5 c_prev, a6 gates (in ws), a7 dgi, a8 dgh,
// a9 carry (in gws). carry is the gradient that skips the matmul: LSTM dc, GRU dh * z.
@group(0) @binding(1) var<storage, read> dout: array<TX>;
@group(0) @binding(2) var<storage, read> m: array<TX>;
@group(0) @binding(3) var<storage, read> ws: array<TX>;
@group(0) @binding(4) var<storage, read_write> gws: array<TX>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_id(gid, nwg);
    if (i >= P.numel) {
        return;
    }
    let h = P.hidden;
    let b = i / h;
    let j = i % h;
    var dh = 0.0;
    if ((P.flags & 1u) != 0u) {
        dh += f32(dout[P.a0 + i]);
    }
    if ((P.flags & 2u) != 0u) {
        dh += f32(m[P.a1 + i]);
    }
    var carry = 0.0;
    if ((P.flags & 4u) != 0u) {
        carry = f32(gws[P.a9 + i]);
    }
    if (MODE == RNN_TANH || MODE == RNN_RELU) {
        let y = f32(ws[P.a2 + i]);
        var d = dh * (1.0 - y * y);
        if (MODE == RNN_RELU) {
            d = select(0.0, dh, y > 0.0);
        }
        gws[P.a7 + i] = TX(d);
    } else if (MODE == LSTM) {
        let s = P.a6 + b * 4u * h + j;
        let ig = f32(ws[s]);
        let fg = f32(ws[s + h]);
        let gg = f32(ws[s + 2u * h]);
        let og = f32(ws[s + 3u * h]);
        let tc = tanh_(f32(ws[P.a4 + i]));
        let dc = carry + dh * og * (1.0 - tc * tc);
        let d = P.a7 + b * 4u * h + j;
        gws[d] = TX(dc * gg * ig * (1.0 - ig));
        gws[d + h] = TX(dc * f32(ws[P.a5 + i]) * fg * (1.0 - fg));
        gws[d + 2u * h] = TX(dc * ig * (1.0 - gg * gg));
        gws[d + 3u * h] = TX(dh * tc * og * (1.0 - og));
        gws[P.a9 + i] = TX(dc * fg);
    } else {
        dh += carry;
        let s = P.a6 + b * 4u * h + j;
        let r = f32(ws[s]);
        let z = f32(ws[s + h]);
        let n = f32(ws[s + 2u * h]);
        let hn = f32(ws[s + 3u * h]);
        let dn = dh * (1.0 - z) * (1.0 - n * n);
        let dr = dn * hn * r * (1.0 - r);
        let dz = dh * (f32(ws[P.a3 + i]) - n) * z * (1.0 - z);
        let di = P.a7 + b * 3u * h + j;
        let dg = P.a8 + b * 3u * h + j;
        gws[di] = TX(dr);
        gws[di + h] = TX(dz);
        gws[di + 2u * h] = TX(dn);
        gws[dg] = TX(dr);
        gws[dg + h] = TX(dz);
        gws[dg + 2u * h] = TX(dn * r);
        gws[P.a9 + i] = TX(dh * z);
    }
}
//@end
