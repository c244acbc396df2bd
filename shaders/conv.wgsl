// 2-d convolution as an implicit GEMM: forward, gradient of the input, gradient of the weight.
//
// No im2col buffer: each kernel is a GEMM whose operand loads compute the convolution's
// addresses on the fly (zero padding, stride, dilation), one GEMM per convolution group
// (the group is the GEMM's batch index). Per group g (og = C_out / groups, cg = C_in / groups):
//   conv_fwd    out[n, co, oh, ow]   M = N*H_out*W_out (n, oh, ow)  N = og (co)   K = cg*kh*kw (ci, r, s)
//   conv_dgrad  dx[n, ci, ih, iw]    M = N*H*W (n, ih, iw)          N = cg (ci)   K = og*kh*kw (co, r, s)
//   conv_wgrad  dw[co, ci, r, s]     M = og (co)                    N = cg*kh*kw  K = N*H_out*W_out
// x and dy are read through their four strides (any view); the weight is contiguous; the
// result is contiguous from P.out_off.
//
// The host (wgtorch/_backends/wgpu/conv.py) keeps the shared part and ONE `//@kernel NAME` ...
// `//@end` section, and prepends:
//   TS        storage type (f32, f16 or f64); products are accumulated in f32 (f64 for f64:
//             the host's f64 mode writes every f32 of this file as f64)
//   WG        threads per workgroup (a power of two); P.wgn of them side by side along N
//   TM, TN    outputs per thread along M and N
//   INSIDE    every tap is inside the input (no padding: the host padded it already), so
//             conv_fwd / conv_wgrad skip the padding test
// and fills the SETUP / STEP / STORE markers (below) with the TM x TN register block,
// unrolled (lavapipe keeps unrolled scalars in registers, local arrays it does not). The
// markers call each section's row_of / col_of / k_at / k_next / load_a / load_b / store.
//
// Rows and columns past the GEMM's edge are clamped onto its last row / column, so their loads
// stay inside the tensors; they are never stored. Padding taps read the tensor's first element
// in place of the missing one and select 0. Every loop is one iteration per element of K: the
// host splits K into slices within lavapipe's loop limit (P.k_begin .. P.k_end, P.flags bit 1
// adds to the result of the previous slice).

// struct Meta and its binding P come from the family's ParamBlock (_backends/wgpu/conv.py).

@group(0) @binding(1) var<storage, read_write> OUT: array<TS>;
@group(0) @binding(2) var<storage, read> X: array<TS>;
@group(0) @binding(3) var<storage, read> WT: array<TS>;
@group(0) @binding(4) var<storage, read> DY: array<TS>;
@group(0) @binding(5) var<storage, read> BIAS: array<TS>;

// Whether an input position (ih, iw) is inside the unpadded input; negatives wrap to huge u32s.
fn inside(ih: i32, iw: i32) -> bool {
    return INSIDE || (u32(ih) < u32(P.h) && u32(iw) < u32(P.w));
}

// result[i] = acc (+ result[i] when this is a later slice of K).
fn put(i: i32, acc: f32) {
    var v = acc;
    if ((P.flags & 2u) != 0u) {
        v += f32(OUT[i]);
    }
    OUT[i] = TS(v);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    // Linear workgroup id (the host folds grids past 65,535 into 2-D) -> (group, tile_m, tile_n).
    let id = wid.x + wid.y * nwg.x;
    if (id >= P.wg_total) {
        return;
    }
    let tile_n = i32(id % P.tiles_n);
    let rest = id / P.tiles_n;
    let g = i32(rest / P.tiles_m);
    let tile_m = i32(rest % P.tiles_m);
    let wgn = i32(P.wgn);
    let r0 = (tile_m * (WG / wgn) + i32(lid) / wgn) * TM;
    let c0 = (tile_n * wgn + i32(lid) % wgn) * TN;
    if (r0 >= P.m || c0 >= P.n) {
        return;
    }
    // SETUP: let row{i} = row_of(g, min(r0 + i, P.m - 1)); let col{j} = col_of(g, ...); var acc{i}_{j} = 0.0;
{{SETUP}}
    var kd = k_at(g, P.k_begin);
    for (var k = P.k_begin; k < P.k_end; k++) {
        // STEP: let a{i} = load_a(row{i}, kd); let b{j} = load_b(kd, col{j}); TM * TN fma.
{{STEP}}
        kd = k_next(kd);
    }
    // STORE: store(row{i}, col{j}, acc{i}_{j}) for the rows and columns inside the GEMM.
{{STORE}}
}

//@kernel conv_fwd
struct Row {
    x: i32,   // x's offset of (n, the group's first channel, ih0, iw0); may be negative
    ih: i32,  // ih0 = oh * stride - padding
    iw: i32,
    y: i32,   // out's offset of (n, channel 0, oh, ow)
}

