"""Elementwise fusion of a captured wgpu graph, and the liveness its memory plan keeps.

At the end of a capture (`graph.Graph.capture_end`), runs of consecutive elementwise dispatches
over the same number of elements become one generated kernel (`fuse`): thread ``i`` computes
element ``i`` of every op of the run in order, each op by the registry's own WGSL expression
(`elementwise._expression`), with the same loads, roundings and stores as its own kernel, so a
replay gives what eager gives (bit for bit, but where the driver contracts a multiply and an add
into one fma across two ops: 1 ulp). An operand an earlier op of the run wrote *at the same
element* (same buffer, type, offset and strides) is taken from that op's register instead of
memory; a write is skipped when its tensor died inside the capture by the end of the run (no
later dispatch can read it: it had no Python reference left when the next one was recorded).

Before that, a matmul dispatch takes the elementwise ops right after it that read only its output
element (ReLU, GELU, scalar arithmetic ...), and a first op adding a bias to it (``x @ w + b``), into
its store (fusion_epilogue.py, `matmul.with_activation`); addmm and F.linear reach the store's bias
eagerly (`matmul_bias`).

A run is cut where fusing could change a result: a memory read or write overlapping another op's
write at a different element (threads would race), a write that is not one element per thread,
integer division (it reports zero divisors through the error buffer), a different element count,
the adapter's storage-buffer limit per stage, or `MAX_RUN` ops. Offsets, strides and scalars are constants of
the generated kernel: the graph replays at the addresses and with the scalars it captured.

Liveness (`Lives`): the capture notes when each block is allocated and when it dies (in dispatch
indices); a block that died during the capture is reused by a later allocation of the same size
inside it (stream order makes that safe on replay), which is what keeps a captured step's peak
near its floor.
"""

from __future__ import annotations

import os
import re
import struct

from .fusion_epilogue import fold
from .kernels import specialise
from .params import ParamBlock

WG = 64
MAX_RUN = 64  # ops per fused kernel: bounds the generated source and its compile time
# The fused kernel's own block: only numel travels (the rest are constants of the kernel); the
# other fields are those `at()` of elementwise.wgsl, whose helpers the kernel shares, refers to.
PARAMS = ParamBlock(
    "numel: u32",
    "_pad0: u32",
    "_pad1: u32",
    "_pad2: u32",
    "shape: array<u32, 8>",
    "offset: array<u32, 4>",
    "stride: array<array<u32, 8>, 4>",
)
_PACK = PARAMS.through("_pad2")
# Sizes of the two packings elementwise.py records (its flat kernels stop after `offset`).
_FLAT_SIZE, _FULL_SIZE = 96, 224
_INFO: dict = {}  # elementwise Pipeline -> (op, tc, types, layout, ndim, half, wide, result); never evicted
_SIZE = {"f32": 4, "i32": 4, "u32": 4, "f16": 2, "i64": 8}
_NAMES = "abc"
_TC = re.compile(r"\bTC\b")


def note_elementwise(p, op, tc, types, layout, ndim, half, wide, result) -> None:
    """Called when an elementwise pipeline is built: what a fused kernel needs to redo its work
    (``result``: the stored value's WGSL, in ``a, b, c`` and ``TC``)."""
    _INFO[p] = (op, tc, types, layout, ndim, half, wide, result)


def enabled() -> bool:
    """False when WGTORCH_GRAPH_FUSION=0 (every graph then replays its dispatches as recorded)."""
    return os.environ.get("WGTORCH_GRAPH_FUSION", "1") != "0"


# -- liveness --------------------------------------------------------------------------------------
class Lives:
    """Per capture: when blocks were born and died (dispatch indices), and the dead ones to reuse."""

    __slots__ = ("born", "lives", "free")

    def __init__(self):
        self.born: dict = {}  # Block -> index of the first dispatch recorded after its allocation
        self.lives: list = []  # (block, born, died): no dispatch at index >= died reads it
        self.free: dict[int, list] = {}  # size -> dead blocks reusable inside the capture

    def died(self, block, now: int) -> None:
        self.lives.append((block, self.born.pop(block, -1), now))
        self.free.setdefault(block.size, []).append(block)

    def reuse(self, size: int, now: int):
        free = self.free.get(size)
        if not free:
            return None
        block = free.pop()
        self.born[block] = now
        return block

    def life_of(self, buffer, lo: int, hi: int, at: int):
        """The (born, died) of the block holding bytes [lo, hi) of ``buffer`` at dispatch ``at``, or None."""
        for block, born, died in self.lives:
            if block.buffer is buffer and block.offset <= lo and hi <= block.offset + block.size and born <= at < died:
                return born, died
        return None


# -- decoding a recorded elementwise dispatch -------------------------------------------------------
def _canonical(dims, strides) -> tuple:
    """One operand's walk of the linear index: size-1 dims dropped, contiguous neighbours merged."""
    out: list = []
    for n, s in zip(dims, strides):
        if n == 1:
            continue
        if out and out[-1][1] == s * n:
            out[-1] = (out[-1][0] * n, s)
        else:
            out.append((n, s))
    return tuple(out)


