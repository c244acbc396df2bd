"""Distributed communication over MPI (like ``torch.distributed``): ``mpiexec -n N python train.py``.

Needs mpi4py and an MPI library (``pip install 'wgtorch[distributed]'``). Only the "mpi" backend
exists; tensors of every device work (wgpu and CUDA ones through host memory).
"""

from ._collectives import (
    ReduceOp,
    all_gather,
    all_gather_into_tensor,
    all_reduce,
    barrier,
    broadcast,
    gather,
    irecv,
    isend,
    recv,
    reduce,
    reduce_scatter_tensor,
    scatter,
    send,
)
from ._group import (
    ProcessGroup,
    default_pg_timeout,
    destroy_process_group,
    get_backend,
    get_global_rank,
    get_group_rank,
    get_local_rank,
    get_node_local_rank,
    get_process_group_ranks,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_gloo_available,
    is_initialized,
    is_mpi_available,
    is_nccl_available,
    new_group,
)
from ._work import Work

__all__ = ["ProcessGroup", "ReduceOp", "Work", "all_gather", "all_gather_into_tensor", "all_reduce", "barrier",
           "broadcast", "default_pg_timeout", "destroy_process_group", "gather", "get_backend",
           "get_global_rank", "get_group_rank", "get_local_rank", "get_node_local_rank",
           "get_process_group_ranks", "get_rank", "get_world_size", "init_process_group", "irecv",
           "is_available", "is_gloo_available", "is_initialized", "is_mpi_available", "is_nccl_available",
           "isend", "new_group", "recv", "reduce", "reduce_scatter_tensor", "scatter", "send"]
