"""A learned bias with attention dropout: ``flash_bias`` against F.sdpa's math path.

A T5 relative bias (``T5RelativeBias``, 32 buckets, a learned table, so the bias needs a
gradient) with dropout 0.1: forward + backward of ``selfattn.functional.attention`` (loss =
sum of the output times a fixed random tensor; gradients of q, k, v and the table), float32,
batch 2 x 4 heads (B*H = 8), head dim 64, L in {128, 256, 512}. Contenders, timed in the
same rounds, each round in a fresh random order:

* ``flash_bias``: the chunked forward with dropout and the chunked exact backward that
  draws the same keep-masks again ("auto" picks it for this call);
* ``sdpa``: ``kernel="sdpa"``, i.e. F.sdpa, which on CPU with a bias that needs a gradient
  (and with dropout) runs its math path, as "auto" did before ``flash_bias`` took dropout;
* ``flash_bias p=0``: the same kernel without dropout (flash forward), for the cost of the
  dropout masks themselves.

Times are the process's CPU time with one torch thread (the two cores are shared with
other jobs; see ``positional_cost.py``); the speed-up at each L is the median over rounds
of (sdpa time / flash_bias time) in the same round, with quartiles. Also recorded: the
bytes of the tensors each contender saves for its backward (``saved_tensors_hooks``).

Run: ``python benchmarks/bias_dropout.py`` (under a minute on 2 busy cores). Writes
``benchmarks/results/bias_dropout.json`` and ``bias_dropout.png`` and prints the table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

from _timing import RESULTS, machine, save, shuffled_rounds
from selfattn.functional import attention, choose_kernel
from selfattn.positional import T5RelativeBias

CONTENDERS = {"flash_bias": ("flash_bias", 0.1), "sdpa": ("sdpa", 0.1),
              "flash_bias p=0": ("flash_bias", 0.0)}


def step_fn(q, k, v, t5, g, kernel: str, p: float):
    leaves = [q, k, v, t5.weight]

    def run() -> None:
        for t in leaves:
            t.grad = None
        (attention(q, k, v, bias=t5, dropout_p=p, kernel=kernel) * g).sum().backward()

    return run


def saved_bytes(run) -> int:
    """Bytes of every tensor saved for the backward during one step."""
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        run()
    return total[0]


def measure(length: int, args) -> dict:
    gen = torch.Generator().manual_seed(length)
    q, k, v = (torch.randn(args.batch, args.heads, length, args.head_dim, generator=gen)
               .requires_grad_(True) for _ in range(3))
    g = torch.randn(args.batch, args.heads, length, args.head_dim, generator=gen)
    torch.manual_seed(0)
    t5 = T5RelativeBias(args.heads, num_buckets=32, max_distance=128)
    assert choose_kernel(q, k, v, bias=t5, dropout_p=0.1).name == "flash_bias"
    runs = {name: step_fn(q, k, v, t5, g, kernel, p) for name, (kernel, p) in CONTENDERS.items()}
    saved = {name: saved_bytes(fn) for name, fn in runs.items()}  # also the warm-up
    for fn in runs.values():
        fn()
    times, walls = shuffled_rounds(runs, args.rounds, args.budget, min_rounds=3, seed=length)
    out = {}
    for name in runs:
        ratios = sorted(s / f for s, f in zip(times["sdpa"], times[name], strict=True))
        qs = statistics.quantiles(ratios, n=4)
        out[name] = {"median_ms": 1000 * statistics.median(times[name]),
                     "wall_median_ms": 1000 * statistics.median(walls[name]),
                     "sdpa_over_this": statistics.median(ratios), "ratio_q1": qs[0], "ratio_q3": qs[2],
                     "saved_for_backward_mib": saved[name] / 2**20, "rounds": len(times[name])}
    return out


def plot(results: dict, config: dict, path) -> None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import FormatStrFormatter

    lengths = [int(n) for n in results]
    fig = Figure(figsize=(10, 4.2))
    ax, bx = fig.subplots(1, 2)
    for name, color in (("flash_bias", "tab:orange"), ("sdpa", "lightgray"),
                        ("flash_bias p=0", "tab:blue")):
        ax.plot(lengths, [results[str(n)][name]["median_ms"] for n in lengths], "o-", color=color,
                label=f"{name} (dropout {CONTENDERS[name][1]})")
    ax.set(xscale="log", yscale="log", xlabel="L", ylabel="CPU ms per forward + backward",
           title="median CPU time")
    ax.minorticks_off()
    ax.set_xticks(lengths, [str(n) for n in lengths])
    ms = [r["median_ms"] for row in results.values() for r in row.values()]
    ax.set_yticks([t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if min(ms) / 2 < t < 2 * max(ms)])
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.legend(fontsize=8)
    r = [results[str(n)]["flash_bias"] for n in lengths]
    bx.bar([str(n) for n in lengths], [x["sdpa_over_this"] for x in r], color="tab:orange",
           yerr=[[x["sdpa_over_this"] - x["ratio_q1"] for x in r],
                 [x["ratio_q3"] - x["sdpa_over_this"] for x in r]], capsize=4)
    for i, n in enumerate(lengths):
        mib = [results[str(n)][c]["saved_for_backward_mib"] for c in ("flash_bias", "sdpa")]
        bx.annotate(f"saved for backward:\n{mib[0]:.1f} vs {mib[1]:.1f} MiB", (i, 0.1), ha="center",
                    fontsize=8)
    bx.axhline(1, color="black", linewidth=0.8)
    bx.set(xlabel="L", ylabel="sdpa time / flash_bias time (same round)",
           title="speed-up with dropout 0.1 (bars: quartiles)")
    fig.suptitle(f"T5 learned bias + dropout 0.1, B*H = {config['batch'] * config['heads']}, head dim "
                 f"{config['head_dim']}, fp32, {config['threads']} thread", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--rounds", type=int, default=60)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--budget", type=float, default=35.0, help="seconds of timed rounds per L at most")
    p.add_argument("--name", default="bias_dropout", help="results file stem")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    config = {"batch": args.batch, "heads": args.heads, "head_dim": args.head_dim,
              "threads": args.threads, "dtype": "float32", "dropout": 0.1,
              "bias": "T5RelativeBias(heads, num_buckets=32, max_distance=128), learned",
              "mode": "forward + backward (grads of q, k, v and the T5 table)",
              "timer": "process CPU time (time.process_time); wall time also recorded",
              "command": " ".join(["python", "benchmarks/bias_dropout.py", *sys.argv[1:]])}
    load_before, t0 = os.getloadavg(), time.perf_counter()
    results = {str(n): measure(n, args) for n in args.lengths}
    config["wall_s"] = round(time.perf_counter() - t0, 1)
    load = {"before": load_before, "after": os.getloadavg(),
            "note": "1/5/15-min load averages of the 2-core machine, shared with other jobs"}
    save(args.name, {"machine": machine(), "load_average": load, "config": config, "results": results})
    plot(results, config, RESULTS / f"{args.name}.png")
    print(f"{'L':>5} {'contender':<15} {'cpu ms':>8} {'sdpa / this':>12} {'q1..q3':>12} "
          f"{'saved MiB':>10}  rounds")
    for n, row in results.items():
        for name, r in row.items():
            print(f"{n:>5} {name:<15} {r['median_ms']:>8.1f} {r['sdpa_over_this']:>11.2f}x "
                  f"{r['ratio_q1']:>5.2f}..{r['ratio_q3']:<5.2f} {r['saved_for_backward_mib']:>10.2f}  "
                  f"{r['rounds']}")
    print(f"wrote {RESULTS / (args.name + '.json')} and .png")


if __name__ == "__main__":
    main()
