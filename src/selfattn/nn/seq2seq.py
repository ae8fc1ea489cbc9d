"""Sequence to sequence: an encoder over the source set, a decoder that writes the target.

The lecture's third output case: the model decides how many labels to produce
(translation). The encoder turns the ``n`` source vectors into ``n`` memory vectors; the
decoder produces target token ``t`` from the tokens before it (masked, *causal*
self-attention) and the memory (cross-attention: queries from the decoder, keys and
values from the encoder), until it writes ``<eos>``.

* Training uses *teacher forcing*: ``forward(src, src_mask, tgt_in)`` reads the gold
  prefix ``y[:-1]`` and returns scores ``(B, M, V)`` for every next token in one pass.
* Decoding: ``greedy`` and ``beam`` search, one token at a time. With ``cache=True`` each
  layer keeps the keys and values of the tokens already written (and the memory's keys
  and values, computed once), so a step costs O(t) instead of re-running the prefix:
  the same numbers, checked by the tests against ``cache=False``.

Shapes: ``src (B, S)`` int ids (or ``(B, S, F)`` fields), ``src_mask (B, S)`` bool
(``True`` = real token), ``tgt_in (B, M)`` ids starting with ``<bos>``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..functional import attention
from .attention import MultiHeadAttention
from .model import AttentionEncoder, InputEmbedding, positional_module

__all__ = ["DecoderLayer", "Seq2Seq", "build_seq2seq"]


def _heads(mha: MultiHeadAttention, t: torch.Tensor) -> torch.Tensor:
    """(B, L, H * D) -> (B, H, L, D)."""
    return t.view(t.shape[0], t.shape[1], mha.num_heads, mha.head_dim).transpose(1, 2)


def _project(mha: MultiHeadAttention, x: torch.Tensor, part: slice) -> list[torch.Tensor]:
    """Rows ``part`` of ``mha``'s stacked q/k/v projection applied to ``x``, as heads."""
    inner = mha.num_heads * mha.head_dim
    w, b = mha.in_proj.weight, mha.in_proj.bias
    rows = slice(part.start * inner, part.stop * inner)
    out = F.linear(x, w[rows], None if b is None else b[rows])
    return [_heads(mha, t) for t in out.split(inner, dim=-1)]


def _attend(mha: MultiHeadAttention, q, k, v, key_mask=None) -> torch.Tensor:
    o = attention(q, k, v, key_mask=key_mask)
    return mha.out_proj(o.transpose(1, 2).reshape(o.shape[0], o.shape[2], -1))


class DecoderLayer(nn.Module):
    """Causal self-attention, cross-attention over the memory, feed-forward; each with a
    residual and a layer norm (pre-norm or post-norm)."""

    def __init__(self, d_model: int, num_heads: int, dim_feedforward: int, dropout: float = 0.1,
                 norm_first: bool = True) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.ff = nn.Sequential(nn.Linear(d_model, dim_feedforward), nn.GELU(), nn.Dropout(dropout),
                                nn.Linear(dim_feedforward, d_model))
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(3))
        self.drop = nn.Dropout(dropout)
        self.norm_first = norm_first

    def _sub(self, i: int, x: torch.Tensor, fn) -> torch.Tensor:
        if self.norm_first:
            return x + self.drop(fn(self.norms[i](x)))
        return self.norms[i](x + self.drop(fn(x)))

    def forward(self, x, memory, tgt_mask=None, memory_mask=None, return_weights: bool = False):
        """``x (B, M, d)``, ``memory (B, S, d)``; masks ``(B, M)`` / ``(B, S)``."""
        kw = {} if tgt_mask is None else {"key_mask": tgt_mask}
        x = self._sub(0, x, lambda h: self.self_attn(h, causal=True, **kw))
        ckw = {} if memory_mask is None else {"key_mask": memory_mask}
        weights = []

        def cross(h):
            res = self.cross_attn(h, memory, return_weights=return_weights, **ckw)
            if return_weights:
                weights.append(res[1])
                return res[0]
            return res

        x = self._sub(1, x, cross)
        x = self._sub(2, x, self.ff)
        return (x, weights[0]) if return_weights else x

    def step(self, x: torch.Tensor, cache: dict[str, torch.Tensor], memory_mask=None) -> torch.Tensor:
        """One new token ``x (B, 1, d)``; ``cache`` holds this layer's past self-attention
        ``k``/``v`` ``(B, H, t, D)`` (extended in place) and the memory's ``mk``/``mv``."""

        def self_part(h):
            q, k, v = _project(self.self_attn, h, slice(0, 3))
            cache["k"] = k if cache.get("k") is None else torch.cat([cache["k"], k], 2)
            cache["v"] = v if cache.get("v") is None else torch.cat([cache["v"], v], 2)
            return _attend(self.self_attn, q, cache["k"], cache["v"])

        def cross_part(h):
            (q,) = _project(self.cross_attn, h, slice(0, 1))
            return _attend(self.cross_attn, q, cache["mk"], cache["mv"], memory_mask)

        x = self._sub(0, x, self_part)
        x = self._sub(1, x, cross_part)
        return self._sub(2, x, self.ff)


