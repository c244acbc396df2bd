"""`ShapeMethods`: views and shape ops (reshape, permute, expand ...), dtype casts (``float()`` ...),
strided/rearranging/matrix ops (as_strided, flip, tril ...) and ``new_*`` constructors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _creation as _C
from .. import _dtype as D
from ..ops import matrix as _M
from ..ops import rearrange as _RA
from ..ops import shape as _S
from ..ops import strided as _ST
from ..ops.pointwise import Cast

if TYPE_CHECKING:
    from .._tensor_class import Tensor


def _dims_arg(dims: tuple):
    """``x.flip(0, 1)`` and ``x.flip((0, 1))`` alike."""
    return tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims


class ShapeMethods:
    __slots__ = ()

    # -- views and shapes --
    reshape = _S.reshape
    permute = _S.permute
    transpose = swapaxes = swapdims = _S.transpose
    t = _S.t
    expand = broadcast_to = _S.expand
    squeeze = _S.squeeze
    unsqueeze = _S.unsqueeze
    flatten = _S.flatten
    unflatten = _S.unflatten
    contiguous = _S.contiguous
    narrow = _S.narrow
    split = _S.split
    chunk = _S.chunk
    unbind = _S.unbind

    def view(self, *shape) -> Tensor:
        """The same data with another shape (no copy; refuses strides that can't be viewed), or,
        given a dtype, the same data cast to it."""
        if len(shape) == 1 and isinstance(shape[0], D.dtype):
            return self._cast(shape[0])
        return _S.reshape(self, *shape, copy_ok=False)

    def view_as(self, other) -> Tensor:
        """``self.view(other.shape)``."""
        return _S.reshape(self, other.shape, copy_ok=False)

    def reshape_as(self, other) -> Tensor:
        """``self.reshape(other.shape)``."""
        return _S.reshape(self, other.shape)

    def expand_as(self, other) -> Tensor:
        """``self.expand(other.shape)``."""
        return _S.expand(self, other.shape)

    @property
    def T(self) -> Tensor:
        """The dims in reverse order."""
        return _S.permute(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> Tensor:
        """The last two dims swapped (a batch of matrices transposed)."""
        return _S.transpose(self, -2, -1)

    def clone(self, *, memory_format=None) -> Tensor:
        """A copy with its own memory (differentiable)."""
        return _S.Clone.apply(self)

    # -- dtype casts (Cast is an op, so they live here, above ops/) --
    def _cast(self, dt: D.dtype) -> Tensor:
        return Cast.apply(self, dt)

    def float(self, memory_format=None) -> Tensor:
        """``self.to(torch.float32)``."""
        return self._cast(D.float32)

    def double(self, memory_format=None) -> Tensor:
        """``self.to(torch.float64)``."""
        return self._cast(D.float64)

    def half(self, memory_format=None) -> Tensor:
        """``self.to(torch.float16)``."""
        return self._cast(D.float16)

    def bfloat16(self, memory_format=None) -> Tensor:
        """``self.to(torch.bfloat16)``."""
        return self._cast(D.bfloat16)

    def int(self, memory_format=None) -> Tensor:
        """``self.to(torch.int32)``."""
        return self._cast(D.int32)

    def long(self, memory_format=None) -> Tensor:
        """``self.to(torch.int64)``."""
        return self._cast(D.int64)

    def bool(self, memory_format=None) -> Tensor:
        """``self.to(torch.bool)``."""
        return self._cast(D.bool_)

    # -- strided views, rearranging, matrices: ops/strided, ops/rearrange, ops/matrix --
    as_strided = _ST.as_strided
    as_strided_ = _ST.as_strided_
    unfold = _ST.unfold
    storage_offset = _ST.storage_offset
    diagonal = _ST.diagonal
    diagonal_scatter = _ST.diagonal_scatter
    select_scatter = _ST.select_scatter
    slice_scatter = _ST.slice_scatter
    fliplr = _RA.fliplr
    flipud = _RA.flipud
    roll = _RA.roll
    rot90 = _RA.rot90
    repeat = _RA.repeat
    repeat_interleave = _RA.repeat_interleave
    movedim = _RA.movedim
    moveaxis = _RA.moveaxis
    diff = _RA.diff
    narrow_copy = _RA.narrow_copy
    tril = _M.tril
    triu = _M.triu
    diag = _M.diag
    diag_embed = _M.diag_embed
    trace = _M.trace
    outer = _M.outer
    ger = _M.ger
    cross = _M.cross
    kron = _M.kron
    fill_diagonal_ = _M.fill_diagonal_

    def flip(self, *dims) -> Tensor:
        """Reverses the order of elements along ``dims`` (``x.flip(0, 1)`` or ``x.flip((0, 1))``)."""
        return _RA.flip(self, _dims_arg(dims))

    def tile(self, *dims) -> Tensor:
        """Repeats self ``dims`` times along each dim (``x.tile(2, 3)`` or ``x.tile((2, 3))``)."""
        return _RA.tile(self, _dims_arg(dims))

    def tril_(self, diagonal=0) -> Tensor:
        """In-place tril."""
        return _S.apply_inplace(self, _M.tril, diagonal)

    def triu_(self, diagonal=0) -> Tensor:
        """In-place triu."""
        return _S.apply_inplace(self, _M.triu, diagonal)

    # -- new_*: self's dtype and device unless given --
    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
        """Zeros of ``size``, with self's dtype and device unless given."""
        return _C.zeros(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
        """Ones of ``size``, with self's dtype and device unless given."""
        return _C.ones(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
        """An uninitialised tensor of ``size``, with self's dtype and device unless given."""
        return _C.empty(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
        """``size`` filled with ``fill_value``, with self's dtype and device unless given."""
        return _C.full(
            size, fill_value, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad
        )

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False) -> Tensor:
        """A copy of ``data``, with self's dtype and device unless given."""
        return _C.tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)
