"""A PyTorch Long Range Arena (Tay et al. 2021) over data that works offline here.

* Tasks: ``listops`` (generator of nested MAX / MIN / MED / SM expressions, up to 2K
  tokens), ``text`` (byte-level movie reviews: Rotten Tomatoes snippets concatenated into
  long documents), ``image`` (Fashion-MNIST as grey-level pixel sequences), ``pathfinder``
  (generator: are two dots joined by a dashed path, 32 x 32 or 16 x 16).
* ``attention``: the chart's twelve attentions by name (``LRA_ATTENTIONS``): full, local,
  Sparse Transformer, Longformer, BigBird (exact pattern kernels), Reformer, Linformer,
  Performer, Linear Transformer, Synthesizer, Sinkhorn, Nystromformer.
* ``model.LRAClassifier``: one encoder classifier; only the attention changes.
* ``harness``: tasks at a scale (``TINY`` for tests, ``SMALL`` for 2 CPU cores in 30
  minutes, ``PAPER`` for a GPU) and the training loop; ``speed``: examples/s and peak
  memory relative to full, crossovers; ``report``: table and charts; ``benchmark``:
  all of it in one call. Command line: ``selfattn bench lra --help``.
"""

from .attention import LRA_ATTENTIONS, PatternAttention, build_lra_attention
from .benchmark import run_benchmark, with_steps, write_outputs
from .harness import (
    PAPER,
    SCALES,
    SMALL,
    TASKS,
    TINY,
    LRAScale,
    TaskConfig,
    collate,
    make_datasets,
    run_lra,
    run_task,
    scale_by_name,
)
from .images import PixelSequenceDataset, digits_dataset, fashion_mnist_dataset
from .listops import ListOpsDataset, generate_listops
from .model import LRAClassifier
from .pathfinder import PathfinderDataset, generate_pathfinder
from .text import ByteTextDataset, decode_bytes, encode_bytes, movie_review_datasets

__all__ = [
    "LRA_ATTENTIONS",
    "PAPER",
    "SCALES",
    "SMALL",
    "TASKS",
    "TINY",
    "ByteTextDataset",
    "LRAClassifier",
    "LRAScale",
    "ListOpsDataset",
    "PathfinderDataset",
    "PatternAttention",
    "PixelSequenceDataset",
    "TaskConfig",
    "build_lra_attention",
    "collate",
    "decode_bytes",
    "digits_dataset",
    "encode_bytes",
    "fashion_mnist_dataset",
    "generate_listops",
    "generate_pathfinder",
    "make_datasets",
    "movie_review_datasets",
    "run_benchmark",
    "run_lra",
    "run_task",
    "scale_by_name",
    "with_steps",
    "write_outputs",
]
