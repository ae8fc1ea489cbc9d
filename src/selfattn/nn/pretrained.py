"""Pretrained BERT-family encoders (Hugging Face checkpoint folders) as selfattn modules.

The lecture's BERT [self-supervised pre-training, then fine-tuning]: a stack of post-norm
encoder layers over word + learned position + segment embeddings. A checkpoint folder
holds ``config.json``, ``model.safetensors`` (weights only: nothing is unpickled) and
usually ``tokenizer.json``. ``load_pretrained(path)`` maps it onto
``selfattn.nn.EncoderLayer`` s (q, k, v stacked into ``in_proj``) so the hidden states
equal those of ``transformers.BertModel`` (checked in the tests), then any head from
``selfattn.nn.heads`` fine-tunes it.

Shapes: ``ids (B, L)`` int64 token ids, ``mask (B, L)`` bool (``True`` = real token),
optional ``token_type_ids (B, L)``; output ``(B, L, hidden_size)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .encoder import EncoderLayer

__all__ = ["PretrainedEncoder", "load_pretrained"]

_ACTIVATIONS = {"gelu": lambda: nn.GELU(), "gelu_new": lambda: nn.GELU(approximate="tanh"),
                "gelu_pytorch_tanh": lambda: nn.GELU(approximate="tanh"), "relu": lambda: nn.ReLU()}
# RoBERTa-style models shift positions by the padding id, so only BERT layouts map exactly.
_BERT_TYPES = ("bert",)


class PretrainedEncoder(nn.Module):
    """Embeddings (word + position + token type, LayerNorm) and post-norm encoder layers.

    Built from a BERT ``config`` dict; ``tokenizer`` is the ``tokenizers.Tokenizer`` of the
    checkpoint (or None). ``width`` is the hidden size.
    """

    def __init__(self, config: dict[str, Any], tokenizer: Any = None) -> None:
        super().__init__()
        d, eps = int(config["hidden_size"]), float(config.get("layer_norm_eps", 1e-12))
        act = config.get("hidden_act", "gelu")
        if act not in _ACTIVATIONS:
            raise ValueError(f"config.json hidden_act: expected one of {sorted(_ACTIVATIONS)}, got {act!r}")
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("config.json position_embedding_type: expected 'absolute', got "
                             f"{config['position_embedding_type']!r}")
        self.config, self.tokenizer, self.width = dict(config), tokenizer, d
        self.word = nn.Embedding(int(config["vocab_size"]), d, padding_idx=config.get("pad_token_id", 0))
        self.position = nn.Embedding(int(config["max_position_embeddings"]), d)
        self.token_type = nn.Embedding(int(config.get("type_vocab_size", 2)), d)
        self.embed_norm = nn.LayerNorm(d, eps=eps)
        self.embed_drop = nn.Dropout(float(config.get("hidden_dropout_prob", 0.1)))
        self.layers = nn.ModuleList()
        for _ in range(int(config["num_hidden_layers"])):
            layer = EncoderLayer(d, int(config["num_attention_heads"]),
                                 dim_feedforward=int(config["intermediate_size"]),
                                 dropout=float(config.get("hidden_dropout_prob", 0.1)), norm_first=False)
            layer.self_attn.dropout = float(config.get("attention_probs_dropout_prob", 0.1))
            layer.ff[1] = _ACTIVATIONS[act]()
            layer.norm1.eps = layer.norm2.eps = eps
            self.layers.append(layer)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, return_weights: bool = False, **_):
        if ids.dim() != 2 or ids.is_floating_point():
            raise ValueError(f"ids: expected int token ids (batch, length), got {ids.dtype} "
                             f"{tuple(ids.shape)}")
        length = ids.shape[1]
        if length > self.position.num_embeddings:
            raise ValueError(f"ids: expected at most {self.position.num_embeddings} tokens "
                             f"(max_position_embeddings), got {length}")
        pos = torch.arange(length, device=ids.device)
        types = torch.zeros_like(ids) if token_type_ids is None else token_type_ids
        h = self.word(ids) + self.position(pos)[None] + self.token_type(types)
        h = self.embed_drop(self.embed_norm(h))
        kw = {} if mask is None else {"key_mask": mask}
        weights = []
        for layer in self.layers:
            if return_weights:
                h, w = layer(h, return_weights=True, **kw)
                weights.append(w)
            else:
                h = layer(h, **kw)
        return (h, weights) if return_weights else h

    def encode_texts(self, texts: list[str], max_len: int | None = None) -> list[torch.Tensor]:
        """Texts -> ``(n_i,)`` int64 ids with [CLS] ... [SEP], cut at ``max_len`` tokens."""
        if self.tokenizer is None:
            raise ValueError("tokenizer: this checkpoint folder has no tokenizer.json")
        limit = max_len or self.position.num_embeddings
        out = []
        for enc in self.tokenizer.encode_batch(texts):
            ids = enc.ids
            if len(ids) > limit:
                ids = ids[:limit - 1] + ids[-1:]
            out.append(torch.tensor(ids, dtype=torch.long))
        return out


def _convert(state: dict[str, torch.Tensor], n_layers: int) -> dict[str, torch.Tensor]:
    """Hugging Face BERT names -> ours."""
    for prefix in ("bert.", "model."):
        if any(k.startswith(prefix + "embeddings.") for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    e = "embeddings."
    out = {"word.weight": state[e + "word_embeddings.weight"],
           "position.weight": state[e + "position_embeddings.weight"],
           "token_type.weight": state[e + "token_type_embeddings.weight"],
           "embed_norm.weight": state[e + "LayerNorm.weight"], "embed_norm.bias": state[e + "LayerNorm.bias"]}
    for i in range(n_layers):
        src, dst = f"encoder.layer.{i}.", f"layers.{i}."
        for part in ("weight", "bias"):
            out[dst + f"self_attn.in_proj.{part}"] = torch.cat(
                [state[src + f"attention.self.{n}.{part}"] for n in ("query", "key", "value")])
            out[dst + f"self_attn.out_proj.{part}"] = state[src + f"attention.output.dense.{part}"]
            out[dst + f"norm1.{part}"] = state[src + f"attention.output.LayerNorm.{part}"]
            out[dst + f"ff.0.{part}"] = state[src + f"intermediate.dense.{part}"]
            out[dst + f"ff.3.{part}"] = state[src + f"output.dense.{part}"]
            out[dst + f"norm2.{part}"] = state[src + f"output.LayerNorm.{part}"]
    return out


def load_pretrained(path: str | Path) -> PretrainedEncoder:
    """A BERT-family checkpoint folder (``config.json``, ``model.safetensors``, optional
    ``tokenizer.json``) -> :class:`PretrainedEncoder` with its weights."""
    from safetensors.torch import load_file

    folder = Path(path)
    for name in ("config.json", "model.safetensors"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"path: expected {name} in the checkpoint folder {folder}, it is missing")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type", "bert") not in _BERT_TYPES:
        raise ValueError(f"{folder / 'config.json'}: model_type expected one of {list(_BERT_TYPES)}, "
                         f"got {config.get('model_type')!r}")
    tokenizer = None
    if (folder / "tokenizer.json").is_file():
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.no_truncation()
    model = PretrainedEncoder(config, tokenizer)
    try:
        state = _convert(load_file(str(folder / "model.safetensors")), len(model.layers))
    except KeyError as error:
        raise ValueError(f"{folder / 'model.safetensors'}: not a BERT checkpoint, missing {error}") from None
    model.load_state_dict(state, strict=True)
    return model
