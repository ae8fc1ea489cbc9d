"""From a trained model to answers: labels for new sets, translations, BLEU.

``predict_sets`` batches sets (padded, in their own order) and turns the model's outputs
into one prediction per set: a label per vector (``(n,)`` class ids, or ``(n, k)`` 0/1
for several labels), one class id or value per set (regression outputs in the target's
own units), or a decoded target sequence (beam search) for sequence-to-sequence models.
"""

from __future__ import annotations

from typing import Any

import torch

from ..data import collate

__all__ = ["bleu_score", "predict_sets"]


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


def bleu_score(model: torch.nn.Module, data, cfg: dict) -> dict:
    """Corpus BLEU (``sacrebleu``) of beam-decoded test translations against the references."""
    import sacrebleu

    limit = cfg["run"].get("decode_limit")
    sets = data.test.examples[: int(limit)] if limit else data.test.examples
    vocab = data.state["target_words"]
    specials = set(data.state.get("target_specials", []))
    hyps, refs = [], []
    for seq, example in zip(predict_sets(model, data.spec, sets, cfg), sets, strict=True):
        hyps.append(" ".join(t for t in (vocab[i] for i in seq) if t not in specials))
        refs.append(" ".join(t for t in (vocab[int(i)] for i in example.y) if t not in specials))
    bleu = sacrebleu.corpus_bleu(hyps, [refs], tokenize="none")
    return {"test_bleu": round(bleu.score, 2), "bleu_sentences": len(hyps),
            "bleu_example": {"hypothesis": hyps[0] if hyps else "", "reference": refs[0] if refs else ""}}
