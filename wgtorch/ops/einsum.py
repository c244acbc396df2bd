"""einsum and tensordot, composed of diagonal views, sums, permutes, reshapes, expands and
batched matmuls (so autograd needs nothing of its own)."""

from __future__ import annotations

import math
import string

from .._tensor import _dim
from .._tensor_class import Tensor
from . import shape as S
from .linalg import matmul
from .registry import TORCH_NAMES
from .strided import diagonal

_LETTERS = string.ascii_uppercase + string.ascii_lowercase  # PyTorch's label order: A-Z before a-z


def _err(msg: str) -> RuntimeError:
    return RuntimeError(f"einsum(): {msg}")


def _parse_term(eq: str, start: int, stop: int, which: str):
    """Labels of one comma-separated term (None marks the ellipsis) from eq[start:stop]."""
    labels, i = [], start
    while i < stop:
        c = eq[i]
        if c == ".":
            if None in labels:
                raise _err(f"found '.' for {which} for which an ellipsis was already found")
            if eq[i : i + 3] != "..." or i + 3 > stop:
                raise _err(f"found '.' for {which} that is not part of any ellipsis")
            labels.append(None)
            i += 3
            continue
        if c in _LETTERS:
            labels.append(c)
        elif not c.isspace():
            raise _err(f"invalid subscript given at index {i} in the equation string, subscripts must be in [a-zA-Z]")
        i += 1
    return labels


def _parse(eq: str, n_operands: int):
    arrow = eq.find("->")
    lhs_end = len(eq) if arrow < 0 else arrow
    terms, start = [], 0
    for k, c in enumerate(eq[:lhs_end] + ","):
        if c == ",":
            terms.append((start, k))
            start = k + 1
    if len(terms) > n_operands:
        raise _err("fewer operands were provided than specified in the equation")
    if len(terms) < n_operands:
        raise _err("more operands were provided than specified in the equation")
    inputs = [_parse_term(eq, a, b, f"operand {i}") for i, (a, b) in enumerate(terms)]
    output = None if arrow < 0 else _parse_term(eq, arrow + 2, len(eq), "the output")
    return inputs, output


def _sublist_equation(args) -> tuple[str, list]:
    """``einsum(op0, sub0, op1, sub1, ..., [out])`` as an equation string and its operands."""

    def term(sub):
        out = []
        for v in sub:
            if v is Ellipsis:
                out.append("...")
            elif isinstance(v, int) and 0 <= v < 52:
                out.append(_LETTERS[v])
            else:
                raise ValueError(
                    f"einsum(): subscript in subscript list is not within the valid range [0, 52), got {v}"
                )
        return "".join(out)

    operands, terms = list(args[0::2]), [term(s) for s in args[1::2]]
    out = None
    if len(args) % 2 == 1:  # a trailing output sublist
        out = term(args[-1])
        operands = operands[:-1]
    eq = ",".join(terms[: len(operands)])
    return (eq if out is None else f"{eq}->{out}"), operands