fn row_of(g: i32, m: i32) -> Row {
    let hw = P.ho * P.wo;
    let n = m / hw;
    let p = m - n * hw;
    let oh = p / P.wo;
    let ow = p - oh * P.wo;
    let ih = oh * P.sh - P.ph;
    let iw = ow * P.sw - P.pw;
    return Row(P.x_off + n * P.xs_n + g * P.cg * P.xs_c + ih * P.xs_h + iw * P.xs_w, ih, iw,
               P.out_off + n * P.cout * hw + p);
}

struct Col {
    w: i32,  // the weight's offset of out channel c
    c: i32,  // out channel
}

fn col_of(g: i32, j: i32) -> Col {
    let c = g * P.og + j;
    return Col(P.w_off + c * P.k, c);
}

struct Kd {
    k: i32,    // (ci, r, s) flattened: the weight's inner offset
    r: i32,
    s: i32,
    dh: i32,   // r * dilation
    dw: i32,
    off: i32,  // x's offset of (ci, dh, dw)
}

fn k_at(g: i32, k: i32) -> Kd {
    let kk = P.kh * P.kw;
    let ci = k / kk;
    let r = (k - ci * kk) / P.kw;
    let s = k - ci * kk - r * P.kw;
    return Kd(k, r, s, r * P.dh, s * P.dw, ci * P.xs_c + r * P.dh * P.xs_h + s * P.dw * P.xs_w);
}

fn k_next(d: Kd) -> Kd {
    // Branch-free (the same for every thread anyway): lavapipe compiles a loop body without
    // control flow many times faster.
    let ws = d.s + 1 == P.kw;
    let wr = ws && d.r + 1 == P.kh;
    let s = select(d.s + 1, 0, ws);
    let r = select(select(d.r, d.r + 1, ws), 0, wr);
    var off = d.off + P.dw * P.xs_w;
    off += select(0, P.dh * P.xs_h - P.kw * P.dw * P.xs_w, ws);
    off += select(0, P.xs_c - P.kh * P.dh * P.xs_h, wr);
    return Kd(d.k + 1, r, s, r * P.dh, s * P.dw, off);
}

fn load_a(r: Row, d: Kd) -> f32 {
    let ok = inside(r.ih + d.dh, r.iw + d.dw);
    return select(0.0, f32(X[select(P.x_off, r.x + d.off, ok)]), ok);
}

fn load_b(d: Kd, c: Col) -> f32 {
    return f32(WT[c.w + d.k]);
}

fn store(r: Row, c: Col, acc: f32) {
    var v = acc;
    if ((P.flags & 1u) != 0u) {  // the bias, fused (first slice of K only)
        v += f32(BIAS[P.b_off + c.c]);
    }
    put(r.y + c.c * P.ho * P.wo, v);
}
//@end

//@kernel conv_dgrad
// ih + pad = oh * stride + r * dilation has a solution oh iff both sides leave the same
// remainder modulo the stride: (ih + pad) is split into quotient and remainder once per row,
// r * dilation once per step of K, so no load divides.
struct Row {
    y: i32,   // dy's offset of (n, the group's first out channel)
    qh: i32,  // (ih + pad) / stride
    rh: i32,  // (ih + pad) % stride
    qw: i32,
    rw: i32,
    x: i32,   // dx's offset of (n, the group's first channel, ih, iw)
    ya: i32,  // y + qh * ys_h + qw * ys_w: with the tap's Kd.ya, dy's offset of (n, co, oh, ow)
}

fn row_of(g: i32, m: i32) -> Row {
    let hw = P.h * P.w;
    let n = m / hw;
    let p = m - n * hw;
    let ih = p / P.w;
    let th = ih + P.ph;
    let tw = p - ih * P.w + P.pw;
    let y = P.y_off + n * P.ys_n + g * P.og * P.ys_c;
    let qh = th / P.sh;
    let qw = tw / P.sw;
    return Row(y, qh, th % P.sh, qw, tw % P.sw, P.out_off + (n * P.cin + g * P.cg) * hw + p,
               y + qh * P.ys_h + qw * P.ys_w);
}

struct Col {
    w: i32,   // the weight's offset of (the group's first out channel, ci)
    ci: i32,  // channel within the group
}

fn col_of(g: i32, j: i32) -> Col {
    return Col(P.w_off + (g * P.og * P.cg + j) * P.kh * P.kw, j);
}

struct Kd {
    co: i32,    // (co, r, s): out channel within the group and kernel tap
    r: i32,
    s: i32,
    qh: i32,    // r * dilation / stride
    rh: i32,    // r * dilation % stride
    qw: i32,
    rw: i32,
    woff: i32,  // the weight's offset of (co, 0, r, s) from the column's
    yoff: i32,  // dy's offset of channel co
    ya: i32,    // yoff - qh * ys_h - qw * ys_w (see Row.ya)
}

fn k_at(g: i32, k: i32) -> Kd {
    let kk = P.kh * P.kw;
    let co = k / kk;
    let r = (k - co * kk) / P.kw;
    let s = k - co * kk - r * P.kw;
    let dh = r * P.dh;
    let dw = s * P.dw;
    let qh = dh / P.sh;
    let qw = dw / P.sw;
    return Kd(co, r, s, qh, dh % P.sh, qw, dw % P.sw, (co * P.cg * P.kh + r) * P.kw + s, co * P.ys_c,
              co * P.ys_c - qh * P.ys_h - qw * P.ys_w);
}

