"""SAGAN: one training step is finite, the attention block starts closed, FID is a distance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selfattn.nn.fid import FashionClassifier, features, frechet_distance, gaussian
from selfattn.nn.sagan import Discriminator, Generator, make_optimizers, sagan_step


@pytest.mark.parametrize("attention", [True, False])
def test_one_sagan_step_is_finite_and_changes_both_networks(attention):
    torch.manual_seed(0)
    g, d = Generator(latent=8, width=8, attention=attention), Discriminator(width=8, attention=attention)
    opt_g, opt_d = make_optimizers(g, d)
    real = torch.rand(6, 1, 32, 32) * 2 - 1
    before_g = [p.detach().clone() for p in g.parameters()]
    before_d = [p.detach().clone() for p in d.parameters()]
    out = sagan_step(g, d, opt_g, opt_d, real, generator=torch.Generator().manual_seed(1))
    assert all(np.isfinite(v) for v in out.values())
    assert any(not torch.equal(a, b) for a, b in zip(before_g, g.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(before_d, d.parameters(), strict=True))
    assert all(torch.isfinite(p).all() for p in [*g.parameters(), *d.parameters()])
    if attention:  # the gates moved off 0: attention is being learned
        assert g.attention.gamma.item() != 0.0 and d.attention.gamma.item() != 0.0
    images, weights = g(torch.randn(2, 8), return_weights=True)
    assert images.shape == (2, 1, 32, 32) and images.abs().max() <= 1
    assert (weights is None) != attention
    assert d(images).shape == (2,)


def test_attention_gan_starts_as_the_plain_gan():
    torch.manual_seed(0)
    plain = Generator(latent=8, width=8, attention=False)
    torch.manual_seed(0)
    with_attn = Generator(latent=8, width=8, attention=True)
    with_attn.load_state_dict(plain.state_dict(), strict=False)
    z = torch.randn(3, 8)
    plain.eval()
    with_attn.eval()
    torch.testing.assert_close(with_attn(z), plain(z))


def test_frechet_distance_against_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    b = rng.normal(size=(4000, 3)) * 2 + 1
    assert frechet_distance(*gaussian(a), *gaussian(a)) == pytest.approx(0, abs=1e-6)
    # N(0, I) vs N(1, 4I) in 3-D: |mu|^2 = 3, trace term 3 (1 + 4 - 2*2) = 3
    mu1, s1 = np.zeros(3), np.eye(3)
    mu2, s2 = np.ones(3), 4 * np.eye(3)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(6.0)
    assert frechet_distance(*gaussian(a), *gaussian(b)) == pytest.approx(6.0, rel=0.1)


def test_classifier_features_shape():
    f = features(FashionClassifier(), torch.rand(5, 1, 32, 32) * 2 - 1)
    assert f.shape == (5, 128) and f.dtype == np.float64
