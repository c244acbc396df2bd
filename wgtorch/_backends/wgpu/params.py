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

_SCALARS = {"u32": "I", "i32": "i", "f32": "f"}
_ARRAY = re.compile(r"array<(.+),\s*(\d+)>$")
_VEC = re.compile(r"vec([24])<(\w+)>$")


def _layout(t: str) -> tuple[str, int, int]:
    """(struct format, alignment, size) of a WGSL type."""
    t = t.strip()
    if t in _SCALARS:
        return _SCALARS[t], 4, 4
    m = _VEC.match(t)
    if m:
        n = int(m.group(1))
        return _SCALARS[m.group(2)] * n, 4 * n, 4 * n
    m = _ARRAY.match(t)
    if m:
        fmt, align, size = _layout(m.group(1))
        stride = -(-size // align) * align
        return (fmt + "x" * (stride - size)) * int(m.group(2)), align, stride * int(m.group(2))
    raise ValueError(f"parameter blocks take u32/i32/f32, vec2/vec4 and arrays of them, not {t!r}")


class ParamBlock:
    """``ParamBlock("numel: u32", "scalar_f: vec4<f32>  // comment", ...)``."""

    def __init__(self, *fields: str):
        self.names: list[str] = []
        lines, fmt, offset = [], "<", 0
        self._prefix_sizes = {}
        for field in fields:
            decl, _, comment = field.partition("//")
            name, _, t = decl.partition(":")
            name, t = name.strip(), t.strip()
            f, align, size = _layout(t)
            if offset % align:
                raise ValueError(f"parameter {name!r} ({t}) is at byte {offset}, not a multiple of its "
                                 f"alignment {align}: declare padding before it")
            self.names.append(name)
            lines.append(f"    {name}: {t},{'  //' + comment if comment else ''}")
            fmt += f
            offset += size
            self._prefix_sizes[name] = fmt
        self.size = offset
        self.struct = struct.Struct(fmt)
        self.wgsl = ("struct Meta {\n" + "\n".join(lines) + "\n}\n"
                     "@group(0) @binding(0) var<storage, read> P: Meta;\n")

    def offset_of(self, name: str) -> int:
        """The byte offset of field ``name`` in the block."""
        k = self.names.index(name)
        return struct.calcsize(self._prefix_sizes[self.names[k - 1]]) if k else 0

    def through(self, name: str) -> struct.Struct:
        """The packing of the fields up to and including ``name`` (for kernels that read no more)."""
        return struct.Struct(self._prefix_sizes[name])
