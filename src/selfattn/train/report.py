"""The results table: runs' ``results.json`` against the targets of each preset.

``selfattn report RUN... [--out FILE] [--keep DIR]`` prints (or writes) a Markdown table with,
for each run, the command that made it, the seed, the wall time, the headline test metric and
whether it meets its preset's target. ``--keep DIR`` copies each run's ``results.json``,
``config.yaml`` and ``metrics.csv`` (the per-epoch curve) into ``DIR/<run name>/`` so the figures
can be committed without the checkpoints.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

__all__ = ["TARGETS", "Target", "collect", "markdown"]


@dataclass(frozen=True)
class Target:
    metric: str          # key in results.json
    goal: float
    higher_is_better: bool = True
    label: str = ""      # how the metric reads in the table

    def met(self, value: float) -> bool:
        return value >= self.goal if self.higher_is_better else value <= self.goal

    def describe(self) -> str:
        return f"{'≥' if self.higher_is_better else '≤'} {self._fmt(self.goal)}"

    def _fmt(self, value: float) -> str:
        return f"{100 * value:.1f}%" if _percent(self.metric) else f"{value:.3g}"


def _percent(metric: str) -> bool:
    """Accuracies and error rates read as percentages."""
    return metric.endswith(("_acc", "_cer", "_wer"))


# The training issue's targets, by preset, for self-attention models (the "pos" preset is the main
# job: >= 93% in < 5 minutes; 95% is the target of the full configuration). Baselines (model.kind
# mlp, cnn, lstm, ...) are compared with them, not held to them.
TARGETS: dict[str, Target] = {
    "pos": Target("test_acc", 0.95, label="token accuracy"),
    "pos-oanc": Target("test_acc", 0.95, label="token accuracy"),
    "sentiment": Target("test_acc", 0.78, label="accuracy"),
    "sentiment-glove": Target("test_acc", 0.78, label="accuracy"),   # from scratch, GloVe word vectors
    "sentiment-minilm": Target("test_acc", 0.85, label="accuracy"),
    "speaker": Target("test_acc", 0.95, label="accuracy"),
    "molecule-bbb": Target("test_auroc", 0.90, label="ROC-AUC"),
    "freesolv": Target("test_rmse", 1.5, higher_is_better=False, label="RMSE (kcal/mol)"),
    "polblogs": Target("test_acc", 0.94, label="node accuracy"),
    "fashion-mnist": Target("test_acc", 0.90, label="accuracy"),
    "fashion-mnist-conv": Target("test_acc", 0.91, label="accuracy"),
    "phonemes": Target("test_acc", 0.85, label="frame accuracy, held-out voices"),
    "asr": Target("test_cer", 0.15, higher_is_better=False, label="CER, held-out voices"),
    "detr": Target("test_map_50", 0.70, label="mAP@0.5"),
    "translate": Target("test_bleu", 15.0, label="BLEU"),
}


def collect(runs: list[str | Path]) -> list[dict]:
    """One row per run directory: its results, config, and the preset's target (if any)."""
    rows = []
    for run in runs:
        folder = Path(run)
        path = folder / "results.json"
        if not path.is_file():
            raise FileNotFoundError(f"RUN {folder}: expected {path} (a finished run), it is missing")
        results = json.loads(path.read_text(encoding="utf-8"))
        config_path = folder / "config.yaml"
        config = yaml.safe_load(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        attention = config.get("model", {}).get("kind", "transformer") in ("transformer", "pretrained")
        rows.append({"name": folder.name, "folder": folder, "results": results, "config": config,
                     "target": TARGETS.get(results.get("preset", "")) if attention else None})
    return rows


def _headline(row: dict) -> tuple[str, float | None]:
    results, target = row["results"], row["target"]
    if target is not None and isinstance(results.get(target.metric), (int, float)):
        return target.metric, float(results[target.metric])
    for key in ("test_acc", "test_auroc", "test_rmse", "test_bleu", "test_f1", "test_cer", "test_map_50"):
        if isinstance(results.get(key), (int, float)):
            return key, float(results[key])
    # any other task: its first test metric other than the loss (a new task is never shown as "—")
    for key, value in results.items():
        if key.startswith("test_") and key != "test_loss" and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            return key, float(value)
    if isinstance(results.get("test_loss"), (int, float)):
        return "test_loss", float(results["test_loss"])
    return "", None


def markdown(rows: list[dict]) -> str:
    """The table: run, command, seed, wall time, metric, target, met?"""
    lines = ["| run | command | seed | time | test metric | target | met? |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        r, target = row["results"], row["target"]
        key, value = _headline(row)
        shown = "—" if value is None else (f"{100 * value:.2f}%" if _percent(key) else f"{value:.4g}")
        label = target.label if target is not None and key == target.metric else key.removeprefix("test_")
        goal = target.describe() if target is not None and key == target.metric else "—"
        met = "—" if goal == "—" or value is None else ("yes" if target.met(value) else "**no**")
        command = _shown(r["command"]) if r.get("command") else _command_from(row)
        minutes = r.get("wall_s")
        time = f"{minutes / 60:.1f} min" if isinstance(minutes, (int, float)) else "—"
        lines.append(f"| {row['name']} | `{command}` | {r.get('seed', '—')} | {time} | {label} {shown} | "
                     f"{goal} | {met} |")
    return "\n".join(lines) + "\n"


def _shown(command: str) -> str:
    """The command without where its run went or how it printed (``run.dir=``, ``-q``, ``-v``)."""
    return " ".join(t for t in command.split() if not t.startswith("run.dir=")
                    and t not in ("-q", "--quiet", "-v", "--verbose"))


def _command_from(row: dict) -> str:
    """Rebuild ``selfattn train PRESET key=value...`` from a run's config (older runs kept no command)."""
    from .config import resolve_config

    config = row["config"]
    if not config.get("preset"):
        return "?"
    base, got = _flat(resolve_config(config["preset"])), _flat(config)
    overrides = [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in got.items()
                 if k not in ("task", "preset", "run.dir", "trainer.progress") and base.get(k) != v]
    return " ".join(["selfattn train", config["preset"], *overrides])


def _flat(tree: dict, prefix: str = "") -> dict:
    out: dict = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def keep(rows: list[dict], folder: str | Path) -> list[Path]:
    """Copy each run's ``results.json``, ``config.yaml`` and ``metrics.csv`` to ``folder/<run name>/``."""
    kept = []
    for row in rows:
        target = Path(folder) / row["name"]
        target.mkdir(parents=True, exist_ok=True)
        for name in ("results.json", "config.yaml", "metrics.csv"):
            if (row["folder"] / name).is_file():
                shutil.copyfile(row["folder"] / name, target / name)
        kept.append(target)
    return kept
