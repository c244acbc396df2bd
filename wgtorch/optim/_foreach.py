"""What the foreach and capturable optimizer paths share: grouping a group's tensors by device,
the capture (if any) recording on a device, learning rates a replay re-reads, and capturable
step counts kept on the device.

A wgpu graph replays the parameters packed at capture time. Optimizers therefore pass their
learning rate as a `LiveFloat` while a capture records (each replay reads
``optimizer.param_groups[i]["lr"]`` again, so lr schedulers keep working), SGD's first-step flag is
cleared for replays by the backend, and ``capturable=True`` Adam/AdamW keep ``state["step"]`` on
the device, where the kernel adds one and computes the bias corrections (``capturable=True``
RMSprop too, advanced by a recorded add: `advance_steps`).

The composite optimizers (Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop) with ``capturable=True``
follow PyTorch's capturable formulas: their step counts and running scalars (NAdam's
``mu_product``, ASGD's ``eta`` and ``mu``) are 0-d float32 tensors on the device and every
step-dependent factor is computed there by tensor ops (RAdam's rectification selected by
``where``), so a replay computes what an eager step would. Their learning rate is a 0-d device
tensor too (`device_lr`), refilled from the group before every replay.
"""

from __future__ import annotations

import contextlib
import weakref

from .._backends.live import LiveFloat
from .._creation import full, tensor, zeros
from .optimizer import advance_step


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
    _read_lr_in(optimizer, cap)
    ref = weakref.ref(optimizer)

    def fetch():
        opt = ref()
        return lr if opt is None else float(opt.param_groups[group_index]["lr"])

    return LiveFloat(lr, fetch)


def _read_lr_in(optimizer, cap) -> None:
    # Not state (never in a state_dict): which capture last recorded a step reading the lr.
    optimizer.__dict__["_lr_captured"] = weakref.ref(cap)


def lr_read_in(optimizer, cap) -> bool:
    """Whether a step of ``optimizer`` recorded into capture ``cap`` reads its learning rate (a
    scheduler stepped after it must change the lr after each replay, one stepped before it
    before)."""
    ref = optimizer.__dict__.get("_lr_captured")
    return ref is not None and cap is not None and ref() is cap


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


def advance_steps(states: list, params: list, capturable: bool, cap) -> list:
    """Add one to each ``state["step"]`` and return the new counts. ``capturable``: the counts are
    float32 0-d tensors on the device (`device_steps`) advanced by a recorded add, so every replay
    counts too; otherwise PyTorch's float32 cpu count (`advance_step`), returned as floats."""
    if not capturable:
        return [advance_step(s) for s in states]
    device_steps(states, params, cap)
    for s in states:
        s["step"].add_(1)
    return [s["step"] for s in states]


def _on_device(step, p) -> bool:
    return (
        step is not None
        and getattr(step, "device", None) == p.device
        and step.dtype.name == "float32"
        and step.ndim == 0
    )


def takes_capturable_path(group: dict, be) -> bool:
    """Whether ``group``'s step on backend ``be`` is capturable: ``capturable=True`` on wgpu (on
    other devices the flag changes nothing)."""
    return bool(group.get("capturable")) and getattr(be, "rt", None) is not None


def capturable_on(optimizer, group: dict, be, cap, replayed: str = "step-dependent factors"):
    """``(capturable, cap)``: `takes_capturable_path`, and the capture to record into. Inside a
    capture (``cap``) a step that is not capturable is refused (its host step count and
    ``replayed`` would replay as captured), unless the capture is ``wgtorch.compile``'s lenient
    one: that is dropped (``cap`` None) and the step runs eagerly."""
    capturable = takes_capturable_path(group, be)
    if cap is not None and not capturable:
        name = type(optimizer).__name__
        cap.refuse_or_drop(be.rt, f"{name}(capturable=False).step() (its step count and {replayed} "
                                  "would replay as captured; construct the optimizer with capturable=True)")
        cap = None
    return capturable, cap


def device_lr(optimizer, group_index: int, lr: float, device, cap):
    """Group ``group_index``'s learning rate as a float32 0-d tensor on ``device``, for capturable
    composite steps: one tensor per (group, device), refilled in place when the lr changes, and,
    when ``cap`` records, before every replay of it (so lr schedulers work between replays)."""
    cache = optimizer.__dict__.setdefault("_device_lrs", {})  # not state: never in a state_dict
    key = (group_index, str(device))
    entry = cache.get(key)
    with init_state(cap):  # made or refilled now: a replay's value comes from the hook below
        if entry is None:
            entry = cache[key] = [lr, full((), lr, dtype="float32", device=device)]
        elif entry[0] != lr:
            entry[1].fill_(lr)
            entry[0] = lr
    if cap is not None:
        _read_lr_in(optimizer, cap)
        ref = weakref.ref(optimizer)

        def refresh():
            opt = ref()
            if opt is not None:
                device_lr(opt, group_index, float(opt.param_groups[group_index]["lr"]), device, None)

        cap.on_replay(before=refresh)
    return entry[1]


def device_scalar(state: dict, key: str, param, initial: float, cap):
    """``state[key]`` as a float32 0-d tensor on ``param``'s device (made at ``initial`` the first
    time; a value loaded as a number or onto another device is moved there, which a capture
    refuses: run one step before capturing)."""
    value = state.get(key)
    if _on_device(value, param):
        return value
    if value is not None and cap is not None:
        raise cap.refuse(param._be.rt, f"moving a capturable optimizer's {key!r} to the device (after "
                                       "load_state_dict): run one step before capturing")
    start = initial if value is None else float(value)
    with init_state(cap):
        value = state[key] = full((), start, dtype="float32", device=param.device)
    return value
