"""``wgtorch.nn.parallel``: ``DistributedDataParallel`` over ``wgtorch.distributed`` (MPI)."""

from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
