"""The backward pass: walk the recorded graph in reverse topological order."""

from __future__ import annotations

from .function import Node
from .grad_mode import state

_FREED = ("Trying to backward through the graph a second time (or directly access saved tensors after "
          "they have already been freed). Specify retain_graph=True if you need to backward through the "
          "graph a second time or if you need to access saved tensors after calling backward.")


_callbacks: list[list] = []  # one queue per backward pass in progress (a hook may start another)
passes = [0]  # backward passes run so far: wgtorch.compile tells a whole training step from a forward


class PostAccumulateGradHook:
    """A hook called with the leaf tensor once its ``.grad`` has been accumulated
    (``Tensor.register_post_accumulate_grad_hook``); kept in the tensor's hook tuple."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn


class RemovableHandle:
    """Returned by hook registration; ``remove()`` takes the hook off the tensor again."""

    def __init__(self, tensor, hook):
        self._tensor, self._hook = tensor, hook

    def remove(self) -> None:
        hooks = self._tensor._hooks or ()
        self._tensor._hooks = tuple(h for h in hooks if h is not self._hook) or None


def queue_callback(fn) -> None:
    """Run ``fn()`` once the backward pass in progress has finished, after every leaf's ``.grad`` has
    been accumulated (PyTorch's ``Variable._execution_engine.queue_callback``). Only valid from a hook
    called during backward."""
    if not _callbacks:
        raise RuntimeError("queue_callback can only be called during the backward pass")
    _callbacks[-1].append(fn)


def _accumulate(leaf, g, create_graph: bool) -> None:
    """Add ``g`` into ``leaf.grad`` and call the leaf's hooks: as soon as all of its gradient is in,
    so hooks (DistributedDataParallel's all-reduce) run while the rest of backward goes on."""
    if g.shape != leaf.shape:
        raise RuntimeError(f"gradient of shape {tuple(g.shape)} reached a leaf of shape {tuple(leaf.shape)}")
    g = g if create_graph else g.detach()
    if leaf.grad is None:
        leaf.grad = g if g.dtype is leaf.dtype else g.to(leaf.dtype)
    else:
        leaf.grad = leaf.grad + g
    for hook in leaf._hooks or ():
        if type(hook) is PostAccumulateGradHook:
            hook.fn(leaf)
        else:
            hook(leaf.grad)


def run_backward(roots, root_grads, retain_graph: bool, create_graph: bool, inputs=None):
    """Propagate ``root_grads`` from ``roots``. Leaves' ``.grad`` accumulate, unless ``inputs`` is
    given (``autograd.grad``): then the gradients of those tensors are returned instead. Callbacks
    queued with :func:`queue_callback` during the pass run at its end."""
    passes[0] += 1
    _callbacks.append([])
    try:
        found = _run(roots, root_grads, retain_graph, create_graph, inputs)
        queue = _callbacks[-1]
        while queue:
            queue.pop(0)()
    finally:
        _callbacks.pop()
    return found


def _run(roots, root_grads, retain_graph, create_graph, inputs):
    wanted = None
    found = []
    if inputs is not None:
        wanted = {}
        for k, t in enumerate(inputs):
            wanted[(t.grad_fn, t._output_nr) if t.grad_fn is not None else (id(t), -1)] = k
        found = [None] * len(inputs)

    # Count, for every node reachable from the roots, how many edges lead into it.
    deps: dict[Node, int] = {}
    leaf_deps: dict[int, int] = {}  # id(leaf) -> edges into it not yet run
    stack = [t.grad_fn for t in roots if t.grad_fn is not None]
    seen = set(stack)
    while stack:
        for edge in stack.pop().edges:
            if edge is not None and edge[1] < 0:
                leaf_deps[id(edge[0])] = leaf_deps.get(id(edge[0]), 0) + 1
            elif edge is not None:
                nxt = edge[0]
                deps[nxt] = deps.get(nxt, 0) + 1
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)

    pending: dict[Node, list] = {}      # node -> gradient so far for each of its outputs
    leaf_grads: dict[int, list] = {}    # id(leaf) -> [leaf, gradient so far]

    def deliver(target, nr, g):
        if nr >= 0:
            slots = pending.get(target)
            if slots is None:
                slots = pending[target] = [None] * target.n_outputs
            prev = slots[nr]
            slots[nr] = g if prev is None else prev + g
        else:
            entry = leaf_grads.get(id(target))
            if entry is None:
                leaf_grads[id(target)] = [target, g]
            else:
                entry[1] = entry[1] + g

    for t, g in zip(roots, root_grads):
        if t.grad_fn is not None:
            deliver(t.grad_fn, t._output_nr, g)
        else:
            deliver(t, -1, g)

    ready = [n for n in {t.grad_fn for t in roots if t.grad_fn is not None} if n not in deps]
    previous_mode = state.enabled
    state.enabled = create_graph
    try:
        while ready:
            node = ready.pop()
            outs = pending.pop(node, None) or [None] * node.n_outputs
            if wanted is not None:
                for i, g in enumerate(outs):
                    k = wanted.get((node, i))
                    if k is not None:
                        found[k] = g
            elif node.retained:
                for i, r in node.retained.items():
                    if outs[i] is not None:
                        r.grad = outs[i].detach() if r.grad is None else r.grad + outs[i].detach()
            ctx = node.ctx
            if ctx.saved is None:
                raise RuntimeError(_FREED)
            if any(g is not None for g in outs):
                in_grads = node.fn.backward(ctx, *outs)
                if type(in_grads) is not tuple:
                    in_grads = (in_grads,)
                for edge, g in zip(node.edges, in_grads):
                    if edge is not None and g is not None:
                        deliver(edge[0], edge[1], g)
            if not retain_graph:
                ctx.saved = None
            for edge in node.edges:
                if edge is None:
                    continue
                nxt = edge[0]
                if edge[1] < 0:
                    left = leaf_deps[id(nxt)] - 1
                    leaf_deps[id(nxt)] = left
                    if left == 0 and wanted is None and id(nxt) in leaf_grads:
                        _accumulate(*leaf_grads.pop(id(nxt)), create_graph)
                    continue
                left = deps[nxt] - 1
                deps[nxt] = left
                if left == 0:
                    ready.append(nxt)
        # Leaves that were roots themselves, or whose last edges carried no gradient.
        for leaf, g in leaf_grads.values():
            if wanted is None:
                _accumulate(leaf, g, create_graph)
                continue
            k = wanted.get((id(leaf), -1))
            if k is not None:
                found[k] = g
    finally:
        state.enabled = previous_mode
    return found
