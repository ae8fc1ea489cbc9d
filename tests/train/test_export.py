"""selfattn.load_run and the transformers export of a fine-tuned pretrained run.

A tiny random BERT (saved by transformers itself, with a WordPiece tokenizer.json) is
fine-tuned for one epoch on the tiny sentiment file; the export must load in
``transformers.AutoModel`` with our encoder's hidden states, in the original names.
"""

from __future__ import annotations

import json

import pytest
import torch

import selfattn
from selfattn.nn.pretrained import load_pretrained
from selfattn.train import Predictor
from selfattn.train.config import resolve_config
from selfattn.train.export import Run
from selfattn.train.run import train

transformers = pytest.importorskip("transformers")
safetensors_torch = pytest.importorskip("safetensors.torch")

WORDS = ["the", "film", "is", "great", "moving", "fine", "superb", "dull", "awful", "bad", "flat", "and", "a", "man", "walks", "into", "bar"]


def _tiny_bert(folder):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2),
                                                                                              ("[SEP]", 3)])
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(folder)
    tok.save(str(folder / "tokenizer.json"))
    return folder


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, data_files):
    root = tmp_path_factory.mktemp("export")
    bert = _tiny_bert(root / "bert")
    cfg = resolve_config("sentiment-minilm", overrides=[
        f"model.pretrained={bert}", f"data.path={data_files['sentiment']}", "trainer.max_epochs=1",
        "trainer.progress=false", "trainer.num_threads=1", "run.plots=false", "optim.lr=0.01",
        f"run.dir={root / 'run'}"])
    train(cfg, log=lambda _: None)
    return bert, root / "run", root


def _padded_ids(encoder, texts):
    ids = encoder.encode_texts(texts)
    lengths = torch.tensor([len(i) for i in ids])
    padded = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True)
    return padded, torch.arange(padded.shape[1])[None] < lengths[:, None]


