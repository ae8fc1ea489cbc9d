"""Self-attention versus RNNs (the lecture [38]): parallel versus step by step, near versus far.

Two claims, two measurements:

(a) **Speed.** An RNN computes ``h_t`` from ``h_{t-1}``: ``L`` dependent steps, each a small
    matrix product. Self-attention computes every output at once from a few large matrix
    products (``L^2`` work, but no chain). Measured: forward + backward wall time of one
    ``torch.nn.LSTM``, one ``torch.nn.GRU`` and one ``selfattn.nn.EncoderLayer`` (attention
    + feed-forward) of about the same number of parameters, for lengths 64..2048, timed
    round-robin in one process with one torch thread; the ratio RNN / attention per length.

(b) **Distance.** An RNN must carry the first vector through every step to relate it to the
    last; attention relates any two positions in one step. Task (``first_equals_last``):
    ``d + 1`` random tokens; is the first equal to the last? (Noise tokens come from the same
    vocabulary, so only positions tell which two tokens matter.) For each distance ``d`` a
    fresh LSTM and a fresh 2-layer self-attention model (sinusoidal positions) of about the
    same size train for the same number of steps on the same batches; accuracy on 1,000 new
    sequences per distance (chance = 0.5). A second pair trains the same number of steps on
    all distances mixed (short examples can teach what the long ones need).

Scales: ``small`` (CPU, a few minutes): lengths up to 2048; distances 4, 16, 64, 256 with
1,000 steps of 16; ``full``: up to 4096; distances to 512 with 2,000 steps of 32; ``tiny``:
tests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..bench.results import save_results
from ..bench.timing import interleaved, median
from ._pos import check_scale, record

__all__ = ["SCALES", "RecallModel", "first_equals_last", "run", "time_layers", "train_recall"]

SCALES: dict[str, dict] = {
    "tiny": {"lengths": [8, 16], "batch": 2, "width": 16, "heads": 2, "rounds": 2,
             "distances": [2, 4], "steps": 10, "train_batch": 8, "model_width": 16, "lstm_hidden": 24,
             "vocab": 8},
    "small": {"lengths": [64, 128, 256, 512, 1024, 2048], "batch": 8, "width": 128, "heads": 4, "rounds": 5,
              "distances": [4, 16, 64, 256], "steps": 1000, "train_batch": 16, "model_width": 64,
              "lstm_hidden": 96, "vocab": 8},
    "full": {"lengths": [64, 128, 256, 512, 1024, 2048, 4096], "batch": 8, "width": 128, "heads": 4,
             "rounds": 9, "distances": [4, 16, 64, 256, 512], "steps": 2000, "train_batch": 32,
             "model_width": 64, "lstm_hidden": 96, "vocab": 8},
}


# -- (a) timing ---------------------------------------------------------------------
def _contenders(width: int, heads: int) -> dict[str, nn.Module]:
    from ..nn import EncoderLayer

    return {"LSTM": nn.LSTM(width, width, batch_first=True),
            "GRU": nn.GRU(width, width, batch_first=True),
            "self-attention layer": EncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0)}


def _step(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def fn() -> None:
        y = model(x)
        (y[0] if isinstance(y, tuple) else y).sum().backward()  # an RNN returns (output, state)
    return fn


def time_layers(lengths: list[int], batch: int, width: int, heads: int, rounds: int = 5,
                warmup: int = 1) -> tuple[list[dict], dict[str, int]]:
    """Forward + backward seconds of each contender at each length, interleaved round-robin.

    Returns one row per (length, model): ``{"length", "model", "median_ms", "min_ms",
    "rounds"}``, and the parameter count of each model.
    """
    if rounds < 1:
        raise ValueError(f"rounds: expected at least 1, got {rounds}")
    models = _contenders(width, heads)
    params = {n: sum(p.numel() for p in m.parameters()) for n, m in models.items()}
    rows = []
    for length in lengths:
        x = torch.randn(batch, length, width, requires_grad=True)
        times = interleaved({n: _step(m, x) for n, m in models.items()}, rounds, warmup)
        for n, t in times.items():
            rows.append({"length": length, "model": n, "median_ms": 1e3 * median(t),
                         "min_ms": 1e3 * min(t), "rounds": len(t)})
    return rows, params


# -- (b) distance -------------------------------------------------------------------
def first_equals_last(n: int, distance: int, vocab: int,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences of ``distance + 1`` tokens in ``1..vocab`` and labels ``x[:, 0] == x[:, -1]``.

    The key is at position 0, the query at position ``distance``; half the labels are 1. Tokens
    in between are uniform noise from the same vocabulary. Returns ``x (n, distance + 1)``
    int64 and ``y (n,)`` int64 in {0, 1}.
    """
    if distance < 1:
        raise ValueError(f"distance: expected at least 1 (key and query apart), got {distance}")
    if vocab < 2:
        raise ValueError(f"vocab: expected at least 2 tokens (so first != last is possible), got {vocab}")
    key = torch.randint(1, vocab + 1, (n,), generator=generator)
    same = torch.rand(n, generator=generator) < 0.5
    shift = torch.randint(1, vocab, (n,), generator=generator)   # another token, uniformly
    query = torch.where(same, key, (key - 1 + shift) % vocab + 1)
    x = torch.randint(1, vocab + 1, (n, distance + 1), generator=generator)
    x[:, 0], x[:, distance] = key, query
    return x, same.long()


