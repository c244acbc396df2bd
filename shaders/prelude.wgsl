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

// f16 values in atomic<u32> words (WGSL has no float atomics; two f16 share a word): the
// compare-exchange loops of scatter.wgsl and index.wgsl read and replace one half with these. The loops
// themselves stay in the kernels: naga refuses storage pointers as function arguments.
// The f16 at bit `shift` (0 or 16) of `word`, as f32.
fn f16_at(word: u32, shift: u32) -> f32 { return unpack2x16float(word >> shift).x; }
// `word` with the f16 at bit `shift` replaced by v rounded once from f32 (the correctly rounded f16
// result, as PyTorch's half kernels give); the neighbour's bits are kept.
fn with_f16(word: u32, shift: u32, v: f32) -> u32 {
    let half = pack2x16float(vec2<f32>(v, 0.0)) & 0xffffu;
    return (word & ~(0xffffu << shift)) | (half << shift);
}
//@f64 begin
// ---- float64 (the shader-f64 feature): helpers of the kernels that compute in f64 ----
// The host keeps this block only in kernels that compute in f64 and then drops the f32 helpers
// above: the names below (is_nan, max_nan, tanh_, erf_ ...) are the same, over f64, so a family
// is written once. WGSL builtins exp, log, sin ... are not usable on f64 (SPIR-V's GLSL.std.450
// has them for 16/32-bit floats only; lavapipe returns garbage), and bitcasts of f64 are refused,
// so the transcendentals are written here from exact steps (ldexp, fma, round, sqrt are fine) and
// polynomials; the host renames the builtins a family calls to these *_d functions.
// Accuracy vs NumPy float64: ~1-2 ulp (pow: ~|y log x| ulp).
fn is_nan(x: f64) -> bool { return !(x == x); }
fn is_inf(x: f64) -> bool { return abs(x) > 1.7976931348623157e308; }
fn is_neg_inf(x: f64) -> bool { return x < -1.7976931348623157e308; }
fn nan_f32() -> f64 { return f64(bitcast<f32>(0x7fc00000u)); }  // (the name the families call)
fn pos_inf() -> f64 { return f64(bitcast<f32>(0x7f800000u)); }
fn neg_inf() -> f64 { return f64(bitcast<f32>(0xff800000u)); }
fn signbit_d(x: f64) -> bool { return x < 0.0 || (x == 0.0 && 1.0 / x < 0.0); }  // (NaN: false)
fn max_nan(a: f64, b: f64) -> f64 { return select(select(b, a, a > b), a + b, is_nan(a) || is_nan(b)); }
fn min_nan(a: f64, b: f64) -> f64 { return select(select(b, a, a < b), a + b, is_nan(a) || is_nan(b)); }
// 2^n exactly, in two steps so that neither overflows or flushes on the way (n in [-2200, 2200]).
fn scale2_d(x: f64, n: i32) -> f64 { let h = n / 2; return ldexp(ldexp(x, h), n - h); }
// The exponent e of a finite non-zero x: |x| = m 2^e with m in [1, 2) (frexp is refused on f64).
fn ilogb_d(x: f64) -> i32 {
    var m = abs(x);
    var e = 0;
    for (var k = 0; k < 12 && m >= 7.922816251426434e28; k++) { m = ldexp(m, -96); e += 96; }  // 2^96
    for (var k = 0; k < 13 && m < 1.2621774483536189e-29; k++) { m = ldexp(m, 96); e -= 96; }
    let g = i32(floor(log2(f32(m))));  // a guess, then exact corrections
    m = ldexp(m, -g);
    e += g;
    for (var k = 0; k < 3 && m >= 2.0; k++) { m = m * 0.5; e += 1; }
    for (var k = 0; k < 3 && m < 1.0; k++) { m = m * 2.0; e -= 1; }
    return e;
}
// sort.wgsl's order-preserving key of a value (NaN largest, -0.0 == 0.0) over f64: the IEEE
// bits (high word, low word) rebuilt by exact arithmetic (f64 bitcasts are refused), then the
// sign flipped for positives and every bit for negatives, so the keys order as the values.
fn float_key(x: f64) -> vec2<u32> {
    if (is_nan(x)) { return vec2<u32>(0xffffffffu, 0xffffffffu); }
    let a = abs(x);
    var field = 0u;
    var mant = f64(0.0);  // the 52-bit significand field, an integer
    if (is_inf(x)) {
        field = 2047u;
    } else if (a < ldexp(f64(1.0), -1022)) {  // subnormal (or zero): |x| / 2^-1074, by exact products
        // a 2^600 is normal; its scaling by 2^474 goes through its own exponent: lavapipe folds
        // constant scalings together (a 2^600 2^474 became a * inf, and so did ldexp(a 2^600, 474))
        let y = a * 4.149515568880993e+180;
        let ey = ilogb_d(y);
        mant = ldexp(scale2_d(y, -ey), ey + 474);
    } else {
        let e = ilogb_d(a);
        field = u32(e + 1023);
        mant = (scale2_d(a, -e) - 1.0) * 4503599627370496.0;  // (x 2^52: exact)
    }
    let mant_hi = floor(mant * 2.3283064365386963e-10);  // (/ 2^32)
    let bits = vec2<u32>((field << 20u) | u32(mant_hi), u32(mant - mant_hi * 4294967296.0));
    if (x < 0.0) { return ~(bits | vec2<u32>(0x80000000u, 0u)); }
    return bits | vec2<u32>(0x80000000u, 0u);
}
fn exp_d(x: f64) -> f64 {
    if (is_nan(x)) { return x; }
    if (x > 709.782712893384) { return pos_inf(); }
    if (x < -745.1332191019412) { return 0.0; }
    let n = floor(x * 1.4426950408889634 + 0.5);  // (the f64 round builtin is inexact on lavapipe)
    let r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;  // exact split of ln 2
    return scale2_d(1.0 + r * (1.0 + r * (0.5 + r * (0.16666666666666666 + r * (0.041666666666666664 + r * (0.008333333333333333 + r * (0.001388888888888889 + r * (0.0001984126984126984 + r * (2.48015873015873e-05 + r * (2.7557319223985893e-06 + r * (2.755731922398589e-07 + r * (2.505210838544172e-08 + r * (2.08767569878681e-09 + r * (1.6059043836821613e-10 + r * (1.1470745597729725e-11)))))))))))))), i32(n));
}
fn exp2_d(x: f64) -> f64 {
    if (is_nan(x)) { return x; }
    if (x >= 1024.0) { return pos_inf(); }
    if (x < -1080.0) { return 0.0; }
    let n = floor(x + 0.5);
    let r = (x - n) * 0.6931471805599453;
    return scale2_d(1.0 + r * (1.0 + r * (0.5 + r * (0.16666666666666666 + r * (0.041666666666666664 + r * (0.008333333333333333 + r * (0.001388888888888889 + r * (0.0001984126984126984 + r * (2.48015873015873e-05 + r * (2.7557319223985893e-06 + r * (2.755731922398589e-07 + r * (2.505210838544172e-08 + r * (2.08767569878681e-09 + r * (1.6059043836821613e-10 + r * (1.1470745597729725e-11)))))))))))))), i32(n));
}
fn expm1_(x: f64) -> f64 {
    if (abs(x) < 0.5) { return x * (1.0 + x * (0.5 + x * (0.16666666666666666 + x * (0.041666666666666664 + x * (0.008333333333333333 + x * (0.001388888888888889 + x * (0.0001984126984126984 + x * (2.48015873015873e-05 + x * (2.7557319223985893e-06 + x * (2.755731922398589e-07 + x * (2.505210838544172e-08 + x * (2.08767569878681e-09 + x * (1.6059043836821613e-10 + x * (1.1470745597729725e-11 + x * (7.647163731819816e-13 + x * (4.779477332387385e-14 + x * (2.8114572543455206e-15 + x * (1.5619206968586225e-16)))))))))))))))))); }
    if (x > 709.782712893384) { return pos_inf(); }
    return exp_d(x) - 1.0;
}
// log as e ln2 + log(m), m in [sqrt(1/2), sqrt(2)), log(m) = 2 atanh((m - 1) / (m + 1)) by its series.
fn log_parts_d(x: f64) -> vec2<f64> {
    var e = ilogb_d(x);
    var m = ldexp(x, -e);
    if (m > 1.4142135623730951) { m = m * 0.5; e += 1; }
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    let t = 2.0 * s;
    return vec2<f64>(f64(e), t + t * z * (0.3333333333333333 + z * (0.2 + z * (0.14285714285714285 + z * (0.1111111111111111 + z * (0.09090909090909091 + z * (0.07692307692307693 + z * (0.06666666666666667 + z * (0.058823529411764705 + z * (0.05263157894736842 + z * (0.047619047619047616 + z * (0.043478260869565216 + z * (0.04 + z * (0.037037037037037035))))))))))))));
}
fn log_special_d(x: f64) -> bool { return is_nan(x) || x <= 0.0 || is_inf(x); }
fn log_special_value_d(x: f64) -> f64 {
    if (x == 0.0) { return neg_inf(); }
    if (x > 0.0) { return x; }  // +inf
    return nan_f32();
}
fn log_d(x: f64) -> f64 {
    if (log_special_d(x)) { return log_special_value_d(x); }
    let p = log_parts_d(x);
    return p.x * 6.93147180369123816490e-01 + (p.x * 1.90821492927058770002e-10 + p.y);
}
fn log2_d(x: f64) -> f64 {
    if (log_special_d(x)) { return log_special_value_d(x); }
    let p = log_parts_d(x);
    return p.x + p.y * 1.4426950408889634;
}
fn log_(x: f64) -> f64 { return log_d(x); }
// log1p: 2 atanh(x / (2 + x)) by the series of log_parts_d for small |x| (lavapipe folds
// Goldberg's (1 + x) - 1 to x); past 0.25, log(1 + x) loses under 1 ulp to the rounding of 1 + x.
fn log1p_(x: f64) -> f64 {
    if (abs(x) < 1e-300) { return x; }  // (and keeps denormals)
    if (abs(x) < 0.25) {
        let s = x / (2.0 + x);
        let z = s * s;
        let t = 2.0 * s;
        return t + t * z * (0.3333333333333333 + z * (0.2 + z * (0.14285714285714285 + z * (0.1111111111111111 + z * (0.09090909090909091 + z * (0.07692307692307693 + z * (0.06666666666666667 + z * (0.058823529411764705 + z * (0.05263157894736842 + z * (0.047619047619047616 + z * (0.043478260869565216 + z * (0.04 + z * (0.037037037037037035)))))))))))));
    }
    return log_d(1.0 + x);
}
// Payne-Hanek for |x| >= 2^31 pi/2: 2/pi in 24-bit chunks (2/pi = sum C[k] 2^(-24 (k + 1)), 1200 bits),
// x = M 2^E with M a 53-bit integer split in 26 + 27 bits, so every product of a half and a chunk is
// an exact integer; x 2/pi mod 4 is summed as an integer in six 24-bit limbs (weights 2^-22 ...
// 2^-142) by exact steps only (lavapipe reassociates f64 arithmetic: no compensated sums here).
var<private> TWO_OVER_PI_24: array<u32, 50> = array<u32, 50>(
    10680707u, 7228996u, 1387004u, 2578385u, 16069853u, 12639074u, 9804092u, 4427841u, 16666979u, 11263675u,
    12935607u, 2387514u, 4345298u, 14681673u, 3074569u, 13734428u, 16653803u, 1880361u, 10960616u, 8533493u,
    3062596u, 8710556u, 7349940u, 6258241u, 3772886u, 3769171u, 3798172u, 8675211u, 12450088u, 3874808u,
    9961438u, 366607u, 15675153u, 9132554u, 7151469u, 3571407u, 2607881u, 12013382u, 4155038u, 6285869u,
    7677882u, 13102053u, 15825725u, 473591u, 9065106u, 15363067u, 6271263u, 9264392u, 5636912u, 4652155u);
