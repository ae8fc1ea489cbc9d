"""A tiny LRA training harness: a plain loop, accuracy, examples/s, one row per run.

``run_task(task, attention, ...)`` trains ``LRAClassifier`` with Adam for ``steps`` steps
on a seeded training set and reports test accuracy, training examples/s and wall time.
``run_lra`` runs every (task, attention) pair and returns the table. Tasks:

* ``listops``: ListOps (10 classes) with lengths in ``[min_len, max_len]``;
* ``pathfinder``: 32 x 32 Pathfinder (2 classes), 1,024 pixels;
* ``image``: scikit-learn digits as pixel sequences (10 classes), ``size**2`` pixels.

Scales: ``TINY`` finishes in minutes on 2 CPU cores (short ListOps, few steps);
``PAPER`` is the LRA setting (ListOps up to 2K, Pathfinder 32 x 32 and 1K-pixel images;
many more steps) for a GPU.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch
from torch.utils.data import DataLoader, Dataset

from .images import digits_dataset
from .listops import ListOpsDataset
from .model import LRAClassifier
from .pathfinder import PathfinderDataset

__all__ = ["PAPER", "TINY", "LRAScale", "collate", "make_datasets", "run_lra", "run_task"]


@dataclass(frozen=True)
class LRAScale:
    """Sizes of one LRA run."""

    n_train: int = 512
    n_test: int = 256
    steps: int = 150
    batch: int = 16
    lr: float = 1e-3
    listops_len: tuple[int, int] = (50, 200)
    image_size: int = 8
    d_model: int = 64
    layers: int = 2
    heads: int = 4
    tasks: tuple[str, ...] = ("listops", "pathfinder", "image")


TINY = LRAScale()
PAPER = LRAScale(n_train=96_000, n_test=2_000, steps=5_000, batch=32, lr=5e-4,
                 listops_len=(500, 2000), image_size=32, d_model=128, layers=4, heads=4)


def collate(batch: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad ids with 0: ``(ids (B, L_max), lengths (B,), labels (B,))``."""
    lengths = torch.tensor([len(ids) for ids, _ in batch])
    ids = torch.zeros(len(batch), int(lengths.max()), dtype=torch.long)
    for i, (seq, _) in enumerate(batch):
        ids[i, : len(seq)] = seq
    return ids, lengths, torch.tensor([y for _, y in batch])


def make_datasets(task: str, scale: LRAScale, seed: int = 0) -> tuple[Dataset, Dataset, int, int, int]:
    """``(train, test, vocab_size, num_classes, max_len)`` for a task name."""
    if task == "listops":
        lo, hi = scale.listops_len
        tr = ListOpsDataset(scale.n_train, seed=seed, min_len=lo, max_len=hi)
        te = ListOpsDataset(scale.n_test, seed=seed + 10_000, min_len=lo, max_len=hi)
        return tr, te, tr.vocab_size, 10, hi
    if task == "pathfinder":
        tr = PathfinderDataset(scale.n_train, seed=seed)
        te = PathfinderDataset(scale.n_test, seed=seed + 10_000)
        return tr, te, 256, 2, 1024
    if task == "image":
        s = scale.image_size
        tr, te = digits_dataset(s, "train", seed=seed), digits_dataset(s, "test", seed=seed)
        return tr, te, tr.vocab_size, 10, s * s
    raise ValueError(f"task: expected 'listops', 'pathfinder' or 'image', got {task!r}")


@dataclass
class RunResult:
    task: str
    attention: str
    accuracy: float
    train_examples_per_s: float
    train_seconds: float
    steps: int
    params: int
    losses: list[float] = field(default_factory=list)


def _accuracy(model: torch.nn.Module, data: Dataset, batch: int) -> float:
    model.eval()
    right = total = 0
    with torch.no_grad():
        for ids, lengths, y in DataLoader(data, batch_size=batch, collate_fn=collate):
            right += int((model(ids, lengths).argmax(-1) == y).sum())
            total += len(y)
    return right / max(total, 1)


def run_task(task: str, attention: str, scale: LRAScale = TINY, seed: int = 0,
             data: tuple | None = None) -> RunResult:
    """Train and evaluate one (task, attention) pair with a plain Adam loop."""
    tr, te, vocab, classes, max_len = data or make_datasets(task, scale, seed)
    torch.manual_seed(seed)
    model = LRAClassifier(vocab, classes, attention=attention, max_len=max_len,
                          d_model=scale.d_model, heads=scale.heads, layers=scale.layers)
    opt = torch.optim.Adam(model.parameters(), lr=scale.lr)
    loader = DataLoader(tr, batch_size=scale.batch, shuffle=True, collate_fn=collate,
                        generator=torch.Generator().manual_seed(seed), drop_last=True)
    losses: list[float] = []
    seen, step, start = 0, 0, time.perf_counter()
    model.train()
    while step < scale.steps:
        for ids, lengths, y in loader:
            loss = torch.nn.functional.cross_entropy(model(ids, lengths), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            seen += len(y)
            step += 1
            if step >= scale.steps:
                break
    seconds = time.perf_counter() - start
    return RunResult(task, attention, _accuracy(model, te, scale.batch), seen / seconds, seconds,
                     step, sum(p.numel() for p in model.parameters()), losses)


def run_lra(attentions: list[str], scale: LRAScale = TINY, seed: int = 0,
            progress: bool = True) -> list[dict]:
    """Every (task, attention) pair; the data of a task is built once and shared."""
    rows = []
    for task in scale.tasks:
        data = make_datasets(task, scale, seed)
        for name in attentions:
            res = run_task(task, name, scale, seed, data)
            row = {k: v for k, v in asdict(res).items() if k != "losses"}
            row["final_loss"] = sum(res.losses[-10:]) / max(len(res.losses[-10:]), 1)
            rows.append(row)
            if progress:
                print(f"{task:10s} {name:19s} acc {res.accuracy:.3f}  "
                      f"{res.train_examples_per_s:7.1f} ex/s  {res.train_seconds:6.1f} s", flush=True)
    return rows
