"""``trainer.packed``: a real training run with the encoder on the packed ``(N, d)`` real
vectors equals the same run padded, end to end (Lightning, AdamW, the schedule, eval,
predict, the attention maps of the report). Its slow twin is ``trainer.packed=false``.

Tolerances: float64 1e-10 (measured: ~5e-12 after 2 epochs); float32 1e-6 on the losses and
1e-5 on the weights, except the key biases of attention without a position-dependent key
(``model.positional=none`` layers, the attention pooling): their exact gradient is zero
(``q . (k + b)`` adds the same ``q . b`` to every score of a query, which softmax removes),
so both runs' gradients there are float32 rounding noise, which AdamW's division by
``sqrt(v) + 1e-8`` turns into steps of up to ``lr``. Those weights differ by up to ~4e-3 and
change no output: both runs' test metrics (``selfattn eval``) agree to 1e-5.
"""

from __future__ import annotations

import csv
import random

import pytest
import torch
from train_setup import tiny_config

from selfattn.nn.model import AttentionEncoder
from selfattn.train.checkpoint import load_weights
from selfattn.train.config import ConfigError, packed_training, resolve_config
from selfattn.train.module import TaskModule
from selfattn.train.run import evaluate, load_run, predict, train
from selfattn.train.tasks import get_task
from selfattn.train.tasks.presets import PRESETS

# preset -> overrides pointing it at a fixture file (varied_files, conftest.data_files), predict input
CASES = {
    "pos": (["data.path={pos_varied}", "data.glove=0", "trainer.batch_size=8"],
            "the red dog sees a cat .\na book opens\n"),
    "sentiment": (["data.path={sentiment_varied}", "data.min_freq=1", "trainer.batch_size=16"],
                  "the film is superb\nthe film is awful and dull\n"),
    "molecule-bbb": (["data.path={b3db}", "trainer.batch_size=8"], "CCO\nCCCC\nc1ccccc1\n"),
    "freesolv": (["data.path={freesolv}", "trainer.batch_size=8"], "CCO\nc1ccccc1\n"),
}
TOLERANCE = {"64-true": (1e-10, 1e-10), "32-true": (1e-6, 1e-5)}   # (losses, weights)


