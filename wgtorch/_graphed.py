"""``wgtorch.wgpu.make_graphed_callables``: modules or functions whose forward and backward replay
captured wgpu graphs (PyTorch's ``torch.cuda.make_graphed_callables``).

Each callable is warmed up with ``autograd.grad`` on its sample arguments, then its forward is
captured into one `Graph` and the gradient of its outputs (with respect to the inputs and
parameters that require grad, given placeholder output gradients) into a second one. The graphed
callable is an autograd `Function`: its forward copies the arguments into the static inputs (the
sample arguments themselves, as in PyTorch) and replays the forward graph; its backward copies the
incoming gradients into the placeholders and replays the backward graph. Parameters' ``.grad``
accumulate through autograd as in eager mode.

As in PyTorch, the returned outputs alias the graph's static outputs: the next call overwrites
them. The gradients handed to autograd are copies (wgtorch's leaf accumulation would otherwise
keep the static buffer as ``.grad``, which the next backward replay would overwrite)."""

from __future__ import annotations

from ._tensor_class import Tensor
from .autograd import Function, grad
from .autograd.grad_mode import no_grad
from .autograd.grad_mode import state as _grad_state


# -- flattening nested arguments and results (a small stand-in for torch.utils._pytree) ---------
def tree_flatten(obj) -> tuple[list, object]:
    """Leaves of nested tuples/lists/dicts, and a spec that `tree_unflatten` rebuilds them from."""
    if isinstance(obj, (tuple, list)):
        leaves, specs = [], []
        for item in obj:
            sub, spec = tree_flatten(item)
            leaves += sub
            specs.append(spec)
        return leaves, (type(obj), tuple(specs))
    if isinstance(obj, dict):
        leaves, specs = [], []
        for v in obj.values():
            sub, spec = tree_flatten(v)
            leaves += sub
            specs.append(spec)
        return leaves, (dict, (tuple(obj.keys()), tuple(specs)))
    return [obj], None


def tree_unflatten(leaves, spec):
    it = iter(leaves)

    def build(s):
        if s is None:
            return next(it)
        kind, rest = s
        if kind is dict:
            keys, specs = rest
            return {k: build(sub) for k, sub in zip(keys, specs)}
        items = [build(sub) for sub in rest]
        return kind(items) if kind in (tuple, list) else kind(*items)  # namedtuples take fields

    return build(spec)


def is_module(obj) -> bool:
    """Duck-typed ``isinstance(obj, nn.Module)`` (nn sits above this module's layer)."""
    return hasattr(obj, "_forward_hooks") and hasattr(obj, "parameters") and hasattr(obj, "training")


def check_like(static: Tensor, given, what: str) -> None:
    """Refuse an argument that can't be copied into ``static`` exactly (copy_ would broadcast)."""
    if not isinstance(given, Tensor):
        raise TypeError(f"{what} must be a Tensor, got {type(given).__name__}")
    if tuple(given.shape) != tuple(static.shape) or given.dtype != static.dtype:
        raise RuntimeError(
            f"{what} has shape {list(given.shape)} and dtype {given.dtype}, but the graph was captured with "
            f"shape {list(static.shape)} and dtype {static.dtype}: graphed callables replay fixed shapes"
        )


class _Captured:
    """The graphs and static tensors of one graphed callable."""

    def __init__(self, fwd, bwd, n_user, surface, outputs, spec, grad_outputs, grad_inputs):
        self.fwd, self.bwd = fwd, bwd
        self.n_user = n_user
        self.surface = surface  # user arguments, then module parameters
        self.outputs = outputs
        self.spec = spec
        self.grad_outputs = grad_outputs  # placeholders (None for outputs that need no grad)
        self.grad_inputs = grad_inputs  # one per surface tensor (None where no grad)
        self.fresh = False  # True: the static outputs already hold the next call's result (compile's capture call)


def _outputs(ctx, cap: _Captured) -> tuple:
    outs = tuple(o.detach() for o in cap.outputs)
    ctx.mark_non_differentiable(*[o for o, g in zip(outs, cap.grad_outputs) if g is None])
    return outs


def _function_for(cap: _Captured):
    class Graphed(Function):
        @staticmethod
        def forward(ctx, *inputs):
            if cap.fresh:
                cap.fresh = False
                return _outputs(ctx, cap)
            with no_grad():  # the static inputs may be leaves that require grad
                for i in range(cap.n_user):
                    static = cap.surface[i]
                    if static.data_ptr() != inputs[i].data_ptr():
                        static.copy_(inputs[i])
            cap.fwd.replay()
            return _outputs(ctx, cap)

        @staticmethod
        def backward(ctx, *grads):
            if cap.bwd is None:
                return (None,) * len(cap.surface)
            for static, g in zip(cap.grad_outputs, grads):
                if static is None:
                    continue
                if g is None:
                    static.zero_()  # PyTorch materialises an unused output's gradient as zeros
                elif static.data_ptr() != g.data_ptr():
                    static.copy_(g)
            cap.bwd.replay()
            return tuple(None if g is None else g.clone() for g in cap.grad_inputs)

    return Graphed


def graph_callable(func, args: tuple, num_warmup_iters: int, allow_unused_input: bool, device, api, params=None):
    """Warm up, capture and wrap one callable; returns (functionalized callable, _Captured). ``api`` is
    `wgtorch.wgpu` (its ``Graph`` and ``graph``), passed in because it imports this module. ``params``:
    the tensors besides the arguments that gradients flow to (default: a module's parameters)."""
    if params is None:
        params = tuple(func.parameters()) if is_module(func) else ()
    flat_args, _ = tree_flatten(tuple(args))
    surface = tuple(flat_args) + params
    needs = tuple(t for t in surface if t.requires_grad)
    with _grad_state_enabled():
        for _ in range(num_warmup_iters):
            outs, _ = tree_flatten(func(*args))
            want = tuple(o for o in outs if isinstance(o, Tensor) and o.requires_grad)
            if want and needs:
                grad(
                    want, needs, grad_outputs=tuple(o.new_ones(o.shape) for o in want), allow_unused=allow_unused_input
                )
            del outs, want
        fwd = api.Graph()
        with api.graph(fwd, device=device):
            result = func(*args)
        outputs, spec = tree_flatten(result)
        for o in outputs:
            if not isinstance(o, Tensor):
                fwd.reset()
                raise TypeError(
                    f"make_graphed_callables: the callable must return Tensors (in tuples, lists or "
                    f"dicts), got a {type(o).__name__}"
                )
        grad_outputs = tuple(o.new_zeros(o.shape) if o.requires_grad else None for o in outputs)
        want = tuple(o for o in outputs if o.requires_grad)
        bwd, grads = None, None
        if want and needs:
            bwd = api.Graph()
            with api.graph(bwd, device=device):
                grads = grad(
                    want,
                    needs,
                    grad_outputs=tuple(g for g in grad_outputs if g is not None),
                    allow_unused=allow_unused_input,
                )
    it = iter(grads or ())
    grad_inputs = tuple(next(it) if t.requires_grad and grads is not None else None for t in surface)
    outputs = tuple(o.detach() for o in outputs)  # the capture's autograd graph is not needed any more
    cap = _Captured(fwd, bwd, len(flat_args), surface, outputs, spec, grad_outputs, grad_inputs)
    fn = _function_for(cap)

    def functionalized(*user_args):
        flat, _ = tree_flatten(tuple(user_args))
        if len(flat) != cap.n_user:
            raise TypeError(f"the graphed callable was captured with {cap.n_user} tensor argument(s), got {len(flat)}")
        for i, (s, a) in enumerate(zip(cap.surface, flat)):
            check_like(s, a, f"argument {i}")
        out = fn.apply(*flat, *params)
        return tree_unflatten(list(out), cap.spec)

    functionalized._captured = cap  # for tests and benches (graphs, static tensors)
    return functionalized, cap


class _grad_state_enabled:
    """Warm-up and capture run with grad enabled (make_graphed_callables graphs the backward too)."""

    def __enter__(self):
        self.prev = _grad_state.enabled
        _grad_state.enabled = True

    def __exit__(self, *exc):
        _grad_state.enabled = self.prev
        return False


def make_graphed_callables(
    callables, sample_args, num_warmup_iters: int = 3, allow_unused_input: bool = False, pool=None, *, api
):
    """Graphed versions of ``callables`` (a module or function, or a tuple of them), as
    ``torch.cuda.make_graphed_callables``: forward and backward replay wgpu graphs captured with
    ``sample_args`` (a tuple of wgpu tensors per callable), which become the static inputs.

    A module's ``forward`` is replaced (in place, the module is returned) by one that replays the
    graphs while ``module.training`` equals its value at capture, and runs the original forward
    otherwise. Calls must pass tensors of the captured shapes and dtypes; the outputs alias static
    tensors that the next call overwrites. ``pool`` (sharing memory between graphs) is not supported."""
    if pool is not None:
        raise NotImplementedError(
            "make_graphed_callables(pool=...): memory pools shared between graphs are not supported on wgpu"
        )
    if num_warmup_iters < 0:
        raise ValueError(f"num_warmup_iters must be non-negative, got {num_warmup_iters}")
    one = not isinstance(callables, tuple)
    if one:
        callables, sample_args = (callables,), (sample_args,)
    if not isinstance(sample_args, tuple) or len(sample_args) != len(callables):
        raise TypeError("make_graphed_callables: sample_args must be a tuple of argument tuples, one per callable")
    for c, args in zip(callables, sample_args):
        if not callable(c):
            raise TypeError(f"make_graphed_callables: {type(c).__name__} is not callable")
        if not isinstance(args, tuple):
            raise TypeError(
                f"make_graphed_callables: sample_args for each callable must be a tuple of Tensors, "
                f"got {type(args).__name__}"
            )
        if is_module(c):
            if c._forward_hooks or c._forward_pre_hooks or getattr(c, "_backward_hooks", None):
                raise RuntimeError(
                    "Modules must not have hooks registered at the time they are passed. However, "
                    "registering hooks on modules after passing them through make_graphed_callables "
                    "is allowed."
                )
            if any(b.requires_grad for b in c.buffers()):
                raise RuntimeError(
                    "In any nn.Module passed to make_graphed_callables, only parameters may be "
                    "trainable. All buffers must have requires_grad=False."
                )
        flat, _ = tree_flatten(args)
        if not all(isinstance(a, Tensor) for a in flat):
            raise TypeError(
                "In the beta API, sample_args for each callable must contain only Tensors. Other types are not allowed."
            )
        surface = flat + (list(c.parameters()) if is_module(c) else [])
        bad = [t for t in surface if t.device.type != "wgpu"]
        if bad or not surface:
            where = f"a tensor on {bad[0].device}" if bad else "no tensors"
            raise RuntimeError(
                f"make_graphed_callables captures wgpu work: the sample arguments and parameters "
                f"must be wgpu tensors, got {where}"
            )
    ret = []
    for c, args in zip(callables, sample_args):
        flat, _ = tree_flatten(args)
        device = (flat or list(c.parameters()))[0].device
        graphed, _ = graph_callable(c, args, num_warmup_iters, allow_unused_input, device, api)
        if is_module(c):
            c.forward = _graphed_forward(c, c.training, graphed, c.forward)
            ret.append(c)
        else:
            ret.append(graphed)
    return ret[0] if one else tuple(ret)


def _graphed_forward(module, training: bool, graphed, original):
    def forward(*user_args):
        if module.training == training:
            return graphed(*user_args)
        return original(*user_args)

    forward._captured = graphed._captured
    return forward
