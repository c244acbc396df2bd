"""Activation modules: ReLU, GELU, Tanh, Sigmoid, SiLU, LeakyReLU, ELU, Softplus, ReLU6, Hardtanh,
Hardsigmoid, Hardswish, Mish, SELU, CELU, Softsign, Tanhshrink, LogSigmoid, Hardshrink, Softshrink,
Threshold, Softmax, LogSoftmax. Each elementwise one is a single kernel forward and backward.

Shape (all): input (*), output (*), the same (Softmax / LogSoftmax along ``dim``).
"""

from __future__ import annotations

from .. import functional as F
from .module import Module


class ReLU(Module):
    """``max(0, x)``. Shape: (*) -> (*)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class GELU(Module):
    """``x * Phi(x)`` (``approximate='none'``, with erf) or its tanh approximation
    (``approximate='tanh'``). Shape: (*) -> (*)."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise RuntimeError("approximate argument must be either none or tanh.")
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Tanh(Module):
    """``tanh(x)``. Shape: (*) -> (*)."""

    def forward(self, input):
        return F.tanh(input)


class Sigmoid(Module):
    """``1 / (1 + exp(-x))``. Shape: (*) -> (*)."""

    def forward(self, input):
        return F.sigmoid(input)


class SiLU(Module):
    """``x * sigmoid(x)`` (swish). Shape: (*) -> (*)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.silu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """``x`` where x >= 0, else ``negative_slope * x``. Shape: (*) -> (*)."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """``x`` where x > 0, else ``alpha * (exp(x) - 1)``. Shape: (*) -> (*)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input):
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Softplus(Module):
    """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold``. Shape: (*) -> (*)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class _Activation(Module):
    """An elementwise activation whose constructor arguments are its parameters (shown by
    ``extra_repr``). Shape: (*) -> (*)."""

    _fn = None  # the nn.functional function
    _args: tuple = ()  # constructor arguments passed on to it, in order

    def forward(self, input):
        return type(self)._fn(input, *[getattr(self, a) for a in self._args])

    _bare = False  # extra_repr shows values without names (PyTorch's Hardshrink/Softshrink)

    def extra_repr(self) -> str:
        shown = [f"{getattr(self, a)}" if self._bare else f"{a}={getattr(self, a)}" for a in self._args
                 if a != "inplace"]
        return ", ".join(shown + (["inplace=True"] if getattr(self, "inplace", False) else []))


def _activation(name: str, fn, doc: str, bare: bool = False, **defaults):
    """A module class for ``fn`` with PyTorch's constructor arguments ``defaults``."""
    args = tuple(defaults)

    def __init__(self, *values, **kw):
        Module.__init__(self)
        if len(values) > len(args):
            raise TypeError(f"{name}() takes at most {len(args)} arguments ({len(values)} given)")
        for a, v in zip(args, values):
            kw[a] = v
        for a in kw:
            if a not in defaults:
                raise TypeError(f"{name}() got an unexpected keyword argument '{a}'")
        for a, default in defaults.items():
            if default is _REQUIRED and a not in kw:
                raise TypeError(f"{name}() missing required argument '{a}'")
            setattr(self, a, kw.get(a, default))

    return type(name, (_Activation,), {"__init__": __init__, "_fn": staticmethod(fn), "_args": args, "_bare": bare,
                                       "__doc__": doc + " Shape: (*) -> (*).", "__module__": __name__})


_REQUIRED = object()
ReLU6 = _activation("ReLU6", F.relu6, "``min(max(0, x), 6)``.", inplace=False)
Hardtanh = _activation("Hardtanh", F.hardtanh, "``x`` limited to [min_val, max_val].", min_val=-1.0, max_val=1.0,
                       inplace=False)
Hardsigmoid = _activation("Hardsigmoid", F.hardsigmoid, "``relu6(x + 3) / 6``.", inplace=False)
Hardswish = _activation("Hardswish", F.hardswish, "``x * relu6(x + 3) / 6``.", inplace=False)
Mish = _activation("Mish", F.mish, "``x * tanh(softplus(x))``.", inplace=False)
SELU = _activation("SELU", F.selu, "Scaled ELU with PyTorch's fixed alpha and scale.", inplace=False)
CELU = _activation("CELU", F.celu, "``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``.", alpha=1.0,
                   inplace=False)
Softsign = _activation("Softsign", F.softsign, "``x / (1 + |x|)``.")
Tanhshrink = _activation("Tanhshrink", F.tanhshrink, "``x - tanh(x)``.")
LogSigmoid = _activation("LogSigmoid", F.logsigmoid, "``log(sigmoid(x))``, stable.")
Hardshrink = _activation("Hardshrink", F.hardshrink, "0 where |x| <= lambd, else x.", True, lambd=0.5)
Softshrink = _activation("Softshrink", F.softshrink, "0 where |x| <= lambd, else x shrunk by lambd.", True,
                         lambd=0.5)
Threshold = _activation("Threshold", F.threshold, "``value`` where x <= threshold, else x.", threshold=_REQUIRED,
                        value=_REQUIRED, inplace=False)


class Softmax(Module):
    """``exp(x) / sum(exp(x))`` along ``dim``. Shape: (*) -> (*)."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """``log(softmax(x))`` along ``dim``, computed stably. Shape: (*) -> (*)."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.log_softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
