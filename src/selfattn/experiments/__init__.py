"""The lecture's claims as experiments: each writes a results JSON and a PNG.

``EXPERIMENTS`` maps a name to its ``run(out_dir, scale, seed) -> dict`` function. Each
experiment lives in its own module (``selfattn.experiments.<name with underscores>``) and is
imported only when it is run, so ``selfattn experiment --help`` stays fast and one
experiment's optional dependencies never stop another from running.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator, Mapping

__all__ = ["EXPERIMENTS", "NAMES"]

# The lecture's order. A name whose module is not there yet is left out of EXPERIMENTS.
NAMES = (
    "i-saw-a-saw",
    "positional-ablation",
    "rnn-vs-attention",
    "truncated-attention",
    "speech-truncation",
    "cnn-vs-attention",
    "attention-is-a-cnn",
    "graph-edges-vs-full",
    "variants",
    "sagan-ablation",
)


def _module_name(name: str) -> str:
    return f"{__name__}.{name.replace('-', '_')}"


def _available() -> tuple[str, ...]:
    found = []
    for name in NAMES:
        if importlib.util.find_spec(_module_name(name)) is not None:
            found.append(name)
    return tuple(found)


class _Registry(Mapping):
    """Name -> ``run``; the module is imported on first lookup."""

    def __getitem__(self, name: str) -> Callable[..., dict]:
        if name not in _available():
            raise KeyError(name)
        return importlib.import_module(_module_name(name)).run

    def __iter__(self) -> Iterator[str]:
        return iter(_available())

    def __len__(self) -> int:
        return len(_available())


EXPERIMENTS: Mapping[str, Callable[..., dict]] = _Registry()
