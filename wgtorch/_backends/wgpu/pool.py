"""The device memory pool: small tensors are blocks carved from shared pages, large ones get
buffers of their own; both are recycled through size-bucketed free lists.

Why pages: a bind group names buffers, and creating one costs more than a dispatch. Tensors that
share a few pages let a kernel's bind group be reused for every tensor it ever touches (the
tensor's place in the page travels in the kernel's parameters as an element offset).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque

import wgpu

from ...errors import OutOfMemoryError

PAGE_SIZE = 16 << 20     # bytes per shared page (capped at the adapter's max binding size)
SMALL_LIMIT = 1 << 20    # blocks up to this size come from pages
ALIGN = 256              # block alignment: every offset alignment a WebGPU adapter may demand
BUFFER_USAGE = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
_serials = itertools.count(1)


class Buffer:
    """A wgpu buffer: a shared page or a large tensor's own. ``serial`` keys the bind-group cache
    (never ``id()``, which Python reuses)."""

    __slots__ = ("gpu", "size", "serial", "live", "is_page")

    def __init__(self, gpu, size: int, is_page: bool):
        self.gpu = gpu
        self.size = size
        self.serial = next(_serials)
        self.live = 0  # blocks handed out and not yet freed
        self.is_page = is_page


class Block:
    """``size`` bytes at byte ``offset`` of ``buffer``. ``pin``: the graph capture (graph.py) that
    allocated it and keeps it out of the pool while it lives, or None."""

    __slots__ = ("buffer", "offset", "size", "pin")

    def __init__(self, buffer: Buffer, offset: int, size: int):
        self.buffer = buffer
        self.offset = offset
        self.size = size
        self.pin = None


def bucket_size(nbytes: int) -> int:
    """Round up to one of eight steps per power of two (at most 12.5 % waste), minimum 256 B."""
    if nbytes <= ALIGN:
        return ALIGN
    top = 1 << (nbytes - 1).bit_length()
    step = max(top // 8, ALIGN)
    return -(-nbytes // step) * step


class BufferPool:
    """Size-bucketed free lists over pages and large buffers, with statistics.

    Thread-safe, and ``free`` never waits for the lock: a garbage collection can run a finaliser
    that frees a block on a thread that already holds the lock (inside ``alloc``), or while
    another thread holds it. Such a free is queued in ``_deferred`` (deque appends are atomic)
    and applied by the next call that holds the lock. (A runtime's pool shares the runtime's
    reentrant lock, which its own thread re-enters: there no finaliser frees into the pool, a dying
    Storage queues its block on ``Runtime._dead``, so the re-entry is never mid-update.)"""

    def __init__(self, device, name: str, max_binding: int, max_cached: int, lock=None):
        self.device = device
        self.name = name
        self.page_size = min(PAGE_SIZE, max_binding)
        self.max_cached = max_cached  # bytes of free large buffers kept for reuse
        self._free: dict[int, list[Block]] = {}
        self._pages: list[Buffer] = []
        self._page: Buffer | None = None  # the page new blocks are carved from
        self._carved = 0                  # bytes of _page already carved
        # A runtime's pool takes the runtime's (reentrant) lock, so that a caller holding it
        # allocates without a second acquisition; a pool of its own (tests) gets a lock of its own.
        self._lock = threading.Lock() if lock is None else lock
        self._deferred: deque[Block] = deque()  # frees that found the lock taken
        self.cached = 0      # bytes of blocks in the free lists
        self.allocated = 0   # bytes of blocks held by live tensors
        self.reserved = 0    # bytes of all pages and buffers the pool owns
        self.peak = 0
        self.hits = 0
        self.misses = 0
        self.frees = 0

    def alloc(self, nbytes: int) -> Block:
        return self.alloc_bucket(bucket_size(nbytes))

    def alloc_bucket(self, size: int) -> Block:
        """A block of exactly ``size`` bytes, a `bucket_size` (callers that allocate one shape
        over and over compute the bucket once)."""
        with self._lock:
            if self._deferred:
                self._apply_deferred()
            free = self._free.get(size)
            if free:  # the common case, inlined (every eager op takes this path)
                block = free.pop()
                self.cached -= size
                self.hits += 1
                block.buffer.live += 1
                self.allocated = allocated = self.allocated + size
                if allocated > self.peak:
                    self.peak = allocated
                return block
            self.misses += 1
            block = self._carve(size) if size <= SMALL_LIMIT else None
            if block is not None:
                self._count_alloc(block)
                return block
        block = Block(self._create(size, is_page=False), 0, size)
        with self._lock:
            self._count_alloc(block)
        return block

    def _count_alloc(self, block: Block) -> None:
        block.buffer.live += 1
        self.allocated += block.size
        self.peak = max(self.peak, self.allocated)

    def _carve(self, size: int) -> Block:
        """A new block from the current page (called with the lock held)."""
        if self._page is None or self._carved + size > self._page.size:
            self._lock.release()  # creating a buffer may call empty_cache, which takes the lock
            try:
                page = self._create(self.page_size, is_page=True)
            finally:
                self._lock.acquire()
            self._pages.append(page)
            self._page, self._carved = page, 0
        block = Block(self._page, self._carved, size)
        self._carved += size
        return block

    def _create(self, size: int, is_page: bool) -> Buffer:
        for attempt in range(2):
            try:
                gpu = self.device.create_buffer(size=size, usage=BUFFER_USAGE)
                break
            except Exception as e:  # wgpu reports OOM as GPUOutOfMemoryError or a validation error
                if attempt:
                    raise OutOfMemoryError(f"could not allocate {size} bytes on {self.name}: {e}. Free "
                                           "tensors or call wgtorch.wgpu.empty_cache().") from e
                self.empty_cache()
        with self._lock:
            self.reserved += size
        return Buffer(gpu, size, is_page)

    def free(self, block: Block) -> None:
        if not self._lock.acquire(blocking=False):
            self._deferred.append(block)
            # The holder may have finished before the append: retry so the block is not left waiting.
            if not self._lock.acquire(blocking=False):
                return
            block = None
        try:
            if block is not None:
                self._free_locked(block)
            if self._deferred:
                self._apply_deferred()
        finally:
            self._lock.release()

    def free_all(self, blocks) -> None:
        """`free` of many blocks (a submitted batch's held-back ones), under one acquisition of the
        lock where it is free now (else block by block, as `free`)."""
        if not self._lock.acquire(blocking=False):
            for block in blocks:
                self.free(block)
            return
        try:
            for block in blocks:
                self._free_locked(block)
            if self._deferred:
                self._apply_deferred()
        finally:
            self._lock.release()

    def _apply_deferred(self) -> None:
        while self._deferred:
            self._free_locked(self._deferred.popleft())

    def _free_locked(self, block: Block) -> None:
        buf = block.buffer
        buf.live -= 1
        self.allocated -= block.size
        self.frees += 1
        if not buf.is_page and self.reserved - self.allocated > self.max_cached + self.page_bytes():
            self.reserved -= buf.size
            buf.gpu.destroy()
            return
        free = self._free.get(block.size)
        if free is None:
            free = self._free[block.size] = []
        free.append(block)
        self.cached += block.size

    def drain(self) -> None:
        """Apply queued frees now (so that the statistics count them)."""
        with self._lock:
            self._apply_deferred()

    def page_bytes(self) -> int:
        return len(self._pages) * self.page_size

    def empty_cache(self) -> list[int]:
        """Destroy free large buffers and pages with no live block; returns their serials."""
        with self._lock:
            self._apply_deferred()
            gone = {b.buffer.serial: b.buffer for free in self._free.values() for b in free
                    if b.buffer.live == 0}
            for size in list(self._free):
                kept = [b for b in self._free[size] if b.buffer.serial not in gone]
                self.cached -= size * (len(self._free[size]) - len(kept))
                self._free[size] = kept
            self._pages = [p for p in self._pages if p.serial not in gone]
            if self._page is not None and self._page.serial in gone:
                self._page, self._carved = None, 0
            for buf in gone.values():
                self.reserved -= buf.size
                buf.gpu.destroy()
        return list(gone)

    def stats(self) -> dict:
        with self._lock:
            self._apply_deferred()
            return {
                "allocated_bytes.all.current": self.allocated,
                "allocated_bytes.all.peak": self.peak,
                "reserved_bytes.all.current": self.reserved,
                "cached_bytes": self.cached,
                "pages": len(self._pages),
                "num_alloc_hits": self.hits,
                "num_alloc_misses": self.misses,
                "num_frees": self.frees,
            }
