"""Speech to text with CTC: frames -> convolutional subsampling x4 -> attention -> symbols.

The lecture's speech recognition row [8] as sequence to sequence *without* a decoder:
the encoder gives one score vector per (subsampled) frame over the symbols plus a
*blank*, and Connectionist Temporal Classification (Graves et al., 2006) sums the
probability of every frame-level path that reads as the target once repeats are merged
and blanks dropped (``torch.nn.CTCLoss``). Speech makes ``L`` large [32]: two stride-2
convolutions over time cut 100 frames a second to 25, and the encoder's truncated
(window) attention costs O(L * w).

* :class:`ConvSubsampling`: ``(B, T, F)`` standardised features -> ``(B, ceil(T / 4), d)``
  (two ``Conv1d(kernel 3, stride 2, padding 1)`` + GELU); padded frames are zeroed before
  each convolution, so a set's output does not depend on the batch it is in.
* :class:`CTCModel`: subsampling -> :class:`~selfattn.nn.model.AttentionEncoder` (any
  attention variant, positional scheme, ``pattern="window"``) -> linear -> log-probs
  ``(B, T', V + 1)``, blank = id 0.
* :func:`greedy_decode` (best path: argmax per frame, merge repeats, drop blanks) and
  :func:`beam_decode` (CTC prefix beam search, Hannun et al. 2014: each prefix keeps the
  probability of its paths ending in blank and in non-blank; optionally fused with a
  character n-gram, :mod:`selfattn.nn.char_lm`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .model import AttentionEncoder, pattern_object

__all__ = ["BLANK", "CTCModel", "ConvSubsampling", "as_symbol_string", "beam_decode", "build_ctc_model",
           "ctc_model_options", "ctc_step", "greedy_decode", "sequence_log_prob", "subsampled_lengths"]

BLANK = 0


def subsampled_lengths(lengths: torch.Tensor, times: int = 2) -> torch.Tensor:
    """Frames after ``times`` stride-2 convolutions with padding 1: ``ceil(n / 2)`` each time."""
    for _ in range(times):
        lengths = torch.div(lengths + 1, 2, rounding_mode="floor")
    return lengths


class ConvSubsampling(nn.Module):
    """``(B, T, F)`` features -> ``(B, ceil(T / 4), d)``; ``mean``/``std`` standardise the input
    (set from the training data, saved with the weights)."""

    def __init__(self, features: int, dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))
        self.convs = nn.ModuleList([nn.Conv1d(features, dim, 3, stride=2, padding=1),
                                    nn.Conv1d(dim, dim, 3, stride=2, padding=1)])
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, T, F)``, ``mask (B, T)`` -> ``(h (B, T', d), mask (B, T'))``."""
        if x.dim() != 3 or x.shape[-1] != self.mean.shape[0]:
            raise ValueError(f"x: expected (batch, frames, {self.mean.shape[0]}) features, "
                             f"got {tuple(x.shape)}")
        h = ((x - self.mean) / self.std).transpose(1, 2)
        lengths = mask.sum(1)
        for conv in self.convs:
            h = h * mask[:, None, :].to(h.dtype)
            h = F.gelu(conv(h))
            lengths = subsampled_lengths(lengths, 1)
            mask = torch.arange(h.shape[-1], device=h.device)[None, :] < lengths[:, None]
        return self.drop(h.transpose(1, 2)), mask