class RecallModel(nn.Module):
    """Token embedding -> encoder -> the last position's vector -> 2 scores.

    ``kind="lstm"``: one unidirectional LSTM (``selfattn.nn.baselines.RNNEncoder``) with
    ``hidden`` units; ``kind="attention"``: ``selfattn.nn.model.AttentionEncoder`` (2 layers,
    4 heads, sinusoidal positions). ``x (B, L)`` int -> ``(B, 2)``.
    """

    def __init__(self, kind: str, vocab: int, width: int, hidden: int | None = None) -> None:
        super().__init__()
        from ..nn.baselines import RNNEncoder
        from ..nn.model import AttentionEncoder

        if kind not in ("lstm", "attention"):
            raise ValueError(f"kind: expected 'lstm' or 'attention', got {kind!r}")
        self.embed = nn.Embedding(vocab + 1, width)
        if kind == "lstm":
            hidden = hidden or width
            self.encoder: nn.Module = RNNEncoder(width, hidden, "lstm", depth=1, bidirectional=False,
                                                 dropout=0.0)
        else:
            hidden = width
            self.encoder = AttentionEncoder(width, 2, max(1, min(4, width // 8)), ff=2 * width, dropout=0.0,
                                            positional="sinusoidal")
        self.out = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.encoder(self.embed(x))[:, -1])


def train_recall(kind: str, distances: list[int], *, steps: int, batch: int, width: int, vocab: int,
                 seed: int = 0, evaluate: int = 1000, hidden: int | None = None) -> list[dict]:
    """Train a fresh ``RecallModel`` for ``steps`` batches, cycling through ``distances`` (one
    distance: trained at that distance only); one result per distance, on ``evaluate`` new
    sequences each, with the accuracy after every quarter of the steps (``curve``)."""
    if not distances or min(distances) < 1:
        raise ValueError(f"distances: expected a non-empty list of distances >= 1, got {distances}")
    torch.manual_seed(seed)
    model = RecallModel(kind, vocab, width, hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = torch.Generator().manual_seed(seed)  # the same batches for every model
    tests = {d: first_equals_last(evaluate, d, vocab, torch.Generator().manual_seed(10_000 + seed + d))
             for d in distances}
    curves: dict[int, list[dict]] = {d: [] for d in distances}
    t0 = time.perf_counter()
    for s in range(1, steps + 1):
        x, y = first_equals_last(batch, distances[(s - 1) % len(distances)], vocab, data)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if s % max(1, steps // 4) == 0 or s == steps:
            for d, (xt, yt) in tests.items():
                if not curves[d] or curves[d][-1]["step"] != s:
                    curves[d].append({"step": s, "accuracy": _accuracy(model, xt, yt)})
    wall = round(time.perf_counter() - t0, 2)
    params = sum(p.numel() for p in model.parameters())
    return [{"model": kind, "trained_on": "each distance alone" if len(distances) == 1 else "all mixed",
             "distance": d, "accuracy": curves[d][-1]["accuracy"], "curve": curves[d], "steps": steps,
             "train_wall_s": wall, "parameters": params} for d in distances]


@torch.no_grad()
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    acc = float((model(x).argmax(-1) == y).float().mean())
    model.train()
    return acc


def run(out_dir: str | Path = "runs/experiments/rnn-vs-attention", scale: str = "small",
        seed: int = 0) -> dict:
    """Timing (a) and distance (b); writes ``results.json`` and ``figure.png``."""
    check_scale(scale, SCALES)
    s = SCALES[scale]
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        rows, params = time_layers(s["lengths"], s["batch"], s["width"], s["heads"], s["rounds"])
        attention = {r["length"]: r["median_ms"] for r in rows if r["model"] == "self-attention layer"}
        ratios = [{"length": r["length"], "model": r["model"], "ratio_to_attention": r["median_ms"]
                   / attention[r["length"]]} for r in rows if r["model"] != "self-attention layer"]
        hidden = s["lstm_hidden"]  # chosen so both recall models have about the same parameter count
        recall = []
        for trained_on in [[d] for d in s["distances"]] + [s["distances"]]:
            for kind in ("lstm", "attention"):
                recall += train_recall(kind, trained_on, steps=s["steps"], batch=s["train_batch"],
                                       width=s["model_width"], vocab=s["vocab"], seed=seed,
                                       hidden=hidden if kind == "lstm" else None)
        result = {
            "experiment": "rnn-vs-attention",
            "claim": "self-attention relates any two positions in one step and runs in parallel; an RNN "
                     "carries information step by step",
            **record("rnn-vs-attention", out, scale, seed, started),
            "timing": {"batch": s["batch"], "width": s["width"], "heads": s["heads"], "rounds": s["rounds"],
                       "what": "median forward+backward wall time, contenders interleaved, 1 torch thread",
                       "parameters": params, "rows": rows, "ratios": ratios},
            "recall": {"task": "first_equals_last", "distances": s["distances"], "steps": s["steps"],
                       "batch": s["train_batch"], "vocab": s["vocab"], "width": s["model_width"],
                       "lstm_hidden": hidden, "chance": 0.5, "rows": recall},
        }
    finally:
        torch.set_num_threads(threads)
    result["wall_s"] = round(time.perf_counter() - started, 1)
    return save_results(result, out, _plot)


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.6))
    t = result["timing"]
    for name in t["parameters"]:
        pts = [(r["length"], r["median_ms"]) for r in t["rows"] if r["model"] == name]
        ax.loglog(*zip(*pts, strict=True), "o-", label=f"{name} ({t['parameters'][name] / 1e3:.0f}k params)")
    ax.set_xlabel("sequence length L")
    ax.set_ylabel("forward + backward (ms, median)")
    ax.set_title(f"(a) one layer, width {t['width']}, batch {t['batch']}, 1 thread", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    r = result["recall"]
    for kind, label, color in (("lstm", "LSTM", "C0"), ("attention", "self-attention (2 layers)", "C1")):
        for trained_on, style in (("each distance alone", "o-"), ("all mixed", "s--")):
            pts = [(row["distance"], row["accuracy"]) for row in r["rows"]
                   if row["model"] == kind and row["trained_on"] == trained_on]
            ax2.semilogx(*zip(*pts, strict=True), style, color=color, base=2,
                         label=f"{label}, trained on {trained_on}")
    ax2.set_xticks(r["distances"], [str(d) for d in r["distances"]])
    ax2.minorticks_off()
    ax2.axhline(r["chance"], color="grey", ls="--", label="chance")
    ax2.set_ylim(0.4, 1.03)
    ax2.set_xlabel("distance between the two tokens that must be compared")
    ax2.set_ylabel("test accuracy")
    ax2.set_title(f"(b) 'first token == last token?', {r['steps']} steps of {r['batch']} per model",
                  fontsize=10)
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(run(), indent=2))
