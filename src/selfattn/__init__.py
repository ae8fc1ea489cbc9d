"""selfattn: self-attention for variable-length sets of vectors.

Layers of the package (data flows one way, top to bottom):

* ``selfattn.varlen``: the padded and packed forms of a batch of variable-length sets.
* ``selfattn.functional``: pure attention functions: the lecture's reference form and the
  fast kernels behind one dispatcher, ``attention``.
* ``selfattn.positional``: positional encodings (sinusoidal, learned, relative, RoPE,
  ALiBi, FLOATER, RNN) behind one interface.
* ``selfattn.patterns``: sparse patterns (window, Longformer, BigBird, Sparse Transformer,
  2-D neighbourhoods, graph edges); importing it registers their exact fast kernels.
* ``selfattn.nn``: modules: ``SelfAttention``, ``MultiHeadAttention``, encoder layers.

``selfattn.load_run(path)`` reads a trained run directory back (``selfattn.train.export``).
"""

from . import functional, nn, patterns, positional, varlen
from .functional import attention, reference_attention

__version__ = "0.1.0"


def load_run(path):
    """A run directory written by ``selfattn train`` -> :class:`selfattn.train.export.Run`.

    The run's model with its best weights (eval mode), the config its weights were trained
    with, its labels, ``run.predict(file_or_lines, top_k=...)`` and, for runs of
    ``model.kind=pretrained``, ``run.export_transformers(folder)`` (a folder
    ``transformers.AutoModel.from_pretrained`` loads). Needs the ``train`` extra.

    Args:
        path: the run directory (``runs/pos``, ...).
    """
    from .train.export import Run

    return Run.load(path)


__all__ = [
    "attention", "functional", "load_run", "nn", "patterns", "positional", "reference_attention", "varlen",
]
