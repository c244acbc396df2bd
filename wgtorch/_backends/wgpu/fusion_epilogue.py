"""Folding the elementwise ops that follow a matmul into the matmul's store (graph fusion).

A captured matmul dispatch followed by elementwise dispatches that each read only the previous
one's result at the same element (and scalars) — ReLU, GELU, ``* 2 + 1`` ... — becomes the matmul
with those ops applied in its epilogue (`matmul.with_activation`), storing the last op's result
where that op stored it (always: e.g. the ReLU output backward reads). The matmul's own output is
stored too where it is still read after the chain (ReLU's backward reads its input: `Epilogue.keep`);
the chain's intermediates must have died inside the capture by its end (or be overwritten in place
by its last op), else the chain is cut before them. Each op is the registry's own WGSL expression
on the f32 value the previous kernel stored, so a replay gives what eager gives, bit for bit
(float32 only: a float16 chain, whose ops round between steps, is left to the elementwise fusion).
The last op's output must be contiguous over the product's elements and not overlap what the
matmul reads (nor, when the product is kept, the product).
"""

from __future__ import annotations

from .kernels import family_source
from .matmul import MATMULS, META, with_activation

MAX_CHAIN = 8  # ops folded into one matmul's store


def _helpers() -> str:
    """elementwise.wgsl's helper functions (erf_, log1p_ ...), which the registry's expressions call."""
    src = family_source("elementwise")
    start = src.index("// ---- helpers")
    return src[start : src.index("@compute", start)]


def _extent(off: int, strides, sizes) -> tuple[int, int]:
    """Bytes [lo, hi) an f32 operand read through ``strides`` over ``sizes`` spans."""
    last = off + sum((n - 1) * s for n, s in zip(sizes, strides) if n > 0)
    return 4 * off, 4 * (last + 1)


def fold(rt, ops: list, i: int, lives, no_fuse, decode, const, tc_pattern):
    """(the folded record, how many records it replaces), or None where ``ops[i]`` is no matmul
    whose store can take the elementwise ops after it. ``decode``/``const``/``tc_pattern`` are
    fusion.py's decoder of an elementwise record, scalar constant and ``TC`` pattern."""
    record = ops[i]
    p = record[0]
    info = MATMULS.get(p) if hasattr(p, "name") else None
    if info is None or info[0].wgsl != "f32" or (info[4] is not None and info[4].act):
        return None
    buffers, raw = record[1], record[2]
    meta = list(META.unpack_from(raw))
    m, n, k, groups, tiles_m, tiles_n, c_off = meta[:7]
    batch = groups // (tiles_m * tiles_n)
    numel = batch * m * n
    walk = ((numel, 1),) if numel > 1 else ()
    loc = (buffers[0], 4, c_off, walk)
    values = [(loc, i)]  # (where each value of the chain is stored, by which dispatch)
    chain = []
    j = i + 1
    while j < len(ops) and j not in no_fuse and len(chain) < MAX_CHAIN:
        op = decode(ops[j])
        if op is None or op.numel != numel:
            break
        _name, tc, types, _layout, _ndim, half, _wide, _result = op.info
        if tc != "f32" or half or any(t != "f32" for t in types):
            break
        reads = [a for a in op.args if type(a) is not int]
        if len(reads) != 1 or reads[0].loc != values[-1][0] or op.out.loc[1:] != (4, op.out.offset, walk):
            break
        chain.append(op)
        values.append((op.out.loc, j))
        j += 1

    # the longest prefix whose unwritten values die inside the capture by its end
    def dead(value, end, final):
        (buf, _size, off, _walk), at = value
        if value[0] == final:
            return True  # overwritten in place by the last op
        life = lives.life_of(buf, 4 * off, 4 * (off + numel), at)
        return life is not None and life[1] <= end

    length = len(chain)
    while length and not all(dead(v, i + length + 1, values[length][0]) for v in values[1:length]):
        length -= 1
    if not length:
        return None
    out_loc = values[length][0]
    keep = not dead(values[0], i + length + 1, out_loc)  # the product is read later: store it too
    if len(buffers) + keep + 1 > rt.limits.get("max-storage-buffers-per-shader-stage", 8):
        return None
    out_buf, out_off = out_loc[0], out_loc[2]
    lo, hi = 4 * out_off, 4 * (out_off + numel)
    a_off, a_sb, a_sm, a_sk, b_off, b_sb, b_sk, b_sn, e_off, e_sb, e_sm, e_sn = meta[8:20]
    reads = [
        (buffers[1], _extent(a_off, (a_sb, a_sm, a_sk), (batch, m, k))),
        (buffers[3], _extent(b_off, (b_sb, b_sk, b_sn), (batch, k, n))),
    ]
    if len(buffers) > 5:
        reads.append((buffers[5], _extent(e_off, (e_sb, e_sm, e_sn), (batch, m, n))))
    if keep:
        reads.append((buffers[0], (4 * c_off, 4 * (c_off + numel))))  # other threads' elements of C
    if any(buf is out_buf and r_lo < hi and lo < r_hi for buf, (r_lo, r_hi) in reads):
        return None  # threads would overwrite what others still read

    funcs, body = [], []
    for q, op in enumerate(chain[:length]):
        _name, tc, _types, _layout, _ndim, _half, _wide, result = op.info
        params, args = [], []
        for letter, a in zip("abc", op.args):
            params.append(f"{letter}: f32")
            args.append(f"f32({const(op.raw, tc, a)})" if type(a) is int else f"v{q}")
        funcs.append(f"fn fz_op{q}({', '.join(params)}) -> f32 {{\n    return {tc_pattern.sub('f32', result)};\n}}")
        body.append(f"    let v{q + 1} = fz_op{q}({', '.join(args)});")
    act = "\n".join([_helpers(), *funcs, "fn act(v0: f32) -> f32 {", *body, f"    return v{length};", "}"])
    folded = with_activation(rt, p, act, keep, "matmul+" + "+".join(op.info[0] for op in chain[:length]))
    if folded is None:
        return None
    if keep:
        meta[7] = out_off
        new_buffers = (*buffers, out_buf)
    else:
        meta[6] = out_off
        new_buffers = (out_buf, *buffers[1:])
    return (folded, new_buffers, META.pack(*meta) + raw[META.size :], record[3], record[4]), length + 1


__all__ = ["MAX_CHAIN", "fold"]
