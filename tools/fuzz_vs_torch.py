"""Long-run differential fuzzing: wgtorch against PyTorch (CPU) on N random cases per device.

    python tools/fuzz_vs_torch.py                     # 20,000 cases on each of cpu and wgpu
    python tools/fuzz_vs_torch.py -n 2000 --device wgpu --seed 3
    python tools/fuzz_vs_torch.py --replay 3:1234 --device wgpu   # one case, in-process
    python tools/fuzz_vs_torch.py --deterministic     # tests/test_oracle.py's cases, crash-guarded

Cases come from tests/oracle.py (`random_case(seed, index)`: elementwise, reductions, matmul,
views, indexing, in-place). They run in worker subprocesses, a chunk at a time, so that a crash
(an abort in a native driver) is counted against its case instead of killing the run, and a case
that makes no progress within --timeout seconds is counted as a hang (the worker is killed and
the run resumes at the next case). At the end it prints the counts and the top mismatching
(kind, op, dtypes) classes, each with a one-line repro.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import selectors
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SILENT = ("value", "dtype", "shape")
EVENTS = ("crash", "hang", "harness")


def _case(seed: int, i: int, family: str | None, deterministic: bool):
    from tests import oracle

    if deterministic:
        from tests.test_oracle import CASES

        name, case = CASES[i]
        case.replay = f"test_oracle {name}"
        return case
    return oracle.random_case(seed, i, family)


def worker(device: str, seed: int, start: int, stop: int, family: str | None, deterministic: bool) -> None:
    """Run cases [start, stop) and print one line before ("S i") and after ("R {json}") each."""
    import warnings

    warnings.filterwarnings("ignore")
    from tests import oracle

    for i in range(start, stop):
        print(f"S {i}", flush=True)
        try:
            case = _case(seed, i, family, deterministic)
            o = oracle.check(case, device)
            rec = {"i": i, "kind": o.kind, "family": case.family, "dtypes": case.dtypes(), "line": o.line()}
        except Exception as e:  # noqa: BLE001  (a harness error, not a library one)
            rec = {"i": i, "kind": "harness", "family": "?", "dtypes": "?",
                   "line": f"{type(e).__name__}: {e} [replay {seed}:{i}]"}
        print("R " + json.dumps(rec), flush=True)


def run_device(args, device: str) -> dict:
    counts = collections.Counter()
    classes: dict = {}
    i = 0
    t0 = time.time()
    while i < args.n:
        stop = min(i + args.chunk, args.n)
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--device", device, "--seed", str(args.seed),
               "--start", str(i), "--stop", str(stop)] + (["--family", args.family] if args.family else []) + \
            (["--deterministic"] if args.deterministic else [])
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                start_new_session=True)
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        current = None
        last = time.time()
        startup = args.timeout + 60  # the first case also pays for importing torch and starting wgpu
        while True:
            limit = startup if current is None or current == i else args.timeout
            if not sel.select(timeout=max(0.1, limit - (time.time() - last))):
                if time.time() - last < limit:
                    continue
                os.killpg(proc.pid, signal.SIGKILL)  # our own worker, by its process group
                proc.wait()
                if current is not None:
                    counts["hang"] += 1
                    _note(classes, "hang", "?", "?", f"hang on {device} [replay {_where(args, current)}]")
                    i = current + 1
                else:
                    i += 1
                break
            line = proc.stdout.readline()
            if not line:  # the worker ended
                rc = proc.wait()
                if current is not None:  # died inside a case
                    counts["crash"] += 1
                    _note(classes, "crash", "?", "?", f"crash (rc {rc}) on {device} [replay {_where(args, current)}]")
                    i = current + 1
                else:
                    i = stop
                break
            last = time.time()
            if line.startswith("S "):
                current = int(line[2:])
            elif line.startswith("R "):
                rec = json.loads(line[2:])
                counts["cases"] += 1
                counts[rec["kind"]] += 1
                if rec["kind"] not in ("ok", "both_raise", "deviation_ok"):
                    _note(classes, rec["kind"], rec["family"], rec["dtypes"], rec["line"])
                current = None
                i = rec["i"] + 1
        sel.close()
        if args.progress:
            print(f"  {device}: {i}/{args.n} cases, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    counts["cases"] += counts["crash"] + counts["hang"]
    return {"counts": counts, "classes": classes, "seconds": time.time() - t0}


def _where(args, i: int) -> str:
    if args.deterministic:
        from tests.test_oracle import CASES

        return f"test_oracle {CASES[i][0]}"
    return f"{args.seed}:{i}"


def _note(classes, kind, family, dtypes, line):
    # every crash, hang and harness error is its own class: each gets its repro printed
    key = (kind, family, dtypes) if kind not in EVENTS else (kind, line, "")
    if key not in classes:
        classes[key] = [0, line]
    classes[key][0] += 1


def report(device: str, r: dict, top: int) -> None:
    c = r["counts"]
    silent = sum(c[k] for k in SILENT)
    both = c["both_raise"] + c["exc_type"]
    print(f"== {device}: {c['cases']} cases in {r['seconds']:.0f} s")
    print(f"   ok {c['ok']}, crashes {c['crash']}, hangs {c['hang']}, harness errors {c['harness']}")
    print(f"   silent mismatches {silent} (value {c['value']}, dtype {c['dtype']}, shape {c['shape']}); "
          f"gradient mismatches {c['grad']}")
    print(f"   both raise {both}, exception types equal {c['both_raise']}, different {c['exc_type']}")
    print(f"   wgtorch raises, torch doesn't {c['wg_raises']}; torch raises, wgtorch doesn't {c['torch_raises']}")
    print(f"   wgpu deviations raised as documented {c['deviation_ok']}, not as documented {c['deviation']}")
    for (kind, line, _), _v in sorted(k for k in r["classes"].items() if k[0][0] in EVENTS):
        print(f"   {kind}: {line[:400]}")
    ranked = sorted(((k, v) for k, v in r["classes"].items() if k[0] not in EVENTS), key=lambda kv: -kv[1][0])[:top]
    if ranked:
        print(f"   top {len(ranked)} mismatching classes (kind, op, dtypes): count, repro")
    for (kind, fam, dts), (n, line) in ranked:
        print(f"   {n:5d}  {kind:12s} {fam:26s} {dts:22s} {line[:400]}")


def replay(spec: str, device: str) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    from tests import oracle

    parts = spec.split(":")
    case = oracle.random_case(int(parts[0]), int(parts[1]), parts[2] if len(parts) > 2 else None)
    print(oracle.check(case, device).line())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", "--n", type=int, default=20000, help="cases per device (default 20000)")
    p.add_argument("--device", nargs="+", default=["cpu", "wgpu"])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--family", help="only this family: elementwise, reduce, matmul, view, index, inplace")
    p.add_argument("--chunk", type=int, default=500, help="cases per worker process")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds without progress that count as a hang")
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--progress", action="store_true")
    p.add_argument("--replay", metavar="SEED:INDEX[:FAMILY]")
    p.add_argument("--json", help="also write the counts and classes here")
    p.add_argument("--deterministic", action="store_true", help="run tests/test_oracle.py's cases instead (-n: all)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--start", type=int, help=argparse.SUPPRESS)
    p.add_argument("--stop", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.device[0], args.seed, args.start, args.stop, args.family, args.deterministic)
        return 0
    if args.replay:
        for d in args.device:
            replay(args.replay, d)
        return 0
    if args.deterministic:
        from tests.test_oracle import CASES

        args.n = min(args.n, len(CASES)) if "-n" in (argv or sys.argv) or "--n" in (argv or sys.argv) else len(CASES)
    results = {}
    for d in args.device:
        results[d] = run_device(args, d)
        report(d, results[d], args.top)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({d: {"counts": r["counts"], "seconds": r["seconds"],
                           "classes": [[*k, *v] for k, v in r["classes"].items()]} for d, r in results.items()},
                      f, indent=1)
    bad = sum(r["counts"][k] for r in results.values() for k in ("crash", "hang", "harness") + SILENT)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