class Seq2Seq(nn.Module):
    """Encoder-decoder with tied target embedding and output layer (module doc).

    ``share_source_embedding``: the source ids index the same table too (a joint subword
    vocabulary), scaled by ``sqrt(width)`` as the target's is.
    """

    def __init__(self, src_input: dict[str, Any], tgt_vocab: int, width: int, heads: int, depth: int,
                 decoder_depth: int, *, ff: int = 0, dropout: float = 0.1, norm: str = "pre",
                 attention: str = "full", attention_options: dict | None = None,
                 positional: str = "sinusoidal", positional_options: dict | None = None,
                 bos_id: int = 2, eos_id: int = 3, pad_id: int = 0,
                 share_source_embedding: bool = False) -> None:
        super().__init__()
        if share_source_embedding:
            sizes = src_input.get("vocab_sizes")
            if src_input.get("kind") != "tokens" or sizes != [tgt_vocab] or src_input.get("frozen_fields"):
                raise ValueError(f"share_source_embedding: expected source tokens of one field over the "
                                 f"target's {tgt_vocab} ids, got {src_input}")
        # One table for source, target and output (a joint vocabulary): ``None`` here.
        self.src_embed = None if share_source_embedding else InputEmbedding(src_input, width, dropout)
        self.encoder = AttentionEncoder(width, depth, heads, ff=ff, dropout=dropout, norm=norm,
                                        attention=attention, attention_options=attention_options,
                                        positional=positional, positional_options=positional_options)
        self.tgt_embed = nn.Embedding(tgt_vocab, width, padding_idx=pad_id)
        nn.init.normal_(self.tgt_embed.weight, std=width ** -0.5)
        # The decoder adds absolute positions: a KV cache then needs nothing but the step number.
        pos = positional_module(positional, width, heads, positional_options or {})
        self.tgt_pos = pos if pos.where == "inputs" else positional_module("sinusoidal", width, heads, {})
        self.layers = nn.ModuleList(DecoderLayer(width, heads, ff or 4 * width, dropout, norm == "pre")
                                    for _ in range(decoder_depth))
        self.norm = nn.LayerNorm(width) if norm == "pre" else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.bos_id, self.eos_id, self.pad_id, self.width = bos_id, eos_id, pad_id, width

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None) -> torch.Tensor:
        if self.src_embed is None:
            if src.is_floating_point() or src.dim() != 2:
                raise TypeError(f"src: expected int ids (B, S), got {src.dtype} {tuple(src.shape)}")
            h = self.drop(self.tgt_embed(src) * self.width ** 0.5)
        else:
            h = self.src_embed(src)
        return self.encoder(h, mask=src_mask)

    def _embed_targets(self, tgt: torch.Tensor, start: int = 0) -> torch.Tensor:
        e = self.tgt_embed(tgt) * self.width ** 0.5
        table = self.tgt_pos.table(start + tgt.shape[1], e.dtype)[start:]
        return self.drop(e + table[None])

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm(h) @ self.tgt_embed.weight.T

    def decode(self, tgt_in, memory, tgt_mask=None, memory_mask=None) -> torch.Tensor:
        """Teacher-forced decoder: ``(B, M)`` ids -> ``(B, M, V)`` next-token scores."""
        h = self._embed_targets(tgt_in)
        for layer in self.layers:
            h = layer(h, memory, tgt_mask, memory_mask)
        return self._logits(h)

    def forward(self, src, src_mask, tgt_in, tgt_mask=None) -> torch.Tensor:
        return self.decode(tgt_in, self.encode(src, src_mask), tgt_mask, src_mask)

    # -- decoding --------------------------------------------------------------------
    def start(self, memory: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """A fresh per-layer cache with the memory's cross-attention keys and values."""
        caches = []
        for layer in self.layers:
            mk, mv = _project(layer.cross_attn, memory, slice(1, 3))
            caches.append({"k": None, "v": None, "mk": mk, "mv": mv})
        return caches

    def next_scores(self, prefix: torch.Tensor, memory, memory_mask, caches=None) -> torch.Tensor:
        """``(B, V)`` log-probabilities of the token after ``prefix (B, t)``; with ``caches``
        only the last token is run (the caches hold the rest)."""
        if caches is None:
            return self.decode(prefix, memory, None, memory_mask)[:, -1].log_softmax(-1)
        h = self._embed_targets(prefix[:, -1:], start=prefix.shape[1] - 1)
        for layer, cache in zip(self.layers, caches, strict=True):
            h = layer.step(h, cache, memory_mask)
        return self._logits(h)[:, -1].log_softmax(-1)

    @torch.no_grad()
    def generate(self, src, src_mask=None, beam_size: int = 1, max_len: int = 128, cache: bool = True,
                 length_penalty: float = 0.6) -> list[list[int]]:
        """Decoded target ids per set (without ``<bos>``/``<eos>``); ``beam_size=1`` is greedy."""
        if beam_size < 1:
            raise ValueError(f"beam_size: expected >= 1, got {beam_size}")
        memory = self.encode(src, src_mask)
        b, k = memory.shape[0], beam_size
        memory = memory.repeat_interleave(k, 0)
        mmask = None if src_mask is None else src_mask.repeat_interleave(k, 0)
        caches = self.start(memory) if cache else None
        seqs = torch.full((b * k, 1), self.bos_id, dtype=torch.long, device=memory.device)
        scores = torch.zeros(b, k, device=memory.device)
        scores[:, 1:] = float("-inf")   # all beams start identical: keep one
        done = torch.zeros(b * k, dtype=torch.bool, device=memory.device)
        for _ in range(max_len):
            logp = self.next_scores(seqs, memory, mmask, caches)                  # (B*K, V)
            v = logp.shape[-1]
            logp = torch.where(done[:, None], torch.full_like(logp, float("-inf")), logp)
            logp[done, self.pad_id] = 0.0                                         # finished: pad, free
            total = (scores.reshape(-1, 1) + logp).view(b, k * v)
            scores, flat = total.topk(k, dim=-1)
            origin = (flat // v + torch.arange(b, device=flat.device)[:, None] * k).reshape(-1)
            token = (flat % v).reshape(-1)
            seqs = torch.cat([seqs[origin], token[:, None]], 1)
            done = done[origin] | (token == self.eos_id)
            if caches is not None:
                for c in caches:
                    c["k"], c["v"] = c["k"][origin], c["v"][origin]
            if bool(done.all()):
                break
        lengths = ((seqs != self.pad_id) & (seqs != self.eos_id)).sum(1).clamp_min(1).float()
        normed = scores.reshape(-1) / lengths ** length_penalty
        best = normed.view(b, k).argmax(-1) + torch.arange(b, device=seqs.device) * k
        out = []
        for row in seqs[best, 1:].tolist():
            row = [t for t in row if t != self.pad_id]
            out.append(row[: row.index(self.eos_id)] if self.eos_id in row else row)
        return out


def build_seq2seq(cfg: dict[str, Any], spec: dict[str, Any]) -> Seq2Seq:
    """A :class:`Seq2Seq` from a model config and a data spec (``target_vocab``, ids)."""
    return Seq2Seq(spec["input"], int(spec["target_vocab"]), int(cfg["width"]), int(cfg["heads"]),
                   int(cfg["depth"]), int(cfg.get("decoder_depth", cfg["depth"])), ff=int(cfg.get("ff") or 0),
                   dropout=float(cfg.get("dropout", 0.1)), norm=cfg.get("norm", "pre"),
                   attention=cfg.get("attention", "full"),
                   attention_options=cfg.get("attention_options") or {},
                   positional=cfg.get("positional", "sinusoidal"),
                   positional_options=cfg.get("positional_options") or {},
                   bos_id=int(spec["bos_id"]), eos_id=int(spec["eos_id"]), pad_id=int(spec.get("pad_id", 0)),
                share_source_embedding=bool(spec["input"].get("shared_with_target", False)))
