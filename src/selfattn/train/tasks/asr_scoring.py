"""Scoring transcripts of a CTC model with ``jiwer``: CER or PER, and WER, greedy and beam.

``score_transcripts`` decodes every set twice (best path, and prefix beam search of
``beam_size``), turns the symbol ids into text with the task's ``text`` function
(characters joined, or phonemes joined by spaces) and scores the corpus with ``jiwer``:
for characters ``jiwer.cer`` (edit operations over reference characters, spaces
included) and ``jiwer.wer`` on the words; for phonemes the PER is ``jiwer.wer`` of the
space-separated phoneme strings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ...data import SetDataset, collate

__all__ = ["error_rates", "score_transcripts"]


def error_rates(hypotheses: list[str], references: list[str], units: str) -> dict[str, float]:
    """``{"cer", "wer"}`` (characters) or ``{"per"}`` (phonemes) of a corpus, with jiwer."""
    import jiwer

    if units == "characters":
        # jiwer needs a non-empty reference; an empty hypothesis counts as all deletions
        return {"cer": round(float(jiwer.cer(references, hypotheses)), 5),
                "wer": round(float(jiwer.wer(references, hypotheses)), 5)}
    return {"per": round(float(jiwer.wer(references, hypotheses)), 5)}


@torch.no_grad()
def score_transcripts(model, sets: SetDataset, state: dict, text: Callable[[Any, dict], str],
                      beam_size: int = 4, batch_size: int = 16, examples: int = 3) -> dict[str, Any]:
    model.eval()
    refs, greedy, beam = [], [], []
    for start in range(0, len(sets), batch_size):
        chunk = sets.examples[start:start + batch_size]
        batch = collate(chunk, "padded", "sequence")
        greedy.extend(text(ids, state) for ids in model.transcribe(batch.x, batch.mask, 1))
        if beam_size > 1:
            beam.extend(text(ids, state) for ids in model.transcribe(batch.x, batch.mask, beam_size))
        refs.extend(text(e.y.tolist(), state) for e in chunk)
    units = state["units"]
    out: dict[str, Any] = {f"{k}_greedy": v for k, v in error_rates(greedy, refs, units).items()}
    if beam:
        out.update({f"{k}_beam{beam_size}": v for k, v in error_rates(beam, refs, units).items()})
    out["utterances"] = len(refs)
    out["examples"] = [{"set": e.source, "reference": r, "greedy": g, **({"beam": b} if beam else {})}
                       for e, r, g, b in zip(sets.examples[:examples], refs, greedy, beam or greedy,
                                             strict=False)]
    return out
