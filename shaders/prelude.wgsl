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
