"""Capture and replay of recorded dispatches on the wgpu runtime (`wgtorch.wgpu.Graph`).

While a `Capture` is the runtime's ``_capture``, ``Runtime.dispatch`` and ``Runtime.copy`` also
append a record here (the work still runs eagerly). At the end of the capture every dispatch's
packed parameter bytes go into a parameter buffer the graph owns, with bind groups of its own, so
the eager meta ring's reuse can't change them, and the replay's passes are planned (`_passes`:
pipeline and bind-group switches only where they change, wgpu-native's handles prebuilt).
``replay`` re-encodes the list after the eager work recorded before it, in that work's encoder (one
compute pass, split only where a recorded copy sits), and submits both once; ``replay(steps=k)``
encodes k copies of the list into the same encoder.

Memory: a replay writes to the addresses the capture saw, so those blocks must stay out of the
pool while the graph lives. Every block allocated during the capture is *pinned* to it
(``Block.pin``), and every block that dies during the capture or, pinned, after it, is *held* by it
instead of going back to the pool; ``release`` (``Graph.reset`` or the graph's death) returns them.
A block that dies during the capture is reused by a later allocation of its size in the same
capture (``Capture.alloc``; a replay runs the work in the same order, so its last use comes
before the new first one): the graph's private pool, planned by liveness (fusion.Lives).

Fusion (fusion.py): at capture end, runs of elementwise dispatches become one generated kernel each
(``Graph(fuse=False)`` keeps them apart).
Tensors that existed before the capture (parameters, static inputs) are the caller's to keep alive
(as with CUDA graphs: one freed while the graph lives may be reused, and a replay would write it).

Per-replay values: a dispatch may carry patches (``Capture.patch_last``), run on its own copy of
the captured parameter bytes before every replay (only changed slots are rewritten), and hooks
(``Capture.on_replay``) run before and after every replay's submit. Random draws use them: each
records the generator it came from (`wgtorch._creation._draw` sets ``Capture.drawing``), and a
replay draws the generator's next numbers (seed and counter patched, the generator moved past them),
so N replays draw what N eager steps would. Optimizers use them for the learning rate (a
`LiveFloat` re-read from the group on every replay, so lr schedulers work) and SGD's first-step
flag (cleared for replays, so a capture of the first step works); capturable Adam/AdamW and
RMSprop keep their step counts on the device (RMSprop with ``capturable=False`` advances its host
count in an after-replay hook), and the capturable composites (Adadelta, Adamax, ASGD, NAdam,
RAdam, Rprop) their counts and factors, with the lr a device tensor refilled by a before-replay
hook. Under ``wgtorch.compile`` an lr scheduler stepped in the captured call adds a hook that steps
it again (optim/_lr_base.py).
``Capture.unrecorded()`` runs work once, eagerly, without recording it (optimizer state made in the
captured step).

Limits: other values packed into parameters at capture time are replayed as they were (scalars,
shapes). Optimizers that keep host step counts (Adagrad, LBFGS, and Adam, AdamW, Adadelta,
Adamax, ASGD, NAdam, RAdam, Rprop with ``capturable=False``) refuse to be captured
(``Capture.refuse_or_drop``: a lenient capture is dropped and the step runs). Host reads,
syncs and uploads are refused, as is replaying during a capture (a ``lenient`` capture,
``wgtorch.compile``'s, is dropped instead and the host work runs: see `refuse_or_drop`). Gradients that exist when the
capture starts are accumulated into on every replay (PyTorch's rule too): call ``zero_grad()``
(set_to_none) before capturing a backward, or inside the body. Capture is per device, not per
thread: work other threads record on the device during a capture is captured too.
"""

from __future__ import annotations

import gc
import struct

from ... import wgpu as public
from ..._device import device as as_device
from .fusion import Lives, fuse
from .pool import BUFFER_USAGE, Buffer
from .replay_plan import COPY as _COPY
from .replay_plan import plan_passes as _passes


def refuse(rt, what: str):
    """Abandon ``rt``'s capture (the device keeps working) and return the error to raise."""
    cap = rt._capture
    if cap is not None:
        rt._capture = None
        cap.failed = what
        cap.release(rt)
    return RuntimeError(
        f"{what} is not allowed while capturing a wgpu graph (a replay can't run host "
        "code): move it outside the `with wgtorch.wgpu.graph(g):` block"
    )


