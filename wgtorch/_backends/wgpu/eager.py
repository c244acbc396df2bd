"""The eager fast path of elementwise ops on wgpu (`WgpuBackend.elementwise_plan`).

The front end (`ops/pointwise.py`) caches, per (op, dtypes, shapes, strides, scalar types), a
callable from ``elementwise_plan``; a repeated call is then: one pool block, the output's
Storage and array made slot by slot, one dict lookup for (pipeline, bind group) by the buffers
the call binds, the parameters copied from a template already packed (only the element offsets,
and scalar values if any, are packed per call), and wgpu-native's pass calls. All of it runs
under the runtime's lock, in one acquisition, by the same rules as `Runtime.dispatch`: blocks of
dead storages return through `Runtime._reclaim` (held back while unsubmitted work touches their
buffer), a graph capture pins the block and records the dispatch, and a full ring or too much
held-back memory submits first.

The most common call, two arrays and no scalar (``a + b``), is `_Eager.binary`'s closure: the
pool shares the runtime's lock, so its hit path runs inline under the one acquisition, and a
dead block of a buffer this batch touches (the usual case: the previous result, on a shared
page) is held back inline, and the whole parameter block is one ``pack_into`` (the template's
bytes around the three offsets). The three statistics of a dispatch are one counter
(`Runtime.stats` folds it in when read); a cached binding adds its buffers to the touched set
once per batch (`Runtime._batch`); ``empty_cache`` drops the cached bindings of the buffers it
destroys (`_Eager.forget`).
"""

from __future__ import annotations

import math
import struct

from ..._dtype import dtype, float64
from .array import WgpuArray
from .elementwise import _F32_ROUNDS_TO_INF, PARAMS, _Plan, _scalar_value
from .runtime import MAX_PENDING_BYTES, META_SLOT, Storage

# Where offsets and scalars lie in the parameter block: PARAMS's, or for an int64 kernel (shader-int64)
# its widened block's (scalar_i holds i64 values there).
_AT = {False: (PARAMS.offset_of("offset"), PARAMS.offset_of("scalar_f"), PARAMS.offset_of("scalar_i")),
       True: (PARAMS.widened_int().offset_of("offset"), PARAMS.widened_int().offset_of("scalar_f"),
              PARAMS.widened_int().offset_of("scalar_i"))}
_BOUND_MAX = 64  # (out, operand) buffer combinations kept per plan: pages are few
_new = object.__new__


