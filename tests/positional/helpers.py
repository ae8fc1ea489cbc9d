"""Shared builders for the positional tests: small float64 models of every scheme."""

from __future__ import annotations

import copy

import torch

from selfattn.positional import SCHEMES, PositionedEncoder

ALL = list(SCHEMES)
WITH_POSITIONS = [n for n in ALL if n != "none"]
D_MODEL, HEADS = 8, 2

# Small options so that short test sets exercise every branch (clipping, buckets, tables).
OPTIONS = {
    "learned": {"max_len": 32},
    "shaw": {"max_distance": 3},
    "t5": {"num_buckets": 8, "max_distance": 12},
    "floater": {"hidden": 8, "init_scale": 0.5},
    "rnn": {"hidden": 8, "input_dim": 4},
}


def model(name: str, seed: int = 0, layers: int = 2, kernel: str = "auto") -> PositionedEncoder:
    """A float64 ``PositionedEncoder`` without dropout, deterministic per seed."""
    torch.manual_seed(seed)
    enc = PositionedEncoder(name, D_MODEL, HEADS, layers, positional_options=OPTIONS.get(name),
                            dropout=0.0, kernel=kernel)
    if name == "floater":
        # Random initial state: at its sinusoidal start, p(0) makes many rows look alike.
        with torch.no_grad():
            enc.inputs.p0.normal_()
    return enc.double().eval()


def with_kernel(enc: PositionedEncoder, kernel: str) -> PositionedEncoder:
    """A copy of ``enc`` (same weights) whose attention runs on ``kernel``."""
    other = copy.deepcopy(enc)
    for layer in other.encoder.layers:
        layer.self_attn.kernel = kernel
    return other


def grads(module: torch.nn.Module, *inputs: torch.Tensor) -> list[torch.Tensor]:
    """Gradients of the parameters and of the given inputs (zeros where none flowed)."""
    params = [p for p in module.parameters() if p.requires_grad]
    out = []
    for t in [*params, *inputs]:
        out.append(torch.zeros_like(t) if t.grad is None else t.grad.clone())
    return out
