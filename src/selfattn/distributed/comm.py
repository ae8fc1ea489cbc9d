"""Point-to-point messages on a ``torch.distributed`` group, counted.

Every tensor the ring and the halo exchange send goes through ``send``/``recv`` here
(``torch.distributed.isend``/``irecv``: gloo on CPU, nccl on GPU), so the bytes each rank
sends are counted in one place (``traffic()``), which the benchmark reports and a test
checks against what reaches ``torch.distributed.isend``. Empty tensors are never sent:
both sides know every shard's size from the ``Layout``, so both skip the same messages.

Tags keep message streams apart (forward K, forward V, backward dK, ...): gloo delivers the
messages of one (peer, tag) pair in the order they were posted, and every rank posts them in
the same order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["Traffic", "all_lengths", "group_info", "recv", "reset_traffic", "send", "traffic",
           "wait_all"]


@dataclass
class Traffic:
    """Bytes and messages this process has sent since the last ``reset_traffic``, and the
    seconds it spent waiting for messages (communication that compute did not hide)."""

    bytes_sent: int = 0
    messages: int = 0
    wait_s: float = 0.0


_TRAFFIC = Traffic()


def traffic() -> Traffic:
    """A copy of this process's counters."""
    return Traffic(_TRAFFIC.bytes_sent, _TRAFFIC.messages, _TRAFFIC.wait_s)


def reset_traffic() -> None:
    _TRAFFIC.bytes_sent = 0
    _TRAFFIC.messages = 0
    _TRAFFIC.wait_s = 0.0


def group_info(group: dist.ProcessGroup | None) -> tuple[int, int]:
    """``(rank, world)`` of this process in ``group`` (the default group for None)."""
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("group: torch.distributed is not initialised; call "
                           "torch.distributed.init_process_group (torchrun does) first")
    return dist.get_rank(group), dist.get_world_size(group)


def _global(group: dist.ProcessGroup | None, rank: int) -> int:
    return rank if group is None else dist.get_global_rank(group, rank)


def send(t: torch.Tensor, to: int, group: dist.ProcessGroup | None, tag: int) -> list:
    """Post an asynchronous send of ``t`` (made contiguous) to group rank ``to``."""
    if t.numel() == 0:
        return []
    t = t.contiguous()
    _TRAFFIC.bytes_sent += t.numel() * t.element_size()
    _TRAFFIC.messages += 1
    return [(dist.isend(t, _global(group, to), group=group, tag=tag), t)]  # keep t alive


def recv(buf: torch.Tensor, frm: int, group: dist.ProcessGroup | None, tag: int) -> list:
    """Post an asynchronous receive into the contiguous ``buf`` from group rank ``frm``."""
    if buf.numel() == 0:
        return []
    return [(dist.irecv(buf, _global(group, frm), group=group, tag=tag), buf)]


def wait_all(works: list) -> None:
    t0 = time.perf_counter()
    for w, _ in works:
        w.wait()
    works.clear()
    _TRAFFIC.wait_s += time.perf_counter() - t0


def all_lengths(n: int, group: dist.ProcessGroup | None, device: torch.device) -> list[int]:
    """Every rank's local length ``n`` (one small all-gather)."""
    _, world = group_info(group)
    mine = torch.tensor([n], dtype=torch.long, device=device)
    got = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(got, mine, group=group)
    return [int(g) for g in got]
