"""``nn.Parameter``: a tensor that a `Module` registers as one of its parameters."""

from __future__ import annotations

from .._creation import empty
from .._tensor_class import Tensor


class Parameter(Tensor):
    """A `Tensor` that, assigned as a `Module` attribute, joins the module's ``parameters()``.

    ``Parameter(data)`` shares ``data``'s storage (no copy) and requires grad by default. Ops on a
    parameter return plain tensors; only the parameter object itself is a ``Parameter``.
    """

    __slots__ = ()

    def __new__(cls, data=None, requires_grad: bool = True):
        return Tensor.__new__(cls)

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): data must be a Tensor, got {type(data).__name__}")
        self._data, self._be, self.dtype = data._data, data._be, data.dtype
        self.grad = None
        self.grad_fn = None
        self._output_nr = 0
        self._hooks = None
        self._base = None
        self._vc = data._counter()  # same memory as data, same version counter
        self.requires_grad = False
        if requires_grad:
            if not data.dtype.is_floating_point:
                raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
            self.requires_grad = True

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        p = Parameter(self.detach().clone(), self.requires_grad)
        memo[id(self)] = p
        return p

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self.detach(), self.requires_grad))


def _rebuild_parameter(data: Tensor, requires_grad: bool) -> Parameter:
    return Parameter(data, requires_grad)


__all__ = ["Parameter"]
