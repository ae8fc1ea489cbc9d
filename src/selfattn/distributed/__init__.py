"""Sequence (context) parallel attention: one sequence longer than a process holds, split
along its length over the ranks of a ``torch.distributed`` group (gloo on CPU).

``ring_attention`` / ``ring_varlen_attention`` take this rank's shard ``(B, H, L_r, D)``
(packed: ``(N_r, H, D)`` plus the global ``offsets``) and return its shard of the exact
output: key/value blocks go round the ring and partial softmaxes merge by their
log-sum-exp (``ring.py``); causal work is balanced by zigzag shards (``sharding.py``); a
``WindowPattern`` exchanges only the halo of ``w`` keys (``halo.py``). ``traffic()``
counts the bytes this process sent. ``sequence_parallel(make_shard(...))`` runs an unchanged
model on this rank's time shard (``sequence.py``: attention round the ring, global
positions), for ``trainer.sequence_parallel``. docs/ring_attention.md: the scaling note.
"""

from .comm import Traffic, reset_traffic, traffic
from .halo import halo_plan
from .parallel import ring_attention, ring_varlen_attention
from .sequence import SequenceShard, current_shard, make_shard, sequence_parallel, shard_batch
from .sharding import SHARDINGS, Layout, layout_from_lengths, shard_runs, shard_sequence, unshard_sequence

__all__ = [
    "SHARDINGS",
    "Layout",
    "SequenceShard",
    "Traffic",
    "current_shard",
    "halo_plan",
    "layout_from_lengths",
    "make_shard",
    "reset_traffic",
    "ring_attention",
    "ring_varlen_attention",
    "sequence_parallel",
    "shard_batch",
    "shard_runs",
    "shard_sequence",
    "traffic",
    "unshard_sequence",
]
