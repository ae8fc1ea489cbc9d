"""selfattn.bench.timing: the order contenders run in, and what is timed, with fake clocks."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfattn.bench.timing import interleaved, median, shuffled_rounds, summarize


class FakeClock:
    """A clock that a contender advances by a known number of seconds when it runs."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def contenders(clock: FakeClock, costs: dict[str, list[float]], log: list[str]):
    """Contenders that log their name and advance ``clock`` by their next cost."""
    def make(name: str):
        it = iter(costs[name])

        def fn() -> None:
            log.append(name)
            clock.now += next(it)
        return fn
    return {name: make(name) for name in costs}


def test_warmup_then_round_robin_in_mapping_order():
    clock, log = FakeClock(), []
    fns = contenders(clock, {"a": [9, 1, 2, 3], "b": [9, 4, 5, 6], "c": [9, 7, 8, 9]}, log)
    times = interleaved(fns, rounds=3, warmup=1, clock=clock)
    assert log == ["a", "b", "c"] * 4  # one warm-up round, then three timed rounds
    assert times == {"a": [1, 2, 3], "b": [4, 5, 6], "c": [7, 8, 9]}  # warm-up not timed


def test_no_warmup_names_skip_the_warmup_only():
    clock, log = FakeClock(), []
    fns = contenders(clock, {"fast": [1, 1, 1], "slow": [5]}, log)
    times = interleaved(fns, rounds=1, warmup=2, no_warmup={"slow"}, clock=clock)
    assert log == ["fast", "fast", "fast", "slow"]
    assert times == {"fast": [1], "slow": [5]}


def test_budget_stops_after_min_rounds():
    clock, log = FakeClock(), []
    fns = contenders(clock, {"a": [10] * 10}, log)
    times = interleaved(fns, rounds=10, warmup=0, budget_s=15, min_rounds=3, clock=clock)
    assert times["a"] == [10, 10, 10]  # over budget after round 2, but 3 rounds kept
    clock2, log2 = FakeClock(), []
    times = interleaved(contenders(clock2, {"a": [1] * 10}, log2), rounds=10, warmup=0,
                        budget_s=100, clock=clock2)
    assert len(times["a"]) == 10  # within budget: every round


def test_bad_round_counts_are_named():
    with pytest.raises(ValueError, match="rounds: expected at least 1, got 0"):
        interleaved({"a": lambda: None}, rounds=0)
    with pytest.raises(ValueError, match="min_rounds"):
        shuffled_rounds({"a": lambda: None}, rounds=2, budget_s=1, min_rounds=0)


def test_shuffled_rounds_run_each_contender_once_per_round_in_a_seeded_order():
    def run(seed):
        clock, cpu, log = FakeClock(), FakeClock(), []
        costs = {n: [i + 1.0] * 6 for i, n in enumerate("abcd")}
        fns = contenders(clock, costs, log)
        return shuffled_rounds(fns, rounds=6, budget_s=1e9, seed=seed, clock=clock, cpu_clock=cpu), log
    (cpu, wall), log = run(0)
    rounds = [log[i:i + 4] for i in range(0, 24, 4)]
    assert all(sorted(r) == list("abcd") for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1  # the order changes between rounds
    assert run(0)[1] == log  # the same seed gives the same orders
    assert run(1)[1] != log
    assert wall == {n: [i + 1.0] * 6 for i, n in enumerate("abcd")}
    assert cpu == {n: [0.0] * 6 for n in "abcd"}  # the fake CPU clock never moved


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.0, 1e3, allow_nan=False), min_size=1, max_size=9))
def test_median_and_summary_of_known_times(xs):
    assert median(xs) == pytest.approx(statistics.median(xs))
    s = summarize({"x": xs})["x"]
    assert s == {"median_s": pytest.approx(statistics.median(xs)), "min_s": min(xs), "rounds": len(xs)}
    clock, log = FakeClock(), []
    times = interleaved(contenders(clock, {"x": xs}, log), rounds=len(xs), warmup=0, clock=clock)
    assert times["x"] == pytest.approx(xs)
