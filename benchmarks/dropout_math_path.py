"""Attention dropout without a learned bias: ``flash_bias``'s chunked path against F.sdpa's.

On CPU ``F.scaled_dot_product_attention`` with ``dropout_p > 0`` runs its math path
(``aten::_scaled_dot_product_attention_math``: unfused scores, softmax, a Bernoulli mask
and products, all kept for the backward) whatever the mask, so every training step of a
model with attention dropout goes through it. ``flash_bias`` with dropout computes the same
function in query chunks and redraws its keep-masks in the backward. Three calls, each with
dropout 0.1, forward + backward (loss = sum of the output times a fixed random tensor;
gradients of q, k, v), float32, one torch thread:

* ``none``: no mask, no bias;
* ``alibi``: ``ALiBiBias`` (a fixed float bias, no gradient);
* ``padding``: key padding only (``key_lengths``, a quarter of the keys padded in half the
  batch).

Grid: B*H in {8, 16} (batch 2 x 4 or 8 heads), head dim {32, 64}, L in {64, 128, 256, 512, 1024}.
Both kernels run in the same rounds, in a fresh random order each round; reported is the
median over rounds of (sdpa CPU time / flash_bias CPU time) in the same round, with
quartiles (process CPU time: the two cores are shared with other jobs, so absolute times
mean little).

Run: ``python benchmarks/dropout_math_path.py`` (a few minutes on 2 busy cores). Writes
``benchmarks/results/dropout_math_path.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time

import torch

from _timing import machine, save, shuffled_rounds
from selfattn.functional import attention
from selfattn.positional import ALiBiBias

CASES = ("none", "alibi", "padding")
KERNELS = ("sdpa", "flash_bias")


def case_kwargs(case: str, batch: int, heads: int, length: int) -> dict:
    if case == "alibi":
        return {"bias": ALiBiBias(heads)}
    if case == "padding":
        lengths = torch.full((batch,), length)
        lengths[batch // 2:] = length - length // 4
        return {"key_lengths": lengths}
    return {}


def measure(case: str, batch: int, heads: int, dim: int, length: int, args) -> dict:
    gen = torch.Generator().manual_seed(length * dim + heads)
    q, k, v = (torch.randn(batch, heads, length, dim, generator=gen).requires_grad_(True)
               for _ in range(3))
    g = torch.randn(batch, heads, length, dim, generator=gen)
    kw = case_kwargs(case, batch, heads, length)

    def step(kernel: str):
        def run() -> None:
            for t in (q, k, v):
                t.grad = None
            (attention(q, k, v, dropout_p=0.1, kernel=kernel, **kw) * g).sum().backward()
        return run

    runs = {name: step(name) for name in KERNELS}
    for fn in runs.values():
        fn()
    times, _ = shuffled_rounds(runs, args.rounds, args.budget, min_rounds=5, seed=length)
    ratios = sorted(s / f for s, f in zip(times["sdpa"], times["flash_bias"], strict=True))
    qs = statistics.quantiles(ratios, n=4)
    return {"sdpa_ms": 1000 * statistics.median(times["sdpa"]),
            "flash_bias_ms": 1000 * statistics.median(times["flash_bias"]),
            "sdpa_over_flash_bias": statistics.median(ratios), "ratio_q1": qs[0], "ratio_q3": qs[2],
            "rounds": len(ratios)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    p.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    p.add_argument("--heads", type=int, nargs="+", default=[4, 8], help="B*H = 2 x heads")
    p.add_argument("--head-dims", type=int, nargs="+", default=[32, 64])
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--rounds", type=int, default=21)
    p.add_argument("--budget", type=float, default=6.0, help="seconds of timed rounds per cell at most")
    p.add_argument("--name", default="dropout_math_path", help="results file stem")
    args = p.parse_args()
    torch.set_num_threads(1)
    load_before, t0 = os.getloadavg(), time.perf_counter()
    rows = []
    print(f"{'case':<8} {'B*H':>4} {'D':>3} {'L':>4} {'sdpa / flash_bias':>18} {'q1..q3':>12}  rounds",
          flush=True)
    for case, heads, dim, length in itertools.product(args.cases, args.heads, args.head_dims,
                                                      args.lengths):
        r = measure(case, args.batch, heads, dim, length, args)
        rows.append({"case": case, "bh": args.batch * heads, "head_dim": dim, "length": length, **r})
        print(f"{case:<8} {args.batch * heads:>4} {dim:>3} {length:>4} {r['sdpa_over_flash_bias']:>17.2f}x "
              f"{r['ratio_q1']:>5.2f}..{r['ratio_q3']:<5.2f}  {r['rounds']}", flush=True)
    config = {"batch": args.batch, "heads": args.heads, "head_dims": args.head_dims, "threads": 1,
              "dtype": "float32", "dropout": 0.1, "mode": "forward + backward (grads of q, k, v)",
              "timer": "process CPU time (time.process_time)", "wall_s": round(time.perf_counter() - t0, 1),
              "command": " ".join(["python", "benchmarks/dropout_math_path.py", *sys.argv[1:]])}
    load = {"before": load_before, "after": os.getloadavg(),
            "note": "1/5/15-min load averages of the 2-core machine, shared with other jobs"}
    path = save(args.name, {"machine": machine(), "load_average": load, "config": config, "results": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
