"""The wgpu runtime: one adapter, one device, batched recording, caches and the buffer pool.

How an op reaches the GPU (see ``Runtime.dispatch``):

1. Its parameters (sizes, strides, scalars) are packed into a slot of a host-side *meta ring*.
2. It is recorded into the one open compute pass, with a cached pipeline and a cached bind group
   whose meta binding uses a dynamic offset, so a repeated op creates no wgpu objects.
3. Nothing is submitted until the host needs data (a read), ``synchronize()`` is called, the
   batch reaches ``MAX_BATCH`` dispatches or the ring is full. Then the ring is uploaded with one
   ``write_buffer`` (which lands before the batch's commands) and the batch is submitted.

Safety rules this file enforces:
- A buffer freed while recorded-but-unsubmitted work uses it waits in ``_pending_free`` and
  returns to the pool only after that work is submitted.
- ``write`` flushes recorded work first when it touches a buffer that work uses, because
  ``queue.write_buffer`` would otherwise overtake it.

Threads: every method that touches recording state (encoder, pass, ring, caches, the sets and
lists above, staging buffers, error slots) holds ``lock``, a reentrant lock, so ops from several
threads are recorded one at a time into the one stream. Finalisers take no lock: a dying
``Storage`` only appends its block to ``_dead`` (a deque, whose append is atomic), and the next
locked call returns it, because the garbage collector may run a finaliser on a thread that holds
this lock or the pool's, in the middle of an update.
"""

from __future__ import annotations

import os
import re
import threading
import weakref
from collections import OrderedDict, deque

import numpy as np
import wgpu

from ...errors import DeviceLostError, KernelCompileError, OutOfMemoryError
from .device_errors import ERROR_SLOTS, DeviceErrors
from .graph import refuse_or_drop
from .pool import BUFFER_USAGE, Block, Buffer, BufferPool, bucket_size

MAX_BATCH = 1024               # dispatches recorded before an automatic submit
MAX_PENDING_BYTES = 256 << 20  # freed-but-held-back memory that forces a submit
META_SLOT = 256                # bytes of parameters per dispatch (a multiple of every offset alignment)
# Tensors share pages, so one dispatch may see the same buffer at several bindings; wgpu allows that
# only when every such binding is read_write. Kernels declare inputs `read` for readability and
# the runtime widens every storage binding but the parameters (binding 0) when it compiles them.
_READ_ONLY_BINDING = re.compile(r"(@binding\(\s*[1-9]\d*\s*\)\s*var<storage,\s*)read>")


def _ensure_xdg_runtime_dir() -> None:
    # Vulkan instance creation prints "XDG_RUNTIME_DIR is invalid" when it is unset.
    if os.environ.get("XDG_RUNTIME_DIR") and os.path.isdir(os.environ["XDG_RUNTIME_DIR"]):
        return
    path = f"/tmp/wgtorch-runtime-{os.getuid()}"
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.environ["XDG_RUNTIME_DIR"] = path


def list_adapters() -> list:
    """Compute-capable adapters, hardware first (discrete, integrated, then software); OpenGL
    adapters are skipped because wgpu's GL backend lacks compute on many drivers."""
    _ensure_xdg_runtime_dir()
    rank = {"DiscreteGPU": 0, "IntegratedGPU": 1, "VirtualGPU": 2, "CPU": 3, "Unknown": 4}
    adapters = [a for a in wgpu.gpu.enumerate_adapters_sync() if a.info["backend_type"] != "OpenGL"]
    adapters.sort(key=lambda a: rank.get(a.info["adapter_type"], 5))
    wanted = os.environ.get("WGTORCH_ADAPTER", "").strip().lower()
    if wanted:
        chosen = [a for a in adapters if wanted in a.info["device"].lower()
                  or wanted in a.info["description"].lower() or wanted in a.info["vendor"].lower()]
        if not chosen:
            names = [a.info["device"] for a in adapters]
            raise RuntimeError(f"WGTORCH_ADAPTER={wanted!r} matches no adapter; found {names}")
        adapters = chosen
    return adapters


