"""All-reduce of 1 MB and 16 MB float32 buffers over MPI, in the same run: mpi4py's ``Allreduce`` on
NumPy buffers directly, then ``wgtorch.distributed.all_reduce`` on cpu tensors (and on wgpu tensors,
which go through one host copy each way, when an adapter is there). Interleaved rounds, medians.

    mpiexec -n 2 python benches/bench_distributed.py [--rounds 30] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
from mpi4py import MPI

import wgtorch as torch
import wgtorch.distributed as dist


def timed(fn, comm) -> float:
    comm.Barrier()
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    return comm.allreduce(elapsed, op=MPI.MAX)  # the slowest rank's time


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--json", help="write the medians (ms) to this file (rank 0)")
    args = parser.parse_args(argv)
    dist.init_process_group("mpi")
    comm = MPI.COMM_WORLD
    devices = ["cpu"] + (["wgpu"] if torch.wgpu.is_available() else [])
    results = {}
    # cpu first, wgpu after: once a wgpu device exists its polling thread competes for the (few) cores.
    for device in devices:
        for mb in (1, 16):
            n = mb * 1024 * 1024 // 4
            host = np.ones(n, np.float32)
            t = torch.ones(n, device=device)
            cases = {"mpi4py": lambda host=host: comm.Allreduce(MPI.IN_PLACE, host, op=MPI.SUM),
                     f"wgtorch {device}": lambda t=t: dist.all_reduce(t)}
            for fn in cases.values():  # warm up (connections, kernels)
                fn()
            times = {name: [] for name in cases}
            for _ in range(args.rounds):
                for name, fn in cases.items():
                    times[name].append(timed(fn, comm))
            for name, ts in times.items():
                results[f"{mb} MB {name} ({device} phase)"] = statistics.median(ts) * 1e3
    if comm.Get_rank() == 0:
        for device in devices:
            for mb in (1, 16):
                base = results[f"{mb} MB mpi4py ({device} phase)"]
                ms = results[f"{mb} MB wgtorch {device} ({device} phase)"]
                print(f"all_reduce {mb:2d} MB  mpi4py {base:8.3f} ms  wgtorch {device:4s} {ms:8.3f} ms  "
                      f"{ms / base:5.2f}x")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
    dist.destroy_process_group()
    return results


if __name__ == "__main__":
    main()
