"""Loading WGSL kernel families from ``shaders/`` and specialising them.

A family file (``elementwise.wgsl``, ``reduce.wgsl`` ...) is plain WGSL written against a few
names the host defines. Specialisation is by text, like CuPy's kernel templates; the compiled
pipeline is cached by the runtime under a key of the family and its specialisation. There are
exactly three ways the host shapes a family's source, each for one purpose:

1. **Prepended definitions** (always): ``alias`` types (``TO``, ``TC`` ...) and ``const`` values
   (``WG``, ``NDIM`` ...) from ``aliases``/``consts``, ``enable f16;`` where needed, the shared
   ``prelude.wgsl`` and the family's parameter block (``params``, a `params.ParamBlock`: the
   ``struct Meta`` and its binding ``P``). A family never declares these itself.
2. **Kernel sections** ``//@kernel NAME`` ... ``//@end`` (``section=NAME``): a family holding
   several hand-written kernel variants keeps each one in a section; a pipeline keeps the shared
   part of the file and the one section named. A section holds whatever differs between the
   variants: its own bindings and ``main`` (nn.wgsl, rnn.wgsl), or just the functions a shared
   ``main`` calls (index.wgsl: one ``store`` per op and dtype). Use this for code written in WGSL.
3. **Markers** ``{{NAME}}`` (``markers={"NAME": text}``): a line the host replaces with WGSL it
   *generates* from host-side tables, code that does not exist as text anywhere: the bindings
   whose number and storage types follow the operands (elementwise, reduce, optim), the loads
   and the store built from the op registry's expression (elementwise), the per-op identity
   and combine functions (reduce), unrolled register tiles (matmul), the optimizer's update
   expression (optim), a dtype's store (random). Use a marker only for generated text; a
   variant that can be written out by hand in the file is a section.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

_HERE = Path(__file__).resolve().parent


@functools.cache
def shader_dir() -> Path:
    """``wgtorch/shaders`` in an installed wheel, the repository's ``shaders/`` in a checkout."""
    for candidate in (_HERE.parents[1] / "shaders", _HERE.parents[2] / "shaders"):
        if (candidate / "elementwise.wgsl").is_file():
            return candidate
    raise FileNotFoundError("wgtorch's WGSL kernels were not found next to the package; reinstall wgtorch")


@functools.cache
def family_source(family: str) -> str:
    return (shader_dir() / f"{family}.wgsl").read_text()


# Kernel sections (2. in the module docstring): a pipeline keeps the shared part and one section.
_SECTION = re.compile(r"^//@kernel (\w+)\n(.*?)^//@end\n", re.S | re.M)


#: the file of helpers every family gets (not a family itself).
PRELUDE = "prelude"


def families() -> list[str]:
    """The kernel families shipped: one ``<family>.wgsl`` each in the shader directory."""
    return sorted(p.stem for p in shader_dir().glob("*.wgsl") if p.stem != PRELUDE)


def specialise(family: str, aliases: dict[str, str], consts: dict[str, object],
               markers: dict[str, str] | None = None, section: str | None = None, params=None) -> str:
    """Family source with ``alias`` and ``const`` definitions, the prelude and the family's
    parameter block (a `params.ParamBlock`) prepended, markers filled and, with ``section``, only
    that kernel section kept (the module docstring says which mechanism is for what). A section
    the family lacks is an error."""
    head = []
    if "f16" in aliases.values() or any("f16" in text for text in (markers or {}).values()):
        head.append("enable f16;")
    head += [f"alias {name} = {t};" for name, t in aliases.items()]
    for name, value in consts.items():
        if isinstance(value, bool):
            head.append(f"const {name}: bool = {'true' if value else 'false'};")
        elif isinstance(value, int):
            head.append(f"const {name}: i32 = {value};")
        else:
            head.append(f"const {name} = {value};")
    head.append(family_source(PRELUDE))
    if params is not None:
        head.append(params.wgsl)
    body = family_source(family)
    for name, text in (markers or {}).items():
        body = body.replace("{{" + name + "}}", text)
    if section is not None:
        found = []

        def keep(m):
            if m.group(1) != section:
                return ""
            found.append(section)
            return m.group(2)

        body = _SECTION.sub(keep, body)
        if not found:
            raise KeyError(f"{family}.wgsl has no kernel section {section!r}")
    return "\n".join(head) + "\n" + body
