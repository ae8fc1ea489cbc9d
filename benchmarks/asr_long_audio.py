"""Peak memory of transcribing long audio: the asr encoder with window vs full attention.

``selfattn predict RUN file.wav`` runs the whole recording through the encoder at once.
With ``model.pattern=window`` (the ``asr`` preset, W = 16 subsampled frames each side) the
attention holds ``L * (2W + 1)`` scores per head, so memory grows linearly with the length;
with full attention (the same weights, ``pattern="none"``) it holds ``L^2``. For each length,
one utterance of random log-mel features (memory does not depend on the values) is
transcribed (greedy CTC, no gradients) by each contender and the peak of tensor bytes
allocated during the call is read from ``torch.profiler``'s memory events
(``selfattn.experiments._runs.peak_bytes``); wall seconds of the same call beside it.

    python benchmarks/asr_long_audio.py [--lengths 10 30 60 120 300 600] [--threads 1] [--run RUN]

``--run``: a trained asr run (its model and config); default: the ``asr`` preset's model
with random weights. Results: ``benchmarks/results/asr_long_audio.json``.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from _timing import machine, save
from selfattn.experiments._runs import peak_bytes


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
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    window, cfg = _model(args.run)
    full = copy.deepcopy(window)
    full.pattern = "none"
    rows = []
    for seconds in args.lengths:
        frames = int(seconds * 100)
        x = torch.randn(1, frames, 80)
        row = {"seconds": seconds, "frames": frames, "encoder_frames": (frames + 3) // 4}
        for name, model in (("window", window), ("full", full)):
            if name == "full" and seconds > args.full_up_to:
                continue
            with torch.no_grad():
                t = time.perf_counter()
                ids = model.transcribe(x, None, 1) if not hasattr(model, "joint_step") else None
                wall = time.perf_counter() - t
                peak = peak_bytes(lambda m=model, x=x: m(x))  # the encoder and head: what predict holds
            row[name] = {"peak_mib": round(peak / 2**20, 1), "wall_s": round(wall, 2),
                         "symbols_out": None if ids is None else len(ids[0])}
        if "full" in row:
            row["memory_ratio_full_to_window"] = round(row["full"]["peak_mib"] / row["window"]["peak_mib"], 2)
        rows.append(row)
        print(row, flush=True)
    payload = {"benchmark": "asr_long_audio", "threads": args.threads, "machine": machine(),
               "model": {k: cfg[k] for k in ("width", "depth", "heads", "ff", "pattern", "window",
                                             "positional")},
               "weights": args.run or "random (the asr preset's model)",
               "method": "peak tensor bytes during one forward pass (torch.profiler memory events), batch 1, "
                         "no gradients; wall seconds of greedy transcription of the same input",
               "rows": rows}
    print(save("asr_long_audio", payload))


if __name__ == "__main__":
    main()
