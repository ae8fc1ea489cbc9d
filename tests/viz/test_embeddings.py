"""Word embeddings in 2-D: the within- vs between-group similarity is a number that can fail."""

from __future__ import annotations

import json

import numpy as np
import pytest

from selfattn.cli import main
from selfattn.data import is_cached
from selfattn.train import load_run
from selfattn.viz.embeddings import (
    embeddings_figure,
    group_similarity,
    parse_groups,
    project,
    run_vectors,
)


def test_separable_groups_cluster_and_shuffled_ones_do_not():
    rng = np.random.default_rng(0)
    centres = np.eye(3, 16) * 4.0
    groups = np.repeat(np.arange(3), 6)
    vectors = centres[groups] + rng.normal(0.0, 0.5, (18, 16))
    stats = group_similarity(vectors, groups)
    assert stats["within"] > stats["between"] + 0.5
    assert stats["centroid_accuracy"] == 1.0 and stats["chance"] == pytest.approx(1 / 3)
    # the same three vectors in each of two groups: a word's twin is in the *other* group
    twins = rng.normal(size=(3, 8))
    mixed = group_similarity(np.concatenate([twins, twins]), np.array([0, 0, 0, 1, 1, 1]))
    assert mixed["within"] < mixed["between"] and mixed["gap"] < 0
    assert mixed["centroid_accuracy"] == 0.0


def test_projection_keeps_the_largest_spread():
    x = np.zeros((6, 5))
    x[:, 3] = np.arange(6) * 10.0   # the direction of largest variance
    x[:, 1] = [1, -1, 0, 0, -1, 1]  # uncorrelated with it, smaller
    xy = project(x, "pca")
    assert np.ptp(xy[:, 0]) == pytest.approx(50.0) and np.ptp(xy[:, 1]) == pytest.approx(2.0)


def test_bad_groups_and_vectors_are_named():
    with pytest.raises(ValueError, match="--words: expected GROUP=word,word"):
        parse_groups(["animals:dog,cat"])
    with pytest.raises(ValueError, match="--words: expected at least two groups"):
        parse_groups(["animals=dog,cat"])
    assert parse_groups(["a=Dog, cat", "b=one,two"]) == {"a": ["dog", "cat"], "b": ["one", "two"]}
    with pytest.raises(ValueError, match="groups: expected at least two groups of at least two words"):
        group_similarity(np.ones((3, 2)), [0, 0, 1])
    with pytest.raises(ValueError, match=r"vectors: rows \[1\] are zero"):
        group_similarity(np.array([[1.0, 0], [0, 0], [1, 1], [0, 1]]), [0, 0, 1, 1])
    with pytest.raises(ValueError, match="method: expected 'pca' or 'tsne'"):
        project(np.ones((4, 3)), "umap")


def test_learned_table_rows_from_a_run(pos_run, tmp_path, capsys, image_run):
    words = ["dog", "cat", "book", "zebra", "sees", "likes", "opens"]
    found, vectors, what = run_vectors(pos_run, words)
    assert found == ["dog", "cat", "book", "sees", "likes", "opens"]  # "zebra" was never seen
    _, _, _, state, model = load_run(pos_run)
    table = model.embed.tables[0].weight.detach().numpy()
    vocab = state["fields"].vocabs[0]
    np.testing.assert_array_equal(vectors, table[[vocab.id(w) for w in found]])
    assert "word field (16-d" in what
    out = tmp_path / "emb.png"
    args = ["viz", "embeddings", str(out), "--no-glove", "--run", str(pos_run), "--words",
            "nouns=dog,cat,book,house", "verbs=sees,likes,opens", "det=the,a,every"]
    assert main(args) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    (stats,) = report["sources"].values()
    assert stats["words"] == 10 and stats["missing"] == []
    assert stats["gap"] == pytest.approx(stats["within"] - stats["between"])
    assert out.read_bytes()[:4] == b"\x89PNG" and json.loads(capsys.readouterr().out)["method"] == "pca"
    with pytest.raises(ValueError, match=r"RUN: .* has no word vocabulary"):
        run_vectors(image_run, words)


@pytest.mark.skipif(not is_cached("glove-6b-50d"), reason="GloVe 6B not cached (selfattn data get glove-6b-50d)")
def test_glove_words_cluster_by_kind(tmp_path):
    report = embeddings_figure(tmp_path / "glove.png")
    stats = report["sources"]["GloVe 6B (50-d)"]
    assert stats["within"] > stats["between"] + 0.1
    assert stats["centroid_accuracy"] > 0.8 > stats["chance"]
