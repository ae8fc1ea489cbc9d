"""Sparse kernels across thread counts and lengths: each vs its anchor, and vs a matmul.

Config (issue 23): fp32, batch 1, 8 heads x 64, forward+backward, L in 1k..32k, at 1 and
2 threads (and all cores where more exist). Kernels and their patterns:

* window: ``WindowPattern(128)`` (128 keys each side);
* block_sparse: ``BigBirdPattern(64)`` (3 window blocks, first/last global, 3 random);
* grid: ``Neighborhood2DPattern(h, w, 7)`` on an ``h x w = L`` grid;
* graph: a random graph with ~32 incoming edges per node (duplicates merged).

Contenders, timed in one run with a 2048^3 fp32 matmul, each round in a fresh random
order (``_timing.shuffled_rounds``):

* ours: ``sparse_attention(q, k, v, pattern)`` forward+backward;
* sdpa_mask (the anchor): ``F.scaled_dot_product_attention`` with the pattern's dense
  ``(L, L)`` mask, forward+backward (O(L^2); skipped above ``--sdpa-max``);
* flex (window only): ``torch.compile(flex_attention)`` forward with a sliding-window
  block mask, timed against ours forward (CPU FlexAttention has no backward);
* pyg (graph only, if ``torch_geometric`` imports): per-edge scores, PyG's
  ``utils.softmax`` and ``utils.scatter`` (TransformerConv's attention without its
  linear layers), forward+backward.

Reported per (threads, kernel, L): wall and process-CPU medians, ours vs the anchor, useful GFLOP/s (allowed
pairs only: ``4 * D`` flops per pair forward, 3x that forward+backward) and its fraction
of the same-run matmul GFLOP/s (also from CPU time: on shared cores at 1 thread that
fraction survives other jobs' load), and with ``--memory`` the peak RSS growth of one
forward+backward (a child process each). With two thread counts, ``scaling``: ours'
speed-up from the first to the last count divided by the matmul's.

Run (quiet machine; ~30-40 min): ``python benchmarks/sparse_scaling.py --memory``.
Smoke run: ``--quick`` (L 1k, 2k). Results: ``benchmarks/results/sparse_scaling{suffix}.{json,png}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import RESULTS, child_memory, environment, matmul_fn, median, peak_growth, save, shuffled_rounds
from selfattn.functional.sparse import sparse_attention
from selfattn.patterns import BigBirdPattern, GraphPattern, Neighborhood2DPattern, WindowPattern

H, D, W, DEG = 8, 64, 128, 32
KERNELS = ("window", "block_sparse", "grid", "graph")
GRIDS = {1024: (32, 32), 2048: (32, 64), 4096: (64, 64), 8192: (64, 128), 16384: (128, 128),
         32768: (128, 256)}


def pattern_for(kernel: str, n: int) -> Any:
    if kernel == "window":
        return WindowPattern(W)
    if kernel == "block_sparse":
        return BigBirdPattern(64)
    if kernel == "grid":
        return Neighborhood2DPattern(*GRIDS[n], 7)
    g = torch.Generator().manual_seed(0)
    ei = torch.stack([torch.randint(0, n, (n * DEG,), generator=g), torch.arange(n).repeat_interleave(DEG)])
    return GraphPattern(ei, n, duplicates="merge")


def allowed_pairs(pattern: Any, n: int) -> int:
    if isinstance(pattern, GraphPattern):
        return int(pattern.edge_index.shape[1])
    if isinstance(pattern, WindowPattern):
        i = torch.arange(n)
        return int(((i + W).clamp(max=n - 1) - (i - W).clamp(min=0) + 1).sum())
    return int(pattern.dense_mask(n, n).sum())


def inputs(n: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(1, H, n, D, generator=g).requires_grad_() for _ in range(3))


def pyg_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, ei: torch.Tensor) -> torch.Tensor:
    """TransformerConv's attention on PyG's primitives: ``(N, H, D)`` each."""
    from torch_geometric.utils import scatter, softmax

    src, dst = ei
    alpha = softmax((q[dst] * k[src]).sum(-1) * D ** -0.5, dst, num_nodes=q.shape[0])
    return scatter(v[src] * alpha[..., None], dst, dim=0, dim_size=q.shape[0], reduce="sum")


def method(name: str, kernel: str, n: int, pattern: Any):
    """A callable running ``name`` once forward+backward on fresh inputs of length ``n``."""
    q, k, v = inputs(n)
    g = torch.randn(1, H, n, D)
    if name == "ours":
        def fn():
            return sparse_attention(q, k, v, pattern)
    elif name == "sdpa_mask":
        mask = pattern.dense_mask(n, n)

        def fn():
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    elif name == "pyg":
        qn, kn, vn = (x[0].transpose(0, 1).detach().requires_grad_() for x in (q, k, v))
        ei, gn = pattern.edge_index, g[0].transpose(0, 1)

        def run_pyg():
            qn.grad = kn.grad = vn.grad = None
            pyg_attention(qn, kn, vn, ei).backward(gn)
        return run_pyg
    else:
        raise ValueError(name)

    def run():
        q.grad = k.grad = v.grad = None
        fn().backward(g)
    return run


def flex_forward(n: int) -> tuple[dict, Any, Any]:
    """Compiled FlexAttention forward with a window block mask, and ours forward, or why not."""
    info: dict = {}
    q, k, v = (x.detach() for x in inputs(n))
    try:
        import torch._dynamo
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        def window(b, h, qi, ki):
            return (qi - ki).abs() <= W

        torch._dynamo.reset()
        bm = create_block_mask(window, B=None, H=None, Q_LEN=n, KV_LEN=n, device="cpu")
        compiled = torch.compile(flex_attention, dynamic=False)
        t = time.perf_counter()
        with torch.no_grad():
            out = compiled(q, k, v, block_mask=bm)
            info["compile_and_first_call_s"] = time.perf_counter() - t
            ref = sparse_attention(q, k, v, WindowPattern(W))
            info["max_abs_diff_vs_ours"] = float((out - ref).abs().max())
    except Exception as e:
        info["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        return info, None, None

    def flex():
        with torch.no_grad():
            compiled(q, k, v, block_mask=bm)

    def ours():
        with torch.no_grad():
            sparse_attention(q, k, v, WindowPattern(W))
    return info, flex, ours


def child(spec: dict) -> None:
    torch.set_num_threads(spec["threads"])
    small = method(spec["method"], spec["kernel"], 1024, pattern_for(spec["kernel"], 1024))
    small()  # lazy library buffers
    n = spec["L"]
    print(peak_growth(method(spec["method"], spec["kernel"], n, pattern_for(spec["kernel"], n))))


def measure(kernel: str, n: int, threads: int, args: argparse.Namespace, pyg_ok: bool) -> dict:
    pattern = pattern_for(kernel, n)
    pairs = allowed_pairs(pattern, n) * H
    names = ["ours"]
    if n <= args.sdpa_max:
        names.append("sdpa_mask")
    if kernel == "graph" and pyg_ok:
        names.append("pyg")
    fns = {name: method(name, kernel, n, pattern) for name in names}
    mm, mm_flops = matmul_fn()
    fns["matmul"] = mm
    row: dict[str, Any] = {"threads": threads, "kernel": kernel, "L": n, "pairs": pairs,
                           "keys_per_query": pairs / (H * n)}
    flex_info = None
    if kernel == "window" and args.flex:
        flex_info, flex, ours_fwd = flex_forward(n)
        if flex is not None:
            fns["flex_fwd"], fns["ours_fwd"] = flex, ours_fwd
        row["flex"] = flex_info
    for fn in fns.values():
        fn()  # warm-up (plans, caches, lazy buffers)
    cpu, wall = shuffled_rounds(fns, args.reps, budget_s=args.budget, min_rounds=min(3, args.reps))
    med = {name: median(t) for name, t in wall.items()}
    med_cpu = {name: median(t) for name, t in cpu.items()}
    mm_gflops = mm_flops / med["matmul"] / 1e9
    useful = 12 * D * pairs / med["ours"] / 1e9
    # Process CPU seconds: at 1 thread a load-robust stand-in for the wall time (other jobs'
    # time slices are not counted); at more threads it sums over the threads.
    frac_cpu = (12 * D * pairs / med_cpu["ours"]) / (mm_flops / med_cpu["matmul"])
    row.update({"median_s": med, "median_cpu_s": med_cpu, "rounds": len(wall["ours"]),
                "matmul_gflops": mm_gflops, "useful_gflops": useful,
                "useful_fraction_of_matmul": useful / mm_gflops,
                "useful_fraction_of_matmul_cpu_time": frac_cpu})
    for name in ("sdpa_mask", "pyg"):
        if name in med:
            row[f"speedup_vs_{name}"] = med[name] / med["ours"]
            row[f"speedup_vs_{name}_cpu_time"] = med_cpu[name] / med_cpu["ours"]
    if "flex_fwd" in med:
        row["speedup_fwd_vs_flex"] = med["flex_fwd"] / med["ours_fwd"]
    if args.memory:
        row["peak_mib"] = {name: (lambda b: None if b is None else b / 2**20)(
            child_memory(__file__, {"method": name, "kernel": kernel, "L": n, "threads": threads}))
            for name in names}
    return row


def scaling(rows: list[dict]) -> list[dict]:
    """Ours' speed-up from the lowest to the highest thread count over the matmul's."""
    out = []
    counts = sorted({r["threads"] for r in rows})
    if len(counts) < 2:
        return out
    lo, hi = counts[0], counts[-1]
    by = {(r["threads"], r["kernel"], r["L"]): r for r in rows}
    for (t, kern, n), r in by.items():
        if t != lo or (hi, kern, n) not in by:
            continue
        s = by[(hi, kern, n)]
        ours = r["median_s"]["ours"] / s["median_s"]["ours"]
        mm = r["median_s"]["matmul"] / s["median_s"]["matmul"]
        out.append({"kernel": kern, "L": n, "threads": [lo, hi], "ours_speedup": ours,
                    "matmul_speedup": mm, "ratio": ours / mm})
    return out


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(KERNELS), figsize=(4 * len(KERNELS), 7), squeeze=False)
    for j, kern in enumerate(KERNELS):
        for t in sorted({r["threads"] for r in rows}):
            rs = sorted((r for r in rows if r["kernel"] == kern and r["threads"] == t), key=lambda r: r["L"])
            if not rs:
                continue
            axes[0][j].plot([r["L"] for r in rs], [r["useful_fraction_of_matmul"] for r in rs], "o-",
                            label=f"{t} thread(s)")
            sp = [(r["L"], r["speedup_vs_sdpa_mask"]) for r in rs if "speedup_vs_sdpa_mask" in r]
            if sp:
                axes[1][j].plot(*zip(*sp, strict=True), "o-", label=f"{t} thread(s)")
        axes[0][j].axhline(0.5, color="grey", ls=":")
        axes[0][j].set_title(kern)
        axes[0][j].set_ylabel("useful GFLOP/s / matmul GFLOP/s")
        axes[1][j].set_ylabel("speed-up vs SDPA + mask (fwd+bwd)")
        for ax in (axes[0][j], axes[1][j]):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("L")
            ax.legend(fontsize=8)
    fig.suptitle("sparse kernels, fp32, 8 heads x 64, forward+backward")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--quick", action="store_true", help="L 1k and 2k, 3 rounds")
    ap.add_argument("--threads", default=None, help="comma list (default: 1,2 and all cores if more)")
    ap.add_argument("--lengths", default=None, help="comma list (default: 1k..32k)")
    ap.add_argument("--kernels", default=",".join(KERNELS))
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--budget", type=float, default=120.0, help="seconds per (kernel, L) after 3 rounds")
    ap.add_argument("--sdpa-max", type=int, default=16384, help="longest L for the O(L^2) anchor")
    ap.add_argument("--no-flex", dest="flex", action="store_false")
    ap.add_argument("--memory", action="store_true", help="peak memory per method (child processes)")
    ap.add_argument("--suffix", default="")
    args = ap.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    warnings.filterwarnings("ignore")
    cores = os.cpu_count() or 1
    threads = ([int(t) for t in args.threads.split(",")] if args.threads
               else sorted({1, min(2, cores), cores}))
    lengths = ([int(x) for x in args.lengths.split(",")] if args.lengths
               else [1024, 2048] if args.quick else [1024, 2048, 4096, 8192, 16384, 32768])
    args.reps = args.reps or (3 if args.quick else 5)
    try:
        import torch_geometric  # noqa: F401
        pyg_ok = True
    except ImportError:
        pyg_ok = False
    env = environment()
    rows = []
    start = time.perf_counter()
    for t in threads:
        torch.set_num_threads(t)
        for kern in args.kernels.split(","):
            for n in lengths:
                r = measure(kern, n, t, args, pyg_ok)
                rows.append(r)
                sp = r.get("speedup_vs_sdpa_mask")
                print(f"threads {t} {kern:12s} L {n:6d}: ours {r['median_s']['ours'] * 1e3:8.1f} ms, "
                      f"useful {r['useful_gflops']:5.1f} GFLOP/s = {r['useful_fraction_of_matmul']:4.0%} of "
                      f"matmul ({r['matmul_gflops']:.0f}; CPU time: "
                      f"{r['useful_fraction_of_matmul_cpu_time']:4.0%}), vs sdpa+mask "
                      f"{'-' if sp is None else f'{sp:.1f}x'}", flush=True)
    payload = {"environment": env, "command": " ".join(sys.argv), "threads": threads,
               "config": {"heads": H, "head_dim": D, "window": W, "graph_degree": DEG, "dtype": "float32",
                          "reps": args.reps, "sdpa_max": args.sdpa_max, "pyg": pyg_ok},
               "wall_s": time.perf_counter() - start, "rows": rows, "scaling": scaling(rows)}
    for s in payload["scaling"]:
        print(f"scaling {s['kernel']:12s} L {s['L']:6d}: ours x{s['ours_speedup']:.2f}, matmul "
              f"x{s['matmul_speedup']:.2f} ({s['ratio']:.0%})")
    path = save(f"sparse_scaling{args.suffix}", payload)
    plot(rows, RESULTS / f"sparse_scaling{args.suffix}.png")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
