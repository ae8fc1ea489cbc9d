import pytest

from selfattn.data import collate, load_translation_pairs, translation_splits
from selfattn.data.translation import BOS, EOS, _clean


def test_strong_tags_are_removed_without_joining_words():
    raw = "In <H0430> the <H0853> beginning <H7225>, God <H0430>created <H1254> the earth."
    assert _clean(raw) == "In the beginning, God created the earth."


def test_pairs_from_a_user_file_make_sequence_targets(tmp_path):
    path = tmp_path / "pairs.tsv"
    rows = [f"Ref {i}\tthe cat {i} sleeps\tel gato {i} duerme" for i in range(10)]
    path.write_text("reference\tenglish\tspanish\n" + "\n".join(rows) + "\n")
    pairs = load_translation_pairs(path)
    assert len(pairs) == 10 and pairs.targets[3] == "el gato 3 duerme"
    splits = translation_splits(pairs, (0.6, 0.2, 0.2), seed=1, min_freq=1)
    example = splits.train[0]
    words = splits.target_words.decode(example.y)
    assert words[0] == BOS and words[-1] == EOS and len(words) == len(example.x) + 2
    batch = collate([splits.train[0], splits.train[1]], "packed", "sequence")
    assert batch.y_offsets.tolist() == [0, 6, 12]
    (tmp_path / "bad.tsv").write_text("reference\tenglish\tspanish\nGen 1:1\tIn the beginning\n")
    with pytest.raises(ValueError, match=r"bad.tsv:2: expected 'reference<TAB>source<TAB>target'"):
        load_translation_pairs(tmp_path / "bad.tsv")


def test_real_sword_pairs(real_data):
    pairs = load_translation_pairs(real_data("sword-en-es") / "pairs.tsv")
    assert len(pairs) == 31077
    assert pairs.sources[0] == "In the beginning, God created the heavens and the earth."
    assert pairs.targets[0].startswith("EN el principio crió Dios")
    assert not any("<H" in s or "<G" in s for s in pairs.sources[:2000])


def test_subwords_to_words_joins_continuing_pieces():
    from selfattn.data.subword import subwords_to_words

    assert subwords_to_words(["y", "dij", "##o", ":", "sea", "##", "la", "l", "##u", "##z"]) == \
        ["y", "dijo", ":", "sea", "##", "la", "luz"]
    assert subwords_to_words(["##ab", "c"]) == ["ab", "c"]      # nothing to join to: a word of its own
    assert subwords_to_words(["a@@", "b"], continuing_prefix="@@") == ["a@@", "b"]


def _verse_pairs(tmp_path, english: str, spanish: str, words: list[tuple[str, str]], repeat: int):
    """A pairs file of ``len(words) * repeat`` verses, ``{w}``/``{s}`` filled from ``words``
    and ``{n}`` with a speaker's name, read back with ``load_translation_pairs``."""
    names = ["Jehová", "Moisés", "Aarón"]
    rows = [f"v{i}\t{english.format(w=w, n=n)}\t{spanish.format(s=s_, n=n)}"
            for i, ((w, s_), n) in enumerate(list(zip(words, names, strict=True)) * repeat)]
    path = tmp_path / "pairs.tsv"
    path.write_text("reference\tenglish\tspanish\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return load_translation_pairs(path)


def test_joint_subword_vocabulary_spells_the_target_words_back(tmp_path):
    pytest.importorskip("tokenizers")
    from selfattn.data.sentiment import tokenize_words
    from selfattn.data.translation import pieces_to_words

    pairs = _verse_pairs(tmp_path, "The {w} house, said {n}.", "La casa {s}, dijo {n}.",
                         [("red", "roja"), ("white", "blanca"), ("old", "vieja")], 6)
    splits = translation_splits(pairs, (0.6, 0.2, 0.2), seed=0, min_freq=1, subword_vocab=60)
    vocab = splits.target_words
    assert splits.source_words is vocab and len(vocab) <= 60
    assert vocab.tokens[:4] == ["<pad>", "<unk>", BOS, EOS]
    assert any(t.startswith("##") for t in vocab.tokens)           # 60 pieces: some words are split
    targets = dict(zip(pairs.references, pairs.targets, strict=True))
    for example in splits.test.examples + splits.train.examples:
        pieces = vocab.decode(example.y)
        assert pieces[0] == BOS and pieces[-1] == EOS and "<unk>" not in pieces
        assert pieces_to_words(pieces[1:-1]) == tokenize_words(targets[example.source])
        assert len(pieces) - 2 >= len(tokenize_words(targets[example.source]))
    for bad in (True, 3, 8000.0, "8k"):
        with pytest.raises(ValueError, match=r"subword_vocab: expected None or an integer > 4"):
            translation_splits(pairs, (0.6, 0.2, 0.2), subword_vocab=bad)


def test_a_saved_tokenizer_gives_back_the_same_ids(tmp_path):
    """BPE training is not deterministic; a resumed or evaluated run reuses its tokenizer."""
    pytest.importorskip("tokenizers")
    from tokenizers import Tokenizer

    pairs = _verse_pairs(tmp_path, "The {w} houses, said {n}.", "Las casas {s}, dijo {n}.",
                         [("red", "rojas"), ("white", "blancas"), ("old", "viejas")], 8)
    first = translation_splits(pairs, (0.6, 0.2, 0.2), seed=0, min_freq=1, subword_vocab=50)
    saved = Tokenizer.from_str(first.tokenizer.to_str())
    again = translation_splits(pairs, (0.6, 0.2, 0.2), seed=0, min_freq=1, subword_vocab=50, tokenizer=saved)
    assert again.target_words.tokens == first.target_words.tokens
    for a, b in zip(first.test.examples + first.train.examples, again.test.examples + again.train.examples,
                    strict=True):
        assert a.x.tolist() == b.x.tolist() and a.y.tolist() == b.y.tolist()
    with pytest.raises(ValueError, match="tokenizer: given without subword_vocab"):
        translation_splits(pairs, (0.6, 0.2, 0.2), tokenizer=saved)
    with pytest.raises(ValueError, match="tokenizer: expected at most subword_vocab=10 pieces"):
        translation_splits(pairs, (0.6, 0.2, 0.2), subword_vocab=10, tokenizer=saved)
