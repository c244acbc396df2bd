"""Run records: saving and loading the dashboard's JSON, reading pytest-benchmark's JSON, and
the change between two runs.

A record holds the columns, one row per workload (its cells keyed by column key) and what is
needed to render it again without re-running anything.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from .runner import Column, Result
from .suites import BY_NAME, WORKLOADS

FORMAT = "wgtorch-bench"
VERSION = 1


@dataclass
class Row:
    """One workload's cells."""

    suite: str
    name: str
    label: str
    reference: str
    cells: dict[str, Result] = field(default_factory=dict)


@dataclass
class Record:
    """One dashboard run (or a pytest-benchmark run mapped onto the dashboard's rows)."""

    columns: list[Column]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    quick: bool = False
    created: str = ""
    machine: dict = field(default_factory=dict)
    wall_s: float | None = None
    source: str = FORMAT

    def to_json(self) -> dict:
        return {
            "format": FORMAT, "version": VERSION, "source": self.source, "created": self.created,
            "quick": self.quick, "wall_s": self.wall_s, "machine": self.machine, "notes": self.notes,
            "columns": [vars(c) for c in self.columns],
            "rows": [{"suite": r.suite, "name": r.name, "label": r.label, "reference": r.reference,
                      "cells": {k: v.to_json() for k, v in r.cells.items()}} for r in self.rows],
        }

    @classmethod
    def from_json(cls, d: dict) -> Record:
        if d.get("format") != FORMAT:
            raise ValueError("not a wgtorch-bench JSON file (no \"format\": \"wgtorch-bench\")")
        if d.get("version") != VERSION:
            raise ValueError(f"wgtorch-bench JSON version {d.get('version')} is not supported "
                             f"(this wgtorch reads version {VERSION})")
        rows = [Row(r["suite"], r["name"], r["label"], r.get("reference", ""),
                    {k: Result.from_json(v) for k, v in r["cells"].items()}) for r in d["rows"]]
        return cls([Column.from_json(c) for c in d["columns"]], rows, d.get("notes", []),
                   d.get("quick", False), d.get("created", ""), d.get("machine", {}), d.get("wall_s"),
                   d.get("source", FORMAT))

    def row(self, name: str) -> Row | None:
        return next((r for r in self.rows if r.name == name), None)

    def only_suites(self, suites) -> Record:
        if not suites:
            return self
        rows = [r for r in self.rows if r.suite in suites]
        return Record(self.columns, rows, self.notes, self.quick, self.created, self.machine, self.wall_s,
                      self.source)


def save(record: Record, path) -> None:
    Path(path).write_text(json.dumps(record.to_json(), indent=1))


def load(path) -> Record:
    """A record from a wgtorch-bench JSON file or a pytest-benchmark JSON file."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    if isinstance(data, dict) and "benchmarks" in data:
        return from_pytest_benchmark(data)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return Record.from_json(data)


# -- pytest-benchmark --------------------------------------------------------------------------
def _default_column(key: str) -> Column:
    titles = {"cpu": "wgtorch cpu", "numpy": "NumPy", "torch:cpu": "PyTorch cpu",
              "torch:cuda": "PyTorch cuda"}
    kind = "peer" if key.split(":")[0] in ("numpy", "torch") else "wgtorch"
    return Column(key, kind, titles.get(key, f"wgtorch {key}"))


def _identify(bench: dict) -> tuple[str | None, str | None]:
    """(workload name, column key) of one pytest-benchmark entry: from the extra_info the
    benches/ files record, else the test parameters, else the test id."""
    info = bench.get("extra_info") or {}
    if info.get("workload") and info.get("column"):
        return info["workload"], info["column"]
    params = bench.get("params") or {}
    workload = next((v for v in params.values() if isinstance(v, str) and v in BY_NAME), None)
    column = params.get("bench_column")
    if workload and column:
        return workload, column
    m = re.search(r"\[(.*)\]$", bench.get("name", ""))
    if m:
        parts = m.group(1).split("-")
        workload = next((p for p in parts if p in BY_NAME), None)
        others = [p for p in parts if p != workload]
        if workload and len(others) == 1:
            return workload, others[0]
    return None, None


def from_pytest_benchmark(data: dict) -> Record:
    """Map ``pytest benches/ --benchmark-json=PATH`` output onto the dashboard's rows."""
    columns: dict[str, Column] = {}
    cells: dict[str, dict[str, Result]] = {}
    notes = ["pytest-benchmark closes every call with a device synchronize: device columns include one "
             "synchronize per call (the dashboard's own runs amortise it over a sample)"]
    for bench in data["benchmarks"]:
        name, key = _identify(bench)
        if name is None:
            notes.append(f"not a dashboard workload: {bench.get('fullname', bench.get('name'))}")
            continue
        info = bench.get("extra_info") or {}
        if key not in columns:
            col = _default_column(key)
            col.title = info.get("column_title", col.title)
            col.detail = info.get("column_detail", col.detail)
            col.software = bool(info.get("software", col.software))
            columns[key] = col
        s = bench["stats"]
        cells.setdefault(name, {})[key] = Result(
            "ok", s["median"], s.get("q1"), s.get("q3"), s.get("stddev"), int(s.get("iterations", 1)),
            sorted(s.get("data") or []))
    order = {"wgtorch": 0, "peer": 1}
    ordered = sorted(columns.values(), key=lambda c: (order[c.kind], c.key != "cpu", c.key))
    rows = [Row(w.suite, w.name, w.label, w.reference.text, cells[w.name])
            for w in WORKLOADS if w.name in cells]
    machine = data.get("machine_info") or {}
    return Record(ordered, rows, notes, False, data.get("datetime", ""),
                  {k: machine[k] for k in ("node", "processor", "python_version", "system", "release")
                   if k in machine}, None, "pytest-benchmark")


# -- comparing ---------------------------------------------------------------------------------
def change(new: Result | None, old: Result | None) -> float | None:
    """Relative change of the median (+0.25 = 25 % slower), or None if either is not timed."""
    if new is None or old is None or new.status != "ok" or old.status != "ok" or not old.median:
        return None
    return new.median / old.median - 1.0


def geomean(values) -> float | None:
    values = [v for v in values if v is not None and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))
