"""What the foreach and capturable optimizer paths share: grouping a group's tensors by device,
the capture (if any) recording on a device, learning rates a replay re-reads, and capturable
step counts kept on the device.

A wgpu graph replays the parameters packed at capture time. Optimizers therefore pass their
learning rate as a `LiveFloat` while a capture records (each replay reads
``optimizer.param_groups[i]["lr"]`` again, so lr schedulers keep working), SGD's first-step flag is
cleared for replays by the backend, and ``capturable=True`` Adam/AdamW keep ``state["step"]`` on
the device, where the kernel adds one and computes the bias corrections.
"""

from __future__ import annotations

import contextlib
import weakref

from .._backends.live import LiveFloat
from .._creation import tensor, zeros


def capture_of(be):
    """The wgpu graph capture recording on backend ``be``'s device, or None."""
    rt = getattr(be, "rt", None)
    return getattr(rt, "_capture", None)


def by_backend(pairs):
    """``{backend: [(param, grad), ...]}`` in parameter order (a group may span devices)."""
    out: dict = {}
    for p, g in pairs:
        out.setdefault(p._be, []).append((p, g))
    return out


def live_lr(optimizer, group_index: int, lr: float, cap):
    """``lr``, as a `LiveFloat` re-read from the optimizer's group on every replay when ``cap``
    (a capture) records."""
    if cap is None:
        return lr
    ref = weakref.ref(optimizer)

    def fetch():
        opt = ref()
        return lr if opt is None else float(opt.param_groups[group_index]["lr"])

    return LiveFloat(lr, fetch)


def init_state(cap):
    """Context for creating optimizer state: inside a capture the fills run once, now, and are
    not replayed (a replay continues from the state the captured step left)."""
    return cap.unrecorded() if cap is not None else contextlib.nullcontext()


def device_steps(states: list, params: list, cap) -> None:
    """Make each ``state["step"]`` a float32 0-d tensor on its parameter's device, the ones made
    together views of one tensor (so one kernel finds them side by side)."""
    todo = [(s, p) for s, p in zip(states, params) if not _on_device(s.get("step"), p)]
    if not todo:
        return
    values = [float(s["step"]) if s.get("step") is not None else 0.0 for s, _ in todo]
    if any(values) and cap is not None:
        raise cap.refuse(
            todo[0][1]._be.rt,
            "moving a capturable optimizer's step counts to the device (after "
            "load_state_dict): run one step before capturing",
        )
    dev = todo[0][1].device
    with init_state(cap):
        flat = tensor(values, dtype="float32", device=dev) if any(values) else zeros(len(todo), device=dev)
    for j, (s, _) in enumerate(todo):
        s["step"] = flat[j]


def _on_device(step, p) -> bool:
    return (
        step is not None
        and getattr(step, "device", None) == p.device
        and step.dtype.name == "float32"
        and step.ndim == 0
    )
