"""Ring (sequence-parallel) attention: 2 and 4 gloo processes against one process.

For each mode, length L and process count N, N forked ranks (gloo on 127.0.0.1, one
thread each) run one forward + backward of ``ring_attention`` on their shard of one
sequence ``(1, H, L, D)`` float32; N = 1 is plain single-process ``attention`` (the anchor:
F.sdpa's fused flash kernel, or the window kernel). Each rank records:

* its wall time for the call (the slowest rank's is the step time),
* its peak resident memory during the call above its resident memory just before
  (``/proc/self/clear_refs`` resets the high-water mark ``VmHWM``), and
* the bytes it sent (``selfattn.distributed.traffic``) and the seconds it waited for
  messages (transfer that compute did not hide);
* in a second, untimed call (first round only): the peak of the tensor bytes torch
  allocated during the call (``selfattn.bench.memory.peak_bytes``, the profiler's memory
  events: tensors only, independent of the allocator and of the load), reported as a ratio
  to the single-process call of the same mode and length.

For N > 1 each mode runs twice, ``overlap=True`` (each transfer posted before the compute it
hides behind, the default) and ``overlap=False`` (the same messages, each waited for before
computing), round-robin with the others; ``x overlap off`` is their step-time ratio.

Modes: ``full`` (every pair), ``causal`` (contiguous shards), ``zigzag`` (causal, zigzag
shards), ``window`` (``WindowPattern(w, w)``: the halo exchange, traffic independent of L).
Contenders of one length run round-robin (N = 1, 2, 4, then again). The machine has 2
cores shared with other jobs: 4 ranks on 2 cores cannot run 4x faster, so the times show
the work per rank and the balance, not the speed-up a 4-core host would give; memory and
bytes do not depend on the load. Results: benchmarks/results/ring_attention.json (+ .png).

    python benchmarks/ring_attention.py            # the committed run (see docs/ring_attention.md)
    python benchmarks/ring_attention.py --quick    # a smoke run (seconds)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from selfattn.bench.memory import peak_bytes
from selfattn.distributed import reset_traffic, ring_attention, shard_sequence, traffic
from selfattn.functional import attention
from selfattn.patterns import WindowPattern

RESULTS = Path(__file__).resolve().parent / "results"


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _rank(rank: int, world: int, port: int, cfg: dict, out_dir: str) -> None:
    torch.set_num_threads(cfg["threads"])
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=1800))
    length, h, d, mode = cfg["length"], cfg["heads"], cfg["dim"], cfg["mode"]
    sharding = "zigzag" if mode == "zigzag" else "contiguous"
    causal = mode in ("causal", "zigzag")
    pattern = WindowPattern(cfg["window"], cfg["window"]) if mode == "window" else None
    g = torch.Generator().manual_seed(cfg["seed"] + rank)

    def inputs(total: int):
        n = shard_sequence(torch.empty(1, 1, total, 1), world, rank, sharding=sharding).shape[2]
        return [torch.randn(1, h, n, d, generator=g).requires_grad_() for _ in range(3)] + [
            torch.randn(1, h, n, d, generator=g)]

    def step(q, k, v, grad) -> None:
        if world > 1:
            out = ring_attention(q, k, v, causal=causal, pattern=pattern, sharding=sharding,
                                 overlap=cfg["overlap"])
        else:
            out = attention(q, k, v, causal=causal, pattern=pattern)
        out.backward(grad)

    step(*inputs(1024 * world))  # warm-up: first-call set-up is not the step's cost
    q, k, v, grad = inputs(length)
    n = q.shape[2]
    Path("/proc/self/clear_refs").write_text("5")
    rss0 = _status_kb("VmRSS")
    if world > 1:
        dist.barrier()
    reset_traffic()
    t0 = time.perf_counter()
    step(q, k, v, grad)
    seconds = time.perf_counter() - t0
    stats = traffic()
    peak = _status_kb("VmHWM")
    tensor_peak = None
    if cfg["tensor_memory"]:
        for x in (q, k, v):
            x.grad = None
        if world > 1:
            dist.barrier()
        tensor_peak = peak_bytes(lambda: step(q, k, v, grad))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    row = dict(rank=rank, seconds=seconds, peak_extra_mib=(peak - rss0) / 1024,
               peak_rss_mib=peak / 1024, bytes_sent=stats.bytes_sent, messages=stats.messages,
               wait_s=stats.wait_s, local_length=n,
               tensor_peak_mib=None if tensor_peak is None else tensor_peak / 2**20)
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(row))


def run_once(world: int, cfg: dict) -> list[dict]:
    """One forward + backward on ``world`` forked ranks; their records, in rank order."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        mp.start_processes(_rank, args=(world, port, cfg, tmp), nprocs=world, join=True,
                           start_method="fork")
        return [json.loads(Path(tmp, f"rank{r}.json").read_text()) for r in range(world)]


