"""``load_pretrained``: a Hugging Face BERT folder gives our encoder the same hidden states."""

from __future__ import annotations

import json

import pytest
import torch

from selfattn.nn.pretrained import load_pretrained

transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize("act", ["gelu", "gelu_new"])
def test_hidden_states_equal_transformers_bert(tmp_path, act):
    config = transformers.BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=48, max_position_embeddings=24, hidden_act=act)
    torch.manual_seed(0)
    reference = transformers.BertModel(config).eval()
    reference.save_pretrained(tmp_path)
    ours = load_pretrained(tmp_path).eval()
    ids = torch.randint(1, 60, (3, 10), generator=torch.Generator().manual_seed(1))
    mask = torch.arange(10)[None] < torch.tensor([10, 6, 1])[:, None]
    types = (torch.arange(10)[None] >= 3).long().expand(3, -1)
    expected = reference(input_ids=ids, attention_mask=mask.long(), token_type_ids=types).last_hidden_state
    got = ours(ids, mask, token_type_ids=types)
    assert torch.allclose(got[mask], expected[mask], atol=1e-5)
    weights = ours(ids, mask, return_weights=True)[1]
    assert len(weights) == 2 and weights[0].shape == (3, 4, 10, 10)


def test_bad_checkpoint_folders_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"path: expected config.json in the checkpoint folder"):
        load_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match=r"model_type expected one of \['bert', .*\], got 'gpt2'"):
        load_pretrained(tmp_path)
    config = transformers.BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=8, max_position_embeddings=8)
    model = load_pretrained_like(tmp_path / "b", config)
    with pytest.raises(ValueError, match=r"ids: expected at most 8 tokens"):
        model(torch.ones(1, 9, dtype=torch.long))


def load_pretrained_like(folder, config):
    transformers.BertModel(config).save_pretrained(folder)
    return load_pretrained(folder)


def test_real_minilm_checkpoint_when_cached():
    from selfattn.data.cache import cache_dir

    folder = cache_dir("minilm")
    if not (folder / "model.safetensors").is_file():
        pytest.skip("MiniLM is not cached (selfattn train sentiment-minilm fetches it, 83 MB)")
    ours = load_pretrained(folder).eval()
    reference = transformers.BertModel.from_pretrained(folder).eval()
    (ids,) = ours.encode_texts(["Self-attention reads every word of the sentence at once."])
    with torch.no_grad():
        expected = reference(input_ids=ids[None]).last_hidden_state
        got = ours(ids[None])
    assert ids[0] == 101 and ids[-1] == 102                # [CLS] ... [SEP]
    assert torch.allclose(got, expected, atol=1e-4)
