"""Sequence to sequence: teacher forcing is causal, the key/value cache changes nothing,
beam search of width 1 is greedy decoding, a shared source table is the target's."""

from __future__ import annotations

import pytest
import torch

from selfattn.nn.seq2seq import Seq2Seq

V_SRC, V_TGT, BOS, EOS = 20, 15, 2, 3


def _model(norm="pre", seed=0, shared=False):
    """A float64 model: these tests compare two evaluation orders of the same formula (cache
    or not, beam 1 or greedy), which float32 rounding (~1e-6 on these scores) could flip."""
    torch.manual_seed(seed)
    vocab = V_TGT if shared else V_SRC
    return Seq2Seq({"kind": "tokens", "vocab_sizes": [vocab]}, V_TGT, width=16, heads=4, depth=2,
                   decoder_depth=2, dropout=0.0, norm=norm, bos_id=BOS, eos_id=EOS,
                   share_source_embedding=shared).double().eval()


def _src(vocab=V_SRC):
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, vocab, (3, 7), generator=g)
    mask = torch.arange(7)[None] < torch.tensor([7, 4, 1])[:, None]
    return src.masked_fill(~mask, 0), mask


def test_teacher_forcing_scores_do_not_see_the_future():
    model = _model()
    src, mask = _src()
    tgt = torch.randint(4, V_TGT, (3, 6), generator=torch.Generator().manual_seed(2))
    tgt[:, 0] = BOS
    out = model(src, mask, tgt)
    assert out.shape == (3, 6, V_TGT)
    changed = tgt.clone()
    changed[:, 4:] = 5
    again = model(src, mask, changed)
    assert torch.allclose(out[:, :4], again[:, :4], rtol=1e-12, atol=1e-12)
    assert not torch.allclose(out[:, 4:], again[:, 4:])


@pytest.mark.parametrize(("norm", "shared"), [("pre", False), ("post", False), ("pre", True)])
def test_kv_cache_gives_the_same_scores_as_rerunning_the_prefix(norm, shared):
    model = _model(norm, shared=shared)
    src, mask = _src(V_TGT if shared else V_SRC)
    memory = model.encode(src, mask)
    caches = model.start(memory)
    prefix = torch.full((3, 1), BOS)
    for step in range(8):
        with_cache = model.next_scores(prefix, memory, mask, caches)
        without = model.next_scores(prefix, memory, mask)
        assert torch.allclose(with_cache, without, rtol=1e-12, atol=1e-12), step
        prefix = torch.cat([prefix, torch.randint(4, V_TGT, (3, 1))], 1)
    assert caches[0]["k"].shape == (3, 4, 8, 4)      # (B, H, steps, head_dim)


@pytest.mark.parametrize(("beam", "shared"), [(1, False), (3, False), (3, True)])
def test_decoding_with_and_without_cache_is_identical(beam, shared):
    model = _model(shared=shared)
    src, mask = _src(V_TGT if shared else V_SRC)
    assert model.generate(src, mask, beam_size=beam, max_len=12, cache=True) == \
        model.generate(src, mask, beam_size=beam, max_len=12, cache=False)


def test_beam_of_one_is_greedy_and_wider_beams_score_at_least_as_well():
    model = _model(seed=3)
    src, mask = _src()
    greedy = []
    for b in range(3):                    # literal greedy: argmax at every step, one set at a time
        memory = model.encode(src[b:b + 1], mask[b:b + 1])
        prefix = torch.tensor([[BOS]])
        for _ in range(12):
            token = int(model.next_scores(prefix, memory, mask[b:b + 1]).argmax())
            if token == EOS:
                break
            prefix = torch.cat([prefix, torch.tensor([[token]])], 1)
        greedy.append(prefix[0, 1:].tolist())
    assert model.generate(src, mask, beam_size=1, max_len=12) == greedy


def test_generate_stops_at_eos_and_checks_beam_size():
    model = _model()
    with torch.no_grad():
        model.tgt_embed.weight.zero_()
        model.tgt_embed.weight[EOS] = 5.0       # tied output layer: <eos> scores 5 * sum(h) ...
        model.norm.bias.fill_(1.0)              # ... and the final norm makes sum(h) = width
    src, mask = _src()
    assert model.generate(src, mask, beam_size=2, max_len=5) == [[], [], []]
    with pytest.raises(ValueError, match="beam_size: expected >= 1, got 0"):
        model.generate(src, mask, beam_size=0)


def test_shared_source_embedding_reads_the_target_table():
    model = _model(shared=True)
    assert model.src_embed is None
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in _model().parameters())
    src, mask = _src(V_TGT)
    memory = model.encode(src, mask)
    with torch.no_grad():  # the source's first token changes with its target row
        # not by a constant: the layer norms remove a shift of all d entries exactly (it used
        # to be += 1.0, which changed the encoding only by float32 rounding, ~1e-7)
        model.tgt_embed.weight[int(src[0, 0])] += torch.linspace(-1, 1, 16, dtype=torch.float64)
    assert not torch.allclose(model.encode(src, mask)[0], memory[0])
    untouched = (src != src[0, 0]).all(1)          # sets without that token: unchanged
    assert untouched.any()
    assert torch.allclose(model.encode(src, mask)[untouched], memory[untouched], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"share_source_embedding: expected source tokens of one field"):
        Seq2Seq({"kind": "tokens", "vocab_sizes": [V_SRC]}, V_TGT, width=16, heads=4, depth=1,
                decoder_depth=1, share_source_embedding=True)
    with pytest.raises(TypeError, match=r"src: expected int ids \(B, S\)"):
        model.encode(src.float(), mask)
