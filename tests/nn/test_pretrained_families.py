"""Every mapped family (BERT, RoBERTa, XLM-RoBERTa, ELECTRA discriminator, DistilBERT) gives
the hidden states and the gradients of its ``transformers`` model, from a tiny random-weight
checkpoint saved as safetensors; unmapped folders are refused with one clear line."""

from __future__ import annotations

import json

import pytest
import torch

from selfattn.nn.pretrained import load_pretrained
from selfattn.nn.pretrained_families import convert

transformers = pytest.importorskip("transformers")

_SIZES = dict(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
              intermediate_size=24, max_position_embeddings=24)


def _families():
    t = transformers
    return {
        "bert": (lambda: t.BertModel(t.BertConfig(**_SIZES)), 0),
        "roberta": (lambda: t.RobertaModel(t.RobertaConfig(**_SIZES, pad_token_id=1, type_vocab_size=1)), 1),
        "xlm-roberta": (lambda: t.XLMRobertaModel(t.XLMRobertaConfig(**_SIZES, pad_token_id=1)), 1),
        # the discriminator as published: a task model (electra. prefix + its head), narrower embeddings
        "electra": (lambda: t.ElectraForPreTraining(t.ElectraConfig(**_SIZES, embedding_size=8)), 0),
        "distilbert": (lambda: t.DistilBertModel(t.DistilBertConfig(
            vocab_size=40, dim=16, n_layers=2, n_heads=4, hidden_dim=24, max_position_embeddings=24,
            activation="gelu")), 0),
    }


def _base(model):
    return getattr(model, "electra", model)  # the encoder inside ElectraForPreTraining


@pytest.mark.parametrize("family", list(_families()))
def test_family_equals_transformers_outputs_and_gradients(tmp_path, family):
    build, pad = _families()[family]
    torch.manual_seed(0)
    reference = build().eval()
    reference.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    reference = reference.double()
    ours = load_pretrained(tmp_path).eval().double()
    assert ours.spec["family"] == family
    lengths = torch.tensor([11, 6, 1, 9])
    mask = torch.arange(11)[None] < lengths[:, None]
    ids = torch.randint(3, 40, (4, 11), generator=torch.Generator().manual_seed(1))
    ids = torch.where(mask, ids, pad)  # RoBERTa finds padding (and positions) from the pad id
    cotangent = torch.randn(int(mask.sum()), 16, dtype=torch.float64)
    expected = _base(reference)(input_ids=ids, attention_mask=mask.long()).last_hidden_state
    (expected[mask] * cotangent).sum().backward()
    for packed in (True, False):
        ours.zero_grad()
        got = ours(ids, mask, packed=packed)
        (got[mask] * cotangent).sum().backward()
        assert (got[mask] - expected[mask]).abs().max() < 1e-12, packed
        theirs = convert({n: p.grad for n, p in reference.named_parameters() if p.grad is not None}, ours.spec)
        for name, p in ours.named_parameters():
            if p.grad is not None:
                assert torch.allclose(p.grad, theirs[name], atol=1e-11), (packed, name)


def test_roberta_length_limit_leaves_room_for_the_offset(tmp_path):
    transformers.RobertaModel(transformers.RobertaConfig(**_SIZES, pad_token_id=1)).save_pretrained(tmp_path)
    model = load_pretrained(tmp_path)
    assert model.max_length == 22        # 24 rows, the first two before pad + 1
    with pytest.raises(ValueError, match=r"ids: expected at most 22 tokens"):
        model(torch.full((1, 23), 5))


def test_relative_positions_are_refused(tmp_path):
    config = transformers.BertConfig(**_SIZES, position_embedding_type="relative_key")
    transformers.BertModel(config).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"position_embedding_type expected 'absolute' .* got 'relative_key'"):
        load_pretrained(tmp_path)


def test_pickle_only_folder_is_refused_with_the_conversion_command(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(transformers.BertConfig(**_SIZES).to_dict()))
    marker = tmp_path / "unpickled"
    # a pickle that would create a file if anything unpickled it
    payload = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    (tmp_path / "pytorch_model.bin").write_bytes(payload)
    with pytest.raises(ValueError, match=r"pytorch_model.bin: expected model.safetensors; pickled weights are "
                                         r"never loaded .*save_pretrained"):
        load_pretrained(tmp_path)
    assert not marker.exists()


def test_unmapped_weights_name_the_missing_key(tmp_path):
    transformers.BertModel(transformers.BertConfig(**_SIZES)).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["model_type"] = "distilbert"
    config.update(dim=16, n_layers=2, n_heads=4, hidden_dim=24)
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"not a distilbert checkpoint .* missing 'transformer.layer.0"):
        load_pretrained(tmp_path)