def test_load_run_gives_the_trained_model_and_predicts_like_the_predictor(tuned):
    _, folder, _ = tuned
    run = selfattn.load_run(folder)
    assert isinstance(run, Run) and run.classes == ["rotten", "fresh"] and not run.model.training
    assert run.config["model"]["kind"] == "pretrained" and "test_acc" in run.results
    lines = ["the film is great and moving", "the film is dull and flat"]
    got = run.predict(lines, top_k=2)
    (tmp := folder / "lines.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected = Predictor.from_run(folder).predict_file(tmp, top_k=2)
    assert [p.labels for p in got] == [p.labels for p in expected]
    for a, b in zip(got, expected, strict=True):
        assert torch.allclose(a.probabilities, b.probabilities) and abs(float(a.probabilities.sum()) - 1) < 1e-5
    with pytest.raises(TypeError, match=r"inputs: expected a file path or a list of one-line strings"):
        run.predict(["two\nlines"])


def test_export_loads_in_transformers_with_our_hidden_states(tuned):
    bert, folder, root = tuned
    run = selfattn.load_run(folder)
    out = run.export_transformers(root / "exported")
    assert {"config.json", "model.safetensors", "tokenizer.json", "selfattn_head.json",
            "selfattn_head.safetensors"} <= {p.name for p in out.iterdir()}
    hf = transformers.AutoModel.from_pretrained(out).eval()
    assert type(hf).__name__ == "BertModel"
    ids, mask = _padded_ids(run.model.encoder, ["the film is great", "a dull bar", "superb"])
    with torch.no_grad():
        expected = run.model.encoder(ids, mask)
        got = hf(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        before = transformers.AutoModel.from_pretrained(bert).eval()(input_ids=ids, attention_mask=mask.long())
    assert torch.allclose(got[mask], expected[mask], atol=1e-5)
    # the export holds the fine-tuned numbers, not the checkpoint it started from
    assert not torch.allclose(before.last_hidden_state[mask], expected[mask], atol=1e-3)
    # the head beside it turns those hidden states into the run's own outputs
    with torch.no_grad():
        assert torch.allclose(run.model.head(got, mask), run.model(ids, mask), atol=1e-5)
    about = json.loads((out / "selfattn_head.json").read_text())
    assert about["classes"] == ["rotten", "fresh"] and about["pooling"] == "mean" and about["not_exported"] == []


def test_export_is_the_exact_inverse_of_load_pretrained_in_the_original_names(tuned):
    bert, folder, root = tuned
    run = selfattn.load_run(folder)
    out = run.export_transformers(root / "exported-2")
    exported = safetensors_torch.load_file(str(out / "model.safetensors"))
    original = safetensors_torch.load_file(str(bert / "model.safetensors"))
    assert set(exported) == set(original)
    for name, value in load_pretrained(out).state_dict().items():
        assert torch.equal(value, run.model.encoder.state_dict()[name]), name
    # the obvious twin for one layer: q, k, v are the thirds of our fused in_proj
    fused = run.model.encoder.state_dict()["layers.1.self_attn.in_proj.weight"]
    for i, part in enumerate(("query", "key", "value")):
        assert torch.equal(exported[f"encoder.layer.1.attention.self.{part}.weight"], fused[16 * i:16 * (i + 1)])
    # weights the encoder does not use keep their checkpoint values
    assert torch.equal(exported["pooler.dense.weight"], original["pooler.dense.weight"])


def test_only_pretrained_runs_export(tmp_path):
    run = Run(tmp_path, {"model": {"kind": "transformer"}, "task": "pos"}, None, {}, {}, torch.nn.Linear(1, 1))
    with pytest.raises(ValueError, match=r"export_transformers needs a run of model.kind='pretrained'.*'transformer'"):
        run.export_transformers(tmp_path / "out")
    with pytest.raises(FileNotFoundError, match=r"RUN: expected .*config.yaml"):
        selfattn.load_run(tmp_path)


def test_export_of_the_real_minilm_checkpoint(tmp_path):
    """all-MiniLM-L6-v2 as a fine-tuned encoder would leave it (every weight moved): the export
    loads in AutoModel with its hidden states, in the checkpoint's own 103 names, pooler kept."""
    import os

    from selfattn.data.cache import cache_dir
    from selfattn.train.tasks.pretrained_models import pretrained_folder

    if not (cache_dir("minilm") / "model.safetensors").is_file() and os.environ.get("SELFATTN_TEST_FETCH") != "all":
        pytest.skip("MiniLM is not cached (83 MB; selfattn train sentiment-minilm or SELFATTN_TEST_FETCH=all fetches it)")
    folder = pretrained_folder("minilm")
    encoder = load_pretrained(folder).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in encoder.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 1e-2)
    model = torch.nn.Module()
    model.encoder, model.head = encoder, torch.nn.Linear(encoder.width, 2)
    run = Run(tmp_path, {"model": {"kind": "pretrained", "pretrained": "minilm", "pooling": "mean"},
                         "task": "sentiment"}, None, {"task": "set", "target": "class"}, {}, model, ["rotten", "fresh"])
    out = run.export_transformers(tmp_path / "exported")
    exported = safetensors_torch.load_file(str(out / "model.safetensors"))
    original = safetensors_torch.load_file(str(folder / "model.safetensors"))
    assert set(exported) == set(original)
    assert torch.equal(exported["pooler.dense.weight"], original["pooler.dense.weight"])
    (ids,) = encoder.encode_texts(["Self-attention reads every word of the sentence at once."])
    with torch.no_grad():
        got = transformers.AutoModel.from_pretrained(out).eval()(input_ids=ids[None]).last_hidden_state
        assert torch.allclose(got, encoder(ids[None]), atol=1e-4)
        before = transformers.AutoModel.from_pretrained(folder).eval()(input_ids=ids[None]).last_hidden_state
    assert not torch.allclose(got, before, atol=1e-2)
