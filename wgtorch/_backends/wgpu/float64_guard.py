"""The kernel families without an f64 specialisation refuse float64 tensors (shader-f64).

elementwise, reduce/softmax, matmul, optim, conv, attention and rnn compute in f64 (kernels.py's
f64 mode); random generates float64 on the host (the cpu stream); index_select/gather copy f64 values as they are.
The families below would read f64 storage through f32 code: they raise instead, naming float64
and the family. `Float64Guards` is the first base of `WgpuBackend`: its methods check their
arguments and call the family's own method.
"""

from __future__ import annotations

import functools

from ..._dtype import float64
from .array import WgpuArray

NO_FLOAT64 = {
    "index": ("scatter_add",),  # (index_select and gather only move values: they take f64 storage)
    "scatter": ("scatter", "nonzero"),
    "scan": ("scan",),
    "sort": ("sort", "sort_head", "searchsorted"),
    "norm": ("batch_norm_stats",),
    "nn": ("cross_entropy_forward", "cross_entropy_backward", "layer_norm_forward", "layer_norm_backward"),
}


def _refusing_float64(family: str, method):
    @functools.wraps(method)  # (keeps the signature the protocol test compares; __wrapped__ is the kernel's)
    def guarded(self, *args, **kwargs):
        for x in (*args, *kwargs.values()):
            if type(x) is WgpuArray and x.dtype is float64:
                raise TypeError(f"float64 is not supported by the wgpu {family} kernels ({method.__name__}); only "
                                "elementwise ops, reductions, softmax, matmul, random, index_select/gather, the "
                                "optimizers, convolution, attention and the RNN cells run in float64 on wgpu. Use "
                                "float32 (.float()) or the cpu device")
        return method(self, *args, **kwargs)

    return guarded


def float64_guards(mixins: tuple) -> type:
    """A class whose methods guard the first of ``mixins`` (in MRO order) defining each name."""

    def find(name):
        return next(getattr(m, name) for m in mixins if hasattr(m, name))

    body = {name: _refusing_float64(family, find(name)) for family, names in NO_FLOAT64.items() for name in names}
    return type("Float64Guards", (), body)
