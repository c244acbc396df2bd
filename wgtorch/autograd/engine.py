"""The backward pass: walk the recorded graph in reverse topological order."""

from __future__ import annotations

from .function import Node
from .grad_mode import set_grad_enabled


def _accumulate(store: dict, key, grad):
    prev = store.get(key)
    store[key] = grad if prev is None else prev + grad


def run_backward(roots, root_grads, retain_graph: bool, create_graph: bool, inputs=None):
    """Propagate ``root_grads`` from ``roots``. Leaves' ``.grad`` accumulate, unless ``inputs`` is
    given (``autograd.grad``): then the gradients of those tensors are returned instead."""
    from .._tensor import Tensor

    wanted = None
    if inputs is not None:
        wanted = {}
        for k, t in enumerate(inputs):
            wanted[(t.grad_fn, t._output_nr) if t.grad_fn is not None else (id(t), -1)] = k
    found = [None] * (len(inputs) if inputs is not None else 0)

    # Count, for every node reachable from the roots, how many edges lead into it.
    deps: dict[Node, int] = {}
    stack = [t.grad_fn for t in roots if t.grad_fn is not None]
    seen = set(stack)
    while stack:
        node = stack.pop()
        for edge in node.edges:
            if edge is not None and isinstance(edge[0], Node):
                nxt = edge[0]
                deps[nxt] = deps.get(nxt, 0) + 1
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)

    grads: dict[tuple, Tensor] = {}   # (node, output index) -> gradient so far
    leaf_grads: dict[int, tuple] = {}  # id(leaf) -> (leaf, gradient)

    def deliver(edge, g):
        target, nr = edge
        if isinstance(target, Node):
            _accumulate(grads, (target, nr), g)
        else:
            prev = leaf_grads.get(id(target))
            leaf_grads[id(target)] = (target, g if prev is None else prev[1] + g)

    for t, g in zip(roots, root_grads):
        deliver((t.grad_fn, t._output_nr) if t.grad_fn is not None else (t, -1), g)

    ready = [n for n in {t.grad_fn for t in roots if t.grad_fn is not None} if deps.get(n, 0) == 0]
    with set_grad_enabled(create_graph):
        while ready:
            node = ready.pop()
            outs = []
            for i in range(node.n_outputs):
                g = grads.pop((node, i), None)
                if wanted is not None and (node, i) in wanted:
                    found[wanted[(node, i)]] = g
                if wanted is None and node.retained and i in node.retained and g is not None:
                    r = node.retained[i]
                    r.grad = g.detach() if r.grad is None else r.grad + g.detach()
                outs.append(g)
            if node.ctx.saved is None:
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access saved "
                    "tensors after they have already been freed). Specify retain_graph=True if you "
                    "need to backward through the graph a second time or if you need to access saved "
                    "tensors after calling backward.")
            if any(g is not None for g in outs):
                in_grads = node.fn.backward(node.ctx, *outs)
                if not isinstance(in_grads, tuple):
                    in_grads = (in_grads,)
                if len(in_grads) < len(node.edges):
                    in_grads = in_grads + (None,) * (len(node.edges) - len(in_grads))
                for edge, g in zip(node.edges, in_grads):
                    if edge is not None and g is not None:
                        deliver(edge, g)
            if not retain_graph:
                node.ctx.saved = None
            for edge in node.edges:
                if edge is not None and isinstance(edge[0], Node):
                    deps[edge[0]] -= 1
                    if deps[edge[0]] == 0:
                        ready.append(edge[0])

    for leaf, g in leaf_grads.values():
        if wanted is not None:
            k = wanted.get((id(leaf), -1))
            if k is not None:
                found[k] = g
            continue
        if g.shape != leaf.shape:
            raise RuntimeError(f"gradient of shape {tuple(g.shape)} reached a leaf of shape "
                               f"{tuple(leaf.shape)}")
        g = g if create_graph else g.detach()
        if leaf.grad is None:
            leaf.grad = g if g.dtype is leaf.dtype else g.to(leaf.dtype)
        else:
            leaf.grad = leaf.grad + g
        for hook in leaf._hooks or ():
            hook(leaf.grad)
    return found

