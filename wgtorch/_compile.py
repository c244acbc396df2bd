"""``wgtorch.compile``: PyTorch's signature; on wgpu, calls are captured into graphs and replayed
(what ``torch.compile(mode="reduce-overhead")`` does with CUDA graphs); elsewhere they run eagerly.

Per *guard key* (the arguments' structure, each tensor's shape, dtype, device and requires_grad,
the other arguments' values, grad mode, and the ``training`` flags of the modules involved) the
first call runs eagerly (warm-up: optimizer state, kernels), the second is captured while it runs,
and later calls copy their tensor arguments into the capture's static inputs and replay it.

Two kinds of capture:
- whole call: the call's work is one graph (inference, or a training step that calls
  ``backward()`` and ``optimizer.step()`` itself: then the replay runs the whole step). Outputs
  come back detached.
- forward with autograd: when grad mode is on, no backward ran inside the call and its outputs
  require grad, forward and backward are captured apart (as ``make_graphed_callables``) and the
  outputs carry a ``grad_fn``; gradients reach the arguments and the leaves (parameters) that the
  warm-up call's autograd graph reached.

Outputs are the capture's static tensors (fresh tensor objects over the same memory each call):
as in PyTorch's reduce-overhead mode, the next replay overwrites them; ``.clone()`` what you keep.

A replay runs no Python of the function, with one exception: an lr scheduler's ``step()`` called
in the captured call is registered to run again at every replay (before the replay when it ran
before the optimizer's step in the function, after it otherwise; optim/_lr_base.py), so N calls
step the scheduler N times, as eagerly. Any other Python state the capture call changes is
detected (`_compile_effects`: the globals the function's code names, its closure cells, the
``__dict__`` of the modules it guards on, compared shallowly, once, around the capture call): the
capture is dropped and that key runs eagerly from then on, so counters and list appends happen on
every call. Python values the function reads are replayed as they were at capture (guard on them
by passing them as arguments). Calls that can't be captured run eagerly from then on for that
key, after a one-time ``warnings.warn`` saying why: such side effects (naming what changed), host
reads (``.item()``, printing, control flow on tensor values), uploads of host data, random ops,
cpu tensors among the arguments or outputs, arguments mutated in place, a scheduler stepped in a
forward captured apart from its backward, and more than ``cache_size_limit`` (8) guard keys.
``fullgraph=True`` raises instead of falling back.
A whole-call capture that is refused completes eagerly (the capture is *lenient*: it is dropped and
the host work runs), so the call's side effects happen once. A forward-with-autograd capture that
is refused raises inside the forward: that call's forward then runs again eagerly, so in-place side
effects of its first part (BatchNorm's running statistics) happen twice in that one call.

Changing shapes: each new shape signature is a new guard key, so it gets its own warm-up and
capture and the graphs of earlier shapes keep replaying (alternating batch sizes replay two graphs;
PyTorch's reduce-overhead mode also records a CUDA graph per distinct shape), up to
``cache_size_limit`` keys, after which new keys run eagerly with a one-time warning.

Differences from PyTorch: shapes are always specialised (``dynamic`` is accepted, ignored); the
warm-up call returns eager results (with a ``grad_fn``), captured whole steps return detached
outputs; a replay sees tensors the function reads from globals or closures by their memory (as a
CUDA graph does), so rebinding such a name after the capture is not seen; cpu work inside a
function of wgpu tensors that neither takes nor returns cpu tensors is not detected."""

from __future__ import annotations

import sys
import warnings
from collections import OrderedDict

from . import _compile_effects as _effects
from . import wgpu as _wgpu
from ._backends import live as _live
from ._graphed import graph_callable, is_module, tree_flatten, tree_unflatten
from ._tensor_class import Tensor
from .autograd import engine as _engine
from .autograd.grad_mode import no_grad
from .autograd.grad_mode import state as _grad_state

_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
_OWN_FILES = (__file__, sys.modules[graph_callable.__module__].__file__)
cache_size_limit = 8  # guard keys per compiled callable (torch._dynamo.config.cache_size_limit)


class _Uncapturable(Exception):
    """Why a call can't be captured (becomes the one-time warning)."""


class _Entry:
    __slots__ = ("calls", "replays", "eager", "kind", "graph", "static", "outputs", "spec", "graphed", "leaves", "rt")

    def __init__(self):
        self.calls = 0  # 1: warmed up, 2: captured
        self.replays = 0
        self.eager = False  # fall back for good (the warning was given)
        self.kind = "whole"  # or "step" (a backward ran inside), "autograd" (outputs need grad_fn)
        self.graph = self.static = self.outputs = self.spec = self.graphed = self.leaves = self.rt = None