class Storage:
    """Device memory behind one or more array views; its block returns to the pool when it dies.
    ``nbytes`` is what was asked for (the block may be a larger pool bucket): views must stay
    inside it (`as_strided` checks against it)."""

    __slots__ = ("block", "rt", "nbytes", "__weakref__")

    def __init__(self, rt: Runtime, nbytes: int):
        self.rt = rt
        self.block = rt.alloc(nbytes)
        self.nbytes = nbytes

    @classmethod
    def bucketed(cls, rt: Runtime, size: int, nbytes: int) -> Storage:
        """Storage of ``nbytes`` in a block of exactly ``size`` bytes, already a pool bucket size."""
        s = _new(cls)
        s.rt = rt
        s.block = rt.alloc_bucket(size)
        s.nbytes = nbytes
        return s

    @property
    def buffer(self) -> Buffer:
        return self.block.buffer

    def __del__(self):
        # No lock here (see the module docstring): the runtime returns the block later.
        try:
            self.rt._dead.append(self.block)
        except AttributeError:  # __init__ failed before both were set
            pass


class Pipeline:
    __slots__ = ("gpu", "layout_key", "layout", "name", "handle")

    def __init__(self, gpu, layout_key, layout, name):
        self.gpu, self.layout_key, self.layout, self.name = gpu, layout_key, layout, name
        self.handle = getattr(gpu, "_internal", None)  # wgpu-native's pointer, for the direct calls


_new = object.__new__


def _direct_pass_calls(device):
    """wgpu-native's C entry points for the three calls of every dispatch (set pipeline, set
    bind group, dispatch), or None where wgpu-py's backend is not wgpu-native.

    wgpu-py wraps each C call in Python that converts arguments and captures errors (about
    2-4 us a call, most of an op's recording time); called directly they cost well under 1 us.
    The arguments are the same handles wgpu-py would pass. An error in these calls is one of
    the compute pass, which wgpu reports when the pass ends or the encoder finishes (both
    still called through wgpu-py, so the error still raises there). WGTORCH_WGPU_DIRECT=0
    turns this off."""
    if os.environ.get("WGTORCH_WGPU_DIRECT", "1") == "0":
        return None
    try:
        from wgpu.backends.wgpu_native import GPUDevice
        from wgpu.backends.wgpu_native._ffi import ffi, lib

        if not isinstance(device, GPUDevice):
            return None
        return (lib.wgpuComputePassEncoderSetPipeline, lib.wgpuComputePassEncoderSetBindGroup,
                lib.wgpuComputePassEncoderDispatchWorkgroups, ffi.new("uint32_t[1]"))
    except (ImportError, AttributeError):
        return None


def disabled_features() -> frozenset:
    """Adapter features wgtorch must not request: WGTORCH_WGPU_DISABLE_FEATURES, a comma-separated
    list (e.g. "shader-f64,shader-int64"), read when a device is created. It simulates an adapter
    without them, so that the paths for a missing feature run on every machine."""
    return frozenset(f.strip() for f in os.environ.get("WGTORCH_WGPU_DISABLE_FEATURES", "").split(",") if f.strip())


