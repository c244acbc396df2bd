"""Reverse-mode automatic differentiation (``wgtorch.autograd``)."""

from __future__ import annotations

from .engine import run_backward
from .function import Context, Function
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled

__all__ = ["Function", "Context", "backward", "grad", "no_grad", "enable_grad", "set_grad_enabled",
           "inference_mode", "is_grad_enabled", "gradcheck"]


def _root_grads(tensors, grad_tensors):
    out = []
    for t, g in zip(tensors, grad_tensors):
        if not t.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if t.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = t.new_ones(t.shape)  # duck-typed: autograd sits below the Tensor class
        elif tuple(g.shape) != tuple(t.shape):
            raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of {list(g.shape)} and "
                               f"output[0] has a shape of {list(t.shape)}.")
        out.append(g)
    return out


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None) -> None:
    tensors = _as_tuple(tensors)
    grad_tensors = _as_tuple(grad_tensors) if grad_tensors is not None else (None,) * len(tensors)
    retain = create_graph if retain_graph is None else retain_graph
    if inputs is not None:
        inputs = _as_tuple(inputs)
        grads = run_backward(tensors, _root_grads(tensors, grad_tensors), retain, create_graph, inputs)
        for t, g in zip(inputs, grads):
            if g is not None:
                t.grad = g.detach() if t.grad is None else t.grad + g.detach()
        return
    run_backward(tensors, _root_grads(tensors, grad_tensors), retain, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned instead of accumulated."""
    outputs, inputs = _as_tuple(outputs), _as_tuple(inputs)
    grad_outputs = _as_tuple(grad_outputs) if grad_outputs is not None else (None,) * len(outputs)
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    retain = create_graph if retain_graph is None else retain_graph
    grads = run_backward(outputs, _root_grads(outputs, grad_outputs), retain, create_graph, inputs)
    if not allow_unused and any(g is None for g in grads):
        raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                           "Set allow_unused=True if this is the desired behavior.")
    return tuple(grads)


def gradcheck(fn, inputs, eps: float = 1e-3, atol: float = 1e-2, rtol: float = 1e-2,
              raise_exception: bool = True) -> bool:
    """Compare analytical gradients with central finite differences (float32, so tolerances are
    looser than PyTorch's float64 defaults). Runs on the inputs' device."""
    import numpy as np

    inputs = _as_tuple(inputs)
    out = fn(*inputs)
    outs = _as_tuple(out)
    weights = [o.new_tensor(np.random.default_rng(0).standard_normal(o.shape)) for o in outs]

    def scalar(*xs):
        with no_grad():
            return sum(float((o * w).sum().item()) for o, w in zip(_as_tuple(fn(*xs)), weights))

    diff = [x for x in inputs if getattr(x, "requires_grad", False)]
    analytic = grad(sum((o * w).sum() for o, w in zip(outs, weights)), diff, allow_unused=True)
    for x, ga in zip(diff, analytic):
        base = x.detach().numpy().astype(np.float64)
        num = np.zeros_like(base)
        for i in range(base.size):
            for sign in (1, -1):
                pert = base.copy()
                pert.flat[i] += sign * eps
                xs = [x.new_tensor(pert) if y is x else y for y in inputs]
                num.flat[i] += sign * scalar(*xs) / (2 * eps)
        got = np.zeros_like(base) if ga is None else ga.numpy().astype(np.float64)
        if not np.allclose(got, num, atol=atol, rtol=rtol):
            if raise_exception:
                raise RuntimeError(f"Jacobian mismatch for an input of shape {tuple(base.shape)}:\n"
                                   f"numerical:\n{num}\nanalytical:\n{got}")
            return False
    return True