class CTCModel(nn.Module):
    """Subsampling -> attention encoder -> ``(B, T', symbols + 1)`` log-probabilities (module doc)."""

    def __init__(self, features: int, symbols: int, width: int, depth: int, heads: int, *, ff: int = 0,
                 dropout: float = 0.1, norm: str = "pre", attention: str = "full",
                 attention_options: dict | None = None, positional: str = "sinusoidal",
                 positional_options: dict | None = None, pattern: str = "none", window: int = 8,
                 encoder: str = "attention") -> None:
        super().__init__()
        if pattern not in ("none", "window"):
            raise ValueError(f"pattern: expected 'none' or 'window', got {pattern!r}")
        if encoder not in ("attention", "lstm"):
            raise ValueError(f"encoder: expected 'attention' or 'lstm', got {encoder!r}")
        self.embed = ConvSubsampling(features, width, dropout)
        if encoder == "lstm":  # the lecture's recurrent baseline: a BiLSTM of `depth` layers
            from .baselines import RNNEncoder

            self.encoder = RNNEncoder(width, width, "lstm", depth, True, dropout)
            pattern = "none"
        else:
            self.encoder = AttentionEncoder(width, depth, heads, ff=ff, dropout=dropout, norm=norm,
                                            attention=attention, attention_options=attention_options,
                                            positional=positional, positional_options=positional_options)
        self.head = nn.Linear(width, symbols + 1)
        self.pattern, self.window = pattern, window

    def encode(self, x: torch.Tensor, mask: torch.Tensor | None = None, return_weights: bool = False):
        """``(h (B, T', d), mask (B, T'))`` (and the weights of every layer)."""
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        h, mask = self.embed(x, mask)
        if not isinstance(self.encoder, AttentionEncoder):  # the BiLSTM: no attention weights
            return self.encoder(h, mask), mask, ([] if return_weights else None)
        kw: dict[str, Any] = {}
        if self.pattern != "none":
            if self.encoder.takes_patterns:
                kw["pattern"] = pattern_object(self.pattern, h.shape[1], window=self.window)
            else:
                from .model import pattern_mask

                kw["attn_mask"] = pattern_mask(self.pattern, h.shape[1], window=self.window, device=h.device)
        res = self.encoder(h, mask=mask, return_weights=return_weights, **kw)
        return (res[0], mask, res[1]) if return_weights else (res, mask, None)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, *, return_weights: bool = False,
                **_: Any):
        """``x (B, T, F)``, ``mask (B, T)`` -> log-probs ``(B, T', V + 1)`` (padded frames too;
        :meth:`output_mask` says which are real)."""
        h, _, weights = self.encode(x, mask, return_weights)
        out = self.head(h).log_softmax(-1)
        return (out, weights) if return_weights else out

    @staticmethod
    def output_lengths(mask: torch.Tensor) -> torch.Tensor:
        return subsampled_lengths(mask.sum(1))

    def loss(self, log_probs: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor,
             target_mask: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of CTC loss per target symbol (``targets (B, M)`` ids >= 1,
        padding anywhere ``target_mask`` is False)."""
        lengths = self.output_lengths(mask)
        target_lengths = target_mask.sum(1)
        flat = targets[target_mask]
        return F.ctc_loss(log_probs.transpose(0, 1).float(), flat, lengths, target_lengths, blank=BLANK,
                          reduction="mean", zero_infinity=True)

    @torch.no_grad()
    def transcribe(self, x: torch.Tensor, mask: torch.Tensor | None = None, beam_size: int = 1,
                   **fusion: Any) -> list[list[int]]:
        """Symbol ids per set (blank-free): greedy for ``beam_size=1``, else prefix beam search
        (``fusion``: :func:`beam_decode`'s ``lm``, ``lm_weight``, ``length_bonus``)."""
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        log_probs = self(x, mask)
        lengths = self.output_lengths(mask)
        if beam_size == 1:
            return greedy_decode(log_probs, lengths)
        return [beam_decode(log_probs[b, : int(n)], beam_size, **fusion)
                for b, n in enumerate(lengths.tolist())]


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor | None = None) -> list[list[int]]:
    """Best path: ``(B, T, V)`` scores -> per set, the argmax ids with repeats merged and blanks
    dropped (over the first ``lengths[b]`` frames)."""
    best = log_probs.argmax(-1)
    out = []
    for b in range(best.shape[0]):
        ids = best[b, : int(lengths[b])] if lengths is not None else best[b]
        keep = torch.ones_like(ids, dtype=torch.bool)
        keep[1:] = ids[1:] != ids[:-1]
        out.append([int(i) for i in ids[keep & (ids != BLANK)]])
    return out


def _logadd(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


def beam_decode(log_probs: torch.Tensor, beam_size: int = 8, prune: float = -12.0, *, lm=None,
                lm_weight: float = 0.0, length_bonus: float = 0.0) -> list[int]:
    """CTC prefix beam search over one set's ``(T, V)`` log-probs: the prefix with the highest
    total probability over all its paths among ``beam_size`` kept each frame (symbols below
    ``prune`` log-probability at a frame are not tried). Never worse than greedy in that
    total when the beam holds the greedy prefix's ancestors.

    Shallow fusion (Hannun et al. 2014): with ``lm`` (a :class:`~selfattn.nn.char_lm.CharNgram`
    over the same ids) prefixes are ranked by ``log P_ctc + lm_weight * log P_lm + length_bonus
    * len``, the LM scoring each symbol as it is appended and the end of the sentence at the
    last frame. ``lm_weight = length_bonus = 0`` ranks by ``log P_ctc`` alone: the plain search,
    to the bit."""
    if beam_size < 1:
        raise ValueError(f"beam_size: expected >= 1, got {beam_size}")
    lp = log_probs.double().cpu()
    fused = lm is not None
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}  # (p_blank, p_symbol)
    lm_score: dict[tuple[int, ...], float] = {(): 0.0}  # log P_lm of each prefix's symbols

    def rank(prefix: tuple[int, ...], pb: float, ps: float) -> float:
        return _logadd(pb, ps) + lm_weight * lm_score[prefix] + length_bonus * len(prefix)

    for t in range(lp.shape[0]):
        row = lp[t]
        candidates = [int(v) for v in torch.nonzero(row > prune).flatten()] or [int(row.argmax())]
        nxt: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (pb, ps) in beams.items():
            total = _logadd(pb, ps)
            for v in candidates:
                p = float(row[v])
                if v == BLANK:
                    entry = nxt[prefix]
                    entry[0] = _logadd(entry[0], total + p)
                    continue
                extended = (*prefix, v)
                if extended not in lm_score:
                    lm_score[extended] = lm_score[prefix] + (lm.log_probs(prefix)[v] if fused else 0.0)
                entry = nxt[extended]
                if prefix and prefix[-1] == v:  # a repeat needs a blank in between
                    entry[1] = _logadd(entry[1], pb + p)
                    same = nxt[prefix]
                    same[1] = _logadd(same[1], ps + p)
                else:
                    entry[1] = _logadd(entry[1], total + p)
        ranked = sorted(nxt.items(), key=lambda kv: rank(kv[0], *kv[1]), reverse=True)[:beam_size]
        beams = {k: (v[0], v[1]) for k, v in ranked}
    end = {k: lm_weight * lm.log_probs(k)[0] if fused else 0.0 for k in beams}  # 0: the LM's end slot
    best = max(beams.items(), key=lambda kv: rank(kv[0], *kv[1]) + end[kv[0]])
    return list(best[0])


def sequence_log_prob(log_probs: torch.Tensor, target: list[int]) -> float:
    """``log P(target | x)`` summed over all CTC paths, for one set's ``(T, V)`` log-probs."""
    if not target:
        return float(log_probs[:, BLANK].double().sum())
    loss = F.ctc_loss(log_probs.double()[:, None], torch.tensor([target]), torch.tensor([log_probs.shape[0]]),
                      torch.tensor([len(target)]), blank=BLANK, reduction="sum")
    return -float(loss)


def ctc_model_options(cfg: dict[str, Any], spec: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
    """``(args, kwargs)`` of :class:`CTCModel` from a model config and a data spec
    (``input.dim``, ``symbols``); ``model.kind=lstm`` picks the BiLSTM encoder."""
    args = (int(spec["input"]["dim"]), int(spec["symbols"]), int(cfg["width"]), int(cfg["depth"]),
            int(cfg["heads"]))
    kwargs = {"ff": int(cfg.get("ff") or 0), "dropout": float(cfg.get("dropout", 0.1)),
              "norm": cfg.get("norm", "pre"), "attention": cfg.get("attention", "full"),
              "attention_options": cfg.get("attention_options") or {},
              "positional": cfg.get("positional", "sinusoidal"),
              "positional_options": cfg.get("positional_options") or {},
              "pattern": cfg.get("pattern", "none"), "window": int(cfg.get("window", 8)),
              "encoder": "lstm" if cfg.get("kind") == "lstm" else "attention"}
    return args, kwargs


def build_ctc_model(cfg: dict[str, Any], spec: dict[str, Any]) -> CTCModel:
    """A :class:`CTCModel` from a model config and a data spec (a model with an attention
    decoder: :func:`selfattn.nn.asr_decoder.build_asr_model`)."""
    args, kwargs = ctc_model_options(cfg, spec)
    return CTCModel(*args, **kwargs)


def as_symbol_string(ids) -> str:
    """Ids as one character each (Unicode private use area), so that a character error rate
    of these strings is the symbol error rate (CER for characters, PER for phonemes)."""
    return "".join(chr(0xE000 + int(i)) for i in ids)


def ctc_step(model: CTCModel, log_probs: torch.Tensor, batch) -> tuple[torch.Tensor, list[str], list[str]]:
    """``(loss, greedy hypotheses, references)`` of a padded batch (``y`` targets, ``y_mask``), the
    strings as :func:`as_symbol_string` writes them, for ``torchmetrics.text.CharErrorRate``
    (a model with a decoder scores the batch itself: its ``joint_step``)."""
    if hasattr(model, "joint_step"):
        return model.joint_step(log_probs, batch)
    targets = batch.y.clamp_min(0)
    loss = model.loss(log_probs, batch.mask, targets, batch.y_mask)
    hyps = greedy_decode(log_probs.detach(), model.output_lengths(batch.mask))
    refs = [targets[b, : int(n)].tolist() for b, n in enumerate(batch.y_mask.sum(1).tolist())]
    return loss, [as_symbol_string(h) for h in hyps], [as_symbol_string(r) for r in refs]