class _Access:
    __slots__ = ("buffer", "type", "offset", "walk", "key", "loc", "lo", "hi")

    def __init__(self, buffer, t, offset, walk):
        self.buffer, self.type, self.offset, self.walk = buffer, t, offset, walk
        size = _SIZE[t]
        self.loc = (buffer, size, offset, walk)  # the same elements at the same index...
        self.key = (*self.loc, t)  # ...read as the same type
        extent = sum((n - 1) * s for n, s in walk) + 1
        self.lo, self.hi = offset * size, (offset + extent) * size

    def overlaps(self, other) -> bool:
        return self.buffer is other.buffer and self.lo < other.hi and other.lo < self.hi

    def one_per_element(self) -> bool:
        """Distinct indices reach distinct elements (a write each thread owns)."""
        span = 1
        for n, s in sorted(self.walk, key=lambda d: d[1]):
            if s < span:
                return False
            span = s * n
        return True


class _Op:
    __slots__ = ("record", "info", "numel", "raw", "out", "args")

    def __init__(self, record, info):
        p, buffers, params, _x, _y = record
        _op, _tc, types, layout, ndim, _half, _wide, _result = info
        self.record, self.info = record, info
        self.raw = params
        words = struct.unpack_from("<24I", params)
        self.numel = words[0]
        offsets = words[20:24]
        if ndim:
            dims = words[12 : 12 + ndim]
            rows = [struct.unpack_from(f"<{ndim}I", params, 96 + 32 * k) for k in range(4)]
        else:
            dims, rows = (self.numel,), [(1,)] * 4

        def access(slot, k):
            return _Access(buffers[slot], types[slot], offsets[k], _canonical(dims, rows[k]))

        self.out = access(0, 0)
        self.args = []  # per operand: an _Access, or the scalar's index in P.scalar_f / scalar_i
        n, scalar = 1, 0
        for slot in layout:
            if slot < 0:
                self.args.append(scalar)
                scalar += 1
            else:
                self.args.append(access(slot, n))
                n += 1


def _decode(record):
    p = record[0]
    info = _INFO.get(p) if hasattr(p, "name") else None
    if info is None or len(record[2]) not in (_FLAT_SIZE, _FULL_SIZE):
        return None
    return _Op(record, info)


# -- building runs ----------------------------------------------------------------------------------
class _Run:
    def __init__(self, limit: int):
        self.ops: list = []
        self.first = 0
        self.written: dict = {}  # access loc -> the last _Access of the run writing there
        self.reads: list = []  # memory reads (not taken from a register)
        self.bindings: dict = {}  # (buffer, type) -> binding index
        self.limit = limit

    def try_add(self, op: _Op) -> bool:
        if self.ops and (op.numel != self.ops[0].numel or len(self.ops) >= MAX_RUN):
            return False
        written = self.written
        reads = []  # what the op reads from memory: not an earlier op's register
        for a in op.args:
            if type(a) is _Access:
                x = written.get(a.loc)
                if x is None:
                    if any(a.overlaps(x) for x in written.values()):
                        return False  # another thread's element of a write
                    reads.append(a)
                elif x.key != a.key:
                    return False  # a reinterpretation of a register (bool bytes as f32 ...)
        w = op.out
        if not w.one_per_element():
            return False
        # (a write over the same elements, in any type, is this thread's own: in program order)
        for x in (*written.values(), *self.reads, *reads):
            if x.loc != w.loc and w.overlaps(x):
                return False
        new = {(a.buffer, a.type) for a in (*reads, w)} - self.bindings.keys()
        if len(self.bindings) + len(new) > self.limit:
            return False
        for b in new:
            self.bindings[b] = len(self.bindings) + 1
        self.ops.append(op)
        self.reads += reads
        written[w.loc] = w
        return True


def fuse(rt, ops: list, lives: Lives, no_fuse=()) -> tuple[list, dict]:
    """``ops`` (a capture's records) with runs of elementwise dispatches fused; and statistics."""
    stats = {"runs": 0, "fused_ops": 0, "skipped_writes": 0, "epilogues": 0}
    if not enabled():
        return ops, stats
    # binding 0 (the parameters) is a storage buffer too
    limit = rt.limits.get("max-storage-buffers-per-shader-stage", 8) - 1
    out: list = []
    run = _Run(limit)

    def close(end: int):
        nonlocal run
        if len(run.ops) == 1:
            out.append(run.ops[0].record)
        elif run.ops:
            out.append(_fused_record(rt, run, end, lives, stats))
        run = _Run(limit)

    def add(index: int, record) -> None:
        op = _decode(record) if index not in no_fuse else None
        if op is None:
            close(index)
            out.append(record)
            return
        if not run.ops:
            run.first = index
        if not run.try_add(op):
            close(index)
            run.first = index
            if not run.try_add(op):  # (a write that is not one element per thread)
                out.append(record)

    index = 0
    while index < len(ops):
        # a matmul takes the elementwise ops after it that read only its element (fusion_epilogue.py)
        folded = fold(rt, ops, index, lives, no_fuse, _decode, _const, _TC) if index not in no_fuse else None
        if folded is None:
            add(index, ops[index])
            index += 1
            continue
        close(index)
        out.append(folded[0])
        stats["epilogues"] += 1
        stats["fused_ops"] += folded[1] - 1
        index += folded[1]
    close(len(ops))
    return out, stats


