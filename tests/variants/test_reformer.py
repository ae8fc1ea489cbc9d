"""Reformer (LSH attention) against literal references: one bucket is full shared-QK
attention with self-exclusion; several rounds are one softmax over the union of sets."""

from __future__ import annotations

import math

import pytest
import torch

from selfattn.nn.variants import ReformerAttention
from selfattn.nn.variants.reformer import lsh_buckets

DT = torch.float64


def _make(**kw) -> ReformerAttention:
    torch.manual_seed(0)
    return ReformerAttention(16, 2, seed=0, **kw).double().eval().requires_grad_(False)


def _literal(m: ReformerAttention, x, allowed, bias=None):
    """Shared-QK softmax over ``allowed`` pairs, a query's own key only if it has no other."""
    q, _, v = m._project(x, None, None)
    keys = q / q.norm(dim=-1, keepdim=True)
    s = q @ keys.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if bias is not None:
        s = s + bias
    eye = torch.eye(x.shape[1], dtype=torch.bool)
    other = allowed & ~eye
    allowed = other | (allowed & eye & ~other.any(-1, keepdim=True))
    e = torch.where(allowed, torch.exp(s - s.amax(-1, keepdim=True)), torch.zeros_like(s))
    den = e.sum(-1, keepdim=True)
    w = torch.where(den > 0, e / den.clamp_min(1e-300), torch.zeros_like(e))
    o = (w @ v).transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)
    return m.out_proj(o), w


def _union_of_sets(m: ReformerAttention, x, real):
    """allowed[b, h, i, j]: is j in i's set in some round (same bucket, own or previous chunk)?"""
    q, _, _ = m._project(x, None, None)
    buckets = lsh_buckets(q, m.rotations, m.n_buckets)
    b_, h_, r_, length = buckets.shape
    c = m.chunk_size
    allowed = torch.zeros(b_, h_, length, length, dtype=torch.bool)
    for b in range(b_):
        for h in range(h_):
            for r in range(r_):
                bk = [int(buckets[b, h, r, p]) if real[b, p] else m.n_buckets for p in range(length)]
                order = sorted(range(length), key=lambda p, bk=bk: (bk[p], p))
                slot = {p: i for i, p in enumerate(order)}
                for i in range(length):
                    for j in range(length):
                        near = slot[j] // c in (slot[i] // c, slot[i] // c - 1)
                        if real[b, i] and real[b, j] and bk[i] == bk[j] and near:
                            allowed[b, h, i, j] = True
    return allowed


@pytest.mark.parametrize("n_hashes", [1, 3])
def test_single_bucket_is_full_shared_qk_attention(n_hashes):
    m = _make(n_buckets=1, n_hashes=n_hashes, chunk_size=32)
    x = torch.randn(3, 11, 16, dtype=DT)
    lengths = torch.tensor([11, 6, 1])
    real = torch.arange(11)[None] < lengths[:, None]
    allowed = (real[:, None, :, None] & real[:, None, None, :]).expand(3, 2, 11, 11)
    y, w = m(x, key_lengths=lengths, return_weights=True)
    y_ref, w_ref = _literal(m, x, allowed)
    torch.testing.assert_close(w, w_ref, rtol=1e-10, atol=1e-12)
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(y[i, :n], y_ref[i, :n], rtol=1e-10, atol=1e-12)
    # A set of one attends to itself only: its output is its own value.
    assert float(w[2, :, 0, 0].min()) == pytest.approx(1.0)
    assert float(w[1, :, :6, :6].diagonal(dim1=-2, dim2=-1).abs().max()) == 0.0


def test_single_bucket_with_mask_bias_and_causal():
    m = _make(n_buckets=1, n_hashes=2, chunk_size=16)
    x = torch.randn(2, 9, 16, dtype=DT)
    mask = torch.rand(9, 9, generator=torch.Generator().manual_seed(1)) > 0.3
    bias = torch.randn(9, 9, dtype=DT)
    causal = torch.ones(9, 9, dtype=torch.bool).tril()
    _, w = m(x, mask=mask, bias=bias, causal=True, return_weights=True)
    _, w_ref = _literal(m, x, (mask & causal).expand(2, 2, 9, 9), bias)
    torch.testing.assert_close(w, w_ref, rtol=1e-10, atol=1e-12)
    assert float(w.triu(1).abs().max()) == 0.0  # never a later key
    torch.testing.assert_close(w[:, :, 0, 0], torch.ones(2, 2, dtype=DT))  # the first: itself


@pytest.mark.parametrize("n_hashes", [1, 2, 3])
def test_several_rounds_are_one_softmax_over_the_union(n_hashes):
    m = _make(n_buckets=4, n_hashes=n_hashes, chunk_size=3)
    x = torch.randn(2, 13, 16, dtype=DT)
    lengths = torch.tensor([13, 8])
    real = torch.arange(13)[None] < lengths[:, None]
    y, w = m(x, key_lengths=lengths, return_weights=True)
    y_ref, w_ref = _literal(m, x, _union_of_sets(m, x, real))
    torch.testing.assert_close(w, w_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(y[real], y_ref[real], rtol=1e-10, atol=1e-12)


def test_angular_hash_is_locality_sensitive():
    rot = torch.randn(2, 3, 8, 4, dtype=DT)
    x = torch.randn(1, 2, 20, 8, dtype=DT)
    b = lsh_buckets(x, rot, 8)
    assert int(b.min()) >= 0 and int(b.max()) < 8
    torch.testing.assert_close(lsh_buckets(2.5 * x, rot, 8), b)  # only the direction counts
    torch.testing.assert_close(lsh_buckets(-x, rot, 8), (b + 4) % 8)  # the opposite bucket


def test_training_draws_new_rotations_eval_keeps_them():
    m = _make(n_buckets=4, chunk_size=2)
    x = torch.randn(1, 16, 16, dtype=DT)
    torch.testing.assert_close(m(x), m(x))
    m.train()
    outs = [m(x) for _ in range(4)]
    assert any(not torch.allclose(outs[0], o) for o in outs[1:])
