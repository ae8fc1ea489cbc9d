"""Speech recognition with full attention, window attention and a BiLSTM (the lecture [32]).

Speech makes ``L`` large: 100 frames a second, 25 after the x4 subsampling of
``selfattn train asr``. The lecture's answer is truncated self-attention: each frame sees
only a window of frames around it, so the cost grows as ``L * w`` instead of ``L^2``; its
older rival is a recurrent encoder, which reads the frames one after another. This trains
the same ``asr`` model (convolutional subsampling x4, an encoder, a CTC head, greedy
decoding) on the same ``espeak-asr`` data three ways through ``selfattn.train``:

* ``full``: ``model.pattern=none`` (every frame attends to every frame);
* ``window``: ``model.pattern=window model.window=W`` (frame ``i`` sees ``|i - j| <= W``
  subsampled frames, +-40W ms);
* ``bilstm``: ``model.kind=lstm`` (a bidirectional LSTM of the same depth and width).

Reported per encoder: CER on held-out voices (``test``) and on held-out sentences of the
training voices (``test_seen_voices``), ``jiwer`` on greedy CTC output, seconds per
training epoch (wall, on shared cores), and, timed interleaved in one run, one training
step (forward, backward, AdamW) on one utterance of each length in ``lengths_s`` with its
peak tensor memory (``torch.profiler`` events, as ``truncated-attention``): the window's
cost grows linearly with the length, full attention's quadratically.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..bench.memory import peak_bytes
from ..bench.results import save_results
from ..bench.timing import interleaved, median
from ._runs import Stopwatch, check_scale, run_record, torch_threads

__all__ = ["ENCODERS", "SCALES", "run"]

NAME = "speech-truncation"
ENCODERS = {"full": ["model.pattern=none"], "window": ["model.pattern=window"], "bilstm": ["model.kind=lstm"]}
BASE = ["model.decoder=ctc", "trainer.progress=false", "run.plots=false", "trainer.max_time_s=null",
        "run.beam_size=1"]
SCALES: dict[str, dict[str, Any]] = {
    "tiny": {"extra": ["model.width=16", "model.heads=2", "model.depth=1", "model.ff=32", "model.window=4",
                       "trainer.max_epochs=2", "optim.warmup_steps=2", "trainer.max_tokens=600",
                       "data.train_utterances=null"],
             "lengths_s": (2,), "reps": 1},
    "small": {"extra": ["model.width=96", "model.depth=3", "model.ff=256", "model.window=16",
                        "trainer.max_epochs=4", "trainer.patience=10", "data.train_utterances=500",
                        "data.test_limit=60", "optim.warmup_steps=30", "optim.lr=0.003"],
              "lengths_s": (10, 30, 60), "reps": 3},
    "full": {"extra": ["model.window=16", "trainer.max_epochs=8"], "lengths_s": (10, 30, 60, 120), "reps": 5},
}


def _config(scale: str, encoder: str, seed: int, run_dir: Path, data_path) -> dict:
    from ..train.config import resolve_config

    path = [f"data.path={data_path}"] if data_path is not None else []
    return resolve_config("asr", overrides=[*BASE, *SCALES[scale]["extra"], *ENCODERS[encoder], *path,
                                            f"seed={seed}", f"run.dir={run_dir}", "trainer.num_threads=null"])


def _train_all(scale: str, seed: int, data_path) -> list[dict]:
    from ..train.run import train

    rows = []
    root = Path(tempfile.mkdtemp(prefix="selfattn-speech-"))
    try:
        for encoder in ENCODERS:
            res = train(_config(scale, encoder, seed, root / encoder, data_path), log=lambda _: None)
            epochs = max(int(res["epochs"]), 1)
            rows.append({"encoder": encoder, "overrides": ENCODERS[encoder],
                         "test_cer": res["test_cer_greedy"],
                         "test_seen_voices_cer": res.get("test_seen_voices_cer_greedy"),
                         "best_val_cer": res["best_val"], "epochs": int(res["epochs"]),
                         "seconds_per_epoch": round(res["train_wall_s"] / epochs, 3),
                         "parameters": res["parameters"]})
            print(f"[{NAME}] {encoder}: CER {rows[-1]['test_cer']:.4f} held-out voices, "
                  f"{rows[-1]['seconds_per_epoch']} s/epoch", file=sys.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return rows


def _cost(scale: str, seed: int, data_path, symbols: int = 28) -> list[dict]:
    """One training step on one utterance of each length, every encoder interleaved."""
    from ..nn.ctc import build_ctc_model

    features = 80
    models = {}
    for encoder in ENCODERS:
        torch.manual_seed(seed)
        cfg = _config(scale, encoder, seed, Path("unused"), data_path)
        models[encoder] = build_ctc_model(cfg["model"], {"input": {"dim": features}, "symbols": symbols})
    rows = []
    g = torch.Generator().manual_seed(seed)
    for seconds in SCALES[scale]["lengths_s"]:
        frames = int(seconds * 100)
        x = torch.randn(1, frames, features, generator=g)
        mask = torch.ones(1, frames, dtype=torch.bool)
        y = torch.randint(1, symbols + 1, (1, max(frames // 8, 1)), generator=g)  # ~12 characters a second
        ymask = torch.ones_like(y, dtype=torch.bool)

        def step_of(model, x=x, mask=mask, y=y, ymask=ymask):
            opt = torch.optim.AdamW(model.parameters(), lr=1e-6)

            def step() -> None:
                model.train()
                loss = model.loss(model(x, mask), mask, y, ymask)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            return step

        steps = {name: step_of(m) for name, m in models.items()}
        times = interleaved(steps, SCALES[scale]["reps"])
        peaks = {name: peak_bytes(f) for name, f in steps.items()}
        rows.append({"seconds": seconds, "frames": frames, "encoder_frames": (frames + 3) // 4,
                     **{name: {"step_ms": round(1e3 * median(times[name]), 1),
                               "time_ratio_to_full": round(median(times[name]) / median(times["full"]), 3),
                               "peak_mib": round(peaks[name] / 2**20, 1)} for name in models}})
        shown = ", ".join(f"{n} {rows[-1][n]['step_ms']} ms {rows[-1][n]['peak_mib']} MiB" for n in models)
        print(f"[{NAME}] {seconds} s: {shown}", file=sys.stderr)
    return rows


def run(out_dir: str | Path = f"runs/experiments/{NAME}", scale: str = "small", seed: int = 0, *,
        data_path: str | Path | None = None, threads: int = 1) -> dict:
    """CER and cost of full attention, window attention and a BiLSTM encoder on the same data.

    ``scale``: ``tiny`` (tests; needs ``data_path``), ``small`` (500 training utterances, width
    96, 4 epochs: minutes) or ``full`` (the ``asr`` preset's size, 8 epochs). ``data_path``: a
    manifest folder (default: the cached ``espeak-asr`` corpus)."""
    check_scale(scale, list(SCALES))
    if scale == "tiny" and data_path is None:
        raise ValueError("data_path: the tiny scale trains on a corpus you give (a manifest folder)")
    clock = Stopwatch()
    with torch_threads(threads):
        accuracy = _train_all(scale, seed, data_path)
        cost = _cost(scale, seed, data_path)
        cfg = _config(scale, "window", seed, Path("unused"), data_path)
        result = {
            "experiment": NAME,
            "claim": "on speech, window (truncated) self-attention costs time and memory linear in the "
                     "length where full attention's grows quadratically, at little or no loss in error rate; "
                     "a BiLSTM is the recurrent alternative",
            "setup": {"task": "asr (espeak-asr: OANC sentences by eSpeak NG voices; test voices held out)",
                      "overrides": ["asr", *BASE, *SCALES[scale]["extra"]], "encoders": ENCODERS,
                      "model": {k: cfg["model"][k] for k in ("width", "depth", "heads", "ff", "window",
                                                             "positional")},
                      "window_meaning": "subsampled frame i (40 ms each) attends to frames j with "
                                        "|i - j| <= window",
                      "metric": "CER (jiwer) of greedy CTC decoding, best validation-CER checkpoint",
                      "timing": f"one training step on one utterance of random features, median of "
                                f"{SCALES[scale]['reps']} interleaved rounds; seconds per epoch are wall "
                                "time of the training runs on shared cores",
                      "memory_method": "torch.profiler memory events: peak tensor bytes during one step"},
            "accuracy": accuracy,
            "cost": cost,
        }
        result["run"] = run_record(NAME, out_dir, scale, seed, clock)
    return save_results(result, out_dir, _plot)


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["encoder"] for r in result["accuracy"]]
    colours = {"full": "tab:gray", "window": "tab:red", "bilstm": "tab:blue"}
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    for ax, key, title in ((axes[0], "test_cer", "CER, held-out voices"),
                           (axes[1], "seconds_per_epoch", "seconds per training epoch")):
        values = [r[key] or 0.0 for r in result["accuracy"]]
        ax.bar(names, values, color=[colours[n] for n in names])
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.3f}" if key == "test_cer" else f"{v:.0f}", ha="center", va="bottom")
        ax.set_title(title)
        ax.grid(True, axis="y", alpha=0.3)
    seen = [r["test_seen_voices_cer"] for r in result["accuracy"]]
    if all(v is not None for v in seen):
        axes[0].plot(names, seen, "k^", label="held-out sentences, training voices")
        axes[0].legend(fontsize=7)
    secs = [r["seconds"] for r in result["cost"]]
    for ax, key, title in ((axes[2], "step_ms", "one training step (ms)"),
                           (axes[3], "peak_mib", "peak step memory (MiB)")):
        for n in names:
            ax.plot(secs, [r[n][key] for r in result["cost"]], "o-", color=colours[n], label=n)
        ax.set_xlabel("utterance length (s)")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(run(), indent=2))
