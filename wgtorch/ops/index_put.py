"""Writes through an index: masked_fill and ``x[idx] = v`` / ``x[mask] = v`` (index_put).

Both compute the new values with ``where`` over operands of ``x``'s own dtype, so no value goes
through another type on the way (an int64 123456789 stays exact), and convert a Python fill
value to that dtype first with PyTorch's checks ("value cannot be converted to type int without
overflow"; a float fill truncates toward zero into an integer tensor; anything nonzero is True
in a bool tensor).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .. import _dtype as D
from .._broadcast import broadcast_shapes
from .._creation import tensor
from .._tensor import TensorCore
from ..autograd.function import Function
from ..autograd.grad_mode import state
from . import index as I
from .fill import _LEGACY, fill_value, masked_fill
from .index import index_select
from .pointwise import where
from .scatter import index_add
from .shape import _check_broadcasts_to, _out, apply_inplace, copy_into, normalize_key

if TYPE_CHECKING:
    from .._tensor_class import Tensor


def _index_put_value(x: Tensor, value, result_shape: tuple) -> Tensor:
    """index_put's value: a number (converted to x's dtype) or a tensor of exactly x's dtype that
    broadcasts to the indexing result (leading size-1 dims beyond its rank are dropped)."""

    if not isinstance(value, TensorCore):
        if not isinstance(value, (bool, int, float, complex, np.number, np.bool_)):
            raise TypeError(f"can't assign a {type(value).__name__} to a {_LEGACY.get(x.dtype, x.dtype.name)}"
                            "Tensor")
        return tensor(fill_value(value, x.dtype, "index_put_", check_float=False), dtype=x.dtype,
                      device=x.device)
    if value.dtype is not x.dtype:
        raise RuntimeError(f"Index put requires the source and destination dtypes match, got "
                           f"{_LEGACY.get(x.dtype, x.dtype.name)} for the destination and "
                           f"{_LEGACY.get(value.dtype, value.dtype.name)} for the source.")
    shape = tuple(value.shape)
    while len(shape) > len(result_shape) and shape[0] == 1:
        shape = shape[1:]
    try:
        ok = len(shape) <= len(result_shape) and broadcast_shapes([shape, result_shape]) == tuple(result_shape)
    except RuntimeError:
        ok = False
    if not ok:
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(value.shape)} cannot be broadcast to "
                           f"indexing result of shape {list(result_shape)}")
    return value.to(x.device).reshape(shape)


class PutRows(Function):
    """``w`` with ``w[positions[j]] = rows[j]`` (along dim 0); where a position repeats, the last
    write wins (as PyTorch's cpu index_put). As PyTorch's index_put backward, every row gets the
    gradient of the position it was written to, duplicates included, and the written positions
    of ``w`` get none."""

    @staticmethod
    def forward(ctx, w, rows, positions):
        n = w.shape[0]
        last = np.full(n, -1, np.int64)
        np.maximum.at(last, positions, np.arange(positions.size, dtype=np.int64))
        hit = tensor(last >= 0, device=w.device).reshape((n,) + (1,) * (w.ndim - 1))
        picked = index_select(rows, 0, tensor(np.maximum(last, 0), dtype=D.int64, device=w.device))
        ctx.hit = hit
        ctx.positions = tensor(positions, dtype=D.int64, device=w.device)
        return where(hit, picked, w)

    @staticmethod
    def backward(ctx, g):
        return where(ctx.hit, 0, g), index_select(g, 0, ctx.positions), None


def _inverse(perm: list) -> list:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def advanced_setitem(x: Tensor, key: tuple, advanced: list, value) -> None:
    """``x[key] = value`` for a key with tensor, list or mask indices (and any ints, slices, None
    around them), written through x's memory. The index values are read on the host (device
    index tensors make a round trip). Where the key indexes x itself (no int, slice or None
    part), the write is recorded for autograd like any in-place op; through a basic-indexed view,
    like the basic-index assignment, it is not."""

    x._check_inplace()
    for i in advanced:
        I._check_index_device(key[i], x)
    basic, entries = I._split_key(key)
    whole = all(k == slice(None) for k in basic)
    view = x if whole else _out(x, x._be.getitem(x._data, basic))

    def write(compute):
        """Write compute(current values of the indexed tensor) into it."""
        if whole:
            apply_inplace(x, compute)
        else:
            copy_into(view, compute(view.detach()).detach())

    masks = [k for _, k in entries if I._is_mask(k)]
    if len(key) == 1 and masks and (not isinstance(value, TensorCore) or value.numel() == 1):
        # PyTorch's path for x[mask] = scalar: masked_fill_, with its conversion checks
        mask = masks[0]
        mshape = tuple(mask.shape)
        if mshape != tuple(x.shape[:len(mshape)]):
            raise I._mask_shape_error(mshape, x.shape, 0)
        v = value.reshape(()) if isinstance(value, TensorCore) else value
        full_mask = mask.reshape(mshape + (1,) * (x.ndim - len(mshape))).to(x.device)
        write(lambda src: masked_fill(src, full_mask, v))
        return
    if any(k.ndim == 0 for k in masks):
        if len(entries) > 1:
            raise NotImplementedError("a 0-d bool index together with other tensor indices is not supported yet")
        # a 0-d mask adds a dim of size 1 (True) or 0 (False) in front of the dims after it
        d, k = entries[0]
        hit = bool(k.item())
        v = _index_put_value(x, value, view.shape[:d] + (int(hit),) + view.shape[d:])
        if hit:
            write(lambda src: v.expand(view.shape[:d] + (1,) + view.shape[d:]).reshape(view.shape))
        return
    pairs = I._host_indices(view, entries)
    dims, idxs = [d for d, _ in pairs], [i for _, i in pairs]
    shape = I._broadcast_index_shape([i.shape for i in idxs])
    perm, rest, out_perm = I._layout(view, dims, shape)
    front = shape + rest  # the indexing result with the index dims first
    result_shape = tuple(front[i] for i in out_perm)
    v = _index_put_value(x, value, result_shape)
    positions = np.asarray(I._linear(view, dims, [np.broadcast_to(i, shape) for i in idxs]), np.int64).reshape(-1)
    if positions.size == 0:
        return

    def put(src):
        lead = math.prod(view.shape[d] for d in dims)  # not -1: ambiguous when `rest` holds a 0
        rows = v.expand(result_shape).permute(_inverse(out_perm)).reshape((positions.size,) + rest)
        new = PutRows.apply(src.permute(perm).reshape((lead,) + rest), rows, positions)
        return new.reshape(tuple(view.shape[i] for i in perm)).permute(_inverse(perm))
    write(put)


def _index_tuple(indices) -> tuple:
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"index_put(): argument 'indices' must be tuple of Tensors, not {type(indices).__name__}")
    for i, k in enumerate(indices):
        if not isinstance(k, TensorCore):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got {type(k).__name__}")
    return tuple(indices)


def index_put(x: Tensor, indices, values: Tensor, accumulate: bool = False) -> Tensor:
    """Out-of-place ``x.index_put_(indices, values, accumulate)``: ``x[indices] = values`` on a
    copy, or with ``accumulate`` ``x[indices] += values`` where repeated indices add up. The
    index values are read on the host (device index tensors make a round trip), as for
    ``x[idx] = v``."""

    key = _index_tuple(indices)
    if not isinstance(values, TensorCore):
        raise TypeError(f"index_put(): argument 'values' (position 2) must be Tensor, not {type(values).__name__}")
    if not accumulate or not key:
        out = x.clone()
        if key:
            advanced_setitem(out, key, list(range(len(key))), values)
        else:
            out[...] = values
        return out
    for k in key:
        I._check_index_device(k, x)
    _, entries = I._split_key(key)
    if any(I._is_mask(k) and k.ndim == 0 for _, k in entries):
        raise NotImplementedError("a 0-d bool index in index_put with accumulate=True is not supported yet")
    pairs = I._host_indices(x, entries)
    dims, idxs = [d for d, _ in pairs], [i for _, i in pairs]
    shape = I._broadcast_index_shape([i.shape for i in idxs])
    perm, rest, out_perm = I._layout(x, dims, shape)
    front = shape + rest
    result_shape = tuple(front[i] for i in out_perm)
    v = _index_put_value(x, values, result_shape)
    positions = np.asarray(I._linear(x, dims, [np.broadcast_to(i, shape) for i in idxs]), np.int64).reshape(-1)

    lead = math.prod(x.shape[d] for d in dims)  # not -1: ambiguous when `rest` holds a 0
    rows = v.expand(result_shape).permute(_inverse(out_perm)).reshape((positions.size,) + rest)
    flat = x.permute(perm).reshape((lead,) + rest)
    new = index_add(flat, 0, tensor(positions, dtype=D.int64, device=x.device), rows)
    return new.reshape(tuple(x.shape[i] for i in perm)).permute(_inverse(perm))


# -- x[key] = value: basic keys write through the view, the rest as advanced_setitem --


def setitem(x: Tensor, key, value) -> None:
    """``x[index] = value``: writes ``value`` (broadcast) through the indexed elements."""
    if isinstance(value, (bool, int, float)) and not x.dtype.is_floating_point:
        # PyTorch converts the value before it reads the index: NaN into an int raises first
        value = fill_value(value, x.dtype, "setitem", check_float=False)
    key = normalize_key(x, key)
    advanced = [i for i, k in enumerate(key) if not (k is None or isinstance(k, (int, slice)))]
    if advanced:
        advanced_setitem(x, key, advanced, value)
        return
    view = _out(x, x._be.getitem(x._data, key))
    if isinstance(value, TensorCore) and value.ndim > view.ndim:
        # PyTorch drops a value's leading size-1 dims here (x[0] = ones(1, 3)), unlike copy_
        extra = value.ndim - view.ndim
        if all(n == 1 for n in value.shape[:extra]):
            value = value.reshape(value.shape[extra:])
    if state.enabled and (x.requires_grad or (isinstance(value, TensorCore) and value.requires_grad)):
        # Under autograd the write must enter x's history (PyTorch's CopySlices): it runs as
        # x[mask] = values, which the index ops record, with the mask selecting the view.
        mask = _out(x, x._be.empty(tuple(x.shape), D.bool_), D.bool_)
        copy_into(mask, False)
        copy_into(_out(mask, mask._be.getitem(mask._data, key), D.bool_), True)
        if isinstance(value, TensorCore):
            _check_broadcasts_to(value.shape, view.shape)
            value = value.expand(view.shape).reshape(-1)
        setitem(x, mask, value)
        return
    x._check_inplace()
    if not isinstance(value, TensorCore) and not x.dtype.is_floating_point:  # NaN into an int raises
        value = fill_value(value, x.dtype, "setitem", check_float=False)
    copy_into(view, value)