def refuse_or_drop(rt, what: str) -> None:
    """Raise `refuse`'s error, unless the capture is lenient (``rt._lenient_capture``: set by
    ``wgtorch.compile``, whose call must complete): then drop the capture and let the host work run."""
    cap = rt._capture
    lenient = cap is not None and getattr(rt, "_lenient_capture", None) is cap
    err = refuse(rt, what)
    if not lenient:
        raise err


class Capture:
    """The records of one capture, and the blocks it pins and holds (no reference to the `Graph`,
    so that blocks pinning it make no cycle)."""

    __slots__ = ("alive", "held", "pinned", "ops", "failed", "error_slots", "lives", "no_fuse", "patches", "hooks",
                 "drawing", "draws", "paused", "__weakref__")

    def __init__(self):
        self.alive = True  # False once released: its pins no longer hold anything
        self.held: list = []  # blocks that died while pinned or during the capture
        self.pinned: list = []  # blocks allocated during the capture
        self.ops: list = []
        self.failed = None  # what made the capture abandon, if anything
        self.error_slots = 0
        self.lives = Lives()  # while recording: births and deaths, dead blocks to reuse (fusion.py)
        self.no_fuse: set = set()  # indices in ops fusion must leave alone (parameters patched per replay)
        # Per-replay hooks (see patch_last, on_replay): what replay must update each time.
        self.patches: list = []  # (op record, fn(params: bytearray)) run before every replay
        self.hooks: list = []  # (before(), after()) run around every replay's submit
        self.drawing = None  # the Generator of the random draw being recorded (wgtorch._creation._draw)
        self.draws: dict = {}  # id(generator) -> _Draws
        self.paused = 0  # > 0: dispatches run eagerly and are not recorded (see unrecorded)

    # -- the graph-private pool (fusion.Lives plans it) --
    def alloc(self, pool, size: int):
        """A block of bucket ``size`` for work being captured: one that died earlier in this capture
        (its last use is recorded before this point), else a new one, pinned to the capture."""
        lives = self.lives
        # State made in an unrecorded section (optimizer state) outlives every replay: never a reused block.
        block = lives.reuse(size, len(self.ops)) if lives is not None and not self.paused else None
        if block is not None:
            self.held.remove(block)
        else:
            block = pool.alloc_bucket(size)
            if lives is not None:
                lives.born[block] = len(self.ops)
        block.pin = self
        self.pinned.append(block)
        return block

    def hold(self, block) -> None:
        """Keep a dead block out of the pool while the graph lives (reusable inside the capture)."""
        self.held.append(block)
        if self.lives is not None:
            self.lives.died(block, len(self.ops))

    # -- per-replay hooks (used by random draws, optimizers' lr and first-step flags) ------------
    def patch_last(self, fn) -> None:
        """Call ``fn(params)`` on the last recorded dispatch's parameter bytes (a bytearray, to
        change in place) before every replay; a patched dispatch gets a parameter slot of its own."""
        for i in range(len(self.ops) - 1, -1, -1):
            if self.ops[i][0] is not _COPY:
                self._patch(i, fn)
                return
        raise RuntimeError("patch_last(): nothing is recorded yet")

    def _patch(self, i: int, fn) -> None:
        # Keyed by the record itself, not its index: a pass rewriting the list at capture end keeps it.
        self.patches.append((self.ops[i], fn))
        no_fuse = getattr(self, "no_fuse", None)  # where fusion is merged: it leaves patched records alone
        if no_fuse is not None:
            no_fuse.add(i)

    def on_replay(self, before=None, after=None) -> None:
        """Run ``before()`` before every replay (ahead of the patches) and ``after()`` after its submit."""
        self.hooks.append((before, after))

    def refuse(self, rt, what: str):
        """`refuse` for callers that have the capture and should not import this module."""
        return refuse(rt, what)

    def refuse_or_drop(self, rt, what: str) -> None:
        """`refuse_or_drop` for such callers: returns only when the capture was lenient and is
        dropped (the caller then runs its host work eagerly, with no capture)."""
        refuse_or_drop(rt, what)

    def unrecorded(self):
        """Context manager: dispatches inside it run now and are not replayed."""
        return _Unrecorded(self)

    def record_dispatch(self, rt, p, buffers, meta_struct, ring, offset: int, groups: int) -> None:
        if self.paused:
            return
        params = bytes(ring[offset : offset + meta_struct.size])
        if p.name.startswith("random:"):
            # The seed and counter are in the parameters: each replay patches them from the generator.
            gen, self.drawing = self.drawing, None
            if gen is None:
                raise refuse(
                    rt, f"the random op {p.name!r} without its generator (its numbers would repeat on every replay)"
                )
            draws = self.draws.get(id(gen))
            phase, lo, hi = _RANDOM_COUNTER.unpack_from(params, 4)
            counter = (hi << 32 | lo) * 4 + phase
            if draws is None:
                draws = self.draws[id(gen)] = _Draws(gen, counter)
            self.ops.append(self._dispatch_record(rt, p, buffers, params, groups))
            self._patch(len(self.ops) - 1, draws.patch(counter))
            return
        self.ops.append(self._dispatch_record(rt, p, buffers, params, groups))

    @staticmethod
    def _dispatch_record(rt, p, buffers, params: bytes, groups: int) -> tuple:
        if groups <= rt.max_groups:
            x, y = groups, 1
        else:
            y = -(-groups // rt.max_groups)
            x = -(-groups // y)
        return (p, tuple(buffers), params, x, y)

    def record_copy(self, src: Buffer, src_offset: int, dst: Buffer, dst_offset: int, nbytes: int) -> None:
        if self.paused:
            return
        self.ops.append((_COPY, src, src_offset, dst, dst_offset, nbytes))

    def release(self, rt) -> None:
        """Return held blocks to the pool and unpin live ones (takes no lock: may run in a finaliser)."""
        if not self.alive:
            return
        self.alive = False
        self.lives = None
        for b in self.pinned:
            if b.pin is self:
                b.pin = None
        rt._dead.extend(self.held)  # the next locked runtime call returns them (see Runtime._reclaim)
        self.pinned, self.held = [], []


_RANDOM_COUNTER = struct.Struct("<III")  # random.PARAMS' phase, block_lo, block_hi (bytes 4..16)
_RANDOM_SEED = struct.Struct("<II")  # key0, key1 (bytes 16..24)


class _Draws:
    """The random draws one capture took from one generator: each replay draws the next numbers
    of the stream, as the eager steps would, and moves the generator past them."""

    __slots__ = ("gen", "first", "end", "base")

    def __init__(self, gen, first: int):
        self.gen = gen
        self.first = first  # the stream position of the capture's first draw
        self.end = None  # the generator's position when the capture ended
        self.base = first  # the position this replay starts at

    def before(self) -> None:
        base = self.gen._counter
        if (base - self.first) % 4:
            raise RuntimeError(
                "replay(): the generator's position moved by a number not a multiple of 4 since the capture "
                "(set_state with such a counter); a replay can't draw its numbers from there"
            )
        self.base = base

    def after(self) -> None:
        self.gen._counter = self.base + (self.end - self.first)

    def patch(self, counter: int):
        def fn(params: bytearray) -> None:
            c = counter + (self.base - self.first)
            block = c // 4
            _RANDOM_COUNTER.pack_into(params, 4, c % 4, block & 0xFFFFFFFF, (block >> 32) & 0xFFFFFFFF)
            seed = self.gen._seed
            _RANDOM_SEED.pack_into(params, 16, seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF)

        return fn


class _Unrecorded:
    __slots__ = ("cap",)

    def __init__(self, cap):
        self.cap = cap

    def __enter__(self):
        self.cap.paused += 1

    def __exit__(self, *exc):
        self.cap.paused -= 1
        return False


def capturing(rt):
    """The `Capture` recording on runtime ``rt``, or None."""
    return rt._capture


class Graph:
    """A recorded sequence of wgpu work, replayable with new data in the same tensors (PyTorch's
    ``torch.cuda.CUDAGraph``). Capture with ``with wgtorch.wgpu.graph(g): ...``.

    Unlike CUDA graph capture, the captured body also runs once, eagerly, so its results are valid
    right after the capture. Work from other threads during a capture is captured too.

    ``fuse`` (wgtorch only, default True): at capture end, runs of elementwise ops become one
    generated kernel each, the elementwise ops after a matmul fold into its store, and writes of
    tensors that died inside the capture are dropped (fusion.py); ``fusion_stats`` says how many.
    ``replay(steps=k)`` (wgtorch only) runs k replays in one encoder and submit."""

    def __init__(self, fuse: bool = True):
        self._fuse = fuse  # (wgtorch's) fuse elementwise runs at capture end (fusion.py)
        self.fusion_stats: dict = {}
        self._rt = None
        self._cap: Capture | None = None
        self._program: list = []
        self._passes: list = []  # the replay's plan (`_passes`)
        self._params = None
        self._uses_errors = False
        self._dispatches = 0
        self._patched: list = []

    # -- capture -------------------------------------------------------------------------------
    def capture_begin(self, device=None) -> None:
        """Start recording on the wgpu device ``device`` (default ``wgpu:0``)."""
        if device is not None and not isinstance(device, int) and as_device(device).type != "wgpu":
            raise RuntimeError(f"wgpu graphs capture work on a wgpu device only, got device {str(device)!r}")
        rt = public._runtime(device)
        gc.collect()  # garbage from before the capture must not die (and be held) during it
        with rt.lock:
            if rt._capture is not None:
                raise RuntimeError("a wgpu graph is already being captured on this device")
            self.reset()
            rt.flush()
            rt._reclaim()
            self._rt = rt
            self._cap = rt._capture = Capture()

    def capture_end(self) -> None:
        """Stop recording and prepare the replay (parameter buffer and bind groups)."""
        rt, cap = self._rt, self._cap
        if rt is None or cap is None:
            raise RuntimeError("capture_end() without capture_begin()")
        gc.collect()  # what died in a cycle during the capture is held by it, not returned later
        with rt.lock:
            if cap.failed is not None:
                self._cap = None
                raise RuntimeError(f"the wgpu graph capture was abandoned: {cap.failed} is not allowed while capturing")
            rt._reclaim()  # blocks that died during the capture are held now, while it is current
            rt._capture = None
            lives, cap.lives = cap.lives, None  # blocks dying from now on are held, not reused
            if self._fuse:
                cap.ops, self.fusion_stats = fuse(rt, cap.ops, lives, cap.no_fuse)
            cap.error_slots = rt._error_slots
            if not cap.ops:
                self.reset()
                raise RuntimeError(
                    "the wgpu graph captured no work: only work on the wgpu device is "
                    "recorded (operations on cpu tensors are not)"
                )
            self._build(rt, cap)

    def _build(self, rt, cap: Capture) -> None:
        from .runtime import META_SLOT

        slots: dict[bytes, int] = {}  # equal parameter blocks share a slot
        fns: dict[int, list] = {}  # id(record) -> its patches
        for record, fn in cap.patches:
            fns.setdefault(id(record), []).append(fn)
        # patched ops (by index in the final list) get slots of their own, after the shared ones
        patched = {i: fns[id(op)] for i, op in enumerate(cap.ops) if id(op) in fns}
        for i, op in enumerate(cap.ops):
            if op[0] is not _COPY and i not in patched:
                slots.setdefault(op[2], len(slots))
        own = {i: len(slots) + k for k, i in enumerate(patched)}
        blob = bytearray(max(len(slots) + len(own), 1) * META_SLOT)
        for params, i in slots.items():
            blob[i * META_SLOT : i * META_SLOT + len(params)] = params
        for i, slot in own.items():
            params = cap.ops[i][2]
            blob[slot * META_SLOT : slot * META_SLOT + len(params)] = params
        # (slot byte offset, captured bytes, patch functions, bytes last written)
        self._patched = [(own[i] * META_SLOT, cap.ops[i][2], fs, cap.ops[i][2]) for i, fs in patched.items()]
        for draws in cap.draws.values():
            draws.end = draws.gen._counter
            cap.hooks.insert(0, (draws.before, draws.after))
        self._params = rt.device.create_buffer(size=len(blob), usage=BUFFER_USAGE, label="graph params")
        rt.queue.write_buffer(self._params, 0, blob)  # lands before the first replay's submit
        groups: dict = {}
        program = []
        errors = rt._errors
        for index, op in enumerate(cap.ops):
            if op[0] is _COPY:
                program.append(op)
                self._uses_errors |= op[1] is errors or op[3] is errors
                continue
            p, buffers, params, x, y = op
            key = (p.layout_key, *buffers)
            bg = groups.get(key)
            if bg is None:
                entries = [{"binding": 0, "resource": {"buffer": self._params, "offset": 0, "size": META_SLOT}}]
                entries += [
                    {"binding": i + 1, "resource": {"buffer": b.gpu, "offset": 0, "size": b.size}}
                    for i, b in enumerate(buffers)
                ]
                bg = groups[key] = rt.device.create_bind_group(layout=p.layout, entries=entries)
            self._uses_errors |= errors is not None and errors in buffers
            slot = own[index] if index in own else slots[params]
            program.append((p, bg, slot * META_SLOT, x, y))
        self._program = program
        self._passes = _passes(program, rt._direct is not None)
        self._dispatches = sum(1 for op in program if op[0] is not _COPY)

    # -- replay --------------------------------------------------------------------------------
    def replay(self, steps: int = 1) -> None:
        """Run the captured work again, on whatever the captured tensors hold now: one encoder,
        one submit, after the eager work recorded so far. ``steps`` (wgtorch only): run it that
        many times back to back in the same encoder and submit (what ``steps`` replays in a row
        give, with the encoder, pass and submit paid once; inputs can't change between them).
        A graph with per-replay hooks (random draws, host step counts) replays its steps one
        submit each."""
        if type(steps) is not int or steps < 1:
            raise ValueError(f"replay(): steps must be a positive int, got {steps!r}")
        rt = self._rt
        if rt is not None and rt._capture is not None:
            raise RuntimeError("replay() is not allowed while capturing a wgpu graph")
        if not self._program:
            raise RuntimeError(
                "replay() of a wgpu graph that holds no capture (capture one with `with wgtorch.wgpu.graph(g):`)"
            )
        hooks = self._cap.hooks
        if steps > 1 and hooks:  # per-replay host work (random draws, host step counts): each step its own
            for _ in range(steps):
                self.replay()
            return
        for before, _ in hooks:
            if before is not None:
                before()
        with rt.lock:
            if self._patched:
                self._apply_patches(rt)
            # Eager work recorded before the replay runs before it: the replay's passes follow it in
            # the same encoder, one finish and one submit for both (rt.flush translates errors).
            rt.flush(lambda enc: self._encode(rt, steps, enc))  # (flush counts the submit)
            for _, after in hooks:
                if after is not None:
                    after()
            rt.stats["dispatches"] += self._dispatches * steps
            if self._uses_errors:  # the next read checks what the replay's index checks reported
                rt._errors_armed = True
                rt._error_slots = max(rt._error_slots, self._cap.error_slots)

    def _apply_patches(self, rt) -> None:
        """Rewrite the parameter slots whose patches give new bytes (ordered before the next submit)."""
        for k, (offset, base, fns, last) in enumerate(self._patched):
            params = bytearray(base)
            for fn in fns:
                fn(params)
            if params != last:
                rt.queue.write_buffer(self._params, offset, bytes(params))
                self._patched[k] = (offset, base, fns, bytes(params))

    def _encode(self, rt, steps: int = 1, enc=None):
        """The replay's command encoder (``enc`` with the replay appended, or a new one), recorded
        and not finished (benches time this alone: on a
        software adapter such as lavapipe, ``submit`` runs the work on the host). The passes were
        planned at capture end (`_passes`); ``steps`` copies of the program share a pass where a
        step ends and the next begins with dispatches."""
        with rt.lock:
            if enc is None:
                enc = rt.device.create_command_encoder()
            direct = rt._direct
            cp = handle = None
            for _ in range(steps):
                for c_calls, api_calls in self._passes:
                    if c_calls is _COPY:
                        if cp is not None:
                            cp.end()
                            cp = None
                        enc.copy_buffer_to_buffer(*api_calls)
                        continue
                    if cp is None:
                        cp = enc.begin_compute_pass()
                        handle = getattr(cp, "_internal", None) if direct is not None else None
                    if c_calls is not None and handle is not None:  # wgpu-native's C calls (see runtime)
                        set_pipeline, set_bind_group, dispatch, offsets = direct
                        for p, bg, offset, x, y in c_calls:
                            if p is not None:
                                set_pipeline(handle, p)
                            if bg is not None:
                                offsets[0] = offset
                                set_bind_group(handle, 0, bg, 1, offsets)
                            dispatch(handle, x, y, 1)
                    else:
                        for p, bg, offset, x, y in api_calls:
                            if p is not None:
                                cp.set_pipeline(p)
                            if bg is not None:
                                cp.set_bind_group(0, bg, [offset])
                            cp.dispatch_workgroups(x, y, 1)
            if cp is not None:
                cp.end()
            return enc

    @property
    def num_dispatches(self) -> int:
        """Dispatches one replay records (copies not counted)."""
        return self._dispatches

    def reset(self) -> None:
        """Drop the capture and return the memory it kept to the pool."""
        cap, rt = self._cap, self._rt
        self._program, self._params, self._cap, self._uses_errors, self._dispatches = [], None, None, False, 0
        self._passes = []
        self._patched = []
        if cap is None:
            return
        with rt.lock:
            if rt._capture is cap:
                rt._capture = None
            cap.release(rt)
            rt._reclaim()
            rt.pool.drain()

    def __del__(self):
        # No lock (a finaliser): hand the blocks back through the runtime's dead list.
        cap = getattr(self, "_cap", None)
        if cap is not None and self._rt is not None:
            if self._rt._capture is cap:
                self._rt._capture = None
            cap.release(self._rt)
