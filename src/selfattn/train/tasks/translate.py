"""Translation: English verses to Spanish (sequence to sequence).

The source verse is a set of word vectors; the target is written token by token by the
decoder (``selfattn.nn.seq2seq``). Pairs come from the SWORD Bible modules
(``selfattn.data.load_translation_pairs``) or any ``reference<TAB>source<TAB>target``
file. Verses longer than ``max_words`` words on either side are left out of training
(counted in ``info``); evaluation is BLEU (``sacrebleu``) of beam-decoded test verses on
lower-cased word tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ...data import VectorSet, load_translation_pairs, translation_splits
from ...data.sentiment import tokenize_words
from ...data.translation import BOS, EOS, TranslationPairs
from ...data.vocab import PAD, UNK, Vocabulary
from .base import Task, TaskData, limit

__all__ = ["TranslateTask"]


class TranslateTask(Task):
    name = "translate"
    kind = "seq2seq"
    target = "sequence"
    layout_labels = "sequence"
    data_defaults: ClassVar[dict[str, Any]] = {
        "path": None, "fractions": [0.9, 0.05, 0.05], "split_seed": 0, "min_freq": 2, "max_words": 40,
        "limit": None, "test_limit": 500}

    def build(self, cfg: dict) -> TaskData:
        d = cfg["data"]
        pairs = load_translation_pairs(d["path"])
        keep = [i for i in range(len(pairs)) if len(tokenize_words(pairs.sources[i])) <= d["max_words"]
                and len(tokenize_words(pairs.targets[i])) <= d["max_words"]]
        kept = TranslationPairs([pairs.sources[i] for i in keep], [pairs.targets[i] for i in keep],
                                [pairs.references[i] for i in keep])
        splits = translation_splits(kept, d["fractions"], d["split_seed"], d["min_freq"])
        train = limit(splits.train, d["limit"])
        validation = limit(splits.validation, d["limit"])
        test = limit(splits.test, d["test_limit"])
        tw = splits.target_words
        spec = {"task": "seq2seq", "target": "sequence", "outputs": len(tw), "target_vocab": len(tw),
                "input": {"kind": "tokens", "vocab_sizes": [len(splits.source_words)],
                          "unk_dropout": {"0": 0.1}},
                "bos_id": tw.id(BOS), "eos_id": tw.id(EOS), "pad_id": tw.id(PAD),
                "max_len": d["max_words"], "max_target_len": d["max_words"] + 10}
        state = {"source_words": splits.source_words.tokens, "target_words": tw.tokens,
                 "target_specials": [PAD, BOS, EOS]}
        info = {"pairs": len(pairs), "kept": len(kept), "sizes": [len(train), len(validation), len(test)],
                "vocabulary": [len(splits.source_words), len(tw)]}
        return TaskData(train, validation, test, spec=spec, state=state, info=info)

    def read_input(self, path: Path, state: dict, cfg: dict):
        """One English sentence per line."""
        vocab = Vocabulary(state["source_words"][2:], (PAD, UNK))
        lines = [t for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
        if not lines:
            raise ValueError(f"{path}: no sentences found (expected one per line)")
        sets = [VectorSet(x=vocab.encode(tokenize_words(t) or [UNK]), source=f"{path}:{i + 1}")
                for i, t in enumerate(lines)]
        return sets, lines

    def format_prediction(self, display, prediction, state) -> str:
        words = [state["target_words"][i] for i in prediction]
        return f"{display}\t{' '.join(w for w in words if w not in state['target_specials'])}"


