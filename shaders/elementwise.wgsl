// Elementwise kernels: out[i] = EXPR(a, b, c) over a broadcast, strided index space.
//
// The host (wgtorch/_backends/wgpu/elementwise.py) prepends:
//   TC   the compute type (f32, i32 or u32 for bool); f16 storage computes in f32; f64 (shader-f64)
//        kernels are this file in kernels.py's f64 mode (the //@f32 sections are dropped)
//   TO   the output storage type
//   NDIM 0 when every operand is contiguous (offsets are base + i), else the number of
//        dimensions left after merging the ones all operands traverse contiguously
//   WG   the workgroup size
// and fills the BINDINGS marker (binding 1 is `out`, inputs follow), LOADS (let a/b/c = ...)
// and STORE. Scalar operands come from P.scalar_f / P.scalar_i.

// struct Meta and its binding P come from the family's ParamBlock (elementwise.py).

{{BINDINGS}}

// Element offset of operand k for linear output index i.
fn at(k: u32, i: u32) -> u32 {
    if (NDIM == 0) {
        return P.offset[k] + i;
    }
    var rem = i;
    var off = P.offset[k];
    for (var d = NDIM - 1; d >= 0; d--) {
        let n = P.shape[d];
        off += (rem % n) * P.stride[k][d];
        rem = rem / n;
    }
    return off;
}

// ---- helpers (is_nan, max_nan, tanh_ ... are in prelude.wgsl) ----
//@f32 begin  (f32 helpers; f64 kernels get the same names from prelude.wgsl's f64 block)
// erf: Abramowitz & Stegun 7.1.26, |error| < 1.5e-7 (the NumPy backend uses the same formula).
fn erf_(x: f32) -> f32 {
    let a = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
                   + 0.254829592) * t * exp(-a * a);
    return select(y, -y, x < 0.0);
}

// log(1 + x) for |x| < 0.01 by its series (error < x^7): some drivers' log is off by ~2e-8 near 1
// (lavapipe), which is most of the digits of log1p(1e-5) or log(1.0001).
fn log1p_series(x: f32) -> f32 {
    return x * (1.0 - x * (0.5 - x * (0.3333333333 - x * (0.25 - x * (0.2 - x * 0.1666666667)))));
}

fn log1p_(x: f32) -> f32 {
    if (abs(x) < 0.01) { return log1p_series(x); }
    let u = 1.0 + x;
    if (u == 1.0) { return x; }
    if (is_inf(u)) { return log(u); }  // +inf stays inf, -inf gives NaN
    return log(u) * (x / (u - 1.0));
}

// exp(x) - 1 alone loses the low digits for |x| < 0.5 (1e-4 relative at x = 1e-3): there, the
// Taylor series to x^9 (the next term is under float32's half ulp).
fn expm1_(x: f32) -> f32 {
    if (abs(x) < 0.5) {
        return x * (1.0 + x * (0.5 + x * (0.16666667 + x * (0.041666668 + x * (0.008333334 + x * (0.0013888889
            + x * (0.00019841270 + x * (2.4801587e-05 + x * 2.7557319e-06))))))));
    }
    return exp(x) - 1.0;
}

// pow with PyTorch's (C's) edge cases: negative bases with integral exponents, x^0 = 1.
fn pow_(x: f32, y: f32) -> f32 {
    if (y == 0.0 || x == 1.0) { return 1.0; }
    if (is_nan(x) || is_nan(y)) { return nan_f32(); }
    if (y == 1.0) { return x; }
    if (y == 2.0) { return x * x; }
    if (y == 0.5 && !is_inf(x)) { return sqrt(x); }
    if (x == -1.0 && is_inf(y)) { return 1.0; }
    let y_int = floor(y) == y;
    let odd = y_int && abs(y) < 16777216.0 && (i32(abs(y)) & 1) == 1;
    let negative = (bitcast<u32>(x) & 0x80000000u) != 0u;  // -0.0 included
    if (x == 0.0 || is_inf(x)) {  // 0 or inf by the signs of x and y; negative for odd y only
        let mag = select(0.0, bitcast<f32>(0x7f800000u), (x == 0.0) == (y < 0.0));
        return select(mag, -mag, negative && odd);
    }
    if (negative && !y_int) { return nan_f32(); }
    let r = exp2(y * log2(abs(x)));
    return select(r, -r, negative && odd);
}

//@f32 end
// Integer powers, exact and wrapping on overflow as PyTorch's: square-and-multiply. A negative
// exponent gives 0 but for bases 1 and -1 (the host refuses negative scalar exponents first).
fn ipow_(x: i32, y: i32) -> i32 {
    if (y < 0) {
        if (x == 1) { return 1; }
        if (x == -1) { return select(1, -1, (y & 1) == 1); }
        return 0;
    }
    var result = 1;
    var base = x;
    var e = y;
    while (e > 0) {
        if ((e & 1) == 1) { result = result * base; }
        base = base * base;
        e = e >> 1u;
    }
    return result;
}

