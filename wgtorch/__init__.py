"""wgtorch: PyTorch-style tensors, autograd and layers on any GPU through WebGPU (WGSL), on
NVIDIA GPUs through CuPy, and on the CPU through NumPy. ``import wgtorch as torch``."""

from __future__ import annotations

from . import (
    _tensor_class,  # noqa: F401  (first: the public Tensor class exists before any module makes a tensor)
    accelerator,
    autograd,
    backends,
    cuda,
    distributed,
    nn,
    onnx,
    optim,
    serialization,
    utils,
    wgpu,
)
from ._compile import compile
from ._creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    initial_seed,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    seed,
    tensor,
    zeros,
    zeros_like,
)
from ._device import best_device, device, get_default_device, set_default_device
from ._dtype import bool_ as bool
from ._dtype import dtype, float16, float32, float64, get_default_dtype, int32, int64, set_default_dtype, uint8
from ._generator import Generator, default_generator
from ._info import (
    BFloat16Tensor,
    BoolTensor,
    ByteTensor,
    DoubleTensor,
    FloatTensor,
    HalfTensor,
    IntTensor,
    LongTensor,
    channels_last,
    contiguous_format,
    finfo,
    iinfo,
    memory_format,
    preserve_format,
)
from ._tensor import Size
from ._tensor_class import Tensor
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .errors import DeviceLostError, KernelCompileError, OutOfMemoryError
from .ops.elementwise_defs import OPS as _OPS
from .ops.index import embedding, gather, index_select, masked_fill, scatter_add, select
from .ops.linalg import bmm, dot, matmul, mm
from .ops.pointwise import pointwise as _pointwise
from .ops.pointwise import where
from .ops.reduce import amax, amin, argmax, argmin, log_softmax, logsumexp, max, mean, min, prod, softmax, std, sum, var
from .ops.shape import (
    cat,
    chunk,
    flatten,
    narrow,
    permute,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    unbind,
    unsqueeze,
)

# -- sorting (sort, argsort, topk, median, mode, unique, searchsorted, histc ...) --
from .ops.sorting import argsort, kthvalue, median, msort, nanmedian, sort, topk
from .ops.sorting_search import bucketize, histc, mode, searchsorted, unique, unique_consecutive

__version__ = "0.1.0"

float = float32
double = float64
half = float16
long = int64
int = int32
concat = concatenate = cat


def _function(spec):
    """``wgtorch.<op>(input, ...)`` for a registry entry."""
    op = spec.name

    def f(input, *args):
        return _pointwise(op, input, *args)

    f.__name__ = f.__qualname__ = op
    f.__doc__ = spec.doc
    return f


for _spec in _OPS.values():
    if _spec.function:
        for _name in (_spec.name, *_spec.aliases):
            globals()[_name] = _function(_spec)


from .ops.division import div  # noqa: E402  (replaces the registry's plain div: rounding_mode)

divide = div
# -- indexing/scatter family: ops/scatter.py, ops/select.py, ops/index_put.py (where: also where(condition)) --
from .ops.index_put import index_put  # noqa: E402
from .ops.scatter import index_add, index_copy, index_fill, scatter, scatter_reduce  # noqa: E402
from .ops.select import (  # noqa: E402, F811
    argwhere,
    masked_scatter,
    masked_select,
    nonzero,
    put,
    take,
    take_along_dim,
    where,
)


def index_put_(input, indices, values, accumulate=False):
    """In-place ``input.index_put_(indices, values, accumulate)``."""
    return input.index_put_(indices, values, accumulate)


def add(x, other, *, alpha=1):
    return x.add(other, alpha=alpha) if isinstance(x, Tensor) else tensor(x).add(other, alpha=alpha)


def sub(x, other, *, alpha=1):
    return x.sub(other, alpha=alpha)


subtract = sub


def clamp(x, min=None, max=None):  # noqa: F811  (PyTorch's argument names shadow max/min here)
    return x.clamp(min, max)


clip = clamp


def t(x):
    return x.t()


def clone(x):
    return x.clone()


def numel(x) -> int:
    return x.numel()


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def equal(a, b) -> bool:
    return tuple(a.shape) == tuple(b.shape) and bool((a == b).all())


def save(obj, f, pickle_protocol=2) -> None:
    from .serialization import save as _save

    _save(obj, f, pickle_protocol=pickle_protocol)


def load(f, map_location=None, *, weights_only=None):
    from .serialization import load as _load

    return _load(f, map_location=map_location, weights_only=weights_only)


# -- scans, norms, extra reductions, linalg (cumsum, cummax ..., norm, isclose, wgtorch.linalg) --
from . import linalg  # noqa: E402
from .ops import norms as _norms  # noqa: E402
from .ops import reduce_extra as _reduce_extra  # noqa: E402
from .ops import scan as _scan  # noqa: E402

for _module in (_scan, _reduce_extra, _norms):  # (allclose: isclose(...).all() on the device)
    globals().update(_module.FUNCTIONS)
# -- random sampling, rng state, addmm family, misc API (randmisc) --
from . import random
from ._misc import (
    are_deterministic_algorithms_enabled,
    can_cast,
    channels_last_3d,
    get_float32_matmul_precision,
    get_num_interop_threads,
    get_num_threads,
    is_complex,
    is_deterministic_algorithms_warn_only_enabled,
    is_floating_point,
    is_nonzero,
    promote_types,
    result_type,
    set_float32_matmul_precision,
    set_num_interop_threads,
    set_num_threads,
    set_printoptions,
    use_deterministic_algorithms,
)
from ._multinomial import multinomial
from ._sampling import bernoulli, normal, poisson, randint_like
from .ops.blas import addbmm, addcdiv, addcmul, addmm, addmv, addr, baddbmm
from .random import get_rng_state, set_rng_state


# -- shape ops (as_strided, unfold, diagonal, flip/roll, tril/triu, einsum ...): ops/strided,
# ops/rearrange, ops/matrix, ops/einsum --
def _bind_shape_ops():
    from .ops import einsum as E
    from .ops import matrix as M
    from .ops import rearrange as RA
    from .ops import strided as ST

    for module, names in ((ST, ("as_strided", "diagonal", "diagonal_scatter", "select_scatter", "slice_scatter")),
                          (RA, ("diff", "flip", "fliplr", "flipud", "movedim", "moveaxis", "narrow_copy",
                                "repeat_interleave", "roll", "rot90", "swapaxes", "swapdims", "tile")),
                          (M, ("block_diag", "cartesian_prod", "cross", "diag", "diag_embed", "ger", "kron",
                               "meshgrid", "outer", "trace", "tril", "tril_indices", "triu", "triu_indices")),
                          (E, ("einsum", "tensordot"))):
        for name in names:
            globals()[name] = getattr(module, name)


_bind_shape_ops()
# -- bfloat16 and autocast (amp) --
import sys as _sys  # noqa: E402

from . import amp  # noqa: E402
from ._dtype import bfloat16  # noqa: E402
from .amp.autocast_mode import (  # noqa: E402
    autocast,
    clear_autocast_cache,
    get_autocast_cpu_dtype,
    get_autocast_dtype,
    get_autocast_gpu_dtype,
    is_autocast_available,
    is_autocast_cache_enabled,
    is_autocast_cpu_enabled,
    is_autocast_enabled,
    set_autocast_cache_enabled,
    set_autocast_dtype,
    set_autocast_enabled,
)

amp.autocast_mode.autocast_attributes(Tensor)  # listed ops bound without a decorator (amp's table)
amp.autocast_mode.autocast_attributes(_sys.modules[__name__])
