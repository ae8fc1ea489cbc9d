"""Inputs of the numerics tests: every exact kernel with every hazard, and the checks.

A case is one call in float64 whose batch entries each carry one hazard, in every dtype:

* entry 0: a fully padded set (no real key);
* entry 1: the first half of the keys padded, so that causal rows and the windows of
  early queries see only padding (empty causal rows, padding-only windows);
* entry 2: only the first third of the keys real (padding-only windows at the end);
* entry 3: every key real.

Graph cases add isolated nodes (targets without incoming edges); lengths include 1.
``q, k ~ sqrt(c) N(0, 1)`` and the default ``scale = 1/sqrt(D)`` give scores of standard
deviation ``c``, the *logit scale*. The pairs that may attend (``allowed``) are composed
here from the pattern's ``dense_mask``, the causal rule and the padding, independently
of the kernels, and decide which rows must be exactly zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from numerics_tolerances import magnitudes, relative_bound, score_max

from selfattn.functional import attention, reference_attention, varlen_attention
from selfattn.patterns import (
    BigBirdPattern,
    FixedPattern,
    GraphPattern,
    LongformerPattern,
    Neighborhood2DPattern,
    StridedPattern,
    WindowPattern,
)

F64 = torch.float64
KERNELS = ("sdpa", "flash_bias", "explicit", "reference", "window", "block_sparse",
           "neighborhood2d", "graph", "varlen")
SPARSE = ("window", "block_sparse", "neighborhood2d", "graph")
GRADS = {"dq": "q", "dk": "k", "dv": "v", "dbias": "bias"}


@dataclass
class Case:
    """One call: float64 ``q (B, H, Lq, D)``, ``k (B, H, Lk, D)``, ``v (B, H, Lk, Dv)``,
    a learned ``bias (Lq, Lk)`` or None, the kernel's ``options`` and the oracle's, and
    ``allowed`` bool ``(B, 1, Lq, Lk)``. Varlen cases hold the packed sets as batch 1 and
    ``offsets``."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    bias: torch.Tensor | None
    options: dict
    allowed: torch.Tensor
    seed: int
    oracle_options: dict = field(default_factory=dict)
    offsets: torch.Tensor | None = None