//@f32 begin
// atan2 with C's NaN and signed-zero cases (the builtin misses both on some drivers).
fn atan2_(y: f32, x: f32) -> f32 {
    if (is_nan(x) || is_nan(y)) { return nan_f32(); }
    if (y == 0.0) {
        let x_negative = (bitcast<u32>(x) & 0x80000000u) != 0u;
        let pi = select(3.14159265358979, -3.14159265358979, (bitcast<u32>(y) & 0x80000000u) != 0u);
        return select(y, pi, x_negative);
    }
    return atan2(y, x);
}

fn copysign_(a: f32, b: f32) -> f32 {
    return bitcast<f32>((bitcast<u32>(a) & 0x7fffffffu) | (bitcast<u32>(b) & 0x80000000u));
}
// sqrt(a² + b²) without overflow or underflow on the way; inf wins over NaN, as in C.
fn hypot_(a: f32, b: f32) -> f32 {
    let x = abs(a);
    let y = abs(b);
    if (is_inf(x) || is_inf(y)) { return bitcast<f32>(0x7f800000u); }
    if (is_nan(x) || is_nan(y)) { return nan_f32(); }
    let m = max(x, y);
    if (m == 0.0) { return 0.0; }
    let r = min(x, y) / m;
    return m * sqrt(1.0 + r * r);
}
fn logaddexp_(a: f32, b: f32) -> f32 {
    if (is_nan(a) || is_nan(b)) { return nan_f32(); }
    let m = max(a, b);
    if (is_inf(m)) { return m; }  // +inf, or both -inf
    return m + log1p_(exp(-abs(a - b)));
}
// asin/acos through atan2: some drivers' builtins are off by 4e-4 (lavapipe: asin(0.5)).
fn asin_(x: f32) -> f32 { return atan2_(x, sqrt((1.0 - x) * (1.0 + x))); }
fn acos_(x: f32) -> f32 { return atan2_(sqrt((1.0 - x) * (1.0 + x)), x); }
// log of a positive denormal from its bits: some drivers (lavapipe) flush denormal inputs of log
// to the smallest normal. x = bits * 2^-149, so log(x) = log(bits) - 149 ln 2.
fn log_(x: f32) -> f32 {
    let bits = bitcast<u32>(x);
    if (bits > 0u && bits < 0x00800000u) { return log(f32(bits)) - 103.27892990343185; }
    if (abs(x - 1.0) < 0.01) { return log1p_series(x - 1.0); }  // x - 1 is exact here
    return log(x);
}
// asinh/acosh without the overflow of x*x for huge x (the builtins give inf past ~1.8e19), and
// acosh(x < 1) NaN on every driver.
fn asinh_(x: f32) -> f32 {
    let a = abs(x);
    var r: f32;
    if (a > 1e18) { r = log_(a) + 0.6931471805599453; }
    else { r = log1p_(a + a * a / (1.0 + sqrt(1.0 + a * a))); }
    return select(r, -r, x < 0.0);
}
fn acosh_(x: f32) -> f32 {
    if (!(x >= 1.0)) { return nan_f32(); }
    if (x > 1e18) { return log_(x) + 0.6931471805599453; }
    return log(x + sqrt((x - 1.0) * (x + 1.0)));
}
fn sign_f(x: f32) -> f32 { return select(sign(x), 0.0, is_nan(x)); }  // sign(NaN) = 0, as in PyTorch

//@f32 end
// (outside the f32 section: in f64 kernels this is the same code over f64)
// lerp as PyTorch computes it: fma(w, end - start, start) for |w| < 0.5, else fma(w - 1, end -
// start, end). A driver may split fma (lavapipe does), so a product that overflows where the
// fused one would not is redone scaled by 2^-64 (exact: powers of two).
fn lerp_(a: f32, b: f32, w: f32) -> f32 {
    let small = abs(w) < 0.5;
    let c = select(w - 1.0, w, small);
    let base = select(b, a, small);
    let d = b - a;
    let r = fma(c, d, base);
    if (is_inf(r) && !is_inf(c) && !is_inf(d) && !is_inf(base)) {
        let k = 5.421010862427522e-20;
        return (c * (d * k) + base * k) * 18446744073709551616.0;
    }
    return r;
}
// Python/PyTorch floor division and remainder on integers (WGSL's / and % truncate).
fn floordiv_i(a: i32, b: i32) -> i32 {
    let q = a / b;
    return select(q, q - 1, (a % b != 0) && ((a < 0) != (b < 0)));
}
fn rem_i(a: i32, b: i32) -> i32 {
    let r = a % b;
    return select(r, r + b, (r != 0) && ((r < 0) != (b < 0)));
}
//@f32 begin
// Float floor division and remainder as PyTorch computes them, from C's fmod (a finite a
// over an infinite b keeps a), so infinities and signs match the NumPy backend.
fn fmod_(a: f32, b: f32) -> f32 {
    // C's fmod, exactly: WGSL's % is a - b * trunc(a / b), which loses the result once a / b is large.
    // Subtract the largest power-of-two multiple of |b| not above the rest; each step is exact.
    if (is_nan(a) || is_nan(b) || is_inf(a) || b == 0.0) { return nan_f32(); }
    let y = abs(b);
    var r = abs(a);
    if (is_inf(b) || r < y) { return a; }
    for (var k = 0; k < 300 && r >= y; k++) {
        var t = ldexp(y, frexp(r).exp - frexp(y).exp);
        if (t > r) { t = t * 0.5; }
        r = r - t;
    }
    return select(r, -r, (bitcast<u32>(a) & 0x80000000u) != 0u);
}
fn floordiv_f(a: f32, b: f32) -> f32 {
    if (b == 0.0) { return a / b; }
    let m = fmod_(a, b);
    var q = (a - m) / b;
    if (!(m == 0.0) && ((b < 0.0) != (m < 0.0))) { q -= 1.0; }
    if (q == 0.0) { return select(0.0, bitcast<f32>(0x80000000u), a / b < 0.0); }
    let f = floor(q);
    return select(f, f + 1.0, q - f > 0.5);
}
fn rem_f(a: f32, b: f32) -> f32 {
    let m = fmod_(a, b);
    return select(m, m + b, !(m == 0.0) && ((b < 0.0) != (m < 0.0)));
}

