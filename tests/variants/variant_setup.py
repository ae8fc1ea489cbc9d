"""Small configurations of every attention variant, shared by the variant tests
(a plain module, not a conftest: other test folders have their own conftest.py)."""

from __future__ import annotations

import torch

from selfattn.nn.variants import build_attention

E, H = 16, 2

#: name -> constructor options that keep each variant small (and deterministic in eval).
VARIANT_OPTIONS: dict[str, dict] = {
    "linformer": {"max_len": 48, "k": 12},
    "performer": {"num_features": 32, "seed": 0},
    "linear": {},
    "reformer": {"n_buckets": 4, "n_hashes": 2, "chunk_size": 4, "seed": 0},
    "synthesizer_dense": {"max_len": 48},
    "synthesizer_random": {"max_len": 48},
    "sinkhorn": {"max_len": 48, "block_size": 4},
    "nystrom": {"num_landmarks": 6},
}
VARIANTS = list(VARIANT_OPTIONS)


def make_variant(name: str, **overrides) -> torch.nn.Module:
    """A float64 module in eval mode, built from a fixed seed."""
    torch.manual_seed(0)
    m = build_attention(name, E, H, **{**VARIANT_OPTIONS[name], **overrides})
    return m.double().eval()
