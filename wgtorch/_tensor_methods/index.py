"""`IndexMethods`: indexing (``x[i]``, ``x[i] = v``), gather/scatter, masked ops, matmul."""

from __future__ import annotations

from ..ops import index as _I
from ..ops import index_put as _IP
from ..ops import linalg as _L
from ..ops import scatter as _SC
from ..ops import select as _SE
from ..ops.fill import masked_fill
from ._helpers import inplace


class IndexMethods:
    __slots__ = ()

    __getitem__ = _I.getitem
    __setitem__ = _IP.setitem
    select = _I.select
    index_select = _I.index_select
    gather = _I.gather
    masked_fill = masked_fill

    # -- scatter, index_* and masked families: ops/scatter.py, ops/select.py, ops/index_put.py --
    scatter = _SC.scatter
    scatter_reduce = _SC.scatter_reduce
    scatter_add = _I.scatter_add
    index_add = _SC.index_add
    index_copy = _SC.index_copy
    index_fill = _SC.index_fill
    index_put = _IP.index_put
    masked_select = _SE.masked_select
    masked_scatter = _SE.masked_scatter
    nonzero = _SE.nonzero
    argwhere = _SE.argwhere
    take = _SE.take
    take_along_dim = _SE.take_along_dim
    put = _SE.put
    scatter_ = inplace(_SC.scatter)
    scatter_reduce_ = inplace(_SC.scatter_reduce)
    scatter_add_ = inplace(_I.scatter_add)
    index_add_ = inplace(_SC.index_add)
    index_copy_ = inplace(_SC.index_copy)
    index_fill_ = inplace(_SC.index_fill)
    index_put_ = inplace(_IP.index_put)
    masked_scatter_ = inplace(_SE.masked_scatter)
    put_ = inplace(_SE.put)

    # -- matrix products --
    matmul = _L.matmul
    mm = _L.mm
    bmm = _L.bmm
    dot = _L.dot
