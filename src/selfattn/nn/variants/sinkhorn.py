"""Sparse Sinkhorn attention: local attention over blocks sorted by a learned soft
permutation (Tay, Bahri, Yang, Metzler & Juan 2020).

"Sparse Sinkhorn Attention" (ICML 2020, arXiv:2002.11296), Section 3:

* Blocks (3.1): the sequence is cut into ``N_B`` blocks of ``b = block_size`` positions.
* SortNet (3.2): each block is pooled (the sum of its input vectors, ``psi_P``), and a
  two-layer network with ReLUs gives each block a row of non-negative sorting scores,
  ``R = relu(W_B relu(W_P X' + b_P) + b_B)``, ``R (N_B, N_B)`` per head (``W_B`` has
  ``H * ceil(max_len / b)`` outputs; a shorter sequence uses the first ``N_B`` columns).
* Sinkhorn normalisation (3.2): ``S^0 = exp((R + eps) / tau)`` (Gumbel noise ``eps`` in
  training only), then ``S^{k+1} = F_c(F_r(S^k))`` (row then column normalisation) for
  ``sinkhorn_iters`` rounds, in log space. ``S`` is doubly stochastic in the limit: a soft
  permutation of the blocks.
* Sorted attention (3.3): block ``i`` of the queries attends to the sorted block
  ``psi_S(K)_i = sum_j S_ij K_j`` (and values likewise) *and*, as the paper combines it with
  local attention, to its own block: one softmax over those ``2 b`` keys. Memory is
  O(L b) instead of O(L^2).
* Causal Sinkhorn balancing (3.4): for ``causal=True`` a block's sorting row is computed
  from the sum of the blocks strictly before it (so no query sees a later token through
  the sort), only earlier blocks may be sorted into it (``S`` strictly lower triangular),
  and the column normalisation of row ``i`` sums over rows ``<= i`` only (a cumulative
  sum), so no row depends on later rows. ``S`` is then not doubly stochastic. The local
  block is causally masked.

Padding: blocks holding no real token are removed from ``S`` (their rows and columns are
masked), so extra trailing padding never changes the permutation of the real blocks.
Inside a partly padded block the padded keys are masked in the local part; a sorted key
slot is the mixture of the *real* keys at that slot (renormalised), present with mass
``sum_j S_ij m_ju`` (added as ``log`` mass to its score; 0 mass = masked). For a hard
permutation this is exactly sorting whole blocks. SortCut (3.5) is not implemented.

Shapes: ``x (B, L, E)`` -> ``(B, L, E)``; ``sorting_matrix(x, key_mask)`` ->
``(B, H, N_B, N_B)``; weights on request: the implied ``(B, H, L, L)`` weights over the
original keys (O(L^2), for inspection). Complexity: O(L b d + N_B^2 (d + iters)) time,
O(L b + N_B^2) memory per head.
Supports: key padding, causal, dropout on the ``2 b`` block weights, weights.
Not: an arbitrary ``mask`` or ``bias`` (keys are sorted mixtures, not positions),
cross-attention (the sort permutes the query's own blocks).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..._checks import check_finite_positive
from ...functional.call import AttentionCall
from ._base import VariantAttention, masked_softmax, safe_divide

__all__ = ["SinkhornAttention", "sinkhorn"]


def _log_normalize(la: torch.Tensor, dim: int, cumulative: bool) -> torch.Tensor:
    """``la - logsumexp(la, dim)`` (or a cumulative logsumexp), with all-``-inf`` lines
    left at ``-inf`` and no NaN in the gradient."""
    if la.numel() == 0:
        return la
    top = la.detach().amax(dim, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    e = torch.exp(la - top)
    s = torch.cumsum(e, dim) if cumulative else e.sum(dim, keepdim=True)
    ok = s > 0
    lse = torch.where(ok, torch.log(torch.where(ok, s, torch.ones_like(s))) + top, torch.zeros_like(s))
    return la - lse


def sinkhorn(log_alpha: torch.Tensor, allowed: torch.Tensor | None = None, iters: int = 8,
             causal: bool = False) -> torch.Tensor:
    """Sinkhorn balancing in log space: ``(..., n, n)`` scores -> ``exp`` of the balanced
    scores (rows, then columns, ``iters`` times). ``allowed`` (bool, broadcastable) masks
    entries to exactly 0. ``causal``: columns are normalised over rows ``<= i`` only."""
    la = log_alpha if allowed is None else log_alpha.masked_fill(~allowed, float("-inf"))
    for _ in range(iters):
        la = _log_normalize(la, -1, False)
        la = _log_normalize(la, -2, causal)
    return torch.exp(la)


class SinkhornAttention(VariantAttention):
    """Sparse Sinkhorn self-attention (see the module docstring).

    Args:
        embed_dim, num_heads, dropout, bias, head_dim: as ``MultiHeadAttention``.
        max_len: the longest sequence (sets the SortNet's output size ``ceil(max_len / b)``).
        block_size: ``b``, positions per block.
        sinkhorn_iters: rounds of row + column normalisation.
        temperature: ``tau`` (lower = closer to a hard permutation).
        gumbel_noise: add Gumbel noise to the sorting scores in training mode.
    """

    method = "Sinkhorn attention"
    supports: ClassVar[dict[str, bool]] = dict(
        mask=False, causal=True, bias=False, context=False, dropout=True, return_weights=True)
    reasons: ClassVar[dict[str, str]] = {
        "mask": "its keys are sorted mixtures of blocks, not positions, so a (Lq, Lk) mask "
                "cannot be applied; use key_mask= / key_lengths= for padding",
        "bias": "its keys are sorted mixtures of blocks, not positions, so a (Lq, Lk) bias "
                "cannot be added",
        "context": "the learned sort permutes the blocks of the query's own sequence; only "
                   "self-attention is defined",
    }

    def __init__(self, embed_dim: int, num_heads: int, *, max_len: int, block_size: int = 64,
                 sinkhorn_iters: int = 8, temperature: float = 0.75, gumbel_noise: bool = True,
                 dropout: float = 0.0, bias: bool = True, head_dim: int | None = None) -> None:
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, head_dim=head_dim)
        if max_len <= 0 or block_size <= 0:
            raise ValueError(f"max_len, block_size: expected positive sizes, got {max_len} and {block_size}")
        if sinkhorn_iters < 0:
            raise ValueError(f"sinkhorn_iters: expected a non-negative count, got {sinkhorn_iters}")
        temperature = check_finite_positive("temperature", temperature)
        self.max_len, self.block_size = max_len, block_size
        self.sinkhorn_iters, self.temperature, self.gumbel_noise = sinkhorn_iters, temperature, gumbel_noise
        self.max_blocks = math.ceil(max_len / block_size)
        self.sort_hidden = nn.Linear(embed_dim, embed_dim)
        self.sort_out = nn.Linear(embed_dim, num_heads * self.max_blocks)

    # -- the learned sort -------------------------------------------------------------
    def _blocks(self, length: int) -> tuple[int, int]:
        if length > self.max_len:
            raise ValueError(f"x: expected a length of at most max_len={self.max_len} (the "
                             f"SortNet's block count), got {length}")
        nb = math.ceil(length / self.block_size)
        return nb, nb * self.block_size - length

    def _sort_matrix(self, x: torch.Tensor, real: torch.Tensor, causal: bool) -> torch.Tensor:
        b, length, e = x.shape
        nb, pad = self._blocks(length)
        bs = self.block_size
        xm = F.pad(x * real[..., None].to(x.dtype), (0, 0, 0, pad))
        pooled = xm.view(b, nb, bs, e).sum(2)  # psi_P: the sum of each block
        ok = F.pad(real, (0, pad), value=False).view(b, nb, bs).any(-1)  # (B, N_B)
        if causal:  # a block's row may only read the blocks before it
            pooled = torch.cumsum(pooled, 1) - pooled
        scores = F.relu(self.sort_out(F.relu(self.sort_hidden(pooled))))
        scores = scores.view(b, nb, self.num_heads, self.max_blocks)[..., :nb].transpose(1, 2)
        if self.training and self.gumbel_noise:
            u = torch.rand_like(scores).clamp(1e-9, 1 - 1e-9)
            scores = scores - torch.log(-torch.log(u))
        allowed = ok[:, None, :, None] & ok[:, None, None, :]
        if causal:
            allowed = allowed & torch.ones(nb, nb, dtype=torch.bool, device=x.device).tril(-1)
        return sinkhorn(scores / self.temperature, allowed, self.sinkhorn_iters, causal)

    def sorting_matrix(self, x: torch.Tensor, key_mask: torch.Tensor | None = None,
                       causal: bool = False) -> torch.Tensor:
        """The soft block permutation ``S (B, H, N_B, N_B)`` for ``x (B, L, E)``
        (``key_mask (B, L)``, True = real); rows and columns of empty blocks are 0."""
        self._check_input("x", x, False)
        real = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if key_mask is None else key_mask
        return self._sort_matrix(x, real, causal)

    # -- attention --------------------------------------------------------------------
    def _attend(self, q, k, v, call: AttentionCall, x):
        b, h, length, _ = q.shape
        real = (torch.ones(b, length, dtype=torch.bool, device=q.device)
                if call.key_mask is None else call.key_mask)
        s = self._sort_matrix(x, real, call.causal)  # (B, H, N, N)
        nb, pad = self._blocks(length)
        bs = self.block_size

        def blocks(t: torch.Tensor) -> torch.Tensor:
            return F.pad(t, (0, 0, 0, pad)).view(b, h, nb, bs, t.shape[-1])

        m = F.pad(real, (0, pad), value=False).view(b, nb, bs)
        mf = m.to(q.dtype)
        qb = blocks(q)
        kb = blocks(k) * mf[:, None, :, :, None]  # padded keys and values are zero
        vb = blocks(v) * mf[:, None, :, :, None]
        mass = torch.einsum("bhij,bju->bhiu", s, mf)  # (B, H, N, b)
        ks = safe_divide(torch.einsum("bhij,bhjud->bhiud", s, kb), mass[..., None])
        vs = safe_divide(torch.einsum("bhij,bhjud->bhiud", s, vb), mass[..., None])
        local = torch.matmul(qb, kb.transpose(-1, -2)) * call.scale
        srt = torch.matmul(qb, ks.transpose(-1, -2)) * call.scale
        has = mass > 0
        srt = srt + torch.where(has, torch.log(torch.where(has, mass, torch.ones_like(mass))),
                                torch.zeros_like(mass))[..., None, :]
        local_ok = m[:, None, :, None, :].expand(b, h, nb, bs, bs)
        if call.causal:
            local_ok = local_ok & torch.ones(bs, bs, dtype=torch.bool, device=q.device).tril()
        ok = torch.cat([local_ok, has[..., None, :].expand(b, h, nb, bs, bs)], dim=-1)
        w = masked_softmax(torch.cat([local, srt], dim=-1), ok)  # (B, H, N, b, 2b)
        wd = self._drop(w)
        out = torch.matmul(wd[..., :bs], vb) + torch.matmul(wd[..., bs:], vs)
        out = out.reshape(b, h, nb * bs, v.shape[-1])[:, :, :length]
        weights = self._implied(w, s, mf, mass, length) if call.need_weights else None
        return out, weights

    @staticmethod
    def _implied(w, s, mf, mass, length):
        """Weights over the original keys: local ones on the block diagonal, plus each
        sorted slot's weight spread over the real keys it mixes."""
        b, h, nb, bs, _ = w.shape
        spread = safe_divide(torch.ones_like(mass), mass)  # 1 / mass per sorted slot
        eff = torch.einsum("bhitu,bhij,bju,bhiu->bhitju", w[..., bs:], s, mf, spread)
        eff.diagonal(dim1=2, dim2=4).add_(w[..., :bs].permute(0, 1, 3, 4, 2))
        return eff.reshape(b, h, nb * bs, nb * bs)[:, :, :length, :length]

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, max_len={self.max_len}, block_size={self.block_size}, "
                f"sinkhorn_iters={self.sinkhorn_iters}, temperature={self.temperature}")
