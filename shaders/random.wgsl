// Random numbers: Philox4x32-10, one counter block (four 32-bit words) per thread.
//
// The NumPy twin is wgtorch/backends/random.py; its docstring defines the stream and the
// conversions, and both sides must do the same float32 operations in the same order.
//
// The host (wgtorch/backends/wgpu/random.py) prepends:
//   TO    the output storage type (f32, f16, i32 for int32/int64, u32 for bool)
//   KIND  0 uniform, 1 normal, 2 randint
//   UBITS uniform: how many top bits of a word make the fraction (24 for f32, 11 for f16)
//   FLOAT_OUT whether TO is a floating-point type
//   WG    the workgroup size
// and fills the STORE_UNIFORM marker: how a float32 uniform value becomes TO, clamped below
// high in TO's precision.

// struct Meta and its binding P come from the family's ParamBlock (backends/wgpu/*.py).

@group(0) @binding(1) var<storage, read_write> out: array<TO>;

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;
const TWO_PI: f32 = 6.283185307179586;

// The high 32 bits of a 32x32-bit product. WGSL has no 64-bit integers, so the product is built
// from 16-bit halves; `cross` cannot overflow: its maximum is exactly 2**32 - 1.
fn mul_hi(a: u32, b: u32) -> u32 {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let cross = (lo_lo >> 16u) + (hi_lo & 0xffffu) + lo_hi;
    return a_hi * b_hi + (hi_lo >> 16u) + (cross >> 16u);
}

fn philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var r = 0; r < 10; r++) {
        let hi0 = mul_hi(PHILOX_M0, c.x);
        let lo0 = PHILOX_M0 * c.x;  // u32 multiplication wraps: the low half
        let hi1 = mul_hi(PHILOX_M1, c.z);
        let lo1 = PHILOX_M1 * c.z;
        c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k += vec2<u32>(PHILOX_W0, PHILOX_W1);
    }
    return c;
}

fn uniform_value(x: u32) -> f32 {
    let u = f32(x >> (32u - u32(UBITS))) * (1.0 / f32(1u << u32(UBITS)));
    return P.low + u * P.scale;
}

// -log(u) for u = 1 - v (both exact). Near u = 1 a GPU's log is accurate only in absolute terms,
// and the small radii it produces would differ between devices by percents; there the series
// -log(1 - v) = 2 atanh(s), s = v / (2 - v), is used instead (terms up to s**11, < 1 ulp for v <= 1/4).
fn neg_log(u: f32, v: f32) -> f32 {
    if (v > 0.25) {
        return -log(u);
    }
    let s = v / (2.0 - v);
    let s2 = s * s;
    let poly = 1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0));
    return 2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (0.2 + s2 * poly)));
}

// Box-Muller on one pair of words (see backends/random.py).
fn normal_pair(a: u32, b: u32) -> vec2<f32> {
    let k = (a >> 8u) + 1u;  // u1 = k / 2**24 in (0, 1]
    let u1 = f32(k) * (1.0 / 16777216.0);
    let v1 = f32(16777216u - k) * (1.0 / 16777216.0);
    let u2 = f32(b >> 8u) * (1.0 / 16777216.0) - 0.5;
    let r = sqrt(2.0 * neg_log(u1, v1));
    let t = TWO_PI * u2;
    return vec2<f32>(P.low + P.scale * (r * cos(t)), P.low + P.scale * (r * sin(t)));
}

fn randint_value(x: u32) -> i32 {
    var offset = x;
    if (P.range != 0u) {
        offset = x % P.range;
    }
    return bitcast<i32>(bitcast<u32>(P.ilow) + offset);  // wraps like i64 arithmetic cast to i32
}

//@i64 begin  (int64 stored as i64, shader-int64: low + offset in 64 bits)
fn randint_value64(x: u32) -> i64 {
    var offset = x;
    if (P.range != 0u) {
        offset = x % P.range;
    }
    // (masked: naga turns u32 into i64 with a sign extension, measured on lavapipe)
    return (i64(P.ilow_hi) << 32u) + (i64(bitcast<u32>(P.ilow)) & 0xffffffffli) + (i64(offset) & 0xffffffffli);
}
//@i64 end

fn store_uniform(i: u32, v: f32) {
{{STORE_UNIFORM}}
}

fn store_float(i: u32, v: f32) {
    out[i] = TO(v);
}

fn store_int(i: u32, v: i32) {
    // floats go through f32, as the NumPy side does; bool holds 0 or 1 already
    if (FLOAT_OUT) {
        out[i] = TO(f32(v));
    } else {
        out[i] = TO(v);
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = gid.x + gid.y * nwg.x * u32(WG);
    let first = 4u * t;  // element index of word 0 of this thread's block, plus phase
    if (first >= P.n + P.phase) {
        return;
    }
    let lo = P.block_lo + t;
    let hi = P.block_hi + select(0u, 1u, lo < t);  // carry into the high half
    let w = philox(vec4<u32>(lo, hi, 0u, 0u), vec2<u32>(P.key0, P.key1));
    var values: vec4<f32>;
    if (KIND == 1) {
        let z01 = normal_pair(w.x, w.y);
        let z23 = normal_pair(w.z, w.w);
        values = vec4<f32>(z01, z23);
    }
    for (var j = 0u; j < 4u; j++) {
        // element index of word j; wraps to a huge value (and is skipped) before element 0
        let i = first + j - P.phase;
        if (first + j < P.phase || i >= P.n) {
            continue;
        }
        let at = P.offset + i;
        if (KIND == 0) {
            store_uniform(at, uniform_value(w[j]));
        } else if (KIND == 1) {
            store_float(at, values[j]);
        } else {
            {{STORE_INT}}
        }
    }
}
