"""Speech recognition tasks on frames: a phoneme per frame, and speech to text with CTC.

Both read a transcribed corpus (``selfattn.data.asr``): the generated ``espeak-asr``
corpus (OANC sentences spoken by eSpeak NG voices; test voices never heard in
training), or a folder of your own with ``manifest.tsv``. Features are 80 log-mel
energies every 10 ms (25 ms windows), standardised with training statistics.

* ``phonemes`` (the lecture's "one phoneme per frame" [7]): sequence labeling with
  window attention over the frames; labels from the synthesiser's own phoneme timing
  (``selfattn.data.espeak.frame_labels``); frame accuracy on the held-out voices.
* ``asr`` (speech recognition as sequence to sequence [8]): convolutional subsampling
  x4, a window-attention encoder (or ``model.kind=lstm``: a BiLSTM) and, by
  ``model.decoder``, a CTC head (``ctc``, ``selfattn.nn.ctc``), an attention decoder with
  cross-attention over the frames (``attention``, ``selfattn.nn.asr_decoder``) or both
  (``joint``: ``model.ctc_weight`` of CTC in the loss and in beam search), writing
  characters (``data.units=characters``) or phonemes (``phonemes``). Validation picks the
  checkpoint by greedy-decoded error rate; the test reports CER (or PER) and WER with
  ``jiwer``, for greedy and beam decoding (length-normalised by ``model.length_penalty``),
  on held-out voices and on held-out sentences of training voices.

Splits: the manifest's ``split`` column (``train``, ``validation``, ``test``,
``test-seen``); a manifest without it is split at random (``data.fractions``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import torch

from ...data import SetDataset, VectorSet, wav_features
from ...data.asr import CORPORA, AsrCorpus, load_asr_corpus, normalize_transcript
from ...data.espeak import SILENCE, frame_labels
from ..errors import ConfigError
from .base import Task, TaskData, feature_stats, limit

__all__ = ["AsrTask", "PhonemesTask", "corpus_splits"]

_UNITS = ("characters", "phonemes")


def corpus_splits(corpus: AsrCorpus, d: dict) -> dict[str, list[int]]:
    """Utterance indices of ``train``, ``validation``, ``test`` and ``test-seen`` (empty when the
    manifest has no such split); without a ``split`` column, ``data.fractions`` at random."""
    if all(u.split for u in corpus.utterances):
        parts = {s: corpus.indices(s) for s in ("train", "validation", "test", "test-seen")}
    else:
        from ...data import split_indices

        train, val, test = (p.tolist() for p in split_indices(len(corpus), d["fractions"], d["split_seed"]))
        parts = {"train": train, "validation": val, "test": test, "test-seen": []}
    if d["train_utterances"] is not None:
        parts["train"] = parts["train"][: int(d["train_utterances"])]
    for name in ("train", "validation", "test"):
        if not parts[name]:
            source = d["path"] or d.get("corpus", "espeak-asr")
            raise ValueError(f"data: the {name} split of {source} is empty")
    return parts


def _check_common(d: dict) -> None:
    fr = d["fractions"]
    if not (isinstance(fr, list) and len(fr) == 3 and all(isinstance(f, (int, float)) and f >= 0 for f in fr)
            and abs(sum(fr) - 1) < 1e-6):
        raise ConfigError(f"data.fractions: expected three non-negative numbers summing to 1, got {fr!r}")
    n = d["train_utterances"]
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ConfigError(f"data.train_utterances: expected null (all) or a positive integer, got {n!r}")


def _wav_sets(path: Path, d: dict) -> tuple[list[VectorSet], list[str]]:
    """A WAV file, or a text file listing WAV files (one per line), as frame sets."""
    files = [path] if path.suffix.lower() == ".wav" else [
        Path(line.strip()) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    sets = []
    for number, f in enumerate(files, start=1):
        try:
            sets.append(VectorSet(x=wav_features(f, "fbank", int(d["num_mel_bins"])), source=str(f)))
        except (ValueError, FileNotFoundError) as error:
            where = str(f) if f == path else f"{path}:{number}"
            raise ValueError(f"{where}: {error}") from None
    return sets, [str(f) for f in files]


class PhonemesTask(Task):
    data_format = (
        "A folder with ``manifest.tsv``: a header, then ``file<TAB>text<TAB>alignment`` per utterance "
        "(more columns allowed: split, voice, rate, pitch, phonemes); ``alignment`` is space-separated "
        "``phoneme=start_seconds`` items, each phoneme lasting until the next starts.")
    name = "phonemes"
    kind = "vector"
    target = "class"
    unit = "frame"
    modality = "speech frames"
    layout_labels = "vector"
    model_kinds = ("transformer", "mlp", "window_mlp", "cnn", "rnn", "lstm", "gru")
    data_defaults: ClassVar[dict[str, Any]] = {
        "path": None, "num_mel_bins": 80, "train_utterances": None, "fractions": [0.8, 0.1, 0.1],
        "split_seed": 0, "limit": None}
    model_defaults: ClassVar[dict[str, Any]] = {"pattern": "window", "window": 16}

    def check_data(self, d: dict) -> None:
        _check_common(d)

    def _sets(self, corpus: AsrCorpus, indices: list[int], classes: dict[str, int]) -> SetDataset:
        out = []
        for i in indices:
            u, x = corpus.utterances[i], corpus.features[i]
            if not u.alignment:
                raise ValueError(f"{u.where}: no alignment (the phonemes task needs phoneme=start_s items)")
            labels = frame_labels(u.alignment, corpus.samples_16k[i])
            if len(labels) != x.shape[0]:  # both count whole frames of the same 16 kHz samples
                raise AssertionError(f"{u.where}: {len(labels)} labels for {x.shape[0]} frames")
            y = torch.tensor([classes.get(p, -100) for p in labels])
            out.append(VectorSet(x=x, y=y, source=f"{u.path.name} {u.voice}".strip()))
        return SetDataset(out)

    def build(self, cfg: dict) -> TaskData:
        d = cfg["data"]
        corpus = load_asr_corpus(d["path"], int(d["num_mel_bins"]))
        parts = corpus_splits(corpus, d)
        phones = sorted({p for i in parts["train"] for p in
                         frame_labels(corpus.utterances[i].alignment, corpus.samples_16k[i])})
        classes = {p: k for k, p in enumerate(phones)}
        train, val, test, seen = (limit(self._sets(corpus, parts[s], classes), d["limit"])
                                  for s in ("train", "validation", "test", "test-seen"))
        mean, std = feature_stats(train)
        spec = {"task": "vector", "target": "class", "outputs": len(phones),
                "input": {"kind": "features", "dim": int(d["num_mel_bins"])}, "feature_mean": mean,
                "feature_std": std, "max_len": max(len(e) for e in train.examples)}
        unknown = sum(int((e.y == -100).sum()) for part in (val, test, seen) for e in part.examples)
        data = TaskData(train, val, test, spec=spec, state={"classes": phones, "silence": SILENCE},
                        info={"sizes": [len(train), len(val), len(test), len(seen)], "phonemes": len(phones),
                              "frames_with_unseen_phonemes": unknown})
        data.extra_tests = {"test_seen_voices": seen}
        return data

    def extra_results(self, model, data: TaskData, cfg: dict) -> dict:
        """Frame accuracy on held-out sentences of training voices (``test-seen``)."""
        from ...data import collate

        seen = getattr(data, "extra_tests", {}).get("test_seen_voices")
        if seen is None or len(seen) == 0:
            return {}
        model.eval()
        right = total = 0
        with torch.no_grad():
            for start in range(0, len(seen), 16):
                batch = collate(seen.examples[start:start + 16], "padded", "vector")
                pred = model(batch.x, batch.mask).argmax(-1)
                real = batch.y != -100
                right += int((pred[real] == batch.y[real]).sum())
                total += int(real.sum())
        return {"test_seen_voices_acc": round(right / max(total, 1), 5)}

    def read_input(self, path: Path, state: dict, cfg: dict):
        return _wav_sets(path, cfg["data"])

    def format_prediction(self, display, prediction, state) -> str:
        """``file  phoneme per frame`` (10 ms each), runs merged as ``phoneme*frames``."""
        names = [state["classes"][int(i)] for i in prediction]
        runs: list[list] = []
        for n in names:
            if runs and runs[-1][0] == n:
                runs[-1][1] += 1
            else:
                runs.append([n, 1])
        return f"{display}\t" + " ".join(f"{n}*{k}" for n, k in runs)


class AsrTask(Task):
    data_format = (
        "A folder with ``manifest.tsv``: a header, then ``file<TAB>text`` per utterance (more columns "
        "allowed: split, voice, rate, pitch, phonemes (space-separated, for data.units=phonemes), "
        "alignment); WAV files mono, any rate.")
    name = "asr"
    kind = "ctc"
    target = "ctc"
    unit = "symbol"
    modality = "speech frames"
    layout_labels = "sequence"
    model_kinds = ("transformer", "lstm")  # lstm: a BiLSTM encoder (speech-truncation's baseline)
    data_defaults: ClassVar[dict[str, Any]] = {
        "path": None, "corpus": "espeak-asr", "units": "characters", "num_mel_bins": 80,
        "train_utterances": None, "fractions": [0.8, 0.1, 0.1], "split_seed": 0, "limit": None,
        "test_limit": None}  # corpus: the generated one read when path is null (data.asr.CORPORA)
    # decoder: ctc (a CTC head), attention (a decoder with cross-attention), joint (both,
    # ctc_weight * CTC in the loss and in beam search); length_penalty: beams' length normalisation
    # lm_order > 0 (decoder=ctc): a character n-gram of the training transcripts fused into the
    # test's beam search (selfattn.nn.char_lm), lm_weight / length_bonus null = tuned on validation
    model_defaults: ClassVar[dict[str, Any]] = {"pattern": "window", "window": 16, "decoder": "ctc",
                                                "ctc_weight": 0.3, "length_penalty": 1.0, "lm_order": 0,
                                                "lm_smoothing": "kneser-ney", "lm_weight": None,
                                                "length_bonus": None}

    def check_data(self, d: dict) -> None:
        _check_common(d)
        if d["units"] not in _UNITS:
            raise ConfigError(f"data.units: expected one of {list(_UNITS)}, got {d['units']!r}")
        if d["corpus"] not in CORPORA:
            raise ConfigError(f"data.corpus: expected one of {list(CORPORA)}, got {d['corpus']!r}")

    def check_model(self, m: dict) -> None:
        from ...nn.asr_decoder import DECODERS

        if m["decoder"] not in DECODERS:
            raise ConfigError(f"model.decoder: expected one of {list(DECODERS)}, got {m['decoder']!r}")
        w = m["ctc_weight"]
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 < w < 1:
            raise ConfigError(f"model.ctc_weight: expected a number between 0 and 1 (exclusive), got {w!r}")
        lp = m["length_penalty"]
        if isinstance(lp, bool) or not isinstance(lp, (int, float)) or lp < 0:
            raise ConfigError(f"model.length_penalty: expected a number >= 0, got {lp!r}")
        from ...nn.char_lm import SMOOTHINGS

        order = m["lm_order"]
        if isinstance(order, bool) or not isinstance(order, int) or order < 0:
            raise ConfigError(f"model.lm_order: expected an integer >= 0 (0: no language model), "
                              f"got {order!r}")
        if order and m["decoder"] != "ctc":
            raise ConfigError(f"model.lm_order: the language model is fused into CTC beam search only "
                              f"(model.decoder=ctc), got model.decoder={m['decoder']!r}")
        if m["lm_smoothing"] not in SMOOTHINGS:
            raise ConfigError(f"model.lm_smoothing: expected one of {list(SMOOTHINGS)}, "
                              f"got {m['lm_smoothing']!r}")
        for key, low in (("lm_weight", 0), ("length_bonus", None)):
            v = m[key]
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or (low is not None and v < low)):
                expected = "null (tuned on the validation split) or a number" + (
                    " >= 0" if low is not None else "")
                raise ConfigError(f"model.{key}: expected {expected}, got {v!r}")

    def monitor(self, spec: dict) -> tuple[str, str]:
        return f"val_{spec['metric']}", "min"

    @staticmethod
    def symbols_of(u, units: str) -> list[str]:
        if units == "characters":
            return list(normalize_transcript(u.text))
        if not u.phonemes:
            raise ValueError(f"{u.where}: no phonemes (data.units=phonemes needs the phonemes column)")
        return list(u.phonemes)

    def build(self, cfg: dict) -> TaskData:
        d = cfg["data"]
        corpus = load_asr_corpus(d["path"], int(d["num_mel_bins"]), d["corpus"])
        parts = corpus_splits(corpus, d)
        units = d["units"]
        symbols = sorted({s for i in parts["train"] for s in self.symbols_of(corpus.utterances[i], units)})
        index = {s: k + 1 for k, s in enumerate(symbols)}  # 0 = blank

        def sets(indices: list[int]) -> SetDataset:
            out = []
            for i in indices:
                u = corpus.utterances[i]
                ids = [index[s] for s in self.symbols_of(u, units) if s in index]  # unseen: dropped
                if not ids:
                    raise ValueError(f"{u.where}: no {units} to recognise in {u.text!r}")
                out.append(VectorSet(x=corpus.features[i], y=torch.tensor(ids),
                                     source=f"{u.path.name} {u.voice}".strip()))
            return SetDataset(out)

        train, val = limit(sets(parts["train"]), d["limit"]), limit(sets(parts["validation"]), d["limit"])
        test = limit(sets(parts["test"]), d["test_limit"])
        seen = limit(sets(parts["test-seen"]), d["test_limit"])
        mean, std = feature_stats(train)
        spec = {"task": "ctc", "target": "ctc", "outputs": len(symbols) + 1, "symbols": len(symbols),
                "metric": "cer" if units == "characters" else "per",
                "input": {"kind": "features", "dim": int(d["num_mel_bins"])}, "feature_mean": mean,
                "feature_std": std, "max_len": max(len(e) for e in train.examples)}
        data = TaskData(train, val, test, spec=spec, state={"symbols": symbols, "units": units},
                        info={"sizes": [len(train), len(val), len(test), len(seen)], "symbols": len(symbols),
                              "train_hours": round(sum(len(e) for e in train.examples) / 360000, 2)})
        data.extra_tests = {"test_seen_voices": seen}
        return data

    def init_model(self, model, data: TaskData, cfg: dict) -> None:
        model.embed.mean.copy_(torch.tensor(data.spec["feature_mean"]))
        model.embed.std.copy_(torch.tensor(data.spec["feature_std"]))

    def build_model(self, model_cfg: dict, spec: dict):
        from ...nn.asr_decoder import build_asr_model

        return build_asr_model(model_cfg, spec)

    def text(self, ids, state: dict) -> str:
        symbols = state["symbols"]
        joiner = "" if state["units"] == "characters" else " "
        return joiner.join(symbols[int(i) - 1] for i in ids)

    def extra_results(self, model, data: TaskData, cfg: dict) -> dict:
        """CER (or PER) and WER with ``jiwer``, greedy and beam, on held-out voices and on
        held-out sentences of training voices; a few examples."""
        from .asr_scoring import score_transcripts

        out: dict[str, Any] = {}
        tests = {"test": data.test, **getattr(data, "extra_tests", {})}
        beam = int(cfg["run"]["beam_size"])
        fusion = self.fusion(model, data, cfg, out) if beam > 1 else None
        for name, sets in tests.items():
            if sets is None or len(sets) == 0:
                continue
            started = time.perf_counter()
            scored = score_transcripts(model, sets, data.state, self.text, beam, fusion=fusion)
            out.setdefault("decoded_examples", {})[name] = scored.pop("examples")
            out.update({f"{name}_{k}": v for k, v in scored.items()})
            out[f"{name}_decode_s"] = round(time.perf_counter() - started, 1)
        return out

    def fusion(self, model, data: TaskData, cfg: dict, out: dict) -> dict[str, Any] | None:
        """``model.lm_order > 0``: the n-gram of the training transcripts and the weight and
        length bonus (given, or tuned on the validation split: ``asr_scoring.tune_fusion``);
        what was chosen and measured goes into ``out`` (``lm_*``)."""
        m = cfg["model"]
        if not m["lm_order"]:
            return None
        from ...nn.char_lm import CharNgram
        from .asr_scoring import tune_fusion

        started = time.perf_counter()
        lm = CharNgram([e.y.tolist() for e in data.train.examples], int(data.spec["symbols"]),
                       int(m["lm_order"]), m["lm_smoothing"])
        out["lm_val_perplexity"] = round(lm.perplexity(e.y.tolist() for e in data.validation.examples), 4)
        weight, bonus = m["lm_weight"], m["length_bonus"]
        if weight is None or bonus is None:
            beam = int(cfg["run"]["beam_size"])
            tuned = tune_fusion(model, data.validation, data.state, self.text, lm, beam,
                                **({"weights": (float(weight),)} if weight is not None else {}),
                                **({"bonuses": (float(bonus),)} if bonus is not None else {}))
            weight, bonus = tuned["lm_weight"], tuned["length_bonus"]
            out.update({"lm_val_error_fused": tuned["error"], "lm_val_error_plain": tuned["plain_error"],
                        "lm_grid": tuned["grid"]})
        out.update({"lm_weight": float(weight), "length_bonus": float(bonus),
                    "lm_tune_s": round(time.perf_counter() - started, 1)})
        return {"lm": lm, "lm_weight": float(weight), "length_bonus": float(bonus)}

    def read_input(self, path: Path, state: dict, cfg: dict):
        return _wav_sets(path, cfg["data"])

    def format_prediction(self, display, prediction, state) -> str:
        return f"{display}\t{self.text(prediction, state)}"
