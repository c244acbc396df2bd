"""``python -m wgtorch.validate``: check every WGSL kernel family against the NumPy reference.

The families are the ``.wgsl`` files of the shader directory
(`wgtorch._backends.wgpu.kernels.shader_dir`); each has a check (``checks_*.py``) that runs its
kernels through the backend protocol on every wgpu device (and cuda, where present) and on the
NumPy backend, on fixed and random inputs including edge sizes, and compares the results. A
family with no check is reported as unchecked, never passed silently. See `cli` for the options.
"""

from __future__ import annotations


def main(argv=None) -> int:
    """Entry point; 0 when every kernel passes, 1 on any failure, 2 when nothing can be checked."""
    from .cli import main as _main

    return _main(argv)


__all__ = ["main"]
