"""Speech to text with an attention decoder over the encoder's frames, alone or with CTC.

The lecture's speech recognition row [8] as a true sequence to sequence model: the same
encoder as :class:`~selfattn.nn.ctc.CTCModel` (convolutional subsampling x4, window
attention) gives the memory ``(B, T', d)``; a decoder writes one character at a time with
causal self-attention over what it has written and *cross-attention* over the frames
(queries from the decoder, keys and values from the encoder), until it writes ``<eos>``.

Ids: ``0`` pads (the CTC blank, never a decoder target), ``1..S`` the symbols (the same ids
as CTC's), ``S + 1`` is ``<sos>`` as input and ``<eos>`` as output (one id, as ESPnet).

* ``decoder="attention"``: cross-entropy of the teacher-forced decoder (gold prefix in,
  next symbol out, label smoothing 0.1) only.
* ``decoder="joint"`` (Kim, Hori and Watanabe 2017; ESPnet's hybrid): ``ctc_weight * CTC +
  (1 - ctc_weight) * attention``; the CTC head keeps the alignment monotonic, which makes the
  decoder learn faster, and joint decoding scores every hypothesis by both.

Decoding (:func:`beam_search`): ``K`` hypotheses extended one symbol a step, ranked by
``(1 - w) log p_att(h) + w log p_ctc(h...)`` where ``log p_ctc(h...)`` is the CTC *prefix*
probability (every frame path whose merged output starts with ``h``; :class:`CTCPrefixScorer`),
and finished hypotheses ranked by their score divided by ``len ** length_penalty`` (length
normalisation: log-probabilities only fall as a hypothesis grows, so unnormalised beams
prefer short outputs). ``w = 0`` is plain attention beam search, ``beam_size=1`` greedy.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .ctc import BLANK, CTCModel, as_symbol_string, build_ctc_model, ctc_model_options
from .seq2seq import DecoderLayer, _project

__all__ = ["DECODERS", "AsrOutput", "AttentionASR", "CTCPrefixScorer", "beam_search", "build_asr_model",
           "sinusoids"]

DECODERS = ("ctc", "attention", "joint")
LABEL_SMOOTHING = 0.1  # ESPnet's default for attention decoders: a spread that keeps beams diverse


class AsrOutput(NamedTuple):
    """What :meth:`AttentionASR.forward` returns: CTC log-probs ``(B, T', S + 1)`` and the
    memory ``(B, T', d)`` with its mask ``(B, T')`` for the decoder."""

    log_probs: torch.Tensor
    memory: torch.Tensor
    memory_mask: torch.Tensor


def sinusoids(length: int, width: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """``(length, width)`` sinusoidal positions (Vaswani et al. 2017): a decoder step needs
    nothing but its position number, so the KV cache stays valid."""
    pos = torch.arange(length, dtype=torch.float64, device=device)[:, None]
    freq = torch.exp(torch.arange(0, width, 2, dtype=torch.float64, device=device) * (-math.log(1e4) / width))
    table = torch.zeros(length, width, dtype=torch.float64, device=device)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : width // 2]
    return table.to(dtype)


class CTCPrefixScorer:
    """``log p_ctc(h...)`` of hypotheses grown one symbol at a time over one utterance's
    ``(T, S + 1)`` CTC log-probs (Watanabe et al. 2017, in closed form).

    A hypothesis keeps ``r_n[t]`` / ``r_b[t]``: the log-probability of frames ``0..t``
    reading as ``h`` with the last frame a symbol / a blank. Extending ``h`` by ``c``:
    ``r_n'[t] = log sum_{s<=t} phi[s-1] * prod_{u=s..t} p_u(c)`` with ``phi = r_n + r_b``
    (only ``r_b`` when ``c`` repeats ``h``'s last symbol, which needs a blank between) and
    ``phi[-1] = 1`` for the empty ``h``; ``r_b'[t] = log sum_{s<=t} r_n'[s-1] prod_{u=s..t}
    p_u(blank)``. Both are cumulative log-sum-exps over cumulative sums (no loop over
    frames); the prefix score is ``log sum_t phi[t-1] p_t(c)``, and ``<eos>`` scores
    ``r_n[T-1] + r_b[T-1]``: the whole utterance reads as exactly ``h``.
    """

    def __init__(self, log_probs: torch.Tensor) -> None:
        x = log_probs.double().clamp_min(-1e4)                 # (T, V); -inf would give nan
        zero = torch.zeros(1, x.shape[1], dtype=x.dtype, device=x.device)
        self.x, self.t = x, x.shape[0]
        self.cum = torch.cat([zero, x.cumsum(0)])              # (T + 1, V): cum[t] = sum_{u<t}

    def initial(self) -> dict[str, torch.Tensor]:
        """State of the empty hypothesis (batch of one)."""
        r_n = torch.full((1, self.t), -math.inf, dtype=self.x.dtype, device=self.x.device)
        r_b = self.cum[1:, BLANK][None].clone()
        return {"r_n": r_n, "r_b": r_b, "empty": torch.ones(1, dtype=torch.bool, device=self.x.device),
                "last": torch.full((1,), -1, dtype=torch.long, device=self.x.device)}

    def _phi(self, state, symbols: torch.Tensor) -> torch.Tensor:
        """``(K, C, T + 1)``: ``phi[s - 1]`` for ``s = 0..T`` (index 0 is the start term)."""
        total = torch.logaddexp(state["r_n"], state["r_b"])                     # (K, T)
        repeat = symbols[None, :] == state["last"][:, None]                     # (K, C)
        phi = torch.where(repeat[..., None], state["r_b"][:, None], total[:, None])
        start = torch.where(state["empty"], 0.0, -math.inf).to(phi.dtype)       # (K,)
        return torch.cat([start[:, None, None].expand(-1, phi.shape[1], 1), phi], 2)

    def prefix_scores(self, state, symbols: torch.Tensor) -> torch.Tensor:
        """``(K, C)`` ``log p_ctc(h + c ...)`` for each hypothesis ``h`` and symbol ``c``."""
        phi = self._phi(state, symbols)[..., :-1]                               # (K, C, T)
        return torch.logsumexp(phi + self.x[:, symbols].T[None], -1)

    def eos_scores(self, state) -> torch.Tensor:
        """``(K,)`` ``log p_ctc(h)``: the utterance reads as exactly ``h``."""
        return torch.logaddexp(state["r_n"][:, -1], state["r_b"][:, -1])

    def extend(self, state, origin: torch.Tensor, symbols: torch.Tensor):
        """States of hypotheses ``origin[i]`` extended by ``symbols[i]`` (both ``(K',)``)."""
        r_n, r_b = state["r_n"][origin], state["r_b"][origin]
        repeat = symbols == state["last"][origin]
        phi = torch.where(repeat[:, None], r_b, torch.logaddexp(r_n, r_b))                # (K', T)
        start = torch.where(state["empty"][origin], 0.0, -math.inf).to(phi.dtype)
        phi = torch.cat([start[:, None], phi], 1)                                          # (K', T + 1)
        cum_c = self.cum[:, symbols].T                                          # (K', T + 1)
        # r_n'[t] = cum_c[t+1] + logcumsumexp_s (phi[s-1] - cum_c[s]), s = 0..t
        r_n = cum_c[:, 1:] + torch.logcumsumexp(phi[:, :-1] - cum_c[:, :-1], 1)
        cum_b = self.cum[:, BLANK]
        # r_b'[t] = cum_b[t+1] + logcumsumexp_s (r_n'[s-1] - cum_b[s]), s = 1..t (r_b'[0] = 0 prob)
        shifted = torch.cat([torch.full_like(r_n[:, :1], -math.inf), r_n[:, :-1]], 1)
        r_b = cum_b[None, 1:] + torch.logcumsumexp(shifted - cum_b[None, :-1], 1)
        return {"r_n": r_n, "r_b": r_b, "empty": torch.zeros_like(repeat), "last": symbols.clone()}


def beam_search(step, state, eos: int, beam_size: int, max_len: int, *, ctc: CTCPrefixScorer | None = None,
                ctc_weight: float = 0.0, length_penalty: float = 1.0, banned: tuple[int, ...] = (BLANK,)
                ) -> list[int]:
    """The best hypothesis (symbol ids, no ``<eos>``) of one utterance (module doc).

    ``step(state, hyps)`` -> ``((K, V) log-probs of the next symbol, state)`` for the ``K``
    hypotheses ``hyps`` (lists of ids), and ``state`` is reordered by ``step.reorder(state,
    origin)``; ``banned`` ids are never written. Hypotheses end with ``<eos>`` or at
    ``max_len`` symbols; the search stops when ``beam_size`` have ended or none is left."""
    if beam_size < 1:
        raise ValueError(f"beam_size: expected >= 1, got {beam_size}")
    if ctc is None and ctc_weight > 0:
        raise ValueError("ctc_weight: > 0 needs CTC log-probs to score prefixes")
    w = float(ctc_weight) if ctc is not None else 0.0
    hyps: list[list[int]] = [[]]
    att = torch.zeros(1, dtype=torch.float64)
    ctc_state = ctc.initial() if ctc is not None else None
    ended: list[tuple[float, list[int]]] = []
    for length in range(max_len + 1):
        logp, state = step(state, hyps)
        logp = logp.double().cpu().clone()
        logp[:, list(banned)] = -math.inf
        v = logp.shape[1]
        total_att = att[:, None] + logp                                         # (K, V)
        score = (1 - w) * total_att
        if ctc is not None and w > 0:
            symbols = torch.arange(v)
            pref = ctc.prefix_scores(ctc_state, symbols.clamp_max(ctc.x.shape[1] - 1)).cpu()
            pref[:, symbols >= ctc.x.shape[1]] = -math.inf                      # <eos> and beyond
            pref[:, eos] = ctc.eos_scores(ctc_state).cpu()
            score = score + w * pref
        if length == max_len:                                                   # only <eos> left
            keep = torch.full_like(score, -math.inf)
            keep[:, eos] = score[:, eos]
            score = keep
        # the best 2K: those ending go to ``ended``, the best K others stay alive (so an ending
        # hypothesis never takes a living one's place)
        best, flat = score.flatten().topk(min(2 * beam_size, score.numel()))
        origin, symbol = flat // v, flat % v
        alive: list[tuple[int, int]] = []
        top_alive = -math.inf
        for s, o, c in zip(best.tolist(), origin.tolist(), symbol.tolist(), strict=True):
            if s == -math.inf:
                continue
            if c == eos:
                ended.append((s / (len(hyps[o]) + 1) ** length_penalty, hyps[o]))
            elif len(alive) < beam_size:
                alive.append((o, c))
                top_alive = max(top_alive, s)
        # stop once K have ended and none alive would beat the best if it ended now (scores only
        # fall as hypotheses grow; ESPnet stops on a similar rule)
        if not alive or (len(ended) >= beam_size
                         and max(e[0] for e in ended) >= top_alive / (length + 2) ** length_penalty):
            break
        o_t = torch.tensor([o for o, _ in alive])
        c_t = torch.tensor([c for _, c in alive])
        hyps = [[*hyps[o], c] for o, c in alive]
        att = total_att[o_t, c_t]
        if ctc_state is not None and w > 0:
            ctc_state = ctc.extend(ctc_state, o_t, c_t)
        state = step.reorder(state, o_t)
    if not ended:
        return []
    return max(ended, key=lambda e: e[0])[1]


class _DecoderSteps:
    """The cached decoder as ``beam_search``'s ``step``: state = per-layer caches."""

    def __init__(self, model: AttentionASR, memory: torch.Tensor, memory_mask: torch.Tensor | None) -> None:
        self.model, self.memory, self.memory_mask = model, memory, memory_mask

    def __call__(self, caches, hyps: list[list[int]]):
        if caches is None or (caches[0]["k"] is not None and caches[0]["k"].shape[0] != len(hyps)):
            raise AssertionError("decoder caches out of step with the hypotheses")
        last = torch.tensor([h[-1] if h else self.model.sos for h in hyps], device=self.memory.device)
        logp = self.model.step_scores(last[:, None], len(hyps[0]), caches, self.memory_mask)
        return logp, caches

    def reorder(self, caches, origin: torch.Tensor):
        origin = origin.to(self.memory.device)
        for c in caches:
            c["k"], c["v"] = c["k"][origin], c["v"][origin]
            c["mk"], c["mv"] = c["mk"][origin], c["mv"][origin]
        return caches


class AttentionASR(CTCModel):
    """:class:`CTCModel`'s encoder and CTC head plus an attention decoder (module doc)."""

    def __init__(self, features: int, symbols: int, width: int, depth: int, heads: int, *,
                 decoder: str = "joint", decoder_depth: int = 2, ctc_weight: float = 0.3,
                 length_penalty: float = 1.0, ff: int = 0, dropout: float = 0.1, **kw: Any) -> None:
        super().__init__(features, symbols, width, depth, heads, ff=ff, dropout=dropout, **kw)
        if decoder not in ("attention", "joint"):
            raise ValueError(f"decoder: expected 'attention' or 'joint', got {decoder!r}")
        if not 0 <= ctc_weight < 1 or (decoder == "joint" and ctc_weight == 0):
            raise ValueError(f"ctc_weight: expected 0 < w < 1 for a joint decoder, got {ctc_weight}")
        self.sos = symbols + 1
        self.eos = self.sos
        self.ctc_weight = float(ctc_weight) if decoder == "joint" else 0.0
        self.length_penalty = float(length_penalty)
        self.tgt_embed = nn.Embedding(symbols + 2, width, padding_idx=0)
        self.layers = nn.ModuleList(DecoderLayer(width, heads, ff or 4 * width, dropout, True)
                                    for _ in range(decoder_depth))
        self.dec_norm = nn.LayerNorm(width)
        self.dec_out = nn.Linear(width, symbols + 2)
        self.dec_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, *, return_weights: bool = False,
                **_: Any):
        h, hmask, weights = self.encode(x, mask, return_weights)
        log_probs = self.head(h).log_softmax(-1)
        if return_weights:
            return log_probs, weights
        return AsrOutput(log_probs, h, hmask)

    # -- the decoder ---------------------------------------------------------------------
    def _embed(self, ids: torch.Tensor, start: int = 0) -> torch.Tensor:
        e = self.tgt_embed(ids) * self.tgt_embed.embedding_dim ** 0.5
        table = sinusoids(start + ids.shape[1], e.shape[-1], e.dtype, e.device)[start:]
        return self.dec_drop(e + table[None])

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, tgt_mask=None, memory_mask=None):
        """Teacher forcing: ``(B, M)`` ids (``<sos>`` first) -> ``(B, M, S + 2)`` scores."""
        h = self._embed(tgt_in)
        for layer in self.layers:
            h = layer(h, memory, tgt_mask, memory_mask)
        return self.dec_out(self.dec_norm(h))

    def start_caches(self, memory: torch.Tensor) -> list[dict[str, torch.Tensor | None]]:
        caches = []
        for layer in self.layers:
            mk, mv = _project(layer.cross_attn, memory, slice(1, 3))
            caches.append({"k": None, "v": None, "mk": mk, "mv": mv})
        return caches

    def step_scores(self, last: torch.Tensor, position: int, caches, memory_mask) -> torch.Tensor:
        """``(K, S + 2)`` log-probs after the prefix whose last id is ``last (K, 1)``."""
        h = self._embed(last, start=position)
        for layer, cache in zip(self.layers, caches, strict=True):
            h = layer.step(h, cache, memory_mask)
        return self.dec_out(self.dec_norm(h))[:, -1].log_softmax(-1)

    def joint_loss(self, out: AsrOutput, mask: torch.Tensor, targets: torch.Tensor,
                   target_mask: torch.Tensor) -> torch.Tensor:
        """``w * CTC + (1 - w) * attention cross-entropy`` (per symbol, batch mean)."""
        b = targets.shape[0]
        lengths = target_mask.sum(1)
        sos = torch.full((b, 1), self.sos, dtype=targets.dtype, device=targets.device)
        tgt_in = torch.cat([sos, targets * target_mask], 1)                   # pads read as 0
        gold = torch.cat([targets.masked_fill(~target_mask, -100), sos.new_full((b, 1), -100)], 1)
        gold[torch.arange(b), lengths] = self.eos
        in_mask = torch.cat([torch.ones_like(target_mask[:, :1]), target_mask], 1)
        scores = self.decode(tgt_in, out.memory, in_mask, out.memory_mask)
        att = F.cross_entropy(scores.reshape(-1, scores.shape[-1]).float(), gold.reshape(-1),
                              ignore_index=-100, label_smoothing=LABEL_SMOOTHING)
        if self.ctc_weight == 0:
            return att
        ctc = self.loss(out.log_probs, mask, targets, target_mask)
        return self.ctc_weight * ctc + (1 - self.ctc_weight) * att

    @torch.no_grad()
    def greedy(self, out: AsrOutput, max_len: int | None = None) -> list[list[int]]:
        """Batched greedy attention decoding (the validation hypotheses)."""
        memory, mmask = out.memory, out.memory_mask
        b = memory.shape[0]
        max_len = int(max_len or memory.shape[1])
        caches = self.start_caches(memory)
        last = torch.full((b, 1), self.sos, dtype=torch.long, device=memory.device)
        done = torch.zeros(b, dtype=torch.bool, device=memory.device)
        rows: list[torch.Tensor] = []
        for t in range(max_len):
            logp = self.step_scores(last, t, caches, mmask)
            logp[:, BLANK] = -math.inf
            nxt = logp.argmax(-1)
            rows.append(torch.where(done, self.eos, nxt))
            done |= nxt == self.eos
            if bool(done.all()):
                break
            last = nxt[:, None]
        out_ids = []
        for row in (torch.stack(rows, 1).tolist() if rows else [[] for _ in range(b)]):
            out_ids.append(row[: row.index(self.eos)] if self.eos in row else row)
        return out_ids

    @torch.no_grad()
    def transcribe(self, x: torch.Tensor, mask: torch.Tensor | None = None, beam_size: int = 1
                   ) -> list[list[int]]:
        """Symbol ids per set: greedy attention for ``beam_size=1``, else beam search (joint
        with the CTC prefix scores for ``decoder="joint"``), length-normalised."""
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        out = self(x, mask)
        if beam_size == 1:
            return self.greedy(out)
        results = []
        for b in range(x.shape[0]):
            n = int(out.memory_mask[b].sum())
            memory = out.memory[b:b + 1, :n]  # this set's frames alone: no mask needed
            ctc = CTCPrefixScorer(out.log_probs[b, :n]) if self.ctc_weight > 0 else None
            steps = _DecoderSteps(self, memory, None)
            results.append(beam_search(steps, self.start_caches(memory), self.eos, beam_size, max(n, 1),
                                       ctc=ctc, ctc_weight=self.ctc_weight,
                                       length_penalty=self.length_penalty))
        return results

    def joint_step(self, out: AsrOutput, batch) -> tuple[torch.Tensor, list[str], list[str]]:
        """``ctc_step`` of this model: the joint loss, and (when evaluating) greedy attention
        hypotheses as :func:`~selfattn.nn.ctc.as_symbol_string` strings."""
        targets = batch.y.clamp_min(0)
        loss = self.joint_loss(out, batch.mask, targets, batch.y_mask)
        if self.training:
            return loss, [], []
        hyps = self.greedy(out)
        refs = [targets[b, : int(n)].tolist() for b, n in enumerate(batch.y_mask.sum(1).tolist())]
        return loss, [as_symbol_string(h) for h in hyps], [as_symbol_string(r) for r in refs]


def build_asr_model(cfg: dict[str, Any], spec: dict[str, Any]) -> CTCModel:
    """The asr task's model: ``model.decoder=ctc`` a :class:`~selfattn.nn.ctc.CTCModel`,
    ``attention`` / ``joint`` an :class:`AttentionASR` (``decoder_depth``, ``ctc_weight``,
    ``length_penalty``)."""
    decoder = cfg.get("decoder", "ctc")
    if decoder == "ctc":
        return build_ctc_model(cfg, spec)
    args, kwargs = ctc_model_options(cfg, spec)
    return AttentionASR(*args, decoder=decoder, decoder_depth=int(cfg.get("decoder_depth", 2)),
                        ctc_weight=float(cfg.get("ctc_weight", 0.3)),
                        length_penalty=float(cfg.get("length_penalty", 1.0)), **kwargs)