def _fixed_mmap_threshold() -> bool:
    """Large blocks straight from mmap and back to the system when freed (glibc's threshold
    otherwise grows as blocks are freed, freed tensors stay in the heap and VmHWM counts
    them): the peak RSS then tracks the tensors alive at once."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(-3, 1 << 16))  # M_MMAP_THRESHOLD = 64 KiB


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[8192, 16384, 32768])
    ap.add_argument("--window-lengths", type=int, nargs="+",
                    default=[8192, 16384, 32768, 65536, 131072])
    ap.add_argument("--worlds", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--modes", nargs="+", default=["full", "causal", "zigzag", "window"])
    ap.add_argument("--heads", type=int, default=1)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--window", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-rounds-above", type=int, default=16384,
                    help="lengths above this run one round (dense attention is O(L^2))")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-overlap-off", action="store_true",
                    help="skip the overlap=False contenders")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(RESULTS / "ring_attention.json"))
    args = ap.parse_args(argv)
    if args.quick:
        args.lengths, args.window_lengths, args.rounds = [1024], [1024, 4096], 1
        args.out = str(RESULTS / "ring_attention_quick.json")
    mmap_fixed = _fixed_mmap_threshold()  # before any rank forks
    contenders = [(w, True) for w in args.worlds]
    if not args.no_overlap_off:
        contenders += [(w, False) for w in args.worlds if w > 1]
    rows = []
    started = time.perf_counter()
    for mode in args.modes:
        for length in (args.window_lengths if mode == "window" else args.lengths):
            rounds = args.rounds if (mode == "window" or length <= args.max_rounds_above) else 1
            runs_of: dict[tuple[int, bool], list[list[dict]]] = {c: [] for c in contenders}
            for i in range(rounds):  # round-robin over the contenders
                for world, overlap in contenders:
                    cfg = dict(length=length, heads=args.heads, dim=args.dim, mode=mode,
                               window=args.window, seed=args.seed, threads=args.threads,
                               overlap=overlap, tensor_memory=(i == 0 and overlap))
                    runs_of[(world, overlap)].append(run_once(world, cfg))
            step_of = {c: statistics.median(max(r["seconds"] for r in ranks) for ranks in runs)
                       for c, runs in runs_of.items()}
            anchor = step_of.get((1, True))
            single_mem = runs_of[(1, True)][0][0]["tensor_peak_mib"] if (1, True) in runs_of else None
            for (world, overlap), runs in runs_of.items():
                step = step_of[(world, overlap)]
                first, last = runs[0], runs[-1]
                row = dict(mode=mode, length=length, world=world, overlap=overlap, rounds=len(runs),
                           step_s=step,
                           rank_s=[statistics.median(ranks[r]["seconds"] for ranks in runs)
                                   for r in range(world)],
                           wait_s=[r["wait_s"] for r in last],
                           peak_extra_mib=[r["peak_extra_mib"] for r in last],
                           peak_rss_mib=[r["peak_rss_mib"] for r in last],
                           tensor_peak_mib=[r["tensor_peak_mib"] for r in first],
                           bytes_sent=[r["bytes_sent"] for r in last],
                           local_length=[r["local_length"] for r in last])
                row["ratio_to_one_process"] = step / anchor if anchor else None
                if world > 1 and (world, not overlap) in step_of:
                    row["ratio_overlap_on_to_off"] = (step_of[(world, True)] / step_of[(world, False)])
                mem = row["tensor_peak_mib"]
                row["tensor_peak_ratio_to_one_process"] = (
                    max(mem) / single_mem if overlap and single_mem and None not in mem else None)
                rows.append(row)
                extra = ""
                if row["tensor_peak_ratio_to_one_process"] is not None:
                    extra += (f", tensors {max(mem):.1f} MiB/rank = "
                              f"x{row['tensor_peak_ratio_to_one_process']:.2f} of 1 process")
                if "ratio_overlap_on_to_off" in row and overlap:
                    extra += f", overlap on/off x{row['ratio_overlap_on_to_off']:.2f}"
                print(f"{mode:7s} L={length:6d} N={world} overlap={overlap!s:5s}: step {step:7.2f} s "
                      f"(x{row['ratio_to_one_process']:.2f} of 1 process), ranks "
                      f"{' '.join(f'{s:.1f}' for s in row['rank_s'])} s, wait "
                      f"{max(row['wait_s']):.2f} s, RSS peak +{max(row['peak_extra_mib']):.0f} MiB/rank, "
                      f"sent {max(row['bytes_sent']) / 2**20:.2f} MiB/rank{extra}", flush=True)
    meta = dict(command=" ".join(["python", "benchmarks/ring_attention.py", *(argv if argv is not None
                                                                              else sys.argv[1:])]),
                note="measured while the machine was shared with other jobs",
                threads_per_rank=args.threads, heads=args.heads, head_dim=args.dim, batch=1,
                dtype="float32", window=args.window, seed=args.seed, malloc_mmap_threshold_64k=mmap_fixed,
                machine=f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs",
                torch=torch.__version__, wall_s=time.perf_counter() - started,
                date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    Path(args.out).write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
    print(f"wrote {args.out} ({meta['wall_s']:.0f} s)")
    plot(rows, Path(args.out).with_suffix(".png"), meta)


def plot(rows: list[dict], path: Path, meta: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(19, 4.2))
    styles = {1: "-", 2: "--", 4: ":"}
    colours = {"full": "C0", "causal": "C1", "zigzag": "C2", "window": "C3"}
    for mode in colours:
        for world in styles:
            pts = sorted((r["length"], r) for r in rows
                         if r["mode"] == mode and r["world"] == world and r.get("overlap", True))
            if not pts:
                continue
            ls = [p[0] for p in pts]
            label = f"{mode}, N={world}"
            kw = dict(color=colours[mode], linestyle=styles[world], marker="o", ms=3, label=label)
            axes[0].plot(ls, [p[1]["step_s"] for p in pts], **kw)
            mem = [(x, max(p["tensor_peak_mib"])) for x, p in pts
                   if None not in (p.get("tensor_peak_mib") or [None])]
            if mem:
                axes[1].plot([m[0] for m in mem], [m[1] for m in mem], **kw)
            if world > 1:
                ratio = [(x, p["ratio_overlap_on_to_off"]) for x, p in pts if "ratio_overlap_on_to_off" in p]
                if ratio:
                    axes[2].plot([r[0] for r in ratio], [r[1] for r in ratio], **kw)
                axes[3].plot(ls, [max(p[1]["bytes_sent"]) / 2**20 for p in pts], **kw)
    titles = ("step time (slowest rank), s", "peak tensor bytes per rank (fwd+bwd), MiB",
              "step time, overlap on / off", "bytes sent per rank per step (fwd+bwd), MiB")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xscale("log", base=2)
        if ax is not axes[2]:
            ax.set_yscale("log")
        ax.set_xlabel("sequence length L")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle(f"ring attention, gloo on one host ({meta['machine']}, {meta['threads_per_rank']} "
                 f"thread/rank), H={meta['heads']} D={meta['head_dim']} float32", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
