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
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict

import numpy as np
import wgpu

from ...errors import DeviceLostError, KernelCompileError, OutOfMemoryError
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
    """Device memory behind one or more array views; its block returns to the pool when it dies."""

    __slots__ = ("block", "rt", "__weakref__")

    def __init__(self, rt: Runtime, nbytes: int):
        self.rt = rt
        self.block = rt.pool.alloc(nbytes)

    @property
    def buffer(self) -> Buffer:
        return self.block.buffer

    def __del__(self):
        rt = getattr(self, "rt", None)
        if rt is not None and getattr(self, "block", None) is not None:
            rt.release(self.block)


class Pipeline:
    __slots__ = ("gpu", "layout_key", "layout", "name")

    def __init__(self, gpu, layout_key, layout, name):
        self.gpu, self.layout_key, self.layout, self.name = gpu, layout_key, layout, name


class Runtime:
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
        wanted = [f for f in ("shader-f16", "timestamp-query") if f in self.adapter.features]
        self.device = self.adapter.request_device_sync(required_features=wanted, label="wgtorch")
        self.features = set(self.device.features)
        self.limits = dict(self.device.limits)
        self.queue = self.device.queue
        self.max_binding = self.limits["max-storage-buffer-binding-size"]
        self.max_buffer_size = min(self.limits["max-buffer-size"], self.max_binding)
        self.max_groups = self.limits["max-compute-workgroups-per-dimension"]
        align = self.limits["min-storage-buffer-offset-alignment"]
        assert META_SLOT % align == 0, "adapter needs a larger meta slot"
        self.pool = BufferPool(self.device, self.name, self.max_binding,
                               int(os.environ.get("WGTORCH_POOL_CACHE_BYTES", 1 << 30)))

        self._ring_host = bytearray(MAX_BATCH * META_SLOT)
        self._ring = self.device.create_buffer(size=len(self._ring_host), usage=BUFFER_USAGE, label="meta")
        self._ring_used = 0
        self._encoder = None
        self._pass = None
        self._last_pipeline = None
        self._touched: set[Buffer] = set()    # buffers used by unsubmitted work
        self._pending_free: list[Block] = []
        self._pending_bytes = 0
        self._modules: dict = {}
        self._pipelines: dict = {}
        self._layouts: dict = {}
        self._bind_groups: OrderedDict = OrderedDict()
        self.bind_group_cache_size = 4096
        self.stats = {"dispatches": 0, "submits": 0, "pipeline_hits": 0, "pipeline_misses": 0,
                      "bind_group_hits": 0, "bind_group_misses": 0}
        self._fence_src = Buffer(self.device.create_buffer(size=4, usage=BUFFER_USAGE), 4, False)
        self._staging: dict[int, object] = {}
        # Errors kernels report from the device (bad indices); see error_buffer().
        self._errors: Buffer | None = None
        self._errors_armed = False
        self.error_decoders: dict = {}  # code -> function(uint32 words) -> exception

    # -- kernels -------------------------------------------------------------------------------
    def pipeline(self, key, make_source, access: tuple[str, ...], name: str) -> Pipeline:
        """The compute pipeline for ``key``, compiled on first use from ``make_source()``.

        ``access`` lists each storage binding after the parameters: "rw" or "r". Every binding
        is compiled read_write (see _READ_ONLY_BINDING); ``access`` documents the kernel's intent.
        """
        p = self._pipelines.get(key)
        if p is not None:
            self.stats["pipeline_hits"] += 1
            return p
        self.stats["pipeline_misses"] += 1
        source = _READ_ONLY_BINDING.sub(r"\1read_write>", make_source())
        access = ("rw",) * len(access)
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
        p = Pipeline(gpu, access, layout, name)
        self._pipelines[key] = p
        return p

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
            self.stats["bind_group_hits"] += 1
            return bg
        self.stats["bind_group_misses"] += 1
        entries = [{"binding": 0, "resource": {"buffer": self._ring, "offset": 0, "size": META_SLOT}}]
        entries += [{"binding": i + 1, "resource": {"buffer": b.gpu, "offset": 0, "size": b.size}}
                    for i, b in enumerate(buffers)]
        bg = self.device.create_bind_group(layout=p.layout, entries=entries)
        self._bind_groups[key] = bg
        if len(self._bind_groups) > self.bind_group_cache_size:
            self._bind_groups.popitem(last=False)
        return bg

    def empty_cache(self) -> None:
        """Free cached memory (after submitting recorded work, whose pending blocks it frees)."""
        self.flush()
        gone = set(self.pool.empty_cache())
        if gone:
            for key in [k for k in self._bind_groups if any(b.serial in gone for b in k[1:])]:
                del self._bind_groups[key]

    # -- recording -----------------------------------------------------------------------------
    def dispatch(self, p: Pipeline, buffers: tuple[Buffer, ...], meta_struct, meta_values,
                 groups: int) -> None:
        """Record one dispatch of ``groups`` workgroups (folded into 2-D past the per-dimension
        limit; kernels compute their linear id from ``num_workgroups``)."""
        if groups <= 0:
            return
        if self._ring_used + META_SLOT > len(self._ring_host) or self._pending_bytes > MAX_PENDING_BYTES:
            self.flush()
        offset = self._ring_used
        meta_struct.pack_into(self._ring_host, offset, *meta_values)
        self._ring_used = offset + META_SLOT
        bg = self._bind_group(p, buffers)
        if self._pass is None:
            self._encoder = self.device.create_command_encoder()
            self._pass = self._encoder.begin_compute_pass()
            self._last_pipeline = None
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
        self.stats["dispatches"] += 1
        if self._ring_used >= len(self._ring_host):
            self.flush()

    def copy(self, src: Buffer, src_offset: int, dst: Buffer, dst_offset: int, nbytes: int) -> None:
        """Record a buffer-to-buffer copy in stream order (ends the open pass)."""
        if nbytes <= 0:
            return
        if self._encoder is None:
            self._encoder = self.device.create_command_encoder()
        elif self._pass is not None:
            self._pass.end()
        self._pass = None
        self._last_pipeline = None
        self._encoder.copy_buffer_to_buffer(src.gpu, src_offset, dst.gpu, dst_offset, nbytes)
        self._touched.update((src, dst))

    def flush(self) -> None:
        """Submit everything recorded so far; recycle the buffers it was holding back."""
        if self._encoder is not None:
            if self._pass is not None:
                self._pass.end()
            if self._ring_used:
                self.queue.write_buffer(self._ring, 0, memoryview(self._ring_host)[: self._ring_used])
            try:
                self.queue.submit([self._encoder.finish()])
            except Exception as e:
                self._reset_batch()
                raise _translate(e, self.name) from e
            self.stats["submits"] += 1
        self._reset_batch()
        pending, self._pending_free = self._pending_free, []
        self._pending_bytes = 0
        for block in pending:
            self.pool.free(block)

    def _reset_batch(self) -> None:
        self._encoder = None
        self._pass = None
        self._last_pipeline = None
        self._ring_used = 0
        self._touched.clear()

    def release(self, block: Block) -> None:
        """A storage died: recycle its block now, or after the batch that may use it is submitted
        (any block of a buffer the batch touches counts as used)."""
        if block.buffer in self._touched:
            self._pending_free.append(block)
            self._pending_bytes += block.size
        else:
            self.pool.free(block)

    # -- host <-> device -----------------------------------------------------------------------
    def write(self, buf: Buffer, offset: int, data, fresh: bool = False) -> None:
        """Upload bytes into ``buf`` at ``offset`` (both 4-byte aligned by the caller).

        ``fresh``: the bytes go to a block just taken from the pool. No recorded work can use it
        (blocks freed during this batch are held back until it is submitted), so there is nothing
        for write_buffer to overtake. Otherwise recorded work that touches ``buf`` is flushed first.
        """
        if not fresh and buf in self._touched:
            self.flush()
        self.queue.write_buffer(buf.gpu, offset, data)

    def read(self, buf: Buffer, offset: int, nbytes: int) -> np.ndarray:
        """Download ``nbytes`` from ``buf`` at ``offset``; returns a uint8 array."""
        start = offset & ~3
        size = (offset + nbytes - start + 3) & ~3
        if size == 0:
            return np.empty(0, np.uint8)
        armed = self._errors_armed  # the error words ride along in the same map
        total = size + 16 if armed else size
        staging = self._staging_buffer(total)
        self.copy(buf, start, staging, 0, size)
        if armed:
            self.copy(self._errors, 0, staging, size, 16)
        self.flush()
        try:
            staging.gpu.map_sync(wgpu.MapMode.READ, 0, total)
        except Exception as e:
            raise _translate(e, self.name) from e
        try:
            data = np.frombuffer(staging.gpu.read_mapped(0, total, copy=True), np.uint8)
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
        self.read(self._fence_src, 0, 4)

    # -- errors reported by kernels ------------------------------------------------------------
    def error_buffer(self) -> Buffer:
        """The 16-byte buffer kernels bind as ``array<atomic<u32>, 4>`` to report bad input
        without a host round trip: word 0 gets a nonzero code (the first report wins), words 1-3
        its details. Binding it arms a check at the next ``read`` (``synchronize`` is one), which raises
        ``error_decoders[code](words)`` once and clears the buffer; the device stays usable."""
        if self._errors is None:
            gpu = self.device.create_buffer(size=16, usage=BUFFER_USAGE, label="errors")  # zeroed
            self._errors = Buffer(gpu, 16, False)
        self._errors_armed = True
        return self._errors

    def _raise_reported(self, raw: np.ndarray) -> None:
        # All recorded work was just submitted and waited for, so the words are final.
        self._errors_armed = False
        words = np.frombuffer(raw[:16].tobytes(), np.uint32)
        if words[0]:
            self.queue.write_buffer(self._errors.gpu, 0, bytes(16))
            decode = self.error_decoders.get(int(words[0]))
            raise decode(words) if decode else RuntimeError(f"a wgpu kernel reported error {words.tolist()}")


def _translate(e: Exception, name: str) -> Exception:
    text = str(e)
    if "lost" in text.lower():
        return DeviceLostError(f"the wgpu device {name!r} was lost: {text}")
    if "memory" in text.lower():
        return OutOfMemoryError(f"out of memory on {name!r}: {text}")
    return RuntimeError(f"wgpu error on {name!r}: {text}")
