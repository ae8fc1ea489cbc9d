"""Swap the attention of one model by name: full softmax attention and the efficient variants.

    python examples/swap_attention_variants.py
    python examples/swap_attention_variants.py --variants full performer nystrom --steps 400

Every variant in ``selfattn.nn.variants`` has the call signature of full attention, so
``EncoderLayer(..., attention=NAME)`` is the only line that changes. The task is the
demo's (``selfattn demo``): sets of 8..24 tokens from 24 words; a token is labelled 1 if
its word occurs elsewhere in the set. No per-vector model can beat the per-word majority
(printed as the ceiling); attention solves it by looking from each token at its copies,
which is exactly the kind of sharp, content-based match the approximations may blur.
Printed per variant: held-out token accuracy and the time of one training step. Every
name of ``selfattn.nn.variants`` is accepted by ``--variants`` (default: the five that take
milliseconds a step here; ``nystrom``, ``reformer`` and ``sinkhorn`` are slower at this size).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
from torch import nn

from selfattn.demo import DemoConfig, make_duplicate_sets
from selfattn.nn import Encoder, EncoderLayer
from selfattn.nn.variants import attention_names, needs_max_len

# the variants that take milliseconds a step at this size by default; one attention layer of
# nystrom, reformer or sinkhorn takes 0.3-1.6 s forward+backward at batch 64, L = 24 on one CPU
# thread (measured), so name them with --variants
FAST = ["full", "linear", "performer", "linformer", "synthesizer_dense"]
SIZES = {"tiny": {"steps": 30, "test": 200, "batch": 32, "variants": FAST},
         "full": {"steps": 600, "test": 2000, "batch": 64, "variants": FAST}}


class Tagger(nn.Module):
    """tokens ``(B, L)`` -> embedding -> 2 attention layers of the named kind -> ``(B, L, 2)``."""

    def __init__(self, attention: str, cfg: DemoConfig):
        super().__init__()
        options = {"max_len": cfg.max_len} if needs_max_len(attention) else {}
        self.embed = nn.Embedding(cfg.vocab, cfg.d_model)
        layer = EncoderLayer(cfg.d_model, cfg.heads, dropout=0.0, attention=attention, **options)
        self.encoder = Encoder(layer, cfg.layers)
        self.head = nn.Linear(cfg.d_model, 2)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(tokens), key_lengths=lengths))


def per_word_ceiling(tokens: torch.Tensor, labels: torch.Tensor) -> float:
    """The best accuracy of any per-vector model: each word's majority label."""
    keep = labels != -100
    t, y = tokens[keep], labels[keep]
    best = sum(max(int((y[t == w] == 1).sum()), int((y[t == w] == 0).sum())) for w in t.unique())
    return best / max(len(y), 1)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", choices=attention_names(), metavar="NAME",
                        help="attention names (default: by --size)")
    parser.add_argument("--size", choices=sorted(SIZES),
                        default=os.environ.get("SELFATTN_EXAMPLE_SIZE", "full"))
    parser.add_argument("--steps", type=int, help="training steps (default: by --size)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    steps = args.steps or size["steps"]
    cfg = DemoConfig(steps=steps, seed=args.seed, batch_size=size["batch"])
    test_tokens, test_labels, test_lengths = make_duplicate_sets(
        size["test"], cfg, torch.Generator().manual_seed(10_000 + args.seed))
    ceiling = per_word_ceiling(test_tokens, test_labels)

    rows = []
    for name in args.variants or size["variants"]:
        torch.manual_seed(args.seed)
        batches = torch.Generator().manual_seed(args.seed)   # the same training sets for every variant
        model = Tagger(name, cfg)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
        first = last = None
        start = time.perf_counter()
        for _ in range(steps):
            tokens, labels, lengths = make_duplicate_sets(cfg.batch_size, cfg, batches)
            loss = nn.functional.cross_entropy(model(tokens, lengths).flatten(0, 1), labels.flatten(),
                                               ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            opt.step()
            last = loss.item()
            first = last if first is None else first
        step_ms = 1000 * (time.perf_counter() - start) / steps
        model.eval()
        with torch.no_grad():
            predicted = model(test_tokens, test_lengths).argmax(-1)
        keep = test_labels != -100
        accuracy = float((predicted[keep] == test_labels[keep]).float().mean())
        rows.append({"attention": name, "accuracy": round(accuracy, 4), "step_ms": round(step_ms, 2),
                     "first_loss": round(first, 4), "last_loss": round(last, 4)})
        print(f"{name:>18}: token accuracy {accuracy:.3f}, {step_ms:6.1f} ms a step, "
              f"loss {first:.3f} -> {last:.3f}")
    print(f"{'per-vector ceiling':>18}: {ceiling:.3f} (each word's majority label; {steps} steps, "
          f"{torch.get_num_threads()} threads)")
    summary = {"steps": steps, "per_vector_ceiling": round(ceiling, 4), "variants": rows}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
