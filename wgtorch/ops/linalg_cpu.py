"""``linalg.inv``, ``det``, ``solve`` and ``cholesky`` on the cpu device (NumPy's LAPACK), with
PyTorch's gradients. Other devices raise NotImplementedError (there are no WGSL factorisation
kernels); move the tensor with ``.cpu()``.

Deviation: det's gradient is ``det * inv(A)^T``, which PyTorch extends to singular matrices (by
an SVD); here a singular A gives a non-finite gradient."""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._broadcast import broadcast_shapes
from .._creation import arange, tensor
from .._tensor_class import Tensor
from ..autograd.function import Function
from .registry import TORCH_NAMES


class LinAlgError(RuntimeError):
    """A factorisation failed (singular or not positive-definite input), as ``torch.linalg.LinAlgError``."""


def _host(x: Tensor, fn: str) -> np.ndarray:
    if x.device.type != "cpu":
        raise NotImplementedError(
            f"{fn} runs on the cpu device only in wgtorch (NumPy's LAPACK; there is no "
            f"{x.device.type} kernel): move the input with .cpu()"
        )
    if not x.dtype.is_floating_point:
        raise RuntimeError(
            f"{fn}: Expected a floating point or complex tensor as input. Got {TORCH_NAMES[x.dtype.name]}"
        )
    if x.dtype is D.float16:
        raise RuntimeError(f"\"{fn}\" not implemented for 'Half'")
    return x.detach().numpy()


def _square(x: Tensor, fn: str) -> None:
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        got = f"{x.shape[-2]} by {x.shape[-1]}" if x.ndim >= 2 else f"{x.ndim}-D"
        raise RuntimeError(f"{fn}: A must be batches of square matrices, but they are {got} matrices")


def _lapack(fn: str, f, *args):
    try:
        with np.errstate(all="ignore"):
            return f(*args)
    except np.linalg.LinAlgError as e:
        what = "not positive-definite" if "cholesky" in fn else "singular"
        raise LinAlgError(
            f"{fn}: The factorization could not be completed because the input is {what} (NumPy: {e})"
        ) from None


def _tensor_like(a: np.ndarray, x: Tensor) -> Tensor:
    return tensor(np.array(a, dtype=x.dtype.np, order="C"), device=x.device)


class Inv(Function):
    @staticmethod
    def forward(ctx, A):
        y = _tensor_like(_lapack("linalg.inv", np.linalg.inv, _host(A, "linalg.inv")), A)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return -(y.mT @ g @ y.mT)


class Det(Function):
    @staticmethod
    def forward(ctx, A):
        d = _tensor_like(np.linalg.det(_host(A, "linalg.det")), A)
        ctx.save_for_backward(A, d)
        return d

    @staticmethod
    def backward(ctx, g):
        A, d = ctx.saved_tensors
        return (g * d).unsqueeze(-1).unsqueeze(-1) * inv(A).mT


class Solve(Function):
    """X with A X = B (B: batches of matrices)."""

    @staticmethod
    def forward(ctx, A, B):
        a, b = _host(A, "linalg.solve"), _host(B, "linalg.solve")
        x = _tensor_like(_lapack("linalg.solve", np.linalg.solve, a, b), A)
        ctx.save_for_backward(A, x)
        return x

    @staticmethod
    def backward(ctx, g):
        A, x = ctx.saved_tensors
        gb = solve(A.mT, g)
        return -(gb @ x.mT), gb


class Cholesky(Function):
    @staticmethod
    def forward(ctx, A):
        L = _tensor_like(_lapack("linalg.cholesky", np.linalg.cholesky, _host(A, "linalg.cholesky")), A)
        ctx.save_for_backward(L)
        return L

    @staticmethod
    def backward(ctx, g):
        """PyTorch's: with P = tril(L^T g) (diagonal halved), gA = sym(L^-T P L^-1)."""

        (L,) = ctx.saved_tensors
        n = L.shape[-1]
        i = arange(n, device=L.device)
        lower = (i.unsqueeze(-1) >= i).to(L.dtype)
        half_diag = lower - 0.5 * (i.unsqueeze(-1) == i).to(L.dtype)
        phi = (L.mT @ g) * half_diag
        li = inv(L)
        ga = li.mT @ phi @ li
        return 0.5 * (ga + ga.mT)


def inv(A: Tensor) -> Tensor:
    """The inverse of each square matrix of A (cpu only); LinAlgError where one is singular."""
    _square(A, "linalg.inv")
    return Inv.apply(A)


def det(A: Tensor) -> Tensor:
    """The determinant of each square matrix of A (cpu only)."""
    _square(A, "linalg.det")
    return Det.apply(A)


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """X with ``A X = B`` (cpu only); B a batch of vectors where ``B.shape == A.shape[:-1]`` or B is
    1-D. ``left=False`` solves ``X A = B``."""
    if not left:
        return solve(A.mT, B.mT).mT
    _square(A, "linalg.solve")
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    b = B.unsqueeze(-1) if vector else B
    if b.shape[-2] != A.shape[-1]:
        raise RuntimeError(
            f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
            f"({A.shape[-2]}x{A.shape[-1]} and {b.shape[-2]}x{b.shape[-1]})"
        )

    batch = broadcast_shapes([tuple(A.shape[:-2]), tuple(b.shape[:-2])])
    x = Solve.apply(A.expand(batch + tuple(A.shape[-2:])), b.expand(batch + tuple(b.shape[-2:])))
    return x.squeeze(-1) if vector else x


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """The lower (or ``upper``) Cholesky factor of each symmetric positive-definite matrix (cpu
    only); LinAlgError where one is not positive-definite."""
    _square(A, "linalg.cholesky")
    L = Cholesky.apply(A)
    return L.mT if upper else L
