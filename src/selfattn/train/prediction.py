"""``Prediction``: what a run says about one input set (labels, scores, probabilities,
a value or a text), kept below the tasks so a task's own predictor can build one without
importing ``selfattn.train.predictor`` (which imports the tasks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["Prediction"]


@dataclass
class Prediction:
    """What a run says about one input set (see the module doc)."""

    source: str
    input: Any
    labels: list[str] | str | None = None
    score: list[float] | float | None = None
    top: list[Any] = field(default_factory=list)
    probabilities: torch.Tensor | None = None
    value: float | None = None
    text: str | None = None
    line: str = ""   # the task's own one-line (or multi-line) rendering

    def to_dict(self, with_probabilities: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "input": self.input}
        for key in ("labels", "score", "top", "value", "text"):
            value = getattr(self, key)
            if value not in (None, []):
                out[key] = value
        if with_probabilities and self.probabilities is not None:
            out["probabilities"] = [round(float(p), 6) for p in self.probabilities.reshape(-1)] \
                if self.probabilities.dim() == 1 else [[round(float(p), 6) for p in row]
                                                        for row in self.probabilities]
        return out
