"""``trainer.sequence_parallel=N``: every sequence of a batch split along time over N processes.

With ``trainer.devices=D`` (a multiple of ``N``; ``strategy=ddp`` or torchrun) the ranks form
``D/N`` groups of ``N`` consecutive ranks. A group shares each batch (the data module deals
batches over groups, ``data_shards``); rank ``r`` of a group takes the contiguous rows
``shard_runs(L, N, r)`` of every sequence, labels included (``shard_batch``), and runs the
model unchanged inside ``sequence_parallel``: self-attention goes round the ring, positions
are global (``selfattn.distributed.sequence``).

Loss: the single-process loss is a mean over all labelled frames of the batch (class:
labels other than -100; multilabel: real frames x labels). Rank ``r`` returns
``N * sum_r / count``, its frames' summed loss over the group's total count (one
all-reduce). DDP averages gradients over all ``D`` ranks, so the result is the mean over
groups of each batch's exact gradient: the single-process gradient when ``D = N``. The
logged loss and the evaluation loss are the group's sum over its count (all-reduced), the
per-frame metrics see each frame once (torchmetrics syncs over every rank).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..distributed.sequence import make_shard, sequence_parallel, shard_batch
from .module import SetDataModule, TaskModule

__all__ = ["SequenceParallelDataModule", "SequenceParallelModule", "frame_loss"]


def frame_loss(module: TaskModule, out: torch.Tensor, batch) -> tuple[torch.Tensor, torch.Tensor,
                                                                        torch.Tensor, torch.Tensor]:
    """``(summed loss, count, predictions, targets)`` of this rank's frames: the sum and count
    whose ratio is ``TaskModule._loss``'s mean (zero frames give 0 and 0, not NaN)."""
    y = batch.y
    if module.target == "class":
        flat, gold = out.reshape(-1, out.shape[-1]), y.reshape(-1)
        loss = F.cross_entropy(flat, gold, ignore_index=-100, reduction="sum",
                               label_smoothing=float(module.optim.get("label_smoothing", 0.0)))
        return loss, (gold != -100).sum(), flat, gold
    if module.target == "multilabel":
        real = batch.mask if batch.mask is not None else torch.ones(y.shape[:-1], dtype=torch.bool)
        loss = F.binary_cross_entropy_with_logits(out[real], y[real].to(out.dtype), reduction="sum")
        return loss, real.sum() * y.shape[-1], torch.sigmoid(out[real]), y[real].long()
    raise ValueError(f"target: sequence parallel training takes 'class' or 'multilabel' labels per "
                     f"vector, got {module.target!r}")


class SequenceParallelModule(TaskModule):
    """``TaskModule`` whose steps run on this rank's time shard of every batch."""

    def __init__(self, model: torch.nn.Module, spec: dict, optim: dict, size: int,
                 pad_id: int = 0) -> None:
        super().__init__(model, spec, optim, pad_id)
        self.size = int(size)
        self.group: dist.ProcessGroup | None = None

    def setup(self, stage: str) -> None:
        self.group = sequence_group(self.size)

    def sharded_step(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(loss to backpropagate, the batch's loss, predictions, targets)``; see the module doc."""
        lengths = batch.mask.sum(1) if batch.mask is not None else None
        shard = make_shard(batch.x.shape[1], lengths, self.group, batch.x.device)
        local = shard_batch(batch, shard)
        with sequence_parallel(shard):
            out = self(local)
        total, count, pred, gold = frame_loss(self, out, local)
        sums = torch.stack([total.detach(), count.to(total.dtype)])
        dist.all_reduce(sums, group=self.group)
        count_all = sums[1].clamp_min(1)
        return self.size * total / count_all, sums[0] / count_all, pred, gold

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, logged, _, _ = self.sharded_step(batch)
        self.log("train_loss", logged, on_step=True, on_epoch=False, prog_bar=True, batch_size=len(batch))
        return loss

    def _eval_step(self, batch, stage: str) -> None:
        _, loss, pred, gold = self.sharded_step(batch)
        # every rank of a group adds the same batch loss: the synced mean is unchanged
        self.losses[stage].update(loss, weight=len(batch))
        self.metrics[stage].update(pred, gold)


def sequence_group(size: int) -> dist.ProcessGroup | None:
    """This rank's group of ``size`` consecutive ranks (None: the whole world is one group)."""
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError(f"trainer.sequence_parallel={size}: torch.distributed is not initialised "
                           f"(expected trainer.devices={size} with strategy=ddp, or torchrun)")
    world = dist.get_world_size()
    if world % size:
        raise ValueError(f"trainer.sequence_parallel: expected a divisor of the {world} processes, "
                         f"got {size}")
    if world == size:
        return None
    group, _ = dist.new_subgroups(size)
    return group


class SequenceParallelDataModule(SetDataModule):
    """Batches dealt over groups of ``size`` ranks: every rank of a group gets the same ones."""

    def __init__(self, *args, size: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.size = int(size)

    def data_shards(self) -> tuple[int, int]:
        world, rank = super().data_shards()
        return max(world // self.size, 1), rank // self.size
