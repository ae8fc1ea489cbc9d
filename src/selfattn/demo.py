"""A one-minute demo: self-attention labels each vector of a set by looking at the others.

Task (generated, seeded): a set of 8..24 tokens drawn from a 24-word vocabulary; each
token is labelled 1 if the same word occurs elsewhere in the set, else 0. A per-vector
network cannot solve it (the label depends on the other vectors); one self-attention layer
can, by attending from each token to its copies. This is sequence labeling (N vectors in,
N labels out) on sets of changing length, the lecture's first task kind.

The demo trains a 2-layer encoder on padded batches, reports token accuracy on held-out
sets next to the best a per-vector model can do (always predict the majority label for
each word), and saves a heat map of one example's attention.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from .nn import Encoder, EncoderLayer
from .varlen import lengths_to_mask
from .viz.html import attention_html

__all__ = ["DemoConfig", "make_duplicate_sets", "run_demo"]


@dataclass
class DemoConfig:
    steps: int = 600
    batch_size: int = 64
    vocab: int = 24
    min_len: int = 8
    max_len: int = 24
    d_model: int = 64
    heads: int = 4
    layers: int = 2
    lr: float = 3e-3
    seed: int = 0
    out: str = "runs/demo"


def make_duplicate_sets(n: int, cfg: DemoConfig, generator: torch.Generator):
    """``n`` padded sets: tokens ``(n, max_len)``, labels ``(n, max_len)`` (-100 = padding),
    lengths ``(n,)``."""
    lengths = torch.randint(cfg.min_len, cfg.max_len + 1, (n,), generator=generator)
    tokens = torch.randint(0, cfg.vocab, (n, cfg.max_len), generator=generator)
    mask = lengths_to_mask(lengths, cfg.max_len)
    same = (tokens[:, :, None] == tokens[:, None, :]) & mask[:, None, :] & mask[:, :, None]
    labels = (same.sum(-1) > 1).long().masked_fill(~mask, -100)
    return tokens.masked_fill(~mask, 0), labels, lengths


class DemoTagger(nn.Module):
    """Embedding -> self-attention encoder (no positions: the task is about a set) -> labels."""

    def __init__(self, cfg: DemoConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(cfg.vocab, cfg.d_model)
        self.encoder = Encoder(EncoderLayer(cfg.d_model, cfg.heads, dropout=0.0), cfg.layers)
        self.head = nn.Linear(cfg.d_model, 2)

    def forward(self, tokens, lengths, return_weights: bool = False):
        res = self.encoder(self.embed(tokens), key_lengths=lengths, return_weights=return_weights)
        h, w = res if return_weights else (res, None)
        return (self.head(h), w) if return_weights else self.head(h)


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    keep = labels != -100
    return (logits.argmax(-1)[keep] == labels[keep]).float().mean().item()


def _per_word_baseline(tokens, labels) -> float:
    """Best accuracy of any per-vector model: predict each word's majority label."""
    keep = labels != -100
    t, y = tokens[keep], labels[keep]
    correct = 0
    for word in t.unique():
        ys = y[t == word]
        correct += max(int((ys == 1).sum()), int((ys == 0).sum()))
    return correct / max(len(y), 1)


LABELS = ("unique", "repeated")  # the demo's two labels: 1 = the word occurs elsewhere in the set


def save_attention_heatmap(weights: list[torch.Tensor], tokens: list[int], labels: list[int],
                           path: Path, predicted: list[int] | None = None):
    """Heat maps of every layer (rows) and head (columns), ``weights[layer] (H, L, L)``, with
    the model's label of each token beside it (red where it is wrong) and the set as title;
    returns the Figure."""
    from .viz.maps import attention_heatmaps

    names = [f"w{t}" for t in tokens]
    title = f"selfattn demo, duplicate-token tagging: {' '.join(names)}"
    return attention_heatmaps(weights, names, title=title,
                              predicted=None if predicted is None else [LABELS[int(y)] for y in predicted],
                              truth=[LABELS[int(y)] for y in labels], path=path)


def run_demo(cfg: DemoConfig, progress: bool = True) -> dict:
    """Train, evaluate, save ``metrics.json`` and ``attention.png`` under ``cfg.out``."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = DemoTagger(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps)
    test_tokens, test_labels, test_lengths = make_duplicate_sets(2000, cfg, gen)
    start = time.perf_counter()
    # a bar only on a terminal; into a file or pipe, a line every tenth of the run instead
    bar = tqdm(range(cfg.steps), desc="train", disable=not progress or not sys.stderr.isatty())
    every = max(1, cfg.steps // 10)
    for step in bar:
        tokens, labels, lengths = make_duplicate_sets(cfg.batch_size, cfg, gen)
        logits = model(tokens, lengths)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if progress and bar.disable and ((step + 1) % every == 0 or step + 1 == cfg.steps):
            print(f"step {step + 1}/{cfg.steps}: loss {loss.item():.3f}", flush=True)
    model.eval()
    with torch.no_grad():
        logits, weights = model(test_tokens, test_lengths, return_weights=True)
    metrics = {
        "task": "duplicate-token tagging (generated)",
        "token_accuracy": _accuracy(logits, test_labels),
        "per_vector_baseline_accuracy": _per_word_baseline(test_tokens, test_labels),
        "train_seconds": round(time.perf_counter() - start, 1),
        "config": asdict(cfg),
    }
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    n = int(test_lengths[0])
    example = [w[0, :, :n, :n] for w in weights]
    words, truth = test_tokens[0, :n].tolist(), test_labels[0, :n].tolist()
    predicted = logits[0, :n].argmax(-1).tolist()
    save_attention_heatmap(example, words, truth, out / "attention.png", predicted)
    attention_html(example, [f"w{t}" for t in words], title="selfattn demo: duplicate-token tagging",
                   subtitle="a token is 'repeated' if the same word occurs elsewhere in the set",
                   predicted=[LABELS[y] for y in predicted], truth=[LABELS[y] for y in truth],
                   path=out / "attention.html")
    metrics["attention_png"] = str(out / "attention.png")
    metrics["attention_html"] = str(out / "attention.html")
    return metrics
