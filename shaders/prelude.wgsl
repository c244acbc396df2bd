// The prelude: helpers every kernel family may use. The host (wgtorch/backends/wgpu/kernels.py)
// puts it after the family's type aliases and constants and before the family's own source.
//
// Bit tests instead of x != x: they survive any fast-math folding.
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn is_inf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }
fn is_neg_inf(x: f32) -> bool { return bitcast<u32>(x) == 0xff800000u; }
fn nan_f32() -> f32 { return bitcast<f32>(0x7fc00000u); }
fn pos_inf() -> f32 { return bitcast<f32>(0x7f800000u); }
fn neg_inf() -> f32 { return bitcast<f32>(0xff800000u); }

// max/min that propagate NaN, as torch.maximum/minimum and max-reductions do (the builtins are
// undefined on NaN).
fn max_nan(a: f32, b: f32) -> f32 { return select(select(b, a, a > b), a + b, is_nan(a) || is_nan(b)); }
fn min_nan(a: f32, b: f32) -> f32 { return select(select(b, a, a < b), a + b, is_nan(a) || is_nan(b)); }

// tanh via exp(-2|x|): never inf/inf for large |x| (the builtin gives NaN there on some drivers).
fn tanh_(x: f32) -> f32 {
    let e = exp(-2.0 * abs(x));
    let t = (1.0 - e) / (1.0 + e);
    return select(t, -t, x < 0.0);
}

fn sigmoid_(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }

// relu that keeps NaN, as torch.relu does.
fn relu_(x: f32) -> f32 { return select(0.0, x, !(x <= 0.0)); }

// sin/cos/tan with an exact (Payne-Hanek) range reduction past pi/4: lavapipe's builtins are
// 4-6 ulps off by 1e5 and lose all accuracy past ~1e7 (wrong signs at 1e8); on [-pi/4, pi/4]
// they are within an ulp or two. x = M * 2^e (M the 24-bit significand); x * 2/pi mod 4 comes from 96 bits of 2/pi
// starting where M's product reaches the 2^1 bit, with 32 x 32 -> 64 bit products in u32 halves.
var<private> TWO_OVER_PI: array<u32, 13> = array<u32, 13>(0u,  // a zero word: bits before the point
    0xA2F9836Eu, 0x4E441529u, 0xFC2757D1u, 0xF534DDC0u, 0xDB629599u, 0x3C439041u, 0xFE5163ABu,
    0xDEBBC561u, 0xB7246E3Au, 0x424DD2E0u, 0x06492EEAu, 0x09D1921Cu);

// 32 bits of 2/pi from bit k (weight 2^-k; k > -32, bits before the point are 0).
fn two_over_pi_bits(k: i32) -> u32 {
    let p = u32(k + 31);  // position in the table (one leading zero word)
    let i = p / 32u;
    let s = p % 32u;
    let hi = TWO_OVER_PI[min(i, 12u)];
    let lo = TWO_OVER_PI[min(i + 1u, 12u)];
    return select((hi << s) | (lo >> (32u - s)), hi, s == 0u);
}

// (high, low) words of a * b.
fn mul_u32_wide(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
    let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0;
    let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
    return vec2<u32>(a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u), (mid << 16u) | (p00 & 0xffffu));
}

// |x| = q * pi/2 + r, r in [-pi/4, pi/4]: (r, q mod 4) for finite |x| >= 2^-7.
fn reduce_pio2(ax: f32) -> vec2<f32> {
    let bits = bitcast<u32>(ax);
    let m = (bits & 0x7fffffu) | 0x800000u;
    let e = i32(bits >> 23u) - 150;
    let k = e - 1;  // bits of 2/pi before k give multiples of 4
    let w2 = two_over_pi_bits(k);
    let w1 = two_over_pi_bits(k + 32);
    let w0 = two_over_pi_bits(k + 64);
    let p0 = mul_u32_wide(m, w0);
    let p1 = mul_u32_wide(m, w1);
    let p2 = mul_u32_wide(m, w2);
    let word1 = p0.x + p1.y;
    let carry = select(0u, 1u, word1 < p0.x);
    let word2 = p1.x + p2.y + carry;  // bits 64..95 of the product: 2 quadrant bits, 30 of fraction
    var q = word2 >> 30u;
    let hi = (word2 << 2u) | (word1 >> 30u);
    let lo = word1 << 2u;
    q = (q + (hi >> 31u)) & 3u;  // round to the nearest quadrant: the fraction becomes signed
    let f = f32(bitcast<i32>(hi)) * 2.3283064365386963e-10 + f32(lo) * 5.421010862427522e-20;
    return vec2<f32>(f * 1.5707963267948966, f32(q));
}

fn sin_(x: f32) -> f32 {
    let ax = abs(x);
    if (ax <= 0.7853981 || is_inf(x) || is_nan(x)) { return sin(x); }
    let rq = reduce_pio2(ax);
    let q = u32(rq.y);
    let v = select(sin(rq.x), cos(rq.x), (q & 1u) == 1u);
    let s = select(v, -v, q >= 2u);
    return select(s, -s, x < 0.0);
}

fn cos_(x: f32) -> f32 {
    let ax = abs(x);
    if (ax <= 0.7853981 || is_inf(x) || is_nan(x)) { return cos(x); }
    let rq = reduce_pio2(ax);
    let q = u32(rq.y);
    let v = select(cos(rq.x), sin(rq.x), (q & 1u) == 1u);
    return select(v, -v, q == 1u || q == 2u);
}

fn tan_(x: f32) -> f32 {
    let ax = abs(x);
    if (ax <= 0.7853981 || is_inf(x) || is_nan(x)) { return tan(x); }
    let rq = reduce_pio2(ax);
    let t = tan(rq.x);
    let v = select(t, -1.0 / t, (u32(rq.y) & 1u) == 1u);
    return select(v, -v, x < 0.0);
}
