"""The LRA training harness: tasks at a scale, a plain training loop, one row per run.

``run_task(task, attention, scale)`` trains ``LRAClassifier`` with AdamW (linear warm-up,
then cosine decay to 0) for the task's ``steps`` on its seeded training set and reports
test accuracy, the majority-class rate of the test set (chance), training examples/s and
wall time. ``run_lra`` runs every (task, attention) pair. Tasks (LRA, Section 3):

* ``listops``: ListOps, 10 classes, lengths in ``[min_length, length]``, nesting ``depth``;
* ``text``: byte-level movie reviews (``text.py``), 2 classes, up to ``length`` bytes;
* ``image``: Fashion-MNIST pixel sequences (``images.py``), 10 classes, ``(28 / pool)**2``;
* ``pathfinder``: Pathfinder (``pathfinder.py``), 2 classes, ``size**2`` pixels.

Scales (``SCALES``): ``tiny`` (seconds, for tests), ``small`` (all tasks and attentions
in about 30 minutes on 2 CPU cores, one thread; tasks shortened, see ``SMALL``) and
``paper`` (the LRA paper's lengths and training budget, for a GPU).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .images import fashion_mnist_dataset
from .listops import ListOpsDataset
from .model import LRAClassifier
from .pathfinder import PathfinderDataset
from .text import movie_review_datasets

__all__ = ["PAPER", "SCALES", "SMALL", "TASKS", "TINY", "LRAScale", "RunResult", "TaskConfig", "collate",
           "describe_tasks", "make_datasets", "run_lra", "run_task", "scale_by_name"]

TASKS = ("listops", "text", "image", "pathfinder")


@dataclass(frozen=True)
class TaskConfig:
    """Data and training budget of one task.

    ``length``: longest sequence (ListOps tokens, text bytes); image and Pathfinder
    lengths follow from ``pool`` (``(28 // pool)**2``) and ``size`` (``size**2``).
    """

    n_train: int
    n_test: int
    steps: int
    batch: int = 16
    lr: float = 2e-3
    length: int = 0
    min_length: int = 0
    depth: int = 10
    pool: int = 1
    size: int = 32


@dataclass(frozen=True)
class LRAScale:
    """Sizes of one LRA run: the tasks, the model (the same for every attention) and the
    speed sweep (examples/s and peak memory of a forward + backward step of that model on
    ``speed_batch`` byte sequences of each length in ``speed_lengths``)."""

    name: str
    tasks: dict = field(default_factory=dict)
    d_model: int = 64
    heads: int = 4
    layers: int = 2
    ff: int = 128
    dropout: float = 0.1
    weight_decay: float = 0.01
    warmup: float = 0.1
    speed_lengths: tuple[int, ...] = (256, 512, 1024, 2048, 4096)
    table_lengths: tuple[int, ...] = (1024, 2048, 4096)
    speed_batch: int = 1
    speed_rounds: int = 3


TINY = LRAScale(
    "tiny",
    tasks={"listops": TaskConfig(32, 16, 3, batch=8, length=40, min_length=10, depth=3),
           "text": TaskConfig(32, 16, 3, batch=8, length=64),
           "image": TaskConfig(32, 16, 3, batch=8, pool=4),
           "pathfinder": TaskConfig(32, 16, 3, batch=8, size=16)},
    d_model=16, heads=2, layers=1, ff=32, speed_lengths=(32, 64), table_lengths=(32, 64),
    speed_rounds=2)

#: 2 CPU cores, one torch thread, about 30 minutes for all tasks and attentions, so the
#: tasks are shortened to about 256 tokens: ListOps of 64-128 tokens; text documents of up
#: to 256 bytes; Fashion-MNIST at 14 x 14 (2 x 2 means: 196 tokens); Pathfinder at 16 x 16
#: (256 pixels) with short paths (5-7 cells: the easy contour length). 200-300 steps of 16
#: (one pass over 3,200-4,800 examples), learning rates tuned on full attention. Measured
#: times and accuracies: benchmarks/results/lra_small.json (benchmarks/lra_small.py).
SMALL = LRAScale(
    "small",
    tasks={"listops": TaskConfig(4800, 1000, 200, length=128, min_length=64),
           "text": TaskConfig(4800, 1000, 300, lr=4e-3, length=256),
           "image": TaskConfig(4800, 1000, 200, lr=4e-3, pool=2),
           "pathfinder": TaskConfig(4800, 1000, 300, size=16)},
)

#: The LRA paper's task sizes (Tay et al. 2021, Section 3 and Appendix): ListOps up to
#: 2K tokens, text 4K bytes, images of 784 pixels (Fashion-MNIST in place of CIFAR-10's
#: 1,024), Pathfinder 32 x 32; 4 layers, width 256, 4 heads, feed-forward 1024, batch 32;
#: training budgets of the paper's order (5K-50K steps). For a GPU; not run here.
PAPER = LRAScale(
    "paper",
    tasks={"listops": TaskConfig(96_000, 2_000, 5_000, batch=32, lr=5e-4, length=2000, min_length=500),
           "text": TaskConfig(25_000, 25_000, 20_000, batch=32, lr=5e-4, length=4000),
           "image": TaskConfig(60_000, 10_000, 35_000, batch=32, lr=5e-4, pool=1),
           "pathfinder": TaskConfig(160_000, 20_000, 50_000, batch=32, lr=5e-4, size=32)},
    d_model=256, heads=4, layers=4, ff=1024, speed_batch=32, speed_rounds=5,
    speed_lengths=(256, 512, 1024, 2048, 4096), table_lengths=(1024, 2048, 4096))

SCALES = {"tiny": TINY, "small": SMALL, "paper": PAPER}


def scale_by_name(name: str) -> LRAScale:
    """``"tiny"``, ``"small"`` or ``"paper"`` (``"full"`` is the paper's scale too)."""
    key = "paper" if name == "full" else name
    if key not in SCALES:
        raise ValueError(f"scale: expected one of {[*SCALES, 'full']}, got {name!r}")
    return SCALES[key]


def describe_tasks(scale: LRAScale) -> dict[str, str]:
    """One sentence per task of ``scale``: what its data is (recorded with every result)."""
    out = {}
    for task, c in scale.tasks.items():
        budget = f"{c.n_train} training / {c.n_test} test examples, {c.steps} steps of {c.batch}, lr {c.lr:g}"
        out[task] = {
            "listops": f"ListOps (generated), {c.min_length}-{c.length} tokens, nesting depth <= {c.depth}, "
                       f"10 classes; {budget}",
            "text": f"byte-level movie reviews: Rotten Tomatoes snippets of one polarity concatenated into "
                    f"documents of at most {c.length} bytes (train and test built from disjoint snippet "
                    f"pools, classes balanced), bytes as tokens, 2 classes; {budget}",
            "image": f"Fashion-MNIST as a sequence of {(28 // c.pool) ** 2} grey-level tokens (28 x 28"
                     + (f" averaged over {c.pool} x {c.pool} blocks" if c.pool > 1 else "")
                     + f"), raster order, 10 classes; {budget}",
            "pathfinder": f"Pathfinder (generated), {c.size} x {c.size} = {c.size ** 2} pixel tokens"
                          + (", paths of 5-7 cells (the easy contour length)" if c.size == 16 else "")
                          + f", 2 classes; {budget}",
        }.get(task, budget)
    return out


def collate(batch: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad ids with 0: ``(ids (B, L_max), lengths (B,), labels (B,))``."""
    lengths = torch.tensor([len(ids) for ids, _ in batch])
    ids = torch.zeros(len(batch), int(lengths.max()), dtype=torch.long)
    for i, (seq, _) in enumerate(batch):
        ids[i, : len(seq)] = seq
    return ids, lengths, torch.tensor([y for _, y in batch])


def make_datasets(task: str, scale: LRAScale, seed: int = 0) -> tuple[Dataset, Dataset, int, int, int]:
    """``(train, test, vocab_size, num_classes, max_len)`` of a task at a scale."""
    if task not in scale.tasks:
        raise ValueError(f"task: expected one of {list(scale.tasks)} (scale {scale.name!r}), got {task!r}")
    c = scale.tasks[task]
    if task == "listops":
        kw = {"min_len": c.min_length, "max_len": c.length, "max_depth": c.depth}
        tr = ListOpsDataset(c.n_train, seed=seed, **kw)
        te = ListOpsDataset(c.n_test, seed=seed + 10_000, **kw)
        return tr, te, tr.vocab_size, 10, c.length
    if task == "text":
        tr, te = movie_review_datasets(c.length, c.n_train, c.n_test, seed=seed)
        return tr, te, tr.vocab_size, 2, c.length
    if task == "image":
        tr = fashion_mnist_dataset("train", c.n_train, seed=seed, pool=c.pool)
        te = fashion_mnist_dataset("test", c.n_test, seed=seed, pool=c.pool)
        return tr, te, 256, 10, (28 // c.pool) ** 2
    if task == "pathfinder":
        tr = PathfinderDataset(c.n_train, seed=seed, size=c.size)
        te = PathfinderDataset(c.n_test, seed=seed + 10_000, size=c.size)
        return tr, te, 256, 2, c.size ** 2
    raise ValueError(f"task: expected one of {TASKS}, got {task!r}")


@dataclass
class RunResult:
    task: str
    attention: str
    accuracy: float
    chance: float
    train_examples_per_s: float
    train_seconds: float
    steps: int
    params: int
    final_loss: float
    losses: list[float] = field(default_factory=list)


def _accuracy(model: torch.nn.Module, data: Dataset, batch: int, device: str = "cpu") -> float:
    model.eval()
    right = total = 0
    with torch.no_grad():
        for ids, lengths, y in DataLoader(data, batch_size=batch, collate_fn=collate):
            logits = model(ids.to(device), lengths.to(device))
            right += int((logits.argmax(-1).cpu() == y).sum())
            total += len(y)
    return right / max(total, 1)


def majority_rate(data: Dataset) -> float:
    """The test accuracy of always answering the most frequent class (chance level)."""
    labels = np.array([int(data[i][1]) for i in range(len(data))])
    return float(np.bincount(labels).max() / max(len(labels), 1))


def build_model(attention: str, scale: LRAScale, vocab: int, classes: int, max_len: int,
                seed: int = 0) -> LRAClassifier:
    """The scale's model with ``attention`` (seeded: the same initial weights outside it)."""
    torch.manual_seed(seed)
    return LRAClassifier(vocab, classes, attention=attention, max_len=max_len, d_model=scale.d_model,
                         heads=scale.heads, layers=scale.layers, ff=scale.ff, dropout=scale.dropout)


def run_task(task: str, attention: str, scale: LRAScale = TINY, seed: int = 0,
             data: tuple | None = None, device: str = "cpu") -> RunResult:
    """Train and evaluate one (task, attention) pair (on ``device``)."""
    tr, te, vocab, classes, max_len = data or make_datasets(task, scale, seed)
    c = scale.tasks[task]
    model = build_model(attention, scale, vocab, classes, max_len, seed).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=c.lr, weight_decay=scale.weight_decay)
    warm = max(1, round(scale.warmup * c.steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, c.steps) / c.steps)))
    loader = DataLoader(tr, batch_size=c.batch, shuffle=True, collate_fn=collate,
                        generator=torch.Generator().manual_seed(seed), drop_last=len(tr) >= c.batch)
    losses: list[float] = []
    seen, step, start = 0, 0, time.perf_counter()
    model.train()
    while step < c.steps:
        for ids, lengths, y in loader:
            ids, lengths, y = ids.to(device), lengths.to(device), y.to(device)
            loss = torch.nn.functional.cross_entropy(model(ids, lengths), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            seen += len(y)
            step += 1
            if step >= c.steps:
                break
    seconds = time.perf_counter() - start
    tail = losses[-max(1, len(losses) // 10):]
    return RunResult(task, attention, _accuracy(model, te, 64, device), majority_rate(te), seen / seconds,
                     seconds, step, sum(p.numel() for p in model.parameters()), sum(tail) / len(tail), losses)


def run_lra(attentions: list[str], scale: LRAScale = TINY, seed: int = 0, progress: bool = True,
            tasks: tuple[str, ...] | None = None, device: str = "cpu") -> list[dict]:
    """Every (task, attention) pair; a task's data is built once and shared by the attentions."""
    rows = []
    for task in tasks or tuple(scale.tasks):
        data = make_datasets(task, scale, seed)
        for name in attentions:
            res = run_task(task, name, scale, seed, data, device)
            row = asdict(res)
            losses = row.pop("losses")
            row["loss_curve"] = [round(float(np.mean(losses[i:i + 10])), 4)
                                 for i in range(0, len(losses), 10)]  # means of 10 steps
            rows.append(row)
            if progress:
                print(f"{task:10s} {name:19s} acc {res.accuracy:.3f} (chance {res.chance:.3f})  "
                      f"{res.train_examples_per_s:7.1f} ex/s  {res.train_seconds:6.1f} s", flush=True)
    return rows
