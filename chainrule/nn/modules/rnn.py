"""Recurrent layers ``RNN``, ``LSTM``, ``GRU`` and their cells, with PyTorch's parameter
names (``weight_ih_l0``, ``bias_hh_l1_reverse`` ...), gate order and shapes.

Gate order: LSTM ``(i, f, g, o)``, GRU ``(r, z, n)`` stacked along dim 0 of the weights.
A layer projects the whole input sequence with one matmul, then steps through time; the
engine differentiates the unrolled loop (backpropagation through time).
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

import chainrule as _cr

from ... import _creation
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _rnn_step(xp, h, w_hh, b_hh, act):
    return act(xp + F.linear(h, w_hh, b_hh))


def _lstm_step(xp, state, w_hh, b_hh):
    h, c = state
    i, f, g, o = (xp + F.linear(h, w_hh, b_hh)).chunk(4, -1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def _gru_step(xp, h, w_hh, b_hh):
    xr, xz, xn = xp.chunk(3, -1)
    hr, hz, hn = F.linear(h, w_hh, b_hh).chunk(3, -1)
    r = (xr + hr).sigmoid()
    z = (xz + hz).sigmoid()
    n = (xn + r * hn).tanh()
    return (1 - z) * n + z * h


class RNNBase(Module):
    """Parameters and the time loop shared by ``RNN``, ``LSTM`` and ``GRU``."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 \
                or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout option adds dropout after all but last recurrent layer, "
                          f"so non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=2)
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError("hidden_size must be an integer greater than zero")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError("num_layers must be an integer greater than zero")
        if isinstance(proj_size, int) and proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if isinstance(proj_size, int) and proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        gate = _GATES[mode] * hidden_size
        dirs = 2 if bidirectional else 1
        # with projections (LSTM only) the hidden state h has proj_size features, the cell
        # state c keeps hidden_size: h_t = (o * tanh(c_t)) W_hr^T
        real_hidden = proj_size if proj_size > 0 else hidden_size
        kw = {"dtype": dtype, "device": device}
        self._flat_weights_names = []
        for layer in range(num_layers):
            for direction in range(dirs):
                layer_in = input_size if layer == 0 else real_hidden * dirs
                suffix = "_reverse" if direction == 1 else ""
                shapes = [("weight_ih", (gate, layer_in)), ("weight_hh", (gate, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (gate,)), ("bias_hh", (gate,))]
                if proj_size > 0:
                    shapes += [("weight_hr", (proj_size, hidden_size))]
                for name, shape in shapes:
                    full = f"{name}_l{layer}{suffix}"
                    setattr(self, full, Parameter(_creation.empty(shape, **kw)))
                    self._flat_weights_names.append(full)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    @property
    def all_weights(self):
        return [[getattr(self, n) for n in self._flat_weights_names
                 if n.endswith(f"_l{layer}{sfx}") and (sfx or not n.endswith("_reverse"))]
                for layer in range(self.num_layers)
                for sfx in (("", "_reverse") if self.bidirectional else ("",))]

    def flatten_parameters(self) -> None:
        """A no-op (PyTorch uses it to pack weights for cuDNN)."""

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    # ---- forward ---------------------------------------------------------------------
    def _weights(self, layer, direction):
        sfx = f"_l{layer}" + ("_reverse" if direction else "")
        get = self._parameters.get
        return (get("weight_ih" + sfx), get("weight_hh" + sfx), get("bias_ih" + sfx),
                get("bias_hh" + sfx), get("weight_hr" + sfx))

    def _step(self, xp, state, w_hh, b_hh):
        if self.mode == "LSTM":
            return _lstm_step(xp, state, w_hh, b_hh)
        if self.mode == "GRU":
            return _gru_step(xp, state, w_hh, b_hh)
        act = _cr.tanh if self.mode == "RNN_TANH" else _cr.relu
        return _rnn_step(xp, state, w_hh, b_hh, act)

    def _run_direction(self, x, state, layer, direction, masks=None):
        w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, direction)
        proj = F.linear(x, w_ih, b_ih)  # (L, N, gates): one product for all time steps
        steps = range(x.shape[0] - 1, -1, -1) if direction else range(x.shape[0])
        outs = [None] * x.shape[0]
        for t in steps:
            new = self._step(proj[t], state, w_hh, b_hh)
            if w_hr is not None:  # LSTM projections (proj_size > 0)
                new = (F.linear(new[0], w_hr), new[1])
            if masks is not None:  # packed input: a finished sequence keeps its state
                new = tuple(_cr.where(masks[t], a, b) for a, b in zip(new, state)) \
                    if self.mode == "LSTM" else _cr.where(masks[t], new, state)
            state = new
            outs[t] = state[0] if self.mode == "LSTM" else state
        return _cr.stack(outs, 0), state

    def _check(self, input, hx):
        if input.dim() not in (2, 3):
            raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got "
                             f"{input.dim()}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.shape[-1]}")
        batched = input.dim() == 3
        hs = [] if hx is None else (list(hx) if self.mode == "LSTM" else [hx])
        for h in hs:
            if batched and h.dim() != 3:
                raise RuntimeError(f"For batched 3-D input, hx should also be 3-D but got "
                                   f"{h.dim()}-D tensor")
            if not batched and h.dim() != 2:
                raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but got "
                                   f"{h.dim()}-D tensor")
        return batched

    def forward(self, input, hx=None):
        from ..utils.rnn import PackedSequence, pad_packed_sequence
        if isinstance(input, PackedSequence):
            # each sequence runs over its own steps: the padded batch (original order)
            # with the state frozen past a sequence's length, then packed again
            padded, lengths = pad_packed_sequence(input)
            steps = np.arange(padded.shape[0])[:, None, None]
            masks = _creation.tensor(steps < lengths.numpy()[None, :, None])
            out, hidden = self._forward(padded, hx, masks, batch_first=False)
            return _repack(out, input), hidden
        return self._forward(input, hx, None, self.batch_first)

    def _forward(self, input, hx, masks, batch_first):
        batched = self._check(input, hx)
        x = input if batched else input.unsqueeze(1)
        if batch_first and batched:
            x = x.transpose(0, 1)
        dirs = 2 if self.bidirectional else 1
        n = x.shape[1]
        expected = (self.num_layers * dirs, n, self.hidden_size)
        # h has proj_size features when the LSTM projects (c keeps hidden_size)
        expect = [(self.num_layers * dirs, n, self.proj_size or self.hidden_size), expected] \
            if self.mode == "LSTM" else [expected]
        if hx is None:
            hs = [_creation.zeros(e, dtype=input.dtype) for e in expect]
        else:
            hs = list(hx) if self.mode == "LSTM" else [hx]
            if not batched:
                hs = [h.unsqueeze(1) for h in hs]
            for i, (h, e) in enumerate(zip(hs, expect)):
                if tuple(h.shape) != e:
                    which = f"hidden[{i}]" if self.mode == "LSTM" else "hidden"
                    raise RuntimeError(f"Expected {which} size {e}, got {list(h.shape)}")
        finals = [[] for _ in hs]
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                state = (hs[0][k], hs[1][k]) if self.mode == "LSTM" else hs[0][k]
                out, state = self._run_direction(x, state, layer, d, masks)
                outs.append(out)
                for lst, s in zip(finals, state if self.mode == "LSTM" else (state,)):
                    lst.append(s)
            x = outs[0] if dirs == 1 else _cr.cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        if batch_first and batched:
            x = x.transpose(0, 1)
        finals = [_cr.stack(f, 0) for f in finals]
        if not batched:
            x = x.squeeze(1)
            finals = [f.squeeze(1) for f in finals]
        return (x, tuple(finals)) if self.mode == "LSTM" else (x, finals[0])


