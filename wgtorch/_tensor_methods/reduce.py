"""`ReduceMethods`: reductions (sum, max, var ...), scans (cumsum ...), sorting (sort, topk ...)
and norms."""

from __future__ import annotations

from ..ops import norms as _N
from ..ops import reduce as _R
from ..ops import reduce_extra as _RX
from ..ops import scan as _SCAN
from ..ops import sorting as _SO
from ..ops import sorting_search as _SS


class ReduceMethods:
    __slots__ = ()

    sum = _R.sum
    prod = _R.prod
    mean = _R.mean
    amax = _R.amax
    amin = _R.amin
    argmax = _R.argmax
    argmin = _R.argmin
    max = _R.max
    min = _R.min
    var = _R.var
    std = _R.std
    logsumexp = _R.logsumexp
    softmax = _R.softmax
    log_softmax = _R.log_softmax

    # -- ops/reduce_extra.py (all/any count, so empty dims give PyTorch's True/False) --
    all = _RX.all
    any = _RX.any
    count_nonzero = _RX.count_nonzero
    aminmax = _RX.aminmax
    nansum = _RX.nansum
    nanmean = _RX.nanmean
    isclose = _RX.isclose
    allclose = _RX.allclose
    nan_to_num = _RX.nan_to_num
    nan_to_num_ = _RX.nan_to_num_

    # -- scans: ops/scan.py --
    cumsum = _SCAN.cumsum
    cumprod = _SCAN.cumprod
    cummax = _SCAN.cummax
    cummin = _SCAN.cummin
    logcumsumexp = _SCAN.logcumsumexp
    cumsum_ = _SCAN.cumsum_
    cumprod_ = _SCAN.cumprod_

    # -- norms: ops/norms.py --
    norm = _N.METHODS["norm"]
    renorm = _N.renorm

    # -- sorting: ops/sorting.py, ops/sorting_search.py --
    sort = _SO.sort
    argsort = _SO.argsort
    msort = _SO.msort
    topk = _SO.topk
    kthvalue = _SO.kthvalue
    median = _SO.median
    nanmedian = _SO.nanmedian
    mode = _SS.mode
    unique = _SS.unique
    unique_consecutive = _SS.unique_consecutive
    histc = _SS.histc
