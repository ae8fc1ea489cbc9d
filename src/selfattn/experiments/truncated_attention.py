"""Truncated self-attention on speech: how much window does a frame need (the lecture [32])?

Speech comes 100 frames a second, so full self-attention over an utterance is an L x L
matrix that grows fast; the lecture's answer is to let each frame attend only to a window
of frames around it, a range set by a person. This experiment trains the ``diarization``
task (pyannote's 30 s two-speaker sample, a who-speaks label per 10 ms frame, in 4 s chunks
of 400 frames) with ``model.pattern=window model.window=W`` (frame ``i`` sees frames
``|i - j| <= W``: ``2W + 1`` keys, +-10W ms) for several W, and with full attention
(``model.pattern=none``), same model otherwise, through ``selfattn.train``.

Beside accuracy, the same models are timed, interleaved in one run, for one training step
(forward, backward, AdamW) at two lengths: a training batch (4 x 400 frames) and the whole
recording as one set (about 3,000 frames). Two ways to compute the window are timed:

* ``sparse``: as ``selfattn.train`` models run it: ``WindowPattern(W)`` goes to the
  attention, and the dispatcher picks a kernel (the O(L*w) window kernel above its measured
  crossover, else the dense kernel with the pattern's mask; its choice is recorded);
* ``dense mask``: the same window as an ``(L, L)`` boolean mask to the dense kernel
  (``SetModel.sparse = False``): the work of full attention, whatever the window.

Peak memory is the peak of tensor bytes torch allocates during one step, above what was
live before it, from ``torch.profiler``'s memory events; the attention matrix's own size
(``B * H * L * keys * 4`` bytes) is given beside it. Dropout is 0 in every model, so each
contender runs its fused path.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..bench.memory import peak_bytes
from ..bench.results import save_results
from ..bench.timing import interleaved, median
from ._runs import Stopwatch, check_scale, kernel_choice, run_record, torch_threads, twins

__all__ = ["BASE_OVERRIDES", "SCALES", "run"]

NAME = "truncated-attention"

BASE_OVERRIDES = ["data.chunk_seconds=4.0", "data.frame_stack=1", "model.dropout=0.0",
                  "trainer.progress=false", "run.plots=false"]
SCALES: dict[str, dict[str, Any]] = {
    "tiny": {"windows": (1, 4), "seeds": 1, "reps": 1,
             "extra": ["model.width=16", "model.heads=2", "model.ff=32", "trainer.max_epochs=2",
                       "optim.warmup_steps=2", "data.chunk_seconds=2.0"]},
    "small": {"windows": (1, 2, 4, 8, 16, 32, 64), "seeds": 3, "reps": 7, "extra": []},
    "full": {"windows": (1, 2, 4, 8, 16, 32, 64, 128), "seeds": 5, "reps": 15, "extra": []},
}


def _config(scale: str, window: int | None, seed: int, run_dir: Path, data_path: str | Path | None) -> dict:
    from ..train.config import resolve_config

    pattern = ["model.pattern=none"] if window is None else ["model.pattern=window", f"model.window={window}"]
    path = [f"data.path={data_path}"] if data_path is not None else []
    return resolve_config("diarization", overrides=[*BASE_OVERRIDES, *SCALES[scale]["extra"], *pattern, *path,
                                                    f"seed={seed}", f"run.dir={run_dir}",
                                                    "trainer.num_threads=null"])


def _train_all(scale: str, windows: list[int | None], seeds: list[int], data_path) -> list[dict]:
    from ..train.run import train

    rows = []
    root = Path(tempfile.mkdtemp(prefix="selfattn-truncated-"))
    try:
        for w in windows:
            runs = []
            for sd in seeds:
                cfg = _config(scale, w, sd, root / f"w{w}-s{sd}", data_path)
                res = train(cfg, log=lambda _: None)
                runs.append({"seed": sd, "test_acc": res["test_acc"], "test_f1": res["test_f1"],
                             "best_val_f1": res["best_val"], "epochs": res["epochs"],
                             "train_wall_s": res["train_wall_s"]})
            acc = [r["test_acc"] for r in runs]
            f1 = [r["test_f1"] for r in runs]
            rows.append({"window": "full" if w is None else w,
                         "config": {"model.pattern": cfg["model"]["pattern"],
                                    "model.window": cfg["model"]["window"] if w is not None else None},
                         "keys_per_query": None if w is None else 2 * w + 1,
                         "context_ms": None if w is None else 10 * w,
                         "runs": runs, "mean_test_acc": sum(acc) / len(acc),
                         "mean_test_f1": sum(f1) / len(f1), "parameters": res["parameters"]})
            print(f"[{NAME}] window {rows[-1]['window']}: test acc {rows[-1]['mean_test_acc']:.4f} "
                  f"f1 {rows[-1]['mean_test_f1']:.4f}", file=sys.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return rows


def _step(model: torch.nn.Module, batch) -> Any:
    """One training step of the diarization task (its loss: BCE over real frames)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    model.train()

    def step() -> None:
        out = model(batch.x, batch.mask)
        loss = F.binary_cross_entropy_with_logits(out[batch.mask], batch.y[batch.mask].float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def _cost(scale: str, windows: list[int], seed: int, data_path) -> dict:
    """Time and peak memory of one training step, every contender interleaved, at two lengths."""
    from ..data import VectorSet, collate, load_pyannote_sample
    from ..patterns import WindowPattern
    from ..train.run import build_task_model
    from ..train.tasks import get_task

    cfg = _config(scale, None, seed, Path("unused"), data_path)
    task = get_task("diarization")
    data = task.build(cfg)
    torch.manual_seed(seed)
    base = build_task_model(cfg, data.spec)
    task.init_model(base, data, cfg)
    whole = load_pyannote_sample(data_path, None, cfg["data"]["features"]).examples[0]
    batches = {"train_batch": collate(data.train.examples[:4], "padded", "vector"),
               "whole_recording": collate([VectorSet(x=whole.x, y=whole.y)], "padded", "vector")}
    heads = int(cfg["model"]["heads"])
    out: dict[str, Any] = {}
    for label, batch in batches.items():
        b, length = batch.mask.shape
        models: dict[str, torch.nn.Module] = {}
        choice = {}
        for w in windows:  # model.pattern=window model.window=w, two ways, and full attention
            for how, twin in twins(base, "window", w).items():
                models[how if how == "full" else f"{how} w={w}"] = twin
            choice[w] = kernel_choice(WindowPattern(w), b, heads, length, int(cfg["model"]["width"]) // heads,
                                      key_mask=batch.mask)
        with torch.no_grad():  # the sparse kernels compute what the dense mask does
            diffs = [float((models[f"sparse w={w}"].eval()(batch.x, batch.mask)
                            - models[f"dense mask w={w}"].eval()(batch.x, batch.mask)).abs().max())
                     for w in windows]
        steps = {name: _step(m, batch) for name, m in models.items()}
        times = interleaved(steps, SCALES[scale]["reps"])
        peaks = {name: peak_bytes(f) for name, f in steps.items()}
        full_t, full_m = median(times["full"]), peaks["full"]
        rows = []
        for w in windows:
            row: dict[str, Any] = {"window": w, "kernel_choice": choice[w]}
            for how in ("sparse", "dense mask"):
                name = f"{how} w={w}"
                key = how.replace(" ", "_")
                row[key] = {"step_ms": round(1e3 * median(times[name]), 2),
                            "time_ratio_to_full": round(median(times[name]) / full_t, 3),
                            "peak_mib": round(peaks[name] / 2**20, 2),
                            "memory_ratio_to_full": round(peaks[name] / max(full_m, 1), 3)}
            row["attention_matrix_mib"] = round(b * heads * length * min(2 * w + 1, length) * 4 / 2**20, 3)
            rows.append(row)
        out[label] = {"batch": b, "length": length, "frames_seconds": round(length / 100, 2),
                      "full": {"step_ms": round(1e3 * full_t, 2), "peak_mib": round(full_m / 2**20, 2),
                               "attention_matrix_mib": round(b * heads * length * length * 4 / 2**20, 3)},
                      "windows": rows, "sparse_vs_dense_max_abs_diff": max(diffs),
                      "times_s": {k: [round(t, 5) for t in v] for k, v in times.items()}}
        print(f"[{NAME}] {label} (L={length}): full {1e3 * full_t:.1f} ms/step", file=sys.stderr)
    return out


def run(out_dir: str | Path = f"runs/experiments/{NAME}", scale: str = "small", seed: int = 0, *,
        data_path: str | Path | None = None, threads: int = 1) -> dict:
    """Accuracy, time per step and peak memory of window sizes against full attention.

    ``scale``: ``tiny`` (tests), ``small`` (windows 1..64, 3 seeds) or ``full`` (1..128, 5
    seeds). ``data_path``: a folder with ``sample.wav`` and ``sample.rttm`` (default: the
    cached pyannote sample). Writes ``results.json`` and ``figure.png`` into ``out_dir``.
    """
    check_scale(scale, list(SCALES))
    clock = Stopwatch()
    s = SCALES[scale]
    windows = list(s["windows"])
    with torch_threads(threads):
        cost = _cost(scale, windows, seed, data_path)
        accuracy = _train_all(scale, [*windows, None], [seed + i for i in range(s["seeds"])], data_path)
        cfg = _config(scale, None, seed, Path("unused"), data_path)
        result = {
            "experiment": NAME,
            "claim": "each speech frame attending only to a window around it is faster and needs less memory "
                     "than full self-attention, and a modest window loses little accuracy",
            "setup": {"task": "diarization (pyannote sample, 30 s, 2 speakers; who speaks in each "
                              "10 ms frame)",
                      "overrides": ["diarization", *BASE_OVERRIDES, *s["extra"]],
                      "model": {k: cfg["model"][k] for k in ("width", "depth", "heads", "ff", "positional")},
                      "split": "by time: train on the first 70% of the chunks, test on the last 15%",
                      "windows": windows,
                      "window_meaning": "frame i attends to frames j with |i - j| <= window",
                      "seeds": [seed + i for i in range(s["seeds"])], "metrics": "test frame accuracy and F1 "
                      "over (frame, speaker) labels, best validation-F1 checkpoint",
                      "ways": {"sparse": "WindowPattern to the attention (selfattn.train's path); "
                                         "the dispatcher picks the kernel (kernel_choice)",
                               "dense_mask": "the window as an (L, L) bool mask to the dense kernel"},
                      "timing": f"one training step (forward, backward, AdamW), median of {s['reps']} "
                                "interleaved rounds; ratios to full attention from the same rounds",
                      "memory_method": "torch.profiler memory events: peak tensor bytes allocated during one "
                                       "training step above those live before it (not RSS, not tracemalloc)"},
            "accuracy": accuracy,
            "cost": cost,
        }
        result["run"] = run_record(NAME, out_dir, scale, seed, clock)
    return save_results(result, out_dir, _plot)


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    windows = result["setup"]["windows"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    rows = {str(r["window"]): r for r in result["accuracy"]}
    xs = list(range(len(windows) + 1))
    labels = [str(w) for w in windows] + ["full"]
    for metric, colour in (("test_acc", "tab:blue"), ("test_f1", "tab:green")):
        means = [sum(r[metric] for r in rows[k]["runs"]) / len(rows[k]["runs"]) for k in labels]
        ax.plot(xs, means, "o-", color=colour, label=metric.replace("test_", "test "))
        for x, k in zip(xs, labels, strict=True):
            dots = [r[metric] for r in rows[k]["runs"]]
            ax.plot([x] * len(dots), dots, ".", color=colour, alpha=0.5)
    ax.set_xticks(xs, labels)
    ax.set_xlabel("window W (frames each side, 10 ms each)")
    ax.set_ylabel("test score (seeds as dots)")
    ax.set_title("diarization accuracy")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    for ax, key, title in ((axes[1], "time_ratio_to_full", "time per training step / full"),
                           (axes[2], "memory_ratio_to_full", "peak step memory / full")):
        for label, style in (("train_batch", "--"), ("whole_recording", "-")):
            c = result["cost"][label]
            for how, colour in (("sparse", "tab:red"), ("dense_mask", "tab:gray")):
                ax.plot(windows, [r[how][key] for r in c["windows"]], "o" + style, color=colour,
                        label=f"{how.replace('_', ' ')}, {c['batch']} x {c['length']} frames")
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("window W")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(run(), indent=2))