@pytest.fixture(scope="module")
def files(data_files, tmp_path_factory):
    """``data_files`` plus POS and sentiment files whose sets vary in length (3..14 words), so
    every batch has padding for the packed run to remove."""
    rng = random.Random(3)
    root = tmp_path_factory.mktemp("varied")
    adjectives, nouns = ["red", "big", "old", "quiet"], ["dog", "cat", "house", "river", "book"]
    lines = []
    for _ in range(80):
        subject = ["the/DT", *(f"{rng.choice(adjectives)}/JJ" for _ in range(rng.randint(0, 4))),
                   f"{rng.choice(nouns)}/NN"]
        rest = ["sees/VBZ", "a/DT", f"{rng.choice(nouns)}/NN"][:rng.randint(1, 3)]
        lines.append(" ".join([*subject, *rest, "./."]))
    rows = ["category,text"]
    for i in range(120):
        fresh = i % 2 == 0
        words = rng.sample(["great", "moving", "fine", "superb"] if fresh else ["dull", "awful", "bad", "flat"], 2)
        rows.append(f"{'fresh' if fresh else 'rotten'},\"the film is {' '.join(['really'] * rng.randint(0, 8))} "
                    f"{words[0]} and {words[1]}\"")
    out = {**data_files, "pos_varied": root / "tagged.txt", "sentiment_varied": root / "rt.csv"}
    out["pos_varied"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    out["sentiment_varied"].write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out


def _fill(items, files):
    return [i.format(**{k: str(v) for k, v in files.items()}) for i in items]


def _spy(monkeypatch) -> dict[str, list]:
    """Every training step's loss at full precision, and how often the packed encoder ran."""
    seen: dict[str, list] = {"losses": [], "packed_calls": [], "padded_batches": []}
    step, forward_packed = TaskModule.training_step, AttentionEncoder.forward_packed

    def training_step(self, batch, batch_idx):
        loss = step(self, batch, batch_idx)
        seen["losses"].append(float(loss.detach()))
        seen["padded_batches"].append(bool((~batch.mask).any()))
        return loss

    def counted(self, *args, **kwargs):
        seen["packed_calls"].append(1)
        return forward_packed(self, *args, **kwargs)

    monkeypatch.setattr(TaskModule, "training_step", training_step)
    monkeypatch.setattr(AttentionEncoder, "forward_packed", counted)
    return seen


def _train_both(preset, precision, files, tmp_path, monkeypatch, *extra):
    overrides, _ = CASES[preset]
    seen = _spy(monkeypatch)
    runs = {}
    for packed in (False, True):
        for values in seen.values():
            values.clear()
        folder = tmp_path / f"packed-{packed}"
        cfg = tiny_config(preset, folder, "trainer.max_epochs=2", "trainer.patience=10", "model.dropout=0",
                          f"trainer.precision={precision}", f"trainer.packed={str(packed).lower()}",
                          *_fill(overrides, files), *extra)
        results = train(cfg, log=lambda _: None)
        runs[packed] = {"folder": folder, "results": results, "losses": list(seen["losses"]),
                        "packed_calls": len(seen["packed_calls"]), "padded_batches": sum(seen["padded_batches"])}
    return runs


def _table(folder):
    with open(folder / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def _zero_gradient_slice(name: str, value: torch.Tensor, positional: str) -> slice | None:
    """The key-bias part of a parameter (see the module docstring), or None."""
    if name.endswith("attn_pool.kv.bias"):
        return slice(0, value.numel() // 2)
    if name.endswith("self_attn.in_proj.bias") and positional in ("none", "sinusoidal", "learned"):
        return slice(value.numel() // 3, 2 * value.numel() // 3)
    return None


@pytest.mark.parametrize("preset,precision", [("pos", "64-true"), ("sentiment", "64-true"),
                                              ("molecule-bbb", "64-true"), ("freesolv", "64-true"),
                                              ("pos", "32-true"), ("molecule-bbb", "32-true")])
def test_packed_training_equals_padded(preset, precision, files, tmp_path, monkeypatch):
    runs = _train_both(preset, precision, files, tmp_path, monkeypatch)
    padded, packed = runs[False], runs[True]
    assert padded["packed_calls"] == 0 and packed["packed_calls"] > len(packed["losses"])  # + eval batches
    assert packed["padded_batches"] >= len(packed["losses"]) // 2  # there was padding to remove
    loss_tol, weight_tol = TOLERANCE[precision]

    assert len(packed["losses"]) == len(padded["losses"]) > 4
    assert packed["losses"] == pytest.approx(padded["losses"], abs=loss_tol, rel=0)
    a, b = _table(padded["folder"]), _table(packed["folder"])
    assert [r["epoch"] for r in a] == [r["epoch"] for r in b] == ["0", "1"] and a[0].keys() == b[0].keys()
    for ra, rb in zip(a, b, strict=True):
        for key in ra:
            if key != "wall_s":  # metrics.csv keeps 6 decimals: equal to within its rounding
                assert float(rb[key]) == pytest.approx(float(ra[key]), abs=max(loss_tol, 1.01e-6)), key

    positional = load_run(packed["folder"])[0]["model"]["positional"]
    wa, wb = load_weights(padded["folder"] / "model.safetensors"), load_weights(packed["folder"] / "model.safetensors")
    assert wa.keys() == wb.keys()
    expected_dtype = torch.float64 if precision == "64-true" else torch.float32
    assert any(v.dtype == expected_dtype for v in wa.values())
    for name in wa:
        diff = (wa[name].double() - wb[name].double()).abs().flatten()
        part = _zero_gradient_slice(name, wa[name].flatten(), positional) if precision == "32-true" else None
        if part is not None:
            diff[part] = 0
        assert (float(diff.max()) if diff.numel() else 0.0) <= weight_tol, name

    # eval and predict read the saved runs back: packed and padded give the same figures and lines
    scores = {p: evaluate(runs[p]["folder"], log=lambda _: None) for p in (False, True)}
    for key, value in scores[False].items():
        if key.startswith("test_") and isinstance(value, float):
            assert scores[True][key] == pytest.approx(value, abs=max(loss_tol, 1e-5)), key
    _, _, _, _, model_a = load_run(padded["folder"])
    _, _, _, _, model_b = load_run(packed["folder"])
    assert (model_a.packed, model_b.packed) == (False, True)
    text = CASES[preset][1]
    if text is not None:
        source = tmp_path / "input.txt"
        source.write_text(text, encoding="utf-8")
        assert predict(packed["folder"], source) == predict(padded["folder"], source)


def test_packed_run_outputs_and_attention_maps_equal_the_padded_run(files, tmp_path, monkeypatch):
    """The report's attention maps (``return_weights=True``, drawn by the padded path of the
    packed model) and the outputs of both final models on a real batch (trained in float64;
    ``load_run`` builds float32 models, hence 1e-5)."""
    runs = _train_both("sentiment", "64-true", files, tmp_path, monkeypatch, "run.plots=true")
    assert str(runs[True]["results"]["plots"]["attention"]).endswith("attention.png")
    assert (runs[True]["folder"] / "attention.png").stat().st_size > 1000
    from selfattn.data import Collate

    cfg, task, _, state, model_a = load_run(runs[False]["folder"])
    *_, model_b = load_run(runs[True]["folder"])
    data = task.rebuild(cfg, state)
    batch = Collate("padded", task.layout_labels)([data.test[i] for i in range(min(6, len(data.test)))])
    assert not bool(batch.mask.all())  # lengths differ: there is padding to remove
    with torch.no_grad():
        out_a, weights_a = model_a(batch.x, batch.mask, return_weights=True)
        out_b, weights_b = model_b(batch.x, batch.mask, return_weights=True)
        out_packed = model_b(batch.x, batch.mask)
    assert torch.allclose(out_a, out_b, atol=1e-5, rtol=0)
    assert torch.allclose(out_packed, out_b, atol=1e-5, rtol=0)
    assert len(weights_a) == len(weights_b) == 1
    for wa, wb in zip(weights_a, weights_b, strict=True):
        assert torch.allclose(wa, wb, atol=1e-5, rtol=0)


# -- config ------------------------------------------------------------------------------
@pytest.mark.parametrize("preset,overrides,named", [
    ("pos", ["model.kind=lstm"], "model.kind='lstm' has no packed path"),
    ("pos", ["model.kind=cnn"], "model.kind='cnn' has no packed path"),
    ("sentiment", ["model.attention=performer", "model.positional=sinusoidal"],
     "model.attention='performer' is an approximate variant"),
    ("pos", ["model.attention=reformer", "model.positional=sinusoidal"],
     "model.attention='reformer' is an approximate variant"),
    ("sentiment", ["model.pooling=first", "model.pattern=window"], "the [CLS] vector in front"),
    ("translate", [], "task 'translate' builds a model of its own"),
    ("asr", [], "task 'asr' builds a model of its own"),
    ("detr", [], "task 'detr' builds a model of its own"),
])
def test_packed_true_is_refused_in_one_line_where_the_model_cannot_pack(preset, overrides, named):
    with pytest.raises(ConfigError) as error:
        resolve_config(preset, overrides=[*overrides, "trainer.packed=true"])
    message = str(error.value)
    assert message.startswith("trainer.packed: ") and named in message and "\n" not in message
    assert message.endswith("expected trainer.packed=false (or auto)")
    # auto on the same config: trains padded, no error
    assert packed_training(resolve_config(preset, overrides=overrides)) is False


@pytest.mark.parametrize("value", ["1", "packed", "[true]", "null"])
def test_packed_takes_true_false_or_auto(value):
    with pytest.raises(ConfigError, match=r"trainer.packed: expected true, false or auto .*, got"):
        resolve_config("pos", overrides=[f"trainer.packed={value}"])


# The presets whose task sets packed_default (benchmarks/results/packed_training.json: packed
# training steps >= 1.05x faster at the preset's model size on its real length distribution).
PACKED_BY_DEFAULT: set[str] = set()


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_auto_resolves_to_the_task_default(preset):
    cfg = resolve_config(preset)
    task = get_task(cfg["task"])
    assert packed_training(cfg) is (preset in PACKED_BY_DEFAULT)
    assert bool(getattr(task, "packed_default", False)) or preset not in PACKED_BY_DEFAULT
    assert packed_training(resolve_config(preset, overrides=["trainer.packed=false"])) is False
