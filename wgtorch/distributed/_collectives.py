"""Collectives and point-to-point operations on tensors of any device, over MPI.

CPU tensors whose memory is one contiguous NumPy array are handed to MPI as they are (in place);
wgpu and CUDA tensors (and CPU views that are not contiguous) go through one host copy per call, read
with the backend's ``to_numpy`` and written back with ``copy_``. Every operation starts an MPI
non-blocking request and is finished by :class:`Work` (``async_op=True`` returns it), so every wait
has the process group's timeout.
"""

from __future__ import annotations

import enum

import numpy as np

from ._group import _group, _mpi
from ._work import Work


class ReduceOp(enum.Enum):
    """Reduction operations, as ``torch.distributed.ReduceOp``."""

    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4


class _Host:
    """A tensor's bytes as a contiguous NumPy array for MPI, and the write back when it is a copy."""

    def __init__(self, tensor, writable: bool, reduce: bool = False):
        self.tensor = tensor
        data = tensor._data
        np_dt = np.dtype(tensor.dtype.np)
        wire = np.dtype(np.float32) if reduce and np_dt == np.float16 else (
            np.dtype(np.uint8) if reduce and np_dt == np.bool_ else np_dt)
        self.direct = (isinstance(data, np.ndarray) and data.flags.c_contiguous and data.dtype == wire
                       and (data.flags.writeable or not writable))
        if self.direct:
            self.array = data
        else:
            self.array = np.ascontiguousarray(tensor._be.to_numpy(data), dtype=wire)
            if self.array is data:  # a CPU array MPI would overwrite before it was meant to
                self.array = self.array.copy()

    def write_back(self, values=None) -> None:
        """Copy ``values`` (default: the staged array) into the tensor unless MPI wrote it in place; the
        tensor's version counter moves on either way (autograd must not reuse it as saved)."""
        values = self.array if values is None else values
        t = self.tensor
        t._counter()[0] += 1
        if self.direct and values is self.array:
            return
        values = np.ascontiguousarray(values, dtype=t.dtype.np).reshape(tuple(t.shape))
        write = getattr(t._be, "write_numpy", None)  # wgpu: straight into the buffer, no copy kernel
        if write is not None and write(t._data, values):
            return
        from .. import from_numpy, no_grad

        with no_grad():
            t.copy_(from_numpy(values))


def _bytes(a: np.ndarray):
    return [a, _mpi().BYTE]


def _mpi_op(op):
    MPI = _mpi()
    op = ReduceOp(op.value if isinstance(op, ReduceOp) else op)
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
            ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}[op], op is ReduceOp.AVG


def _check_avg(tensor, avg: bool) -> None:
    if avg and not tensor.dtype.is_floating_point:
        raise ValueError(f"ReduceOp.AVG needs a floating-point tensor, got {tensor.dtype}")


def _submit(name, pg, requests, finish, async_op, keep=()):
    work = Work(requests, name, pg.timeout_s, pg.where(), finish)
    work._keep = keep  # buffers MPI reads or writes until the request completes
    if async_op:
        return work
    work.wait()
    return None


def _root(pg, rank: int, what: str) -> int:
    if rank not in pg.ranks:
        raise ValueError(f"{what} rank {rank} is not in the group {pg.ranks}")
    return pg.ranks.index(rank)


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` across the group, in place on every rank."""
    pg = _group(group)
    if pg.comm is None:
        return None
    mpi_op, avg = _mpi_op(op)
    _check_avg(tensor, avg)
    host = _Host(tensor, writable=True, reduce=True)
    request = pg.comm.Iallreduce(_mpi().IN_PLACE, host.array, mpi_op)

    def finish():
        if avg:
            np.divide(host.array, pg.size(), out=host.array)
        host.write_back()

    return _submit("all_reduce", pg, [request], finish, async_op, keep=host)


def reduce(tensor, dst, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` across the group into rank ``dst``'s tensor."""
    pg = _group(group)
    if pg.comm is None:
        return None
    mpi_op, avg = _mpi_op(op)
    _check_avg(tensor, avg)
    root = _root(pg, dst, "dst")
    mine = pg.rank() == root
    host = _Host(tensor, writable=mine, reduce=True)
    MPI = _mpi()
    request = pg.comm.Ireduce(MPI.IN_PLACE if mine else host.array, host.array if mine else None, mpi_op,
                              root=root)

    def finish():
        if mine:
            if avg:
                np.divide(host.array, pg.size(), out=host.array)
            host.write_back()

    return _submit("reduce", pg, [request], finish, async_op, keep=host)


