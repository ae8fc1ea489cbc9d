"""BERT-family checkpoints: each family's ``config.json`` keys and weight names -> one layout.

The families share the lecture's BERT encoder (embeddings, then post-norm layers of
multi-head self-attention + feed-forward) and differ in small ways this module spells out:

* **BERT**: word + absolute position + token-type embeddings, positions ``0 .. L-1``.
* **RoBERTa / XLM-RoBERTa**: as BERT, but position ids start after the padding id
  (``pad_token_id + 1 + i``; Hugging Face counts non-padding tokens), one token type.
* **ELECTRA** (discriminator): as BERT; embeddings may be narrower than the layers
  (``embedding_size``), then a linear ``embeddings_project`` widens them.
* **DistilBERT**: no token types, its own config keys (``dim``, ``n_layers``, ...) and
  weight names (``q_lin``, ``sa_layer_norm``, ``ffn.lin1``, ...).

``spec_of(config)`` gives a family-independent dict (sizes, eps, activation, position
offset); ``convert(state, spec)`` renames a safetensors state dict to
``PretrainedEncoder``'s names (q, k, v stacked into one fused ``in_proj``). Anything not
mapped (another ``model_type``, relative positions) raises one line naming the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

__all__ = ["FAMILIES", "convert", "spec_of"]

# model_type -> (weight-name prefixes to strip, layer naming scheme)
FAMILIES = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "electra": "bert",
            "distilbert": "distilbert"}
_PREFIXES = ("bert.", "roberta.", "electra.", "distilbert.", "model.")


def spec_of(config: dict[str, Any], where: Path | str = "config.json") -> dict[str, Any]:
    """A checkpoint's ``config.json`` dict -> the sizes ``PretrainedEncoder`` is built from."""
    family = config.get("model_type", "bert")
    if family not in FAMILIES:
        raise ValueError(f"{where}: model_type expected one of {list(FAMILIES)}, got {family!r}")
    position = config.get("position_embedding_type", "absolute")
    if position != "absolute":
        raise ValueError(f"{where}: position_embedding_type expected 'absolute' (relative positions "
                         f"are not mapped), got {position!r}")
    try:
        if family == "distilbert":
            hidden = int(config["dim"])
            spec = {"hidden": hidden, "embedding": hidden, "layers": int(config["n_layers"]),
                    "heads": int(config["n_heads"]), "ff": int(config["hidden_dim"]),
                    "act": config.get("activation", "gelu"), "eps": 1e-12,
                    "dropout": float(config.get("dropout", 0.1)),
                    "attention_dropout": float(config.get("attention_dropout", 0.1)),
                    "types": 0}
        else:
            hidden = int(config["hidden_size"])
            spec = {"hidden": hidden, "embedding": int(config.get("embedding_size", hidden)),
                    "layers": int(config["num_hidden_layers"]), "heads": int(config["num_attention_heads"]),
                    "ff": int(config["intermediate_size"]), "act": config.get("hidden_act", "gelu"),
                    "eps": float(config.get("layer_norm_eps", 1e-12)),
                    "dropout": float(config.get("hidden_dropout_prob", 0.1)),
                    "attention_dropout": float(config.get("attention_probs_dropout_prob", 0.1)),
                    "types": int(config.get("type_vocab_size", 2))}
        spec.update(family=family, vocab=int(config["vocab_size"]),
                    positions=int(config["max_position_embeddings"]),
                    pad=int(config.get("pad_token_id", 0) or 0))
    except KeyError as error:
        raise ValueError(f"{where}: expected the key {error} for model_type {family!r}") from None
    # RoBERTa's position ids are pad + 1 + i, so its first usable row is pad + 1
    spec["position_offset"] = spec["pad"] + 1 if family in ("roberta", "xlm-roberta") else 0
    return spec


def _strip_prefix(state: dict[str, torch.Tensor], marker: str) -> dict[str, torch.Tensor]:
    """Drop a task model's prefix (``bert.``, ``electra.``, ...) and its head weights."""
    if marker in state:
        return state
    for prefix in _PREFIXES:
        if prefix + marker in state:
            return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return state


def _fused(get, names: list[str], part: str) -> torch.Tensor:
    return torch.cat([get(n + part) for n in names])


def convert(state: dict[str, torch.Tensor], spec: dict[str, Any]) -> dict[str, torch.Tensor]:
    """A family's weight names -> ``PretrainedEncoder``'s (raises ``KeyError`` on a missing one)."""
    state = _strip_prefix(state, "embeddings.word_embeddings.weight")
    e = "embeddings."
    out = {"word.weight": state[e + "word_embeddings.weight"],
           "position.weight": state[e + "position_embeddings.weight"],
           "embed_norm.weight": state[e + "LayerNorm.weight"], "embed_norm.bias": state[e + "LayerNorm.bias"]}
    if spec["types"]:
        out["token_type.weight"] = state[e + "token_type_embeddings.weight"]
    if spec["embedding"] != spec["hidden"]:
        for part in ("weight", "bias"):
            out[f"embed_project.{part}"] = state[f"embeddings_project.{part}"]
    distil = FAMILIES[spec["family"]] == "distilbert"
    for i in range(spec["layers"]):
        dst = f"layers.{i}."
        if distil:
            src = f"transformer.layer.{i}."
            qkv, names = [src + f"attention.{n}_lin." for n in "qkv"], {
                "self_attn.out_proj": "attention.out_lin", "norm1": "sa_layer_norm",
                "ff.0": "ffn.lin1", "ff.3": "ffn.lin2", "norm2": "output_layer_norm"}
        else:
            src = f"encoder.layer.{i}."
            qkv, names = [src + f"attention.self.{n}." for n in ("query", "key", "value")], {
                "self_attn.out_proj": "attention.output.dense", "norm1": "attention.output.LayerNorm",
                "ff.0": "intermediate.dense", "ff.3": "output.dense", "norm2": "output.LayerNorm"}
        for part in ("weight", "bias"):
            out[dst + f"self_attn.in_proj.{part}"] = _fused(state.__getitem__, qkv, part)
            for ours, theirs in names.items():
                out[dst + f"{ours}.{part}"] = state[src + f"{theirs}.{part}"]
    return out
