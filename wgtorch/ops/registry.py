"""The op registry: every elementwise op is declared once, as an `Elementwise` entry.

An entry holds what every layer needs: the dtype rule (PyTorch's promotion, then "same", "float"
or "bool"), which compute dtypes it accepts (and the error PyTorch raises for the others), the
NumPy/CuPy expression, the WGSL expressions, and the gradient. From the entries come the Tensor
methods (`wgtorch/_tensor_methods/generated.py`), ``wgtorch.*`` functions, in-place variants, the backends'
kernels (`_backends/array.py`, `_backends/wgpu/elementwise.py`), the validator's cases and the
parametrised tests. What an op saves for backward is read off its gradient function.

This module imports only dtypes, so backends may import it (it sits below them).
"""

from __future__ import annotations

import dis
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import _dtype as D

#: PyTorch's names for scalar types in "not implemented for 'Bool'" errors.
TORCH_NAMES = {"bool": "Bool", "uint8": "Byte", "int32": "Int", "int64": "Long", "float16": "Half",
                "bfloat16": "BFloat16", "float32": "Float", "float64": "Double"}
_CATEGORY = {0: "b", 1: "i", 2: "f"}


@dataclass(eq=False)
class Elementwise:
    """One elementwise op.

    ``array`` is NumPy/CuPy code: ``"xp.exp"`` (a ufunc, called directly) or an expression of the
    operands ``a, b, c`` with ``xp`` and the helpers of `_backends/array.py` in scope. ``wgsl`` and
    ``wgsl_int`` are WGSL expressions of ``a, b, c`` (of type ``TC``) for float and for integer or
    bool compute; the helpers they call live in ``shaders/elementwise.wgsl``.
    ``grad(need, g, *operands, y)`` returns one gradient per operand (None where ``need`` says
    nobody wants it); it is written with tensor methods only, so it runs on any device.
    """

    name: str
    doc: str
    array: str
    wgsl: str | None
    wgsl_int: str | None = None
    grad: Callable | None = None
    arity: int = 1
    params: tuple = ()          # names of trailing scalar parameters (softplus's beta ...)
    result: str = "same"        # "same": the promoted type; "float": ints lift to the default float; "bool"
    accepts: str = "bif"        # compute dtypes it runs in: b(ool), i(nteger), f(loat)
    refuse: dict = field(default_factory=dict)  # category letter -> (exception type, PyTorch's message)
    promote: Callable | None = None  # operands -> (compute, result) where the rule is special
    method: bool = True         # Tensor.<name>
    function: bool = True       # wgtorch.<name>
    inplace: bool = False       # Tensor.<name>_
    aliases: tuple = ()
    wide: tuple = ()            # operands a float16 op keeps in float32 (PyTorch's opmath: lerp's weight)
    divides: bool = False       # operand 1 is a divisor: an integer zero raises ZeroDivisionError
    # Derived in __post_init__:
    saves: tuple = ()           # operand positions the gradient reads
    uses_output: bool = False   # whether the gradient reads the result

    def __post_init__(self):
        if self.grad is not None:
            self.saves, self.uses_output = _reads(self.grad, self.arity)
        self.refused = {}  # dtype -> (exception type, message), for the dtypes it does not compute in
        for dt in D.ALL:
            letter = _CATEGORY[dt.category]
            if letter not in self.accepts:
                exc, msg = self.refuse.get(letter, (NotImplementedError, None))
                self.refused[dt] = (exc, msg or f'"{self.name}" not implemented for \'{TORCH_NAMES[dt.name]}\'')

    @property
    def tensor_arity(self) -> int:
        """Operands that may be tensors (the rest are scalar parameters)."""
        return self.arity - len(self.params)

    @property
    def differentiable(self) -> bool:
        return self.grad is not None

    def check(self, compute: D.dtype) -> None:
        """Raise PyTorch's error where this op does not compute in ``compute``."""
        refused = self.refused.get(compute)
        if refused is not None:
            raise refused[0](refused[1])

    def wgsl_for(self, compute: D.dtype) -> str | None:
        return self.wgsl if compute.is_floating_point else self.wgsl_int


def _reads(grad: Callable, arity: int) -> tuple[tuple, bool]:
    """Which operands (by position) and whether the output a gradient function reads: the
    parameters its code loads. A helper called with everything reads everything, which is safe."""
    code = grad.__code__
    names = code.co_varnames[:code.co_argcount]  # need, g, operands..., y
    loaded = set()
    for ins in dis.get_instructions(grad):
        if ins.opname.startswith("LOAD_FAST") or ins.opname in ("LOAD_DEREF", "LOAD_CLOSURE"):
            loaded.update(ins.argval if isinstance(ins.argval, tuple) else (ins.argval,))
    operands = names[2:2 + arity]
    return tuple(k for k, n in enumerate(operands) if n in loaded), names[-1] in loaded


REGISTRY: dict[str, Elementwise] = {}


def define(*ops: Elementwise) -> None:
    for op in ops:
        if op.name in REGISTRY:
            raise ValueError(f"elementwise op {op.name!r} is declared twice")
        REGISTRY[op.name] = op
