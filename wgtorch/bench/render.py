"""Rendering a run record with rich: one table per suite, colour-coded ratios, summary lines."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .compare import Record, Row, change, geomean
from .runner import Column, Result
from .suites import SUITES, ref

LEGEND = ("cell: median per call ±half the interquartile range (as % of the median); ×r = time / "
          "fastest peer's time on that row (lower is better), (×r) in brackets = time / the original "
          "report's figure where no peer ran; bold peer = fastest peer; ‡ = few samples (see notes). "
          "Colours: green ≤ 2×, yellow ≤ 5×, orange ≤ 20×, red > 20×.")


def fmt_time(seconds: float) -> str:
    unit, scale = next(((u, s) for u, s in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)) if seconds >= s),
                       ("ns", 1e-9))
    value = seconds / scale
    digits = 0 if value >= 100 else 1 if value >= 10 else 2
    return f"{value:.{digits}f} {unit}"


def ratio_style(ratio: float) -> str:
    if ratio <= 1.1:
        return "bold green"
    if ratio <= 2:
        return "green"
    if ratio <= 5:
        return "yellow"
    if ratio <= 20:
        return "dark_orange"
    return "red"


def fmt_ratio(ratio: float) -> str:
    return f"×{ratio:.2f}" if ratio < 10 else f"×{ratio:.0f}"


def baseline(row: Row, columns: list[Column]) -> tuple[float | None, bool]:
    """(seconds to compare with, whether it is a peer's time) for a row: the fastest peer,
    else the original report's figure."""
    peers = [row.cells[c.key].median for c in columns
             if c.kind == "peer" and c.key in row.cells and row.cells[c.key].status == "ok"]
    if peers:
        return min(peers), True
    return ref(row.reference).seconds, False


def _change_text(delta: float) -> Text:
    style = "green" if delta < -0.05 else "red" if delta > 0.05 else "dim"
    return Text(f"Δ {delta:+.0%}", style=style)


def cell_text(result: Result | None, base: float | None, from_peer: bool, best_peer: bool,
              old: Result | None = None) -> Text:
    if result is None:
        return Text("—", style="dim")
    if result.status == "n/a":
        return Text(f"n/a ({result.reason})", style="dim")
    if result.status == "error":
        return Text(f"error: {result.reason}", style="bold red")
    text = Text(fmt_time(result.median), style="bold" if best_peer else "")
    if result.iqr is not None and result.median:
        text.append(f" ±{50 * result.iqr / result.median:.0f}%", style="dim")
    if result.reason:  # a timed cell with a caveat (--quick shrank it)
        text.append("‡", style="dim")
    if base:
        ratio = result.median / base
        label = fmt_ratio(ratio) if from_peer else f"({fmt_ratio(ratio)})"
        text.append(" ")
        text.append(label, style=ratio_style(ratio))
    delta = None if old is None else change(result, old)
    if delta is not None:
        text.append("\n")
        text.append_text(_change_text(delta))
    return text


def column_header(col: Column) -> Text:
    text = Text(col.title, style="bold")
    if col.detail:
        text.append("\n" + col.detail, style="dim")
    return text


def suite_table(record: Record, suite: str, rows: list[Row], old: Record | None = None) -> Table:
    table = Table(title=SUITES.get(suite, suite), title_justify="left", title_style="bold cyan",
                  show_lines=old is not None, expand=False)
    table.add_column("workload", no_wrap=False, min_width=18)
    for col in record.columns:
        table.add_column(column_header(col), justify="right", min_width=12)
    table.add_column(Text("original\nreport", style="bold"), justify="right", style="magenta")
    for row in rows:
        base, from_peer = baseline(row, record.columns)
        best = min((row.cells[c.key].median for c in record.columns if c.kind == "peer" and c.key in row.cells
                    and row.cells[c.key].status == "ok"), default=None)
        old_row = old.row(row.name) if old is not None else None
        cells = []
        for col in record.columns:
            result = row.cells.get(col.key)
            is_best = (col.kind == "peer" and result is not None and result.status == "ok"
                       and result.median == best)
            old_cell = old_row.cells.get(col.key) if old_row is not None else None
            cells.append(cell_text(result, base, from_peer, is_best, old_cell))
        table.add_row(row.label, *cells, row.reference or "—")
    return table


def summary_line(record: Record, suite: str, rows: list[Row], old: Record | None = None) -> Text:
    """Per wgtorch column: timed rows, geometric-mean ratio to the fastest peer (or the
    original figure), n/a / skipped / error counts, and the change against a saved run."""
    text = Text(f"{SUITES.get(suite, suite)}: ", style="bold")
    parts = []
    for col in record.columns:
        if col.kind != "wgtorch":
            continue
        results = [(row, row.cells.get(col.key)) for row in rows]
        ok = [(row, r) for row, r in results if r is not None and r.status == "ok"]
        vs_peer, vs_ref = [], []
        for row, r in ok:
            base, from_peer = baseline(row, record.columns)
            if base:
                (vs_peer if from_peer else vs_ref).append(r.median / base)
        part = Text(f"{col.key} {len(ok)}/{len(rows)} timed")
        for label, ratios in (("vs fastest peer", vs_peer), ("vs original", vs_ref)):
            g = geomean(ratios)
            if g is not None:
                part.append(f", geomean {fmt_ratio(g)} {label} ({len(ratios)})", style=ratio_style(g))
        for status, word in (("n/a", "n/a"), ("error", "errors")):
            n = sum(1 for _, r in results if r is not None and r.status == status)
            if n:
                part.append(f", {n} {word}", style="bold red" if status == "error" else "dim")
        if old is not None:
            old_rows = [old.row(row.name) for row, _ in ok]
            deltas = [change(r, o.cells.get(col.key)) for (_, r), o in zip(ok, old_rows) if o is not None]
            g = geomean([1 + d for d in deltas if d is not None])
            if g is not None:
                part.append(" ")
                part.append_text(_change_text(g - 1))
                part.append(" vs saved", style="dim")
        parts.append(part)
    return text + Text(" | ").join(parts) if parts else text + Text("no wgtorch columns")


def render_header(record: Record, console: Console, old: Record | None = None) -> None:
    title = "wgtorch benchmark dashboard"
    if record.source != "wgtorch-bench":
        title += f" (from {record.source} JSON)"
    console.print(Text(title, style="bold underline"))
    facts = [record.created, record.machine.get("platform") or record.machine.get("system", ""),
             record.machine.get("processor", "")]
    if record.quick:
        facts.append("QUICK mode: few repetitions, noisier numbers")
    console.print(Text(" · ".join(f for f in facts if f), style="dim"))
    for note in record.notes:
        console.print(Text(f"note: {note}", style="yellow"))
    if old is not None:
        when = old.created or "unknown date"
        console.print(Text(f"Δ = change of the median against the saved run of {when} "
                           "(green faster, red slower)", style="dim"))
    console.print(Text(LEGEND, style="dim"))


def render_suite(record: Record, suite: str, console: Console, old: Record | None = None) -> None:
    rows = [r for r in record.rows if r.suite == suite]
    if not rows:
        return
    console.print(suite_table(record, suite, rows, old))
    console.print(summary_line(record, suite, rows, old))
    console.print()


def render(record: Record, console: Console, old: Record | None = None) -> None:
    render_header(record, console, old)
    for suite in dict.fromkeys([*SUITES, *(r.suite for r in record.rows)]):
        render_suite(record, suite, console, old)
