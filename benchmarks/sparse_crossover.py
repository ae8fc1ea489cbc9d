"""Where the sparse kernels start beating dense attention with the pattern's mask.

For each sparse kernel, forward+backward time of the sparse kernel (``sparse_attention``)
against the dense fused kernel given the pattern's dense mask (``attention(...,
kernel="sdpa")``), over growing sizes and a few densities; fp32, batch 1, 8 heads x 64.
Each pattern's dispatch thresholds (``min_dense_pairs``, ``max_density`` in
``selfattn/patterns/``) are read off this table: the smallest size where the sparse kernel wins,
and the density (keys per query / keys) beyond which it stops winning.

Run: ``python benchmarks/sparse_crossover.py`` (about 3 minutes). Results:
``benchmarks/results/sparse_crossover.json``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import environment, interleaved, median, save
from selfattn.functional import attention
from selfattn.functional.sparse import sparse_attention
from selfattn.patterns import (
    BigBirdPattern,
    GraphPattern,
    Neighborhood2DPattern,
    StridedPattern,
    WindowPattern,
)

H, D = 8, 64


def graph(n: int, deg: int) -> GraphPattern:
    g = torch.Generator().manual_seed(n)
    ei = torch.stack([torch.randint(0, n, (n * deg,), generator=g), torch.arange(n).repeat_interleave(deg)])
    return GraphPattern(ei, n, duplicates="merge")


def cases(quick: bool) -> list[tuple[str, object, int]]:
    out: list[tuple[str, object, int]] = []
    sizes = [128, 256, 512, 1024] if quick else [128, 256, 512, 1024, 2048]
    for w in (16, 64, 256):
        out += [("window", WindowPattern(w), n) for n in sizes]
    out += [("graph", graph(n, 16), n) for n in [64, 128, 256, 512, 1024] + ([] if quick else [2048])]
    out += [("graph", graph(1024, deg), 1024) for deg in (64, 256, 512)]
    out += [("neighborhood2d", Neighborhood2DPattern(s, s, 7), s * s) for s in (8, 12, 16, 24, 32)]
    out += [("block_sparse", BigBirdPattern(32, random_blocks=2), n) for n in sizes]
    out += [("block_sparse", StridedPattern(32), n) for n in sizes]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--suffix", default="", help="appended to the result file names")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's); 1 is robust on shared, loaded cores")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    rows = []
    for kernel, pattern, n in cases(args.quick):
        q, k, v = (torch.randn(1, H, n, D, requires_grad=True) for _ in range(3))
        g = torch.randn(1, H, n, D)

        def sparse(q=q, k=k, v=v, g=g, pattern=pattern):
            q.grad = k.grad = v.grad = None
            sparse_attention(q, k, v, pattern).backward(g)

        def dense(q=q, k=k, v=v, g=g, pattern=pattern):
            q.grad = k.grad = v.grad = None
            attention(q, k, v, pattern=pattern, kernel="sdpa").backward(g)

        reps = 7 if n <= 1024 else 3
        t = {name: median(ts) for name, ts in interleaved({"sparse": sparse, "dense": dense}, reps).items()}
        density = pattern.keys_per_query(n) / n
        row = {"kernel": kernel, "pattern": repr(pattern), "L": n, "pairs": n * n, "density": density,
               "sparse_s": t["sparse"], "dense_s": t["dense"], "dense_over_sparse": t["dense"] / t["sparse"]}
        rows.append(row)
        print(f"{kernel:15s} L={n:5d} density {density:5.2f}  sparse {t['sparse'] * 1e3:8.1f} ms  "
              f"dense {t['dense'] * 1e3:8.1f} ms  dense/sparse {row['dense_over_sparse']:5.2f}  {pattern!r}")
    save(("sparse_crossover_quick" if args.quick else "sparse_crossover") + args.suffix,
         {"config": {"heads": H, "head_dim": D, "dtype": "float32", "mode": "forward+backward"},
          "environment": environment(), "rows": rows})


if __name__ == "__main__":
    main()