# -- the generated kernel ---------------------------------------------------------------------------
def _walk_fn(name: str, a: _Access) -> str:
    if len(a.walk) == 1 and a.walk[0][1] == 1:
        return f"fn {name}(i: u32) -> u32 {{ return {a.offset}u + i; }}"
    if not a.walk:  # one element
        return f"fn {name}(i: u32) -> u32 {{ return {a.offset}u; }}"
    lines = [f"fn {name}(i: u32) -> u32 {{", "    var r = i;", f"    var o = {a.offset}u;"]
    for n, s in reversed(a.walk[1:]):
        lines.append(f"    o += (r % {n}u) * {s}u; r = r / {n}u;")
    lines.append(f"    o += r * {a.walk[0][1]}u;")
    lines.append("    return o;\n}")
    return "\n".join(lines)


def _const(raw: bytes, tc: str, k: int) -> str:
    field = 16 if tc == "f32" else 32  # scalar_f / scalar_i
    (bits,) = struct.unpack_from("<I", raw, field + 4 * k)
    return f"bitcast<{tc}>({bits:#010x}u)"


def _fused_record(rt, run: _Run, end: int, lives: Lives, stats: dict):
    decls = [
        f"@group(0) @binding({i}) var<storage, read_write> fb{i}: array<{t}>;" for (_, t), i in run.bindings.items()
    ]
    walks: dict = {}
    funcs, body = [], []
    last_write = {op.out.loc: j for j, op in enumerate(run.ops)}

    def walk(a: _Access) -> str:
        name = walks.get(a.key)
        if name is None:
            name = walks[a.key] = f"fz_at{len(walks)}"
            funcs.append(_walk_fn(name, a))
        return name

    register: dict = {}
    for j, op in enumerate(run.ops):
        name, tc, types, _layout, _ndim, half, wide, result = op.info
        to = types[0]
        params, args = [], []
        for k, (letter, a) in enumerate(zip(_NAMES, op.args)):
            params.append(f"{letter}: {tc}")
            if type(a) is _Access:
                value = register.get(a.key) if register.get(a.loc) == a.key else None
                value = value or f"fb{run.bindings[(a.buffer, a.type)]}[{walk(a)}(i)]"
                rounded = half and k not in wide and a.type != "f16"
            else:
                value = _const(op.raw, tc, a)
                rounded = half and k not in wide
            args.append(f"{tc}(f16({value}))" if rounded else f"{tc}({value})")
        ret = _TC.sub(tc, result)  # the registry writes the compute type as TC
        funcs.append(f"fn fz_op{j}({', '.join(params)}) -> {to} {{\n    return {ret};\n}}")
        body.append(f"    let v{j} = fz_op{j}({', '.join(args)});")
        w = op.out
        register[w.key] = f"v{j}"
        register[w.loc] = w.key  # the register of these elements now holds this type
        if last_write[w.loc] != j:
            continue  # a later op of the run writes the same elements
        life = lives.life_of(w.buffer, w.lo, w.hi, run.first + j)
        if life is not None and life[1] <= end:
            stats["skipped_writes"] += 1  # died inside the capture, and no dispatch after the run reads it
            continue
        body.append(f"    fb{run.bindings[(w.buffer, w.type)]}[{walk(w)}(i)] = v{j};")
    source = specialise(
        "elementwise",
        {"TC": "f32", "TO": "f32"},
        {"NDIM": 0, "WG": WG},
        {"BINDINGS": "\n".join(decls + funcs), "LOADS": "\n".join(body), "STORE": ""},
        params=PARAMS,
    )
    names = "+".join(op.info[0] for op in run.ops)
    p = rt.pipeline(("fused", source), lambda: source, ("rw",) * len(run.bindings), f"fused:{names}")
    numel = run.ops[0].numel
    params = _PACK.pack(numel, 0, 0, 0)
    groups = -(-numel // WG)
    if groups <= rt.max_groups:
        x, y = groups, 1
    else:
        y = -(-groups // rt.max_groups)
        x = -(-groups // y)
    stats["runs"] += 1
    stats["fused_ops"] += len(run.ops)
    buffers = tuple(b for (b, _), _i in sorted(run.bindings.items(), key=lambda kv: kv[1]))
    return (p, buffers, params, x, y)
