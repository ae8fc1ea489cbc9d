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