//@f32 end
// gcd and lcm as PyTorch's calc_gcd: Euclid on |a|, |b| with C's truncating % (|i32 min| stays
// negative, as in C); at most 47 steps for 32-bit values.
fn gcd_i(x: i32, y: i32) -> i32 {
    var a = abs(x);
    var b = abs(y);
    for (var k = 0; k < 64 && a != 0; k++) {
        let c = a;
        a = b % a;
        b = c;
    }
    return b;
}
fn lcm_i(x: i32, y: i32) -> i32 {
    let g = gcd_i(x, y);
    if (g == 0) { return 0; }
    return abs((x / g) * y);  // i32 multiplication wraps, as PyTorch's does
}
//@f32 begin
// log2(2^a + 2^b) = m + log2(1 + 2^-|a - b|)
fn logaddexp2_(a: f32, b: f32) -> f32 {
    if (is_nan(a) || is_nan(b)) { return nan_f32(); }
    let m = max(a, b);
    if (is_inf(m)) { return m; }  // +inf, or both -inf
    return m + log1p_(exp2(-abs(a - b))) * 1.4426950408889634;
}

//@f32 end
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * u32(WG);
    if (i >= P.numel) {
        return;
    }
{{LOADS}}
{{STORE}}
}
//@i64 begin  (kept only in kernels that compute in i64: shader-int64; kernels.py drops it elsewhere)
// The integer helpers above over i64, for int64 tensors stored natively.
// WGSL defines x / 0 = x, x % 0 = 0 and MIN / -1 = MIN, MIN % -1 = 0 (PyTorch's values too), but
// for i64 naga leaves the guards out and lavapipe's division traps (SIGFPE). A branch is no guard
// (SIMD lanes run both sides): divide by a safe divisor and select.
fn div_64(a: i64, b: i64) -> i64 {
    let odd = b == 0li || b == -1li;
    let q = a / select(b, 1li, odd);
    return select(q, select(-a, a, b == 0li), odd);  // (-MIN wraps to MIN)
}
fn mod_64(a: i64, b: i64) -> i64 {
    let odd = b == 0li || b == -1li;
    return select(a % select(b, 1li, odd), 0li, odd);
}
fn ipow__64(x: i64, y: i64) -> i64 {
    if (y < 0li) {
        if (x == 1li) { return 1li; }
        if (x == -1li) { return select(1li, -1li, (y & 1li) == 1li); }
        return 0li;
    }
    var result = 1li;
    var base = x;
    var e = y;
    while (e > 0li) {
        if ((e & 1li) == 1li) { result = result * base; }
        base = base * base;
        e = e >> 1u;
    }
    return result;
}
// (the sign tests use r and b ^ r, not a: lavapipe folds `a < 0` of an i64 widened from an i32
// load as if it were zero-extended, so floor division of a negative int32 by an int64 truncated)
fn floordiv_i_64(a: i64, b: i64) -> i64 {
    let q = div_64(a, b);
    let r = a - q * b;
    return select(q, q - 1li, (r != 0li) && ((r ^ b) < 0li));
}
fn rem_i_64(a: i64, b: i64) -> i64 {
    let r = mod_64(a, b);
    return select(r, r + b, (r != 0li) && ((r ^ b) < 0li));  // (b ^ r: see floordiv_i_64)
}
// at most 93 Euclid steps for 64-bit values
fn gcd_i_64(x: i64, y: i64) -> i64 {
    var a = abs(x);
    var b = abs(y);
    for (var k = 0; k < 128 && a != 0li; k++) {
        let c = a;
        a = mod_64(b, a);
        b = c;
    }
    return b;
}
fn lcm_i_64(x: i64, y: i64) -> i64 {
    let g = gcd_i_64(x, y);
    if (g == 0li) { return 0li; }
    return abs(div_64(x, g) * y);  // i64 multiplication wraps, as PyTorch's does
}
//@i64 end
