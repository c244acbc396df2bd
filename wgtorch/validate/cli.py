"""Command line of ``python -m wgtorch.validate``: discover families and devices, run, report."""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from rich.console import Console

from .._device import get_backend
from . import report as rep
from .checks_attention import attention_kernels, norm_kernels
from .checks_conv import conv_kernels
from .checks_core import elementwise_kernels, reduce_kernels
from .checks_more import index_kernels, matmul_kernels, random_kernels
from .checks_nn import nn_kernels, optim_kernels, rnn_kernels
from .checks_scan import scan_kernels
from .checks_sort import sort_kernels
from .core import run_kernel

#: family (the stem of its .wgsl file) -> function returning its kernels' checks.
CHECKS = {
    "elementwise": elementwise_kernels,
    "reduce": reduce_kernels,
    "matmul": matmul_kernels,
    "index": index_kernels,
    "random": random_kernels,
    "nn": nn_kernels,
    "optim": optim_kernels,
    "rnn": rnn_kernels,
    "sort": sort_kernels,
    "scan": scan_kernels,
    "conv": conv_kernels,
    "attention": attention_kernels,
    "norm": norm_kernels,
}


def discover_families() -> list[str]:
    """The kernel families shipped: one ``<family>.wgsl`` file each in the shader directory."""
    from .._backends.wgpu.kernels import families

    return families()


def discover_devices(names: list[str] | None) -> tuple[list[str], list[str]]:
    """Devices to validate (every wgpu adapter, and cuda devices where CuPy finds a GPU) and notes."""
    import wgtorch

    notes = []
    devices = [f"wgpu:{i}" for i in range(wgtorch.wgpu.device_count())]
    if not devices:
        notes.append("no wgpu adapter found")
    if wgtorch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(wgtorch.cuda.device_count())]
    if names:
        chosen = [d for d in devices if any(d == n or d.split(":")[0] == n for n in names)]
        notes += [f"{n}: not available here" for n in names
                  if not any(d == n or d.split(":")[0] == n for d in devices)]
        devices = chosen
    return devices, notes


def _device_report(device: str) -> rep.DeviceReport:
    import wgtorch

    if device.startswith("wgpu"):
        props = wgtorch.wgpu.get_device_properties(device)
        limits = props.pop("limits")
        features = props.pop("features")
        return rep.DeviceReport(device, props, limits, list(features))
    index = int(device.split(":")[1])
    info = {"name": wgtorch.cuda.get_device_name(index), "backend_type": "CUDA (CuPy)"}
    return rep.DeviceReport(device, info, {}, [])


def validate_device(device: str, families: list[str], *, large: bool, console: Console) -> rep.DeviceReport:
    report = _device_report(device)
    be, ref = get_backend(device), get_backend("cpu")
    start = time.perf_counter()
    features = set(report.features) if device.startswith("wgpu") else {"shader-f16"}
    # NaN/inf inputs are the point of many cases: NumPy's warnings about them are noise here.
    with console.status(f"validating {device}") as status, np.errstate(all="ignore"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for family in families:
            for kernel in CHECKS[family]():
                status.update(f"validating {device}: {family} · {kernel.name}")
                report.outcomes.append(run_kernel(kernel, be, ref, large=large, features=features))
    report.wall_s = time.perf_counter() - start
    return report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m wgtorch.validate",
                                description="Run every WGSL kernel family on each wgpu device (and cuda) "
                                            "against the NumPy reference and report PASS/FAIL per kernel.")
    p.add_argument("--family", action="append", metavar="NAME", help="only this family (repeatable)")
    p.add_argument("--device", action="append", metavar="NAME",
                   help="only this device (repeatable): wgpu, wgpu:N, cuda")
    p.add_argument("--no-large", action="store_true", help="skip the slow cases past 65,535 workgroups")
    p.add_argument("--strict", action="store_true", help="also fail when a family has no check")
    p.add_argument("--json", metavar="PATH", help="write the report as JSON")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    console = Console()
    shipped = discover_families()
    wanted = args.family or shipped
    unknown = [f for f in wanted if f not in shipped]
    if unknown:
        console.print(f"[bold red]unknown family {unknown}: the shader directory has {shipped}[/]")
        return 2
    families = [f for f in wanted if f in CHECKS]
    unchecked = [f for f in wanted if f not in CHECKS]
    devices, notes = discover_devices(args.device)
    from .._backends.wgpu.kernels import shader_dir

    console.print(f"[bold]kernel families[/] in {shader_dir()}: {', '.join(shipped)}")
    for note in notes:
        console.print(f"[yellow]note: {note}[/]")
    if not devices:
        console.print("[bold red]nothing to validate: no wgpu adapter (or requested device) found[/]")
        return 2
    reports = [validate_device(d, families, large=not args.no_large, console=console) for d in devices]
    rep.render(reports, unchecked, console)
    failed = any(r.failed for r in reports) or (args.strict and unchecked)
    code = 1 if failed else 0
    console.print(verdict(code, unchecked))
    if args.json:
        status = {f: "checked" for f in families} | {f: "no check" for f in unchecked}
        Path(args.json).write_text(json.dumps(rep.to_json(reports, status, code), indent=1))
        console.print(f"[dim]saved {args.json}[/]")
    return code


def verdict(code: int, unchecked: list[str]) -> str:
    if code:
        return "[bold red]VALIDATION FAILED[/]"
    if unchecked:
        return f"[bold yellow]all checked kernels passed; NOT checked: {', '.join(unchecked)}[/]"
    return "[bold green]all kernels passed[/]"
