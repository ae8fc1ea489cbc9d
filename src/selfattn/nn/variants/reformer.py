"""Reformer: locality-sensitive-hashing (LSH) attention with shared queries and keys.

"Reformer: The Efficient Transformer", Kitaev, Kaiser & Levskaya 2020 (arXiv:2001.04451),
Section 2 ("Locality-sensitive hashing attention"):

* Shared-QK: one projection gives the queries; the keys are the unit-length queries,
  ``k_j = q_j / |q_j|``; scores are ``q_i . k_j / sqrt(d)``.
* Hashing (angular LSH): with a random ``R (d, b/2)``, ``h(x) = argmax([x R ; -x R])``
  puts each vector in one of ``b`` buckets (``n_buckets``). ``n_buckets = 1`` turns
  hashing off (one bucket).
* Sort and chunk: positions are sorted by (bucket, position) and cut into chunks of
  ``chunk_size``; a query attends to the keys of its own bucket that lie in its chunk or
  in the previous chunk (Eq. 3-5, Figure 2). The first chunk has no previous one.
* Self-exclusion ("Causal masking for shared-QK attention"): a query never attends to
  itself, since ``q . q/|q|`` is nearly always its largest score, unless it has no other
  key (e.g. the first token under ``causal``). The paper realises this with a 1e5 penalty
  on ``i = j``; here the self pair is removed exactly unless the query's union of keys
  over all rounds holds no other key (same result up to ``exp(-1e5)``).
* Multi-round hashing (``n_hashes`` rounds, "Multi-round LSH attention", Eq. 6-7): a
  query attends to the union of its rounds' sets, each pair's score lowered by
  ``log N_ij`` (``N_ij`` = number of rounds whose set holds ``j``) so that the rounds'
  softmaxes, combined with weights ``exp(lse_r - lse)``, give exactly one softmax over the
  union.

Random rotations: a fresh ``R`` for every forward call in training mode (the paper
hashes with new random rotations each time); in eval mode the fixed buffer ``rotations``
(drawn at construction, reproducible with ``seed``), so inference is deterministic.

Padding: a position whose key is padding (``key_mask`` False) is hashed to a bucket after
all real ones, so the sorted order and the chunks of the real positions are those of the
unpadded set; it attends to nothing (zero output) and nothing attends to it.

Shapes: ``x (B, L, E)`` -> ``(B, L, E)``; weights on request ``(B, H, L, L)`` (scattered
from the chunks; O(L^2), for inspection). Complexity per head: sorting O(r L log L),
attention O(r L c d) time and O(r L c) memory (``r`` rounds, ``c`` chunk size).
Causal (the paper's LM setting): no query attends to a later key. As in the paper, the
chunks are cut after sorting *all* positions, so which earlier keys share a query's
chunk can still depend on later tokens (their buckets shift the sorted order): the
outputs are causal in what they attend to, not strictly invariant to the future.

Supports: key padding, ``causal``, an arbitrary ``mask`` and ``bias`` (gathered for the
pairs each chunk scores, so a dense ``(L, L)`` tensor must be given), dropout on the
weights, weights. Not: cross-attention (queries and keys are one set of vectors).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F

from ...functional.call import AttentionCall
from ._base import VariantAttention

__all__ = ["ReformerAttention", "lsh_attention", "lsh_buckets"]


def lsh_buckets(x: torch.Tensor, rotations: torch.Tensor, n_buckets: int) -> torch.Tensor:
    """Angular LSH: ``x (B, H, L, d)``, ``rotations (H, r, d, n_buckets // 2)`` ->
    bucket ids ``(B, H, r, L)`` in ``[0, n_buckets)``."""
    b, h, length, _ = x.shape
    r = rotations.shape[1]
    if n_buckets == 1:
        return torch.zeros(b, h, r, length, dtype=torch.long, device=x.device)
    proj = torch.einsum("bhld,hrdk->bhrlk", x, rotations.to(x.dtype))
    return torch.cat([proj, -proj], dim=-1).argmax(-1)


def _take(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``t (B, H, r, Lp[, X])`` gathered along Lp by ``idx (B, H, r, *)``."""
    flat = idx.reshape(*idx.shape[:3], -1)
    if t.dim() == 4:
        return t.gather(3, flat).view(idx.shape)
    out = t.gather(3, flat[..., None].expand(-1, -1, -1, -1, t.shape[-1]))
    return out.view(*idx.shape, t.shape[-1])


def _with_previous(t: torch.Tensor) -> torch.Tensor:
    """``(B, H, r, N, c, ...)`` -> ``(B, H, r, N, 2c, ...)``: each chunk, then the one before."""
    return torch.cat([t, t.roll(1, dims=3)], dim=4)


def lsh_attention(qk: torch.Tensor, v: torch.Tensor, buckets: torch.Tensor, n_buckets: int,
                  chunk_size: int, *, real: torch.Tensor, causal: bool = False,
                  allowed: torch.Tensor | None = None, bias: torch.Tensor | None = None,
                  scale: float, dropout: float = 0.0, need_weights: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Shared-QK LSH attention (see the module docstring).

    Args:
        qk: ``(B, H, L, d)`` queries (keys are their unit vectors). v: ``(B, H, L, dv)``.
        buckets: ``(B, H, r, L)`` bucket ids per round, in ``[0, n_buckets)``.
        real: ``(B, L)`` bool, ``True`` = a real position.
        allowed: bool ``(B|1, H|1, L, L)``, ``True`` = may attend. bias: ``(B|1, H|1, L, L)``.
    Returns: ``(B, H, L, dv)`` and, with ``need_weights``, ``(B, H, L, L)`` weights.
    """
    b, h, length, _ = qk.shape
    r, dv = buckets.shape[2], v.shape[-1]
    if length == 0:
        return v * 0, (v.new_zeros(b, h, 0, 0) if need_weights else None)
    c = chunk_size
    lp = math.ceil(length / c) * c
    n = lp // c
    pad = lp - length
    keys = F.normalize(qk, dim=-1)
    qk_p, keys_p, v_p = (F.pad(t, (0, 0, 0, pad)) for t in (qk, keys, v))
    real_p = F.pad(real, (0, pad), value=False)
    # Padding sorts after every real bucket; the chunk-filling dummies after that.
    bk = torch.where(real[:, None, None, :], buckets, torch.full_like(buckets, n_buckets))
    bk = F.pad(bk, (0, pad), value=n_buckets + 1)
    pos = torch.arange(lp, device=qk.device)
    order = (bk * lp + pos).argsort(-1)  # sorted slot -> position, (B, H, r, Lp)
    inv = order.argsort(-1)  # position -> sorted slot
    chunk_of = torch.div(inv, c, rounding_mode="floor")

    def sort(t: torch.Tensor) -> torch.Tensor:  # (B, H, Lp, X) -> (B, H, r, N, c, X)
        t = t[:, :, None].expand(-1, -1, r, -1, -1)
        return _take(t, order).view(b, h, r, n, c, t.shape[-1])

    sq, sk, sv = sort(qk_p), sort(keys_p), sort(v_p)
    qpos = order.view(b, h, r, n, c)
    qb = bk.gather(3, order).view(b, h, r, n, c)
    kk, vv = _with_previous(sk), _with_previous(sv)
    kpos, kb = _with_previous(qpos), _with_previous(qb)

    scores = torch.matmul(sq, kk.transpose(-1, -2)) * scale  # (B, H, r, N, c, 2c)
    first = torch.arange(n, device=qk.device)[:, None, None] > 0
    own = torch.arange(2 * c, device=qk.device) < c
    valid = (kb[..., None, :] == qb[..., None]) & (own | first)
    valid = valid & (qb < n_buckets)[..., None]
    real_k = _take(real_p[:, None, None, :].expand(b, h, r, lp), kpos)
    valid = valid & real_k[..., None, :]
    qpos_e, kpos_e = qpos[..., None], kpos[..., None, :]
    if causal:
        valid = valid & (kpos_e <= qpos_e)
    if allowed is not None or bias is not None:
        bi = torch.arange(b, device=qk.device).view(b, 1, 1, 1, 1, 1)
        hi = torch.arange(h, device=qk.device).view(1, h, 1, 1, 1, 1)
        qi, ki = qpos_e.clamp_max(length - 1), kpos_e.clamp_max(length - 1)
        if allowed is not None:
            a = allowed.expand(b, h, length, length)
            valid = valid & a[bi, hi, qi, ki]
        if bias is not None:
            scores = scores + bias.expand(b, h, length, length)[bi, hi, qi, ki]
    if r > 1:
        # N_ij: in how many rounds j is in i's set (same bucket, own or previous chunk).
        count = torch.zeros_like(scores)
        for r2 in range(r):
            b2 = bk[:, :, r2, None].expand(b, h, r, lp)
            c2 = chunk_of[:, :, r2, None].expand(b, h, r, lp)
            same = _take(b2, qpos)[..., None] == _take(b2, kpos)[..., None, :]
            cq, ck = _take(c2, qpos)[..., None], _take(c2, kpos)[..., None, :]
            count += same & ((ck == cq) | (ck == cq - 1))
        # In place: nothing has saved ``scores`` for backward (the matmul saves its inputs).
        scores.sub_(count.clamp_min_(1).log_())
        del count
    # Self-exclusion: the pair (i, i) only for a query with no other key in any round.
    is_self = kpos_e == qpos_e
    other = (valid & ~is_self).any(-1).view(b, h, r, lp)
    has_other = torch.zeros(b, h, r, lp, dtype=torch.bool, device=qk.device)
    has_other = has_other.scatter(3, order, other).any(2, keepdim=True).expand(b, h, r, lp)
    valid &= ~is_self | ~_take(has_other, qpos)[..., None]

    logits = scores.masked_fill_(~valid, float("-inf"))
    top = logits.detach().amax(-1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    e = torch.exp(logits - top)  # the one (.., c, 2c) tensor kept for backward
    den = e.sum(-1, keepdim=True)
    has = den > 0
    safe_den = torch.where(has, den, torch.ones_like(den))
    if dropout > 0:
        o = torch.matmul(F.dropout(e / safe_den, dropout), vv)
    else:  # normalise after the product: (c, dv) instead of another (c, 2c) tensor
        o = torch.matmul(e, vv) / safe_den  # (B, H, r, N, c, dv)
    lse = torch.where(has, torch.log(safe_den) + top, torch.full_like(den, float("-inf")))
    # Back to positions, then combine the rounds: weight exp(lse_r - lse).
    o = _take(o.view(b, h, r, lp, dv), inv)
    lse = _take(lse.view(b, h, r, lp), inv)
    mx = lse.detach().amax(2, keepdim=True)
    mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))
    ex = torch.exp(lse - mx)
    tot = ex.sum(2, keepdim=True)
    p = ex / torch.where(tot > 0, tot, torch.ones_like(tot))  # (B, H, r, Lp)
    out = (p[..., None] * o).sum(2)[:, :, :length]
    weights = None
    if need_weights:
        contrib = (e / safe_den) * _take(p, qpos)[..., None]
        flat = (qpos_e * lp + kpos_e).expand_as(contrib).reshape(b, h, -1)
        dense = e.new_zeros(b, h, lp * lp).scatter_add(2, flat, contrib.reshape(b, h, -1))
        weights = dense.view(b, h, lp, lp)[:, :, :length, :length]
    return out, weights


class ReformerAttention(VariantAttention):
    """Reformer LSH self-attention (see the module docstring).

    Args:
        embed_dim, num_heads, dropout, bias, head_dim: as ``MultiHeadAttention``; the input
            projection makes only the shared qk and v (``in_proj`` is ``(2 * H * d, E)``).
        n_buckets: ``b``, buckets per round (even, or 1 for no hashing). The paper sets
            about ``2 L / chunk_size``; it is a fixed number here, so padding cannot change it.
        n_hashes: rounds of hashing.
        chunk_size: positions per chunk.
        seed: seed of the eval-mode rotations and of the training draws.
    """

    method = "Reformer (LSH attention)"
    supports: ClassVar[dict[str, bool]] = dict(
        mask=True, causal=True, bias=True, context=False, dropout=True, return_weights=True)
    reasons: ClassVar[dict[str, str]] = {
        "context": "queries and keys are one shared set of vectors (shared-QK), "
                   "so there is no cross-attention form"}
    projections = 2

    def __init__(self, embed_dim: int, num_heads: int, *, n_buckets: int = 32, n_hashes: int = 2,
                 chunk_size: int = 64, seed: int | None = None, dropout: float = 0.0,
                 bias: bool = True, head_dim: int | None = None) -> None:
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, head_dim=head_dim)
        if n_buckets < 1 or (n_buckets > 1 and n_buckets % 2):
            raise ValueError(f"n_buckets: expected 1 or an even number (argmax over [xR; -xR]), "
                             f"got {n_buckets}")
        if n_hashes < 1:
            raise ValueError(f"n_hashes: expected at least 1, got {n_hashes}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size: expected a positive size, got {chunk_size}")
        self.n_buckets, self.n_hashes, self.chunk_size = n_buckets, n_hashes, chunk_size
        self._generator = None if seed is None else torch.Generator().manual_seed(seed)
        self.register_buffer("rotations", self._draw())

    def _draw(self) -> torch.Tensor:
        shape = (self.num_heads, self.n_hashes, self.head_dim, max(1, self.n_buckets // 2))
        return torch.randn(shape, generator=self._generator)

    def _project(self, x, context, value):
        qk, v = F.linear(x, self.in_proj.weight, self.in_proj.bias).split(
            self.num_heads * self.head_dim, dim=-1)
        qk = self._heads(qk)
        return qk, qk, self._heads(v)

    def _attend(self, q, k, v, call: AttentionCall, x):
        rot = self._draw().to(q.device) if self.training else self.rotations
        buckets = lsh_buckets(q, rot, self.n_buckets)
        real = (torch.ones(q.shape[0], q.shape[2], dtype=torch.bool, device=q.device)
                if call.key_mask is None else call.key_mask)
        allowed = call.mask if call.mask is None or call.mask.dim() == 4 else call.mask[None, None]
        return lsh_attention(
            q, v, buckets, self.n_buckets, self.chunk_size, real=real, causal=call.causal,
            allowed=allowed, bias=call.dense_bias(), scale=call.scale,
            dropout=self.dropout if self.training else 0.0, need_weights=call.need_weights)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, n_buckets={self.n_buckets}, n_hashes={self.n_hashes}, "
                f"chunk_size={self.chunk_size}")