class _Eager:
    """One planned elementwise call (see the module docstring); ``run(args)`` computes it."""

    __slots__ = (
        "be",
        "rt",
        "plan",
        "meta",
        "arrays",
        "offsets",
        "scalars",
        "scalar_struct",
        "scalar_at",
        "offset_at",
        "wide_int",
        "is_float",
        "compute",
        "bound",
        "bucket",
        "nbytes",
        "itemsize",
        "shape",
        "strides",
        "size",
        "out_dtype",
        "groups",
        "lock",
        "pool",
        "dead",
        "touched",
        "ring",
        "meta_size",
        "max_groups",
        "__weakref__",
    )

    def __init__(self, be, plan: _Plan, operands):
        self.be, self.rt, self.plan = be, be.rt, plan
        self.arrays = tuple(k for k, x in enumerate(operands) if type(x) is WgpuArray)
        self.scalars = tuple(k for k, x in enumerate(operands) if type(x) is not WgpuArray)
        zeros = (0.0,) * 4 + (0,) * 4 if plan.nscalars else ()
        # The parameters with every offset and scalar 0: each call packs only those over a copy.
        # (a bytearray: assigning bytes to a bytearray's slice first copies them into a new one)
        self.meta = bytearray(plan.struct.pack(*plan.head, *zeros, *plan.params, 0, 0, 0, 0, *plan.tail))
        self.offsets = struct.Struct("<" + "I" * (1 + len(self.arrays)))
        self.is_float = plan.tc == "f32"
        self.wide_int = plan.tc == "i64"
        self.compute = plan.compute
        self.scalar_struct = struct.Struct("<" + ("f" if self.is_float else "q" if self.wide_int else "i")
                                           * len(self.scalars))
        self.offset_at, scalar_f_at, scalar_i_at = _AT[self.wide_int]
        self.scalar_at = scalar_f_at if self.is_float else scalar_i_at
        self.bound = {}
        self.bucket, self.itemsize, self.size = plan.bucket, plan.itemsize, plan.size
        self.nbytes = plan.size * plan.itemsize
        self.shape, self.strides, self.out_dtype, self.groups = plan.shape, plan.strides, plan.out_dtype, plan.groups
        # The runtime's objects that live as long as it does, one attribute lookup away.
        rt = self.rt
        self.lock, self.pool, self.dead, self.touched = rt.lock, rt.pool, rt._dead, rt._touched
        self.ring, self.meta_size, self.max_groups = rt._ring_host, len(self.meta), rt.max_groups
        rt._eager_plans.add(self)  # (so that empty_cache drops bind groups of buffers it destroys)

    def forget(self, serials) -> None:
        """Drop the cached bindings that name a buffer whose serial is in ``serials`` (destroyed by
        `Runtime.empty_cache`; called with the runtime's lock held)."""
        for key in [k for k in self.bound if any(buf.serial in serials for buf in k)]:
            del self.bound[key]

    def _bind(self, key, args, out_buffer):
        """(pipeline, bind group, bound buffers) for the buffers in ``key``; as `_ew_dispatch`
        lays them out: one binding per distinct (buffer, storage type)."""
        plan, rt = self.plan, self.rt
        buffers, types, layout = [out_buffer], [plan.out_wgsl], []
        for x in args:
            if type(x) is WgpuArray:
                buf, t = x.buffer, self.be.wgsl[x.dtype]
                for slot in range(len(buffers)):
                    if buffers[slot] is buf and types[slot] == t:
                        break
                else:
                    slot = len(buffers)
                    buffers.append(buf)
                    types.append(t)
                layout.append(slot)
            else:
                layout.append(-1)
        layout = tuple(layout)
        p = plan.pipelines.get(layout)
        if p is None:
            p = self.be._ew_pipeline(plan, tuple(types), layout, len(buffers))
        bg = rt._bind_group(p, buffers)
        # (the last item: the batch whose touched set last got these buffers, see `binary`)
        entry = [p, bg, bg._internal if p.handle is not None else None, tuple(buffers), -1]
        if len(self.bound) >= _BOUND_MAX:
            self.bound.clear()
        self.bound[key] = entry
        return entry

    def run(self, args) -> WgpuArray:
        rt = self.rt
        arrays = self.arrays
        with self.lock:
            # -- the output: a pooled block, its Storage and a contiguous array over it
            if self.dead:
                rt._reclaim()
            cap = rt._capture
            # (during a capture: the graph's private pool, as Runtime.alloc, which pins the block)
            block = self.pool.alloc_bucket(self.bucket) if cap is None else cap.alloc(self.pool, self.bucket)
            storage = _new(Storage)
            storage.rt = rt
            storage.block = block
            storage.nbytes = self.nbytes
            out_buffer = block.buffer
            out = _new(WgpuArray)
            out.storage = storage
            out.buffer = out_buffer
            out.shape = self.shape
            out.strides = self.strides
            out.offset = out_offset = block.offset // self.itemsize
            out.dtype = self.out_dtype
            out.size = self.size
            out.contiguous = True
            # -- pipeline and bind group by the buffers bound
            if len(arrays) == 2:
                a, b = args[arrays[0]], args[arrays[1]]
                key = (out_buffer, a.buffer, b.buffer)
            elif len(arrays) == 1:
                a = args[arrays[0]]
                key = (out_buffer, a.buffer)
            else:
                key = (out_buffer, *[args[k].buffer for k in arrays])
            entry = self.bound.get(key)
            if entry is None:
                entry = self._bind(key, args, out_buffer)
            p, bg, bg_handle, buffers, batch = entry
            # -- parameters into the ring: the packed template, then this call's offsets (and scalars)
            offset = rt._ring_used
            if offset + META_SLOT > rt._ring_size or rt._pending_bytes > MAX_PENDING_BYTES:
                rt.flush()
                offset = 0
            ring = self.ring
            ring[offset : offset + self.meta_size] = self.meta
            if len(arrays) == 2:
                self.offsets.pack_into(ring, offset + self.offset_at, out_offset, a.offset, b.offset)
            elif len(arrays) == 1:
                self.offsets.pack_into(ring, offset + self.offset_at, out_offset, a.offset)
            else:
                self.offsets.pack_into(ring, offset + self.offset_at, out_offset, *[args[k].offset for k in arrays])
            if self.scalars:
                if self.is_float:
                    values = [float(args[k]) for k in self.scalars]
                    if any(abs(v) >= _F32_ROUNDS_TO_INF for v in values):  # (inf there, as _scalar_slots)
                        values = [v if not abs(v) >= _F32_ROUNDS_TO_INF else math.copysign(math.inf, v)
                                  for v in values]
                else:
                    values = [_scalar_value(args[k], False, self.compute, self.wide_int) for k in self.scalars]
                self.scalar_struct.pack_into(ring, offset + self.scalar_at, *values)
            groups = self.groups
            if cap is not None:
                cap.record_dispatch(rt, p, buffers, self.plan.struct, ring, offset, groups)
            # -- the pass calls (as Runtime.dispatch makes them)
            if rt._pass is None:
                rt._begin_pass()
            rt._ring_used = offset + META_SLOT
            direct = rt._direct
            if direct is not None and bg_handle is not None:
                cp = rt._pass_handle
                if rt._last_pipeline is not p:
                    direct[0](cp, p.handle)
                    rt._last_pipeline = p
                offsets = direct[3]
                offsets[0] = offset
                direct[1](cp, 0, bg_handle, 1, offsets)
                if groups <= self.max_groups:
                    direct[2](cp, groups, 1, 1)
                else:
                    y = -(-groups // self.max_groups)
                    direct[2](cp, -(-groups // y), y, 1)
            else:
                cp = rt._pass
                if rt._last_pipeline is not p:
                    cp.set_pipeline(p.gpu)
                    rt._last_pipeline = p
                cp.set_bind_group(0, bg, [offset])
                if groups <= self.max_groups:
                    cp.dispatch_workgroups(groups, 1, 1)
                else:
                    y = -(-groups // self.max_groups)
                    cp.dispatch_workgroups(-(-groups // y), y, 1)
            if batch != rt._batch:  # (else this batch's touched set has these buffers already)
                self.touched.update(buffers)
                entry[4] = rt._batch
            rt._eager_dispatches += 1  # (a dispatch, a pipeline hit and a bind-group hit: Runtime.stats)
            if offset + META_SLOT >= rt._ring_size:
                rt.flush()
        return out

    def binary(self):
        """`run` for the most common call, two arrays and no scalar, as a closure: the same steps,
        with every value that lives as long as the plan a free variable (cheaper to read than an
        attribute), the pool's hit path inlined (the pool shares the runtime's lock, held here)
        and a dead block of a buffer this batch touches held back without a call."""
        rt, pool, dead, touched = self.rt, self.pool, self.dead, self.touched
        acquire, release = self.lock.acquire, self.lock.release  # (half a `with`'s cost)
        free_lists = pool._free
        bucket, nbytes, itemsize, size = self.bucket, self.nbytes, self.itemsize, self.size
        shape, strides, out_dtype, groups = self.shape, self.strides, self.out_dtype, self.groups
        bound, bind, calls = self.bound, self._bind, self._calls
        ring = self.ring
        # The whole parameter block in one pack_into: the template's bytes before the three element
        # offsets (after i64 scalars in a wide block), the offsets, the template's bytes after them.
        meta, offset_at, offsets_end = bytes(self.meta), self.offset_at, self.offset_at + self.offsets.size
        head, tail = meta[:offset_at], meta[offsets_end:]
        pack_params = struct.Struct(f"<{len(head)}sIII{len(tail)}s").pack_into
        meta_struct = self.plan.struct
        one_row = groups <= self.max_groups
        pending = rt._pending_free

        def run2(args) -> WgpuArray:
            a, b = args
            acquire()
            try:
                cap = rt._capture
                while dead:  # Runtime._reclaim's common case inline: a block of a touched page
                    blk = dead[0]
                    if blk.pin is not None or cap is not None or blk.buffer not in touched:
                        rt._reclaim()
                        break
                    dead.popleft()
                    pending.append(blk)
                    rt._pending_bytes += blk.size
                free = free_lists.get(bucket) if cap is None else None
                # BufferPool.alloc_bucket's hit path (its lock is the runtime's, held here; frees the
                # pool queued in _deferred wait for its next own call: none come from the runtime)
                if free:
                    block = free.pop()
                    pool.cached -= bucket
                    pool.hits += 1
                    block.buffer.live += 1
                    pool.allocated = allocated = pool.allocated + bucket
                    if allocated > pool.peak:
                        pool.peak = allocated
                else:  # (during a capture: the graph's private pool, as Runtime.alloc, which pins the block)
                    block = pool.alloc_bucket(bucket) if cap is None else cap.alloc(pool, bucket)
                storage = _new(Storage)
                storage.rt = rt
                storage.block = block
                storage.nbytes = nbytes
                out_buffer = block.buffer
                out = _new(WgpuArray)
                out.storage = storage
                out.buffer = out_buffer
                out.shape = shape
                out.strides = strides
                out.offset = out_offset = block.offset // itemsize
                out.dtype = out_dtype
                out.size = size
                out.contiguous = True
                entry = bound.get((out_buffer, a.buffer, b.buffer))
                if entry is None:
                    entry = bind((out_buffer, a.buffer, b.buffer), args, out_buffer)
                p, bg, bg_handle, buffers, batch = entry
                offset = rt._ring_used
                if offset + META_SLOT > rt._ring_size or rt._pending_bytes > MAX_PENDING_BYTES:
                    rt.flush()
                    offset = 0
                pack_params(ring, offset, head, out_offset, a.offset, b.offset, tail)
                if cap is not None:
                    cap.record_dispatch(rt, p, buffers, meta_struct, ring, offset, groups)
                if rt._pass is None:
                    rt._begin_pass()
                rt._ring_used = offset + META_SLOT
                direct = rt._direct
                if direct is not None and bg_handle is not None and one_row:
                    cp = rt._pass_handle
                    if rt._last_pipeline is not p:
                        direct[0](cp, p.handle)
                        rt._last_pipeline = p
                    offsets = direct[3]
                    offsets[0] = offset
                    direct[1](cp, 0, bg_handle, 1, offsets)
                    direct[2](cp, groups, 1, 1)
                else:
                    calls(p, bg, bg_handle, offset, groups)
                if batch != rt._batch:  # (else this batch's touched set has these buffers already)
                    touched.update(buffers)
                    entry[4] = rt._batch
                rt._eager_dispatches += 1
                if offset + META_SLOT >= rt._ring_size:
                    rt.flush()
            finally:
                release()
            return out

        return run2

    def _calls(self, p, bg, bg_handle, offset: int, groups: int) -> None:
        """The pass calls of one dispatch (called with the lock held, the pass open)."""
        rt = self.rt
        direct = rt._direct
        if groups <= self.max_groups:
            x, y = groups, 1
        else:
            y = -(-groups // self.max_groups)
            x = -(-groups // y)
        if direct is not None and bg_handle is not None:
            cp = rt._pass_handle
            if rt._last_pipeline is not p:
                direct[0](cp, p.handle)
                rt._last_pipeline = p
            offsets = direct[3]
            offsets[0] = offset
            direct[1](cp, 0, bg_handle, 1, offsets)
            direct[2](cp, x, y, 1)
        else:
            cp = rt._pass
            if rt._last_pipeline is not p:
                cp.set_pipeline(p.gpu)
                rt._last_pipeline = p
            cp.set_bind_group(0, bg, [offset])
            cp.dispatch_workgroups(x, y, 1)


class EagerOps:
    """Mixin for `WgpuBackend`: ``elementwise_plan`` of the protocol."""

    def elementwise_plan(self, op: str, operands: list, compute: dtype, out_dtype: dtype):
        plan = self._ew_plan_for(op, operands, compute, out_dtype)
        wide = compute is float64 or out_dtype is float64 or any(
            type(x) is WgpuArray and x.dtype is float64 for x in operands)
        if plan.zero_check or plan.range_check or plan.size == 0 or plan.nscalars > 4 or len(operands) > 3 or wide:
            # (an error slot per call, nothing to dispatch, or float64's widened parameter block
            # whose offsets differ from the template's): the general path
            return lambda args: self.elementwise(op, args, compute, out_dtype)
        fast = _Eager(self, plan, operands)
        return fast.binary() if len(operands) == 2 and len(fast.arrays) == 2 else fast.run
