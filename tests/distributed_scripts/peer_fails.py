"""A rank that raises (argv[1] == "raise") or stalls ("stall") must not leave the others hanging:
a raise aborts the MPI job; a stall makes the others' collective time out with a clear error."""

import sys
import time

import wgtorch as torch
import wgtorch.distributed as dist

dist.init_process_group("mpi", timeout=float(sys.argv[2]))
x = torch.ones(3)
dist.all_reduce(x)  # everyone is alive
if dist.get_rank() == 1:
    if sys.argv[1] == "raise":
        raise ValueError("rank 1 failed on purpose")
    time.sleep(60)
dist.all_reduce(x)
print("unreachable: the all_reduce finished without rank 1")
