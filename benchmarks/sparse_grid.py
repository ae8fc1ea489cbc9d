"""2-D neighbourhood attention on CPU: ours vs SDPA with the neighbourhood mask.

Config (issue 4): a 64 x 64 grid (L = 4096 cells), 7 x 7 neighbourhood
(``Neighborhood2DPattern(64, 64, 7)``, NATTEN's shifted borders), 8 heads x 64, fp32,
batch 1; forward and forward+backward. Also grids of 32^2 and 128^2 (time and peak memory
against L), a dilated 3 x 3 neighbourhood, and the tile shape of the kernel.

* ours: ``sparse_attention(q, k, v, pattern)`` (tiles of 8 x 8 cells over their
  14 x 14 neighbourhood regions);
* sdpa_mask: ``F.scaled_dot_product_attention`` with the pattern's (L, L) mask.

Run: ``python benchmarks/sparse_grid.py`` (about 2-3 minutes). Results:
``benchmarks/results/sparse_grid.{json,png}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import (
    child_memory,
    environment,
    fmt_mib,
    fmt_ms,
    interleaved,
    median,
    peak_growth,
    save,
)
from selfattn.functional.sparse import sparse_attention
from selfattn.patterns import Neighborhood2DPattern

H, D = 8, 64


def inputs(n: int, grad: bool, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(1, H, n, D, generator=g).requires_grad_(grad) for _ in range(3))


def methods(pattern: Neighborhood2DPattern) -> dict:
    n = pattern.length
    mask = pattern.dense_mask(n, n)
    q, k, v = inputs(n, False)
    qg, kg, vg = inputs(n, True)
    g = torch.randn(1, H, n, D)

    def ours(q, k, v):
        return sparse_attention(q, k, v, pattern)

    def sdpa(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    fns = {}
    for name, fn in (("ours", ours), ("sdpa_mask", sdpa)):
        def fwd(fn=fn):
            with torch.no_grad():
                fn(q, k, v)

        def fwdbwd(fn=fn):
            qg.grad = kg.grad = vg.grad = None
            fn(qg, kg, vg).backward(g)
        fns[f"{name} fwd"] = fwd
        fns[f"{name} fwdbwd"] = fwdbwd
    with torch.no_grad():
        diff = float((ours(q, k, v) - sdpa(q, k, v)).abs().max())
    return fns, diff


def child(spec: dict) -> None:
    side = spec["side"]
    small, _ = methods(Neighborhood2DPattern(16, 16, 7))
    small[f"{spec['method']} fwdbwd"]()
    fns, _ = methods(Neighborhood2DPattern(side, side, 7))
    print(peak_growth(fns[f"{spec['method']} fwdbwd"]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--suffix", default="", help="appended to the result file names")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's); 1 is robust on shared, loaded cores")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        child(json.loads(args.child))
        return
    warnings.filterwarnings("ignore")
    env = environment()
    sides = [32, 64] if args.quick else [32, 64, 128]
    rows = []
    script = str(Path(__file__).resolve())
    for side in sides:
        pattern = Neighborhood2DPattern(side, side, 7)
        fns, diff = methods(pattern)
        reps = 2 if side >= 128 else 7
        slow = frozenset({"sdpa_mask fwd", "sdpa_mask fwdbwd"} if side >= 128 else ())
        times = {k: median(v) for k, v in interleaved(fns, reps, no_warmup=slow).items()}
        pairs = int(pattern.dense_mask(side * side, side * side).sum()) * H
        mem = {m: child_memory(script, {"method": m, "side": side}) for m in ("ours", "sdpa_mask")}
        row = {"grid": [side, side], "L": side * side, "median_s": times, "max_abs_diff": diff,
               "allowed_pairs": pairs, "peak_growth_bytes": mem, "reps": reps,
               "speedup": {mode: times[f"sdpa_mask {mode}"] / times[f"ours {mode}"]
                           for mode in ("fwd", "fwdbwd")},
               "useful_gflops": {k: pairs * 4 * D * (3 if k.endswith("fwdbwd") else 1) / t / 1e9
                                 for k, t in times.items()}}
        rows.append(row)
        print(f"{side}x{side} grid, 7x7 ({reps} rounds; max |ours - sdpa| = {diff:.1e})")
        for k, t in times.items():
            print(f"  {k:18s} {fmt_ms(t)} ms  useful {row['useful_gflops'][k]:6.1f} GFLOP/s")
        print(f"  ours faster by {row['speedup']}; peak growth fwd+bwd: "
              + ", ".join(f"{m} {fmt_mib(b)} MiB" for m, b in mem.items()))
    dil = Neighborhood2DPattern(64, 64, 3, dilation=4)
    fns, diff = methods(dil)
    dil_times = {k: median(v) for k, v in interleaved(fns, 5).items()}
    print("64x64, 3x3 dilation 4: " + ", ".join(f"{k} {fmt_ms(t)} ms" for k, t in dil_times.items()))
    target = next(r for r in rows if r["grid"] == [64, 64])
    payload = {"config": {"kernel_size": 7, "border": "shift", "heads": H, "head_dim": D,
                          "dtype": "float32", "batch": 1},
               "environment": env, "rows": rows,
               "dilated_3x3_d4_64x64": {"median_s": dil_times, "max_abs_diff": diff},
               "result_64x64": {"speedup": target["speedup"]},
               "memory_method": "peak RSS growth of a fresh process over one forward+backward"}
    path = save(("sparse_grid_quick" if args.quick else "sparse_grid") + args.suffix, payload)
    plot(payload, path.with_suffix(".png"))
    print(f"wrote {path}")


def plot(payload: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    ls = [r["L"] for r in payload["rows"]]
    for name, style in (("ours", "o-"), ("sdpa_mask", "^:")):
        for mode, alpha in (("fwd", 0.5), ("fwdbwd", 1.0)):
            a.plot(ls, [r["median_s"][f"{name} {mode}"] for r in payload["rows"]], style, alpha=alpha,
                   label=f"{name} {mode}")
        mem = [(r["L"], r["peak_growth_bytes"][name] / 2**20) for r in payload["rows"]
               if r["peak_growth_bytes"][name]]
        b.plot(*zip(*mem, strict=True), style, label=f"{name} fwd+bwd")
    for ax, ylabel in ((a, "seconds (median)"), (b, "peak RSS growth (MiB)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("cells L = side^2")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    a.set_title("7x7 neighbourhood attention, 8 heads x 64, fp32, CPU")
    b.set_title("memory of one forward+backward")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
