"""Sequence (context) parallel attention: one sequence longer than a process holds, split
along its length over the ranks of a ``torch.distributed`` group (gloo on CPU).

``ring_attention`` / ``ring_varlen_attention`` take this rank's shard ``(B, H, L_r, D)``
(packed: ``(N_r, H, D)`` plus the global ``offsets``) and return its shard of the exact
output: key/value blocks go round the ring and partial softmaxes merge by their
log-sum-exp (``ring.py``); causal work is balanced by zigzag shards (``sharding.py``); a
``WindowPattern`` exchanges only the halo of ``w`` keys (``halo.py``). ``traffic()``
counts the bytes this process sent. docs/ring_attention.md: the scaling note.
"""

from .comm import Traffic, reset_traffic, traffic
from .halo import halo_plan
from .parallel import ring_attention, ring_varlen_attention
from .sharding import SHARDINGS, Layout, layout_from_lengths, shard_runs, shard_sequence, unshard_sequence

__all__ = [
    "SHARDINGS",
    "Layout",
    "Traffic",
    "halo_plan",
    "layout_from_lengths",
    "reset_traffic",
    "ring_attention",
    "ring_varlen_attention",
    "shard_runs",
    "shard_sequence",
    "traffic",
    "unshard_sequence",
]
