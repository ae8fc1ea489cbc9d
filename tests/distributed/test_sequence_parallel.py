"""``trainer.sequence_parallel``: a model trained on time shards equals one process on whole sequences.

Each rank of a forked gloo world (``ring_cases.run_spawned``, bounded in time) builds the same
tiny float64 model and batch (sets of different lengths, so a shard may be all padding),
computes the single-process ``TaskModule`` loss and gradients on the full batch, then the
``SequenceParallelModule`` step on its shard; the gradients are averaged over the ranks as
DDP does. Loss, every parameter's gradient, and the parameters after three AdamW steps agree
within 1e-10; evaluation loss and metrics within 1e-6 (torchmetrics keeps float32 states). Cases: diarization-like (multilabel, window
pattern, sinusoidal positions), phoneme-like (class labels with ignored -100 frames, full
attention, RoPE), learned positions, the per-vector MLP. The config errors for what cannot
be sharded are checked without processes. Data x sequence parallel: a forked world of 4 in
groups of 2 (``trainer.devices=4, sequence_parallel=2``), each group on its own batch, equals
one process on the mean of the two batches' losses, three AdamW steps.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.distributed as dist
from ring_cases import run_spawned

from selfattn.data import Collate, VectorSet
from selfattn.distributed import make_shard, sequence_parallel, shard_batch
from selfattn.functional import attention
from selfattn.nn.model import build_model
from selfattn.train.config import ConfigError, resolve_config
from selfattn.train.module import TaskModule
from selfattn.train.sequence_parallel import SequenceParallelModule, sequence_group

TOL = 1e-10
EVAL_TOL = 1e-6
FEATURES = 6

CASES = {
    "diarization-like": dict(target="multilabel", outputs=2, positional="sinusoidal",
                             pattern="window", window=3),
    "phonemes-like": dict(target="class", outputs=5, positional="rope", pattern="none"),
    "learned positions": dict(target="class", outputs=3, positional="learned", pattern="window",
                              window=2),
    "mlp": dict(target="multilabel", outputs=3, kind="mlp"),
}


def _setup(case: dict, lengths: list[int], seed: int = 0):
    torch.manual_seed(seed)
    spec = {"task": "vector", "target": case["target"], "outputs": case["outputs"],
            "input": {"kind": "features", "dim": FEATURES}, "max_len": 64}
    cfg = {"kind": case.get("kind", "transformer"), "width": 8, "depth": 2, "heads": 2, "ff": 16,
           "dropout": 0.0, "norm": "pre", "attention": "full", "positional": case.get("positional", "none"),
           "positional_options": {}, "pattern": case.get("pattern", "none"), "window": case.get("window", 8),
           "head_hidden": 0}
    model = build_model(cfg, spec).double()
    g = torch.Generator().manual_seed(seed + 1)
    sets = []
    for n in lengths:
        x = torch.randn(n, FEATURES, generator=g, dtype=torch.float64)
        if case["target"] == "class":
            y = torch.randint(0, case["outputs"], (n,), generator=g)
            y[torch.rand(n, generator=g) < 0.25] = -100  # frames with no label
        else:
            y = torch.randint(0, 2, (n, case["outputs"]), generator=g)
        sets.append(VectorSet(x=x, y=y))
    batch = Collate("padded", "vector")(sets)
    return model, spec, batch


def _reference_loss(out: torch.Tensor, batch, case: dict, optim: dict) -> torch.Tensor:
    """The single-process loss in float64: the mean over every labelled frame of the batch."""
    if case["target"] == "class":
        return torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), batch.y.reshape(-1),
                                                 ignore_index=-100, label_smoothing=optim["label_smoothing"])
    real = batch.mask
    return torch.nn.functional.binary_cross_entropy_with_logits(out[real], batch.y[real].double())


def _grads(model) -> list[torch.Tensor]:
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]


def _close(name: str, got: torch.Tensor, want: torch.Tensor, tol: float = TOL) -> None:
    err = (got.double() - want.double()).abs().max().item() if got.numel() else 0.0
    assert err <= tol, f"{name}: max error {err:.3g} > {tol:.0e}"


def _check_case(rank: int, world: int, label: str, case: dict, lengths: list[int]) -> None:
    model, spec, batch = _setup(case, lengths)
    optim = {"label_smoothing": 0.1 if case["target"] == "class" else 0.0}
    ref = TaskModule(copy.deepcopy(model), spec, optim)
    sp = SequenceParallelModule(copy.deepcopy(model), spec, optim, size=world)
    sp.group = None  # the whole world is one group (setup() does this under Lightning)
    opt_ref = torch.optim.AdamW(ref.parameters(), lr=1e-2)
    opt_sp = torch.optim.AdamW(sp.parameters(), lr=1e-2)
    for step in range(3):
        opt_ref.zero_grad()
        opt_sp.zero_grad()
        out = ref(batch)
        want = _reference_loss(out, batch, case, optim)
        lightning_loss, _, _ = ref._loss(out, batch)  # multilabel: its targets are float32
        assert abs(float(lightning_loss) - float(want)) <= 1e-6, (label, float(lightning_loss), float(want))
        want.backward()
        loss, logged, _, _ = sp.sharded_step(batch)
        loss.backward()
        for p in sp.parameters():  # what DDP does: the mean of the ranks' gradients
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= world
        _close(f"{label} step {step} loss", logged, want.detach())
        for (name, _), g_sp, g_ref in zip(ref.named_parameters(), _grads(sp), _grads(ref), strict=True):
            _close(f"{label} step {step} grad {name}", g_sp, g_ref)
        assert any(bool(g.abs().sum() > 0) for g in _grads(sp)), f"{label}: no gradient at all"
        opt_ref.step()
        opt_sp.step()
    for (name, p_ref), p_sp in zip(ref.named_parameters(), sp.parameters(), strict=True):
        _close(f"{label} parameter {name} after 3 steps", p_sp.detach(), p_ref.detach())
    # evaluation: the batch's loss and the per-frame metrics, synced over the ranks
    with torch.no_grad():
        ref.eval()
        sp.eval()
        ref._eval_step(batch, "val")
        sp._eval_step(batch, "val")
    # torchmetrics keeps its states in float32 (and TaskModule's multilabel loss is float32)
    _close(f"{label} val loss", sp.losses["val"].compute(), ref.losses["val"].compute(), EVAL_TOL)
    got, want_m = sp.metrics["val"].compute(), ref.metrics["val"].compute()
    for key in want_m:
        _close(f"{label} val {key}", got[key], want_m[key], EVAL_TOL)


def _training_cases(rank: int, world: int) -> None:
    for label, case in CASES.items():
        # set 1 ends inside rank 0's shard (all padding on the others); 9 does not divide by world
        _check_case(rank, world, label, case, [9 * world - 1, 3, 7])


def test_sequence_parallel_training_equals_one_process():
    run_spawned(_training_cases, 2, timeout=150.0)


def _data_and_sequence_parallel(rank: int, world: int) -> None:
    """``trainer.devices=4, sequence_parallel=2``: two groups of two ranks, each group on its
    own batch (as ``SequenceParallelDataModule.data_shards`` deals them); DDP's mean of the
    four ranks' gradients must be the mean of the two batches' single-process gradients."""
    size = 2
    group = sequence_group(size)
    mine = rank // size
    for label in ("diarization-like", "phonemes-like"):
        case = CASES[label]
        model, spec, batch_a = _setup(case, [9 * size - 1, 3, 7])
        _, _, batch_b = _setup(case, [4, 2 * size + 5], seed=0)
        batches = (batch_a, batch_b)
        optim = {"label_smoothing": 0.1 if case["target"] == "class" else 0.0}
        ref = TaskModule(copy.deepcopy(model), spec, optim)
        sp = SequenceParallelModule(copy.deepcopy(model), spec, optim, size=size)
        sp.group = group
        opt_ref = torch.optim.AdamW(ref.parameters(), lr=1e-2)
        opt_sp = torch.optim.AdamW(sp.parameters(), lr=1e-2)
        for step in range(3):
            opt_ref.zero_grad()
            opt_sp.zero_grad()
            want = sum(_reference_loss(ref(b), b, case, optim) for b in batches) / len(batches)
            want.backward()
            loss, logged, _, _ = sp.sharded_step(batches[mine])
            loss.backward()
            for p in sp.parameters():  # DDP: the mean over all four ranks
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad /= world
            one = _reference_loss(ref(batches[mine]), batches[mine], case, optim)
            _close(f"dp x sp {label} step {step} group {mine} loss", logged, one.detach())
            for (name, _), g_sp, g_ref in zip(ref.named_parameters(), _grads(sp), _grads(ref), strict=True):
                _close(f"dp x sp {label} step {step} grad {name}", g_sp, g_ref)
            opt_ref.step()
            opt_sp.step()
        for (name, p_ref), p_sp in zip(ref.named_parameters(), sp.parameters(), strict=True):
            _close(f"dp x sp {label} parameter {name} after 3 steps", p_sp.detach(), p_ref.detach())


def test_data_parallel_times_sequence_parallel_equals_one_process():
    run_spawned(_data_and_sequence_parallel, 4, timeout=120.0)


def _refusals(rank: int, world: int) -> None:
    model, _, batch = _setup(CASES["phonemes-like"], [5, 4])
    shard = make_shard(batch.x.shape[1], batch.mask.sum(1))
    local = shard_batch(batch, shard)
    q = torch.randn(2, 1, shard.local_length, 4, dtype=torch.float64)
    with sequence_parallel(shard):
        for kwargs, word in ((dict(dropout_p=0.1), "dropout_p"), (dict(normalize="relu"), "normalize"),
                             (dict(mask=torch.ones(shard.local_length, shard.local_length, dtype=torch.bool)),
                              "mask")):
            with pytest.raises(ValueError, match=word):
                attention(q, q, q, **kwargs)
        with pytest.raises(ValueError, match="rows of"):  # a length that is not this shard's
            attention(q[:, :, :1], q[:, :, :1], q[:, :, :1])
        out = model(local.x, local.mask)
    assert out.shape[:2] == local.x.shape[:2]
    # outside the step attention is local again
    assert attention(q, q, q).shape == q.shape


def test_sequence_parallel_refuses_what_the_ring_cannot_compute():
    run_spawned(_refusals, 2, timeout=60.0)


@pytest.mark.parametrize(("preset", "overrides", "word"), [
    ("asr", [], "cannot be split along time"),
    ("diarization", [], "model.dropout=0"),
    ("diarization", ["model.dropout=0", "model.kind=cnn"], "looks across shard boundaries"),
    ("diarization", ["model.dropout=0", "model.positional=alibi"], "model.positional"),
    ("diarization", ["model.dropout=0", "model.attention=linear"], "model.attention"),
    ("diarization", ["model.dropout=0", "trainer.devices=3"], "multiple of 2"),
])
def test_sequence_parallel_config_errors(preset, overrides, word):
    with pytest.raises(ConfigError, match=word):
        resolve_config(preset, None, ["trainer.sequence_parallel=2", "trainer.devices=2", *overrides])


def test_sequence_parallel_config_accepts_a_shardable_run():
    cfg = resolve_config("phonemes", None, ["trainer.sequence_parallel=2", "trainer.devices=2",
                                             "model.dropout=0"])
    assert cfg["trainer"]["sequence_parallel"] == 2
    with pytest.raises(ConfigError, match="positive integer"):
        resolve_config("phonemes", None, ["trainer.sequence_parallel=0"])
