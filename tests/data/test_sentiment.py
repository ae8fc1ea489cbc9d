import bz2
import collections
import io
import tarfile

import pytest

from selfattn.data import load_rotten_tomatoes, load_vader, text_splits
from selfattn.data.sentiment import tokenize_words

CSV = ('category,text,movie_name,has_plot_and_reviews\n'
       'plot,"A man, a plan.",film,True\n'
       'fresh,"A witty, warm film.",film,True\n'
       'rotten,Dull and far too long.,film,True\n'
       'fresh,"Don\'t miss it!",other,False\n')


def test_tokenize_words():
    assert tokenize_words("Don't miss it!") == ["don't", "miss", "it", "!"]
    assert tokenize_words("A, b", lowercase=False) == ["A", ",", "b"]


def test_rotten_tomatoes_format_drops_and_counts_plot_rows(tmp_path):
    path = tmp_path / "rt.csv.bz2"
    path.write_bytes(bz2.compress(CSV.encode()))
    data = load_rotten_tomatoes(path)
    assert data.labels == [1, 0, 1] and data.classes == ["rotten", "fresh"]
    assert data.info["plot_rows_dropped"] == 1 and data.sources[0].endswith("rt.csv.bz2:3")
    splits = text_splits(data, fractions=(1 / 3, 1 / 3, 1 / 3), seed=0)
    assert sum(splits.info["sizes"]) == 3
    example = (splits.train or splits.validation)[0]
    assert example.x.dim() == 1 and example.y.dtype.is_floating_point is False
    (tmp_path / "bad.csv").write_text(CSV.replace("rotten,Dull", "meh,Dull"))
    with pytest.raises(ValueError, match=r"bad.csv:4: category 'meh'"):
        load_rotten_tomatoes(tmp_path / "bad.csv")


def test_vader_ground_truth_from_archive_and_folder(tmp_path):
    rows = b"1\t2.5\tGreat fun.\r\n2\t-1.25\tNot good at all.\r\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("hutto_ICWSM_2014/tweets_GroundTruth.txt")
        info.size = len(rows)
        archive.addfile(info, io.BytesIO(rows))
    (tmp_path / "vader.tar.gz").write_bytes(buffer.getvalue())
    data = load_vader("tweets", tmp_path / "vader.tar.gz")
    assert data.labels == [2.5, -1.25] and data.texts[1] == "Not good at all."
    splits = text_splits(data, fractions=(0.5, 0.5, 0.0))
    assert splits.train[0].y.dtype.is_floating_point
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "tweets_GroundTruth.txt").write_bytes(rows + b"3\tvery\tbad line\n")
    with pytest.raises(ValueError, match=r"tweets_GroundTruth.txt:3: expected 'id<TAB>valence"):
        load_vader("tweets", folder)
    with pytest.raises(ValueError, match=r"domain: expected one of"):
        load_vader("reddit", folder)


def test_empty_text_is_an_error():
    from selfattn.data import LabeledTexts

    with pytest.raises(ValueError, match=r"row 7: text '  ' has no words"):
        text_splits(LabeledTexts(["  "], [1], ["row 7"], ["a", "b"]))


def test_real_rotten_tomatoes_and_vader(real_data):
    data = load_rotten_tomatoes(real_data("rotten-tomatoes") /
                                "rotten_tomatoes_corpus_full.csv.bz2")
    assert collections.Counter(data.labels) == {1: 7403, 0: 5405}
    assert data.info["plot_rows_dropped"] == 1097
    vader = load_vader("all", real_data("vader") / "hutto_ICWSM_2014.tar.gz")
    assert len(vader) == 10605 + 4200 + 3708 + 5190
    assert min(vader.labels) >= -4 and max(vader.labels) <= 4
