"""The gradient reducer of DistributedDataParallel: buckets all-reduced from gradient hooks.

Each parameter's post-accumulate-grad hook marks it ready; when a bucket's parameters are all
ready (and every bucket before it has been started, so all ranks start them in the same order, as
MPI requires), its gradients are flattened into one tensor and a non-blocking all-reduce (AVG) is
started, overlapping the rest of backward. A callback queued on the autograd engine waits for every
bucket at the end of backward and writes the averages back into ``.grad``.
"""

from __future__ import annotations

from ... import distributed as dist
from ..._creation import zeros, zeros_like
from ...autograd import no_grad
from ...autograd.engine import queue_callback
from ...ops.shape import cat
from . import _buckets


class Reducer:
    def __init__(self, params, group, bucket_cap_bytes: int, find_unused_parameters: bool):
        self.params = params
        self.group = group
        self.find_unused_parameters = find_unused_parameters
        backward_order = params[::-1]
        indices = _buckets.compute_bucket_assignment_by_size(backward_order,
                                                             [_buckets.DEFAULT_FIRST_BUCKET_BYTES, bucket_cap_bytes])
        self.buckets = [[backward_order[i] for i in bucket] for bucket in indices]
        self.bucket_of = {id(p): b for b, bucket in enumerate(self.buckets) for p in bucket}
        self.sync = True
        self._active = False
        self.handles = [p.register_post_accumulate_grad_hook(self._grad_ready) for p in params]

    # -- one iteration -------------------------------------------------------------------------
    def _start_iteration(self) -> None:
        self._active = True
        self._pending = [len(b) for b in self.buckets]
        self._used: set[int] = set()
        self._next = 0
        self._started: list = [None] * len(self.buckets)
        queue_callback(self._finalize)

    def _grad_ready(self, param) -> None:
        if not self.sync:
            return
        if not self._active:
            self._start_iteration()
        if id(param) in self._used:
            return
        self._used.add(id(param))
        b = self.bucket_of[id(param)]
        self._pending[b] -= 1
        self._launch_ready()

    def _launch_ready(self) -> None:
        while self._next < len(self.buckets) and self._pending[self._next] == 0:
            b = self._next
            with no_grad():
                grads = [p.grad if id(p) in self._used else zeros_like(p) for p in self.buckets[b]]
                flat = cat([g.reshape(-1) for g in grads])
            work = dist.all_reduce(flat, op=dist.ReduceOp.AVG, group=self.group, async_op=True)
            self._started[b] = (flat, work)
            self._next += 1

    def _finalize(self) -> None:
        """Run by the autograd engine once backward is over: wait for every bucket, write back."""
        self._active = False
        unused = [p for p in self.params if id(p) not in self._used]
        if unused and not self.find_unused_parameters:
            raise RuntimeError(
                f"DistributedDataParallel: {len(unused)} parameter(s) did not receive a gradient in this "
                f"backward pass, so their buckets could not be reduced. Pass find_unused_parameters=True "
                f"if some parameters are not used in the forward pass.")
        for p in unused:
            self._pending[self.bucket_of[id(p)]] -= 1
        self._launch_ready()
        used_anywhere = None
        if self.find_unused_parameters:
            used_anywhere = zeros(len(self.params))
            for i, p in enumerate(self.params):
                if id(p) in self._used:
                    used_anywhere[i] = 1.0
            dist.all_reduce(used_anywhere, group=self.group)
            used_anywhere = {id(p): u > 0 for p, u in zip(self.params, used_anywhere.tolist())}
        with no_grad():
            for b, (flat, work) in enumerate(self._started):
                work.wait()
                offset = 0
                for p in self.buckets[b]:
                    n = p.numel()
                    if used_anywhere is None or used_anywhere[id(p)]:
                        avg = flat[offset:offset + n].view(p.shape)
                        if p.grad is None:
                            p.grad = avg.clone()
                        else:
                            p.grad.copy_(avg)
                    offset += n
        self._started = []
