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
"""

from . import functional, nn, patterns, positional, varlen
from .functional import attention, reference_attention

__version__ = "0.1.0"

__all__ = [
    "attention", "functional", "nn", "patterns", "positional", "reference_attention", "varlen",
]
