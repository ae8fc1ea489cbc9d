"""Sliding-window attention on CPU: ours vs SDPA + band mask vs FlexAttention vs a chunked loop.

Config (issue 4): fp32, batch 1, 8 heads, head_dim 64, a window of 128 keys on each side
(``WindowPattern(128)``), L in {1024, 4096, 16384}; forward, and forward+backward.

* ours: ``selfattn.functional.sparse.sparse_attention(q, k, v, WindowPattern(128))``
  (``attention(..., pattern=...)`` picks the same kernel at these sizes);
* sdpa_band: ``F.scaled_dot_product_attention`` with the (L, L) band mask (O(L^2));
* chunked: the plain blocked loop (each block of 128 queries calls SDPA on its key range
  with a small 4-D mask; autograd for the backward);
* flex: ``torch.compile(flex_attention)`` with a sliding-window block mask, forward only
  (CPU FlexAttention has no backward); its compile and block-mask times are reported.

Also: useful GFLOP/s (only allowed pairs: 4*D flops per pair forward, 3x that for
forward+backward) against a 2048^3 matmul and a dense unmasked SDPA timed in the same
run, and the peak memory growth of forward+backward (see ``selfattn.bench.memory``).

Run: ``python benchmarks/sparse_window.py`` (about 4-6 minutes on 2 cores);
``--quick`` for a smoke run. Results: ``benchmarks/results/sparse_window.{json,png}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import (
    RESULTS,
    child_memory,
    environment,
    fmt_mib,
    fmt_ms,
    interleaved,
    matmul_fn,
    median,
    peak_growth,
    save,
)
from selfattn.functional.sparse import sparse_attention
from selfattn.patterns import WindowPattern

H, D, W = 8, 64, 128
SDPA_LIMIT_BYTES = 6 * 2**30


def inputs(n: int, grad: bool, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(1, H, n, D, generator=g).requires_grad_(grad) for _ in range(3))


def band(n: int) -> torch.Tensor:
    i = torch.arange(n)
    return (i[:, None] - i[None, :]).abs() <= W


def allowed_pairs(n: int) -> int:
    i = torch.arange(n)
    return int(((i + W).clamp(max=n - 1) - (i - W).clamp(min=0) + 1).sum())


def ours(q, k, v):
    return sparse_attention(q, k, v, WindowPattern(W))


def sdpa_band(q, k, v, mask):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def chunked(q, k, v, block: int = W):
    """Each block of queries calls SDPA on its own and the neighbouring key blocks with a
    4-D mask. Blocks come from ``split`` and ``cat`` (whose backward passes only
    split and sum the gradients), not slicing (whose backward would build a full-size
    zero gradient per block)."""
    n = q.shape[2]
    qs, ks, vs = (x.split(block, 2) for x in (q, k, v))
    outs = []
    for i, qb in enumerate(qs):
        lo, hi = max(0, i - 1), min(len(ks), i + 2)
        kb, vb = torch.cat(ks[lo:hi], 2), torch.cat(vs[lo:hi], 2)
        qpos = torch.arange(i * block, i * block + qb.shape[2])
        kpos = torch.arange(lo * block, min(hi * block, n))
        mask = (qpos[:, None] - kpos[None, :]).abs() <= W
        outs.append(F.scaled_dot_product_attention(qb, kb, vb, attn_mask=mask[None, None]))
    return torch.cat(outs, 2)


def sdpa_bytes(n: int) -> int:
    return n * n * (1 + 4 + 4)  # bool mask, its float form, one float score buffer


def fwd(fn, *args):
    def run():
        with torch.no_grad():
            fn(*args)
    return run


def fwdbwd(fn, q, k, v, *extra):
    g = torch.randn(1, H, q.shape[2], D)

    def run():
        q.grad = k.grad = v.grad = None
        fn(q, k, v, *extra).backward(g)
    return run


def flex_setup(n: int, q, k, v) -> tuple[dict, object | None, object | None]:
    """Build FlexAttention's block mask and compile it for this length (``dynamic=False``,
    after a dynamo reset: a dynamic-shape or ``requires_grad`` call would make later calls
    fall back to a much slower path). Returns timings, a forward callable, and a check of
    the backward to run after timing."""
    info: dict = {}
    try:
        import torch._dynamo
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        def window(b, h, q_idx, kv_idx):
            return (q_idx - kv_idx).abs() <= W

        torch._dynamo.reset()
        t = time.perf_counter()
        bm = create_block_mask(window, B=None, H=None, Q_LEN=n, KV_LEN=n, device="cpu")
        info["block_mask_s"] = time.perf_counter() - t
        compiled = torch.compile(flex_attention, dynamic=False)
        t = time.perf_counter()
        with torch.no_grad():
            out = compiled(q, k, v, block_mask=bm)
        info["first_call_s"] = time.perf_counter() - t  # compile for this length + one run
        with torch.no_grad():
            info["max_abs_diff_vs_ours"] = float((out - ours(q, k, v)).abs().max())

        def run():
            with torch.no_grad():
                compiled(q, k, v, block_mask=bm)

        def check_backward():
            try:
                qg, kg, vg = (x.detach().requires_grad_() for x in (q, k, v))
                compiled(qg, kg, vg, block_mask=bm).sum().backward()
                info["backward"] = "ok"
            except Exception as e:  # CPU FlexAttention has no backward
                info["backward"] = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
        return info, run, check_backward
    except Exception as e:
        info["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        return info, None, None


def child(spec: dict) -> None:
    method = spec["method"]

    def once(n: int) -> None:
        q, k, v = inputs(n, True)
        g = torch.randn(1, H, n, D)
        mask = band(n) if method == "sdpa_band" else None

        def run():
            if method == "ours":
                out = ours(q, k, v)
            elif method == "chunked":
                out = chunked(q, k, v)
            else:
                out = sdpa_band(q, k, v, mask)
            out.backward(g)
        return run

    once(512)()  # lazy library buffers
    print(peak_growth(once(spec["L"])))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--suffix", default="", help="appended to the result file names")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's); 1 is robust on shared, loaded cores")
    ap.add_argument("--no-flex", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        child(json.loads(args.child))
        return
    warnings.filterwarnings("ignore")
    lengths = [1024, 2048] if args.quick else [1024, 4096, 16384]
    reps = {1024: 9, 2048: 3, 4096: 5, 16384: 3}
    env = environment()
    mm, mm_flops = matmul_fn()
    qd = inputs(4096, False)
    dense_fwd = fwd(lambda q, k, v: F.scaled_dot_product_attention(q, k, v), *qd)
    t = interleaved({"mm": mm, "dense": dense_fwd}, 3)
    anchors = {"matmul_2048_gflops": mm_flops / median(t["mm"]) / 1e9,
               "dense_sdpa_4096_fwd_gflops": 4 * 4096 * 4096 * D * H / median(t["dense"]) / 1e9}
    print(f"anchors: matmul {anchors['matmul_2048_gflops']:.1f} GFLOP/s, dense unmasked SDPA forward "
          f"{anchors['dense_sdpa_4096_fwd_gflops']:.1f} GFLOP/s; threads {env['threads']} "
          "(the matmul is also timed inside every table)")
    rows = []
    for n in lengths:
        q, k, v = inputs(n, False)
        qg, kg, vg = inputs(n, True)
        mask = band(n)
        use_sdpa = sdpa_bytes(n) <= SDPA_LIMIT_BYTES
        with torch.no_grad():
            diff = float((ours(q, k, v) - chunked(q, k, v)).abs().max())
        fns = {"ours fwd": fwd(ours, q, k, v), "chunked fwd": fwd(chunked, q, k, v),
               "ours fwdbwd": fwdbwd(ours, qg, kg, vg), "chunked fwdbwd": fwdbwd(chunked, qg, kg, vg)}
        if use_sdpa:
            fns["sdpa_band fwd"] = fwd(sdpa_band, q, k, v, mask)
            fns["sdpa_band fwdbwd"] = fwdbwd(sdpa_band, qg, kg, vg, mask)
        flex_info, flex_run, flex_bwd = (({"skipped": "--no-flex"}, None, None) if args.no_flex
                                         else flex_setup(n, q, k, v))
        if flex_run is not None:
            fns["flex fwd"] = flex_run
        fns["matmul"] = mm
        slow = frozenset({"sdpa_band fwd", "sdpa_band fwdbwd"} if n >= 16384 else ())
        times = {name: median(ts) for name, ts in interleaved(fns, reps[n], no_warmup=slow).items()}
        matmul_gflops_here = mm_flops / times.pop("matmul") / 1e9
        if flex_bwd is not None:
            flex_bwd()
        pairs = allowed_pairs(n) * H
        row = {"L": n, "median_s": times, "allowed_pairs": pairs, "max_abs_diff_vs_chunked": diff,
               "matmul_gflops_same_rounds": matmul_gflops_here,
               "sdpa_band": "run" if use_sdpa else f"skipped: needs ~{sdpa_bytes(n) / 2**30:.1f} GiB",
               "flex": flex_info, "reps": reps[n]}
        row["useful_gflops"] = {name: pairs * 4 * D * (3 if name.endswith("fwdbwd") else 1) / t / 1e9
                                for name, t in times.items()}
        for mode in ("fwd", "fwdbwd"):
            base = times[f"ours {mode}"]
            row[f"speedup_{mode}"] = {name.split()[0]: t / base for name, t in times.items()
                                      if name.endswith(" " + mode) and not name.startswith("ours")}
        print(f"\nL={n} ({reps[n]} interleaved rounds; max |ours - chunked| = {diff:.2e})")
        for name, t in times.items():
            print(f"  {name:18s} {fmt_ms(t)} ms  useful {row['useful_gflops'][name]:6.1f} GFLOP/s")
        print(f"  ours is faster by: fwd {row['speedup_fwd']}  fwd+bwd {row['speedup_fwdbwd']}")
        print(f"  matmul in the same rounds: {matmul_gflops_here:.1f} GFLOP/s")
        if flex_info:
            print(f"  flex: {flex_info}")
        rows.append(row)
    script = str(Path(__file__).resolve())
    memory = {}
    for method in ("ours", "chunked", "sdpa_band"):
        for n in lengths:
            if method == "sdpa_band" and sdpa_bytes(n) > SDPA_LIMIT_BYTES:
                continue
            memory[f"{method} {n}"] = child_memory(script, {"method": method, "L": n})
            print(f"  peak growth fwd+bwd {method:9s} L={n:6d}: {fmt_mib(memory[f'{method} {n}'])} MiB")
    big = rows[-1]
    targets = {
        "fwdbwd_speedup_vs_sdpa_band_at_largest_L": big["speedup_fwdbwd"].get("sdpa_band"),
        "target_speedup": 20.0,
        "useful_gflops_fraction_of_matmul_fwd": {
            r["L"]: r["useful_gflops"]["ours fwd"] / r["matmul_gflops_same_rounds"] for r in rows},
        "useful_gflops_fraction_of_matmul_fwdbwd": {
            r["L"]: r["useful_gflops"]["ours fwdbwd"] / r["matmul_gflops_same_rounds"] for r in rows},
        "target_fraction": 0.5,
        "ours_memory_per_query_bytes": {n: memory.get(f"ours {n}", 0) / n for n in lengths
                                        if memory.get(f"ours {n}")},
    }
    payload = {"config": {"dtype": "float32", "batch": 1, "heads": H, "head_dim": D, "window_each_side": W},
               "environment": env, "anchors": anchors, "rows": rows, "peak_growth_bytes": memory,
               "targets": targets,
               "memory_method": "peak RSS growth of a fresh process over one forward+backward"}
    path = save(("sparse_window_quick" if args.quick else "sparse_window") + args.suffix, payload)
    plot(payload, path.with_suffix(".png"))
    print(f"\ntargets: {json.dumps(targets, indent=1)}\nwrote {path}")


def plot(payload: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    ls = [r["L"] for r in payload["rows"]]
    for name, style in (("ours", "o-"), ("chunked", "s--"), ("sdpa_band", "^:"), ("flex", "d-.")):
        for mode, alpha in (("fwd", 0.5), ("fwdbwd", 1.0)):
            key = f"{name} {mode}"
            pts = [(r["L"], r["median_s"][key]) for r in payload["rows"] if key in r["median_s"]]
            if pts:
                a.plot(*zip(*pts, strict=True), style, alpha=alpha, label=key)
        mem = [(n, payload["peak_growth_bytes"].get(f"{name} {n}")) for n in ls]
        mem = [(n, m / 2**20) for n, m in mem if m]
        if mem:
            b.plot(*zip(*mem, strict=True), style, label=f"{name} fwd+bwd")
    for ax, ylabel in ((a, "seconds (median)"), (b, "peak RSS growth (MiB)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length L")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    a.set_title("window 128 each side, 8 heads x 64, fp32, CPU")
    b.set_title("memory of one forward+backward")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    RESULTS.mkdir(exist_ok=True)


if __name__ == "__main__":
    main()
