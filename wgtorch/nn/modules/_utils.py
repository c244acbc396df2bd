"""Small helpers of `Module`: removable hook handles, the result of ``load_state_dict`` and
repr indentation."""

from __future__ import annotations

import itertools
from typing import NamedTuple

_hook_ids = itertools.count()


class RemovableHandle:
    """Returned by ``register_*_hook``: ``handle.remove()`` (or leaving its ``with`` block)
    unregisters the hook."""

    def __init__(self, *hook_dicts):
        self.id = next(_hook_ids)
        self._dicts = hook_dicts

    def remove(self) -> None:
        for d in self._dicts:
            d.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class _IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` returns."""

    missing_keys: list
    unexpected_keys: list

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"

    __str__ = __repr__


def _indent(text: str, spaces: int) -> str:
    """Indent every line of ``text`` but the first (child reprs nest under their ``(name): ``)."""
    head, *rest = text.split("\n")
    return "\n".join([head] + [" " * spaces + line for line in rest])