// One tap on, with no division: the quotients and remainders of r * dilation by the stride step
// by P.dil_q* / P.dil_r* (dilation / stride and dilation % stride) with a carry.
fn k_next(d: Kd) -> Kd {
    var e = d;
    e.s += 1;
    e.woff += 1;
    e.rw += P.dil_rw;
    e.qw += P.dil_qw + select(0, 1, e.rw >= P.sw);
    e.rw -= select(0, P.sw, e.rw >= P.sw);
    if (e.s == P.kw) {  // the same for every thread: no divergence
        e.s = 0;
        e.qw = 0;
        e.rw = 0;
        e.r += 1;
        e.rh += P.dil_rh;
        e.qh += P.dil_qh + select(0, 1, e.rh >= P.sh);
        e.rh -= select(0, P.sh, e.rh >= P.sh);
        if (e.r == P.kh) {
            e.r = 0;
            e.qh = 0;
            e.rh = 0;
            e.co += 1;
            e.woff += (P.cg - 1) * P.kh * P.kw;
            e.yoff += P.ys_c;
        }
    }
    e.ya = e.yoff - e.qh * P.ys_h - e.qw * P.ys_w;
    return e;
}

fn load_a(r: Row, d: Kd) -> f32 {
    let oh = r.qh - d.qh;
    let ow = r.qw - d.qw;
    let ok = r.rh == d.rh && r.rw == d.rw && u32(oh) < u32(P.ho) && u32(ow) < u32(P.wo);
    return select(0.0, f32(DY[select(P.y_off, r.ya + d.ya, ok)]), ok);
}

fn load_b(d: Kd, c: Col) -> f32 {
    return f32(WT[c.w + d.woff]);
}

fn store(r: Row, c: Col, acc: f32) {
    put(r.x + c.ci * P.h * P.w, acc);
}
//@end

//@kernel conv_wgrad
struct Row {
    y: i32,  // dy's offset of channel co
    o: i32,  // dw's offset of (co, 0, 0, 0)
}

fn row_of(g: i32, i: i32) -> Row {
    let co = g * P.og + i;
    return Row(P.y_off + co * P.ys_c, P.out_off + co * P.cg * P.kh * P.kw);
}

struct Col {
    x: i32,   // x's offset of (the group's channel ci, r * dilation, s * dilation)
    dh: i32,
    dw: i32,
    j: i32,   // (ci, r, s) flattened
}

fn col_of(g: i32, j: i32) -> Col {
    let kk = P.kh * P.kw;
    let ci = j / kk;
    let r = (j - ci * kk) / P.kw;
    let s = j - ci * kk - r * P.kw;
    return Col(P.x_off + (g * P.cg + ci) * P.xs_c + r * P.dh * P.xs_h + s * P.dw * P.xs_w, r * P.dh, s * P.dw, j);
}

struct Kd {
    n: i32,   // (n, oh, ow): the output position summed over
    oh: i32,
    ow: i32,
    ih: i32,  // oh * stride - padding
    iw: i32,
    x: i32,   // x's offset of (n, 0, ih, iw); may be negative
    y: i32,   // dy's offset of (n, 0, oh, ow)
}

fn kd_of(n: i32, oh: i32, ow: i32) -> Kd {
    let ih = oh * P.sh - P.ph;
    let iw = ow * P.sw - P.pw;
    return Kd(n, oh, ow, ih, iw, n * P.xs_n + ih * P.xs_h + iw * P.xs_w, n * P.ys_n + oh * P.ys_h + ow * P.ys_w);
}

fn k_at(g: i32, k: i32) -> Kd {
    let hw = P.ho * P.wo;
    let n = k / max(hw, 1);
    let oh = (k - n * hw) / P.wo;
    return kd_of(n, oh, k - n * hw - oh * P.wo);
}

fn k_next(d: Kd) -> Kd {
    var e = d;
    e.ow += 1;
    e.iw += P.sw;
    e.x += P.sw * P.xs_w;
    e.y += P.ys_w;
    if (e.ow == P.wo) {  // next row (or image): recompute, once per row
        var oh = e.oh + 1;
        var n = e.n;
        if (oh == P.ho) {
            oh = 0;
            n += 1;
        }
        e = kd_of(n, oh, 0);
    }
    return e;
}

fn load_a(r: Row, d: Kd) -> f32 {
    return f32(DY[r.y + d.y]);
}

fn load_b(d: Kd, c: Col) -> f32 {
    let ok = inside(d.ih + c.dh, d.iw + c.dw);
    return select(0.0, f32(X[select(P.x_off, c.x + d.x, ok)]), ok);
}

fn store(r: Row, c: Col, acc: f32) {
    put(r.o + c.j, acc);
}
//@end
