"""A PyTorch Long Range Arena (Tay et al. 2021) over data that works offline here.

* ``listops``: ListOps generator (nested MAX / MIN / MED / SM, lengths up to 2K) and a
  seeded dataset; ``pathfinder``: 32 x 32 Pathfinder generator and dataset; ``images``:
  images as pixel sequences (scikit-learn digits; any ``(N, H, W)`` array).
* ``model.LRAClassifier``: one encoder classifier whose attention is picked by name.
* ``harness``: a plain training loop, ``run_task`` / ``run_lra``, at the ``TINY`` (2-core CPU,
  minutes) or ``PAPER`` (GPU) scale. ``python -m selfattn.bench.lra --help``.
"""

from .harness import PAPER, TINY, LRAScale, collate, make_datasets, run_lra, run_task
from .images import PixelSequenceDataset, digits_dataset
from .listops import ListOpsDataset, generate_listops
from .model import LRAClassifier
from .pathfinder import PathfinderDataset, generate_pathfinder

__all__ = [
    "PAPER",
    "TINY",
    "LRAClassifier",
    "LRAScale",
    "ListOpsDataset",
    "PathfinderDataset",
    "PixelSequenceDataset",
    "collate",
    "digits_dataset",
    "generate_listops",
    "generate_pathfinder",
    "make_datasets",
    "run_lra",
    "run_task",
]
