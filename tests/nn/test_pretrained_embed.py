"""``embed_texts`` / ``selfattn embed`` give sentence-transformers' vectors (mean pooling over
real tokens, unit length), in input order whatever the batching; the CLI names bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selfattn.cli import main
from selfattn.nn.pretrained import load_pretrained
from selfattn.train.embed import embed_texts

transformers = pytest.importorskip("transformers")

_WORDS = ["a", "the", "film", "good", "bad", "boring", "great", "plot", "actors", "slow", ",", ".", "!"]
_TEXTS = ["a good film .", "the plot is slow , the actors are boring !", "great", "", "bad bad bad film",
          "the film the plot the actors the film the plot", "good ."]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """A random 2-layer BERT with a WordPiece tokenizer, saved as transformers would."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    folder = tmp_path_factory.mktemp("tiny")
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_WORDS])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[
        ("[CLS]", 2), ("[SEP]", 3)])
    transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                         cls_token="[CLS]", sep_token="[SEP]",
                                         mask_token="[MASK]").save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=24, max_position_embeddings=32)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


def test_vectors_equal_sentence_transformers_mean_pooling_and_normalize(tiny_folder):
    st = pytest.importorskip("sentence_transformers")
    try:  # sentence-transformers >= 6 moved the modules; older releases have them in models
        from sentence_transformers.sentence_transformer import modules
    except ImportError:
        from sentence_transformers import models as modules
    reference = st.SentenceTransformer(modules=[modules.Transformer(str(tiny_folder)),
                                                modules.Pooling(16, "mean"), modules.Normalize()],
                                       device="cpu")
    expected = reference.encode(_TEXTS, convert_to_tensor=True, batch_size=3)
    got = embed_texts(tiny_folder, _TEXTS, batch_size=2)
    assert got.shape == (len(_TEXTS), 16)
    assert torch.allclose(got.norm(dim=1), torch.ones(len(_TEXTS)), atol=1e-6)
    assert (got - expected).abs().max() < 1e-5


def test_batching_by_length_keeps_input_order(tiny_folder):
    encoder = load_pretrained(tiny_folder)  # a loaded module: the folder is read once
    one_by_one = torch.cat([embed_texts(encoder, [t]) for t in _TEXTS])
    for batch_size in (1, 3, 64):
        assert torch.allclose(embed_texts(encoder, _TEXTS, batch_size=batch_size), one_by_one, atol=1e-6)
    raw = embed_texts(encoder, _TEXTS, normalize=False)
    assert not torch.allclose(raw.norm(dim=1), torch.ones(len(_TEXTS)), atol=1e-3)
    assert torch.allclose(torch.nn.functional.normalize(raw, dim=1), one_by_one, atol=1e-6)


def test_progress_bar_only_when_asked_or_on_a_terminal(tiny_folder, capsys):
    embed_texts(tiny_folder, _TEXTS)                      # stderr is not a terminal under pytest
    assert "embed" not in capsys.readouterr().err
    embed_texts(tiny_folder, _TEXTS, progress=True)
    assert "embed" in capsys.readouterr().err


def test_cli_writes_one_row_per_line_and_names_bad_input(tiny_folder, tmp_path, capsys):
    lines = tmp_path / "lines.txt"
    lines.write_text("\n".join(_TEXTS) + "\n", encoding="utf-8")
    out = tmp_path / "vectors.npy"
    assert main(["embed", str(tiny_folder), str(lines), "--out", str(out), "--batch-size", "2"]) == 0
    vectors = np.load(out)
    assert vectors.shape == (len(_TEXTS), 16)
    assert np.allclose(vectors, embed_texts(tiny_folder, _TEXTS).numpy(), atol=1e-6)
    assert main(["embed", str(tiny_folder), str(tmp_path / "missing.txt")]) == 1
    assert "error: FILE: expected a text file" in capsys.readouterr().err
    assert main(["embed", str(tiny_folder), str(lines), "--out", str(tmp_path / "v.csv")]) == 1
    assert "--out: expected a path ending in .npy or .tsv" in capsys.readouterr().err
    assert main(["embed", str(tmp_path), str(lines)]) == 1
    assert "model.pretrained: expected" in capsys.readouterr().err


def test_real_minilm_equals_sentence_transformers_when_cached():
    from selfattn.data.cache import cache_dir

    st = pytest.importorskip("sentence_transformers")
    folder = cache_dir("minilm")
    if not (folder / "modules.json").is_file():
        pytest.skip("MiniLM is not cached with its sentence-transformers files (selfattn embed minilm fetches it)")
    texts = ["Self-attention reads every word at once.", "A slow, boring film.", "What a great film!"]
    expected = st.SentenceTransformer(str(folder), device="cpu").encode(texts, convert_to_tensor=True)
    got = embed_texts("minilm", texts)
    assert (got - expected).abs().max() < 1e-5