fn reduce_pio2_big_d(ax: f64) -> vec2<f64> {
    let e = ilogb_d(ax);
    let m = scale2_d(ax, 52 - e);  // the significand, an integer in [2^52, 2^53)
    let mh = floor(m * 7.450580596923828e-09);  // (/ 2^27)
    let halves = vec2<f64>(mh, m - mh * 134217728.0);
    var acc: array<f64, 6>;
    for (var k = 0; k < 50; k++) {
        for (var h = 0; h < 2; h++) {
            let w = e - 52 + select(0, 27, h == 0) - 24 * (k + 1);  // weight of the product's unit bit
            if (w >= 2 || w < -193) { continue; }  // a multiple of 4, or below the last limb
            let p = halves[h] * f64(TWO_OVER_PI_24[k]);  // < 2^51: exact
            for (var j = 0; j < 6; j++) {
                let t = scale2_d(p, w + 22 + 24 * j);  // p in units of limb j's lowest bit
                let ft = floor(t);
                acc[j] += ft - floor(ft * 5.960464477539063e-08) * 16777216.0;  // its bits in limb j
            }
        }
    }
    for (var j = 5; j > 0; j--) {  // carries (each limb sum < 2^31)
        let c = floor(acc[j] * 5.960464477539063e-08);
        acc[j] -= c * 16777216.0;
        acc[j - 1] += c;
    }
    let top = acc[0] - floor(acc[0] * 5.960464477539063e-08) * 16777216.0;  // mod 2^24: x 2/pi mod 4
    let n = floor(top * 2.384185791015625e-07 + 0.5);  // nearest quadrant (top / 2^22)
    var f = acc[5] * 1.793662034335766e-43 + acc[4] * 3.009265538105056e-36;  // 2^-142, 2^-118
    f = f + acc[3] * 5.048709793414476e-29 + acc[2] * 8.470329472543003e-22;  // 2^-94, 2^-70
    f = f + acc[1] * 1.4210854715202004e-14;  // 2^-46
    f = f + (top - n * 4194304.0) * 2.384185791015625e-07;  // 2^-22 (top - n 2^22 is exact)
    return vec2<f64>(f * 1.5707963267948966, n - 4.0 * floor(n * 0.25));
}
// sin/cos: x = n pi/2 + r, |r| <= pi/4, pi/2 in eight 21-bit parts: each n * part is exact for
// |n| < 2^31 (|x| < 3.3e9); past that, Payne-Hanek (above).
fn reduce_pio2_d(x: f64) -> vec2<f64> {
    let n = floor(x * 0.6366197723675814 + 0.5);
    if (!(abs(n) < 2147483648.0)) {
        let q = reduce_pio2_big_d(abs(x));
        if (x < 0.0) { return vec2<f64>(-q.x, (4.0 - q.y) - 4.0 * floor((4.0 - q.y) * 0.25)); }
        return q;
    }
    var r = x - n * 1.570796012878418;
    r = r - n * 3.139164164167596e-07;
    r = r - n * 6.223369259164557e-14;
    r = r - n * 2.9127304114676625e-20;
    r = r - n * 1.644624610775752e-26;
    r = r - n * 1.0828565797698601e-32;
    r = r - n * 9.415205271428978e-40;
    r = r - n * 1.168748849336288e-47;
    return vec2<f64>(r, n - 4.0 * floor(n * 0.25));  // (r, quadrant)
}
fn sin_poly_d(r: f64) -> f64 { let z = r * r; return r * (1.0 + z * (-0.16666666666666666 + z * (0.008333333333333333 + z * (-0.0001984126984126984 + z * (2.7557319223985893e-06 + z * (-2.505210838544172e-08 + z * (1.6059043836821613e-10 + z * (-7.647163731819816e-13 + z * (2.8114572543455206e-15 + z * (-8.22063524662433e-18 + z * (1.9572941063391263e-20))))))))))); }
fn cos_poly_d(r: f64) -> f64 { let z = r * r; return 1.0 + z * (-0.5 + z * (0.041666666666666664 + z * (-0.001388888888888889 + z * (2.48015873015873e-05 + z * (-2.755731922398589e-07 + z * (2.08767569878681e-09 + z * (-1.1470745597729725e-11 + z * (4.779477332387385e-14 + z * (-1.5619206968586225e-16 + z * (4.110317623312165e-19)))))))))); }
fn sin_d(x: f64) -> f64 {
    if (is_nan(x) || is_inf(x)) { return nan_f32(); }
    let q = reduce_pio2_d(x);
    let k = i32(q.y);
    if (k == 0) { return sin_poly_d(q.x); }
    if (k == 1) { return cos_poly_d(q.x); }
    if (k == 2) { return -sin_poly_d(q.x); }
    return -cos_poly_d(q.x);
}
fn cos_d(x: f64) -> f64 {
    if (is_nan(x) || is_inf(x)) { return nan_f32(); }
    let q = reduce_pio2_d(x);
    let k = i32(q.y);
    if (k == 0) { return cos_poly_d(q.x); }
    if (k == 1) { return -sin_poly_d(q.x); }
    if (k == 2) { return -cos_poly_d(q.x); }
    return sin_poly_d(q.x);
}
fn tan_d(x: f64) -> f64 {
    if (is_nan(x) || is_inf(x)) { return nan_f32(); }
    let q = reduce_pio2_d(x);
    let s = sin_poly_d(q.x);
    let c = cos_poly_d(q.x);
    return select(s / c, -c / s, (i32(q.y) & 1) == 1);
}
// atan on [0, tan(pi/8)] by its series, after atan(x) = pi/2 - atan(1/x) and pi/4 + atan((x-1)/(x+1)).
fn atan_d(x: f64) -> f64 {
    if (is_nan(x)) { return x; }
    var t = abs(x);
    var hi = f64(0.0);
    var lo = f64(0.0);
    var sgn = f64(1.0);
    if (t > 1.0) { t = 1.0 / t; hi = 1.5707963267948966; lo = 6.123233995736766e-17; sgn = -1.0; }
    if (t > 0.41421356237309503) {
        t = (t - 1.0) / (t + 1.0);
        hi += sgn * 0.7853981633974483;
        lo += sgn * 3.061616997868383e-17;
    }
    let z = t * t;
    let r = hi + (lo + sgn * (t + t * z * (-0.3333333333333333 + z * (0.2 + z * (-0.14285714285714285 + z * (0.1111111111111111 + z * (-0.09090909090909091 + z * (0.07692307692307693 + z * (-0.06666666666666667 + z * (0.058823529411764705 + z * (-0.05263157894736842 + z * (0.047619047619047616 + z * (-0.043478260869565216 + z * (0.04 + z * (-0.037037037037037035 + z * (0.034482758620689655 + z * (-0.03225806451612903 + z * (0.030303030303030304 + z * (-0.02857142857142857 + z * (0.02702702702702703 + z * (-0.02564102564102564 + z * (0.024390243902439025 + z * (-0.023255813953488372 + z * (0.022222222222222223 + z * (-0.02127659574468085)))))))))))))))))))))))));
    return select(r, -r, x < 0.0);
}
// atan2 with C's NaN, signed-zero and infinity cases.
fn atan2_(y: f64, x: f64) -> f64 {
    if (is_nan(x) || is_nan(y)) { return nan_f32(); }
    let ny = signbit_d(y);
    let nx = signbit_d(x);
    var r: f64;
    if (y == 0.0) {
        r = select(f64(0.0), 3.141592653589793, nx);
    } else if (x == 0.0) {
        r = 1.5707963267948966;
    } else if (is_inf(x) && is_inf(y)) {
        r = select(f64(0.7853981633974483), 2.356194490192345, nx);
    } else if (is_inf(x)) {
        r = select(f64(0.0), 3.141592653589793, nx);
    } else if (is_inf(y)) {
        r = 1.5707963267948966;
    } else {
        let a = atan_d(abs(y / x));
        r = select(a, (3.141592653589793 - a) + 1.2246467991473532e-16, nx);
    }
    return select(r, -r, ny);
}
fn asin_(x: f64) -> f64 { return atan2_(x, sqrt((1.0 - x) * (1.0 + x))); }
fn acos_(x: f64) -> f64 { return atan2_(sqrt((1.0 - x) * (1.0 + x)), x); }
fn asin_d(x: f64) -> f64 { return asin_(x); }
fn acos_d(x: f64) -> f64 { return acos_(x); }
fn atan2_d(y: f64, x: f64) -> f64 { return atan2_(y, x); }
fn sinh_d(x: f64) -> f64 {
    let a = abs(x);
    var r: f64;
    if (a < 1.0) { let t = expm1_(a); r = 0.5 * (t + t / (t + 1.0)); }
    else if (a < 709.0) { let e = exp_d(a); r = 0.5 * (e - 1.0 / e); }
    else { let h = exp_d(0.5 * a); r = (0.5 * h) * h; }
    return select(r, -r, x < 0.0);
}
fn cosh_d(x: f64) -> f64 {
    let a = abs(x);
    if (a < 709.0) { let e = exp_d(a); return 0.5 * (e + 1.0 / e); }
    let h = exp_d(0.5 * a);
    return (0.5 * h) * h;
}
fn tanh_(x: f64) -> f64 {
    let a = abs(x);
    if (a > 22.0) { return select(f64(1.0), -1.0, x < 0.0); }
    let t = expm1_(2.0 * a);
    let r = t / (t + 2.0);
    return select(r, -r, x < 0.0);
}
fn tanh_d(x: f64) -> f64 { return tanh_(x); }
fn sigmoid_(x: f64) -> f64 { return 1.0 / (1.0 + exp_d(-x)); }
fn relu_(x: f64) -> f64 { return select(f64(0.0), x, !(x <= 0.0)); }
fn asinh_(x: f64) -> f64 {
    let a = abs(x);
    var r: f64;
    if (a > 268435456.0) { r = log_d(a) + 0.6931471805599453; }
    else { r = log1p_(a + a * a / (1.0 + sqrt(1.0 + a * a))); }
    return select(r, -r, x < 0.0);
}
fn acosh_(x: f64) -> f64 {
    if (!(x >= 1.0)) { return nan_f32(); }
    if (x > 268435456.0) { return log_d(x) + 0.6931471805599453; }
    return log1p_((x - 1.0) + sqrt((x - 1.0) * (x + 1.0)));
}
fn asinh_d(x: f64) -> f64 { return asinh_(x); }
fn acosh_d(x: f64) -> f64 { return acosh_(x); }
fn atanh_d(x: f64) -> f64 { return 0.5 * log1p_(2.0 * x / (1.0 - x)); }
// round half to even (the f64 builtin is wrong on lavapipe: halves, and large values)
fn round_d(x: f64) -> f64 {
    let f = floor(x);
    let d = x - f;
    let odd = f - 2.0 * floor(f * 0.5) == 1.0;
    return select(select(f, f + 1.0, d > 0.5), select(f, f + 1.0, odd), d == 0.5);
}
fn sign_f(x: f64) -> f64 { return select(select(select(f64(0.0), -1.0, x < 0.0), 1.0, x > 0.0), 0.0, is_nan(x)); }
// erf: 2/sqrt(pi) exp(-x^2) sum 2^n x^(2n+1) / (2n+1)!! (positive terms) below 3; above,
// 1 - erfc by erfc's continued fraction. exp(-x^2) carries x^2's rounding error (fma).
fn erf_(x: f64) -> f64 {
    if (is_nan(x)) { return x; }
    let a = abs(x);
    if (a >= 6.0) { return select(f64(1.0), -1.0, x < 0.0); }
    let a2 = a * a;
    let e = exp_d(-a2) * (1.0 - fma(a, a, -a2));
    var r: f64;
    if (a < 3.0) {
        var term = a;
        var sum = a;
        for (var n = 1; n < 120; n++) {
            term = term * 2.0 * a2 / f64(2 * n + 1);
            sum += term;
            if (term < sum * 1e-17) { break; }
        }
        r = 1.1283791670955126 * e * sum;
    } else {
        var k = a;
        for (var n = 60; n >= 1; n--) { k = a + f64(n) * 0.5 / k; }
        r = 1.0 - e * 0.5641895835477563 / k;
    }
    return select(r, -r, x < 0.0);
}
// pow with C's edge cases (as the f32 version); exp2(y log2|x|): the error grows with |y log2 x|.
fn pow_(x: f64, y: f64) -> f64 {
    if (y == 0.0 || x == 1.0) { return 1.0; }
    if (is_nan(x) || is_nan(y)) { return nan_f32(); }
    if (y == 1.0) { return x; }
    if (y == 2.0) { return x * x; }
    if (y == 0.5 && !is_inf(x)) { return sqrt(x); }
    if (x == -1.0 && is_inf(y)) { return 1.0; }
    let y_int = floor(y) == y;
    let ay = abs(y);
    let odd = y_int && ay < 9007199254740992.0 && ay - 2.0 * floor(ay * 0.5) == 1.0;
    let negative = signbit_d(x);
    if (x == 0.0 || is_inf(x)) {
        let mag = select(f64(0.0), pos_inf(), (x == 0.0) == (y < 0.0));
        return select(mag, -mag, negative && odd);
    }
    if (negative && !y_int) { return nan_f32(); }
    let r = exp_d(y * log_d(abs(x)));
    return select(r, -r, negative && odd);
}
fn pow_d(x: f64, y: f64) -> f64 { return pow_(x, y); }
fn copysign_(a: f64, b: f64) -> f64 { return select(abs(a), -abs(a), signbit_d(b)); }
fn hypot_(a: f64, b: f64) -> f64 {
    let x = abs(a);
    let y = abs(b);
    if (is_inf(x) || is_inf(y)) { return pos_inf(); }
    if (is_nan(x) || is_nan(y)) { return nan_f32(); }
    let m = max(x, y);
    if (m == 0.0) { return 0.0; }
    let r = min(x, y) / m;
    return m * sqrt(1.0 + r * r);
}
fn logaddexp_(a: f64, b: f64) -> f64 {
    if (is_nan(a) || is_nan(b)) { return nan_f32(); }
    let m = max(a, b);
    if (is_inf(m)) { return m; }
    return m + log1p_(exp_d(-abs(a - b)));
}
fn logaddexp2_(a: f64, b: f64) -> f64 {
    if (is_nan(a) || is_nan(b)) { return nan_f32(); }
    let m = max(a, b);
    if (is_inf(m)) { return m; }
    return m + log1p_(exp2_d(-abs(a - b))) * 1.4426950408889634;
}
// C's fmod exactly: subtract the largest power-of-two multiple of |b| not above the rest.
fn fmod_(a: f64, b: f64) -> f64 {
    if (is_nan(a) || is_nan(b) || is_inf(a) || b == 0.0) { return nan_f32(); }
    let y = abs(b);
    var r = abs(a);
    if (is_inf(b) || r < y) { return a; }
    let ey = ilogb_d(y);
    for (var k = 0; k < 2200 && r >= y; k++) {
        var t = ldexp(y, ilogb_d(r) - ey);
        if (t > r) { t = t * 0.5; }
        r = r - t;
    }
    return select(r, -r, signbit_d(a));
}
fn floordiv_f(a: f64, b: f64) -> f64 {
    if (b == 0.0) { return a / b; }
    let m = fmod_(a, b);
    var q = (a - m) / b;
    if (!(m == 0.0) && ((b < 0.0) != (m < 0.0))) { q -= 1.0; }
    if (q == 0.0) { return select(f64(0.0), -1.0 * abs(q), a / b < 0.0); }
    let f = floor(q);
    return select(f, f + 1.0, q - f > 0.5);
}
fn rem_f(a: f64, b: f64) -> f64 {
    let m = fmod_(a, b);
    return select(m, m + b, !(m == 0.0) && ((b < 0.0) != (m < 0.0)));
}
// The names the registry's f32 expressions call for sin/cos/tan (their exact range reduction in
// f32 is below the block); over f64 these are the block's own.
fn sin_(x: f64) -> f64 { return sin_d(x); }
fn cos_(x: f64) -> f64 { return cos_d(x); }
fn tan_(x: f64) -> f64 { return tan_d(x); }
//@f64 end
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
