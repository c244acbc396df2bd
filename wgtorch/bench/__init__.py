"""wgtorch's benchmark dashboard (``python -m wgtorch.bench``, ``wgtorch-bench``).

Workloads live in `suites` (shared with the pytest-benchmark files in ``benches/``), timing and
columns in `runner`, saved runs and pytest-benchmark JSON in `compare`, tables in `render`.
"""

from __future__ import annotations


def main(argv=None) -> int:
    """Console-script entry point (see `wgtorch.bench.cli`)."""
    from .cli import main as _main

    return _main(argv)


__all__ = ["main"]
