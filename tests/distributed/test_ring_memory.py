"""Per-rank memory of ring attention scales as 1/N: no rank holds a whole-sequence tensor.

One forward + backward of a dense sequence ``(1, 1, L, D)`` float32: single-process
``attention`` (F.sdpa's flash kernel) in this process, then ``ring_attention`` on forked
gloo ranks of 2 and 4 (``ring_cases.run_spawned``). Memory is the peak of the tensor bytes
torch allocates during the call (``selfattn.bench.memory.peak_bytes``, from the profiler's
memory events: deterministic, not the allocator's or the load's). Each rank's peak must be
its shard's share of the single-process peak plus a bounded number of chunk-sized buffers
(the K/V chunks in flight and the gradient sums: a constant, not a fraction of L), and
below 0.7x (N = 2) and 0.45x (N = 4) of one process. A ring that gathered K/V, kept a
received block per step, or built an ``(L,)`` or ``L_r x L`` mask would fail.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import torch
from ring_cases import run_spawned

from selfattn.bench.memory import peak_bytes
from selfattn.distributed import ring_attention, shard_sequence
from selfattn.functional import attention

LENGTH, DIM, CHUNK = 6144, 32, 256
BOUND = {2: 0.7, 4: 0.45}
BUFFERS = 24  # chunk-sized buffers allowed at the peak (about 17 measured)


def _inputs(n: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 1, n, DIM, generator=g) for _ in range(4)]


def _peak(call, q, k, v, grad) -> int:
    warm = [x[:, :, :CHUNK].clone().requires_grad_() for x in (q, k, v)]
    call(*warm).backward(grad[:, :, :CHUNK])  # first-call set-up is not the call's memory
    for x in (q, k, v):
        x.requires_grad_()
    return peak_bytes(lambda: call(q, k, v).backward(grad))


def _rank(rank: int, world: int, out_dir: str, causal: bool, sharding: str) -> None:
    n = shard_sequence(torch.empty(1, 1, LENGTH, 1), world, rank, sharding=sharding).shape[2]
    peak = _peak(lambda q, k, v: ring_attention(q, k, v, causal=causal, sharding=sharding, chunk=CHUNK),
                 *_inputs(n, rank))
    Path(out_dir, f"{rank}.json").write_text(json.dumps(peak))


@pytest.mark.parametrize(("causal", "sharding"), [(False, "contiguous"), (True, "zigzag")])
def test_peak_memory_per_rank_scales_as_one_over_n(causal, sharding):
    torch.set_num_threads(1)
    single = _peak(lambda q, k, v: attention(q, k, v, causal=causal), *_inputs(LENGTH, 0))
    chunk_bytes = CHUNK * DIM * 4
    assert single > 4 * LENGTH * DIM * 4  # out, dq, dk, dv of the whole sequence at least
    for world in (2, 4):
        with tempfile.TemporaryDirectory() as tmp:
            run_spawned(_rank, world, tmp, causal, sharding, timeout=120.0)
            peaks = [json.loads(Path(tmp, f"{r}.json").read_text()) for r in range(world)]
        for r, peak in enumerate(peaks):
            where = f"N={world} rank {r} causal={causal}: {peak / 2**20:.2f} MiB, one process {single / 2**20:.2f}"
            assert peak <= single / world + BUFFERS * chunk_bytes, where
            assert peak <= BOUND[world] * single, where
