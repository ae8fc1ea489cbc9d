"""SelfAttention2d (SAGAN) against the paper's equations written literally, in float64."""

from __future__ import annotations

import pytest
import torch

from selfattn.nn import SelfAttention2d


def literal_sagan(block: SelfAttention2d, x: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """Zhang et al. 2019, section 3, one image at a time: s_ij = f(x_i)^T g(x_j),
    beta_ji = exp(s_ij) / sum_i exp(s_ij), o_j = W_v sum_i beta_ji h(x_i), y = gamma o + x.
    ``allowed[j, i]``: may pixel j attend to pixel i (default all)."""
    wf = block.key.weight[:, :, 0, 0]
    wg = block.query.weight[:, :, 0, 0]
    wh = block.value.weight[:, :, 0, 0]
    wv = block.out.weight[:, :, 0, 0]
    out = []
    for image in x:
        c, h, w = image.shape
        n = h * w
        X = image.reshape(c, n)                      # column i = x_i
        F, G, Hv = wf @ X, wg @ X, wh @ X
        rows = []
        for j in range(n):
            s = torch.stack([F[:, i] @ G[:, j] for i in range(n)]) * block.scale
            ok = torch.ones(n, dtype=torch.bool) if allowed is None else allowed[j]
            e = torch.where(ok, torch.exp(s - s[ok].max()), torch.zeros(()))
            beta = e / e.sum()
            rows.append(wv @ sum(beta[i] * Hv[:, i] for i in range(n)))
        O = torch.stack(rows, 1)
        out.append((block.gamma * O + X).reshape(c, h, w))
    return torch.stack(out)


def _block(channels=16, **kw) -> SelfAttention2d:
    torch.manual_seed(0)
    block = SelfAttention2d(channels, **kw).double()
    with torch.no_grad():
        block.gamma.fill_(0.7)
    return block


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (4, 4), (5, 2)])
@pytest.mark.parametrize("value_channels", [None, 3])
def test_equals_the_papers_equations_outputs_and_gradients(size, value_channels):
    block = _block(16, value_channels=value_channels)
    x = torch.randn(2, 16, *size, dtype=torch.float64, requires_grad=True)
    y, weights = block(x, return_weights=True)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:2], dtype=torch.float64))
    params = [x, block.gamma, block.key.weight, block.query.weight, block.value.weight, block.out.weight]
    g = torch.randn_like(y)
    got = torch.autograd.grad(y, params, g)
    ref = literal_sagan(block, x)
    want = torch.autograd.grad(ref, params, g)
    torch.testing.assert_close(y, ref, rtol=1e-10, atol=1e-10)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_gamma_zero_is_the_identity():
    block = SelfAttention2d(8)
    x = torch.randn(3, 8, 7, 9)
    assert torch.equal(block(x), x)
    assert block.gamma.item() == 0.0


def test_neighbourhood_equals_masked_literal():
    from selfattn.patterns import Neighborhood2DPattern

    block = _block(8, kernel_size=3)
    x = torch.randn(1, 8, 5, 6, dtype=torch.float64, requires_grad=True)
    allowed = Neighborhood2DPattern(5, 6, 3, border="clip").dense_mask(30, 30)
    y = block(x)
    ref = literal_sagan(block, x, allowed)
    torch.testing.assert_close(y, ref, rtol=1e-10, atol=1e-10)
    g = torch.randn_like(y)
    torch.testing.assert_close(torch.autograd.grad(y, x, g)[0], torch.autograd.grad(ref, x, g)[0])


def test_mask_padded_pixels_unattended_and_unchanged():
    block = _block(8)
    x = torch.randn(2, 8, 4, 5, dtype=torch.float64)
    mask = torch.zeros(2, 4, 5, dtype=torch.bool)
    mask[0, :3, :4] = True      # a 3x4 image padded to 4x5
    mask[1] = True
    y, w = block(x, mask=mask, return_weights=True)
    assert torch.isfinite(y).all()
    assert (w[0][:, ~mask[0].flatten()] == 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 20, dtype=torch.float64))
    assert torch.equal(y[0][:, ~mask[0]], x[0][:, ~mask[0]])
    # the real 3x4 image alone gives the same real pixels
    alone = block(x[:1, :, :3, :4].contiguous())
    torch.testing.assert_close(y[0, :, :3, :4], alone[0])
    # an image with no real pixel: no NaN, nothing changes
    empty = block(x[:1], mask=torch.zeros(1, 4, 5, dtype=torch.bool))
    assert torch.equal(empty, x[:1])


def test_weights_rows_are_distributions_and_spectral_norm_runs():
    block = SelfAttention2d(16, spectral_norm=True, bias=True)
    x = torch.randn(2, 16, 6, 6)
    y, w = block(x, return_weights=True)
    assert y.shape == x.shape and w.shape == (2, 36, 36)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 36))
    y.sum().backward()
    assert block.gamma.grad is not None


def test_bad_input_names_the_argument():
    block = SelfAttention2d(8)
    with pytest.raises(ValueError, match="x: expected"):
        block(torch.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match="mask: expected"):
        block(torch.randn(2, 8, 3, 3), mask=torch.ones(2, 3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="kernel_size"):
        SelfAttention2d(8, kernel_size=2)


def test_float32_weights_match_float64():
    """float32 through the fused kernel (weights from its log-sum-exp) against float64."""
    block = _block(16).float()
    x = torch.randn(2, 16, 6, 6)
    y, w = block(x, return_weights=True)
    y64, w64 = block.double()(x.double(), return_weights=True)
    torch.testing.assert_close(y.double(), y64, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(w.double(), w64, rtol=1e-4, atol=1e-5)