def hazard_key_mask(lk: int) -> torch.Tensor:
    """``(4, Lk)`` bool: the four batch entries of the module docstring."""
    j = torch.arange(lk)
    return torch.stack([j < 0, j >= -(-lk // 2), j < lk // 3, j >= 0])


def _composed(lq: int, lk: int, pattern, causal: bool, key_mask, mask) -> torch.Tensor:
    allowed = torch.ones(1, 1, lq, lk, dtype=torch.bool)
    if pattern is not None:
        allowed = allowed & pattern.dense_mask(lq, lk)
    if causal:
        i, j = torch.arange(lq)[:, None], torch.arange(lk)[None, :]
        allowed = allowed & (j <= i + lk - lq)
    if key_mask is not None:
        allowed = allowed & key_mask[:, None, None, :]
    if mask is not None:
        allowed = allowed & mask
    return allowed


def _pattern(kernel: str, lq: int, lk: int, g: torch.Generator):
    """The kernel's pattern (random parameters) and the lengths it fixes."""
    def pick(n: int) -> int:
        return int(torch.randint(0, n, (), generator=g))

    if kernel == "window":
        return WindowPattern(pick(3), pick(3), dilation=1 + pick(2)), lq, lk
    if kernel == "block_sparse":
        options = [BigBirdPattern(2, window_blocks=1, global_blocks=(0,), random_blocks=1, seed=pick(9)),
                   StridedPattern(2 + pick(2), causal=bool(pick(2))), FixedPattern(3, 1, causal=bool(pick(2))),
                   LongformerPattern(1, global_tokens=(0,))]
        return options[pick(4)], lq, lq
    if kernel == "neighborhood2d":
        h = max(1, round(math.sqrt(lq)))
        w = max(1, lq // h)
        return Neighborhood2DPattern(h, w, 1 + 2 * pick(2), border="clip"), h * w, h * w
    # graph: targets with in-edges are a random subset (the others are isolated nodes)
    has_edges = torch.rand(lq, generator=g) < 0.7
    targets = torch.nonzero(has_edges)[:, 0]
    if targets.numel() == 0:
        return GraphPattern(torch.zeros(2, 0, dtype=torch.long), (lk, lq)), lq, lk
    e = 3 * lq
    tgt = targets[torch.randint(0, targets.numel(), (e,), generator=g)]
    src = torch.randint(0, lk, (e,), generator=g)
    return GraphPattern(torch.stack([src, tgt]), (lk, lq), duplicates="merge"), lq, lk


def make_case(kernel: str, lq: int, lk: int, causal: bool, seed: int, c: float,
              heads: int = 2, d: int = 4) -> Case:
    """A short case for ``kernel`` at logit scale ``c`` (see the module docstring)."""
    g = torch.Generator().manual_seed(seed)
    dv = d if seed % 3 else max(1, d - 1)
    if kernel == "varlen":
        lengths = [0, 1, lq, int(torch.randint(0, lq + 1, (), generator=g))]
        n = sum(lengths)
        offsets = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()])
        seg = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
        pos = torch.arange(n) - offsets[seg]
        allowed = (seg[:, None] == seg[None, :]) & (~torch.tensor(causal) | (pos[None, :] <= pos[:, None]))
        q, k, v = _qkv(g, 1, heads, n, n, d, dv, c)
        return Case(q, k, v, None, {"causal": causal}, allowed[None, None], seed,
                    oracle_options={"mask": allowed}, offsets=offsets)
    pattern = None
    if kernel in SPARSE:
        pattern, lq, lk = _pattern(kernel, lq, lk, g)
    key_mask = hazard_key_mask(lk)
    b = key_mask.shape[0]
    mask = None
    if kernel not in SPARSE and seed % 2:
        mask = torch.rand(b, 1, lq, lk, generator=g) < 0.75
    q, k, v = _qkv(g, b, heads, lq, lk, d, dv, c)
    bias = None
    if kernel == "flash_bias" or (kernel in ("sdpa", "explicit", "reference") and seed % 4 >= 2):
        bias = torch.randn(lq, lk, generator=g, dtype=F64) * c
    options = {"pattern": pattern, "key_mask": key_mask, "causal": causal, "mask": mask}
    return Case(q, k, v, bias, options, _composed(lq, lk, pattern, causal, key_mask, mask), seed,
                oracle_options=options)


def _qkv(g, b, h, lq, lk, d, dv, c):
    s = math.sqrt(c)
    return (torch.randn(b, h, lq, d, generator=g, dtype=F64) * s,
            torch.randn(b, h, lk, d, generator=g, dtype=F64) * s,
            torch.randn(b, h, lk, dv, generator=g, dtype=F64))


# The long side of each sparse kernel's crossover (selfattn.functional.sparse.select) and a
# length below it; B = 2 (entry 1 half padded), H = 1, D = 4 keep them cheap.
LONG_LENGTHS = {"window": (128, 200), "graph": (128, 200), "neighborhood2d": (16, 18),
                "block_sparse": (512, 672)}


def make_long_case(kernel: str, above: bool, seed: int, c: float) -> Case:
    """A case on one side of ``kernel``'s crossover length, to be run with ``kernel="auto"``."""
    g = torch.Generator().manual_seed(seed)
    n = LONG_LENGTHS[kernel][int(above)]
    if kernel == "window":
        pattern = WindowPattern(2)
    elif kernel == "neighborhood2d":
        pattern, n = Neighborhood2DPattern(n, n, 3), n * n
    elif kernel == "block_sparse":
        pattern = StridedPattern(16, causal=False) if seed % 2 else BigBirdPattern(16, random_blocks=1)
    else:
        tgt = torch.randint(0, n - n // 8, (3 * n,), generator=g)  # the last n/8 nodes isolated
        pattern = GraphPattern(torch.stack([torch.randint(0, n, (3 * n,), generator=g), tgt]), n,
                               duplicates="merge")
    key_mask = torch.stack([torch.ones(n, dtype=torch.bool), torch.arange(n) < n // 2])
    q, k, v = _qkv(g, 2, 1, n, n, 4, 4, c)
    options = {"pattern": pattern, "key_mask": key_mask}
    return Case(q, k, v, None, options, _composed(n, n, pattern, False, key_mask, None), seed,
                oracle_options=options)


def _leaves(case: Case, dtype: torch.dtype, oracle: bool) -> dict[str, torch.Tensor]:
    """The inputs rounded to ``dtype`` (the oracle: those rounded values in float64)."""
    out = {"q": case.q, "k": case.k, "v": case.v}
    if case.bias is not None:
        out["bias"] = case.bias
    return {n: (t.to(dtype).to(F64) if oracle else t.to(dtype)).requires_grad_() for n, t in out.items()}


def run(case: Case, kernel: str, dtype: torch.dtype, need_weights: bool,
        oracle: str | None = None) -> tuple[dict[str, torch.Tensor | None], torch.Tensor]:
    """Output, weights and gradients of ``kernel`` on ``case`` in ``dtype`` (or of the
    float64 ``oracle``, ``"reference"`` or ``"explicit"``, on the rounded inputs), and the
    output cotangent used (rounded to ``dtype``)."""
    leaves = _leaves(case, dtype, oracle is not None)
    q, k, v = leaves["q"], leaves["k"], leaves["v"]
    bias = leaves.get("bias")
    weights = None
    if oracle is not None:
        kw = dict(case.oracle_options, bias=bias)
        if oracle == "reference":
            out, weights = reference_attention(q, k, v, return_weights=True, **kw)
        else:
            out, weights = attention(q, k, v, kernel=oracle, return_weights=True, **kw)
    elif kernel == "varlen":
        packed = varlen_attention(*(x[0].transpose(0, 1) for x in (q, k, v)), case.offsets,
                                  **case.options)
        out = packed.transpose(0, 1)[None]
    else:
        res = attention(q, k, v, kernel=kernel, bias=bias, return_weights=need_weights, **case.options)
        out, weights = res if need_weights else (res, None)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(case.seed + 1), dtype=F64)
    g = g.to(dtype).to(out.dtype)
    grads = torch.autograd.grad(out, list(leaves.values()), g, allow_unused=True)
    got = {"out": out, "weights": weights}
    for (name, t), gr in zip(leaves.items(), grads, strict=True):
        got["d" + name] = torch.zeros_like(t) if gr is None else gr
    return got, g


def check(case: Case, kernel: str, dtype: torch.dtype, c: float, need_weights: bool = False,
          oracle: str = "reference") -> None:
    """Finite, exactly zero where nothing may attend, and within the tolerance table of the
    float64 oracle on the same rounded inputs."""
    got, g = run(case, kernel, dtype, need_weights)
    ref, _ = run(case, kernel, dtype, need_weights, oracle=oracle)
    q, k, v = (x.to(dtype) for x in (case.q, case.k, case.v))
    bias = None if case.bias is None else case.bias.to(dtype)
    d, lq, lk = q.shape[-1], q.shape[-2], k.shape[-2]
    scale = d ** -0.5
    rel = relative_bound(dtype, lq, lk, d, v.shape[-1], score_max(q, k, scale, bias))
    mags = magnitudes(q, k, v, g, scale, bias_broadcast=q.shape[0] * q.shape[1])
    where = f"{kernel}, {dtype}, logit scale {c:g}, seed {case.seed}, Lq={lq}, Lk={lk}"
    for name, x in got.items():
        if x is None:
            continue
        assert x.dtype == dtype, f"{where}: {name} is {x.dtype}"
        assert bool(torch.isfinite(x).all()), f"{where}: {name} is not finite"
        err = float((x.to(F64) - ref[name]).abs().max()) if x.numel() else 0.0
        bound = rel * mags[name]
        assert err <= bound, f"{where}: {name} off by {err:.3g} > {bound:.3g} ({rel:.3g} x {mags[name]:.3g})"
    h = q.shape[1]
    empty = (~case.allowed.any(-1)).expand(-1, h, -1)  # (B, H, Lq): queries with no key
    unseen = (~case.allowed.any(-2)).expand(-1, h, -1)  # (B, H, Lk): keys no query may see
    for name, x, rows in (("out", got["out"], empty), ("weights", got["weights"], empty),
                          ("dq", got["dq"], empty), ("dk", got["dk"], unseen), ("dv", got["dv"], unseen)):
        if x is not None and bool(rows.any()):
            assert bool((x[rows] == 0).all()), f"{where}: {name} is not exactly zero where nothing attends"
