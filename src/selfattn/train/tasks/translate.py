"""Translation: English verses to Spanish (sequence to sequence).

The source verse is a set of token vectors; the target is written token by token by the
decoder (``selfattn.nn.seq2seq``). Pairs come from the SWORD Bible modules
(``selfattn.data.load_translation_pairs``) or any ``reference<TAB>source<TAB>target``
file. Verses longer than ``max_words`` words on either side are left out (counted in
``info``). Tokens are lower-cased words (``data.subword_vocab: null``: one vocabulary per
language, words seen fewer than ``min_freq`` times are ``<unk>``) or pieces of one joint
BPE vocabulary of ``subword_vocab`` pieces (``subword_vocab: 8000``: no unknown words,
one embedding table for source, target and output).

Evaluation is corpus BLEU (``sacrebleu``, ``tokenize="none"``) of beam-decoded test
verses on lower-cased word tokens (``selfattn.train.decode.bleu_score``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ...data import VectorSet, load_translation_pairs, translation_splits
from ...data.sentiment import tokenize_words
from ...data.subword import encode_subwords
from ...data.translation import BOS, EOS, TranslationPairs
from ...data.vocab import PAD, UNK, Vocabulary
from ..decode import output_words
from ..errors import ConfigError
from .base import Task, TaskData, limit

__all__ = ["TranslateTask"]


class TranslateTask(Task):
    data_format = (
        "A tab-separated file with a header line, then ``reference<TAB>source<TAB>target`` per pair "
        "(UTF-8).")
    name = "translate"
    kind = "seq2seq"
    target = "sequence"
    layout_labels = "sequence"
    data_defaults: ClassVar[dict[str, Any]] = {
        "path": None, "fractions": [0.9, 0.05, 0.05], "split_seed": 0, "min_freq": 2, "max_words": 40,
        "limit": None, "test_limit": 500, "subword_vocab": None}

    def check_data(self, d: dict) -> None:
        v = d["subword_vocab"]
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 16):
            raise ConfigError(f"data.subword_vocab: expected null (word vocabularies) or an integer >= 16 "
                              f"(pieces of one joint BPE vocabulary, e.g. 8000), got {v!r}")

    def build(self, cfg: dict) -> TaskData:
        return self._build(cfg, None)

    def rebuild(self, cfg: dict, state: dict) -> TaskData:
        """The saved joint tokenizer, not a new one (BPE training is not deterministic)."""
        if cfg["data"]["subword_vocab"] is None:
            return self._build(cfg, None)
        if not state.get("subwords"):
            raise ValueError("RUN: data.subword_vocab is set but the run's state.json keeps no subword "
                             "tokenizer ('subwords'); the run directory is incomplete")
        from tokenizers import Tokenizer

        return self._build(cfg, Tokenizer.from_str(state["subwords"]))

    def _build(self, cfg: dict, tokenizer) -> TaskData:
        d = cfg["data"]
        pairs = load_translation_pairs(d["path"])
        keep = [i for i in range(len(pairs)) if len(tokenize_words(pairs.sources[i])) <= d["max_words"]
                and len(tokenize_words(pairs.targets[i])) <= d["max_words"]]
        kept = TranslationPairs([pairs.sources[i] for i in keep], [pairs.targets[i] for i in keep],
                                [pairs.references[i] for i in keep])
        splits = translation_splits(kept, d["fractions"], d["split_seed"], d["min_freq"], d["subword_vocab"],
                                    tokenizer)
        train = limit(splits.train, d["limit"])
        validation = limit(splits.validation, d["limit"])
        test = limit(splits.test, d["test_limit"])
        tw = splits.target_words
        subwords = splits.tokenizer is not None
        spec = {"task": "seq2seq", "target": "sequence", "outputs": len(tw), "target_vocab": len(tw),
                "input": {"kind": "tokens", "vocab_sizes": [len(splits.source_words)],
                          "unk_dropout": {"0": 0.1}},
                "bos_id": tw.id(BOS), "eos_id": tw.id(EOS), "pad_id": tw.id(PAD),
                "max_len": d["max_words"], "max_target_len": d["max_words"] + 10}
        state = {"source_words": splits.source_words.tokens, "target_words": tw.tokens,
                 "target_specials": [PAD, BOS, EOS]}
        if subwords:
            # pieces: a verse of max_words words is longer; decode as far as the longest training target
            spec["input"]["shared_with_target"] = True
            spec["max_len"] = max(len(e.x) for e in splits.train.examples)
            spec["max_target_len"] = max(len(e.y) for e in splits.train.examples) + 10
            state["subwords"] = splits.tokenizer.to_str()
        info = {"pairs": len(pairs), "kept": len(kept), "sizes": [len(train), len(validation), len(test)],
                "vocabulary": [len(splits.source_words), len(tw)], "subword_vocab": d["subword_vocab"]}
        return TaskData(train, validation, test, spec=spec, state=state, info=info)

    def read_input(self, path: Path, state: dict, cfg: dict):
        """One English sentence per line."""
        lines = [t for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
        if not lines:
            raise ValueError(f"{path}: no sentences found (expected one per line)")
        if state.get("subwords"):
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_str(state["subwords"])

            def encode(words):
                return encode_subwords(tokenizer, " ".join(words))
        else:
            encode = Vocabulary(state["source_words"][2:], (PAD, UNK)).encode
        sets = [VectorSet(x=encode(tokenize_words(t) or [UNK]), source=f"{path}:{i + 1}")
                for i, t in enumerate(lines)]
        return sets, lines

    def format_prediction(self, display, prediction, state) -> str:
        return f"{display}\t{' '.join(output_words(prediction, state))}"

