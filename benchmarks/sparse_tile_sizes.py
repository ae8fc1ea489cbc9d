"""The window kernel's tile size (query rows per tile, ``bq``) per window width, head dim and L.

For each (width, head dim, L) (every width at head dim 64, every head dim at width 257;
L 2048 and 8192) every candidate ``bq`` runs forward+backward of
``sparse_attention(q, k, v, WindowPattern(left))`` (fp32, batch 1, 8 heads), candidates in
a fresh random order each round (``_timing.shuffled_rounds``), and the fastest median
wins. Timing is process CPU time at one thread (other jobs on shared cores do not count)
unless ``--wall``. The winners form ``selfattn.functional.sparse.tile_sizes.WINDOW_BQ``
(copy the printed table there; ``tests/patterns/test_tile_sizes.py`` checks they agree).

Small tiles waste fewer band corners (``bq - 1`` of every ``bq + width - 1`` keys per
row); large ones mean fewer, larger flash calls and fewer key-gradient slots (``m / bq``
per key) in the backward.

Run: ``python benchmarks/sparse_tile_sizes.py`` (~5-10 min). Results:
``benchmarks/results/sparse_tile_sizes.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import environment, save, shuffled_rounds
from selfattn.functional import make_call
from selfattn.functional.sparse import TileContext, run_tiles, window_parts
from selfattn.patterns import WindowPattern

H = 8
LENGTHS = (2048, 8192)
# Every width at head dim 64, and every head dim at the widest window (257 = 128 each side).
CONFIGS = tuple(dict.fromkeys([(w, 64) for w in (33, 65, 129, 257)] + [(257, d) for d in (32, 64, 128)]))
CANDIDATES = (16, 32, 64, 128)


def step(n: int, d: int, width: int, bq: int):
    """Forward+backward of the tile engine on the window plan with ``bq`` rows per tile."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, H, n, d, generator=g).requires_grad_() for _ in range(3))
    grad = torch.randn(1, H, n, d, generator=g)
    pattern = WindowPattern((width - 1) // 2)
    parts = window_parts(pattern, n, n, bq=bq).parts

    def run():
        q.grad = k.grad = v.grad = None
        out, _ = run_tiles(TileContext(make_call(q, k, v, pattern=pattern)), parts)
        out.backward(grad)
    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="widths 65, 257; head dim 64; L 2048")
    ap.add_argument("--pid-file", default=None, help="write this process id there (to stop it by id)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--wall", action="store_true", help="wall time instead of process CPU time")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.pid_file:
        Path(args.pid_file).write_text(str(os.getpid()))
    configs, lengths = (((65, 64), (257, 64)), (2048,)) if args.quick else (CONFIGS, LENGTHS)
    rows, table = [], {}
    start = time.perf_counter()
    for width, d in configs:
        for n in lengths:
            fns = {bq: step(n, d, width, bq) for bq in CANDIDATES}
            for fn in fns.values():
                fn()  # warm-up: the plan's flash masks are built and cached
            cpu, wall = shuffled_rounds({str(b): f for b, f in fns.items()}, args.rounds, budget_s=60)
            times = wall if args.wall else cpu
            med = {int(b): statistics.median(t) for b, t in times.items()}
            best = min(med, key=med.__getitem__)
            table[(width, d, n)] = best
            rows.append({"width": width, "head_dim": d, "L": n, "median_s": med, "best_bq": best,
                         "best_vs_default_64": med[64] / med[best]})
            print(f"width {width:3d} D {d:3d} L {n:5d}: " +
                  "  ".join(f"bq {b}: {t * 1e3:7.1f} ms" for b, t in med.items()) + f"  -> {best}",
                  flush=True)
    print("WINDOW_BQ = {")
    for key, bq in table.items():
        print(f"    {key}: {bq},")
    print("}")
    save("sparse_tile_sizes", {"environment": environment(), "command": " ".join(sys.argv),
                               "clock": "wall" if args.wall else "process CPU", "heads": H,
                               "candidates": list(CANDIDATES), "wall_s": time.perf_counter() - start,
                               "rows": rows})


if __name__ == "__main__":
    main()
