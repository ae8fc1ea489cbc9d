"""Pretrained BERT-family encoders (Hugging Face checkpoint folders) as selfattn modules.

The lecture's BERT [self-supervised pre-training, then fine-tuning]: a stack of post-norm
encoder layers over word + learned position + segment embeddings. A checkpoint folder
holds ``config.json``, ``model.safetensors`` (weights only: nothing is unpickled) and
usually ``tokenizer.json``. ``load_pretrained(path)`` maps BERT, RoBERTa, XLM-RoBERTa,
ELECTRA and DistilBERT (``pretrained_families``) onto ``selfattn.nn.EncoderLayer`` s (q,
k, v fused into one ``in_proj``) so the hidden states equal those of ``transformers``
(checked in the tests), then any head from ``selfattn.nn.heads`` fine-tunes it.

Packed by default: the padding is removed once, from the ids, so the embeddings, every
projection, feed-forward and norm run on the ``(N_tokens, d)`` real tokens and attention
on per-set blocks (``functional.varlen_attention``); the result is padded once at the end.
Padded slots cost nothing (batch 32 of lengths 8..128 is ~half padding). ``packed=False``
runs the padded stack, the slow obvious twin the tests compare with.

Shapes: ``ids (B, L)`` int64 token ids, ``mask (B, L)`` bool (``True`` = real token),
optional ``token_type_ids (B, L)``; output ``(B, L, hidden)`` (zeros at padded slots when
packed). ``encode_packed(ids (N,), offsets (B + 1,))`` -> ``(N, hidden)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..varlen import check_offsets, lengths_to_offsets
from ..varlen import positions as packed_positions
from .encoder import EncoderLayer, run_layers
from .pretrained_families import FAMILIES, convert, spec_of

__all__ = ["PretrainedEncoder", "load_pretrained"]

_ACTIVATIONS = {"gelu": lambda: nn.GELU(), "gelu_new": lambda: nn.GELU(approximate="tanh"),
                "gelu_pytorch_tanh": lambda: nn.GELU(approximate="tanh"), "relu": lambda: nn.ReLU()}


class PretrainedEncoder(nn.Module):
    """Embeddings (word + position [+ token type], LayerNorm) and post-norm encoder layers.

    Built from a checkpoint's ``config`` dict (any family in ``FAMILIES``); ``tokenizer`` is
    its ``tokenizers.Tokenizer`` (or None). ``width`` is the hidden size. ``packed``: run
    on the real tokens only (default) or on the padded batch.
    """

    def __init__(self, config: dict[str, Any], tokenizer: Any = None, packed: bool = True) -> None:
        super().__init__()
        spec = spec_of(config)
        if spec["act"] not in _ACTIVATIONS:
            raise ValueError(f"config.json activation: expected one of {sorted(_ACTIVATIONS)}, "
                             f"got {spec['act']!r}")
        self.config, self.spec, self.tokenizer, self.packed = dict(config), spec, tokenizer, packed
        d, e, eps = spec["hidden"], spec["embedding"], spec["eps"]
        self.width = d
        self.word = nn.Embedding(spec["vocab"], e, padding_idx=spec["pad"])
        self.position = nn.Embedding(spec["positions"], e)
        self.token_type = nn.Embedding(spec["types"], e) if spec["types"] else None
        self.embed_norm = nn.LayerNorm(e, eps=eps)
        self.embed_drop = nn.Dropout(spec["dropout"])
        self.embed_project = nn.Linear(e, d) if e != d else None  # ELECTRA's narrower embeddings
        self.position_offset = spec["position_offset"]
        self.max_length = spec["positions"] - self.position_offset
        self.layers = nn.ModuleList()
        for _ in range(spec["layers"]):
            layer = EncoderLayer(d, spec["heads"], dim_feedforward=spec["ff"], dropout=spec["dropout"],
                                 norm_first=False)
            layer.self_attn.dropout = spec["attention_dropout"]
            layer.ff[1] = _ACTIVATIONS[spec["act"]]()
            layer.norm1.eps = layer.norm2.eps = eps
            self.layers.append(layer)

    def embed(self, ids: torch.Tensor, positions: torch.Tensor,
              token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Ids and position ids of any shape ``(...)`` -> ``(..., hidden)`` input vectors."""
        h = self.word(ids) + self.position(positions)
        if self.token_type is not None:
            h = h + self.token_type(torch.zeros_like(ids) if token_type_ids is None else token_type_ids)
        h = self.embed_drop(self.embed_norm(h))
        return h if self.embed_project is None else self.embed_project(h)

    def _position_ids(self, mask: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` position ids: the column (BERT) or pad + 1 + rank among real tokens
        (RoBERTa counts non-padding tokens, as Hugging Face does from the ids)."""
        if self.position_offset == 0:
            return torch.arange(mask.shape[1], device=mask.device).expand(mask.shape)
        return (mask.cumsum(1) - 1).clamp_min(0) + self.position_offset

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, return_weights: bool = False, *,
                packed: bool | None = None, **_):
        """``(B, L)`` ids -> ``(B, L, hidden)``; with ``return_weights`` (padded path) also
        each layer's ``(B, H, L, L)`` weights. ``packed`` overrides ``self.packed``."""
        if ids.dim() != 2 or ids.is_floating_point():
            raise ValueError(f"ids: expected int token ids (batch, length), got {ids.dtype} "
                             f"{tuple(ids.shape)}")
        if ids.shape[1] > self.max_length:
            raise ValueError(f"ids: expected at most {self.max_length} tokens "
                             f"(max_position_embeddings), got {ids.shape[1]}")
        if mask is not None and (mask.dtype != torch.bool or mask.shape != ids.shape):
            raise ValueError(f"mask: expected a bool tensor of shape {tuple(ids.shape)}, got "
                             f"{mask.dtype} {tuple(mask.shape)}")
        if token_type_ids is not None and token_type_ids.shape != ids.shape:
            raise ValueError(f"token_type_ids: expected shape {tuple(ids.shape)}, got "
                             f"{tuple(token_type_ids.shape)}")
        positions = self._position_ids(torch.ones_like(ids, dtype=torch.bool) if mask is None else mask)
        if return_weights or not (self.packed if packed is None else packed):
            return self._forward_padded(ids, mask, positions, token_type_ids, return_weights)
        if mask is None or bool(mask.all()):  # no padding to remove: one dense call per layer
            return self._forward_padded(ids, None, positions, token_type_ids, False)
        offsets = lengths_to_offsets(mask.sum(1))
        types = None if token_type_ids is None else token_type_ids[mask]
        h = self._layers_packed(self.embed(ids[mask], positions[mask], types), offsets)
        where = mask.nonzero(as_tuple=True)
        return h.new_zeros(*ids.shape, h.shape[-1]).index_put(where, h)

    def encode_packed(self, ids: torch.Tensor, offsets: torch.Tensor,
                      token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Packed ``ids (N,)`` with set ``offsets (B + 1,)`` -> ``(N, hidden)``; no padding at all."""
        if ids.dim() != 1 or ids.is_floating_point():
            raise ValueError(f"ids: expected packed int token ids (total,), got {ids.dtype} "
                             f"{tuple(ids.shape)}")
        check_offsets(offsets, ids.shape[0])
        lengths = offsets[1:] - offsets[:-1]
        if lengths.numel() and int(lengths.max()) > self.max_length:
            raise ValueError(f"offsets: expected sets of at most {self.max_length} tokens "
                             f"(max_position_embeddings), got {int(lengths.max())}")
        pos = packed_positions(offsets, ids.shape[0]) + self.position_offset
        return self._layers_packed(self.embed(ids, pos, token_type_ids), offsets)

    def _layers_packed(self, h: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            h = layer(h, offsets=offsets)
        return h

    def _forward_padded(self, ids, mask, positions, token_type_ids, return_weights):
        h = self.embed(ids, positions, token_type_ids)
        kw = {} if mask is None else {"key_mask": mask}
        h, weights = run_layers(self.layers, h, return_weights, **kw)
        return (h, weights) if return_weights else h

    def encode_texts(self, texts: list[str], max_len: int | None = None) -> list[torch.Tensor]:
        """Texts -> ``(n_i,)`` int64 ids with the tokenizer's specials ([CLS] ... [SEP] or
        <s> ... </s>), cut at ``max_len`` tokens (default the model's limit), last one kept."""
        if self.tokenizer is None:
            raise ValueError("tokenizer: this checkpoint folder has no tokenizer.json")
        limit = min(max_len or self.max_length, self.max_length)
        out = []
        for enc in self.tokenizer.encode_batch(texts):
            ids = enc.ids
            if len(ids) > limit:
                ids = ids[:limit - 1] + ids[-1:]
            out.append(torch.tensor(ids, dtype=torch.long))
        return out


def _read_weights(folder: Path) -> dict[str, torch.Tensor]:
    """``model.safetensors`` (or its shards); a pickle-only folder is refused, never loaded."""
    from safetensors.torch import load_file

    single, index = folder / "model.safetensors", folder / "model.safetensors.index.json"
    if single.is_file():
        return load_file(str(single))
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        state: dict[str, torch.Tensor] = {}
        for shard in shards:
            state.update(load_file(str(folder / shard)))
        return state
    if (folder / "pytorch_model.bin").is_file():
        where = repr(str(folder))
        raise ValueError(
            f"{folder / 'pytorch_model.bin'}: expected model.safetensors; pickled weights are never loaded "
            "(unpickling runs code). Convert a checkpoint you trust once with transformers: python -c "
            f"\"from transformers import AutoModel; "
            f"AutoModel.from_pretrained({where}).save_pretrained({where})\"")
    raise FileNotFoundError(f"path: expected model.safetensors in the checkpoint folder {folder}, "
                            "it is missing")


def load_pretrained(path: str | Path, packed: bool = True) -> PretrainedEncoder:
    """A checkpoint folder (``config.json``, ``model.safetensors``, optional ``tokenizer.json``)
    of a family in ``FAMILIES`` -> :class:`PretrainedEncoder` with its weights."""
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"path: expected config.json in the checkpoint folder {folder}, "
                                "it is missing")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    spec_of(config, folder / "config.json")  # refuse an unmapped family before reading weights
    state = _read_weights(folder)
    tokenizer = None
    if (folder / "tokenizer.json").is_file():
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.no_truncation()
    model = PretrainedEncoder(config, tokenizer, packed=packed)
    try:
        mapped = convert(state, model.spec)
    except KeyError as error:
        raise ValueError(f"{folder / 'model.safetensors'}: not a {model.spec['family']} checkpoint "
                         f"({sorted(FAMILIES)}), missing {error}") from None
    model.load_state_dict(mapped, strict=True)
    return model
