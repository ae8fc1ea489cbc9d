"""CTC: subsampling lengths, greedy and prefix beam decoding, batch independence."""

from __future__ import annotations

import math

import pytest
import torch

from selfattn.nn.ctc import (
    BLANK,
    CTCModel,
    beam_decode,
    greedy_decode,
    sequence_log_prob,
    subsampled_lengths,
)


def _posterior(path: list[int], vocab: int, sharp: float = 0.99) -> torch.Tensor:
    """``(T, V)`` log-probs putting ``sharp`` on each frame's symbol of ``path``."""
    p = torch.full((len(path), vocab), (1 - sharp) / (vocab - 1), dtype=torch.float64)
    p[torch.arange(len(path)), torch.tensor(path)] = sharp
    return p.log()


def test_perfect_posterior_decodes_to_the_string():
    # "hello": h e l l o, a blank between the two l's, repeats and blanks around
    h, e, l, o = 1, 2, 3, 4
    path = [BLANK, h, h, e, BLANK, l, l, BLANK, l, o, o, BLANK]
    lp = _posterior(path, 5)
    assert greedy_decode(lp[None]) == [[h, e, l, l, o]]
    assert beam_decode(lp, beam_size=4) == [h, e, l, l, o]
    # lengths cut the decoding: frames after 5 are padding
    assert greedy_decode(lp[None], torch.tensor([5])) == [[h, e]]


def test_beam_finds_a_likelier_string_than_greedy():
    # two frames, P(blank) = 0.6 each: greedy reads "", but P("a") = 1 - 0.36 = 0.64 > 0.36
    lp = torch.tensor([[0.6, 0.4], [0.6, 0.4]], dtype=torch.float64).log()
    greedy = greedy_decode(lp[None])[0]
    beam = beam_decode(lp, beam_size=2)
    assert greedy == [] and beam == [1]
    assert sequence_log_prob(lp, beam) > sequence_log_prob(lp, greedy)
    assert math.isclose(math.exp(sequence_log_prob(lp, beam)), 0.64, rel_tol=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_beam_is_never_worse_than_greedy(seed):
    g = torch.Generator().manual_seed(seed)
    lp = (torch.randn(12, 4, generator=g, dtype=torch.float64) * 1.5).log_softmax(-1)
    greedy, beam = greedy_decode(lp[None])[0], beam_decode(lp, beam_size=16, prune=-1e9)
    assert sequence_log_prob(lp, beam) >= sequence_log_prob(lp, greedy) - 1e-9


def test_subsampling_lengths_and_batch_independence():
    assert subsampled_lengths(torch.tensor([1, 4, 5, 8, 9, 100])).tolist() == [1, 1, 2, 2, 3, 25]
    torch.manual_seed(0)
    model = CTCModel(20, 6, 16, 1, 2, ff=32, dropout=0.0, pattern="window", window=2).eval()
    x = torch.randn(2, 37, 20)
    mask = torch.ones(2, 37, dtype=torch.bool)
    mask[1, 21:] = False
    out = model(x, mask)
    assert out.shape == (2, 10, 7)
    assert model.output_lengths(mask).tolist() == [10, 6]
    alone = model(x[1:, :21], mask[1:, :21])
    torch.testing.assert_close(out[1, :6], alone[0], atol=1e-5, rtol=1e-5)
    hyps = model.transcribe(x, mask, beam_size=3)
    assert len(hyps) == 2 and all(BLANK not in h for h in hyps)


def test_loss_decreases_on_one_batch():
    torch.manual_seed(0)
    model = CTCModel(10, 4, 16, 1, 2, ff=32, dropout=0.0)
    x = torch.randn(3, 40, 10)
    mask = torch.ones(3, 40, dtype=torch.bool)
    targets = torch.tensor([[1, 2, 3], [2, 2, 0], [4, 0, 0]])
    tmask = targets > 0
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = model.loss(model(x, mask), mask, targets, tmask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
