"""Errors that kernels report from the device (bad indices, integer division by zero), without a
host round trip: the `Runtime`'s error buffer, its slots, and the check at the next read."""

from __future__ import annotations

import numpy as np

from .pool import BUFFER_USAGE, Buffer

ERROR_SLOTS = 64  # 16-byte error reports kept apart between two checks (see error_slot)


class DeviceErrors:
    """Mixin for `runtime.Runtime` (which holds ``lock``, ``device``, ``queue`` and the state
    these methods use: ``_errors``, ``_errors_armed``, ``_error_slots``, ``error_decoders``)."""

    def error_buffer(self) -> Buffer:
        """The buffer kernels bind as ``array<atomic<u32>>`` to report bad input without a host
        round trip: ERROR_SLOTS slots of 4 words; a report puts a nonzero code in word 0 of its
        slot (the first report in a slot wins) and its details in words 1-3. A batch that binds it
        is checked at the next ``read`` (``synchronize`` is one), which raises the decoded
        exception (``error_decoders[code](words)``) and clears the buffer; the device stays usable.

        A kernel that takes no slot (see error_slot) reports in slot 0, shared by all of them."""
        with self.lock:
            if self._errors is None:
                gpu = self.device.create_buffer(size=16 * ERROR_SLOTS, usage=BUFFER_USAGE, label="errors")
                self._errors = Buffer(gpu, 16 * ERROR_SLOTS, False)  # created zeroed
            return self._errors

    def error_slot(self) -> int:
        """A slot of its own for the next dispatch's report, so that the check names every op
        that failed. Hold ``lock`` from this call to that dispatch (a check in between would
        hand the slot out again). Past ERROR_SLOTS - 1 dispatches the last slot is shared."""
        with self.lock:
            self._error_slots += 1
            return min(self._error_slots, ERROR_SLOTS - 1)

    def _raise_reported(self, raw: np.ndarray) -> None:
        # All recorded work was just submitted and waited for, so the words are final; the lock
        # is held, so the clearing write lands before any work recorded after this check.
        shared = self._error_slots - (ERROR_SLOTS - 2)  # ops that reported in the last slot
        self._errors_armed = False
        self._error_slots = 0
        words = np.frombuffer(raw.tobytes(), np.uint32).reshape(-1, 4)
        found = [w for w in words if w[0]]
        if not found:
            return
        self.queue.write_buffer(self._errors.gpu, 0, bytes(words.nbytes))
        errors = [self._decode(w) for w in found]
        if len(errors) == 1:
            raise errors[0]
        kind = type(errors[0]) if all(type(e) is type(errors[0]) for e in errors) else RuntimeError
        lines = [f"  {i}. {e}" for i, e in enumerate(errors, 1)]
        more = (
            f"\n({shared} ops checked since the last read shared the last slot: only the first of "
            "them to fail is named)"
            if shared > 1
            else ""
        )
        raise kind(f"{len(errors)} device-side errors were reported since the last check:\n" + "\n".join(lines) + more)

    def _decode(self, words) -> Exception:
        decode = self.error_decoders.get(int(words[0]))
        return decode(words) if decode else RuntimeError(f"a wgpu kernel reported error {words.tolist()}")
