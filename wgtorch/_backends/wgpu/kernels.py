"""Loading WGSL kernel families from ``shaders/`` and specialising them.

A family file (``elementwise.wgsl``, ``reduce.wgsl`` ...) is plain WGSL written against a few
names the host defines: type aliases such as ``TO``/``TC`` and constants such as ``WG``. The host
prepends those definitions (plus ``enable f16;`` where needed) and substitutes any ``{{MARKER}}``
lines the family declares. Specialisation is by text, like CuPy's kernel templates; the compiled
pipeline is cached by the runtime under a key of the family and its specialisation.
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


# A family holding several kernels marks each one `//@kernel NAME` ... `//@end`; a pipeline keeps
# the shared part and one section (each section defines its own bindings and `main`).
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
    that kernel section kept."""
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
