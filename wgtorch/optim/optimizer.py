"""`Optimizer`: parameter groups, per-parameter state and state dicts in PyTorch's format.

Subclasses implement ``step``. Their updates are backend methods (``sgd_step``, ``adam_step``
...) that change a parameter and its state in place, in one fused kernel on wgpu; this class
only keeps the bookkeeping, which is plain Python and never reads device memory.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from copy import deepcopy
from itertools import chain

from .._creation import tensor
from .._tensor_class import Tensor
from ..autograd.grad_mode import enable_grad


class _RequiredParameter:
    """Singleton marking a hyper-parameter every group must give (``required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _typename(x) -> str:
    return "wgtorch.Tensor" if isinstance(x, Tensor) else type(x).__module__ + "." + type(x).__qualname__


class Optimizer:
    """Base class of all optimizers, like ``torch.optim.Optimizer``.

    ``params`` is an iterable of tensors, or of dicts (parameter groups) each with a
    ``"params"`` entry and any hyper-parameters that override ``defaults`` for that group.
    """

    # Whether step() replays correctly in a wgpu graph capture (per-replay lr, device step counts);
    # the others refuse to be captured rather than replay stale values.
    _graph_safe = False

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors "
                            f"or dicts, but got {_typename(params)}")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # -- groups --------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (with its own hyper-parameters) to optimize from now on."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the "
                            "ordering of tensors in sets will change between runs. Please use a list "
                            "instead.")
        else:
            param_group["params"] = list(params)
        for param in param_group["params"]:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                f"{_typename(param)}")
            if not param.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
            if not param.dtype.is_floating_point:
                raise TypeError(f"optimizer can only optimize floating-point tensors, but one of the params "
                                f"is {param.dtype}")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required optimization "
                                 f"parameter {name}")
            param_group.setdefault(name, default)
        params = param_group["params"]
        if len(params) != len({id(p) for p in params}):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this "
                          "will cause an error", stacklevel=3)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # -- gradients -----------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: drop them (the default, which saves memory and work) or fill
        them with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad.detach_()
                    else:
                        p.grad.requires_grad_(False)
                    p.grad.zero_()

    def step(self, closure=None):
        """Update every parameter that has a gradient. ``closure`` re-evaluates the model and
        returns the loss (it runs with gradients enabled); step returns that loss."""
        raise NotImplementedError

    def _closure_loss(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _params_with_grad(self, group: dict):
        """(param, grad) for each parameter of ``group`` that has a gradient, checked."""
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            if g._be is not p._be:
                raise RuntimeError(f"{type(self).__name__}: a parameter on {p.device} has its gradient on "
                                   f"{g.device}; they must be on the same device")
            if g.shape != p.shape:
                raise RuntimeError(f"{type(self).__name__}: a parameter of shape {tuple(p.shape)} has a "
                                   f"gradient of shape {tuple(g.shape)}")
            cap = None if self._graph_safe else getattr(getattr(p._be, "rt", None), "_capture", None)
            if cap is not None:  # wgtorch.compile's lenient capture is dropped instead: the step runs eagerly
                cap.refuse_or_drop(p._be.rt, f"{type(self).__name__}.step() (its step counts and learning rate are "
                                       "host values a replay would repeat, and it has no capturable mode, as in "
                                       "PyTorch; SGD, RMSprop and Adam, AdamW, Adadelta, Adamax, ASGD, NAdam, "
                                       "RAdam, Rprop with capturable=True can be captured)")
            p._counter()[0] += 1  # updated in place: a graph that saved p must not reuse it
            yield p, g

    # -- state dicts ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{"state": {index: {name: value}}, "param_groups": [{hyper-parameters, "params":
        [indices]}]}``: parameters are numbered in group order, as in PyTorch. State tensors are
        the live ones (not copies), as in PyTorch."""
        mapping: dict[int, int] = {}
        start = 0
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state saved by ``state_dict`` (here or by PyTorch).

        State tensors are copied onto each parameter's device (floating-point ones in its dtype;
        ``step`` stays a float32 cpu tensor). Unlike PyTorch, they are always copies, so the
        optimizer never shares state with the dict it was loaded from.
        """
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = dict(zip(chain.from_iterable(s["params"] for s in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state: defaultdict = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = _cast_state(param, v)
            else:
                state[k] = v
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            for name, default in self.defaults.items():  # keys an older PyTorch did not save
                saved.setdefault(name, default)
        self.state = state
        self.param_groups = saved_groups

    def __getstate__(self) -> dict:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"


def _cast_state(param: Tensor, value, key=None):
    """A loaded state value moved to ``param``'s device (tensors copied; see load_state_dict)."""
    if isinstance(value, Tensor):
        if key == "step":
            return value.detach().to(device="cpu", dtype="float32", copy=True)
        dtype = param.dtype if value.dtype.is_floating_point else None
        return value.detach().to(device=param.device, dtype=dtype, copy=True)
    if isinstance(value, dict):
        return {k: _cast_state(param, v, key=k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_state(param, v) for v in value)
    return value


# -- helpers for subclasses ----------------------------------------------------------------------
def advance_step(state: dict) -> float:
    """Add one to ``state["step"]`` and return the new count as a Python float."""
    step = state.get("step")
    if not (isinstance(step, Tensor) and step.device.type == "cpu" and step.dtype.name == "float32"):
        # First step, or a count loaded as a number or on another device: make it PyTorch's kind.

        step = state["step"] = tensor(0.0 if step is None else float(step), dtype="float32", device="cpu")
    data = step._data
    data += 1  # in place on the NumPy array: a microsecond, and no autograd bookkeeping
    return float(data)


def check_flags(name: str, *, foreach=None, fused=None, differentiable: bool = False) -> None:
    """PyTorch's checks of the implementation flags, which wgtorch accepts and keeps in the groups:
    every step is already one fused update (or one composite of tensor ops) per parameter, so
    ``foreach`` and ``fused`` change nothing. A differentiable step is not supported."""
    if fused and differentiable:
        raise RuntimeError("`fused` does not support `differentiable`")
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if differentiable:
        raise NotImplementedError(f"{name}(differentiable=True) is not supported by wgtorch")


def check_betas(betas) -> None:
    """PyTorch's check of Adam-style ``betas``: each in [0, 1)."""
    for i, beta in enumerate(betas[:2]):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


def check_range(value, name: str, low: float = 0.0) -> None:
    """PyTorch's argument checks: ``Invalid <name>: <value>``."""
    if not low <= value:
        raise ValueError(f"Invalid {name}: {value}")


# -- helpers for the composite optimizers (tensor ops under no_grad, on every device) -------------
def prepared_grad(param: Tensor, grad: Tensor, weight_decay: float, maximize: bool) -> Tensor:
    """The gradient an update uses: negated when maximizing, plus ``weight_decay * param`` (L2)."""
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g.add(param, alpha=weight_decay)
    return g


def lerp_(start: Tensor, end: Tensor, weight: float) -> Tensor:
    """``start`` <- lerp(start, end, weight) in place, with PyTorch's two-sided formula (exact at
    both ends), so moving averages round as PyTorch's do."""
    if abs(weight) < 0.5:
        return start.add_(end - start, alpha=weight)
    return start.copy_(end - (end - start) * (1 - weight))


def scalar_state(state: dict, key: str, initial: float) -> Tensor:
    """``state[key]`` as a 0-d float32 cpu tensor (made at ``initial`` the first time), the kind
    PyTorch keeps for running scalars such as NAdam's ``mu_product``. A value loaded as a number
    or onto another device is turned back into that kind; update it through ``._data``."""
    value = state.get(key)
    if not (isinstance(value, Tensor) and value.device.type == "cpu" and value.dtype.name == "float32"):
        value = state[key] = tensor(initial if value is None else float(value), dtype="float32", device="cpu")
    return value
