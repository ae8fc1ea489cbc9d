import pytest
import torch

from selfattn.data import (
    PENN_TO_UNIVERSAL,
    Collate,
    LengthBucketSampler,
    load_pos,
    pos_splits,
)
from selfattn.data.pos import parse_tagged_lines, read_tagged_file

LINES = ["The/DT cat/NN sat/VBD ./.", "1/2/CD of/IN a/DT pie/NN", "Dogs/NNS bark/VBP", ""]


def test_parse_splits_on_the_last_slash():
    corpus = parse_tagged_lines(LINES, "mem")
    assert len(corpus) == 3 and corpus.num_tokens() == 10
    assert corpus.sentences[1][0] == "1/2" and corpus.tags[1][0] == "CD"
    universal = parse_tagged_lines(LINES, "mem", tagset="universal")
    assert universal.tags[0] == ["DET", "NOUN", "VERB", "."]


def test_bad_lines_name_the_file_and_line(tmp_path):
    with pytest.raises(ValueError, match=r"f.txt:2: token 2 is 'cat', expected word/TAG"):
        parse_tagged_lines(["a/DT", "the/DT cat"], "f.txt")
    with pytest.raises(ValueError, match=r"f.txt:2: empty sentence"):
        parse_tagged_lines(["a/DT", "", "b/NN"], "f.txt")
    with pytest.raises(ValueError, match=r"f.txt:1: token 1 is '/NN'"):
        parse_tagged_lines(["/NN"], "f.txt")
    with pytest.raises(ValueError, match=r"f.txt:1: token 1 'x/ZZ' has tag 'ZZ'"):
        parse_tagged_lines(["x/ZZ"], "f.txt", tagset="universal")
    with pytest.raises(ValueError, match=r"no sentences found"):
        parse_tagged_lines(["", ""], "f.txt")
    path = tmp_path / "bad.txt"
    path.write_bytes(b"a/DT\nb/NN \xff/NN\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: not valid UTF-8"):
        read_tagged_file(path)


def test_ambiguous_tags_are_counted_not_hidden():
    first = parse_tagged_lines(["x/NN|CD y/VBG|NN"], "m")
    assert first.tags == [["NN", "VBG"]] and first.ambiguous_resolved == 2
    assert parse_tagged_lines(["x/NN|CD"], "m", ambiguous="keep").tags == [["NN|CD"]]
    with pytest.raises(ValueError, match=r"ambiguous tag"):
        parse_tagged_lines(["x/NN|CD"], "m", ambiguous="error")


def test_universal_map_covers_the_45_penn_tags():
    penn = ["CC", "CD", "DT", "EX", "FW", "IN", "JJ", "JJR", "JJS", "LS", "MD", "NN", "NNS", "NNP", "NNPS", "PDT", "POS", "PRP", "PRP$", "RB", "RBR", "RBS", "RP", "SYM", "TO", "UH", "VB", "VBD", "VBG", "VBN", "VBP", "VBZ", "WDT", "WP", "WP$", "WRB", "$", "#", "``", "''", "(", ")", ",", ".", ":"]
    assert len(penn) == 45
    assert all(tag in PENN_TO_UNIVERSAL for tag in penn)
    assert set(PENN_TO_UNIVERSAL.values()) == {"NOUN", "VERB", "ADJ", "ADV", "PRON", "DET",
                                               "ADP", "NUM", "CONJ", "PRT", ".", "X"}


def test_splits_from_a_user_file_are_seeded(tmp_path):
    path = tmp_path / "tagged.txt"
    path.write_text("\n".join(f"w{i}/NN runs/VBZ ./." for i in range(50)) + "\n")
    corpus = load_pos(path=path)
    a, b = pos_splits(corpus, seed=3), pos_splits(corpus, seed=3)
    assert [len(a.train), len(a.validation), len(a.test)] == [40, 5, 5]
    assert [e.source for e in a.test] == [e.source for e in b.test]
    assert a.info["validation"]["unknown_rate"] == pytest.approx(1 / 3)  # unseen w_i
    example = a.train[0]
    assert example.x.shape == example.y.shape == (3,)
    assert a.tags.tokens == [".", "NN", "VBZ"]


def test_real_wsj_sample(real_data):
    folder = real_data("pos-wsj")
    corpus = load_pos("wsj", path=folder / "tagged-en-wsj.txt")
    assert len(corpus) == 1001 and corpus.num_tokens() == 25026
    assert len(corpus.tag_counts()) == 44
    splits = pos_splits(corpus, seed=0)
    assert [len(splits.train), len(splits.validation), len(splits.test)] == [801, 100, 100]
    assert sum(splits.info[p]["tokens"] for p in ("train", "validation", "test")) == 25026
    sampler = LengthBucketSampler(splits.train.lengths(), batch_size=32, seed=0)
    batch = Collate("padded", "vector")([splits.train[i] for i in next(iter(sampler))])
    assert batch.y.shape == batch.mask.shape and bool((batch.y[~batch.mask] == -100).all())
    universal = load_pos("wsj", path=folder / "tagged-en-wsj.txt", tagset="universal")
    assert len(universal.tag_counts()) == 12
    nouns = universal.tag_counts()["NOUN"] / universal.num_tokens()
    assert 0.25 < nouns < 0.35


def test_real_oanc_sample(real_data):
    folder = real_data("pos-oanc")
    corpus = load_pos("oanc", path=folder / "tagged-en-oanc.txt")
    assert len(corpus) == 20000 and corpus.num_tokens() == 360524
    assert corpus.ambiguous_resolved == 4
    lengths = torch.tensor([len(s) for s in corpus.sentences])
    assert int(lengths.min()) >= 1
