"""FLOATER: the position encoding as the solution of a learned ODE over position.

Liu et al. (2020), one of the four encodings in the lecture's comparison figure, treat the
encoding as a continuous trajectory ``p(t)`` through ``R^E`` and learn its dynamics:

    dp/dt = h(p(t); theta),     e_i = p(i)       (position i is time t = i)

so the model chooses how positions relate, any length is defined (integrate further), and
the parameters do not grow with the length. The sinusoidal encoding is the special case
of a rotation, ``dp/dt = Omega p`` (each pair of dimensions a clock at frequency
``omega_k``). Here ``h`` is that rotation plus a learned network,

    h(p) = Omega p + W2 tanh(W1 p + b1),

with ``p(0)`` learned and started at the sinusoidal ``e_0 = (0, 1, 0, 1, ...)`` and ``W2``
started small: at initialisation FLOATER is close to a sinusoidal encoding (fastest clock
``omega_max`` radians per position) and training bends the trajectory. The dynamics have
no explicit time input: the flow is the same at every position, so ``e_{i+k}`` is a fixed
function of ``e_i``, the property that makes the sinusoidal encoding attractive.

Solver: classical Runge-Kutta (RK4) with a fixed step ``1 / substeps``, no extra
dependency. Gradients are those of the computed trajectory (back-propagation through the
solver's steps, not the continuous adjoint): ``rk4_solve`` gets them from autograd, and
``floater_fused.floater_rk4``, used for the built-in dynamics, by hand in a fraction of
the time (any other ``dynamics=`` module goes through ``rk4_solve``). Per step the amplitude
of a clock at ``omega`` changes by a factor ``|R(i omega h)|`` of RK4's stability
polynomial, about ``1 - (omega h)^6 / 144``: with the default ``omega_max = 0.5`` and one
step per position the fastest clock keeps 99.99% of its amplitude per position (90% after
1000 positions); more ``substeps`` make it exact faster than they cost (4th order).

The cost is sequential in the length: ``L - 1`` steps of four evaluations of ``h``, paid
once per forward (not per set: the table for the longest set is computed and indexed).

Shapes: added to padded ``x (B, L, E)`` or packed ``x (N, E)`` (see ``AbsoluteEncoding``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import AbsoluteEncoding
from .floater_fused import floater_rk4

__all__ = ["FloaterDynamics", "FloaterEncoding", "rk4_solve"]


def rk4_solve(f, p0: torch.Tensor, num_points: int, substeps: int = 1) -> torch.Tensor:
    """``(num_points, *p0.shape)``: ``p(0), p(1), ...`` for ``dp/dt = f(p)``, ``p(0) = p0``,
    with ``substeps`` RK4 steps of size ``1 / substeps`` between consecutive points."""
    if substeps < 1:
        raise ValueError(f"substeps: expected at least 1, got {substeps}")
    h = 1.0 / substeps
    p, out = p0, [p0]
    for _ in range(num_points - 1):
        for _ in range(substeps):
            k1 = f(p)
            k2 = f(torch.add(p, k1, alpha=0.5 * h))
            k3 = f(torch.add(p, k2, alpha=0.5 * h))
            k4 = f(torch.add(p, k3, alpha=h))
            # p + h/6 (k1 + 2 k2 + 2 k3 + k4), in four fused ops (this loop is the cost)
            p = torch.add(p, torch.add(torch.add(k1, torch.add(k2, k3), alpha=2.0), k4),
                          alpha=h / 6.0)
        out.append(p)
    return torch.stack(out[:num_points]) if num_points > 0 else p0.new_zeros(0, *p0.shape)


class FloaterDynamics(nn.Module):
    """``h(p) = Omega p + W2 tanh(W1 p + b1)`` for ``p (E,)`` (or ``(..., E)``).

    Args:
        dim: ``E``. hidden: width of the learned network.
        omega_max: frequency of the fastest clock of ``Omega`` (radians per position);
            the others fall geometrically to ``omega_max / base``, as the sinusoidal ones.
        base: ratio of the fastest to the slowest frequency.
        init_scale: ``W2`` starts as ``N(0, init_scale^2 / hidden)``.
    """

    def __init__(self, dim: int, hidden: int, omega_max: float = 0.5, base: float = 10000.0,
                 init_scale: float = 1e-4) -> None:
        super().__init__()
        if hidden < 1:
            raise ValueError(f"hidden: expected at least 1, got {hidden}")
        pairs = torch.arange(0, dim, 2, dtype=torch.float64)
        omega = omega_max * torch.exp(pairs * (-math.log(base) / dim))
        # Omega rotates each (sin, cos) pair: d/dt (s, c) = omega (c, -s). An odd last
        # dimension has no partner and no rotation.
        gen = torch.zeros(dim, dim, dtype=torch.float64)
        for k, w in enumerate(omega.tolist()):
            if 2 * k + 1 < dim:
                gen[2 * k, 2 * k + 1] = w
                gen[2 * k + 1, 2 * k] = -w
        self.register_buffer("omega", gen.to(torch.get_default_dtype()))
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim, bias=False)
        nn.init.normal_(self.lin2.weight, std=init_scale / math.sqrt(hidden))

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        g = self.lin2(torch.tanh(self.lin1(p)))
        if p.dim() == 1:  # the solver's case: one fused op instead of two
            return torch.addmv(g, self.omega, p)
        return g + p @ self.omega.T


class FloaterEncoding(AbsoluteEncoding):
    """``e_i = p(i)`` for the learned ODE above.

    Args:
        dim: ``E``. hidden: width of the dynamics' network (autograd keeps one weight
            gradient per evaluation of ``h``, so its cost grows with ``E * hidden``).
        substeps: RK4 steps per position. omega_max, base, init_scale: see
            ``FloaterDynamics``.
        dynamics: a module ``f(p) -> dp/dt`` to use instead (its initial value stays the
            learned ``p0``).
    """

    name = "floater"

    def __init__(self, dim: int, hidden: int = 64, substeps: int = 1,
                 omega_max: float = 0.5, base: float = 10000.0, init_scale: float = 1e-4,
                 dynamics: nn.Module | None = None) -> None:
        super().__init__(dim)
        if substeps < 1:
            raise ValueError(f"substeps: expected at least 1, got {substeps}")
        self.substeps = substeps
        self.dynamics = dynamics or FloaterDynamics(dim, hidden, omega_max, base, init_scale)
        p0 = torch.zeros(dim)
        p0[1::2] = 1.0  # the sinusoidal e_0: sin 0 = 0, cos 0 = 1
        self.p0 = nn.Parameter(p0)

    def table(self, length: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        if length < 0:
            raise ValueError(f"length: expected >= 0, got {length}")
        dyn = self.dynamics
        if type(dyn) is FloaterDynamics:  # the fast path: same steps, hand-written backward
            e = floater_rk4(self.p0, dyn.lin1.weight, dyn.lin1.bias, dyn.lin2.weight,
                            dyn.omega.to(self.p0.dtype), length, self.substeps)
        else:
            e = rk4_solve(dyn, self.p0, length, self.substeps)
        return e if dtype is None else e.to(dtype)

    def encode(self, positions: torch.Tensor, set_lengths: torch.Tensor,
               dtype: torch.dtype) -> torch.Tensor:
        if positions.numel() == 0:
            return self.p0.new_zeros(*positions.shape, self.dim).to(dtype)
        return self.table(int(positions.max()) + 1, dtype)[positions]

    def extra_repr(self) -> str:
        return f"dim={self.dim}, substeps={self.substeps}"
