import numpy as np
import pytest
import torch

from selfattn.data import (
    Vocabulary,
    encode_subwords,
    glove_embedding,
    load_subword_tokenizer,
    one_hot,
    train_subword_tokenizer,
)
from selfattn.data.glove import load_glove

CORPUS = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog",
          "tokenization of unusual words", "the mat and the log"] * 4


def test_vocabulary_build_encode_decode_unknown_and_pad():
    vocab = Vocabulary.build([s.split() for s in CORPUS], min_freq=2)
    assert vocab.tokens[:2] == ["<pad>", "<unk>"] and vocab.pad_id == 0 and vocab.unk_id == 1
    assert vocab.tokens[2] == "the"  # most frequent first
    ids = vocab.encode(["the", "zebra", "cat"])
    assert ids.dtype == torch.long and ids.tolist() == [2, 1, vocab.id("cat")]
    assert vocab.decode(ids) == ["the", "<unk>", "cat"]
    with pytest.raises(ValueError, match=r"ids: expected values in"):
        vocab.decode([len(vocab)])


def test_vocabulary_without_unk_raises_and_round_trips(tmp_path):
    tags = Vocabulary(["NN", "VB"], specials=())
    assert tags.encode(["VB", "NN"]).tolist() == [1, 0]
    with pytest.raises(KeyError, match=r"'JJ': not in the vocabulary"):
        tags.encode(["JJ"])
    vocab = Vocabulary.build([s.split() for s in CORPUS])
    vocab.save(tmp_path / "vocab.txt")
    again = Vocabulary.load(tmp_path / "vocab.txt")
    assert again.tokens == vocab.tokens and again.specials == vocab.specials


def test_one_hot_sparse_equals_dense_and_embedding_lookup():
    ids = torch.tensor([3, 0, 3, 9])
    sparse, dense = one_hot(ids, 10), one_hot(ids, 10, sparse=False)
    assert sparse.is_sparse and sparse._nnz() == 4 and dense.shape == (4, 10)
    assert torch.equal(sparse.to_dense(), dense)
    assert dense.sum(1).tolist() == [1, 1, 1, 1] and dense[0, 3] == 1
    weight = torch.randn(10, 5)
    assert torch.allclose(torch.sparse.mm(sparse, weight), weight[ids])
    with pytest.raises(ValueError, match=r"ids: expected values in \[0, 10\)"):
        one_hot(torch.tensor([10]), 10)
    with pytest.raises(TypeError, match=r"ids: expected an integer dtype"):
        one_hot(torch.tensor([1.0]), 10)


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
def test_subword_tokenizer_trains_saves_and_loads(kind, tmp_path):
    pytest.importorskip("tokenizers")
    tokenizer = train_subword_tokenizer(CORPUS, kind=kind, vocab_size=60, min_frequency=1)
    assert tokenizer.token_to_id("<pad>") == 0 and tokenizer.token_to_id("<unk>") == 1
    assert tokenizer.get_vocab_size() <= 60
    ids = encode_subwords(tokenizer, "the cat tokenized")
    assert ids.dtype == torch.long and len(ids) >= 3
    assert 1 not in ids.tolist()  # every letter was seen: no unknowns, rare words split
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    again = load_subword_tokenizer(tmp_path / "tokenizer.json")
    assert torch.equal(encode_subwords(again, "the cat tokenized"), ids)
    with pytest.raises(FileNotFoundError, match=r"path: expected a saved tokenizer"):
        load_subword_tokenizer(tmp_path / "missing.json")


def _fake_glove(folder):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    words = ["the", "king", "queen", "cat"]
    vectors = np.arange(4 * 3, dtype=np.float32).reshape(4, 3)
    np.save(folder / "glove_6B_50d_emb.npy", vectors)
    pq.write_table(pa.table({"index": words}), folder / "glove_6B_index.parquet")
    return vectors


def test_glove_embedding_frozen_and_trainable(tmp_path):
    vectors = _fake_glove(tmp_path)
    vocab = Vocabulary(["King", "cat", "zebra"])
    frozen, report = glove_embedding(vocab, freeze=True, path=tmp_path)
    assert report == {"found": 2, "missing": 1}
    assert torch.equal(frozen.weight[vocab.id("King")], torch.from_numpy(vectors[1]))
    assert bool((frozen.weight[vocab.pad_id] == 0).all())
    assert not frozen.weight.requires_grad
    trainable, _ = glove_embedding(vocab, freeze=False, path=tmp_path)
    assert trainable.weight.requires_grad
    with pytest.raises(FileNotFoundError, match=r"glove_6B_50d_emb.npy"):
        load_glove(tmp_path / "nowhere")


def test_real_glove_neighbours_of_king(real_data):
    folder = real_data("glove-6b-50d")
    pytest.importorskip("pyarrow")
    words, vectors = load_glove(folder)
    assert len(words) == 400_000 and vectors.shape == (400_000, 50)
    table = torch.from_numpy(np.array(vectors[:5000]))
    king = table[words.index("king")]
    nearest = torch.nn.functional.cosine_similarity(table, king[None]).topk(4).indices.tolist()
    assert {"prince", "queen"} <= {words[i] for i in nearest}
