"""Folding the elementwise ops that follow a matmul into the matmul's store (graph fusion).

A captured matmul dispatch followed by elementwise dispatches that each read only the previous
one's result at the same element (and scalars) — ReLU, GELU, ``* 2 + 1`` ... — becomes the matmul
with those ops applied in its epilogue (`matmul.with_activation`), storing the last op's result
where that op stored it (always: e.g. the ReLU output backward reads). A first op that adds another
tensor to the product (``x @ w + b`` written as two ops, any broadcast the kernel's batch/row/column
strides can read) becomes the epilogue's bias, when the matmul has none and the bare product dies
in the capture. The value before the chain (the product, or product + bias) is stored too where it
is still read after the chain (ReLU's backward reads its input: `Epilogue.keep`), where the op that
made it stored it; the chain's other intermediates must have died inside the capture by its end
(or be overwritten in place by its last op), else the chain is cut before them. Each op is the
registry's own WGSL expression on the value the previous kernel stored, so a replay gives what
eager gives, bit for bit: float32, and float16 (the product rounded to f16 as the matmul stores it,
each op computed in f32 on f16 operands and rounded to f16, its opmath scalars kept f32, as the
elementwise kernels do). The last op's output must be contiguous over the product's elements and
not overlap what the matmul reads (nor, when the value before the chain is kept, that value).
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


_SIZE = {"f32": 4, "f16": 2}


def _extent(size: int, off: int, strides, sizes) -> tuple[int, int]:
    """Bytes [lo, hi) an operand of ``size``-byte elements read through ``strides`` over ``sizes`` spans."""
    last = off + sum((n - 1) * s for n, s in zip(sizes, strides) if n > 0)
    return size * off, size * (last + 1)


def _split(walk, dims) -> tuple | None:
    """Per dim of ``dims`` (outermost first, row-major over the same elements), the stride that
    reads what ``walk`` (fusion's canonical (size, stride) walk of the linear index) reads; None
    where one stride per dim can't (a walk dim split unevenly across two of them)."""
    rest = list(walk)
    out = []
    for d in reversed(dims):
        if d == 1:
            out.append(0)
            continue
        while rest and rest[-1][0] == 1:
            rest.pop()
        if not rest or rest[-1][0] % d:
            return None
        n, s = rest.pop()
        out.append(s)
        if n > d:
            rest.append((n // d, s * d))
    if any(n != 1 for n, _s in rest):
        return None
    return tuple(reversed(out))


def fold(rt, ops: list, i: int, lives, no_fuse, decode, const, tc_pattern):
    """(the folded record, how many records it replaces), or None where ``ops[i]`` is no matmul
    whose store can take the elementwise ops after it. ``decode``/``const``/``tc_pattern`` are
    fusion.py's decoder of an elementwise record, scalar constant and ``TC`` pattern."""
    record = ops[i]
    p = record[0]
    info = MATMULS.get(p) if hasattr(p, "name") else None
    if info is None or info[0].wgsl not in _SIZE or (info[4] is not None and info[4].act):
        return None
    ts, half = info[0].wgsl, info[0].wgsl == "f16"
    size = _SIZE[ts]
    buffers, raw = record[1], record[2]
    meta = list(META.unpack_from(raw))
    m, n, k, groups, tiles_m, tiles_n, c_off = meta[:7]
    batch = groups // (tiles_m * tiles_n)
    numel = batch * m * n
    walk = ((numel, 1),) if numel > 1 else ()
    loc = (buffers[0], size, c_off, walk)
    values = [(loc, i)]  # (where each value of the chain is stored, by which dispatch)
    chain = []
    bias = None  # (the added tensor's _Access, its batch/row/column strides) when the first op is a bias add
    j = i + 1
    while j < len(ops) and j not in no_fuse and len(chain) < MAX_CHAIN:
        op = decode(ops[j])
        if op is None or op.numel != numel:
            break
        name, tc, types, _layout, _ndim, op_half, _wide, _result = op.info
        if tc != "f32" or op_half != half or any(t != ts for t in types):
            break
        if op.out.loc[1:] != (size, op.out.offset, walk):
            break
        reads = [a for a in op.args if type(a) is not int]
        if not chain and info[4] is None and name == "add" and len(reads) == 2:
            bias = _bias(reads, values[0][0], (batch, m, n))
            if bias is None:
                break
        elif len(reads) != 1 or reads[0].loc != values[-1][0]:
            break
        chain.append(op)
        values.append((op.out.loc, j))
        j += 1

    # the longest prefix whose unwritten values die inside the capture by its end
    def dead(value, end, final):
        (buf, _size, off, _walk), at = value
        if value[0] == final:
            return True  # overwritten in place by a later op of the chain
        life = lives.life_of(buf, size * off, size * (off + numel), at)
        return life is not None and life[1] <= end

    base = 1 if bias is not None else 0  # values[base]: the value before the activations
    length = len(chain)
    while length > base and not all(dead(v, i + length + 1, values[length][0]) for v in values[base + 1 : length]):
        length -= 1
    if not length:
        return None
    end = i + length + 1
    out_loc = values[length][0]
    if bias is not None and not dead(values[0], end, values[1][0]):
        return None  # the bare product is read later: with the bias folded it would never be stored
    keep = length > base and not dead(values[base], end, out_loc)  # read later: store it too
    if len(buffers) + (bias is not None) + keep + 1 > rt.limits.get("max-storage-buffers-per-shader-stage", 8):
        return None
    a_off, a_sb, a_sm, a_sk, b_off, b_sb, b_sk, b_sn, e_off, e_sb, e_sm, e_sn = meta[8:20]
    reads = [
        (buffers[1], _extent(size, a_off, (a_sb, a_sm, a_sk), (batch, m, k))),
        (buffers[3], _extent(size, b_off, (b_sb, b_sk, b_sn), (batch, k, n))),
    ]
    if len(buffers) > 5:
        reads.append((buffers[5], _extent(size, e_off, (e_sb, e_sm, e_sn), (batch, m, n))))
    if bias is not None:
        e, strides = bias
        reads.append((e.buffer, _extent(size, e.offset, strides, (batch, m, n))))
    c_buf, c_off = values[base][0][0], values[base][0][2]  # where the value before the activations goes
    out_buf, out_off = out_loc[0], out_loc[2]
    c_range = (size * c_off, size * (c_off + numel))
    writes = [(out_buf, (size * out_off, size * (out_off + numel)), reads + [(c_buf, c_range)] * keep)]
    if keep and (c_buf, c_off) != (buffers[0], meta[6]):  # C moved to the bias add's output: not the matmul's own
        writes.append((c_buf, c_range, reads))
    for w_buf, (lo, hi), seen in writes:
        if any(buf is w_buf and r_lo < hi and lo < r_hi for buf, (r_lo, r_hi) in seen):
            return None  # threads would overwrite what others still read

    funcs, body = [], []
    for q, op in enumerate(chain[base:length]):
        _name, tc, _types, _layout, _ndim, op_half, wide, result = op.info
        params, args = [], []
        for kk, (letter, a) in enumerate(zip("abc", op.args)):
            params.append(f"{letter}: f32")
            if type(a) is int:
                value = const(op.raw, tc, a)
                args.append(f"f32(f16({value}))" if op_half and kk not in wide else f"f32({value})")
            else:
                args.append(f"v{q}")  # the previous value, as its op stored it (f16 values are exact in f32)
        stored = tc_pattern.sub("f32", result)  # in the storage type: f16(...) rounds as the op's kernel stores
        funcs.append(f"fn fz_op{q}({', '.join(params)}) -> f32 {{\n    return f32({stored});\n}}")
        body.append(f"    let v{q + 1} = fz_op{q}({', '.join(args)});")
    acts = length - base
    act = ""  # a bias add alone: the identity
    if acts:
        act = "\n".join([_helpers(), *funcs, "fn act(v0: f32) -> f32 {", *body, f"    return v{acts};", "}"])
    label = "matmul+" + "+".join(op.info[0] for op in chain[:length])
    folded = with_activation(rt, p, act, keep, label, bias=bias is not None)
    if folded is None:
        return None
    new_buffers = list(buffers)
    if bias is not None:
        e, strides = bias
        meta[16:20] = [e.offset, *strides]
        new_buffers.append(e.buffer)
    if keep:
        meta[6], meta[7] = c_off, out_off
        new_buffers[0] = c_buf
        new_buffers.append(out_buf)
    else:
        meta[6] = out_off
        new_buffers[0] = out_buf
    return (folded, tuple(new_buffers), META.pack(*meta) + raw[META.size :], record[3], record[4]), length + 1


def _bias(reads: list, product, dims) -> tuple | None:
    """(the other operand, its strides over ``dims``) when an add of two reads adds a tensor to the
    product's element (either order) that the matmul's store can read through strides; else None."""
    a, b = reads
    if b.loc == product:
        a, b = b, a
    buf, size, off, _walk = product
    numel = dims[0] * dims[1] * dims[2]
    if a.loc != product or (b.buffer is buf and b.lo < size * (off + numel) and size * off < b.hi):
        return None  # (the bare product is not stored with the bias folded: E may not read it)
    strides = _split(b.walk, dims)
    return None if strides is None else (b, strides)


__all__ = ["MAX_CHAIN", "fold"]
