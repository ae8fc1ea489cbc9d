"""Peak memory of transcribing long audio: chunked vs whole-utterance window attention vs full.

``selfattn predict RUN file.wav`` encodes a recording longer than ``run.chunk_seconds`` in
chunks with the receptive field as context (``selfattn.nn.chunked``, contender
``chunked``, ``--chunk-seconds``, default 30), which gives the same outputs as encoding it
whole; the whole-utterance contenders are the anchor. With ``model.pattern=window`` (the
``asr`` preset, W = 16 subsampled frames each side) the
attention holds ``L * (2W + 1)`` scores per head, so memory grows linearly with the length;
with full attention (the same weights, ``pattern="none"``) it holds ``L^2``. For each length,
one utterance of random log-mel features (memory does not depend on the values) is
transcribed (greedy CTC, no gradients) by each contender (``chunked``: the window model, chunk
by chunk; its largest difference from the whole-utterance log-probs is recorded) and the peak of tensor bytes
allocated during the call is read from ``torch.profiler``'s memory events
(``selfattn.bench.memory.peak_bytes``); wall seconds of the same call beside it.

    python benchmarks/asr_long_audio.py [--lengths 10 30 60 120 300 600] [--threads 1] [--run RUN]

``--run``: a trained asr run (its model and config); default: the ``asr`` preset's model
with random weights. Results: ``benchmarks/results/asr_long_audio.json``.
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import torch

from _timing import RESULTS, machine, save
from selfattn.bench.memory import peak_bytes
from selfattn.nn.chunked import chunked_forward
from selfattn.nn.ctc import greedy_decode


def _model(run: str | None) -> tuple[torch.nn.Module, dict]:
    if run:
        from selfattn.train.loading import load_run

        cfg, _, _, _, model = load_run(run)
        return model.eval(), cfg["model"]
    from selfattn.nn.ctc import build_ctc_model
    from selfattn.train.config import resolve_config

    cfg = resolve_config("asr")["model"]
    torch.manual_seed(0)
    return build_ctc_model(cfg, {"input": {"dim": 80}, "symbols": 28}).eval(), cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lengths", type=float, nargs="+", default=[10, 30, 60, 120, 300, 600])
    ap.add_argument("--full-up-to", type=float, default=600, help="longest audio given to full attention (s)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--run", default=None)
    ap.add_argument("--chunk-seconds", type=float, default=30.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load_start = round(os.getloadavg()[0], 2)  # the cores are shared with other jobs: recorded
    window, cfg = _model(args.run)
    full = copy.deepcopy(window)
    full.pattern = "none"
    rows = []
    for seconds in args.lengths:
        frames = int(seconds * 100)
        x = torch.randn(1, frames, 80)
        row = {"seconds": seconds, "frames": frames, "encoder_frames": (frames + 3) // 4}
        chunk = max(int(args.chunk_seconds * 100) // 4, 1)
        for name, model in (("chunked", window), ("window", window), ("full", full)):
            if name == "full" and seconds > args.full_up_to:
                continue
            if name == "chunked":
                def forward(m=model, x=x, chunk=chunk):
                    return chunked_forward(m, x[0], chunk)
            else:
                def forward(m=model, x=x):
                    return m(x)
            with torch.no_grad():
                t = time.perf_counter()
                out = forward()
                ids = greedy_decode(out)
                wall = time.perf_counter() - t
                peak = peak_bytes(forward)  # the encoder and head: what predict holds
            row[name] = {"peak_mib": round(peak / 2**20, 1), "wall_s": round(wall, 2),
                         "symbols_out": len(ids[0])}
            if name == "chunked":
                chunked_out = out
            elif name == "window":
                row["chunked"]["max_abs_diff_vs_whole"] = float((chunked_out - out).abs().max())
        row["memory_ratio_chunked_to_window"] = round(row["chunked"]["peak_mib"] / row["window"]["peak_mib"],
                                                      3)
        row["time_ratio_chunked_to_window"] = round(row["chunked"]["wall_s"] / row["window"]["wall_s"], 2)
        if "full" in row:
            row["memory_ratio_full_to_window"] = round(row["full"]["peak_mib"] / row["window"]["peak_mib"], 2)
        rows.append(row)
        print(row, flush=True)
    payload = {"benchmark": "asr_long_audio", "threads": args.threads, "machine": machine(),
               "model": {k: cfg[k] for k in ("width", "depth", "heads", "ff", "pattern", "window",
                                             "positional")},
               "weights": args.run or "random (the asr preset's model)",
               "chunk_seconds": args.chunk_seconds,
               "method": "peak tensor bytes during one forward pass (torch.profiler memory events), batch 1, "
                         "no gradients; wall seconds of greedy transcription of the same input",
               "load_average_1min": {"start": load_start, "end": round(os.getloadavg()[0], 2)},
               "rows": rows}
    print(save("asr_long_audio", payload))
    _plot(rows, args.threads)


def _plot(rows: list[dict], threads: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (mem, wall) = plt.subplots(1, 2, figsize=(10, 4))
    for name in ("chunked", "window", "full"):
        pts = [(r["seconds"], r[name]) for r in rows if name in r]
        mem.plot([s for s, _ in pts], [v["peak_mib"] for _, v in pts], "o-", label=name)
        wall.plot([s for s, _ in pts], [v["wall_s"] for _, v in pts], "o-", label=name)
    mem.set(xlabel="audio (s)", ylabel="peak tensor memory (MiB)", title="encoder + head, one forward")
    wall.set(xlabel="audio (s)", ylabel="seconds", title=f"greedy transcription, {threads} thread(s)")
    for ax in (mem, wall):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(RESULTS / "asr_long_audio.png", dpi=110)


if __name__ == "__main__":
    main()
