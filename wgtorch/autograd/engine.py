"""The backward pass: walk the recorded graph in reverse topological order."""

from __future__ import annotations

from .function import Node
from .grad_mode import state

_FREED = ("Trying to backward through the graph a second time (or directly access saved tensors after "
          "they have already been freed). Specify retain_graph=True if you need to backward through the "
          "graph a second time or if you need to access saved tensors after calling backward.")


def run_backward(roots, root_grads, retain_graph: bool, create_graph: bool, inputs=None):
    """Propagate ``root_grads`` from ``roots``. Leaves' ``.grad`` accumulate, unless ``inputs`` is
    given (``autograd.grad``): then the gradients of those tensors are returned instead."""
    wanted = None
    found = []
    if inputs is not None:
        wanted = {}
        for k, t in enumerate(inputs):
            wanted[(t.grad_fn, t._output_nr) if t.grad_fn is not None else (id(t), -1)] = k
        found = [None] * len(inputs)

    # Count, for every node reachable from the roots, how many edges lead into it.
    deps: dict[Node, int] = {}
    stack = [t.grad_fn for t in roots if t.grad_fn is not None]
    seen = set(stack)
    while stack:
        for edge in stack.pop().edges:
            if edge is not None and edge[1] >= 0:
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
                if edge is not None and edge[1] >= 0:
                    nxt = edge[0]
                    left = deps[nxt] - 1
                    deps[nxt] = left
                    if left == 0:
                        ready.append(nxt)
    finally:
        state.enabled = previous_mode

    for leaf, g in leaf_grads.values():
        if wanted is not None:
            k = wanted.get((id(leaf), -1))
            if k is not None:
                found[k] = g
            continue
        if g.shape != leaf.shape:
            raise RuntimeError(f"gradient of shape {tuple(g.shape)} reached a leaf of shape {tuple(leaf.shape)}")
        g = g if create_graph else g.detach()
        if leaf.grad is None:
            leaf.grad = g if g.dtype is leaf.dtype else g.to(leaf.dtype)
        else:
            leaf.grad = leaf.grad + g
        for hook in leaf._hooks or ():
            hook(leaf.grad)
    return found
