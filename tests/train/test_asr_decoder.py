"""The attention decoder of ``selfattn train asr``: CTC prefix scores against brute force and
CTCLoss, beam search against greedy on constructed cases, perfect posteriors, the cached
decoder against teacher forcing, the loss falling on a tiny set."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from selfattn.nn.asr_decoder import AttentionASR, CTCPrefixScorer, beam_search
from selfattn.nn.ctc import BLANK, sequence_log_prob


def _collapse(path) -> tuple[int, ...]:
    out, prev = [], None
    for p in path:
        if p != prev and p != BLANK:
            out.append(p)
        prev = p
    return tuple(out)


def _logadd(a: float, b: float) -> float:
    return b if a == -math.inf else max(a, b) + math.log1p(math.exp(-abs(a - b)))


def _grow(scorer: CTCPrefixScorer, prefix: list[int]):
    state = scorer.initial()
    for c in prefix:
        state = scorer.extend(state, torch.tensor([0]), torch.tensor([c]))
    return state


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("prefix", [[], [1], [2, 2], [1, 2, 1]])
def test_prefix_scores_equal_brute_force(seed, prefix):
    """log p(h + c ...) = log of the summed probability of every frame path whose merged
    output starts with h + c; log p(h) (<eos>) = the paths reading exactly h (= -CTCLoss)."""
    torch.manual_seed(seed)
    t, v = 5, 3
    lp = torch.randn(t, v, dtype=torch.float64).mul(2).log_softmax(-1)
    table = lp.tolist()
    scorer = CTCPrefixScorer(lp)
    state = _grow(scorer, prefix)
    starts = {c: -math.inf for c in range(1, v)}
    exact = -math.inf
    for path in itertools.product(range(v), repeat=t):
        p = sum(table[i][s] for i, s in enumerate(path))
        out = _collapse(path)
        if out == tuple(prefix):
            exact = _logadd(exact, p)
        for c in starts:
            if out[: len(prefix) + 1] == (*prefix, c):
                starts[c] = _logadd(starts[c], p)
    got = scorer.prefix_scores(state, torch.arange(1, v))[0]
    for c, want in starts.items():
        if want == -math.inf:
            assert got[c - 1] == -math.inf or got[c - 1] < -1e3
        else:
            assert float(got[c - 1]) == pytest.approx(want, abs=1e-9)
    assert float(scorer.eos_scores(state)[0]) == pytest.approx(exact, abs=1e-9)
    if prefix and len(prefix) <= t:
        assert float(scorer.eos_scores(state)[0]) == pytest.approx(sequence_log_prob(lp, prefix), abs=1e-9)


class _Table:
    """A constructed next-symbol model: log-probs by the last symbol written (a bigram)."""

    def __init__(self, table: dict[int, list[float]]) -> None:
        self.table = table

    def __call__(self, state, hyps):
        rows = [self.table[h[-1] if h else -1] for h in hyps]
        return torch.tensor(rows, dtype=torch.float64).log(), state

    def reorder(self, state, origin):
        return state


def _log_prob(table: dict[int, list[float]], seq: list[int], eos: int) -> float:
    prev, total = -1, 0.0
    for s in [*seq, eos]:
        total += math.log(table[prev][s])
        prev = s
    return total


def test_beam_beats_greedy_on_a_constructed_case():
    # ids: 0 blank (never written), 1 'a', 2 'b', 3 <eos>. Greedy takes 'a' (0.6) and then has
    # three weak choices; 'b' (0.4) is followed by <eos> at 0.95: "b" is the likeliest output.
    eos = 3
    table = {-1: [0.0, 0.6, 0.4, 1e-9], 1: [0.0, 0.34, 0.33, 0.33], 2: [0.0, 0.025, 0.025, 0.95]}
    steps = _Table(table)
    greedy = beam_search(steps, None, eos, 1, 6, length_penalty=0.0)
    beam = beam_search(steps, None, eos, 4, 6, length_penalty=0.0)
    assert greedy[0] == 1 and beam == [2]
    assert _log_prob(table, beam, eos) > _log_prob(table, greedy, eos) + 0.5


def test_beam_is_never_worse_than_greedy_on_random_bigrams():
    eos = 4
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        table = {k: [0.0, *torch.rand(4, generator=g).add(0.05).tolist()] for k in (-1, 1, 2, 3)}
        for k in table:
            s = sum(table[k])
            table[k] = [p / s for p in table[k]]
        steps = _Table(table)
        greedy = beam_search(steps, None, eos, 1, 5, length_penalty=0.0)
        beam = beam_search(steps, None, eos, 6, 5, length_penalty=0.0)
        assert _log_prob(table, beam, eos) >= _log_prob(table, greedy, eos) - 1e-12, seed


def test_length_normalisation_lets_a_longer_output_win():
    # unnormalised, "c<eos>" (0.6 * 0.5 = 0.30) beats "ab<eos>" (0.4 * 0.99 * 0.7 = 0.277);
    # per symbol (length_penalty 1) "ab<eos>" wins: log(0.277) / 3 > log(0.30) / 2
    eos, tiny = 4, 1e-9
    table = {-1: [0.0, 0.4, tiny, 0.6, tiny], 1: [0.0, tiny, 0.99, tiny, 0.01],
             2: [0.0, 0.15, 0.15, tiny, 0.7], 3: [0.0, 0.25, 0.25, tiny, 0.5]}
    steps = _Table(table)
    assert beam_search(steps, None, eos, 4, 3, length_penalty=0.0) == [3]
    assert beam_search(steps, None, eos, 4, 3, length_penalty=1.0) == [1, 2]


def _perfect_ctc(target: list[int], v: int) -> torch.Tensor:
    frames = []
    for c in target:
        frames += [c, c, BLANK]
    lp = torch.full((len(frames), v), -30.0, dtype=torch.float64)
    lp[torch.arange(len(frames)), torch.tensor(frames)] = 0.0
    return lp.log_softmax(-1)


def test_perfect_posteriors_decode_to_the_right_string():
    target, eos, v = [1, 2, 2, 3, 1], 5, 6

    class Oracle(_Table):
        def __call__(self, state, hyps):
            rows = torch.full((len(hyps), v), -40.0, dtype=torch.float64)
            for i, h in enumerate(hyps):
                rows[i, target[len(h)] if len(h) < len(target) else eos] = 0.0
            return rows.log_softmax(-1), state

    for k in (1, 4):
        assert beam_search(Oracle({}), None, eos, k, 10) == target
    # an attention model that knows nothing (uniform), a perfect CTC posterior: joint decoding
    # follows the CTC prefix scores to the string, <eos> included
    flat = _Table({-1: [1 / v] * v, **{c: [1 / v] * v for c in range(1, v)}})
    scorer = CTCPrefixScorer(_perfect_ctc(target, v - 1))
    assert beam_search(flat, None, eos, 4, 15, ctc=scorer, ctc_weight=0.5) == target


def _tiny_model(decoder: str) -> AttentionASR:
    torch.manual_seed(0)
    return AttentionASR(8, 5, 16, 1, 2, decoder=decoder, decoder_depth=1, ff=32, dropout=0.0,
                        positional="sinusoidal", pattern="window", window=4)


def test_cached_steps_equal_teacher_forcing():
    model = _tiny_model("joint").eval()
    x, mask = torch.randn(2, 40, 8), torch.ones(2, 40, dtype=torch.bool)
    mask[1, 30:] = False
    out = model(x, mask)
    prefix = torch.tensor([[6, 1, 2, 3], [6, 4, 4, 1]])
    full = model.decode(prefix, out.memory, None, out.memory_mask).log_softmax(-1)
    caches = model.start_caches(out.memory)
    for t in range(prefix.shape[1]):
        step = model.step_scores(prefix[:, t:t + 1], t, caches, out.memory_mask)
        torch.testing.assert_close(step, full[:, t], atol=1e-5, rtol=1e-5)


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only contend (10x slower on shared cores)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("decoder", ["attention", "joint"])
def test_loss_decreases_and_the_tiny_set_is_learned(decoder, one_thread):
    model = _tiny_model(decoder)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 32, 8, generator=g)
    mask = torch.ones(3, 32, dtype=torch.bool)
    mask[2, 20:] = False
    targets = torch.tensor([[1, 2, 3, 0], [4, 4, 1, 2], [3, 5, 0, 0]])
    tmask = targets > 0
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(100):
        loss = model.joint_loss(model(x, mask), mask, targets, tmask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0], losses[::20]
    model.eval()
    want = [[1, 2, 3], [4, 4, 1, 2], [3, 5]]
    assert model.transcribe(x, mask, 3) == want  # joint: the CTC prefix scores help the young decoder
    if decoder == "attention":
        assert model.transcribe(x, mask, 1) == want


def test_bad_decoder_options_are_config_errors(tmp_path):
    from train_setup import tiny_config

    from selfattn.train.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model\.decoder: expected one of \['ctc', 'attention', 'joint'\]"):
        tiny_config("asr", tmp_path / "run", "model.decoder=rnnt")
    with pytest.raises(ConfigError, match=r"model\.ctc_weight"):
        tiny_config("asr", tmp_path / "run", "model.decoder=joint", "model.ctc_weight=1.5")
