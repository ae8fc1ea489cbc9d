"""FLOATER's RK4 solve with a hand-written backward: the fast path of ``rk4_solve``.

``rk4_solve(FloaterDynamics, p0, L)`` through autograd records ~25 tiny operations per
position and, in the backward pass, forms and accumulates one ``(E, hidden)`` weight
gradient per evaluation of ``h`` (4 per step): at ``L = 1024`` that bookkeeping, not the
arithmetic, is the cost. ``floater_rk4`` runs the same steps without a graph and
back-propagates through them by hand (the discrete adjoint of RK4: exact gradients of the
computed trajectory, not of the ODE), collecting every stage's vectors and forming each
weight gradient with one matrix product at the end.

For ``h(y) = Omega y + W2 a``, ``a = tanh(W1 y + b1)``, a cotangent ``g`` of ``k = h(y)``
gives ``delta = (1 - a^2) * (W2^T g)``, ``dL/dy = Omega^T g + W1^T delta``,
``dW2 += g a^T``, ``dW1 += delta y^T``, ``db1 += delta``. Going back through one step
``p' = p + h/6 (k1 + 2 k2 + 2 k3 + k4)`` with cotangent ``G`` of ``p'``: the stages get
``h/6, h/3, h/3, h/6`` of ``G``, stage 4's ``dL/dy4`` adds ``h`` times itself to stage 3's
cotangent, stage 3's adds ``h/2`` to stage 2's, stage 2's ``h/2`` to stage 1's, and
``dL/dp = G + sum_s dL/dy_s``.

Shapes: ``p0 (E,)``, ``W1 (hidden, E)``, ``b1 (hidden,)``, ``W2 (E, hidden)``, ``omega
(E, E)`` (a constant); returns ``(num_points, E)``. The twin is ``rk4_solve`` with a
``FloaterDynamics``; the tests compare outputs and every gradient in float64.
"""

from __future__ import annotations

import torch

__all__ = ["floater_rk4"]


def _eval(y, w1, b1, w2, omega):
    """``(k, a)``: ``h(y)`` and the hidden activation."""
    a = torch.tanh(torch.addmv(b1, w1, y))
    return torch.addmv(torch.mv(w2, a), omega, y), a


class _FloaterRK4(torch.autograd.Function):
    @staticmethod
    def forward(ctx, p0, w1, b1, w2, omega, num_points: int, substeps: int):  # type: ignore[override]
        h = 1.0 / substeps
        p, out = p0, [p0]
        ys, acts = [], []  # per stage, in order of evaluation
        for _ in range(num_points - 1):
            for _ in range(substeps):
                y1 = p
                k1, a1 = _eval(y1, w1, b1, w2, omega)
                y2 = torch.add(p, k1, alpha=0.5 * h)
                k2, a2 = _eval(y2, w1, b1, w2, omega)
                y3 = torch.add(p, k2, alpha=0.5 * h)
                k3, a3 = _eval(y3, w1, b1, w2, omega)
                y4 = torch.add(p, k3, alpha=h)
                k4, a4 = _eval(y4, w1, b1, w2, omega)
                p = torch.add(p, torch.add(torch.add(k1, torch.add(k2, k3), alpha=2.0), k4),
                              alpha=h / 6.0)
                ys += [y1, y2, y3, y4]
                acts += [a1, a2, a3, a4]
            out.append(p)
        e = torch.stack(out[:num_points])
        empty_y = p0.new_zeros(0, p0.shape[0])
        y_all = torch.stack(ys) if ys else empty_y
        a_all = torch.stack(acts) if acts else p0.new_zeros(0, b1.shape[0])
        ctx.save_for_backward(w1, w2, omega, y_all, a_all)
        ctx.num_points, ctx.substeps = num_points, substeps
        return e

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_e):  # type: ignore[override]
        w1, w2, omega, y_all, a_all = ctx.saved_tensors
        h = 1.0 / ctx.substeps
        d_all = 1.0 - a_all * a_all  # tanh' at every stage
        w2t, w1t, omegat = w2.T, w1.T, omega.T
        g_rev, delta_rev = [], []  # per stage, last stage first: cotangent of k_s, delta_s
        gp = grad_e[ctx.num_points - 1]
        s = y_all.shape[0]
        for point in range(ctx.num_points - 1, 0, -1):
            for _ in range(ctx.substeps):
                s -= 4
                gk = [gp * (h / 6.0), gp * (h / 3.0), gp * (h / 3.0), None]
                gk[3] = gk[0]
                gy_sum = gp
                for stage in (3, 2, 1, 0):
                    g = gk[stage]
                    dl = torch.mv(w2t, g).mul_(d_all[s + stage])
                    gy = torch.addmv(torch.mv(w1t, dl), omegat, g)
                    g_rev.append(g)
                    delta_rev.append(dl)
                    if stage == 3:
                        gk[2] = torch.add(gk[2], gy, alpha=h)
                    elif stage in (2, 1):
                        gk[stage - 1] = torch.add(gk[stage - 1], gy, alpha=0.5 * h)
                    gy_sum = gy_sum + gy
                gp = gy_sum
            gp = gp + grad_e[point - 1]
        if not g_rev:  # a single point: the weights were not used
            z = grad_e.new_zeros
            return gp, z(w1.shape), z(w1.shape[0]), z(w2.shape), None, None, None
        g_stage = torch.stack(g_rev[::-1])
        delta = torch.stack(delta_rev[::-1])
        grad_p0 = gp
        grad_w2 = g_stage.T @ a_all
        grad_w1 = delta.T @ y_all
        grad_b1 = delta.sum(0)
        return grad_p0, grad_w1, grad_b1, grad_w2, None, None, None


def floater_rk4(p0: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
                omega: torch.Tensor, num_points: int, substeps: int = 1) -> torch.Tensor:
    """``(num_points, E)``: the RK4 trajectory of ``dp/dt = Omega p + W2 tanh(W1 p + b1)``
    at ``t = 0, 1, ...``, ``substeps`` steps per unit; differentiable in ``p0, W1, b1, W2``."""
    if num_points <= 0:
        return p0.new_zeros(0, p0.shape[0])
    return _FloaterRK4.apply(p0, w1, b1, w2, omega, num_points, substeps)
