"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and the single-step ``RNNCell``, ``LSTMCell``,
``GRUCell``, with PyTorch's arguments, parameter names and layout, initialisation, input and
state shapes, error messages and repr, so a PyTorch state dict loads and gives the same results.

Every layer and direction is one `RecurrentLayer` autograd node running fused kernels (see
``nn/_rnn_cells.py``); a cell is that node over one time step.
"""

from __future__ import annotations

import math
import numbers
import warnings

from ... import _creation
from ...ops.shape import cat, stack
from .. import functional as F
from .. import init
from .._rnn_cells import RecurrentLayer
from ..parameter import Parameter
from .module import Module

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _same_device(input, tensors, what: str) -> None:
    for t in tensors:
        if t is not None and t.device != input.device:
            raise RuntimeError(f"Input and {what} tensors are not at the same device, found input tensor at "
                               f"{input.device} and {what} tensor at {t.device}")


class RNNBase(Module):
    """Base class of `RNN`, `LSTM` and `GRU`: the parameters of ``num_layers`` layers (two
    directions each when ``bidirectional``) and the multi-layer forward pass.

    Parameters per layer k and direction (suffix ``_reverse`` for the second): ``weight_ih_l{k}``
    (G*hidden_size, in), ``weight_hh_l{k}`` (G*hidden_size, hidden_size), ``bias_ih_l{k}`` and
    ``bias_hh_l{k}`` (G*hidden_size,), G = 1 (RNN), 4 (LSTM: i, f, g, o) or 3 (GRU: r, z, n);
    ``in`` is input_size for layer 0 and D*hidden_size above it. All are initialised
    U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None):
        super().__init__()
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", stacklevel=2)
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size != 0:
            raise NotImplementedError("LSTM with proj_size != 0 (projections) is not supported by wgtorch; "
                                      "use proj_size=0 and a Linear layer on the output instead")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        gate_size = _GATES[mode] * hidden_size
        num_directions = 2 if bidirectional else 1
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input_size = input_size if layer == 0 else hidden_size * num_directions
                suffix = "_reverse" if direction == 1 else ""
                names = [f"weight_ih_l{layer}{suffix}", f"weight_hh_l{layer}{suffix}"]
                shapes = [(gate_size, layer_input_size), (gate_size, hidden_size)]
                if bias:
                    names += [f"bias_ih_l{layer}{suffix}", f"bias_hh_l{layer}{suffix}"]
                    shapes += [(gate_size,), (gate_size,)]
                for name, shape in zip(names, shapes):
                    setattr(self, name, Parameter(_creation.empty(*shape, device=device, dtype=dtype)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """A no-op kept for PyTorch compatibility: the weights are always used in place."""

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list:
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # -- checks (PyTorch's messages) ---------------------------------------------------------------
    def check_input(self, input) -> None:
        weight = self.weight_ih_l0
        if input.dtype is not weight.dtype:
            raise ValueError(f"input must have the type {weight.dtype}, got type {input.dtype}")
        if input.dim() != 3:
            raise RuntimeError(f"input must have 3 dimensions, got {input.dim()}")
        if self.input_size != input.size(-1):
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.size(-1)}")
        if input.size(0 if not self.batch_first else 1) == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")

    def get_expected_hidden_size(self, input) -> tuple:
        mini_batch = input.size(0) if self.batch_first else input.size(1)
        num_directions = 2 if self.bidirectional else 1
        return (self.num_layers * num_directions, mini_batch, self.hidden_size)

    @staticmethod
    def check_hidden_size(hx, expected: tuple, msg: str = "Expected hidden size {}, got {}") -> None:
        if tuple(hx.shape) != expected:
            raise RuntimeError(msg.format(expected, list(hx.shape)))

    def _check_state(self, input, states: list, labels: list) -> None:
        expected = self.get_expected_hidden_size(input)
        for state, label in zip(states, labels):
            msg = ("Expected hidden size {}, got {}" if label is None
                   else f"Expected hidden[{label}] size {{}}, got {{}}")
            self.check_hidden_size(state, expected, msg)
        _same_device(input, states, "hidden")
        _same_device(input, self._flat_weights, "parameter")
        for state in states:
            if state.dtype is not input.dtype:
                raise RuntimeError(f"Expected hidden state of dtype {input.dtype}, got {state.dtype}")

    # -- forward ------------------------------------------------------------------------------------
    def _prepare(self, input, states: list, labels: list):
        """Unbatched input to a batch of one, the time-major contiguous input, the checks."""
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(self.mode, self.mode)
        if input.dim() not in (2, 3):
            tail = " tensor instead" if name == "RNN" else " instead"
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D{tail}")
        is_batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        given = [s for s in states if s is not None]
        if given:
            want = 3 if is_batched else 2
            if any(s.dim() != want for s in given):
                kind = "batched 3-D" if is_batched else "unbatched 2-D"
                if self.mode == "LSTM":
                    dims = ", ".join(f"{s.dim()}-D" for s in given)
                    raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but got ({dims}) tensors")
                raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got {given[0].dim()}-D tensor")
        if not is_batched:
            input = input.unsqueeze(batch_dim)
            states = [None if s is None else s.unsqueeze(1) for s in states]
        self.check_input(input)
        if given:
            self._check_state(input, states, labels)
        else:
            _same_device(input, self._flat_weights, "parameter")
        x = input.transpose(0, 1) if self.batch_first else input
        return x.contiguous(), states, is_batched

    def _run(self, x, h0, c0):
        """All layers over time-major x (T, B, I): output (T, B, D*H), h_n (and c_n for LSTM)."""
        num_directions = 2 if self.bidirectional else 1
        h_n, c_n = [], []
        layer_input = x
        weights = self._flat_weights
        per_dir = 4 if self.bias else 2
        for layer in range(self.num_layers):
            outs = []
            for direction in range(num_directions):
                k = layer * num_directions + direction
                w = weights[k * per_dir: (k + 1) * per_dir]
                b_ih, b_hh = (w[2], w[3]) if self.bias else (None, None)
                h = h0[k] if h0 is not None else None
                c = c0[k] if c0 is not None else None
                res = RecurrentLayer.apply(layer_input, h, c, w[0], w[1], b_ih, b_hh, self.mode, direction == 1)
                outs.append(res[0])
                h_n.append(res[1])
                if self.mode == "LSTM":
                    c_n.append(res[2])
            out = outs[0] if num_directions == 1 else cat(outs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                out = F.dropout(out, self.dropout, True)
            layer_input = out.contiguous()
        return layer_input, stack(h_n, 0), (stack(c_n, 0) if self.mode == "LSTM" else None)

    def _finish(self, output, is_batched: bool):
        if self.batch_first:
            output = output.transpose(0, 1)
        if not is_batched:
            output = output.squeeze(0 if self.batch_first else 1)
        return output

    def forward(self, input, hx=None):
        if self.mode == "LSTM":
            if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise RuntimeError("LSTM expects hx to be a tuple (h_0, c_0)")
            states = list(hx) if hx is not None else [None, None]
            x, (h0, c0), is_batched = self._prepare(input, states, ["0", "1"])
            output, h_n, c_n = self._run(x, h0, c0)
            if not is_batched:
                h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)
            return self._finish(output, is_batched), (h_n, c_n)
        x, (h0,), is_batched = self._prepare(input, [hx], [None])
        output, h_n, _ = self._run(x, h0, None)
        return self._finish(output, is_batched), (h_n if is_batched else h_n.squeeze(1))


class RNN(RNNBase):
    """Elman RNN: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, act tanh or relu.

    Args: input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, device, dtype.
    Inputs: input (L, N, H_in) (or (N, L, H_in) with batch_first, or (L, H_in) unbatched) and
    h_0 (D*num_layers, N, H) (default zeros). Outputs: output (L, N, D*H), h_n (D*num_layers, N, H).
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:  # RNN's fourth positional argument is nonlinearity, not bias
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(mode, *args, **kwargs)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory (gates i, f, g, o): ``c_t = f * c_{t-1} + i * g``,
    ``h_t = o * tanh(c_t)``.

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, proj_size=0 (anything else raises NotImplementedError), device, dtype.
    Inputs: input and optionally (h_0, c_0). Outputs: output, (h_n, c_n).
    """

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit (gates r, z, n): ``n_t = tanh(W_in x_t + b_in + r * (W_hn h + b_hn))``,
    ``h_t = (1 - z) * n_t + z * h_{t-1}``.

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, device, dtype. Inputs: input, h_0. Outputs: output, h_n.
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


class RNNCellBase(Module):
    """Base class of the cells: ``weight_ih`` (G*hidden_size, input_size), ``weight_hh``
    (G*hidden_size, hidden_size), ``bias_ih`` and ``bias_hh`` (G*hidden_size,), initialised
    U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(_creation.empty(num_chunks * hidden_size, input_size, device=device, dtype=dtype))
        self.weight_hh = Parameter(_creation.empty(num_chunks * hidden_size, hidden_size, device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(_creation.empty(num_chunks * hidden_size, device=device, dtype=dtype))
            self.bias_hh = Parameter(_creation.empty(num_chunks * hidden_size, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _step(self, mode: str, name: str, input, states: list, labels: list):
        """One fused step: returns the new states, unbatched again when the input was."""
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        for state, label in zip(states, labels):
            if state is not None and state.dim() not in (1, 2):
                what = "hidden" if label == "" else f"hx{label}"
                raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {state.dim()}D instead")
        is_batched = input.dim() == 2
        if not is_batched:
            input = input.unsqueeze(0)
            states = [None if s is None else s.unsqueeze(0) for s in states]
        if input.dtype is not self.weight_ih.dtype:
            raise ValueError(f"input must have the type {self.weight_ih.dtype}, got type {input.dtype}")
        if input.size(1) != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.size(1)} expected {self.input_size}")
        for state, label in zip(states, labels):
            if state is None:
                continue
            if state.size(0) != input.size(0):
                raise RuntimeError(f"Input batch size {input.size(0)} doesn't match hidden{label} batch size "
                                   f"{state.size(0)}")
            if state.size(1) != self.hidden_size:
                raise RuntimeError(f"hidden{label} has inconsistent hidden_size: got {state.size(1)}, expected "
                                   f"{self.hidden_size}")
        _same_device(input, [s for s in states if s is not None], "hidden")
        _same_device(input, list(self.parameters()), "parameter")
        h0, c0 = states[0], (states[1] if mode == "LSTM" else None)
        res = RecurrentLayer.apply(input.unsqueeze(0), h0, c0, self.weight_ih, self.weight_hh,
                                   self.bias_ih, self.bias_hh, mode, False)[1:]
        return [r if is_batched else r.squeeze(0) for r in res]


class RNNCell(RNNCellBase):
    """``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``, act tanh or relu. Input (N, H_in) or
    (H_in,), hidden (N, H) or (H,) (default zeros); returns h'."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return self._step(mode, "RNNCell", input, [hx], [""])[0]


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o). Input (N, H_in) or (H_in,), hx = (h, c) (default zeros);
    returns (h', c')."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        states = list(hx) if hx is not None else [None, None]
        h, c = self._step("LSTM", "LSTMCell", input, states, ["[0]", "[1]"])
        return h, c


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n, with b_hn inside the reset product). Input (N, H_in) or
    (H_in,), hidden (N, H) or (H,) (default zeros); returns h'."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        return self._step("GRU", "GRUCell", input, [hx], [""])[0]


__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]
