"""int64 results out of int32's range, where wgpu stores int64 in 32 bits (an adapter without
shader-int64): the kernels whose output is int64 check each result they store and report an
overflow through the runtime's error buffer (device_errors.py), so the next read raises
RuntimeError instead of handing back a wrapped value (PyTorch's int64 would not wrap there).

Only those kernels pay for the check. This module holds all of it: which outputs are checked,
the overflow test of each elementwise op (exact, in i32: sign tests for add/sub, a division
check for mul), the WGSL helpers and the report, and the exception."""

from __future__ import annotations

from ..._dtype import dtype, int64

ERR_INT64_RANGE = 0x501
_WHERE = {1: "an elementwise op", 2: "a reduction", 3: "a cumulative op"}

# (a, b: the op's operands as loaded in i32) -> true where the exact result leaves int32
ELEMENTWISE_OVERFLOW = {
    "add": "ovf_add_(a, b)",
    "sub": "ovf_sub_(a, b)",
    "mul": "ovf_mul_(a, b)",
    "square": "ovf_mul_(a, a)",
    "neg": "a == I32_MIN_",
    "abs": "a == I32_MIN_",
    "pow": "ovf_pow_(a, b)",
    "floor_divide": "(a == I32_MIN_ && b == -1)",
    "gcd": "(a == I32_MIN_ && (b == 0 || b == I32_MIN_)) || (b == I32_MIN_ && a == 0)",
    "lcm": "ovf_lcm_(a, b)",
}


def checks_int64_range(be, out_dtype: dtype) -> bool:
    """Whether a kernel of backend ``be`` storing ``out_dtype`` must check its results: int64 held in
    i32 (``be.wgsl``: int64 is i64 where the adapter has shader-int64, and then nothing is checked)."""
    return out_dtype is int64 and be.wgsl[out_dtype] == "i32"


def overflow_helpers(slot: str, where: int) -> str:
    """WGSL: the i32 overflow tests and ``report_int64_range()``, which records code
    ERR_INT64_RANGE (word 0) and ``where`` (word 1) in the error-buffer slot ``slot`` (a WGSL
    expression; the kernel binds the buffer as ``err``)."""
    return f"""
const I32_MIN_: i32 = -2147483647 - 1;
fn ovf_add_(a: i32, b: i32) -> bool {{ let s = a + b; return ((a ^ s) & (b ^ s)) < 0; }}
fn ovf_sub_(a: i32, b: i32) -> bool {{ let d = a - b; return ((a ^ b) & (a ^ d)) < 0; }}
fn ovf_mul_(a: i32, b: i32) -> bool {{
    if (a == 0) {{ return false; }}
    let p = a * b;  // wraps; dividing back tells (MIN / -1 is MIN in WGSL, hence the last test)
    return p / a != b || (a == -1 && b == I32_MIN_);
}}
fn ovf_pow_(x: i32, y: i32) -> bool {{
    if (y < 0 || x == 0 || x == 1 || x == -1) {{ return false; }}
    if (y >= 32) {{ return true; }}  // |x| >= 2
    var r = 1;
    for (var k = 0; k < y; k++) {{
        if (ovf_mul_(r, x)) {{ return true; }}
        r = r * x;
    }}
    return false;
}}
fn ovf_lcm_(x: i32, y: i32) -> bool {{
    if (x == 0 || y == 0) {{ return false; }}
    var a = x;
    var b = y;
    for (var k = 0; k < 64 && a != 0; k++) {{  // gcd, as gcd_i, on the raw values
        let c = a;
        a = b % a;
        b = c;
    }}
    let g = abs(b);
    if (g == I32_MIN_) {{ return true; }}  // x and y are both MIN: the lcm is 2**31
    let q = x / g;
    return ovf_mul_(q, y) || q * y == I32_MIN_;  // |q * y| must fit too
}}
fn report_int64_range() {{
    let e = u32({slot}) * 4u;
    loop {{  // the first report in the slot wins (a weak exchange may also fail spuriously)
        let r = atomicCompareExchangeWeak(&err[e], 0u, {ERR_INT64_RANGE}u);
        if (r.exchanged) {{ atomicStore(&err[e + 1u], {where}u); return; }}
        if (r.old_value != 0u) {{ return; }}
    }}
}}
"""


def int64_range_error(words) -> RuntimeError:
    where = _WHERE.get(int(words[1]), "a kernel")
    return RuntimeError(
        "int64 result out of the int32 range wgpu stores int64 in on this adapter (no shader-int64): "
        f"{where} gave a value past [-2**31, 2**31 - 1] (reported at the first read or synchronize after "
        "the op, as device-side errors are)"
    )


__all__ = ["ERR_INT64_RANGE", "ELEMENTWISE_OVERFLOW", "checks_int64_range", "overflow_helpers",
           "int64_range_error"]