class Runtime(DeviceErrors):
    def __init__(self, index: int = 0):
        adapters = list_adapters()
        if not adapters:
            raise RuntimeError(
                "no WebGPU adapter found: install a GPU driver with Vulkan, Metal or DX12 support, "
                "or Mesa's software driver (Debian/Ubuntu: apt-get install mesa-vulkan-drivers)")
        if index >= len(adapters):
            raise RuntimeError(f"wgpu:{index} does not exist: {len(adapters)} adapter(s) found")
        self.adapter = adapters[index]
        self.info = dict(self.adapter.info)
        self.name = self.info["device"]
        self.is_software = self.info["adapter_type"] == "CPU"
        wanted = [f for f in ("shader-f16", "timestamp-query", "shader-f64", "shader-int64")
                  if f in self.adapter.features and f not in disabled_features()]
        self.device = self.adapter.request_device_sync(required_features=wanted, label="wgtorch")
        self.features = set(self.device.features)
        self.limits = dict(self.device.limits)
        self.queue = self.device.queue
        self.max_binding = self.limits["max-storage-buffer-binding-size"]
        self.max_buffer_size = min(self.limits["max-buffer-size"], self.max_binding)
        self.max_groups = self.limits["max-compute-workgroups-per-dimension"]
        align = self.limits["min-storage-buffer-offset-alignment"]
        assert META_SLOT % align == 0, "adapter needs a larger meta slot"
        self.lock = threading.RLock()
        # The pool shares this lock: every pool call but the statistics' comes from a method that
        # holds it already, and the eager path (eager.py) takes a block without a second acquisition.
        self.pool = BufferPool(self.device, self.name, self.max_binding,
                               int(os.environ.get("WGTORCH_POOL_CACHE_BYTES", 1 << 30)), self.lock)
        self._dead: deque[Block] = deque()  # blocks of dead storages, not yet returned
        self._ring_host = bytearray(MAX_BATCH * META_SLOT)
        self._ring = self.device.create_buffer(size=len(self._ring_host), usage=BUFFER_USAGE, label="meta")
        self._ring_size = len(self._ring_host)
        self._ring_used = 0
        self._encoder = None
        self._pass = None
        self._pass_handle = None
        self._direct = _direct_pass_calls(self.device)
        self._last_pipeline = None
        self._touched: set[Buffer] = set()    # buffers used by unsubmitted work
        self._batch = 0  # the batch's number: a new one each time _touched is cleared (eager.py)
        self._pending_free: list[Block] = []
        self._pending_bytes = 0
        self._modules: dict = {}
        self._pipelines: dict = {}
        self._layouts: dict = {}
        self._bind_groups: OrderedDict = OrderedDict()
        self._eager_plans: weakref.WeakSet = weakref.WeakSet()  # eager.py's planned calls, which cache bind groups
        self.bind_group_cache_size = 4096
        self._stats = {"dispatches": 0, "submits": 0, "pipeline_hits": 0, "pipeline_misses": 0,
                       "bind_group_hits": 0, "bind_group_misses": 0}
        # Dispatches the eager path (eager.py) recorded since `stats` was last read: each is one
        # dispatch, one pipeline hit and one bind-group hit, counted once here, not three times.
        self._eager_dispatches = 0
        self._fence_src = Buffer(self.device.create_buffer(size=4, usage=BUFFER_USAGE), 4, False)
        self._staging: dict[int, object] = {}
        # Errors kernels report from the device (bad indices); see error_buffer().
        self._errors: Buffer | None = None
        self._errors_armed = False  # a submitted batch used the error buffer since the last check
        self._error_slots = 0       # error_slot() calls since the last check
        self.error_decoders: dict = {}  # code -> function(uint32 words) -> exception
        self._capture = None  # the graph.Capture recording dispatches, if any (see graph.py)

    @property
    def stats(self) -> dict:
        """Counters: dispatches, submits, pipeline and bind-group cache hits and misses (a dict to
        read or copy; the eager path's counts are folded in on each read)."""
        with self.lock:
            n = self._eager_dispatches
            if n:
                self._eager_dispatches = 0
                s = self._stats
                s["dispatches"] += n
                s["pipeline_hits"] += n
                s["bind_group_hits"] += n
            return self._stats

    # -- kernels -------------------------------------------------------------------------------
    def pipeline(self, key, make_source, access: tuple[str, ...], name: str) -> Pipeline:
        """The compute pipeline for ``key``, compiled on first use from ``make_source()``.

        ``access`` lists each storage binding after the parameters: "rw" or "r". Every binding
        is compiled read_write (see _READ_ONLY_BINDING); ``access`` documents the kernel's intent.
        """
        # A hit takes no lock: dict reads are atomic and pipelines are never evicted.
        p = self._pipelines.get(key)
        if p is not None:
            self._stats["pipeline_hits"] += 1  # may miss a count under contention; it is a statistic
            return p
        with self.lock:
            p = self._pipelines.get(key)  # another thread may have built it meanwhile
            if p is not None:
                return p
            self._stats["pipeline_misses"] += 1
            p = self._pipelines[key] = self._build_pipeline(make_source, len(access), name)
            return p

    def _build_pipeline(self, make_source, nbuffers: int, name: str) -> Pipeline:
        source = _READ_ONLY_BINDING.sub(r"\1read_write>", make_source())
        access = ("rw",) * nbuffers
        module = self._modules.get(source)
        if module is None:
            try:
                module = self.device.create_shader_module(code=source, label=name)
            except Exception as e:
                raise KernelCompileError(f"WGSL kernel {name!r} failed to compile on {self.name}:\n{e}") from e
            self._modules[source] = module
        layout = self._layout(access)
        try:
            gpu = self.device.create_compute_pipeline(
                layout=self.device.create_pipeline_layout(bind_group_layouts=[layout]),
                compute={"module": module, "entry_point": "main"}, label=name)
        except Exception as e:
            raise KernelCompileError(f"WGSL kernel {name!r} failed to build a pipeline: {e}") from e
        return Pipeline(gpu, access, layout, name)

    def _layout(self, access):
        layout = self._layouts.get(access)
        if layout is None:
            storage = wgpu.BufferBindingType.storage
            read_only = wgpu.BufferBindingType.read_only_storage
            entries = [{"binding": 0, "visibility": wgpu.ShaderStage.COMPUTE,
                        "buffer": {"type": read_only, "has_dynamic_offset": True}}]
            for i, a in enumerate(access):
                entries.append({"binding": i + 1, "visibility": wgpu.ShaderStage.COMPUTE,
                                "buffer": {"type": storage if a == "rw" else read_only}})
            layout = self._layouts[access] = self.device.create_bind_group_layout(entries=entries)
        return layout

    def _bind_group(self, p: Pipeline, buffers):
        # Keyed on the Buffer objects (hashed by identity): the cache holds them, so no id is reused.
        key = (p.layout_key, *buffers)
        bg = self._bind_groups.get(key)
        if bg is not None:
            self._stats["bind_group_hits"] += 1
            return bg
        self._stats["bind_group_misses"] += 1
        entries = [{"binding": 0, "resource": {"buffer": self._ring, "offset": 0, "size": META_SLOT}}]
        entries += [{"binding": i + 1, "resource": {"buffer": b.gpu, "offset": 0, "size": b.size}}
                    for i, b in enumerate(buffers)]
        bg = self.device.create_bind_group(layout=p.layout, entries=entries)
        self._bind_groups[key] = bg
        if len(self._bind_groups) > self.bind_group_cache_size:
            self._bind_groups.popitem(last=False)
        return bg

    # -- memory --------------------------------------------------------------------------------
    def alloc(self, nbytes: int) -> Block:
        """A block of at least ``nbytes`` from the pool (after returning dead storages' blocks)."""
        with self.lock:
            if self._dead:
                self._reclaim()
            if self._capture is not None:  # the graph's private pool (graph.Capture.alloc)
                return self._capture.alloc(self.pool, bucket_size(nbytes))
            return self.pool.alloc(nbytes)

    def alloc_bucket(self, size: int) -> Block:
        """`alloc` of a size that is already a pool bucket size (`pool.bucket_size`)."""
        with self.lock:
            if self._dead:
                self._reclaim()
            if self._capture is not None:
                return self._capture.alloc(self.pool, size)
            return self.pool.alloc_bucket(size)

    def _reclaim(self) -> None:
        """Return dead storages' blocks: now, or after the batch that may use them is submitted
        (any block of a buffer the batch touches counts as used). A graph being captured, or the
        live graph a block is pinned to, holds it instead. Called with the lock held."""
        dead, touched, pool, cap = self._dead, self._touched, self.pool, self._capture
        while dead:
            block = dead.popleft()
            keep = block.pin or cap
            if keep is not None and keep.alive:
                keep.hold(block)
            elif block.buffer in touched:
                self._pending_free.append(block)
                self._pending_bytes += block.size
            else:
                pool.free(block)

    def reclaim(self) -> None:
        """Return every block that can be returned now, so that the pool's statistics are current."""
        with self.lock:
            self._reclaim()
            self.pool.drain()

    def empty_cache(self) -> None:
        """Free cached memory (after submitting recorded work, whose pending blocks it frees)."""
        with self.lock:
            self.flush()
            gone = set(self.pool.empty_cache())
            if gone:
                for key in [k for k in self._bind_groups if any(b.serial in gone for b in k[1:])]:
                    del self._bind_groups[key]
                for plan in list(self._eager_plans):  # their own (pipeline, bind group) per buffers bound
                    plan.forget(gone)

    # -- recording -----------------------------------------------------------------------------
    def dispatch(self, p: Pipeline, buffers: tuple[Buffer, ...], meta_struct, meta_values,
                 groups: int) -> None:
        """Record one dispatch of ``groups`` workgroups (folded into 2-D past the per-dimension
        limit; kernels compute their linear id from ``num_workgroups``)."""
        if groups <= 0:
            return
        with self.lock:
            offset = self._ring_used
            if offset + META_SLOT > self._ring_size or self._pending_bytes > MAX_PENDING_BYTES:
                self.flush()
                offset = 0
            meta_struct.pack_into(self._ring_host, offset, *meta_values)
            if self._capture is not None:
                self._capture.record_dispatch(self, p, buffers, meta_struct, self._ring_host, offset, groups)
            bg = self._bind_group(p, buffers)
            if self._pass is None:
                self._begin_pass()
            self._ring_used = offset + META_SLOT
            direct = self._direct
            if direct is not None and p.handle is not None:  # (never a NULL handle into C)
                cp = self._pass_handle
                if self._last_pipeline is not p:
                    direct[0](cp, p.handle)
                    self._last_pipeline = p
                offsets = direct[3]
                offsets[0] = offset  # copied into the pass by the call
                direct[1](cp, 0, bg._internal, 1, offsets)
                if groups <= self.max_groups:
                    direct[2](cp, groups, 1, 1)
                else:
                    y = -(-groups // self.max_groups)
                    direct[2](cp, -(-groups // y), y, 1)
            else:
                cp = self._pass
                if self._last_pipeline is not p:
                    cp.set_pipeline(p.gpu)
                    self._last_pipeline = p
                cp.set_bind_group(0, bg, [offset])
                if groups <= self.max_groups:
                    cp.dispatch_workgroups(groups, 1, 1)
                else:
                    y = -(-groups // self.max_groups)
                    cp.dispatch_workgroups(-(-groups // y), y, 1)
            self._touched.update(buffers)
            self._stats["dispatches"] += 1
            if self._ring_used >= self._ring_size:
                self.flush()

    def _begin_pass(self) -> None:
        if self._encoder is None:
            self._encoder = self.device.create_command_encoder()
        self._pass = self._encoder.begin_compute_pass()
        self._pass_handle = getattr(self._pass, "_internal", None) if self._direct is not None else None
        if self._direct is not None and self._pass_handle is None:
            self._direct = None  # not wgpu-native's pass after all: use wgpu-py's calls
        self._last_pipeline = None

    def copy(self, src: Buffer, src_offset: int, dst: Buffer, dst_offset: int, nbytes: int) -> None:
        """Record a buffer-to-buffer copy in stream order (ends the open pass)."""
        if nbytes <= 0:
            return
        with self.lock:
            if self._capture is not None:
                self._capture.record_copy(src, src_offset, dst, dst_offset, nbytes)
            if self._encoder is None:
                self._encoder = self.device.create_command_encoder()
            elif self._pass is not None:
                self._pass.end()
            self._pass = None
            self._pass_handle = None
            self._last_pipeline = None
            self._encoder.copy_buffer_to_buffer(src.gpu, src_offset, dst.gpu, dst_offset, nbytes)
            self._touched.update((src, dst))

    def flush(self, then=None) -> None:
        """Submit everything recorded so far; recycle the buffers it was holding back. ``then``:
        a function given the batch's encoder (None if nothing is recorded) that appends more
        work to it (a graph's replay) and returns it, so that both go in one finish and one submit."""
        with self.lock:
            enc = self._encoder
            if enc is not None:
                if self._pass is not None:
                    self._pass.end()
                if self._ring_used:
                    self.queue.write_buffer(self._ring, 0, memoryview(self._ring_host)[: self._ring_used])
                if self._errors is not None and self._errors in self._touched:
                    self._errors_armed = True  # the next read checks what this batch reports
            if enc is not None or then is not None:
                try:
                    if then is not None:
                        enc = then(enc)
                    self.queue.submit([enc.finish()])
                except Exception as e:
                    self._reset_batch()
                    raise _translate(e, self.name) from e
                self._stats["submits"] += 1
            self._reset_batch()
            pending = self._pending_free[:]  # (the list itself stays: the eager path holds it)
            self._pending_free.clear()
            self._pending_bytes = 0
            if pending:
                self.pool.free_all(pending)
            if self._dead:
                self._reclaim()  # nothing is recorded now: every dead block goes straight back

    def _reset_batch(self) -> None:
        self._encoder = None
        self._pass = None
        self._pass_handle = None
        self._last_pipeline = None
        self._ring_used = 0
        self._touched.clear()
        self._batch += 1

    # -- host <-> device -----------------------------------------------------------------------
    def write(self, buf: Buffer, offset: int, data, fresh: bool = False) -> None:
        """Upload bytes into ``buf`` at ``offset`` (both 4-byte aligned by the caller).

        ``fresh``: the bytes go to a block just taken from the pool. No recorded work can use it
        (blocks freed during this batch are held back until it is submitted), so there is nothing
        for write_buffer to overtake. Otherwise recorded work that touches ``buf`` is flushed first.
        """
        with self.lock:
            if self._capture is not None:
                refuse_or_drop(self, "uploading host data to the device (creating a tensor from host data, "
                                     "copy_ from a cpu tensor)")
            if not fresh and buf in self._touched:
                self.flush()
            self.queue.write_buffer(buf.gpu, offset, data)

    def read(self, buf: Buffer, offset: int, nbytes: int) -> np.ndarray:
        """Download ``nbytes`` from ``buf`` at ``offset``; returns a uint8 array."""
        start = offset & ~3
        size = (offset + nbytes - start + 3) & ~3
        if size == 0:
            return np.empty(0, np.uint8)
        with self.lock:
            if self._capture is not None:
                refuse_or_drop(self, "reading a tensor on the host (.item(), .numpy(), .tolist(), printing, "
                                     "synchronize())")
            errors = self._errors
            armed = self._errors_armed or (errors is not None and errors in self._touched)
            report = 16 * (min(self._error_slots, ERROR_SLOTS - 1) + 1) if armed else 0  # rides along
            staging = self._staging_buffer(size + report)
            self.copy(buf, start, staging, 0, size)
            if armed:
                self.copy(errors, 0, staging, size, report)
            self.flush()
            try:
                staging.gpu.map_sync(wgpu.MapMode.READ, 0, size + report)
            except Exception as e:
                raise _translate(e, self.name) from e
            try:
                data = np.frombuffer(staging.gpu.read_mapped(0, size + report, copy=True), np.uint8)
            finally:
                staging.gpu.unmap()
            if armed:
                self._raise_reported(data[size:])
        return data[offset - start: offset - start + nbytes]

    def _staging_buffer(self, size: int) -> Buffer:
        size = bucket_size(size)
        buf = self._staging.get(size)
        if buf is None:
            if len(self._staging) > 16:
                for b in self._staging.values():
                    b.gpu.destroy()
                self._staging.clear()
            gpu = self.device.create_buffer(
                size=size, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST)
            buf = self._staging[size] = Buffer(gpu, size, False)
        return buf

    def synchronize(self) -> None:
        """Submit recorded work and wait until the device has finished all of it: a 4-byte read
        is the portable wait in wgpu 0.32 (it also delivers any error a kernel reported)."""
        if self._capture is not None:
            with self.lock:
                refuse_or_drop(self, "synchronize()")
        self.read(self._fence_src, 0, 4)


def _translate(e: Exception, name: str) -> Exception:
    text = str(e)
    if "lost" in text.lower():
        return DeviceLostError(f"the wgpu device {name!r} was lost: {text}")
    if "memory" in text.lower():
        return OutOfMemoryError(f"out of memory on {name!r}: {text}")
    return RuntimeError(f"wgpu error on {name!r}: {text}")