def _leaf_key(x):
    if isinstance(x, Tensor):
        return ("T", tuple(x.shape), x.dtype, str(x.device), x.requires_grad)
    try:
        hash(x)
    except TypeError:
        raise _Uncapturable(f"an argument of type {type(x).__name__} can't be guarded on (unhashable)") from None
    return ("V", type(x), x)


def _leaves_of(outputs) -> list:
    """The leaf tensors (parameters, inputs) the autograd graph of ``outputs`` reaches."""
    found, seen = {}, set()
    stack = [o.grad_fn for o in outputs if isinstance(o, Tensor) and o.grad_fn is not None]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for edge in node.edges:
            if edge is None:
                continue
            if edge[1] < 0:
                found[id(edge[0])] = edge[0]
            else:
                stack.append(edge[0])
    return list(found.values())


class CompiledFunction:
    """What ``wgtorch.compile(fn)`` returns for a function: call it as ``fn``."""

    def __init__(self, fn, fullgraph: bool = False, capture: bool = True, modules=()):
        self._fn = fn
        self._fullgraph = fullgraph
        self._capture = capture
        self._roots = list(modules)  # compiled directly (a module): its forward is scanned for side effects
        self._modules = list(modules) + _modules_near(fn)
        self._cache: OrderedDict = OrderedDict()
        self._warned: set = set()
        self.__wrapped__ = fn
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)

    def _fallback(self, entry, why: str):
        if self._fullgraph:
            raise RuntimeError(f"torch.compile(fullgraph=True): the call can't be captured into a wgpu graph: {why}")
        if entry is not None:
            entry.eager = True
            if entry.graph is not None:
                entry.graph.reset()
            entry.graph = entry.static = entry.outputs = entry.graphed = None
        if why not in self._warned:
            self._warned.add(why)
            warnings.warn(f"wgtorch.compile: running {self.__name__} eagerly: {why}", stacklevel=_user_level())

    def __call__(self, *args, **kwargs):
        if not self._capture or not _wgpu.is_available():
            return self._fn(*args, **kwargs)
        flat, spec = tree_flatten((args, kwargs))
        tensors = [x for x in flat if isinstance(x, Tensor)]
        if tensors and not any(t.device.type == "wgpu" for t in tensors):
            return self._fn(*args, **kwargs)  # cpu (or cuda): nothing to capture, run eagerly
        device = self._device(tensors)
        if device is None:
            return self._fn(*args, **kwargs)
        rt = _wgpu._runtime(device)
        if rt._capture is not None:  # inside someone's capture (a graph, an outer compiled call): be recorded
            return self._fn(*args, **kwargs)
        try:
            key = (
                spec,
                tuple(_leaf_key(x) for x in flat),
                _grad_state.enabled,
                tuple(m.training for m in self._all_modules()),
            )
        except _Uncapturable as e:
            self._fallback(None, str(e))
            return self._fn(*args, **kwargs)
        entry = self._cache.get(key)
        if entry is None:
            if len(self._cache) >= cache_size_limit:
                self._fallback(
                    None,
                    f"more than cache_size_limit ({cache_size_limit}) guard keys (input shapes, "
                    "dtypes, devices, requires_grad, argument values, grad mode, training flags)",
                )
                return self._fn(*args, **kwargs)
            entry = self._cache[key] = _Entry()
        if entry.eager:
            return self._fn(*args, **kwargs)
        if entry.calls == 0:
            return self._warm_up(entry, flat, tensors, args, kwargs)
        if entry.calls == 1:
            return self._record(entry, flat, spec, rt, device)
        return self._replay(entry, flat)

    # -- the three phases ------------------------------------------------------------------------
    def _warm_up(self, entry, flat, tensors, args, kwargs):
        versions = [t._version for t in tensors]
        passes = _engine.passes[0]
        out = self._fn(*args, **kwargs)
        entry.calls = 1
        if any(t.device.type != "wgpu" for t in tensors):
            self._fallback(entry, "a cpu tensor among the arguments (its work would not be replayed)")
        elif any(t._version != v for t, v in zip(tensors, versions)):
            self._fallback(entry, "the function modifies an argument in place (a replay would modify a copy)")
        elif _engine.passes[0] != passes and any(t.requires_grad for t in tensors):
            self._fallback(
                entry,
                "a backward pass inside the call reaches arguments that require grad (their "
                ".grad would accumulate into static copies)",
            )
        else:
            outs, _ = tree_flatten(out)
            entry.kind = (
                "step"
                if _engine.passes[0] != passes
                else "autograd"
                if _grad_state.enabled and any(isinstance(o, Tensor) and o.requires_grad for o in outs)
                else "whole"
            )
            if entry.kind == "autograd":
                entry.leaves = _leaves_of(outs)  # the leaves to differentiate, until the capture
        return out

    def _record(self, entry, flat, spec, rt, device):
        static = [x.detach().clone().requires_grad_(x.requires_grad) if isinstance(x, Tensor) else x for x in flat]
        args, kwargs = tree_unflatten(static, spec)
        entry.calls = 2
        if entry.kind == "autograd":
            return self._record_autograd(entry, flat, static, args, kwargs, device)
        snap = _effects.snapshot(self._fn, self._roots, self._all_modules())
        g = _wgpu.Graph()
        g.capture_begin(device)
        rt._lenient_capture = rt._capture  # a refused host op drops the capture and runs: the call completes
        _live.recording.append(_live.PythonReplay(g._cap))  # lr schedulers stepped in the call: replayed too
        try:
            out = self._fn(*args, **kwargs)
        except BaseException:
            g.reset()
            entry.calls = 1  # as an eager call that raised: the next call tries the capture again
            raise
        finally:
            rt._lenient_capture = None
            _live.recording.pop()
        try:
            g.capture_end()
        except RuntimeError as e:
            if "captured no work" in str(e):  # cpu work only (closures): eager is all there is, no warning
                entry.eager = True
            else:
                self._fallback(entry, _reason(e))
            return out
        outs, out_spec = tree_flatten(out)
        cpu = [o for o in outs if isinstance(o, Tensor) and o.device.type != "wgpu"]
        if cpu:
            g.reset()
            self._fallback(entry, f"an output on {cpu[0].device} (only wgpu work is replayed)")
            return out
        what = _effects.changed(snap)
        if what is not None:  # the call ran (eagerly, while recording): later calls run eagerly too
            g.reset()
            self._fallback(entry, _changed(what))
            return out
        entry.graph, entry.rt = g, rt
        entry.static = [x for x in static if isinstance(x, Tensor)]
        entry.outputs = [o.detach() if isinstance(o, Tensor) else o for o in outs]
        entry.spec = out_spec
        return tree_unflatten(_fresh(entry.outputs), out_spec)

    def _record_autograd(self, entry, flat, static, args, kwargs, device):
        tensors = [x for x in static if isinstance(x, Tensor)]
        user = [x for x in flat if isinstance(x, Tensor)]
        ids = {id(t) for t in user}
        params = tuple(t for t in entry.leaves if id(t) not in ids)
        fn, spec = self._fn, tree_flatten((args, kwargs))[1]

        def call(*ts):
            it = iter(ts)
            a, k = tree_unflatten([next(it) if isinstance(x, Tensor) else x for x in static], spec)
            return fn(*a, **k)

        snap = _effects.snapshot(self._fn, self._roots, self._all_modules())
        rec = _live.PythonReplay(None)  # a forward's capture can't step a scheduler per replay
        _live.recording.append(rec)
        try:
            graphed, cap = graph_callable(call, tuple(tensors), 0, True, device, _wgpu, params=params)
        except RuntimeError as e:
            # The forward ran eagerly up to the refusal; its work is lost with the capture: run the call again.
            self._fallback(entry, _reason(e))
            a, k = tree_unflatten(flat, spec)
            return self._fn(*a, **k)
        finally:
            _live.recording.pop()
        cap.fresh = True  # the capture computed this call's outputs: the first apply needs no replay
        entry.graphed, entry.leaves = graphed, None
        out = graphed(*user)
        what = _effects.changed(snap)
        if rec.missed:  # this call's outputs (and their backward) stand; later calls run eagerly
            self._fallback(entry, f"{rec.missed[0]} ran in a forward captured apart from its backward; a replay "
                                  "would not repeat it")
        elif what is not None:
            self._fallback(entry, _changed(what))
        return out

    def _replay(self, entry, flat):
        entry.replays += 1
        if entry.graphed is not None:
            return entry.graphed(*[x for x in flat if isinstance(x, Tensor)])
        with no_grad():  # static inputs may be leaves that require grad
            for s, x in zip(entry.static, (x for x in flat if isinstance(x, Tensor))):
                if s.data_ptr() != x.data_ptr():
                    s.copy_(x)
        entry.graph.replay()
        return tree_unflatten(_fresh(entry.outputs), entry.spec)

    # -- what the guards look at --------------------------------------------------------------------
    def _all_modules(self) -> list:
        out, seen = [], set()
        for m in self._modules:
            for sub in m.modules():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    out.append(sub)
        return out

    def _device(self, tensors):
        for t in tensors:
            if t.device.type == "wgpu":
                return t.device
        for m in self._modules:
            for p in m.parameters():
                return p.device if p.device.type == "wgpu" else None
        return "wgpu"  # a function of no tensors: whatever it does on wgpu:0 is captured (cpu work: none)

    def reset(self) -> None:
        """Drop every capture (``torch._dynamo.reset()`` for this callable)."""
        for entry in self._cache.values():
            if entry.graph is not None:
                entry.graph.reset()
        self._cache.clear()


