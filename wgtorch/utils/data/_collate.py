"""Collating samples into batches (like ``torch.utils.data._utils.collate``).

`collate` walks the structure of the first sample: mappings, namedtuples and other sequences
are rebuilt with each field collated across the batch (a tuple becomes a list, as in PyTorch);
leaves go to the function ``collate_fn_map`` names for their type. `default_collate` uses
`default_collate_fn_map`: tensors are stacked, NumPy arrays and scalars become tensors, Python
floats a float64 tensor, ints an int64 tensor (bools a bool tensor), and strings and bytes stay
a list. `default_convert` converts one unbatched sample the same way, without stacking."""

from __future__ import annotations

import collections.abc
import copy
import re
from collections.abc import Callable

import numpy as np

from ... import _creation as C
from ... import _dtype as D
from ..._tensor_class import Tensor
from ...ops.shape import stack

__all__ = ["collate", "default_collate", "default_convert", "default_collate_fn_map"]

np_str_obj_array_pattern = re.compile(r"[SaUO]")

default_collate_err_msg_format = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or "
                                  "lists; found {}")


def _rebuild(elem, parts: dict | list, convert):
    """``elem``'s container type holding ``parts`` converted by ``convert`` (a plain dict or
    list where the type can't be rebuilt)."""
    if isinstance(elem, collections.abc.Mapping):
        values = {key: convert(value) for key, value in parts.items()}
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update(values)
                return clone
            return type(elem)(values)
        except TypeError:
            return values
    values = [convert(p) for p in parts]
    try:
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            for i, v in enumerate(values):
                clone[i] = v
            return clone
        return type(elem)(values)
    except TypeError:
        return values


def collate(batch, *, collate_fn_map: dict[type | tuple[type, ...], Callable] | None = None):
    """Collate a list of samples by the structure of ``batch[0]``; a leaf of type ``T`` is
    collated by ``collate_fn_map[T]`` (or the first entry whose type it is an instance of),
    called as ``fn(samples, collate_fn_map=collate_fn_map)``."""
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for collate_type, fn in collate_fn_map.items():
            if isinstance(elem, collate_type):
                return fn(batch, collate_fn_map=collate_fn_map)

    def sub(samples):
        return collate(samples, collate_fn_map=collate_fn_map)

    if isinstance(elem, collections.abc.Mapping):
        return _rebuild(elem, {key: [d[key] for d in batch] for key in elem}, sub)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(sub(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [sub(samples) for samples in transposed]  # a list, as in PyTorch
        return _rebuild(elem, transposed, sub)
    raise TypeError(default_collate_err_msg_format.format(elem_type))


def collate_tensor_fn(batch, *, collate_fn_map=None):
    return stack(batch, 0)


def collate_numpy_array_fn(batch, *, collate_fn_map=None):
    if np_str_obj_array_pattern.search(batch[0].dtype.str) is not None:
        raise TypeError(default_collate_err_msg_format.format(batch[0].dtype))
    return collate([C.as_tensor(b) for b in batch], collate_fn_map=collate_fn_map)


def collate_numpy_scalar_fn(batch, *, collate_fn_map=None):
    return C.as_tensor(np.asarray(batch))


def collate_float_fn(batch, *, collate_fn_map=None):
    return C.tensor(batch, dtype=D.float64)


def collate_int_fn(batch, *, collate_fn_map=None):
    return C.tensor(batch)


def collate_str_fn(batch, *, collate_fn_map=None):
    return batch


default_collate_fn_map: dict[type | tuple[type, ...], Callable] = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def default_collate(batch):
    """Stack a list of samples into a batch: the DataLoader's default ``collate_fn`` when it
    batches (see the module docstring for the types). ``default_collate([0, 1, 2])`` is
    ``tensor([0, 1, 2])``; ``default_collate([{"a": 0}, {"a": 1}])`` is ``{"a": tensor([0, 1])}``."""
    return collate(batch, collate_fn_map=default_collate_fn_map)


def default_convert(data):
    """Convert one sample: NumPy arrays (except of strings or objects) and scalars become
    tensors, containers are rebuilt around converted fields (a tuple becomes a list), the rest
    is unchanged. The DataLoader's default ``collate_fn`` with ``batch_size=None``."""
    if isinstance(data, np.ndarray) and np_str_obj_array_pattern.search(data.dtype.str) is not None:
        return data
    if isinstance(data, (np.ndarray, np.bool_, np.number)):
        return C.as_tensor(np.asarray(data))  # a NumPy scalar keeps its dtype
    if isinstance(data, collections.abc.Mapping):
        return _rebuild(data, dict(data.items()), default_convert)
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild(data, list(data), default_convert)
    return data