def einsum(*args) -> Tensor:
    """Sum of products over the labelled dims of the operands, as the equation says:
    ``einsum("ij,jk->ik", a, b)``; ``...`` stands for broadcast dims, a repeated label in one
    operand takes a diagonal, no ``->`` means the labels seen once, in alphabetical order.
    Also ``einsum(eq, [a, b])`` and the sublist form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``."""
    if len(args) < 2:
        raise ValueError(
            "einsum(): must specify the equation string and at least one operand, or at least one "
            "operand and its subscripts list"
        )
    if isinstance(args[0], str):
        eq, operands = args[0], list(args[1:])
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = list(operands[0])
    else:
        eq, operands = _sublist_equation(args)
    for t in operands:
        if not isinstance(t, Tensor):
            raise TypeError(f"einsum(): argument 'operands' must be tuple of Tensors, not {type(t).__name__}")
        if t.dtype is not operands[0].dtype:
            raise RuntimeError(
                f"expected scalar type {TORCH_NAMES[operands[0].dtype.name]} but found {TORCH_NAMES[t.dtype.name]}"
            )
        if t.device != operands[0].device:
            raise RuntimeError(
                f"Expected all tensors to be on the same device, but found at least two devices, "
                f"{operands[0].device} and {t.device}!"
            )
    inputs, output = _parse(eq, len(operands))
    # Dims of each operand as label keys: letters, and 0..E-1 for the ellipsis dims (right-aligned).
    ell = 0
    for i, (labels, t) in enumerate(zip(inputs, operands)):
        named = len(labels) - (None in labels)
        if None in labels:
            if named > t.ndim:
                raise _err(
                    f"the number of subscripts in the equation ({named}) is more than the number of "
                    f"dimensions ({t.ndim}) for operand {i}"
                )
            ell = max(ell, t.ndim - named)
        elif named != t.ndim:
            raise _err(
                f"the number of subscripts in the equation ({named}) does not match the number of "
                f"dimensions ({t.ndim}) for operand {i} and no ellipsis was given"
            )
    keyed = []
    for labels, t in zip(inputs, operands):
        keys = []
        for lab in labels:
            if lab is None:
                e = t.ndim - (len(labels) - 1)
                keys += list(range(ell - e, ell))
            else:
                keys.append(lab)
        keyed.append(keys)
    counts: dict = {}
    for keys in keyed:
        for k in keys:
            counts[k] = counts.get(k, 0) + 1
    if output is None:
        out_keys = list(range(ell)) + sorted(
            (k for k in counts if isinstance(k, str) and counts[k] == 1), key=_LETTERS.index
        )
    else:
        out_keys = []
        for lab in output:
            if lab is None:
                out_keys += list(range(ell))
            elif lab in out_keys:
                raise _err(f"output subscript {lab} appears more than once in the output")
            elif lab not in counts:
                raise _err(f"output subscript {lab} does not appear in the equation for any input operand")
            else:
                out_keys.append(lab)
    # Sizes: a label's size is the same everywhere, or 1 where it broadcasts.
    sizes: dict = {}
    ops = []
    for i, (keys, t) in enumerate(zip(keyed, operands)):
        t, keys = _take_diagonals(t, keys, i)
        for k, n in zip(keys, t.shape):
            seen = sizes.get(k, 1)
            if n != 1 and seen != 1 and n != seen:
                name = k if isinstance(k, str) else "..."
                raise _err(
                    f"subscript {name} has size {n} for operand {i} which does not broadcast with "
                    f"previously seen size {seen}"
                )
            sizes[k] = n if n != 1 else seen
        ops.append((t, keys))
    # Contract left to right; a label no later operand or the output needs is summed at once.
    t, keys = ops[0]
    for j in range(1, len(ops) + 1):
        later = set(out_keys).union(*(set(k) for _, k in ops[j:]))
        t, keys = _sum_unused(t, keys, later)
        if j == len(ops):
            break
        u, ukeys = _sum_unused(*ops[j], later.union(keys))
        t, keys = _contract(t, keys, u, ukeys, later, sizes)
    missing = [k for k in out_keys if k not in keys]  # (only where an operand had no dims for it)
    if missing:
        t = S.reshape(t, tuple(t.shape) + (1,) * len(missing))
        keys = keys + missing
    t = S.permute(t, tuple(keys.index(k) for k in out_keys))
    return S.expand(t, tuple(sizes[k] for k in out_keys)) if out_keys else t


def _take_diagonals(t: Tensor, keys: list, i: int):
    """Repeated labels within one operand: their diagonal, as one dim (at the end)."""
    keys = list(keys)
    while True:
        dup = next((k for k in keys if keys.count(k) > 1), None)
        if dup is None:
            return t, keys
        p = keys.index(dup)
        q = keys.index(dup, p + 1)
        if t.shape[p] != t.shape[q]:
            raise _err(
                f"subscript {dup} is repeated for operand {i} but the sizes don't match, {t.shape[q]} != {t.shape[p]}"
            )
        t = diagonal(t, 0, p, q)
        keys = [k for n, k in enumerate(keys) if n not in (p, q)] + [dup]


def _sum_unused(t: Tensor, keys: list, needed: set):
    drop = [n for n, k in enumerate(keys) if k not in needed]
    if not drop:
        return t, keys
    return t.sum(tuple(drop)), [k for n, k in enumerate(keys) if n not in drop]


