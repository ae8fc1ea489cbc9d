"""Ring and halo attention on spawned gloo process groups equal single-process attention.

Each test forks its ranks once (``ring_cases.run_spawned``, bounded in time) and runs many
cases inside: dense, causal (contiguous and zigzag shards), ``key_lengths`` (a batch row
with no key at all, a rank whose whole shard is padding), uneven and empty shards,
``Dv != D``, packed sets spanning ranks, window patterns through the halo exchange; outputs
and dQ, dK, dV within 1e-12 (float64) and 1e-5 (float32). Forked, not spawned: a spawned
rank re-imports torch, 10-25 s on the shared 2-core machine, a forked one starts at once.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from ring_cases import check_dense, check_half, check_packed, check_two_layers, run_spawned

from selfattn.distributed import (
    halo_plan,
    layout_from_lengths,
    reset_traffic,
    ring_attention,
    shard_runs,
    shard_sequence,
    traffic,
    unshard_sequence,
)
from selfattn.patterns import WindowPattern

DTYPES = (torch.float64, torch.float32)


def _fixed_cases(rank: int, world: int) -> None:
    n = 8 * world
    for dt in DTYPES:
        check_dense(rank, world, dtype=dt, length=n, label="dense")
        check_dense(rank, world, dtype=dt, length=n, causal=True, label="causal")
        check_dense(rank, world, dtype=dt, length=n, causal=True, sharding="zigzag", label="zigzag")
        check_dense(rank, world, dtype=dt, length=n + 3, causal=True, sharding="zigzag", label="zigzag uneven")
        # batch row 0 has no key (all its rows must be zeros); row 1's keys end in rank 0
        check_dense(rank, world, dtype=dt, length=n, key_lengths=[0, 5], label="padding")
        check_dense(rank, world, dtype=dt, length=n, causal=True, key_lengths=[3, n], sharding="zigzag",
                    label="causal padding")
        check_dense(rank, world, dtype=dt, length=n, dv=5, label="Dv != D")
        check_dense(rank, world, dtype=dt, d=6, dv=9, length=n, causal=True, label="Dv > D")
        check_dense(rank, world, dtype=dt, length=n - 1, causal=True, label="uneven last shard")
        uneven = [7] + [0] * (world - 2) + [n - 7]  # an empty shard between two others
        check_dense(rank, world, dtype=dt, length=n, causal=True, lengths=uneven, label="empty shard")
        check_dense(rank, world, dtype=dt, length=n, pattern=WindowPattern(3, 2), label="window")
        check_dense(rank, world, dtype=dt, length=n, pattern=WindowPattern(2, dilation=3),
                    key_lengths=[n - 9, 4], label="dilated window, padding")
        check_dense(rank, world, dtype=dt, length=n, causal=True, pattern=WindowPattern(5, causal=True),
                    lengths=uneven, label="causal window, empty shard")
        # a window reaching past the neighbour: keys come from two ranks away
        check_dense(rank, world, dtype=dt, length=n, pattern=WindowPattern(n // 2 + 1, 1),
                    lengths=[1] * (world - 1) + [n - world + 1], label="window wider than shards")
        sets = [5, 0, 1, 2 * world + 3, 1, 7]  # sets spanning ranks, an empty one, singletons
        check_packed(rank, world, set_lengths=sets, dtype=dt, label="packed")
        check_packed(rank, world, set_lengths=sets, dtype=dt, causal=True, sharding="zigzag",
                     label="packed causal zigzag")
        check_packed(rank, world, set_lengths=sets, dtype=dt, pattern=WindowPattern(2, 3),
                     label="packed window")
    check_two_layers(rank, world)
    check_two_layers(rank, world, chunk=3)
    for dt in (torch.bfloat16, torch.float16):
        check_half(rank, world, dtype=dt, label="half")
        check_half(rank, world, dtype=dt, causal=True, key_lengths=[8 * world - 5], sharding="zigzag",
                   label="half causal padding")


@pytest.mark.parametrize("world", [2, 3])
def test_ring_equals_single_process(world):
    run_spawned(_fixed_cases, world)


def _chunked_cases(rank: int, world: int) -> None:
    """Shards of several chunks: sub-rings, chunks of uneven runs, a rank with fewer chunks
    than the others, with and without overlap (the same messages, waited at once)."""
    n = 8 * world
    uneven = [7] + [0] * (world - 2) + [n - 7]
    for dt in DTYPES:
        for chunk, overlap in ((1, True), (3, True), (5, False)):
            opts = dict(dtype=dt, chunk=chunk, overlap=overlap)
            check_dense(rank, world, length=n, label="dense", **opts)
            check_dense(rank, world, length=n, causal=True, label="causal", **opts)
            check_dense(rank, world, length=n + 3, causal=True, sharding="zigzag", label="zigzag uneven",
                        **opts)
            check_dense(rank, world, length=n, causal=True, key_lengths=[3, n], sharding="zigzag",
                        label="causal padding", **opts)
            check_dense(rank, world, length=n, key_lengths=[0, 5], dv=5, label="padding, Dv != D", **opts)
            check_dense(rank, world, length=n, causal=True, lengths=uneven, label="empty shard", **opts)
            check_packed(rank, world, set_lengths=[5, 0, 1, 2 * world + 3, 1, 7], causal=True,
                         sharding="zigzag", label="packed causal zigzag", **opts)
        check_dense(rank, world, dtype=dt, length=n, pattern=WindowPattern(3, 2), overlap=False,
                    label="window, no overlap")
        check_dense(rank, world, dtype=dt, length=n, pattern=WindowPattern(3, causal=True),
                    key_lengths=[n - 5, 2], overlap=False, label="causal window, no overlap")
        check_packed(rank, world, set_lengths=[5, 0, 1, 2 * world + 3, 1, 7], dtype=dt,
                     pattern=WindowPattern(2, 3), overlap=False, label="packed window, no overlap")
    check_half(rank, world, dtype=torch.bfloat16, causal=True, sharding="zigzag", chunk=5,
               label="half chunked")


@pytest.mark.parametrize("world", [2, 3])
def test_ring_in_chunks_equals_single_process(world):
    run_spawned(_chunked_cases, world)


def _one_rank_cases(rank: int, world: int) -> None:
    for dt in DTYPES:
        check_dense(rank, world, dtype=dt, causal=True, key_lengths=[0, 9], label="one rank")
        check_packed(rank, world, set_lengths=[3, 0, 8], causal=True, dtype=dt, label="one rank")


def test_one_rank_is_plain_attention():
    run_spawned(_one_rank_cases, 1)


def _traffic_cases(rank: int, world: int) -> None:
    b, h, d, dv, item = 1, 2, 4, 3, 8
    pattern = WindowPattern(3, 2)
    sent = []
    real = {"bytes": 0}
    isend = dist.isend

    def counting_isend(tensor, *args, **kwargs):  # what really reaches torch.distributed
        real["bytes"] += tensor.numel() * tensor.element_size()
        return isend(tensor, *args, **kwargs)

    dist.isend = counting_isend
    try:
        for length in (12 * world, 96 * world):
            g = torch.Generator().manual_seed(length)
            q, k = (shard_sequence(torch.randn(b, h, length, d, generator=g, dtype=torch.float64),
                                   world, rank).requires_grad_() for _ in range(2))
            v = shard_sequence(torch.randn(b, h, length, dv, generator=g, dtype=torch.float64),
                               world, rank).requires_grad_()
            reset_traffic()
            real["bytes"] = 0
            out = ring_attention(q, k, v, pattern=pattern)
            fwd = traffic().bytes_sent
            out.sum().backward()
            total = traffic().bytes_sent
            assert real["bytes"] == total, (real, total)
            # forward: left rows to the right neighbour, right rows to the left one
            rows = (pattern.left if rank < world - 1 else 0) + (pattern.right if rank > 0 else 0)
            assert fwd == b * h * rows * (d + dv) * item, (rank, fwd)
            # backward: the halo's gradients go back to the rows' owners
            got = (pattern.left if rank > 0 else 0) + (pattern.right if rank < world - 1 else 0)
            assert total - fwd == b * h * got * (d + dv) * item, (rank, total - fwd)
            sent.append(total)
            # the ring sends every K/V block N - 1 times forward, K/V and dK/dV in the backward
            reset_traffic()
            ring_attention(q, k, v).sum().backward()
            lr = length // world
            assert traffic().bytes_sent == b * h * lr * (d + dv) * item * (3 * world - 2)
    finally:
        dist.isend = isend
    assert sent[0] == sent[1], f"halo traffic depends on the length: {sent}"


def test_window_sends_only_the_halo():
    run_spawned(_traffic_cases, 3)


@st.composite
def _case(draw):
    kind = draw(st.sampled_from(["dense", "packed"]))
    dtype = draw(st.sampled_from(DTYPES))
    causal = draw(st.booleans())
    pattern = None
    if draw(st.booleans()):
        wcausal = draw(st.booleans())
        pattern = WindowPattern(draw(st.integers(0, 6)), None if wcausal else draw(st.integers(0, 6)),
                                dilation=draw(st.integers(1, 3)), causal=wcausal)
    sharding = "contiguous" if pattern is not None else draw(st.sampled_from(["contiguous", "zigzag"]))
    opts = dict(dtype=dtype, causal=causal, pattern=pattern, sharding=sharding, seed=draw(st.integers(0, 99)),
                h=draw(st.integers(1, 2)), d=draw(st.integers(1, 8)),
                chunk=draw(st.none() | st.integers(1, 7)), overlap=draw(st.booleans()))
    if kind == "packed":
        opts["set_lengths"] = draw(st.lists(st.integers(0, 9), min_size=1, max_size=5))
        return kind, opts
    b, length = draw(st.integers(1, 2)), draw(st.integers(0, 30))
    opts.update(b=b, length=length, dv=draw(st.integers(1, 8)))
    if draw(st.booleans()):
        opts["key_lengths"] = draw(st.lists(st.integers(0, length), min_size=b, max_size=b))
    return kind, opts


def _random_cases(rank: int, world: int, cases, splits) -> None:
    for (kind, opts), split in zip(cases, splits, strict=True):
        n = opts["length"] if kind == "dense" else sum(opts["set_lengths"])
        lengths = None
        if split is not None and opts["sharding"] == "contiguous":
            cuts = sorted(round(c * n) for c in split)
            lengths = [hi - lo for lo, hi in zip([0, *cuts], [*cuts, n], strict=True)]
        (check_dense if kind == "dense" else check_packed)(rank, world, lengths=lengths, **opts)


@settings(max_examples=6, phases=[Phase.explicit, Phase.reuse, Phase.generate])  # no shrinking: a spawn each
@given(world=st.sampled_from([2, 3]), data=st.data())
def test_ring_equals_single_process_random(world, data):
    cases = data.draw(st.lists(_case(), min_size=12, max_size=12))
    splits = data.draw(st.lists(st.none() | st.lists(st.floats(0, 1), min_size=world - 1, max_size=world - 1),
                                min_size=12, max_size=12))
    run_spawned(_random_cases, world, cases, splits)


@settings(max_examples=30)
@given(total=st.integers(0, 50), world=st.integers(1, 5), zigzag=st.booleans())
def test_shards_cover_the_sequence_once(total, world, zigzag):
    sharding = "zigzag" if zigzag else "contiguous"
    x = torch.arange(total).view(1, 1, total, 1)
    shards = [shard_sequence(x, world, r, sharding=sharding) for r in range(world)]
    assert torch.equal(unshard_sequence(shards, sharding=sharding), x)
    layout = layout_from_lengths([s.shape[2] for s in shards], sharding)
    for r in range(world):
        pos = torch.cat([torch.arange(s, e) for s, e in layout.runs[r]]) if total else torch.zeros(0)
        assert torch.equal(shards[r].flatten(), pos.long())


def test_zigzag_balances_causal_work():
    # causal pairs per rank: query p sees p + 1 keys
    world, total = 4, 4096

    def work(sharding):
        return [sum((e * (e + 1) - s * (s + 1)) // 2 for s, e in shard_runs(total, world, r, sharding))
                for r in range(world)]

    contiguous, zigzag = work("contiguous"), work("zigzag")
    assert max(contiguous) / min(contiguous) > 6  # about 2N - 1 = 7
    assert max(zigzag) / min(zigzag) < 1.01


def test_halo_plan_reaches_past_a_short_neighbour():
    layout = layout_from_lengths([2, 1, 10])
    plan = halo_plan(layout, 2, WindowPattern(3, 0))
    assert (plan.start, plan.stop) == (0, 13)
    assert plan.recvs == ((0, 0, 2), (1, 2, 3))


def test_bad_input_names_the_argument():
    q = torch.zeros(1, 1, 4, 2)
    with pytest.raises(ValueError, match="pattern: ring attention takes None or a WindowPattern"):
        ring_attention(q, q, q, pattern="window")
    with pytest.raises(ValueError, match="sharding: expected one of"):
        ring_attention(q, q, q, sharding="striped")
    with pytest.raises(ValueError, match="sharding: a WindowPattern exchanges halos"):
        ring_attention(q, q, q, pattern=WindowPattern(2), sharding="zigzag")
    with pytest.raises(ValueError, match="k, v: expected this rank's shard"):
        ring_attention(q, torch.zeros(1, 1, 3, 2), torch.zeros(1, 1, 3, 2))
    with pytest.raises(RuntimeError, match=r"torch\.distributed is not initialised"):
        ring_attention(q, q, q)
    with pytest.raises(ValueError, match="sharding: zigzag shards of a sequence of 10 positions"):
        layout_from_lengths([5, 5], "zigzag")
