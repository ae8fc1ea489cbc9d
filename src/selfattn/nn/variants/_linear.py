"""Kernelised ("linear") attention given feature maps: the shared core of Performer and
the Linear Transformer.

With non-negative features ``phi(q)``, ``phi(k)`` of size ``M`` (Katharopoulos et al.
2020, Section 3.2, Eq. 5-6; Choromanski et al. 2021, Section 2.2), softmax attention's
``exp(q . k)`` is replaced by ``phi(q) . phi(k)``, and associativity gives::

    out_i = phi(q_i)^T (sum_j phi(k_j) v_j^T)  /  phi(q_i)^T (sum_j phi(k_j))

in O(L * M * Dv) time instead of O(L^2). The causal form (Katharopoulos et al., Section
3.3, Eq. 8-10; Choromanski et al., Section 2.6 "prefix sums") restricts both sums to
``j <= i``. ``causal_linear_attention`` computes it chunk by chunk: inside a chunk of
``C`` positions the masked ``(C, C)`` product, across chunks the running sums of the
earlier chunks (an exclusive prefix sum of per-chunk states), which is the same prefix
sum in O(L * C * M + (L / C) * M * Dv) memory instead of O(L * M * Dv).

Per-key weights in log space (``key_log_weight (B, H, Lk)``, optional): the key features
are ``exp(key_log_weight_j) * phi_k_j``, kept apart so that features whose sizes differ by
far more than the dtype's range keep their ratios. Each query ``i`` rescales the keys it
sees by ``exp(-max_{visible j} key_log_weight_j)`` (a common factor, which cancels in the
ratio), so its strongest key has weight exactly 1 and the denominator never underflows
while ``phi_q . phi_k`` of that key does not; the causal form takes the running maximum,
so a query's scaling never depends on later keys. Performer uses this (see
``performer.favor_features``); ``None`` means weight 1 for every key.

Shapes: ``phi_q (B, H, Lq, M)``, ``phi_k (B, H, Lk, M)``, ``v (B, H, Lk, Dv)`` ->
``(B, H, Lq, Dv)``. Padded keys must already have ``phi_k = 0`` (then they add nothing to
either sum) and a finite ``key_log_weight``; a query whose denominator is 0 (no key) gets
a zero output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._base import safe_divide

__all__ = ["causal_linear_attention", "implied_weights", "linear_attention"]


def _relative(log_weight: torch.Tensor) -> torch.Tensor:
    """``exp(w - max w)`` over the key axis: per-key weights in (0, 1], the largest 1."""
    if log_weight.shape[-1] == 0:
        return log_weight
    return torch.exp(log_weight - log_weight.amax(-1, keepdim=True))


def linear_attention(phi_q: torch.Tensor, phi_k: torch.Tensor, v: torch.Tensor,
                     key_log_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Non-causal kernelised attention, O(L * M * Dv)."""
    if key_log_weight is not None:
        phi_k = phi_k * _relative(key_log_weight.detach())[..., None]
    kv = torch.matmul(phi_k.transpose(-1, -2), v)  # (B, H, M, Dv)
    z = phi_k.sum(-2)  # (B, H, M)
    num = torch.matmul(phi_q, kv)
    den = torch.matmul(phi_q, z.unsqueeze(-1))  # (B, H, Lq, 1)
    return safe_divide(num, den)


