"""The Lightning side: one ``LightningModule`` for every task kind, and the data module.

``TaskModule`` wraps a model from ``selfattn.nn.model`` (or a ``Seq2Seq``) with the loss
and metrics of its target:

* ``class``: cross-entropy (padding labels ``-100`` ignored); accuracy, and ROC-AUC for
  two classes;
* ``multilabel``: binary cross-entropy per label, padded vectors excluded; accuracy over
  (vector, label) pairs and F1;
* ``regression``: mean squared error on standardised targets; RMSE and MAE in the
  target's own units;
* ``sequence``: cross-entropy of the next target token under teacher forcing; token
  accuracy (BLEU is computed after training, by decoding);
* ``ctc``: CTC loss over subsampled frames (``selfattn.nn.ctc``); the symbol error rate of
  greedy decoding (``spec["metric"]``: ``cer`` or ``per``).

Optimiser: AdamW with linear warm-up, then cosine or linear decay to ``min_lr_ratio``;
optionally layer-wise learning rates (``optim.layer_decay``, ``parameter_groups``).
``SetDataModule`` serves length-bucketed padded batches (``selfattn.data.set_loader``'s
sampler), sharded over processes under DDP.
"""

from __future__ import annotations

import math
import re
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
import torchmetrics
from torch.utils.data import DataLoader, Sampler

from ..data import Collate, LengthBucketSampler, SetDataset

__all__ = ["SetDataModule", "ShardedBatchSampler", "TaskModule", "WarmupDecay", "layer_depths",
           "parameter_groups"]


class WarmupDecay:
    """``lr(step) / lr``: linear warm-up over ``warmup`` steps, then decay to ``floor``."""

    def __init__(self, warmup: int, total: int, schedule: str, floor: float) -> None:
        self.warmup, self.total, self.schedule, self.floor = warmup, max(total, 1), schedule, floor

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if self.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        shape = 0.5 * (1 + math.cos(math.pi * progress)) if self.schedule == "cosine" else 1 - progress
        return self.floor + (1 - self.floor) * shape


