"""``python -m wgtorch.bench`` / ``wgtorch-bench``: run the suites and render the dashboard."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from . import compare, render
from .compare import Record, Row
from .runner import FULL, MINIMAL, QUICK, Budget, discover_columns, run_cell
from .suites import SUITES, workloads

EPILOG = """\
examples:
  wgtorch-bench --quick                       all suites, short run (a few minutes on a software adapter)
  wgtorch-bench --suite tensor_ops --device wgpu --json run.json
  wgtorch-bench --compare run.json            re-run and show the change against a saved run
  pytest benches/ --benchmark-json=pb.json && wgtorch-bench --from-json pb.json
"""


def _suite_name(text: str) -> str:
    name = text.strip().lower().replace("-", "_")
    if name not in SUITES:
        raise argparse.ArgumentTypeError(f"unknown suite {text!r}; choose from {', '.join(SUITES)}")
    return name


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wgtorch-bench", description="wgtorch benchmark dashboard: wgtorch's "
                                "devices against NumPy and PyTorch, and the original report's figures.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="short run: few repetitions; heavy workloads get 2 single-call samples on software adapters")
    p.add_argument("--suite", action="append", type=_suite_name, metavar="NAME",
                   help=f"run only this suite (repeatable): {', '.join(SUITES)}")
    p.add_argument("--device", action="append", metavar="NAME",
                   help="only this column (repeatable): cpu, wgpu, wgpu:N, cuda, numpy, torch, torch:cuda; "
                        "peers are kept unless one is named")
    p.add_argument("--json", metavar="PATH", help="save the run as JSON")
    p.add_argument("--compare", metavar="PATH", help="show the change against a run saved with --json")
    p.add_argument("--from-json", metavar="PATH",
                   help="render a saved run or pytest-benchmark JSON (pytest benches/ --benchmark-json=PATH) "
                        "instead of running")
    p.add_argument("--budget", type=float, metavar="SECONDS", help="time per cell (default 1, --quick 0.2)")
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    return p


def machine_info() -> dict:
    import numpy as np
    import wgpu

    import wgtorch

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "wgpu": wgpu.__version__, "wgtorch": wgtorch.__version__}


def budget_for(args) -> Budget:
    if os.environ.get("WGTORCH_BENCH_MINIMAL"):  # test-only knob: one call per sample, two samples
        return MINIMAL
    base = QUICK if args.quick else FULL
    if args.budget is not None:
        return Budget(args.budget, base.target_samples, base.min_samples, base.max_samples, base.max_number)
    return base


def run(args, console: Console, old: Record | None) -> Record:
    """Run the selected suites, printing each suite's table as soon as it is done."""
    chosen = workloads(args.suite)
    columns, notes = discover_columns(args.device)
    budget = budget_for(args)
    if args.quick:
        heavy = [w.label for w in chosen if w.heavy]
        software = [c.key for c in columns if c.software]
        if heavy and software:
            notes.append(f"--quick: {', '.join(heavy)} timed with only 2 single-call samples on software "
                         f"adapter(s) {', '.join(software)} (marked ‡)")
    notes.append(f"timing: about {budget.seconds:g} s per cell, at least {budget.min_samples} samples; a sample is "
                 "N back-to-back calls closed by one device synchronize (N calibrated to the budget)")
    record = Record(columns, [], notes, args.quick, datetime.datetime.now().isoformat(timespec="seconds"),
                    machine_info())
    render.render_header(record, console, old)
    progress_console = Console(stderr=True)
    start = time.perf_counter()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=progress_console, transient=True,
                  disable=not progress_console.is_terminal) as progress:
        task = progress.add_task("starting", total=len(chosen) * len(columns))
        for suite in SUITES:
            suite_rows = [w for w in chosen if w.suite == suite]
            for w in suite_rows:
                row = Row(w.suite, w.name, w.label, w.reference.text)
                for col in columns:
                    progress.update(task, description=f"{SUITES[suite]} · {w.label} · {col.key}")
                    result = run_cell(w, col, budget, args.quick)
                    if result is not None:
                        row.cells[col.key] = result
                    progress.advance(task)
                record.rows.append(row)
            if suite_rows:
                render.render_suite(record, suite, console, old)
    record.wall_s = round(time.perf_counter() - start, 2)
    return record


def main(argv=None) -> int:
    """Entry point; returns 0, or 1 when a workload raised an unexpected error, 2 on bad input."""
    args = parser().parse_args(argv)
    console = Console()
    if args.list:
        for w in workloads(args.suite):
            console.print(f"{w.suite:11} {w.name:18} {w.label}  (original: {w.reference.text})")
        return 0
    try:
        old = compare.load(args.compare) if args.compare else None
        if args.from_json:
            record = compare.load(args.from_json).only_suites(args.suite)
            render.render(record, console, old)
            return 0
        record = run(args, console, old)
    except (ValueError, OSError) as e:
        console.print(f"[bold red]wgtorch-bench: {e}[/]")
        return 2
    console.print(f"[dim]wall time {record.wall_s:.1f} s[/]")
    if args.json:
        compare.save(record, args.json)
        console.print(f"[dim]saved {args.json}[/]")
    errors = [(r.name, k) for r in record.rows for k, c in r.cells.items() if c.status == "error"]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
