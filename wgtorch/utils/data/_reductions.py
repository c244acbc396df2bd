"""How tensors cross process boundaries in data loading (like ``torch.multiprocessing.reductions``).

`init_reductions` registers a reducer for `wgtorch.Tensor` with multiprocessing's
``ForkingPickler`` (which pickles everything a worker process is started with or sends back):
a tensor travels as its NumPy array, dtype and ``requires_grad`` and is rebuilt as a cpu tensor
on the other side, whatever device it was on. Worker processes therefore only ever hold cpu
tensors, and batches arrive in the main process on the cpu (move them with ``.to(device)``).
Ordinary pickling (``pickle.dumps``) is not affected."""

from __future__ import annotations

from multiprocessing.reduction import ForkingPickler

from ... import _creation as C
from ..._tensor_class import Tensor

_registered = False


def rebuild_tensor(array, dtype_name: str, requires_grad: bool):
    t = C.tensor(array, dtype=dtype_name, device="cpu")
    if requires_grad:
        t.requires_grad_(True)
    return t


def reduce_tensor(t):
    return rebuild_tensor, (t.detach().numpy(), t.dtype.name, t.requires_grad)


def init_reductions() -> None:
    """Register the tensor reducer with ForkingPickler (once per process)."""
    global _registered
    if not _registered:
        ForkingPickler.register(Tensor, reduce_tensor)
        _registered = True
