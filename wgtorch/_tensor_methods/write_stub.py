"""``python -m wgtorch._tensor_methods.write_stub``: rewrites ``generated.pyi`` from the op registry
(run it after adding or changing a registry op; ``tests/test_tensor_methods.py`` checks it)."""

from __future__ import annotations

from .generated import write_stub

if __name__ == "__main__":
    write_stub()