def _user_level() -> int:
    """The warnings stack level of the first frame outside wgtorch's compile and graphed modules."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename in _OWN_FILES:
        frame, level = frame.f_back, level + 1
    return level


def _fresh(outputs) -> list:
    return [o.detach() if isinstance(o, Tensor) else o for o in outputs]


def _changed(what: str) -> str:
    return f"{what} changed during the call; a replay would not repeat it"


def _reason(e: Exception) -> str:
    text = str(e)
    if "captured no work" in text:
        return "it does no work on the wgpu device (cpu work is not captured)"
    return text.replace("the wgpu graph capture was abandoned: ", "")


def _modules_near(fn) -> list:
    """Modules a function can see (bound ``self``, closure cells, globals it names): their training
    flags are guarded on."""
    found = []
    target = getattr(fn, "__func__", fn)
    owner = getattr(fn, "__self__", None)
    if is_module(owner):
        found.append(owner)
    for cell in getattr(target, "__closure__", None) or ():
        try:
            v = cell.cell_contents
        except ValueError:
            continue
        if is_module(v):
            found.append(v)
    code, glob = getattr(target, "__code__", None), getattr(target, "__globals__", None)
    if code is not None and glob is not None:
        found += [glob[n] for n in code.co_names if n in glob and is_module(glob[n])]
    return found


class OptimizedModule:
    """What ``wgtorch.compile(module)`` returns: calls go through the compiled path; attributes
    (``parameters()``, ``train()``, ``state_dict()``) are the module's (``_orig_mod``)."""

    def __init__(self, module, fullgraph: bool, capture: bool):
        object.__setattr__(self, "_orig_mod", module)
        object.__setattr__(self, "_compiled", CompiledFunction(module.__call__, fullgraph, capture, [module]))

    def __call__(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._orig_mod, name)

    def __setattr__(self, name, value):
        setattr(self._orig_mod, name, value)

    def __repr__(self) -> str:
        return f"OptimizedModule({self._orig_mod!r})"


