"""Extra cost of each positional scheme in a 4-layer encoder, forward + backward, L = 1024.

Every scheme is wired into the same ``selfattn.positional.PositionedEncoder`` (4 layers,
d_model 256, 4 heads, feed-forward 1024, dropout 0, float32, train mode, kernel "auto")
and timed for one forward + backward (loss = mean of squared outputs) of a batch of 2 sets
of 1024 vectors. All schemes run in the same rounds, each round in a fresh random order
(interleaved, so that drift on a shared machine hits all alike). The extra cost of a
scheme is the median over rounds of (its time / the time of "none" in that round) - 1;
the quartiles of that ratio show the noise.

The time is the process's CPU time with one torch thread: the two cores of this machine
are shared with other jobs, and wall time then measures the share of the cores a step
got as much as its work (ratios swung by +-80% in trials). Wall times are recorded too;
``--threads 2`` on an idle machine measures the two-core wall time instead (sequential
parts, FLOATER's and the RNN's loops over positions, weigh more there).

``slow_paths`` times a scheme on a kernel that "auto" no longer picks, in the same rounds:
"t5 on sdpa" is T5 as it ran before the ``flash_bias`` kernel (F.sdpa's math path, since
the CPU flash op gives its mask no gradient), so the JSON shows the cost before and after.

Run: ``python benchmarks/positional_cost.py`` (about 3-4 minutes on 2 cores). Writes
``benchmarks/results/positional_cost.json`` and ``positional_cost.png`` and prints the
table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

from _timing import RESULTS, machine, save, shuffled_rounds
from selfattn.positional import SCHEMES, PositionedEncoder

NOTES = {
    "none": "baseline: no positions; attention on the sdpa kernel (flash)",
    "sinusoidal": "closed formula per forward (float64 angles), added once",
    "learned": "table lookup (max_len = L), added once",
    "floater": "RK4 over L positions, sequential, once per forward (hand-written backward)",
    "rnn": "fused GRU over L positions, once per forward",
    "shaw": "q-dependent dense bias + weights for the value term: flash_bias kernel under grad (explicit "
            "with dropout)",
    "t5": "learned ScoreBias as a dense float mask: flash_bias kernel (flash forward, chunked "
          "exact backward with the bias gradient)",
    "rope": "rotation of q and k in every layer; sdpa kernel (flash)",
    "alibi": "fixed ScoreBias as a dense float mask: sdpa kernel (flash with a float mask)",
}


# The same scheme on a kernel "auto" no longer picks, timed in the same rounds: the cost
# of T5 before the flash_bias kernel. Reported apart from the schemes ("slow_paths").
SLOW_PATHS = {
    "t5 on sdpa": ("t5", "sdpa", "t5 with kernel='sdpa': F.sdpa's math path, as 'auto' ran it "
                                 "before flash_bias (the CPU flash op has no gradient for its mask)"),
}


def build(name: str, args, kernel: str = "auto") -> PositionedEncoder:
    torch.manual_seed(0)
    options = {"max_len": args.length} if name == "learned" else None
    enc = PositionedEncoder(name, args.d_model, args.heads, args.layers,
                            positional_options=options, dropout=0.0, kernel=kernel)
    return enc.train()


def step_fn(enc: PositionedEncoder, x: torch.Tensor):
    params = list(enc.parameters())

    def run() -> None:
        for p in params:
            p.grad = None
        enc(x).square().mean().backward()

    return run


def measure(args) -> dict:
    x = torch.randn(args.batch, args.length, args.d_model)
    runs = {name: step_fn(build(name, args), x) for name in SCHEMES}
    for label, (name, kernel, _) in SLOW_PATHS.items():
        runs[label] = step_fn(build(name, args, kernel), x)
    for fn in runs.values():  # warm-up: allocator, kernels, lazy buffers
        fn()
    times, walls = shuffled_rounds(runs, args.rounds, args.budget, min_rounds=3, seed=0)
    out: dict = {"slow_paths": {}}
    for name, ts in times.items():
        ratios = sorted(t / b for t, b in zip(ts, times["none"], strict=True))
        wall_ratios = [t / b for t, b in zip(walls[name], walls["none"], strict=True)]
        q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
        scheme = SLOW_PATHS[name][0] if name in SLOW_PATHS else name
        entry = {
            "where": SCHEMES[scheme][0].where,
            "median_ratio": statistics.median(ratios),
            "extra_pct": 100 * (statistics.median(ratios) - 1),
            "ratio_q1": q[0], "ratio_q3": q[2],
            "median_ms": 1000 * statistics.median(ts),
            "wall_median_ms": 1000 * statistics.median(walls[name]),
            "wall_extra_pct": 100 * (statistics.median(wall_ratios) - 1),
            "rounds": len(ts),
            "note": SLOW_PATHS[name][2] if name in SLOW_PATHS else NOTES[name],
        }
        if name in SLOW_PATHS:
            out["slow_paths"][name] = entry
        else:
            out[name] = entry
    slow = out.pop("slow_paths")
    return out, slow


def plot(results: dict, slow: dict, config: dict, path) -> None:
    from matplotlib.figure import Figure

    rows = {**{n: r for n, r in results.items() if n != "none"}, **slow}
    names = list(rows)
    extra = [rows[n]["extra_pct"] for n in names]
    lo = [rows[n]["extra_pct"] - 100 * (rows[n]["ratio_q1"] - 1) for n in names]
    hi = [100 * (rows[n]["ratio_q3"] - 1) - rows[n]["extra_pct"] for n in names]
    colors = ["lightgray" if n in slow else "tab:blue" if rows[n]["where"] == "inputs"
              else "tab:orange" for n in names]
    fig = Figure(figsize=(10, 4.8))
    ax = fig.subplots()
    ax.bar([n.replace(" on ", "\non ") for n in names], extra, color=colors, yerr=[lo, hi],
           capsize=4)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("extra CPU time vs no encoding (%)")
    ax.set_title(f"Positional schemes: forward+backward of a {config['layers']}-layer encoder, "
                 f"L={config['length']}, batch {config['batch']}, {config['threads']} thread(s)\n"
                 f"(median over {results['none']['rounds']} interleaved rounds, bars: quartiles; "
                 f"none = {results['none']['median_ms']:.0f} ms CPU)", fontsize=10)
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color="tab:blue", label="added to the inputs"),
                       Patch(color="tab:orange", label="inside attention"),
                       Patch(color="lightgray", label="a kernel 'auto' no longer picks")])
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--length", type=int, default=1024)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--threads", type=int, default=1, help="torch threads (see the docstring)")
    p.add_argument("--budget", type=float, default=200.0, help="seconds of timed rounds at most")
    p.add_argument("--name", default="positional_cost", help="results file stem")
    args = p.parse_args()
    config = {"batch": args.batch, "length": args.length, "d_model": args.d_model,
              "heads": args.heads, "layers": args.layers, "dim_feedforward": 4 * args.d_model,
              "dropout": 0.0, "dtype": "float32", "mode": "train, forward + backward",
              "kernel": "auto", "loss": "mean of squared outputs", "rounds_max": args.rounds}
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    results, slow = measure(args)
    load = {"before": load_before, "after": os.getloadavg(),
            "note": "1/5/15-min load averages of the 2-core machine, shared with other jobs"}
    config["threads"] = args.threads
    config["timer"] = "process CPU time (time.process_time); wall time also recorded"
    config["command"] = " ".join(["python", "benchmarks/positional_cost.py", *sys.argv[1:]])
    config["seed"] = "torch.manual_seed(0) per model; round order random.Random(0)"
    config["wall_s"] = round(time.perf_counter() - t0, 1)
    save(args.name, {"machine": machine(), "load_average": load, "config": config,
                     "results": results, "slow_paths": slow})
    plot(results, slow, config, RESULTS / f"{args.name}.png")
    print(f"{'scheme':<11} {'where':<10} {'cpu ms':>8} {'extra':>8} {'q1..q3 of extra':>17} "
          f"{'wall ms':>8} {'wall extra':>10}  rounds")
    for name, r in {**results, **slow}.items():
        print(f"{name:<11} {r['where']:<10} {r['median_ms']:>8.0f} {r['extra_pct']:>+7.1f}% "
              f"{100 * (r['ratio_q1'] - 1):>+7.1f}..{100 * (r['ratio_q3'] - 1):>+6.1f}% "
              f"{r['wall_median_ms']:>8.0f} {r['wall_extra_pct']:>+9.1f}%  {r['rounds']}")
    print(f"wrote {RESULTS / (args.name + '.json')} and .png")


if __name__ == "__main__":
    main()
