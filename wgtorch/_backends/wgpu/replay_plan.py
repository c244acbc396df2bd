"""The replay plan of a wgpu graph (graph.py): its recorded dispatches grouped into compute passes,
with the state each dispatch must set, resolved once at capture end instead of on every replay."""

from __future__ import annotations

COPY = object()  # tag of a recorded buffer-to-buffer copy (graph.Capture.record_copy)


def plan_passes(program: list, direct: bool) -> list:
    """The replay's plan: (COPY, copy arguments) for a recorded copy, else (C calls, wgpu-py
    calls) for a run of dispatches in one compute pass. Each dispatch is (pipeline, bind group,
    parameter offset, x, y), the pipeline and bind group None where the previous dispatch of the run
    set the same: as wgpu-native's handles (None where ``direct`` is off or a handle is missing) and
    as wgpu-py's objects."""
    plan: list = []
    run: list = []

    def close():
        if not run:
            return
        handles = direct and all(p.handle is not None and getattr(bg, "_internal", None) is not None
                                 for p, bg, _o, _x, _y in run)
        last_p = last_bind = None
        c_calls, api_calls = [], []
        for p, bg, offset, x, y in run:
            same_p, same_bind = p is last_p, (bg, offset) == last_bind
            last_p, last_bind = p, (bg, offset)
            api_calls.append((None if same_p else p.gpu, None if same_bind else bg, offset, x, y))
            if handles:
                c_calls.append((None if same_p else p.handle, None if same_bind else bg._internal, offset, x, y))
        plan.append((tuple(c_calls) if handles else None, tuple(api_calls)))
        run.clear()

    for op in program:
        if op[0] is COPY:
            close()
            plan.append((COPY, (op[1].gpu, op[2], op[3].gpu, op[4], op[5])))
        else:
            run.append(op)
    close()
    return plan


__all__ = ["COPY", "plan_passes"]