def compile(
    model=None,
    *,
    fullgraph: bool = False,
    dynamic=None,
    backend="inductor",
    mode=None,
    options=None,
    disable: bool = False,
):
    """``torch.compile(model)`` or ``@torch.compile(mode=...)``: on wgpu, calls are captured into
    graphs and replayed (see the module docstring: guards, warm-up, outputs overwritten by the next
    replay, eager fallback with a one-time warning); on cpu the model runs eagerly. ``disable=True``,
    ``backend="eager"`` and ``mode="max-autotune-no-cudagraphs"`` run eagerly everywhere; ``dynamic``
    is accepted (shapes are always specialised: a new shape is a new capture)."""
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be specified at the same time.")
    if mode not in _MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {', '.join(m for m in _MODES if m)}")
    if model is None:
        return lambda fn: compile(
            fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode, options=options, disable=disable
        )
    if not callable(model):
        raise RuntimeError("torch.compile: the model must be a callable (a function or an nn.Module)")
    if disable:
        return model
    capture = (
        backend != "eager"
        and mode != "max-autotune-no-cudagraphs"
        and not (isinstance(options, dict) and options.get("triton.cudagraphs") is False)
    )
    if is_module(model):
        return OptimizedModule(model, fullgraph, capture)
    return CompiledFunction(model, fullgraph, capture)
