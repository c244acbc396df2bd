"""``wgtorch.wgpu``: the WebGPU devices, shaped like ``torch.cuda``."""

from __future__ import annotations

import functools
import sys

from . import _graphed
from ._device import canonical, device, get_backend


@functools.cache
def _adapters() -> tuple:
    try:
        from ._backends.wgpu.runtime import list_adapters

        return tuple(list_adapters())
    except Exception:  # no wgpu-native library, no driver: simply no wgpu devices
        return ()


def is_available() -> bool:
    return bool(_adapters())


def device_count() -> int:
    return len(_adapters())


def is_hardware(index: int = 0) -> bool:
    """Whether adapter ``index`` is a real GPU rather than a software rasteriser such as lavapipe."""
    adapters = _adapters()
    return index < len(adapters) and adapters[index].info["adapter_type"] != "CPU"


def is_preferred() -> bool:
    """Whether ``best_device()`` should pick wgpu: an adapter that is a real GPU (lavapipe is slower than NumPy)."""
    return is_available() and is_hardware()


def get_device_name(d=None) -> str:
    index = _index(d)
    adapters = _adapters()
    if index >= len(adapters):
        raise RuntimeError(f"wgpu:{index} does not exist: {len(adapters)} adapter(s) found")
    return adapters[index].info["device"]


def _index(d) -> int:
    if d is None:
        return 0
    if isinstance(d, int):
        return d
    return canonical(device(d)).index


def _backend(d=None):
    return get_backend(device("wgpu", _index(d)))


def _runtime(d=None):
    return _backend(d).rt


class _DeviceProperties(dict):
    """What ``get_device_properties`` returns: a dict (``props["features"]``) whose keys are also
    attributes (``props.name``, ``props.float64``), like ``torch.cuda``'s properties object."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return (f"_WgpuDeviceProperties(name={self['name']!r}, total_memory={self['total_memory']}, "
                f"float64={self['float64']}, int64_mode={self['int64_mode']!r})")


def get_device_properties(device=None) -> _DeviceProperties:
    """The adapter behind ``device`` (default wgpu:0): ``name``, ``total_memory`` (None: WebGPU does
    not report it), the device's ``features`` and ``limits``, the adapter's ``info`` fields,
    ``float64`` (float64 tensors computed in f64: the shader-f64 feature was granted) and
    ``int64_mode``: "native" (int64 tensors are stored as WGSL i64 and computed exactly: the
    shader-int64 feature was granted) or "int32-storage" (stored as 32-bit integers, values
    range-checked on upload; also forced by WGTORCH_WGPU_INT64=int32-storage).
    Features withheld by WGTORCH_WGPU_DISABLE_FEATURES are absent, as on an adapter without them."""
    be = _backend(device)
    rt = be.rt
    return _DeviceProperties(name=rt.name, **rt.info, total_memory=None, limits=dict(rt.limits),
                             features=sorted(rt.features), float64="shader-f64" in rt.features,
                             int64_mode=be.int64_mode)


def synchronize(d=None) -> None:
    """Submit everything recorded on the device and wait for it to finish."""
    _runtime(d).synchronize()


def _pool(d=None):
    rt = _runtime(d)
    rt.reclaim()  # dead tensors' blocks are returned lazily: count them first
    return rt.pool


def memory_allocated(d=None) -> int:
    """Bytes held by live tensors (pool bucket sizes)."""
    return _pool(d).allocated


def max_memory_allocated(d=None) -> int:
    return _pool(d).peak


def reset_peak_memory_stats(d=None) -> None:
    pool = _pool(d)
    pool.peak = pool.allocated


def memory_reserved(d=None) -> int:
    """Bytes of device buffers the pool owns: live tensors plus cached free buffers."""
    return _pool(d).reserved


def memory_stats(d=None) -> dict:
    rt = _runtime(d)
    rt.reclaim()
    return {**rt.pool.stats(), **{f"runtime.{k}": v for k, v in rt.stats.items()}}


def empty_cache(d=None) -> None:
    """Free the pool's cached buffers (live tensors keep theirs)."""
    _runtime(d).empty_cache()


# -- graphs: capture and replay (torch.cuda.CUDAGraph / torch.cuda.graph) --
def _graph_class():
    from ._backends.wgpu.graph import Graph

    return Graph


def __getattr__(name):
    # Graph lives with the runtime; importing it lazily keeps `import wgtorch` free of wgpu-native.
    if name == "Graph":
        return _graph_class()
    raise AttributeError(f"module 'wgtorch.wgpu' has no attribute {name!r}")


class graph:
    """Context manager that captures the wgpu work of its body into ``wgpu_graph`` (a
    `wgtorch.wgpu.Graph`), like ``torch.cuda.graph``. The body runs once, eagerly (its results are
    valid afterwards), and ``wgpu_graph.replay()`` runs the recorded work again on whatever the
    captured tensors hold then.

    Only work on the wgpu device ``device`` is recorded; host reads, syncs and uploads of host data
    inside the body raise RuntimeError and abandon the capture. Random ops draw the generator's
    next numbers on every replay (as the eager steps would); SGD, RMSprop and Adam/AdamW with
    ``capturable=True`` replay with the group's current lr. Other values baked into kernels'
    parameters at capture time (scalars, shapes) are replayed as they were. ``pool``, ``stream``
    and ``capture_error_mode`` are accepted for PyTorch's signature; only their defaults are supported."""

    def __init__(self, wgpu_graph, pool=None, stream=None, capture_error_mode: str = "global", device=None):
        if not isinstance(wgpu_graph, _graph_class()):
            raise TypeError(f"graph() expects a wgtorch.wgpu.Graph, got {type(wgpu_graph).__name__}")
        if pool is not None or stream is not None:
            raise NotImplementedError("graph(): memory pools shared between graphs and streams are not "
                                      "supported on wgpu (there is one stream)")
        if capture_error_mode not in ("global", "thread_local", "relaxed"):
            raise ValueError(f"graph(): unknown capture_error_mode {capture_error_mode!r}")
        self.wgpu_graph = wgpu_graph
        self.device = device

    def __enter__(self):
        self.wgpu_graph.capture_begin(self.device)
        return self.wgpu_graph

    def __exit__(self, kind, value, tb):
        if kind is None:
            self.wgpu_graph.capture_end()
        else:
            self.wgpu_graph.reset()  # abandon: the memory the capture kept goes back to the pool
        return False


# -- make_graphed_callables (torch.cuda.make_graphed_callables; the work is in _graphed.py) --
def make_graphed_callables(callables, sample_args, num_warmup_iters: int = 3, allow_unused_input: bool = False,
                           pool=None):
    """Graphed versions of ``callables`` (a module or function, or a tuple of them) whose forward and
    backward replay captured wgpu graphs; ``sample_args`` (a tuple of wgpu tensors per callable)
    become the static inputs. See ``torch.cuda.make_graphed_callables``; the outputs alias static
    tensors that the next call overwrites, and calls must keep the captured shapes and dtypes."""
    return _graphed.make_graphed_callables(callables, sample_args, num_warmup_iters, allow_unused_input, pool,
                                           api=sys.modules[__name__])
