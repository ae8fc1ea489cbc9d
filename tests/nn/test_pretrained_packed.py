"""The packed PretrainedEncoder equals its padded twin and ``transformers.BertModel``:
outputs on real tokens and every parameter's gradient, over random lengths (0 and 1
included), masks with gaps, and dtypes."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfattn.nn.pretrained import PretrainedEncoder, load_pretrained
from selfattn.nn.pretrained_families import convert
from selfattn.varlen import lengths_to_offsets

transformers = pytest.importorskip("transformers")

_CONFIG = dict(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
               intermediate_size=24, max_position_embeddings=20)


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bert")
    torch.manual_seed(0)
    transformers.BertModel(transformers.BertConfig(**_CONFIG)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def bert_model(bert_folder):
    return load_pretrained(bert_folder).eval()


def _batch(lengths: list[int], width: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    mask = torch.arange(width)[None] < torch.tensor(lengths)[:, None]
    ids = torch.randint(1, 50, (len(lengths), width), generator=g) * mask  # pad id 0
    types = torch.randint(0, 2, ids.shape, generator=g) * mask
    return ids, mask, types


def _grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _run(model, ids, mask, types, cotangent, **kw):
    model.zero_grad()
    out = model(ids, mask, token_type_ids=types, **kw)
    (out[mask] * cotangent).sum().backward()
    return out[mask].detach(), _grads(model)


@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lengths=st.lists(st.integers(0, 12), min_size=1, max_size=5),
       dtype=st.sampled_from([torch.float64, torch.float32, torch.bfloat16]), seed=st.integers(0, 99))
def test_packed_equals_padded_outputs_and_gradients(bert_model, lengths, dtype, seed):
    model = copy.deepcopy(bert_model).to(dtype)
    width = max(max(lengths), 1)
    ids, mask, types = _batch(lengths, width, seed)
    cotangent = torch.randn(int(mask.sum()), 16, generator=torch.Generator().manual_seed(seed)).to(dtype)
    out_p, grad_p = _run(model, ids, mask, types, cotangent, packed=True)
    out_d, grad_d = _run(model, ids, mask, types, cotangent, packed=False)
    tol = {torch.float64: 1e-10, torch.float32: 1e-4, torch.bfloat16: 0.15}[dtype]
    assert (out_p.float() - out_d.float()).abs().max() <= tol if out_p.numel() else True
    assert grad_p.keys() == grad_d.keys()
    for name in grad_d:
        scale = max(1.0, float(grad_d[name].abs().max()))
        diff = float((grad_p[name].float() - grad_d[name].float()).abs().max())
        assert diff <= tol * scale * (8 if dtype == torch.bfloat16 else 1), name


def test_packed_equals_transformers_outputs_and_gradients(bert_folder):
    reference = transformers.BertModel.from_pretrained(bert_folder).eval().double()
    ours = load_pretrained(bert_folder).eval().double()
    ids, mask, types = _batch([12, 7, 1, 0, 9], 12, seed=3)
    cotangent = torch.randn(int(mask.sum()), 16, dtype=torch.float64)
    out, grads = _run(ours, ids, mask, types, cotangent)
    expected = reference(input_ids=ids, attention_mask=mask.long(), token_type_ids=types).last_hidden_state
    (expected[mask] * cotangent).sum().backward()
    assert (out - expected[mask]).abs().max() < 1e-12
    theirs = convert({n: p.grad for n, p in reference.named_parameters() if p.grad is not None}, ours.spec)
    assert set(theirs) == set(grads)
    for name, g in grads.items():
        assert torch.allclose(g, theirs[name], atol=1e-11), name


def test_masks_with_gaps_and_padding_first_keep_column_positions(bert_folder):
    """BERT's positions are the column, so a left-padded row and a row with a hole give the
    padded twin's values on the real tokens (packing keeps the columns)."""
    model = load_pretrained(bert_folder).eval().double()
    ids, _, types = _batch([10, 10, 10], 10, seed=5)
    mask = torch.ones(3, 10, dtype=torch.bool)
    mask[0, :4] = False        # left padding
    mask[1, 3:6] = False       # a hole
    got = model(ids, mask, token_type_ids=types)[mask]
    assert torch.allclose(got, model(ids, mask, token_type_ids=types, packed=False)[mask], atol=1e-12)


def test_encode_packed_takes_packed_ids_and_gives_the_padded_rows(bert_folder):
    model = load_pretrained(bert_folder).eval().double()
    ids, mask, _ = _batch([6, 3, 5], 6, seed=2)
    offsets = lengths_to_offsets(mask.sum(1))
    packed = model.encode_packed(ids[mask], offsets)
    assert packed.shape == (14, 16)
    assert torch.allclose(packed, model(ids, mask, packed=False)[mask], atol=1e-12)
    with pytest.raises(ValueError, match=r"offsets: expected offsets\[-1\] == 14"):
        model.encode_packed(ids[mask], torch.tensor([0, 6, 9]))
    with pytest.raises(ValueError, match=r"offsets: expected sets of at most 20 tokens"):
        model.encode_packed(torch.ones(21, dtype=torch.long), torch.tensor([0, 21]))


def test_training_mode_packed_trains_and_padded_slots_are_zero():
    """Dropout on: the packed path still returns exact zeros at padded slots and learns."""
    torch.manual_seed(0)
    model = PretrainedEncoder(transformers.BertConfig(**_CONFIG).to_dict()).train()
    ids, mask, _ = _batch([8, 2], 8, seed=1)
    out = model(ids, mask)
    assert out.shape == (2, 8, 16) and bool((out[~mask] == 0).all()) and bool((out[mask] != 0).any())
    out.pow(2).sum().backward()
    assert model.layers[0].self_attn.in_proj.weight.grad.abs().sum() > 0
