"""Positional encodings: every scheme of the lecture, and the modern ones, behind one interface.

Self-attention has no notion of position: every output is a weighted sum over all
vectors, with weights from pairwise scores, so permuting the input vectors only permutes
the outputs ("I saw a saw" and "saw a I saw" look alike). The lecture's remedy is to give
each position ``i`` a vector ``e_i`` and add it to the input, ``a_i + e_i``: hand-crafted
(sinusoidal, which has trouble beyond the lengths seen in training) or learned from data,
and it calls the best choice an open question, showing four side by side: sinusoidal, a
learned position embedding, FLOATER and an RNN. Later schemes put position *inside*
attention instead, as a function of the distance ``j - i``.

Added to the inputs (absolute; ``enc(x, offsets=None, lengths=None) -> x + e``):

* ``SinusoidalEncoding``: the closed formula, any length, no parameters.
* ``LearnedEncoding``: a trained ``(max_len, E)`` table; an error beyond ``max_len`` by
  default, linear interpolation of the table on request (``beyond="interpolate"``).
* ``FloaterEncoding``: ``e_i = p(i)`` for a learned ODE ``dp/dt = h(p)`` (RK4).
* ``RNNEncoding``: ``e_i`` is a GRU's output at step ``i``.
* ``NoEncoding``: nothing, for ablations.

Inside attention (relative; given to ``selfattn.nn.MultiHeadAttention``):

* ``ShawRelativePositions``: learned relative key and value vectors; a q-dependent score
  term and an output term (dense kernels only), run by ``selfattn.nn.ShawMultiHeadAttention``.
* ``T5RelativeBias``: a learned bias per head and distance bucket (a ``ScoreBias``).
* ``RotaryEmbedding``: RoPE, q and k rotated by their positions (``rotary=``).
* ``ALiBiBias``: ``-m_h |i - j|`` per head (a ``ScoreBias``).

ScoreBias schemes (T5, ALiBi) reach the fused kernel as a float mask and any sparse
kernel through ``pairwise``; RoPE changes q and k only, so every kernel takes it.

Shapes: inputs are padded ``(B, L, E)`` or packed ``(N, E)`` with ``offsets (B + 1,)``;
packed sets each use their own positions, starting at 0. ``build_positional(name,
d_model=, num_heads=)`` builds any scheme by name; ``selfattn.nn.PositionedEncoder`` wires
one into an encoder stack.

This package holds encodings and biases only; the modules that use them live in
``selfattn.nn``. ``ShawMultiHeadAttention`` and ``PositionedEncoder`` are still importable
from here (resolved on first use, so that importing ``selfattn.positional`` never imports
the layer above it).
"""

from .alibi import ALiBiBias, alibi_slopes
from .base import AbsoluteEncoding, PositionalScheme
from .floater import FloaterDynamics, FloaterEncoding, rk4_solve
from .learned import LearnedEncoding
from .none import NoEncoding
from .registry import ATTENTION_SCHEMES, INPUT_SCHEMES, SCHEMES, build_positional
from .rnn import RNNEncoding, gru_reference
from .rotary import RotaryEmbedding, rotate_reference
from .shaw import relative_index, shaw_attention, shaw_attention_reference
from .shaw_layer import ShawRelativePositions
from .sinusoidal import SinusoidalEncoding
from .t5_bias import T5RelativeBias, t5_bucket

__all__ = [
    "ATTENTION_SCHEMES",
    "INPUT_SCHEMES",
    "SCHEMES",
    "ALiBiBias",
    "AbsoluteEncoding",
    "FloaterDynamics",
    "FloaterEncoding",
    "LearnedEncoding",
    "NoEncoding",
    "PositionalScheme",
    "PositionedEncoder",
    "RNNEncoding",
    "RotaryEmbedding",
    "ShawMultiHeadAttention",
    "ShawRelativePositions",
    "SinusoidalEncoding",
    "T5RelativeBias",
    "alibi_slopes",
    "build_positional",
    "gru_reference",
    "relative_index",
    "rk4_solve",
    "rotate_reference",
    "shaw_attention",
    "shaw_attention_reference",
    "t5_bucket",
]

_MOVED_TO_NN = ("PositionedEncoder", "ShawMultiHeadAttention")


def __getattr__(name: str):
    """The names that moved to ``selfattn.nn`` (PEP 562: imported when first asked for)."""
    if name in _MOVED_TO_NN:
        from .. import nn

        return getattr(nn, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_MOVED_TO_NN])
