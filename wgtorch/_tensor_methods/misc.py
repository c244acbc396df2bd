"""`MiscMethods`: random sampling in place (``normal_`` ...), the addmm family, and small queries
(``is_complex``, ``nbytes`` ...); the functions live in _sampling.py, ops/blas.py, _misc.py."""

from __future__ import annotations

from .. import _misc as _MI
from .. import _sampling as _SA
from ..ops import blas as _B


class MiscMethods:
    __slots__ = ()

    # -- _misc.py --
    sum_to_size = _MI.sum_to_size
    is_contiguous = _MI.is_contiguous
    is_complex = _MI.METHODS["is_complex"]
    is_nonzero = _MI.METHODS["is_nonzero"]
    nbytes = _MI.PROPERTIES["nbytes"]
    itemsize = _MI.PROPERTIES["itemsize"]

    # -- random sampling: _sampling.py --
    bernoulli = _SA.bernoulli
    bernoulli_ = _SA.bernoulli_
    normal_ = _SA.normal_
    uniform_ = _SA.uniform_
    random_ = _SA.random_
    exponential_ = _SA.exponential_
    geometric_ = _SA.geometric_
    cauchy_ = _SA.cauchy_
    log_normal_ = _SA.log_normal_
    multinomial = _SA.TENSOR_METHODS["multinomial"]

    # -- the addmm family and its in-place variants: ops/blas.py --
    addbmm = _B.addbmm
    addcdiv = _B.addcdiv
    addcmul = _B.addcmul
    addmm = _B.addmm
    addmv = _B.addmv
    addr = _B.addr
    baddbmm = _B.baddbmm
    addbmm_ = _B.TENSOR_METHODS["addbmm_"]
    addcdiv_ = _B.TENSOR_METHODS["addcdiv_"]
    addcmul_ = _B.TENSOR_METHODS["addcmul_"]
    addmm_ = _B.TENSOR_METHODS["addmm_"]
    addmv_ = _B.TENSOR_METHODS["addmv_"]
    addr_ = _B.TENSOR_METHODS["addr_"]
    baddbmm_ = _B.TENSOR_METHODS["baddbmm_"]
