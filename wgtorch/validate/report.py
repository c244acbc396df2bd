"""The validator's report: rich tables on the console and a JSON document."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .core import Outcome

_STATUS_STYLE = {"PASS": "bold green", "FAIL": "bold red", "SKIP": "yellow", "NO CHECK": "bold yellow"}


@dataclass
class DeviceReport:
    """Everything found on one device."""

    device: str
    info: dict
    limits: dict
    features: list[str]
    outcomes: list[Outcome] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "FAIL"]

    def to_json(self) -> dict:
        return {"device": self.device, "info": self.info, "limits": self.limits, "features": self.features,
                "wall_s": round(self.wall_s, 3), "passed": not self.failed,
                "kernels": [o.to_json() for o in self.outcomes]}


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _fmt_err(value: float) -> str:
    return "0" if value == 0 else f"{value:.1e}"


def device_header(report: DeviceReport, console: Console) -> None:
    """Adapter, backend, limits and features."""
    info = report.info
    console.print(Text(f"{report.device}: {info.get('name', info.get('device', '?'))}", style="bold cyan"))
    keys = ("backend_type", "adapter_type", "vendor", "architecture", "description")
    facts = [f"{k}: {info[k]}" for k in keys if info.get(k)]
    console.print(Text(" · ".join(facts), style="dim"))
    if "float64" in info:  # the wgpu dtype modes (wgtorch.wgpu.get_device_properties)
        console.print(Text(f"float64: {'native f64 (shader-f64)' if info['float64'] else 'refused (no shader-f64)'}"
                           f" · int64: {info.get('int64_mode', '?')}", style="dim"))
    if report.limits:
        limits = Table(title="limits", title_justify="left", show_header=False, box=None, padding=(0, 1))
        items = sorted(report.limits.items())
        per_row = max(1, min(3, console.width // 62))
        for _ in range(per_row):
            limits.add_column(style="dim")
            limits.add_column(justify="right")
        for i in range(0, len(items), per_row):
            chunk = items[i:i + per_row]
            cells = [x for k, v in chunk for x in (k, str(v))]
            limits.add_row(*cells, *[""] * (2 * per_row - len(cells)))
        console.print(limits)
    if report.features:
        console.print(Text("features: " + ", ".join(sorted(report.features)), style="dim"))


def kernel_table(report: DeviceReport, unchecked: list[str]) -> Table:
    table = Table(title=f"kernels on {report.device}", title_justify="left")
    for name, kw in (("family", {}), ("kernel", {}), ("result", {}), ("cases", {"justify": "right"}),
                     ("time/launch", {"justify": "right"}), ("max abs err", {"justify": "right"}),
                     ("max rel err", {"justify": "right"}), ("detail", {"overflow": "fold"})):
        table.add_column(name, **kw)
    for o in report.outcomes:
        detail = o.note
        if o.failures:
            first = o.failures[0]
            more = f" (+{len(o.failures) - 1} more)" if len(o.failures) > 1 else ""
            detail = f"{first.label}: {first.message}{more}"
        table.add_row(o.family, o.name, Text(o.status, style=_STATUS_STYLE[o.status]), str(o.cases),
                      _fmt_time(o.time_s), _fmt_err(o.max_abs), _fmt_err(o.max_rel),
                      Text(detail, style="red" if o.failures else "dim"))
    for family in unchecked:
        table.add_row(family, "—", Text("NO CHECK", style=_STATUS_STYLE["NO CHECK"]), "0", "—", "—", "—",
                      Text(f"{family}.wgsl has no validator check: its kernels were NOT validated",
                           style="yellow"))
    return table


def render(reports: list[DeviceReport], unchecked: list[str], console: Console) -> None:
    for report in reports:
        device_header(report, console)
        console.print(kernel_table(report, unchecked))
        n = len(report.outcomes)
        failed, skipped = len(report.failed), sum(o.status == "SKIP" for o in report.outcomes)
        line = Text(f"{report.device}: {n - failed - skipped}/{n} kernels passed", style="bold")
        if failed:
            line.append(f", {failed} FAILED", style="bold red")
        if skipped:
            line.append(f", {skipped} skipped", style="yellow")
        if unchecked:
            line.append(f", families without a check: {', '.join(unchecked)}", style="bold yellow")
        line.append(f" ({report.wall_s:.1f} s)", style="dim")
        console.print(line)
        console.print()


def to_json(reports: list[DeviceReport], families: dict[str, str], exit_code: int) -> dict:
    return {"format": "wgtorch-validate", "version": 1, "families": families, "exit_code": exit_code,
            "passed": exit_code == 0, "devices": [r.to_json() for r in reports]}
