"""Nystromformer: with one landmark per token and an exact pseudoinverse it is full
attention; segment means; the iterative pseudoinverse."""

from __future__ import annotations

import torch

from selfattn.functional import reference_attention
from selfattn.nn.variants import NystromAttention
from selfattn.nn.variants.nystrom import iterative_pinv, segment_means

DT = torch.float64


def test_one_landmark_per_token_with_exact_pinv_is_full_attention():
    torch.manual_seed(0)
    m = NystromAttention(16, 2, num_landmarks=10, pinv="exact").double().eval()
    x = torch.randn(3, 10, 16, dtype=DT)
    lengths = torch.tensor([10, 6, 1])
    q, k, v = m._project(x, None, None)
    o = reference_attention(q, k, v, key_lengths=lengths).transpose(1, 2).reshape(3, 10, 16)
    expected = m.out_proj(o)
    y = m(x, key_lengths=lengths)
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(y[i, :n], expected[i, :n], rtol=1e-7, atol=1e-8)


def test_segment_means_split_the_real_tokens_in_order():
    x = torch.arange(12, dtype=DT).view(1, 1, 12, 1).expand(2, 1, 12, 1)
    km = torch.arange(12)[None] < torch.tensor([[10], [3]])
    means, ok = segment_means(x, km, 4)
    # 10 real tokens -> segment sizes 3, 2, 3, 2; 3 real tokens -> 1, 1, 1 and one empty.
    torch.testing.assert_close(means[0, 0, :, 0], torch.tensor([1.0, 3.5, 6.0, 8.5], dtype=DT))
    assert ok[0].all() and ok[1].tolist() == [True, True, True, False]
    torch.testing.assert_close(means[1, 0, ok[1], 0], torch.tensor([0.0, 1.0, 2.0], dtype=DT))


def test_iterative_pinv_satisfies_the_moore_penrose_conditions():
    g = torch.Generator().manual_seed(0)
    a = torch.softmax(torch.randn(3, 8, 8, generator=g, dtype=DT) * 2, -1)
    z = iterative_pinv(a, iters=30)
    torch.testing.assert_close(a @ z @ a, a, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(z @ a @ z, z, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(z, torch.linalg.pinv(a), rtol=1e-6, atol=1e-6)


def test_landmarks_do_not_mix_sets():
    """Norms of the pseudoinverse start are per set: one set never changes another."""
    torch.manual_seed(0)
    m = NystromAttention(16, 2, num_landmarks=4).double().eval()
    a, b = torch.randn(1, 12, 16, dtype=DT), torch.randn(1, 12, 16, dtype=DT) * 5
    torch.testing.assert_close(m(torch.cat([a, b]))[0], m(a)[0], rtol=1e-12, atol=1e-12)


def test_depthwise_convolution_skip():
    torch.manual_seed(0)
    m = NystromAttention(16, 2, num_landmarks=4, conv_kernel=3).double().eval()
    assert m(torch.randn(2, 9, 16, dtype=DT)).shape == (2, 9, 16)
