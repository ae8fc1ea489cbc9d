"""From a trained model to answers: labels for new sets, translations, BLEU.

``predict_sets`` batches sets (padded, in their own order) and turns the model's outputs
into one prediction per set: a label per vector (``(n,)`` class ids, or ``(n, k)`` 0/1
for several labels), one class id or value per set (regression outputs in the target's
own units), or a decoded target sequence (beam search) for sequence-to-sequence models.

BLEU is scored on words: the decoded ids and the test target ids both become lower-cased
word tokens (``output_words``: specials dropped, subword pieces joined into the words
they spell), joined by spaces, and ``sacrebleu.corpus_bleu(..., tokenize="none")`` counts
n-grams of those tokens (punctuation marks are tokens too). With word vocabularies a
rare target word is ``<unk>`` on both sides; with a subword vocabulary the references
are the Spanish verses' own words.
"""

from __future__ import annotations

from typing import Any

import torch

from ..data import collate
from ..data.translation import pieces_to_words

__all__ = ["bleu_score", "output_words", "predict_sets"]


@torch.no_grad()
def predict_sets(model: torch.nn.Module, spec: dict, sets: list, cfg: dict,
                 batch_size: int = 32) -> list[Any]:
    model.eval()
    out: list[Any] = []
    for start in range(0, len(sets), batch_size):
        chunk = sets[start:start + batch_size]
        batch = collate(chunk, "padded", "none")
        if spec["task"] == "seq2seq":
            seqs = model.generate(batch.x, batch.mask, beam_size=int(cfg["run"]["beam_size"]),
                                  max_len=int(spec.get("max_target_len", 128)))
            out.extend(seqs)
            continue
        if spec["task"] == "ctc":
            out.extend(model.transcribe(batch.x, batch.mask, beam_size=int(cfg["run"]["beam_size"])))
            continue
        y = model(batch.x, batch.mask, edge_index=batch.edge_index, grids=batch.grids)
        for b, example in enumerate(chunk):
            if spec["task"] == "vector":
                scores = y[b, : len(example)]
                out.append((scores > 0).long() if spec["target"] == "multilabel" else scores.argmax(-1))
            elif spec["target"] == "regression":
                out.append(float(model.denormalize(y[b]).reshape(-1)[0]))
            else:
                out.append(int(y[b].argmax(-1)))
    return out


def output_words(ids, state: dict, side: str = "target") -> list[str]:
    """Target (or ``side="source"``) ids ``(m,)`` -> lower-cased words: specials dropped and,
    when ``state["subwords"]`` holds a tokenizer, ``##`` pieces joined to the word before."""
    vocab, specials = state[f"{side}_words"], {*state.get("target_specials", []), "<pad>"}
    tokens = [t for t in (vocab[int(i)] for i in ids) if t not in specials]
    return pieces_to_words(tokens) if state.get("subwords") else tokens


def bleu_score(model: torch.nn.Module, data, cfg: dict, examples: int = 3) -> dict:
    """Corpus BLEU (``sacrebleu``) of beam-decoded test translations against the references,
    on lower-cased word tokens (module doc); ``examples`` (hypothesis, reference) pairs."""
    from sacrebleu.metrics import BLEU

    limit = cfg["run"].get("decode_limit")
    sets = data.test.examples[: int(limit)] if limit else data.test.examples
    hyps, refs = [], []
    for seq, example in zip(predict_sets(model, data.spec, sets, cfg), sets, strict=True):
        hyps.append(" ".join(output_words(seq, data.state)))
        refs.append(" ".join(output_words(example.y, data.state)))
    metric = BLEU(tokenize="none")
    bleu = metric.corpus_score(hyps, [refs])
    shown = [{"verse": e.source, "source": " ".join(output_words(e.x, data.state, "source")),
              "hypothesis": h, "reference": r}
             for e, h, r in zip(sets[:examples], hyps, refs, strict=False)]
    return {"test_bleu": round(bleu.score, 2), "bleu_sentences": len(hyps),
            "bleu_signature": str(metric.get_signature()),
            "bleu_example": shown[0] if shown else {"hypothesis": "", "reference": ""},
            "bleu_examples": shown}
