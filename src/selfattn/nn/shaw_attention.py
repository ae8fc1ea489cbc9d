"""Multi-head attention with Shaw's relative keys and values (Shaw et al. 2018).

``ShawMultiHeadAttention`` is a ``MultiHeadAttention`` whose ``attend`` adds Shaw's key term
to the scores and value term to the outputs (``selfattn.positional.shaw.shaw_attention``;
see there for which kernel runs it and why), with the tables of a
``selfattn.positional.ShawRelativePositions``. Everything else (projections, masks, packed
input, the module's ``position_bias`` and ``rotary``) is as in ``MultiHeadAttention``.

Shapes: ``x (B, L, E)`` with masks, or packed ``x (N, E)`` with ``offsets (B + 1,)``
(packed input is padded to its longest set for this layer, each set keeping its own
positions from 0, and packed again).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..functional import ScoreBias
from ..positional.base import attention_for
from ..positional.shaw import shaw_attention
from ..positional.shaw_layer import ShawRelativePositions
from ..varlen import check_offsets, pack, pad
from .attention import MultiHeadAttention

__all__ = ["ShawMultiHeadAttention"]

DENSE_KERNELS = ("auto", "sdpa", "flash_bias", "explicit", "reference")


class ShawMultiHeadAttention(MultiHeadAttention):
    """``MultiHeadAttention`` with Shaw's relative keys and values.

    Args:
        embed_dim, num_heads, **kwargs: as ``MultiHeadAttention`` (``score`` must be
            ``"dot"``: the key term is a dot product; ``kernel`` a dense kernel).
        relative: the tables to use (default: new ones with ``max_distance``).
        max_distance: ``K`` for new tables.

    Forward: as ``MultiHeadAttention.forward``.
    """

    def __init__(self, embed_dim: int, num_heads: int, *,
                 relative: ShawRelativePositions | None = None, max_distance: int = 16,
                 **kwargs: Any) -> None:
        super().__init__(embed_dim, num_heads, **kwargs)
        if self.score != "dot":
            raise ValueError("score: Shaw's relative keys add q . a^K to a dot-product score; "
                             f"expected 'dot', got {kwargs.get('score')!r}")
        if self.kernel not in DENSE_KERNELS:
            raise ValueError(
                f"kernel: Shaw relative positions need a dense kernel {DENSE_KERNELS} (the key "
                "term depends on q, so it is a dense bias, and the value term needs the "
                f"attention weights), got {self.kernel!r}")
        self.relative = relative or ShawRelativePositions(self.head_dim, max_distance)
        if self.relative.head_dim != self.head_dim or self.relative.values.shape[1] != self.head_dim:
            raise ValueError(f"relative: expected tables with rows of size {self.head_dim} (the "
                             f"head_dim), got keys {tuple(self.relative.keys.shape)} and values "
                             f"{tuple(self.relative.values.shape)}")

    @classmethod
    def from_mha(cls, mha: MultiHeadAttention, relative: ShawRelativePositions
                 ) -> ShawMultiHeadAttention:
        """The same attention (configuration and weights) plus Shaw's tables."""
        if not isinstance(mha, MultiHeadAttention):
            raise TypeError(f"mha: expected a selfattn.nn.MultiHeadAttention, got "
                            f"{type(mha).__name__}")
        if mha.score != "dot":
            raise ValueError("mha: Shaw's relative keys need dot-product scores, this module "
                             "uses an additive score")
        w = mha.out_proj.weight
        new = cls(mha.embed_dim, mha.num_heads, kdim=mha.kdim, vdim=mha.vdim,
                  head_dim=mha.head_dim, bias=mha.out_proj.bias is not None, dropout=mha.dropout,
                  normalize=mha.normalize, kernel=mha.kernel, position_bias=mha.position_bias,
                  rotary=mha.rotary, relative=relative).to(device=w.device, dtype=w.dtype)
        missing, unexpected = new.load_state_dict(mha.state_dict(), strict=False)
        if unexpected or any(not m.startswith("relative.") for m in missing):
            raise ValueError(f"mha: could not copy its weights (missing {missing}, unexpected "
                             f"{unexpected})")  # pragma: no cover - the classes agree
        return new

    def attend(self, q, k, v, *, mask=None, key_mask=None, key_lengths=None, causal=False,
               bias=None, dropout_p=0.0, return_weights=False, q_pos=None, pattern=None):
        """``MultiHeadAttention.attend`` with Shaw's key and value terms (``q_pos (B, Lq)``:
        each query's position when sets are padded from packed input). Shaw's terms run on
        the dense kernels, so a ``pattern`` becomes its dense mask."""
        if pattern is not None:
            allowed = pattern.dense_mask(q.shape[-2], k.shape[-2], device=q.device)
            mask = allowed if mask is None else mask & allowed
        q, k = self._rotate(q, k)
        res = shaw_attention(
            q, k, v, self.relative.keys, self.relative.values, self.relative.max_distance,
            q_pos=q_pos, mask=mask, key_mask=key_mask, key_lengths=key_lengths, causal=causal,
            bias=self._shaw_bias(bias), normalize=self.normalize, dropout_p=dropout_p,
            kernel=self.kernel, return_weights=return_weights)
        return res if return_weights else (res, None)

    def _shaw_bias(self, bias: torch.Tensor | None) -> torch.Tensor | ScoreBias | None:
        if bias is not None and bias.dim() not in (2, 4):
            raise ValueError(f"bias: expected a 2-D (Lq, Lk) or 4-D (batch|1, heads|1, Lq, Lk) "
                             f"tensor, got shape {tuple(bias.shape)}")
        return self._bias(bias)

    def attend_packed(self, q, k, v, offsets, context_offsets=None, *, causal=False,
                      dropout_p=0.0, return_weights=False, pattern=None):
        """Packed heads are padded to the longest set (each set keeps its own positions from
        0), attended with ``attend`` and packed again."""
        check_offsets(offsets, q.shape[0], "offsets")
        key_offs = offsets if context_offsets is None else context_offsets
        check_offsets(key_offs, k.shape[0], "context_offsets")
        if self.rotary is not None and context_offsets is not None:
            raise ValueError("context_offsets: packed cross-attention with both Shaw tables and "
                             "a rotary embedding is not supported (RoPE would need per-set query "
                             "positions); pad the input instead")
        if causal and not torch.equal(key_offs, offsets):
            raise ValueError("causal: packed causal attention needs the same sets for queries "
                             "and keys (context_offsets=None)")
        lq = offsets[1:] - offsets[:-1]
        lk = key_offs[1:] - key_offs[:-1]
        qp = pad(q, offsets)[0].transpose(1, 2)  # (B, H, max lq, D)
        kp = pad(k, key_offs)[0].transpose(1, 2)
        vp = pad(v, key_offs)[0].transpose(1, 2)
        # Each set's own positions: query i of set b sits at i + lk_b - lq_b.
        q_pos = torch.arange(qp.shape[2], device=q.device)[None, :] + (lk - lq)[:, None]
        # With the same sets for queries and keys, the padded causal mask is each set's own.
        if pattern is not None and context_offsets is not None:
            raise ValueError("context_offsets: a pattern applies inside each set, so packed input with "
                             "a pattern is self-attention only; expected context_offsets=None")
        o, w = self.attend(qp, kp, vp, key_lengths=lk, causal=causal, dropout_p=dropout_p,
                           return_weights=return_weights, q_pos=q_pos, pattern=pattern)
        out, _ = pack(o.transpose(1, 2), lengths=lq)
        if not return_weights:
            return out, None
        return out, [w[s, :, : int(lq[s]), : int(lk[s])] for s in range(w.shape[0])]


@attention_for.register
def _shaw(scheme: ShawRelativePositions, mha: nn.Module) -> nn.Module:
    """Shaw's tables need their own attention: ``mha``'s configuration and weights plus the
    tables (shared, not copied)."""
    return ShawMultiHeadAttention.from_mha(mha, scheme)
