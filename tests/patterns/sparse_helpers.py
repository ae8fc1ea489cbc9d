"""Shared pieces of the sparse-pattern tests: the oracle comparison, test biases, path forcing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest import mock

import torch
from torch import nn

from selfattn.functional import ScoreBias, reference_attention
from selfattn.nn.scores import AdditiveScore

F64 = torch.float64
TOL = 1e-9  # float64: every kernel sums the same terms in a different order


class SlopeBias(ScoreBias):
    """ALiBi-like ``-slope_h * |i - j|`` with trainable slopes (a bias with a gradient)."""

    def __init__(self, num_heads: int, trainable: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        slopes = torch.linspace(0.1, 0.5, num_heads, dtype=F64)
        self.slopes = nn.Parameter(slopes, requires_grad=trainable)

    def pairwise(self, q_pos: torch.Tensor, k_pos: torch.Tensor) -> torch.Tensor:
        dist = (q_pos - k_pos).abs().to(F64)
        return -self.slopes.view(-1, *([1] * dist.dim())) * dist[None]


def qkv(b: int, h: int, lq: int, lk: int, d: int, seed: int, dv: int | None = None
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, h, lq, d, generator=g, dtype=F64).requires_grad_()
    k = torch.randn(b, h, lk, d, generator=g, dtype=F64).requires_grad_()
    v = torch.randn(b, h, lk, dv or d, generator=g, dtype=F64).requires_grad_()
    return q, k, v


def option_sets(h: int, d: int, lq: int, lk: int, b: int, seed: int) -> dict[str, dict]:
    """Named option combinations every pattern is checked with."""
    g = torch.Generator().manual_seed(seed + 1)
    lengths = torch.randint(0, lk + 1, (b,), generator=g)
    score = AdditiveScore(d, hidden_dim=3, num_heads=h).to(F64)
    return {
        "plain": {},
        "relu": {"normalize": "relu"},
        "sigmoid_causal": {"normalize": "sigmoid", "causal": True},
        "key_lengths": {"key_lengths": lengths},
        "dense_mask": {"mask": torch.rand(lq, lk, generator=g) < 0.8},
        "tensor_bias": {"bias": torch.randn(1, h, lq, lk, generator=g, dtype=F64)},
        "tensor_bias_grad": {"bias": torch.randn(lq, lk, generator=g, dtype=F64).requires_grad_()},
        "score_bias_fixed": {"bias": SlopeBias(h, trainable=False)},
        "score_bias_trainable": {"bias": SlopeBias(h)},
        "additive_score": {"score": score},
        "scale": {"scale": 0.3},
    }


def grads(out: torch.Tensor, inputs: list[torch.Tensor], seed: int) -> list[torch.Tensor]:
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)
    res = torch.autograd.grad(out, inputs, g, allow_unused=True)
    return [torch.zeros_like(x) if r is None else r for r, x in zip(res, inputs, strict=True)]


def trainable(options: dict) -> list[torch.Tensor]:
    extra = []
    for key in ("bias", "score"):
        obj = options.get(key)
        if isinstance(obj, nn.Module):
            extra += [p for p in obj.parameters() if p.requires_grad]
        elif isinstance(obj, torch.Tensor) and obj.requires_grad:
            extra.append(obj)
    return extra


def assert_close(a: torch.Tensor, b: torch.Tensor, what: str, tol: float = TOL) -> None:
    assert a.shape == b.shape, f"{what}: shape {tuple(a.shape)} != {tuple(b.shape)}"
    assert torch.isfinite(a).all(), f"{what}: non-finite values"
    err = (a - b).abs().max().item() if a.numel() else 0.0
    assert err <= tol, f"{what}: max abs error {err:.3g} > {tol}"


def check_vs_reference(run, q, k, v, pattern, options: dict, seed: int = 0,
                       weights: bool = False) -> None:
    """``run(q, k, v, pattern, **options)`` equals the oracle with ``pattern=``: outputs and
    the gradients of q, k, v and every trainable parameter of the options."""
    inputs = [q, k, v, *trainable(options)]
    res = run(q, k, v, pattern, return_weights=weights, **options)
    ref = reference_attention(q, k, v, pattern=pattern, return_weights=weights, **options)
    if weights:
        (out, w), (ref_out, ref_w) = res, ref
        assert_close(w, ref_w, "weights")
    else:
        out, ref_out = res, ref
    assert_close(out, ref_out, "output")
    for i, (a, b) in enumerate(zip(grads(out, inputs, seed), grads(ref_out, inputs, seed), strict=True)):
        assert_close(a, b, f"gradient of input {i}")


def on_path(run, path: str | None):
    """``run`` (``sparse_attention``-like) with the tile path named ``path`` forced
    (``"tiles_explicit"`` / ``"tiles_fused"``; None = the pattern's kernel chooses): both
    paths must equal the oracle."""
    if path is None:
        return run

    def forced(q, k, v, pattern, **options):
        return run(q, k, v, pattern, kernel=path, **options)

    return forced


def via_attention(q, k, v, pattern, **options):
    """``attention(..., pattern=pattern)`` with the dispatcher choosing the kernel."""
    from selfattn.functional import attention

    return attention(q, k, v, pattern=pattern, **options)


@contextlib.contextmanager
def one_tile_per_backward_chunk() -> Iterator[None]:
    """Make the flash backward walk its tiles one chunk per tile (exercises chunk seams)."""
    with mock.patch("selfattn.functional.sparse.tiles_flash._CHUNK_BYTES", 1):
        yield