def _contract(a: Tensor, akeys: list, b: Tensor, bkeys: list, needed: set, sizes: dict):
    """a and b multiplied over their common labels and summed over those not ``needed``."""
    batch = [k for k in akeys if k in bkeys and k in needed]
    summed = [k for k in akeys if k in bkeys and k not in needed]
    left = [k for k in akeys if k not in bkeys]
    right = [k for k in bkeys if k not in akeys]

    def arrange(t, keys, order):
        t = S.permute(t, tuple(keys.index(k) for k in order))
        want = tuple(sizes[k] if k in batch or k in summed else n for k, n in zip(order, t.shape))
        return S.expand(t, want) if want != tuple(t.shape) else t

    a = arrange(a, akeys, batch + left + summed)
    b = arrange(b, bkeys, batch + summed + right)
    nb = [sizes[k] for k in batch]
    nl, nr = list(a.shape[len(batch) : len(batch) + len(left)]), list(b.shape[len(batch) + len(summed) :])
    if not summed:  # an outer product (per batch): broadcasting, no matmul
        a = S.reshape(a, tuple(nb + nl + [1] * len(right)))
        b = S.reshape(b, tuple(nb + [1] * len(left) + nr))
        return a * b, batch + left + right
    ns = math.prod(sizes[k] for k in summed)
    a3 = S.reshape(a, (math.prod(nb), math.prod(nl), ns))
    b3 = S.reshape(b, (math.prod(nb), ns, math.prod(nr)))
    return S.reshape(_matmul(a3, b3), tuple(nb + nl + nr)), batch + left + right


def _matmul(a: Tensor, b: Tensor) -> Tensor:
    """a @ b, where an empty inner dim gives zeros (from empty sums, which keep the graph) without
    asking a matmul kernel for K = 0."""
    if a.shape[-1]:
        return matmul(a, b)
    out = a.sum(-1, keepdim=True) + b.sum(-2, keepdim=True)
    return out if out.dtype is a.dtype else out.to(a.dtype)


# -- tensordot -------------------------------------------------------------------------------------
def tensordot(a: Tensor, b: Tensor, dims=2, out=None) -> Tensor:
    """Sum of products over ``dims``: the last ``dims`` dims of a with the first of b, or the
    listed pairs ``([a dims], [b dims])``."""
    if out is not None:
        raise TypeError("tensordot(): out= is not supported by wgtorch")
    if a.dtype is not b.dtype:
        raise RuntimeError("both inputs should have same dtype")
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        if dims > a.ndim or dims > b.ndim:
            raise RuntimeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = dims
        for name, v in (("dims_self", da), ("dims_other", db)):
            if not isinstance(v, (list, tuple)):
                raise TypeError(
                    f"tensordot(): argument '{name}' (position 3) must be tuple of ints, not {type(v).__name__}"
                )
        if len(da) != len(db):
            raise RuntimeError("both dimension lists should have same length")
        da, db = [_dim(d, a.ndim) for d in da], [_dim(d, b.ndim) for d in db]
    for dl in (da, db):
        for d in dl:
            if dl.count(d) > 1:
                raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    pairs = []
    for p, q in zip(da, db):
        s1, s2 = a.shape[p], b.shape[q]
        if s1 != s2 and s1 != 1 and s2 != 1:
            raise RuntimeError(
                f"contracted dimensions need to match, but first has size {s1} in dim {p} and second "
                f"has size {s2} in dim {q}"
            )
        pairs.append((p, q))
    # A dim of size 1 against a larger one broadcasts: sum the larger one right away (as PyTorch).
    for p, q in pairs:
        if b.shape[q] == 1 and a.shape[p] != 1:
            a = a.sum(p, keepdim=True)
        elif a.shape[p] == 1 and b.shape[q] != 1:
            b = b.sum(q, keepdim=True)
    free_a = [d for d in range(a.ndim) if d not in da]
    free_b = [d for d in range(b.ndim) if d not in db]
    k = math.prod(a.shape[d] for d in da)
    out_shape = tuple(a.shape[d] for d in free_a) + tuple(b.shape[d] for d in free_b)
    a2 = S.reshape(S.permute(a, tuple(free_a + da)), (math.prod(a.shape[d] for d in free_a), k))
    b2 = S.reshape(S.permute(b, tuple(db + free_b)), (k, math.prod(b.shape[d] for d in free_b)))
    return S.reshape(_matmul(a2, b2), out_shape)