def broadcast(tensor, src, group=None, async_op=False):
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor``."""
    pg = _group(group)
    if pg.comm is None:
        return None
    root = _root(pg, src, "src")
    host = _Host(tensor, writable=True)
    request = pg.comm.Ibcast(_bytes(host.array), root=root)
    finish = None if pg.rank() == root else host.write_back
    return _submit("broadcast", pg, [request], finish, async_op, keep=host)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """``tensor_list[i]`` receives rank i's ``tensor``."""
    pg = _group(group)
    if pg.comm is None:
        return None
    if len(tensor_list) != pg.size():
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors for a group of {pg.size()}")
    send = _Host(tensor, writable=False)
    recv = np.empty((pg.size(),) + send.array.shape, send.array.dtype)
    request = pg.comm.Iallgather(_bytes(send.array), _bytes(recv))

    def finish():
        for out, values in zip(tensor_list, recv):
            _Host(out, writable=True).write_back(values)

    return _submit("all_gather", pg, [request], finish, async_op, keep=(send, recv))


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Concatenate every rank's ``input_tensor`` along dim 0 into ``output_tensor`` (or stack them, if
    ``output_tensor`` has shape ``(world_size, *input.shape)``)."""
    pg = _group(group)
    if pg.comm is None:
        return None
    if output_tensor.numel() != input_tensor.numel() * pg.size():
        raise ValueError(f"all_gather_into_tensor: output has {output_tensor.numel()} elements, needs "
                         f"{pg.size()} x {input_tensor.numel()}")
    send = _Host(input_tensor, writable=False)
    out = _Host(output_tensor, writable=True)
    request = pg.comm.Iallgather(_bytes(send.array), _bytes(out.array))
    return _submit("all_gather_into_tensor", pg, [request], out.write_back, async_op, keep=(send, out))


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input`` across ranks and give rank i the i-th of ``world_size`` equal chunks (dim 0)."""
    pg = _group(group)
    if pg.comm is None:
        return None
    if input.numel() != output.numel() * pg.size():
        raise ValueError(f"reduce_scatter_tensor: input has {input.numel()} elements, needs "
                         f"{pg.size()} x {output.numel()}")
    mpi_op, avg = _mpi_op(op)
    _check_avg(output, avg)
    send = _Host(input, writable=False, reduce=True)
    out = _Host(output, writable=True, reduce=True)
    request = pg.comm.Ireduce_scatter_block(send.array, out.array, mpi_op)

    def finish():
        if avg:
            np.divide(out.array, pg.size(), out=out.array)
        out.write_back()

    return _submit("reduce_scatter_tensor", pg, [request], finish, async_op, keep=(send, out))


def gather(tensor, gather_list=None, dst=0, group=None, async_op=False):
    """Rank ``dst``'s ``gather_list[i]`` receives rank i's ``tensor``."""
    pg = _group(group)
    if pg.comm is None:
        return None
    root = _root(pg, dst, "dst")
    mine = pg.rank() == root
    if mine and (gather_list is None or len(gather_list) != pg.size()):
        raise ValueError(f"gather: rank {dst} needs a gather_list of {pg.size()} tensors")
    send = _Host(tensor, writable=False)
    recv = np.empty((pg.size(),) + send.array.shape, send.array.dtype) if mine else None
    request = pg.comm.Igather(_bytes(send.array), _bytes(recv) if mine else None, root=root)

    def finish():
        if mine:
            for out, values in zip(gather_list, recv):
                _Host(out, writable=True).write_back(values)

    return _submit("gather", pg, [request], finish, async_op, keep=(send, recv))


def scatter(tensor, scatter_list=None, src=0, group=None, async_op=False):
    """Every rank i receives rank ``src``'s ``scatter_list[i]`` into ``tensor``."""
    pg = _group(group)
    if pg.comm is None:
        return None
    root = _root(pg, src, "src")
    mine = pg.rank() == root
    out = _Host(tensor, writable=True)
    send = None
    if mine:
        if scatter_list is None or len(scatter_list) != pg.size():
            raise ValueError(f"scatter: rank {src} needs a scatter_list of {pg.size()} tensors")
        send = np.stack([_Host(t, writable=False).array for t in scatter_list]).astype(out.array.dtype)
    request = pg.comm.Iscatter(_bytes(send) if mine else None, _bytes(out.array), root=root)
    return _submit("scatter", pg, [request], out.write_back, async_op, keep=(send, out))


def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank of the group has reached the barrier."""
    pg = _group(group)
    if pg.comm is None:
        return None
    return _submit("barrier", pg, [pg.comm.Ibarrier()], None, async_op)


def isend(tensor, dst, group=None, tag=0):
    """Start sending ``tensor`` to rank ``dst``; returns a :class:`Work`."""
    pg = _group(group)
    if pg.comm is None:
        return None
    host = _Host(tensor, writable=False)
    request = pg.comm.Isend(_bytes(host.array), dest=_root(pg, dst, "dst"), tag=tag)
    return _submit("send", pg, [request], None, True, keep=host)


def send(tensor, dst, group=None, tag=0) -> None:
    isend(tensor, dst, group, tag).wait()


class _ProbeThenRecv:
    """A request for a receive from any rank: probe for a matching message, then receive it."""

    def __init__(self, comm, buf, tag):
        self.comm, self.buf, self.tag = comm, buf, tag
        self.status = _mpi().Status()
        self.request = None
        self.source = None

    def Test(self):  # noqa: N802 - the MPI Request method name
        if self.request is None:
            if not self.comm.Iprobe(source=_mpi().ANY_SOURCE, tag=self.tag, status=self.status):
                return False
            self.source = self.status.Get_source()
            self.request = self.comm.Irecv(self.buf, source=self.source, tag=self.tag)
        return self.request.Test()


def irecv(tensor, src=None, group=None, tag=0):
    """Start receiving into ``tensor`` from rank ``src`` (any rank if None); returns a :class:`Work`
    whose ``result()`` is the sender's rank."""
    pg = _group(group)
    if pg.comm is None:
        return None
    host = _Host(tensor, writable=True)
    if src is None:
        request = _ProbeThenRecv(pg.comm, _bytes(host.array), tag)

        def finish():
            host.write_back()
            return pg.ranks[request.source]
    else:
        request = pg.comm.Irecv(_bytes(host.array), source=_root(pg, src, "src"), tag=tag)

        def finish():
            host.write_back()
            return src

    return _submit("recv", pg, [request], finish, True, keep=host)


def recv(tensor, src=None, group=None, tag=0) -> int:
    """Receive into ``tensor`` from rank ``src`` (any if None); returns the sender's rank."""
    return irecv(tensor, src, group, tag).result()
