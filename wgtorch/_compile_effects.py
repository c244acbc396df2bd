"""The Python state a ``wgtorch.compile``d function can see, snapshotted around its capture call, so
that a call whose Python side effects a replay would not repeat is not replayed.

What is looked at (shallowly, once per capture, never per replay): the bindings of the globals the
function's code names (``co_names``, nested code objects included), its closure cells, and the
``__dict__`` of the modules the compile guards on (bound ``self``, modules in closures and globals,
their submodules). Numbers, strings and None compare by value; lists, dicts and sets by their
identity and shallow contents (items by value or identity); everything else, tensors included, by
identity (a tensor's contents change legitimately: the replay recomputes them). Changes deeper
than that (an attribute of a plain object, an item of a nested list) are not seen.

Functions defined in wgtorch itself are not scanned (their globals are wgtorch's own state); for a
compiled module, its class's ``forward`` is scanned in place of ``Module.__call__``.
"""

from __future__ import annotations

import collections
import types

_SCALARS = (bool, int, float, complex, str, bytes, type(None))
_SEQUENCES = (list, collections.deque, bytearray)
_EMPTY = object()  # an unset closure cell or a missing global


def _same(a, b) -> bool:
    if a is b:
        return True
    if type(a) is not type(b) or not isinstance(a, _SCALARS):
        return False
    return a == b or (a != a and b != b)  # NaN is unchanged


def _take(v):
    if isinstance(v, _SEQUENCES):
        return (v, list(v))
    if isinstance(v, dict):
        return (v, list(v.items()))
    if isinstance(v, (set, frozenset)):
        return (v, set(v))
    return (v, None)


def _change(taken, now) -> str | None:
    """None when ``now`` is what ``taken`` (a `_take`) saw, else '' or a suffix naming the item."""
    old, items = taken
    if items is None:
        return None if _same(old, now) else ""
    if now is not old:
        return ""
    if isinstance(items, set):
        return None if set(now) == items else " (its members)"
    is_dict = isinstance(now, dict)
    current = list(now.items()) if is_dict else list(now)
    if len(current) != len(items):
        return " (its length)"
    for i, (a, b) in enumerate(zip(items, current)):
        if is_dict:
            if not (_same(a[0], b[0]) and _same(a[1], b[1])):
                return f" (key {b[0]!r})"
        elif not _same(a, b):
            return f" (item {i})"
    return None


def _watch(what: str, read, value):
    taken = _take(value)
    return lambda: None if (suffix := _change(taken, read())) is None else what + suffix


def _watch_keys(what: str, d: dict):
    keys = frozenset(d)

    def check():
        new = sorted(map(str, frozenset(d) ^ keys))
        return None if not new else what.format(new[0])

    return check


def _scanned(fn, roots) -> list:
    found = []
    for f in [fn] + [getattr(type(m), "forward", None) for m in roots]:
        f = getattr(f, "__func__", f)
        if not isinstance(f, types.FunctionType):
            continue
        module = getattr(f, "__module__", None) or ""
        if module == "wgtorch" or module.startswith("wgtorch."):
            continue
        if all(f is not g for g in found):
            found.append(f)
    return found


def _names(code, out: set) -> set:
    out.update(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _names(c, out)
    return out


def _cell(cell):
    try:
        return cell.cell_contents
    except ValueError:
        return _EMPTY


def snapshot(fn, roots, modules) -> list:
    """Checks of everything the module docstring lists (call `changed` on the list after the call):
    ``fn`` the compiled callable, ``roots`` the modules compiled directly, ``modules`` all modules
    to look at."""
    out = []
    for f in _scanned(fn, roots):
        glob = f.__globals__
        for name in sorted(_names(f.__code__, set())):
            if name in glob:
                out.append(_watch(f"global {name!r}", lambda g=glob, n=name: g.get(n, _EMPTY), glob[name]))
        for name, cell in zip(f.__code__.co_freevars, f.__closure__ or ()):
            out.append(_watch(f"closure variable {name!r}", lambda c=cell: _cell(c), _cell(cell)))
    for m in modules:
        d, kind = m.__dict__, type(m).__name__
        out.append(_watch_keys(f"attribute {{!r}} of {kind}", d))
        for name, value in d.items():
            out.append(_watch(f"attribute {name!r} of {kind}", lambda d=d, n=name: d.get(n, _EMPTY), value))
    return out


def changed(snap: list) -> str | None:
    """What changed since `snapshot` made ``snap`` (the first change found), or None."""
    for check in snap:
        what = check()
        if what is not None:
            return what
    return None
