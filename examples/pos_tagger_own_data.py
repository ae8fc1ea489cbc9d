"""Train a part-of-speech tagger on your own tagged text, then tag raw sentences.

Your file: UTF-8, one sentence per line, tokens ``word/TAG`` (split on the last ``/``):

    The/DT dog/NN barks/VBZ ./.

    python examples/pos_tagger_own_data.py --data my_tagged.txt
    python examples/pos_tagger_own_data.py                # a generated stand-in corpus

The ``pos`` preset (window self-attention, rotary positions) reads it through
``data.path`` and splits it 80/10/10 with a seed; the run directory is cited like any
``selfattn train`` run. The raw sentences at the end go through the Penn Treebank
tokenizer (``dog.`` -> ``dog`` ``.``), as ``selfattn predict`` does. ``--size tiny`` (or
``SELFATTN_EXAMPLE_SIZE=tiny``) trains a one-layer model without the preset's GloVe field for
a few epochs, in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path

import selfattn
from selfattn.train import resolve_config, train

SIZES = {
    # tiny: no GloVe field (the full preset adds frozen GloVe vectors, a 76 MB fetch on first use)
    "tiny": ["data.glove=0", "model.width=32", "model.depth=1", "model.heads=2", "model.ff=64",
             "trainer.max_epochs=5", "trainer.patience=5", "optim.lr=0.01", "optim.warmup_steps=5"],
    "full": [],   # the preset as it is
}


def stand_in_corpus(path: Path, sentences: int, seed: int = 0) -> Path:
    """A generated corpus in the ``word/TAG`` format (replace it with your own file)."""
    rng = random.Random(seed)
    det, adj = ["the", "a", "every", "this"], ["red", "big", "old", "quiet", "small"]
    noun = ["dog", "cat", "house", "river", "book", "saw", "film"]
    verb = ["sees", "likes", "finds", "opens", "cuts"]
    lines = []
    for _ in range(sentences):
        words = [(rng.choice(det), "DT")] + [(rng.choice(adj), "JJ")] * rng.randint(0, 1)
        words += [(rng.choice(noun), "NN"), (rng.choice(verb), "VBZ"), (rng.choice(det), "DT"),
                  (rng.choice(noun), "NN"), (".", ".")]
        lines.append(" ".join(f"{w}/{t}" for w, t in words))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="your word/TAG file (default: a generated stand-in)")
    parser.add_argument("--out", type=Path, default=Path("runs/example-pos"), help="a new folder for the run")
    parser.add_argument("--size", choices=sorted(SIZES),
                        default=os.environ.get("SELFATTN_EXAMPLE_SIZE", "full"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("sentences", nargs="*", help="raw sentences to tag after training",
                        default=["The old dog sees a book.", "Every cat likes this river."])
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    data = args.data or stand_in_corpus(args.out / "stand_in.txt", 200 if args.size == "tiny" else 2000)
    cfg = resolve_config("pos", overrides=[
        f"data.path={data}", f"seed={args.seed}", f"run.dir={args.out / 'run'}", "trainer.num_threads=1",
        *SIZES[args.size]])
    results = train(cfg, log=lambda line: None)   # quiet; the run directory keeps train.log
    print(f"test token accuracy {results['test_acc']:.4f} ({results['epochs']} epochs, "
          f"{results['wall_s']:.1f} s)")

    run = selfattn.load_run(args.out / "run")
    tagged = []
    for p in run.predict(args.sentences, top_k=2):
        words = p.input if isinstance(p.input, list) else str(p.input).split()
        pairs = list(zip(words, p.labels, p.score, strict=True))
        tagged.append([[w, t, round(s, 3)] for w, t, s in pairs])
        print(" ".join(f"{w}/{t}" for w, t, _ in pairs))
    summary = {"test_acc": results["test_acc"], "run": str(args.out / "run"), "tagged": tagged}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
