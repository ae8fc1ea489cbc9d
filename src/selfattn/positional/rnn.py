"""RNN-generated position encoding: ``e_i`` is the output of a recurrent network at step i.

The last scheme of the lecture's comparison figure: instead of a table (one free vector
per position) or a closed formula, a recurrent network walks over the positions and emits
one vector per step,

    h_0 = h_init,   h_{i+1} = GRU(u, h_i),   e_i = W_out h_i,

with a learned input ``u`` that is the same at every step: the only thing that tells
step ``i`` from step ``i + 1`` is the recurrence itself, so ``e_i`` is a learned function
of the position that is defined for every length (run more steps) and has a fixed number
of parameters. It is the discrete-time counterpart of FLOATER's ODE.

A recurrence with a constant input settles: a GRU at its default initialisation reaches
its fixed point within a few steps, after which every position looks the same. The
update gates therefore start with the "chrono" initialisation (Tallec and Ollivier,
2018): unit ``k`` keeps a fraction ``1 - 1/tau_k`` of its state per step, with time
constants ``tau_k`` spread geometrically from 2 to ``timescale`` positions, so the state
drifts at many speeds and positions up to about ``timescale`` are told apart.

The parameters live in a ``torch.nn.GRU``; the steps run in ``rnn_fused.gru_constant_input``
(the same equations with a hand-written backward: PyTorch's CPU GRU spends seconds per
backward at ``L = 1024`` forming one recurrent weight gradient per step).
``gru_reference`` is the slow twin, the gate equations written out step by step; the
tests hold both, and ``nn.GRU`` itself, to the same numbers.

Shapes: added to padded ``x (B, L, E)`` or packed ``x (N, E)`` (see ``AbsoluteEncoding``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import AbsoluteEncoding
from .rnn_fused import gru_constant_input

__all__ = ["RNNEncoding", "gru_reference"]


def gru_reference(gru: nn.GRU, inputs: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """``(L, hidden)`` hidden states of a one-layer ``gru`` over ``inputs (L, in)`` from
    ``h0 (hidden,)``, with PyTorch's gate equations one step at a time:

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h
    """
    w_ir, w_iz, w_in = gru.weight_ih_l0.chunk(3)
    w_hr, w_hz, w_hn = gru.weight_hh_l0.chunk(3)
    b_ir, b_iz, b_in = gru.bias_ih_l0.chunk(3)
    b_hr, b_hz, b_hn = gru.bias_hh_l0.chunk(3)
    h, out = h0, []
    for x in inputs:
        r = torch.sigmoid(w_ir @ x + b_ir + w_hr @ h + b_hr)
        z = torch.sigmoid(w_iz @ x + b_iz + w_hz @ h + b_hz)
        n = torch.tanh(w_in @ x + b_in + r * (w_hn @ h + b_hn))
        h = (1 - z) * n + z * h
        out.append(h)
    return torch.stack(out) if out else h0.new_zeros(0, h0.shape[0])


class RNNEncoding(AbsoluteEncoding):
    """``e_i = W_out h_i`` for a GRU run over positions (see the module docstring).

    Args:
        dim: ``E``. hidden: the GRU's state size (default ``E``).
        input_dim: size of the constant input ``u`` (default 16).
        timescale: the slowest update gate's time constant, in positions (see above).

    ``table(L)`` runs the GRU ``L`` steps: position 0 is the state after one step.
    """

    name = "rnn"

    def __init__(self, dim: int, hidden: int | None = None, input_dim: int = 16,
                 timescale: float = 1000.0) -> None:
        super().__init__(dim)
        hidden = hidden or dim
        if hidden < 1 or input_dim < 1:
            raise ValueError(f"hidden, input_dim: expected positive sizes, got {hidden} and "
                             f"{input_dim}")
        if timescale <= 2:
            raise ValueError(f"timescale: expected more than 2 positions, got {timescale}")
        self.gru = nn.GRU(input_dim, hidden, batch_first=True)
        with torch.no_grad():
            # z = sigmoid(b) = 1 - 1/tau keeps 1 - 1/tau of the state per step.
            tau = torch.logspace(math.log10(2.0), math.log10(timescale), hidden)
            self.gru.bias_ih_l0[hidden:2 * hidden] = torch.log(tau - 1)
            self.gru.bias_hh_l0[hidden:2 * hidden] = 0.0
        self.u = nn.Parameter(torch.randn(input_dim))
        self.h_init = nn.Parameter(torch.randn(hidden) * 0.1)
        self.out = nn.Linear(hidden, dim)

    def hidden_states(self, length: int) -> torch.Tensor:
        """``(length, hidden)``: the GRU's states ``h_1 .. h_length`` (fast path)."""
        g = self.gru
        return gru_constant_input(self.u, self.h_init, g.weight_ih_l0, g.weight_hh_l0,
                                  g.bias_ih_l0, g.bias_hh_l0, length)

    def table(self, length: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        if length < 0:
            raise ValueError(f"length: expected >= 0, got {length}")
        if length == 0:
            return self.out.weight.new_zeros(0, self.dim, dtype=dtype)
        e = self.out(self.hidden_states(length))
        return e if dtype is None else e.to(dtype)

    def encode(self, positions: torch.Tensor, set_lengths: torch.Tensor,
               dtype: torch.dtype) -> torch.Tensor:
        if positions.numel() == 0:
            return self.out.weight.new_zeros(*positions.shape, self.dim, dtype=dtype)
        return self.table(int(positions.max()) + 1, dtype)[positions]

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