def causal_linear_attention(phi_q: torch.Tensor, phi_k: torch.Tensor, v: torch.Tensor,
                            chunk_size: int = 64,
                            key_log_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Causal kernelised attention (query ``i`` sees keys ``j <= i``), chunked prefix sums.

    ``Lq`` must equal ``Lk``. Exactly the prefix-sum (RNN) form, computed in parallel.
    With ``key_log_weight`` see ``_rescaled_causal``.
    """
    if key_log_weight is not None:
        return _rescaled_causal(phi_q, phi_k, v, chunk_size, key_log_weight.detach())
    b, h, n, _ = phi_q.shape
    dv = v.shape[-1]
    qc, kc, vc, c, nc, _ = _chunks(phi_q, phi_k, v, chunk_size)
    # Inside each chunk: the masked (C, C) product, lower triangle with the diagonal.
    a = torch.matmul(qc, kc.transpose(-1, -2))
    a = a * torch.ones(c, c, dtype=torch.bool, device=a.device).tril()
    num = torch.matmul(a, vc)
    den = a.sum(-1, keepdim=True)
    # Across chunks: the sums over all earlier chunks (exclusive prefix sum of chunk states).
    s = torch.matmul(kc.transpose(-1, -2), vc)  # (B, H, NC, M, Dv)
    z = kc.sum(-2)  # (B, H, NC, M)
    s_prev = torch.cumsum(s, dim=2) - s
    z_prev = torch.cumsum(z, dim=2) - z
    num = num + torch.matmul(qc, s_prev)
    den = den + torch.matmul(qc, z_prev.unsqueeze(-1))
    out = safe_divide(num, den).reshape(b, h, nc * c, dv)
    return out[:, :, :n]


def _chunks(phi_q, phi_k, v, chunk_size):
    """``(qc, kc, vc, c, nc, pad)``: queries, keys and values zero-padded to ``nc`` chunks of
    ``c`` positions, ``(B, H, NC, C, .)``, for the causal prefix sums."""
    b, h, n, m = phi_q.shape
    if phi_k.shape[2] != n:
        raise ValueError(f"causal: expected as many queries as keys, got {n} and {phi_k.shape[2]}")
    c = max(1, min(chunk_size, n))
    pad = (-n) % c
    if pad:
        phi_q = F.pad(phi_q, (0, 0, 0, pad))
        phi_k = F.pad(phi_k, (0, 0, 0, pad))
        v = F.pad(v, (0, 0, 0, pad))
    nc = (n + pad) // c
    return (phi_q.reshape(b, h, nc, c, m), phi_k.reshape(b, h, nc, c, m),
            v.reshape(b, h, nc, c, v.shape[-1]), c, nc, pad)


def _rescaled_causal(phi_q, phi_k, v, chunk_size, r):
    """The causal form with per-key log weights ``r (B, H, L)``: query ``i`` scales key
    ``j <= i`` by ``exp(r_j - ref_i)``, ``ref_i = max_{j <= i} r_j`` (so every factor is in
    (0, 1] and its strongest key has 1). Chunk states are kept relative to the running
    maximum at their chunk's end, ``P_n``; query ``i`` in chunk ``n`` reads the earlier
    chunks' sum ``T_n = sum_{n' < n} exp(P_n' - P_{n-1}) S_n'`` times ``exp(P_{n-1} - ref_i)``.
    """
    b, h, n, m = phi_q.shape
    dv = v.shape[-1]
    if phi_k.shape[2] == n == 0:
        return v.new_zeros(b, h, 0, dv)
    qc, kc, vc, c, nc, pad = _chunks(phi_q, phi_k, v, chunk_size)
    if pad:
        r = F.pad(r, (0, pad), value=float(r.amin()) if r.numel() else 0.0)
    ref = torch.cummax(r, dim=-1).values.reshape(b, h, nc, c)
    rc = r.reshape(b, h, nc, c)
    tril = torch.ones(c, c, dtype=torch.bool, device=r.device).tril()
    # Inside each chunk: exp(r_j - ref_i) for j <= i, 0 above the diagonal (no overflow).
    scale = torch.exp((rc[..., None, :] - ref[..., :, None]).masked_fill(~tril, float("-inf")))
    a = torch.matmul(qc, kc.transpose(-1, -2)) * scale
    num = torch.matmul(a, vc)
    den = a.sum(-1, keepdim=True)
    # Chunk states relative to P_n, the running maximum at the chunk's end.
    p = ref[..., -1]  # (B, H, NC)
    kw = kc * torch.exp(rc - p[..., None])[..., None]
    s = torch.matmul(kw.transpose(-1, -2), vc).reshape(b, h, nc, m * dv)
    z = kw.sum(-2)
    # T_n = sum_{n' < n} exp(P_n' - P_{n-1}) S_n': a strictly lower triangular (NC, NC) mix.
    # P_{n-1} for n >= 1; for chunk 0 (no earlier state) its first ref, so exp(. - ref_i) <= 1.
    p_prev = torch.cat([ref[..., 0, :1], p[..., :-1]], dim=-1)
    earlier = torch.ones(nc, nc, dtype=torch.bool, device=r.device).tril(-1)
    mix = torch.exp((p[..., None, :] - p_prev[..., :, None]).masked_fill(~earlier, float("-inf")))
    s_prev = torch.matmul(mix, s).reshape(b, h, nc, m, dv)
    z_prev = torch.matmul(mix, z)
    back = torch.exp(p_prev[..., None] - ref)[..., None]  # exp(P_{n-1} - ref_i), in (0, 1]
    num = num + torch.matmul(qc, s_prev) * back
    den = den + torch.matmul(qc, z_prev.unsqueeze(-1)) * back
    out = safe_divide(num, den).reshape(b, h, nc * c, dv)
    return out[:, :, :n]


def implied_weights(phi_q: torch.Tensor, phi_k: torch.Tensor, causal: bool = False,
                    key_log_weight: torch.Tensor | None = None) -> torch.Tensor:
    """The ``(B, H, Lq, Lk)`` attention matrix a kernel method implies (O(L^2); for
    inspection only): ``phi(q_i) . phi(k_j)`` normalised over the visible keys."""
    a = torch.matmul(phi_q, phi_k.transpose(-1, -2))
    lq, lk = a.shape[-2:]
    visible = torch.ones(lq, lk, dtype=torch.bool, device=a.device)
    if causal:
        visible = visible.tril(lk - lq)
    if key_log_weight is not None and lk:
        # Each query's visible keys relative to the strongest of them (as in the sums).
        r = key_log_weight.detach()[..., None, :].masked_fill(~visible, float("-inf"))
        ref = r.amax(-1, keepdim=True)
        a = a * torch.exp(r - torch.where(torch.isfinite(ref), ref, torch.zeros_like(ref)))
    elif causal:
        a = a * visible
    return safe_divide(a, a.sum(-1, keepdim=True))
