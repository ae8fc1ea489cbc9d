"""FLOATER: the RK4 solver against closed-form solutions, gradients, per-set positions."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from selfattn.positional import FloaterEncoding, SinusoidalEncoding, rk4_solve


class Linear(nn.Module):
    """dp/dt = A p: the solution is p(t) = expm(A t) p(0)."""

    def __init__(self, a: torch.Tensor) -> None:
        super().__init__()
        self.a = nn.Parameter(a)

    def forward(self, p):
        return p @ self.a.T


def exact_linear(a: torch.Tensor, p0: torch.Tensor, length: int) -> torch.Tensor:
    return torch.stack([torch.linalg.matrix_exp(a * t) @ p0 for t in range(length)])


def test_rk4_converges_to_the_exact_solution_at_fourth_order():
    torch.manual_seed(0)
    m = torch.randn(4, 4, dtype=torch.float64)
    a = (m - m.T) * 0.3 - 0.1 * torch.eye(4, dtype=torch.float64)  # damped rotations
    p0 = torch.randn(4, dtype=torch.float64)
    exact = exact_linear(a, p0, 12)
    errors = [(rk4_solve(Linear(a), p0, 12, substeps=s) - exact).abs().max().item() for s in (1, 2, 4, 8, 16)]
    assert errors[-1] < 1e-6
    # Halving the step divides the error by 2^4 = 16 for a 4th-order method.
    for coarse, fine in itertools.pairwise(errors):
        assert 11 < coarse / fine < 22, errors


def test_with_the_learned_part_off_floater_is_a_sinusoidal_encoding():
    # RK4's error per step of size h at frequency 1 is ~h^5/120: 30 * 16 steps of 1/16
    # add up to ~4e-6.
    enc = FloaterEncoding(6, hidden=4, substeps=16, omega_max=1.0).double()
    with torch.no_grad():
        enc.dynamics.lin2.weight.zero_()
    # omega_max = 1 and base 10000: the frequencies of the sinusoidal encoding.
    torch.testing.assert_close(enc.table(30), SinusoidalEncoding(6).table(30, torch.float64),
                               atol=1e-5, rtol=0)


def test_default_start_is_near_the_clocks_and_bent_by_the_learned_part():
    enc = FloaterEncoding(8).double()  # omega_max 0.5, small learned part
    t = enc.table(200).detach()
    omega = 0.5 * torch.exp(torch.arange(0, 8, 2, dtype=torch.float64) * (-math.log(1e4) / 8))
    angle = torch.arange(200, dtype=torch.float64)[:, None] * omega
    clocks = torch.stack((torch.sin(angle), torch.cos(angle)), dim=-1).flatten(1)
    deviation = (t - clocks).abs().max()
    assert 1e-6 < deviation < 0.05, deviation


def test_every_parameter_gets_a_gradient_and_it_is_the_right_one():
    torch.manual_seed(1)
    enc = FloaterEncoding(4, hidden=3, init_scale=0.5).double()
    x = torch.zeros(1, 6, 4, dtype=torch.float64)
    enc(x).pow(2).sum().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    names = [n for n, _ in enc.named_parameters()]

    def table_of(*params):
        return torch.func.functional_call(enc, dict(zip(names, params, strict=True)), (x,))

    params = tuple(p.detach().clone().requires_grad_(True) for p in enc.parameters())
    assert torch.autograd.gradcheck(table_of, params)


def test_packed_sets_start_at_position_zero():
    enc = FloaterEncoding(4, hidden=3)
    x = torch.zeros(9, 4)
    e = enc(x, offsets=torch.tensor([0, 4, 9]))
    table = enc.table(5)
    torch.testing.assert_close(e, torch.cat([table[:4], table[:5]]))


def test_bad_arguments():
    with pytest.raises(ValueError, match="substeps: expected at least 1, got 0"):
        FloaterEncoding(4, substeps=0)
    with pytest.raises(ValueError, match="hidden: expected at least 1, got 0"):
        FloaterEncoding(4, hidden=0)
    assert math.isfinite(FloaterEncoding(3).table(4).sum().item())  # odd dim: a lone slot


@pytest.mark.parametrize("substeps,length", [(1, 7), (3, 4), (1, 1), (2, 0)])
def test_fused_solver_equals_autograd_through_rk4_outputs_and_gradients(substeps, length):
    torch.manual_seed(2)
    enc = FloaterEncoding(6, hidden=5, substeps=substeps, init_scale=0.7).double()
    with torch.no_grad():
        enc.p0.normal_()
        enc.dynamics.lin1.bias.normal_()
    fast = enc.table(length)
    slow = rk4_solve(enc.dynamics, enc.p0, length, substeps)
    torch.testing.assert_close(fast, slow, atol=1e-12, rtol=0)
    if length == 0:
        return
    probe = torch.randn(length, 6, dtype=torch.float64)
    params = [enc.p0, enc.dynamics.lin1.weight, enc.dynamics.lin1.bias, enc.dynamics.lin2.weight]
    g_fast = torch.autograd.grad((fast * probe).sum(), params, allow_unused=True)
    g_slow = torch.autograd.grad((slow * probe).sum(), params, allow_unused=True)
    for name, p, a, b in zip(["p0", "W1", "b1", "W2"], params, g_fast, g_slow, strict=True):
        a = torch.zeros_like(p) if a is None else a  # one point: the weights are unused
        b = torch.zeros_like(p) if b is None else b
        torch.testing.assert_close(a, b, atol=1e-11, rtol=1e-10, msg=name)
