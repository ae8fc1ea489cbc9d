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

Shapes: ``phi_q (B, H, Lq, M)``, ``phi_k (B, H, Lk, M)``, ``v (B, H, Lk, Dv)`` ->
``(B, H, Lq, Dv)``. Padded keys must already have ``phi_k = 0`` (then they add nothing to
either sum); a query whose denominator is 0 (no key) gets a zero output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._base import safe_divide

__all__ = ["causal_linear_attention", "implied_weights", "linear_attention"]


def linear_attention(phi_q: torch.Tensor, phi_k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Non-causal kernelised attention, O(L * M * Dv)."""
    kv = torch.matmul(phi_k.transpose(-1, -2), v)  # (B, H, M, Dv)
    z = phi_k.sum(-2)  # (B, H, M)
    num = torch.matmul(phi_q, kv)
    den = torch.matmul(phi_q, z.unsqueeze(-1))  # (B, H, Lq, 1)
    return safe_divide(num, den)


def causal_linear_attention(phi_q: torch.Tensor, phi_k: torch.Tensor, v: torch.Tensor,
                            chunk_size: int = 64) -> torch.Tensor:
    """Causal kernelised attention (query ``i`` sees keys ``j <= i``), chunked prefix sums.

    ``Lq`` must equal ``Lk``. Exactly the prefix-sum (RNN) form, computed in parallel.
    """
    b, h, n, m = phi_q.shape
    dv = v.shape[-1]
    if phi_k.shape[2] != n:
        raise ValueError(f"causal: expected as many queries as keys, got {n} and {phi_k.shape[2]}")
    c = max(1, min(chunk_size, n))
    pad = (-n) % c
    if pad:
        phi_q = F.pad(phi_q, (0, 0, 0, pad))
        phi_k = F.pad(phi_k, (0, 0, 0, pad))
        v = F.pad(v, (0, 0, 0, pad))
    nc = (n + pad) // c
    qc = phi_q.reshape(b, h, nc, c, m)
    kc = phi_k.reshape(b, h, nc, c, m)
    vc = v.reshape(b, h, nc, c, dv)
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


def implied_weights(phi_q: torch.Tensor, phi_k: torch.Tensor, causal: bool = False) -> torch.Tensor:
    """The ``(B, H, Lq, Lk)`` attention matrix a kernel method implies (O(L^2); for
    inspection only): ``phi(q_i) . phi(k_j)`` normalised over the visible keys."""
    a = torch.matmul(phi_q, phi_k.transpose(-1, -2))
    if causal:
        lq, lk = a.shape[-2:]
        a = a * torch.ones(lq, lk, dtype=torch.bool, device=a.device).tril(lk - lq)
    return safe_divide(a, a.sum(-1, keepdim=True))
