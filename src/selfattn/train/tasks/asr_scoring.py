"""Scoring transcripts of a CTC model with ``jiwer``: CER or PER, and WER, greedy and beam.

``score_transcripts`` decodes every set twice (best path, and prefix beam search of
``beam_size``), turns the symbol ids into text with the task's ``text`` function
(characters joined, or phonemes joined by spaces) and scores the corpus with ``jiwer``:
for characters ``jiwer.cer`` (edit operations over reference characters, spaces
included) and ``jiwer.wer`` on the words; for phonemes the PER is ``jiwer.wer`` of the
space-separated phoneme strings.

Shallow fusion with a character n-gram (:mod:`selfattn.nn.char_lm`, CTC models only):
:func:`tune_fusion` picks the LM weight and length bonus with the lowest error rate on the
validation split over a small grid (each set's posteriors computed once), and
``score_transcripts(fusion=...)`` adds the fused beam's error rates (``*_beam<N>_lm``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ...data import SetDataset, collate

__all__ = ["FUSION_BONUSES", "FUSION_WEIGHTS", "ctc_posteriors", "error_rates", "score_transcripts",
           "tune_fusion"]

FUSION_WEIGHTS = (0.5, 0.75, 1.0)  # LM weights tried on the validation split (0: the plain beam)
FUSION_BONUSES = (1.0, 2.0, 3.0)  # length bonuses (per symbol) tried with each


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
                      beam_size: int = 4, batch_size: int = 16, examples: int = 3,
                      fusion: dict[str, Any] | None = None) -> dict[str, Any]:
    """Greedy and beam error rates of ``sets``; with ``fusion`` (``lm``, ``lm_weight``,
    ``length_bonus``) also the beam fused with the language model (``*_beam<N>_lm``)."""
    model.eval()
    refs, greedy, beam, fused = [], [], [], []
    for start in range(0, len(sets), batch_size):
        chunk = sets.examples[start:start + batch_size]
        batch = collate(chunk, "padded", "sequence")
        greedy.extend(text(ids, state) for ids in model.transcribe(batch.x, batch.mask, 1))
        if beam_size > 1:
            beam.extend(text(ids, state) for ids in model.transcribe(batch.x, batch.mask, beam_size))
        if fusion is not None:
            fused.extend(text(ids, state)
                         for ids in model.transcribe(batch.x, batch.mask, beam_size, **fusion))
        refs.extend(text(e.y.tolist(), state) for e in chunk)
    units = state["units"]
    out: dict[str, Any] = {f"{k}_greedy": v for k, v in error_rates(greedy, refs, units).items()}
    if beam:
        out.update({f"{k}_beam{beam_size}": v for k, v in error_rates(beam, refs, units).items()})
    if fused:
        out.update({f"{k}_beam{beam_size}_lm": v for k, v in error_rates(fused, refs, units).items()})
    out["utterances"] = len(refs)
    out["examples"] = [{"set": e.source, "reference": r, "greedy": g, **({"beam": b} if beam else {}),
                        **({"beam_lm": f} if fused else {})}
                       for e, r, g, b, f in zip(sets.examples[:examples], refs, greedy, beam or greedy,
                                                fused or greedy, strict=False)]
    return out


@torch.no_grad()
def ctc_posteriors(model, sets: SetDataset, batch_size: int = 16) -> list[torch.Tensor]:
    """Each set's ``(T', symbols + 1)`` CTC log-probabilities (its real frames only)."""
    model.eval()
    out = []
    for start in range(0, len(sets), batch_size):
        batch = collate(sets.examples[start:start + batch_size], "padded", "sequence")
        log_probs = model(batch.x, batch.mask)
        out.extend(log_probs[b, : int(n)] for b, n in enumerate(model.output_lengths(batch.mask).tolist()))
    return out


def tune_fusion(model, sets: SetDataset, state: dict, text: Callable[[Any, dict], str], lm,
                beam_size: int, weights=FUSION_WEIGHTS, bonuses=FUSION_BONUSES) -> dict[str, Any]:
    """The LM weight and length bonus with the lowest error rate (CER, or PER) on ``sets``
    (the validation split) among ``weights x bonuses`` and the plain beam (weight 0, bonus
    0; kept on ties): ``{"lm_weight", "length_bonus", "error", "plain_error", "grid"}``."""
    from ...nn.ctc import beam_decode

    posteriors = ctc_posteriors(model, sets)
    refs = [text(e.y.tolist(), state) for e in sets.examples]
    metric = "cer" if state["units"] == "characters" else "per"

    def error(weight: float, bonus: float) -> float:
        hyps = [text(beam_decode(lp, beam_size, lm=lm, lm_weight=weight, length_bonus=bonus), state)
                for lp in posteriors]
        return error_rates(hyps, refs, state["units"])[metric]

    plain = error(0.0, 0.0)
    grid = [{"lm_weight": 0.0, "length_bonus": 0.0, "error": plain}]
    grid += [{"lm_weight": w, "length_bonus": b, "error": error(w, b)} for w in weights for b in bonuses]
    best = min(grid, key=lambda row: row["error"])  # the first of equals: the plain beam wins ties
    return {**best, "plain_error": plain, "grid": grid}