class TaskModule(pl.LightningModule):
    """Loss, metrics and optimiser for ``model`` on a task with data ``spec``."""

    def __init__(self, model: torch.nn.Module, spec: dict[str, Any], optim: dict[str, Any],
                 pad_id: int = 0) -> None:
        super().__init__()
        self.model, self.spec, self.optim = model, spec, dict(optim)
        self.target, self.pad_id = spec["target"], pad_id
        unk = spec.get("input", {}).get("unk_dropout") or {}
        self.unk_dropout = {int(k): float(v) for k, v in unk.items() if float(v) > 0}
        self.metrics = torch.nn.ModuleDict({s: self._metrics() for s in ("val", "test")})
        self.losses = torch.nn.ModuleDict({s: torchmetrics.MeanMetric() for s in ("val", "test")})

    def _metrics(self) -> torchmetrics.MetricCollection:
        k = int(self.spec["outputs"])
        if self.target == "class" and k == 2 and self.spec["task"] == "set":
            # predictions are P(class 1), as ROC-AUC needs
            m = {"acc": torchmetrics.Accuracy("binary"), "auroc": torchmetrics.AUROC("binary")}
        elif self.target == "class":
            m = {"acc": torchmetrics.Accuracy("multiclass", num_classes=k, ignore_index=-100)}
        elif self.target == "multilabel":
            m = {"acc": torchmetrics.Accuracy("multilabel", num_labels=k),
                 "f1": torchmetrics.F1Score("multilabel", num_labels=k, average="micro")}
        elif self.target == "regression":
            m = {"rmse": torchmetrics.MeanSquaredError(squared=False),
                 "mae": torchmetrics.MeanAbsoluteError()}
        elif self.target == "ctc":  # symbol error rate of greedy decoding (selfattn.nn.ctc.ctc_step)
            m = {self.spec["metric"]: torchmetrics.text.CharErrorRate()}
        else:
            m = {"acc": torchmetrics.Accuracy("multiclass", num_classes=k, ignore_index=-100)}
        return torchmetrics.MetricCollection(m)

    # -- one batch ---------------------------------------------------------------------
    def _inputs(self, batch) -> torch.Tensor:
        x = batch.x
        if self.training and self.unk_dropout:
            x = x.clone()
            fields = x[..., None] if x.dim() == 2 else x
            for f, p in self.unk_dropout.items():
                col = fields[..., f]
                drop = (torch.rand(col.shape, device=col.device) < p) & (col > 1)
                col.masked_fill_(drop, 1)  # 1 = <unk> in every vocabulary of selfattn
        return x

    def forward(self, batch, return_weights: bool = False):
        if self.target == "sequence":
            # padded slots hold -100 (ignored by the loss): read them as <pad> (0)
            tgt_in = batch.y[:, :-1].clamp_min(0)
            return self.model(self._inputs(batch), batch.mask, tgt_in, batch.y_mask[:, :-1])
        return self.model(self._inputs(batch), batch.mask, edge_index=batch.edge_index, grids=batch.grids,
                          return_weights=return_weights)

    def _loss(self, out: torch.Tensor, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(loss, predictions, targets)`` with predictions and targets ready for the metrics."""
        y = batch.y
        if self.target == "ctc":
            from ..nn.ctc import ctc_step

            return ctc_step(self.model, out, batch)
        if self.target == "class":
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1), ignore_index=-100,
                                   label_smoothing=float(self.optim.get("label_smoothing", 0.0)))
            if out.shape[-1] == 2 and self.spec["task"] == "set":
                return loss, out.softmax(-1)[:, 1], y
            return loss, out.reshape(-1, out.shape[-1]), y.reshape(-1)
        if self.target == "multilabel":
            real = batch.mask if batch.mask is not None else torch.ones(y.shape[:-1], dtype=torch.bool)
            loss = F.binary_cross_entropy_with_logits(out[real], y[real].float())
            return loss, torch.sigmoid(out[real]), y[real].long()
        if self.target == "regression":
            out = out.reshape(y.shape[0], -1)
            target = y.reshape(y.shape[0], -1).float()
            scaled = (target - self.model.target_mean) / self.model.target_std
            loss = F.mse_loss(out, scaled)
            return loss, self.model.denormalize(out.detach()).reshape(-1), target.reshape(-1)
        gold = batch.y[:, 1:].clone()
        if batch.y_mask is not None:
            gold[~batch.y_mask[:, 1:]] = -100
        loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), gold.reshape(-1), ignore_index=-100,
                               label_smoothing=float(self.optim.get("label_smoothing", 0.0)))
        return loss, out.reshape(-1, out.shape[-1]), gold.reshape(-1)

    def step_loss(self, batch) -> torch.Tensor:
        """The training loss of one batch (forward and the task's loss; dropout as the mode
        says), as ``training_step`` computes it; ``benchmarks/packed_training.py`` times it."""
        return self._loss(self(batch), batch)[0]

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self.step_loss(batch)
        # the epoch mean is kept by MetricsRecorder, whose running sum survives a resume
        self.log("train_loss", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=len(batch))
        return loss

    def _eval_step(self, batch, stage: str) -> None:
        loss, pred, gold = self._loss(self(batch), batch)
        self.losses[stage].update(loss.detach(), weight=len(batch))
        self.metrics[stage].update(pred, gold)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def _log_metrics(self, stage: str) -> None:
        values = {f"{stage}_{k}": v for k, v in self.metrics[stage].compute().items()}
        values[f"{stage}_loss"] = self.losses[stage].compute()
        self.log_dict(values, prog_bar=True)
        self.metrics[stage].reset()
        self.losses[stage].reset()

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    def configure_optimizers(self):
        o = self.optim
        groups = parameter_groups(self.model, float(o["weight_decay"]), float(o["layer_decay"]))
        lr = float(o["lr"])
        for g in groups:
            g["lr"] = lr * g.pop("lr_scale")
        opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98))
        total = int(self.trainer.estimated_stepping_batches)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, WarmupDecay(int(o["warmup_steps"]), total, o["schedule"], float(o["min_lr_ratio"])))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")


def layer_depths(model: torch.nn.Module) -> dict[str, int]:
    """Each trainable parameter's depth for layer-wise learning rates: ``i + 1`` inside a
    ``layers.i`` block (encoder or decoder stack), 0 for what comes before the first block
    (embeddings, positions), ``L + 1`` for what comes after the last (final norm, head),
    where ``L`` is the number of blocks. A model without blocks is all depth 0."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    found = [_LAYER.search(n) for n, _ in named]
    layers = max((int(m.group(1)) + 1 for m in found if m), default=0)
    depths, seen_block = {}, False
    for (name, _), m in zip(named, found, strict=True):
        if m:
            seen_block = True
            depths[name] = int(m.group(1)) + 1
        else:
            depths[name] = layers + 1 if seen_block else 0
    return depths


def parameter_groups(model: torch.nn.Module, weight_decay: float, layer_decay: float = 1.0) -> list[dict]:
    """AdamW groups: no weight decay for biases and norms; with ``layer_decay < 1``, a
    parameter at depth ``d`` (``layer_depths``) of a model with ``L`` blocks learns at
    ``lr * layer_decay ** (L + 1 - d)``: the head at the full rate, each block below at
    ``layer_decay`` times the one above, the embeddings lowest (``lr_scale`` per group)."""
    depths = layer_depths(model)
    top = max(depths.values(), default=0)
    groups: dict[tuple[bool, int], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        plain = p.dim() < 2 or "norm" in name
        depth = depths[name] if layer_decay != 1.0 else top
        g = groups.setdefault((plain, depth), {"params": [], "weight_decay": 0.0 if plain else weight_decay,
                                               "lr_scale": layer_decay ** (top - depth)})
        g["params"].append(p)
    return list(groups.values())


class ShardedBatchSampler(Sampler[list[int]]):
    """Process ``rank`` of ``world`` takes every ``world``-th batch; ``even``: all take the same
    number (training: DDP steps in lockstep); else none is left out (evaluation)."""

    def __init__(self, inner: LengthBucketSampler, rank: int, world: int, even: bool = True) -> None:
        self.inner, self.rank, self.world, self.even = inner, rank, world, even
        self.start = 0

    def set_epoch(self, epoch: int) -> None:
        self.inner.set_epoch(epoch)

    def start_at(self, epoch: int, batches_done: int) -> None:
        """``batches_done`` counts this process's batches (each process did as many)."""
        self.inner.set_epoch(epoch)
        self.start = int(batches_done)

    def __iter__(self):
        batches = list(self.inner)
        usable = (len(batches) // self.world * self.world or len(batches)) if self.even else len(batches)
        start, self.start = self.start, 0
        return iter(batches[self.rank:usable:self.world][start:])

    def __len__(self) -> int:
        n = len(self.inner)
        if not self.even:
            return len(range(self.rank, n, self.world))
        return max(n // self.world, 1 if n else 0)


class SetDataModule(pl.LightningDataModule):
    """Bucketed padded batches of the three splits (``labels`` = the collate label kind)."""

    def __init__(self, train: SetDataset, validation: SetDataset, test: SetDataset, labels: str,
                 batch_size: int | None, max_tokens: int | None, eval_batch_size: int, seed: int) -> None:
        super().__init__()
        self.splits = {"train": train, "val": validation, "test": test}
        self.labels, self.batch_size, self.max_tokens = labels, batch_size, max_tokens
        self.eval_batch_size, self.seed = eval_batch_size, seed
        self._resume: tuple[int, int] | None = None  # (epoch, batches done) of a resumed run

    def resumed(self) -> None:
        """Training has gone past the resume position (its first batch is drawn)."""
        self._resume = None

    def resume_at(self, epoch: int, batches_done: int) -> None:
        """The next training iteration is epoch ``epoch`` from batch ``batches_done`` on."""
        self._resume = (int(epoch), int(batches_done))

    def data_shards(self) -> tuple[int, int]:
        """``(world, rank)`` over which batches are dealt: one per process here; sequence
        parallel training (``selfattn.train.sequence_parallel``) gives a group of processes
        the same batches."""
        if self.trainer is None:
            return 1, 0
        return self.trainer.world_size, self.trainer.global_rank

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        data = self.splits[split]
        if len(data) == 0:
            raise ValueError(f"data: the {split} split is empty; check data.fractions / data.limit")
        world, rank = self.data_shards()
        if shuffle:
            sampler = LengthBucketSampler(data.lengths(), batch_size=self.batch_size,
                                          max_tokens=self.max_tokens, shuffle=True, seed=self.seed)
        else:  # under DDP every process needs at least one evaluation batch
            size = min(self.eval_batch_size, -(-len(data) // world))
            sampler = LengthBucketSampler(data.lengths(), batch_size=size, shuffle=False)
        if world > 1:
            sampler = ShardedBatchSampler(sampler, rank, world, even=shuffle)
        if shuffle:
            # Reshuffle: a new loader each epoch (reload_dataloaders_every_n_epochs=1), seeded by
            # the trainer's epoch. Lightning calls set_epoch only on loader.sampler or
            # batch_sampler.sampler, which a batch sampler of our own is not; and with max_tokens
            # the number of batches differs between epochs, which Lightning reads once per loader.
            if self._resume is not None:  # kept until training starts: Lightning may build twice
                sampler.start_at(*self._resume)
            elif self.trainer is not None:
                sampler.start_at(self.trainer.current_epoch, 0)
        # the loader's own generator: creating an iterator then draws nothing from the global
        # random state, so validation and resuming leave the training dropout masks unchanged
        return DataLoader(data, batch_sampler=sampler, collate_fn=Collate("padded", self.labels),
                          generator=torch.Generator().manual_seed(self.seed))

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)
