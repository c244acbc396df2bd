"""A kernel family's parameter block, declared once: the WGSL ``struct Meta`` and the host packing.

Each family declares its fields as WGSL (``"numel: u32"``, ``"stride: array<array<u32, 8>, 4>"``);
`ParamBlock` lays them out by WGSL's storage-buffer rules, refuses a layout that would need hidden
padding (so the host and the shader can never disagree), prepends the struct and its binding
(``P``, binding 0, read through the runtime's parameter ring) to the kernel source, and gives the
`struct.Struct` the runtime packs each dispatch's values with.
"""

from __future__ import annotations

import re
import struct

_SCALARS = {"u32": "I", "i32": "i", "f32": "f", "f64": "d", "i64": "q"}
_SIZES = {"u32": 4, "i32": 4, "f32": 4, "f64": 8, "i64": 8}
_ARRAY = re.compile(r"array<(.+),\s*(\d+)>$")
_VEC = re.compile(r"vec([24])<(\w+)>$")


def _layout(t: str) -> tuple[str, int, int]:
    """(struct format, alignment, size) of a WGSL type."""
    t = t.strip()
    if t in _SCALARS:
        return _SCALARS[t], _SIZES[t], _SIZES[t]
    m = _VEC.match(t)
    if m:
        n, size = int(m.group(1)), _SIZES[m.group(2)]
        return _SCALARS[m.group(2)] * n, size * n, size * n
    m = _ARRAY.match(t)
    if m:
        fmt, align, size = _layout(m.group(1))
        stride = -(-size // align) * align
        return (fmt + "x" * (stride - size)) * int(m.group(2)), align, stride * int(m.group(2))
    raise ValueError(f"parameter blocks take u32/i32/f32/f64/i64, vec2/vec4 and arrays of them, not {t!r}")


class ParamBlock:
    """``ParamBlock("numel: u32", "scalar_f: vec4<f32>  // comment", ...)``."""

    def __init__(self, *fields: str, pad: bool = False):
        self._fields = fields
        self._wide = None
        self._wide_int = None
        self.names: list[str] = []
        lines, fmt, offset = [], "<", 0
        self._prefix_sizes = {}
        self._offsets: dict[str, int] = {}
        for field in fields:
            decl, _, comment = field.partition("//")
            name, _, t = decl.partition(":")
            name, t = name.strip(), t.strip()
            f, align, size = _layout(t)
            if offset % align and pad:  # (struct's "x" bytes take no value: the host's values stay the same)
                fmt += "x" * (-offset % align)
                offset += -offset % align
            if offset % align:
                raise ValueError(f"parameter {name!r} ({t}) is at byte {offset}, not a multiple of its "
                                 f"alignment {align}: declare padding before it")
            self.names.append(name)
            self._offsets[name] = offset
            lines.append(f"    {name}: {t},{'  //' + comment if comment else ''}")
            fmt += f
            offset += size
            self._prefix_sizes[name] = fmt
        self.size = offset
        self.align = max([_layout(f.partition("//")[0].partition(":")[2])[1] for f in fields] or [4])
        if pad and offset % self.align:  # WGSL rounds a struct's size up to its alignment
            fmt += "x" * (-offset % self.align)
            self.size = offset + (-offset % self.align)
        self.struct = struct.Struct(fmt)
        self.wgsl = ("struct Meta {\n" + "\n".join(lines) + "\n}\n"
                     "@group(0) @binding(0) var<storage, read> P: Meta;\n")

    def widened(self) -> ParamBlock:
        """The block of a kernel that computes in float64: every ``f32`` field is ``f64`` (the host
        packs the same values, as doubles), with the padding WGSL's alignment rules then insert."""
        if self._wide is None:
            self._wide = ParamBlock(*(re.sub(r"\bf32\b", "f64", f) for f in self._fields), pad=True)
        return self._wide

    def widened_int(self) -> ParamBlock:
        """The block of a kernel that computes in int64 (shader-int64): every ``i32`` field whose
        name starts with ``scalar`` is ``i64``, so scalar operands travel exactly."""
        if getattr(self, "_wide_int", None) is None:
            self._wide_int = ParamBlock(*(re.sub(r"\bi32\b", "i64", f) if f.strip().startswith("scalar") else f
                                          for f in self._fields), pad=True)
        return self._wide_int

    def offset_of(self, name: str) -> int:
        """The byte offset of field ``name`` in the block (after any padding before it)."""
        return self._offsets[name]

    def through(self, name: str) -> struct.Struct:
        """The packing of the fields up to and including ``name`` (for kernels that read no more)."""
        return struct.Struct(self._prefix_sizes[name])
