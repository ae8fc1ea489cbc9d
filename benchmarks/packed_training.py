"""Packed vs padded training steps of the from-scratch encoder, per task preset.

For every preset whose model can pack (``trainer.packed``: a ``transformer`` SetModel), the
preset's own data is built (the cached real data set), its training loader draws batches
as training does (length-bucketed, seed 0, the preset's batch size or token budget), and
one training step (forward, the task's loss, backward, AdamW step, dropout on) is timed on
the same ``--batches`` batches with the same starting weights in two ways:

* ``padded`` (the anchor): ``SetModel(packed=False)``, every layer on ``(B, L, d)``;
* ``packed``: ``SetModel(packed=True)``, padding removed once after the embeddings, every
  layer on the ``(N, d)`` real vectors (``AttentionEncoder.forward_packed``).

Both are timed in the same interleaved rounds (``_timing.interleaved``: one untimed warm-up
round, then padded, packed, padded, packed, ...); a round is one pass over the batches.
``speedup`` is the median over rounds of (padded time / packed time) in the same round.
``real_fraction`` = real vectors / padded slots of those batches (``[CLS]`` included).

Run: ``python benchmarks/packed_training.py`` (1 torch thread; ``--presets`` for some).
Writes ``benchmarks/results/packed_training.json`` and ``packed_training.png``; with
``--presets`` the other presets' results already in the JSON are kept.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time

import torch

from _timing import RESULTS, interleaved, machine, save, summarize
from selfattn.train.config import ConfigError, resolve_config
from selfattn.train.loading import build_task_model
from selfattn.train.module import TaskModule
from selfattn.train.tasks import get_task
from selfattn.train.tasks.presets import PRESETS
from selfattn.train.trainer import set_datamodule

# the task presets of a transformer SetModel (sentiment-minilm's pretrained encoder packs inside
# itself; translate/asr/detr/sagan/image-conv build models of their own)
DEFAULT_PRESETS = ("pos", "pos-oanc", "sentiment", "sentiment-glove", "speaker", "diarization",
                   "molecule-bbb", "solubility", "freesolv", "polblogs", "fashion-mnist", "phonemes")
THRESHOLD = 1.05  # packed_default is set where the median speedup is at least this


def batches_of(preset: str, count: int):
    """``(cfg, task, spec, model, batches)``: the preset's model (initialised from the data as
    training does) and its first ``count`` training batches (seed 0, epoch 0)."""
    cfg = resolve_config(preset, overrides=["trainer.num_threads=1", "trainer.packed=false"])
    task = get_task(cfg["task"])
    data = task.build(cfg)
    model = build_task_model(cfg, data.spec)
    task.init_model(model, data, cfg)
    loader = set_datamodule(cfg, task, data, training=True).train_dataloader()
    batches = []
    for batch in loader:
        batches.append(batch)
        if len(batches) == count:
            break
    return cfg, task, data.spec, model, batches


def step_fn(model, spec, cfg, batches):
    """One pass of training steps over ``batches`` (forward, loss, backward, AdamW)."""
    module = TaskModule(model, spec, cfg["optim"]).train()
    opt = torch.optim.AdamW(model.parameters(), lr=float(cfg["optim"]["lr"]), betas=(0.9, 0.98))

    def run():
        for batch in batches:
            loss = module.step_loss(batch)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
    return run


def real_fraction(model, batches) -> float:
    cls = int(getattr(model, "cls", None) is not None)
    real = sum(int(b.mask.sum()) + cls * b.mask.shape[0] for b in batches)
    slots = sum(b.mask.shape[0] * (b.mask.shape[1] + cls) for b in batches)
    return real / slots


def measure(preset: str, count: int, rounds: int, budget: float) -> dict:
    started = time.perf_counter()
    cfg, _task, spec, model, batches = batches_of(preset, count)
    built = time.perf_counter() - started
    packed = copy.deepcopy(model)
    packed.packed = True
    contenders = {"padded": step_fn(model, spec, cfg, batches), "packed": step_fn(packed, spec, cfg, batches)}
    times = interleaved(contenders, rounds, warmup=1, budget_s=budget)
    ratios = [a / b for a, b in zip(times["padded"], times["packed"], strict=True)]
    m = cfg["model"]
    return {"task": cfg["task"], "model": {k: m.get(k) for k in ("width", "depth", "heads", "ff", "pattern",
                                                                  "window", "positional", "pooling")},
            "batch_size": cfg["trainer"]["batch_size"], "max_tokens": cfg["trainer"]["max_tokens"],
            "batches": len(batches), "sets": sum(len(b) for b in batches),
            "mean_padded_length": statistics.mean(b.mask.shape[1] for b in batches),
            "real_fraction": round(real_fraction(model, batches), 4),
            "times_per_pass": summarize(times), "speedup": statistics.median(ratios),
            "speedup_per_round": ratios, "data_build_s": round(built, 1),
            "load_average_1min": os.getloadavg()[0]}


def plot(results: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["presets"])
    speed = [results["presets"][n]["speedup"] for n in names]
    real = [results["presets"][n]["real_fraction"] for n in names]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    colors = ["tab:green" if s >= THRESHOLD else "tab:gray" for s in speed]
    ax.bar(range(len(names)), speed, color=colors)
    ax.axhline(1.0, color="black", lw=0.8)
    ax.axhline(THRESHOLD, color="tab:red", lw=0.8, ls="--", label=f"{THRESHOLD}x: packed by default")
    for i, (s, r) in enumerate(zip(speed, real, strict=True)):
        ax.text(i, s + 0.02, f"{s:.2f}x\n{r:.0%} real", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("training step speedup, padded / packed")
    ax.set_ylim(0, max([*speed, THRESHOLD]) * 1.25)
    ax.set_title("Packed vs padded training steps per preset (1 thread, median of interleaved rounds; "
                 "machine shared)", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="*", choices=sorted(PRESETS), default=None,
                        help=f"presets to time (default: {' '.join(DEFAULT_PRESETS)})")
    parser.add_argument("--batches", type=int, default=8, help="training batches per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per preset before stopping early")
    args = parser.parse_args()
    torch.set_num_threads(1)
    previous = RESULTS / "packed_training.json"
    results = {"machine": machine(), "threads": 1, "anchor": "padded",
               "note": "measured while the machine was shared by other jobs (2 cores): ratios, not times",
               "threshold": THRESHOLD, "presets": {}}
    if args.presets and previous.is_file():
        results["presets"] = json.loads(previous.read_text())["presets"]
    for preset in args.presets or DEFAULT_PRESETS:
        try:
            res = measure(preset, args.batches, args.rounds, args.budget)
        except ConfigError as error:  # a preset whose model cannot pack: say why, time nothing
            results["presets"].pop(preset, None)
            print(f"{preset}: skipped ({error})")
            continue
        results["presets"][preset] = res
        t = res["times_per_pass"]
        print(f"{preset:16s} packed x{res['speedup']:.2f} (padded {t['padded']['median_s'] * 1e3:.0f} ms, "
              f"packed {t['packed']['median_s'] * 1e3:.0f} ms per {res['batches']} steps, "
              f"{res['real_fraction']:.0%} real, {t['packed']['rounds']} rounds, load "
              f"{res['load_average_1min']:.1f})", flush=True)
    path = save("packed_training", results)
    plot(results, RESULTS / "packed_training.png")
    print(f"wrote {path} and packed_training.png")


if __name__ == "__main__":
    main()
