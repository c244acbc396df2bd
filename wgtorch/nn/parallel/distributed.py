"""``DistributedDataParallel``: data-parallel training, one process per replica, over MPI."""

from __future__ import annotations

from contextlib import contextmanager

from ... import distributed as dist
from ..modules.module import Module
from ._buckets import DEFAULT_BUCKET_CAP_MB
from ._reducer import Reducer


class DistributedDataParallel(Module):
    """Wrap ``module`` so that ``backward`` averages gradients over the process group, as PyTorch's.

    At construction rank 0's parameters and buffers are broadcast to every rank. Gradients are
    all-reduced in buckets (the first 1 MB, then ``bucket_cap_mb``, in reverse parameter order),
    each started from gradient hooks as soon as it is full, so communication overlaps the rest of
    backward; backward returns once every bucket is averaged. ``no_sync()`` accumulates gradients
    locally. The module must already be on its device (``device_ids`` may name it, as in PyTorch).
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, init_sync: bool = True, process_group=None,
                 bucket_cap_mb: float | None = None, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False, static_graph: bool = False):
        super().__init__()
        if device_ids is not None and len(device_ids) > 1:
            raise ValueError("device_ids can only be None or contain a single element (one device per process)")
        if not dist.is_initialized():
            raise RuntimeError("Default process group has not been initialized, please make sure to call "
                               "init_process_group.")
        self.module = module
        self.process_group = process_group
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.dim = dim
        self.device_ids = device_ids
        self.output_device = output_device
        self.static_graph = static_graph
        self.bucket_bytes_cap = int((DEFAULT_BUCKET_CAP_MB if bucket_cap_mb is None else bucket_cap_mb) * 1024 * 1024)
        self.require_backward_grad_sync = True
        self._src = dist.get_process_group_ranks(process_group)[0]
        params = []
        for p in module.parameters():
            if p.requires_grad and not any(p is q for q in params):
                params.append(p)
        if init_sync:
            for t in [*module.parameters(), *module.buffers()]:
                dist.broadcast(t.detach(), src=self._src, group=process_group)
        self.reducer = Reducer(params, process_group, self.bucket_bytes_cap, find_unused_parameters)

    def forward(self, *args, **kwargs):
        if self.broadcast_buffers and self.require_backward_grad_sync:
            for b in self.module.buffers():
                dist.broadcast(b.detach(), src=self._src, group=self.process_group)
        self.reducer.sync = self.require_backward_grad_sync
        return self.module(*args, **kwargs)

    @contextmanager
    def no_sync(self):
        """Inside, backward only accumulates local gradients; the first backward after it averages them."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous
