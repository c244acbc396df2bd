"""``Function``: an op with a forward and a backward, recorded in the graph when it runs.

Built-in ops subclass it exactly as users do (``wgtorch.autograd.Function``): ``forward(ctx,
*args)`` computes with other ops or straight on the backend, ``backward(ctx, *grads)`` returns
one gradient per forward argument (None where there is none). Backward formulas are written
with tensor ops, so they run on the tensor's device.
"""

from __future__ import annotations

from .grad_mode import state


class Context:
    """What forward passes to backward (``ctx`` in both). The defaults are class attributes so
    that making one costs next to nothing on the no-grad path."""

    saved = ()
    versions = ()
    needs_input_grad = ()
    non_differentiable = ()

    def save_for_backward(self, *tensors) -> None:
        self.saved = tensors
        self.versions = tuple([t._counter()[0] if isinstance(t, TensorBase) else None for t in tensors])

    @property
    def saved_tensors(self) -> tuple:
        if self.saved is None:
            raise RuntimeError("Trying to backward through the graph a second time (or directly access "
                               "saved tensors after they have already been freed). Specify "
                               "retain_graph=True if you need to backward through the graph a second time.")
        for t, v in zip(self.saved, self.versions):
            if v is not None and t._vc[0] != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: [wgtorch.{t.dtype.name} {list(t.shape)}] is at version {t._vc[0]}; expected "
                    f"version {v} instead.")
        return self.saved

    def mark_non_differentiable(self, *tensors) -> None:
        self.non_differentiable = tuple(id(t) for t in tensors)

    def mark_dirty(self, *tensors) -> None:
        pass


class Node:
    """A recorded op: its Function, context, and one edge per forward argument.

    An edge is None (no gradient flows there), ``(node, output_index)`` for a tensor an op
    produced, or ``(tensor, -1)`` for a leaf whose ``.grad`` accumulates. Edges do not hold the
    intermediate tensors themselves, so the graph keeps alive only what ops saved.
    """

    __slots__ = ("fn", "ctx", "edges", "n_outputs", "retained", "__weakref__")

    def __init__(self, fn, ctx, edges, n_outputs):
        self.fn = fn
        self.ctx = ctx
        self.edges = edges
        self.n_outputs = n_outputs
        self.retained = None  # output index -> tensor, for retain_grad()

    def name(self) -> str:
        return f"{self.fn.__name__}Backward"

    def __repr__(self) -> str:
        return f"<{self.name()}>"


class TensorBase:
    """What autograd knows of a tensor: ``wgtorch.Tensor`` derives from it, so that this layer
    (below the Tensor class) tells tensors apart without importing it. Everything else autograd
    uses of a tensor (``requires_grad``, ``grad_fn``, ``dtype``, ``_counter``) is duck-typed."""

    __slots__ = ()


def edge_of(t):
    if t.grad_fn is not None:
        return (t.grad_fn, t._output_nr)
    return (t, -1)


class Function:
    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = Context()
        if not state.enabled:
            return cls.forward(ctx, *args, **kwargs)
        needs = tuple([isinstance(a, TensorBase) and a.requires_grad for a in args])
        if True not in needs:
            return cls.forward(ctx, *args, **kwargs)
        ctx.needs_input_grad = needs
        state.enabled = False
        try:
            out = cls.forward(ctx, *args, **kwargs)
        finally:
            state.enabled = True
        outs = out if isinstance(out, tuple) else (out,)
        node = Node(cls, ctx, tuple([edge_of(a) if need else None for a, need in zip(args, needs)]), len(outs))
        skip = ctx.non_differentiable
        for i, o in enumerate(outs):
            if isinstance(o, TensorBase) and o.dtype.is_floating_point and (not skip or id(o) not in skip):
                o.requires_grad = True
                o.grad_fn = node
                o._output_nr = i
        return out
