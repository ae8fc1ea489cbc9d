"""RNN-generated encoding: the fused GRU against the gate equations, gradients."""

from __future__ import annotations

import pytest
import torch

from selfattn.positional import RNNEncoding, gru_reference


@pytest.mark.parametrize("length", [9, 1, 0])
def test_fused_gru_equals_the_step_by_step_twin_outputs_and_gradients(length):
    torch.manual_seed(0)
    enc = RNNEncoding(5, hidden=6, input_dim=3).double()
    with torch.no_grad():
        enc.h_init.normal_()
    fast = enc.hidden_states(length)
    slow = gru_reference(enc.gru, enc.u.expand(length, 3), enc.h_init)
    torch.testing.assert_close(fast, slow, atol=1e-12, rtol=0)
    torch_gru, _ = enc.gru(enc.u.expand(1, length, 3), enc.h_init[None, None]) if length else (slow, 0)
    torch.testing.assert_close(fast, torch_gru.reshape(length, 6), atol=1e-12, rtol=0)
    if length == 0:
        return
    w = torch.randn(length, 6, dtype=torch.float64)
    params = list(enc.parameters())
    g_fast = torch.autograd.grad((fast * w).sum(), params, allow_unused=True)
    g_slow = torch.autograd.grad((slow * w).sum(), params, allow_unused=True)
    for (name, _), a, b in zip(enc.named_parameters(), g_fast, g_slow, strict=True):
        if name.startswith("out."):  # the output layer is not part of the states
            assert a is None and b is None
        else:
            torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10, msg=name)


def test_every_parameter_learns_and_positions_differ():
    torch.manual_seed(1)
    enc = RNNEncoding(4, hidden=5)
    e = enc.table(12)
    assert e.shape == (12, 4)
    assert (e[1:] - e[:-1]).abs().sum(-1).min() > 0  # consecutive positions are told apart
    e.pow(2).sum().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_packed_sets_restart_the_recurrence():
    enc = RNNEncoding(4)
    e = enc(torch.zeros(5, 4), offsets=torch.tensor([0, 2, 5]))
    table = enc.table(3)
    torch.testing.assert_close(e, torch.cat([table[:2], table[:3]]))