def _repack(out, like):
    """``out`` (T, B, *), in the batch's original order, packed as ``like`` is."""
    from ..utils.rnn import PackedSequence
    sizes = like.batch_sizes.numpy()
    b = out.shape[1]
    order = np.arange(b) if like.sorted_indices is None else like.sorted_indices.numpy()
    rows = np.concatenate([t * b + order[:k] for t, k in enumerate(sizes)])
    flat = out.reshape(out.shape[0] * b, *out.shape[2:])
    return PackedSequence(flat[_creation.tensor(rows.astype(np.int64))], like.batch_sizes,
                          like.sorted_indices, like.unsorted_indices)


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or relu).

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False)``; returns ``(output, h_n)``.
    """

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        args = list(args)
        if len(args) > 3:
            nonlinearity = args.pop(3)
        else:
            nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             f"'relu'.")
        super().__init__(mode, *args, **kwargs)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory: gates ``(i, f, g, o)``; returns ``(output, (h_n, c_n))``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit: gates ``(r, z, n)``,
    ``h_t = (1 - z) * n + z * h_{t-1}``; returns ``(output, h_n)``."""

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


class _CellBase(Module):
    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        kw = {"dtype": dtype, "device": device}
        gate = self._gates * hidden_size
        self.weight_ih = Parameter(_creation.empty((gate, input_size), **kw))
        self.weight_hh = Parameter(_creation.empty((gate, hidden_size), **kw))
        if bias:
            self.bias_ih = Parameter(_creation.empty(gate, **kw))
            self.bias_hh = Parameter(_creation.empty(gate, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def _prepare(self, input, hx, n_states):
        if input.dim() not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got "
                             f"{input.dim()}D instead")
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        if hx is None:
            z = _creation.zeros((x.shape[0], self.hidden_size), dtype=input.dtype)
            hx = (z,) * n_states
        else:
            hx = tuple(hx) if n_states > 1 else (hx,)
            if not batched:
                hx = tuple(h.unsqueeze(0) for h in hx)
        return batched, x, hx

    def _xp(self, x):
        return F.linear(x, self.weight_ih, self.bias_ih)


class RNNCell(_CellBase):
    """One Elman RNN step: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        batched, x, (h,) = self._prepare(input, hx, 1)
        act = _cr.tanh if self.nonlinearity == "tanh" else _cr.relu
        out = _rnn_step(self._xp(x), h, self.weight_hh, self.bias_hh, act)
        return out if batched else out.squeeze(0)


class LSTMCell(_CellBase):
    """One LSTM step; returns ``(h', c')``."""

    _gates = 4

    def forward(self, input, hx=None):
        batched, x, state = self._prepare(input, hx, 2)
        h, c = _lstm_step(self._xp(x), state, self.weight_hh, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(_CellBase):
    """One GRU step."""

    _gates = 3

    def forward(self, input, hx=None):
        batched, x, (h,) = self._prepare(input, hx, 1)
        out = _gru_step(self._xp(x), h, self.weight_hh, self.bias_hh)
        return out if batched else out.squeeze(0)
