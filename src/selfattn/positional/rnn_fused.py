"""The RNN encoding's GRU with a hand-written backward: the fast path of ``nn.GRU`` here.

The encoding runs a one-layer GRU for ``L`` steps on a constant input. PyTorch's CPU GRU
back-propagates step by step and forms one ``(3H, H)`` recurrent weight gradient per step:
at ``L = 1024, H = 256`` that bookkeeping takes seconds. ``gru_constant_input`` runs the
same steps without a graph, keeps each step's gates, and back-propagates through time by
hand; the recurrent weight gradient is then one ``(3H, L) @ (L, H)`` product and, since
the input is the same at every step, the input weights' gradient is one outer product.

Per step, with ``gi = W_ih u + b_ih`` (constant) and ``gh = W_hh h + b_hh``:

    r = sigmoid(gi_r + gh_r),  z = sigmoid(gi_z + gh_z),  n = tanh(gi_n + r * gh_n)
    h' = (1 - z) * n + z * h

and for a cotangent ``g`` of ``h'``: ``dn = g (1 - z)``, ``dz = g (h - n)``,
``dh = g z + W_hh^T [da_r, da_z, da_n * r]`` with ``da_n = dn (1 - n^2)``,
``da_z = dz z (1 - z)``, ``da_r = da_n gh_n r (1 - r)``.

Shapes: ``u (I,)``, ``h0 (H,)``, ``w_ih (3H, I)``, ``w_hh (3H, H)``, biases ``(3H,)``;
returns the states ``h_1 .. h_L`` as ``(L, H)``. The twin is ``rnn.gru_reference`` (and
``nn.GRU``); the tests compare outputs and every gradient in float64.
"""

from __future__ import annotations

import torch

__all__ = ["gru_constant_input"]


class _GRUConstantInput(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, h0, w_ih, w_hh, b_ih, b_hh, length: int):  # type: ignore[override]
        hidden = h0.shape[0]
        gi = torch.addmv(b_ih, w_ih, u)
        gi_rz, gi_n = gi[: 2 * hidden], gi[2 * hidden:]
        h, states, rz_all, n_all, ghn_all = h0, [], [], [], []
        for _ in range(length):
            gh = torch.addmv(b_hh, w_hh, h)
            rz = torch.sigmoid(gi_rz + gh[: 2 * hidden])
            gh_n = gh[2 * hidden:]
            n = torch.tanh(torch.addcmul(gi_n, rz[:hidden], gh_n))
            h = torch.addcmul(n, rz[hidden:], h - n)  # (1 - z) n + z h
            states.append(h)
            rz_all.append(rz)
            n_all.append(n)
            ghn_all.append(gh_n)
        out = torch.stack(states)
        ctx.save_for_backward(u, h0, w_ih, w_hh, out, torch.stack(rz_all), torch.stack(n_all),
                              torch.stack(ghn_all))
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):  # type: ignore[override]
        u, h0, w_ih, w_hh, out, rz_all, n_all, ghn_all = ctx.saved_tensors
        hidden = h0.shape[0]
        length = out.shape[0]
        w_hh_t = w_hh.T.contiguous()
        prev = torch.cat([h0[None], out[:-1]])  # the state each step started from
        r, z = rz_all[:, :hidden], rz_all[:, hidden:]
        # Every factor that does not depend on the incoming cotangent, for all steps at once.
        f_n = (1 - z) * (1 - n_all * n_all)  # da_n = g * f_n
        f_z = (prev - n_all) * z * (1 - z)  # da_z = g * f_z
        f_r = ghn_all * r * (1 - r)  # da_r = da_n * f_r
        g = torch.zeros_like(h0)
        dgh_rev, dan_rev = [], []  # d(W_hh h + b_hh) and da_n per step, last step first
        for t in range(length - 1, -1, -1):
            g = g + grad_out[t]
            da_n = g * f_n[t]
            dgh = torch.cat([da_n * f_r[t], g * f_z[t], da_n * r[t]])
            dgh_rev.append(dgh)
            dan_rev.append(da_n)
            g = torch.addmv(g * z[t], w_hh_t, dgh)
        dgh_all = torch.stack(dgh_rev[::-1])  # (L, 3H)
        grad_w_hh = dgh_all.T @ prev
        grad_b_hh = dgh_all.sum(0)
        # The input gates see the same cotangents as the hidden ones, except n: da_n.
        dgi_sum = torch.cat([grad_b_hh[: 2 * hidden], torch.stack(dan_rev).sum(0)])
        grad_w_ih = torch.outer(dgi_sum, u)
        grad_u = w_ih.T @ dgi_sum
        return grad_u, g, grad_w_ih, grad_w_hh, dgi_sum, grad_b_hh, None


def gru_constant_input(u: torch.Tensor, h0: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
                       b_ih: torch.Tensor, b_hh: torch.Tensor, length: int) -> torch.Tensor:
    """``(length, H)``: the states of a one-layer GRU fed ``u`` at every step from ``h0``."""
    if length <= 0:
        return h0.new_zeros(0, h0.shape[0])
    return _GRUConstantInput.apply(u, h0, w_ih, w_hh, b_ih, b_hh, length)
