"""``addmm`` as one matmul with an epilogue (`protocol.Backend.matmul_bias`): on wgpu the
``beta * input`` add happens in the matmul kernel's store, after the whole dot product, so the
values are those of the separate product, scaling and add (and PyTorch's, within float rounding),
in one dispatch instead of two to four. Gradients are those of the composed ops."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._tensor import TensorCore, _wrap
from ..autograd.function import Function
from .pointwise import _sum_to

if TYPE_CHECKING:
    from .._tensor_class import Tensor


def fits(input: Tensor, mat1: Tensor, mat2: Tensor, beta) -> bool:
    """Whether addmm can take the epilogue: floating tensors of one dtype and device, a product
    that can be formed, an input that broadcasts to it, and a beta that reads input (beta=0 must
    ignore NaN in it). Anything else takes the composed path, which raises PyTorch's errors."""
    if not (isinstance(input, TensorCore) and input.dtype.is_floating_point and beta != 0):
        return False
    if input.dtype is not mat1.dtype or mat2.dtype is not mat1.dtype:
        return False
    if input._be is not mat1._be or mat2._be is not mat1._be or mat1.shape[1] != mat2.shape[0]:
        return False
    shape = (mat1.shape[0], mat2.shape[1])
    if input.ndim > 2:
        return False
    return all(d in (1, s) for d, s in zip(tuple(input.shape)[::-1], shape[::-1]))


class AddmmEpilogue(Function):
    """beta * input + alpha * (mat1 @ mat2), input broadcast to the product's shape."""

    @staticmethod
    def forward(ctx, input, mat1, mat2, beta, alpha):
        be = mat1._be
        out = be.matmul_bias(mat1._data, mat2._data, input._data, alpha, beta)
        if ctx.needs_input_grad:
            ctx.beta, ctx.alpha, ctx.shape = beta, alpha, tuple(input.shape)
            ctx.save_for_backward(mat1, mat2)
        return _wrap(out, be, mat1.dtype)

    @staticmethod
    def backward(ctx, g):
        mat1, mat2 = ctx.saved_tensors
        need_i, need_1, need_2 = ctx.needs_input_grad[:3]
        gi = _sum_to(g if ctx.beta == 1 else g * ctx.beta, ctx.shape) if need_i else None
        gp = g if ctx.alpha == 1 else g * ctx.alpha  # the product's gradient, as the composed ops give it
        g1 = gp @ mat2.transpose(0, 1) if need_1 else None
        g2 = mat1.transpose(0, 1) @ gp if need_2 else None
        return gi, g1, g2, None, None


__all__ = ["AddmmEpilogue", "fits"]
