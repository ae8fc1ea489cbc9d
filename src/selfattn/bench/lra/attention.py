"""The attentions of the LRA chart, by name, each built for sequences up to ``max_len``.

The Long Range Arena (Tay et al. 2021, Table 1) compares the vanilla Transformer with ten
efficient ones inside one fixed model. Here each comes from what selfattn already has:

==================  ==============================================================
name                module
==================  ==============================================================
full                ``MultiHeadAttention`` (the core; fused SDPA), exact softmax
local               ``WindowPattern(w)``: each query sees ``w = 32`` keys on each side
sparse_transformer  ``StridedPattern(s, causal=False)``, ``s = round(sqrt(max_len))``
longformer          ``LongformerPattern(32, global_tokens=(0,))``
bigbird             ``BigBirdPattern(32, 3 window blocks, global block 0, 2 random blocks)``
reformer            ``ReformerAttention``: LSH, 2 rounds, chunks ``c``, ``2 max_len / 2c`` buckets
linformer           ``LinformerAttention``: ``k = 64`` projected keys (128 beyond 1,024)
performer           ``PerformerAttention``: FAVOR+, 64 features
linear              ``LinearTransformerAttention`` (elu + 1)
synthesizer         ``SynthesizerDenseAttention``
sinkhorn            ``SinkhornAttention``: blocks of ``c``
nystrom             ``NystromAttention``: 32 landmarks (64 beyond 1,024)
==================  ==============================================================

``c = 32`` up to ``max_len = 1,024``, else 64. These are the papers' usual settings scaled
to short sequences (``attention_options``; ``build_lra_attention`` takes overrides).
The four pattern attentions are ``PatternAttention``: ``MultiHeadAttention`` whose
attention step passes its pattern to ``selfattn.functional.attention``, which runs the
pattern's exact sparse kernel (or, below the measured crossover, dense attention with the
pattern's mask: exact either way). A pattern whose layout depends on the sequence's
length (BigBird's random blocks, drawn per number of blocks) is fixed at ``max_len`` and
a shorter sequence uses its top-left corner, so padding a set never changes its output.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ...nn.attention import MultiHeadAttention
from ...nn.variants import build_attention
from ...patterns import BigBirdPattern, LongformerPattern, StridedPattern, WindowPattern
from ...patterns._common import check_int

__all__ = ["LRA_ATTENTIONS", "PATTERN_ATTENTIONS", "FixedBigBirdPattern", "PatternAttention",
           "attention_options", "build_lra_attention", "lra_pattern"]

#: The chart's order: the Transformer, the four sparse patterns, then the approximations.
LRA_ATTENTIONS = ("full", "local", "sparse_transformer", "longformer", "bigbird", "reformer",
                  "linformer", "performer", "linear", "synthesizer", "sinkhorn", "nystrom")
PATTERN_ATTENTIONS = ("local", "sparse_transformer", "longformer", "bigbird")
_VARIANT_NAMES = {"synthesizer": "synthesizer_dense"}


class FixedBigBirdPattern(BigBirdPattern):
    """``BigBirdPattern`` whose block layout is drawn once for ``max_len`` positions; a
    sequence of ``L <= max_len`` uses the layout's first ``ceil(L / block_size)`` blocks, so
    a set's random blocks do not depend on how far its batch is padded."""

    def __init__(self, max_len: int, block_size: int, **kwargs: Any) -> None:
        check_int("max_len", max_len, 1)
        self.max_blocks = -(-max_len // check_int("block_size", block_size, 1))
        super().__init__(block_size, **kwargs)

    def _layout(self, nb: int) -> torch.Tensor:
        if nb > self.max_blocks:
            raise ValueError(f"length: expected at most {self.max_blocks} blocks of {self.block_size} "
                             f"(max_len), got {nb} blocks")
        return super()._layout(self.max_blocks)[:nb, :nb].clone()


def lra_pattern(name: str, max_len: int, window: int = 32, block_size: int = 32,
                random_blocks: int = 2, seed: int = 0) -> Any:
    """The pattern of a pattern attention (``PATTERN_ATTENTIONS``) for ``max_len``."""
    if name == "local":
        return WindowPattern(window)
    if name == "sparse_transformer":
        return StridedPattern(max(2, round(math.sqrt(max_len))), causal=False)
    if name == "longformer":
        return LongformerPattern(window, global_tokens=(0,))
    if name == "bigbird":
        return FixedBigBirdPattern(max_len, block_size, window_blocks=3, global_blocks=(0,),
                                   random_blocks=random_blocks, seed=seed)
    raise ValueError(f"name: expected one of {PATTERN_ATTENTIONS}, got {name!r}")


class PatternAttention(MultiHeadAttention):
    """``MultiHeadAttention`` restricted to ``pattern`` (``selfattn.patterns``): query ``i``
    may attend to key ``j`` iff the pattern allows ``(i, j)`` and ``j`` is a real key.

    Shapes as ``MultiHeadAttention``: ``x (B, L, E)`` -> ``(B, L, E)``; masks are bool,
    ``True`` = may attend, and are combined with the pattern. Packed input (``offsets``)
    applies the pattern inside each set. (The core module's ``pattern=`` with the pattern
    required, under the LRA's name.)
    """

    def __init__(self, embed_dim: int, num_heads: int, *, pattern: Any, **kwargs: Any) -> None:
        if pattern is None:
            raise TypeError("pattern: expected a selfattn.patterns pattern, got None")
        super().__init__(embed_dim, num_heads, pattern=pattern, **kwargs)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, pattern={self.pattern!r}"


def attention_options(name: str, max_len: int) -> dict[str, Any]:
    """Method options sized for sequences up to ``max_len`` (see the module docstring)."""
    chunk = 32 if max_len <= 1024 else 64
    return {
        "linformer": {"max_len": max_len, "k": min(128 if max_len > 1024 else 64, max_len)},
        "performer": {"num_features": 64},
        "reformer": {"n_buckets": max(2, 2 * (max_len // (2 * chunk))), "n_hashes": 2,
                     "chunk_size": chunk},
        "synthesizer_dense": {"max_len": max_len},
        "synthesizer_random": {"max_len": max_len},
        "sinkhorn": {"max_len": max_len, "block_size": chunk},
        "nystrom": {"num_landmarks": 32 if max_len <= 1024 else 64},
    }.get(_VARIANT_NAMES.get(name, name), {})


def build_lra_attention(name: str, d_model: int, heads: int, max_len: int, **overrides: Any) -> nn.Module:
    """The attention module called ``name`` (one of ``LRA_ATTENTIONS``, or any name
    ``selfattn.nn.build_attention`` takes) for sequences up to ``max_len``.

    ``overrides`` replace entries of ``attention_options`` (or, for a pattern attention,
    arguments of ``lra_pattern``: ``window``, ``block_size``, ``random_blocks``, ``seed``).
    No dropout acts inside any attention (not every method forms weights to drop); the
    model's dropout sits outside it, the same for all.
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a string, got {type(name).__name__}")
    if max_len < 1:
        raise ValueError(f"max_len: expected a positive length, got {max_len}")
    if name in PATTERN_ATTENTIONS:
        return PatternAttention(d_model, heads, pattern=lra_pattern(name, max_len, **overrides))
    kwargs = {**attention_options(name, max_len), **overrides}
    return build_attention(_VARIANT_NAMES.get(name, name), d_model, heads, **kwargs)
