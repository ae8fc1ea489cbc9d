"""``build_positional``: every scheme by name, built from the model's sizes.

Names, and where each scheme puts position:

==============  ============  ==================================================
name            where         what
==============  ============  ==================================================
``none``        --            nothing (permutation-equivariant baseline)
``sinusoidal``  inputs        closed-form sin/cos clocks, any length
``learned``     inputs        a trained table, ``max_len`` rows (error or
                              interpolation beyond)
``floater``     inputs        solution of a learned ODE over position (RK4)
``rnn``         inputs        outputs of a GRU run over positions
``shaw``        attention     learned relative keys/values, clipped at ``K``
``t5``          attention     learned bias per head and log-spaced distance bucket
``rope``        attention     rotations of q and k by position
``alibi``       attention     ``-m_h |i - j|`` bias per head
==============  ============  ==================================================

``build_positional(name, d_model=E, num_heads=H, **options)`` passes the sizes each
scheme needs (``E`` for the encodings added to the inputs, ``H`` or ``E / H`` for the
ones inside attention) and the options to its constructor; an unknown name or option
raises with the accepted ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from .alibi import ALiBiBias
from .floater import FloaterEncoding
from .learned import LearnedEncoding
from .none import NoEncoding
from .rnn import RNNEncoding
from .rotary import RotaryEmbedding
from .shaw_layer import ShawRelativePositions
from .sinusoidal import SinusoidalEncoding
from .t5_bias import T5RelativeBias

__all__ = ["ATTENTION_SCHEMES", "INPUT_SCHEMES", "SCHEMES", "build_positional"]

# name -> (class, which size it is built from: "d_model", "num_heads" or "head_dim")
SCHEMES: dict[str, tuple[type[nn.Module], str]] = {
    "none": (NoEncoding, "d_model"),
    "sinusoidal": (SinusoidalEncoding, "d_model"),
    "learned": (LearnedEncoding, "d_model"),
    "floater": (FloaterEncoding, "d_model"),
    "rnn": (RNNEncoding, "d_model"),
    "shaw": (ShawRelativePositions, "head_dim"),
    "t5": (T5RelativeBias, "num_heads"),
    "rope": (RotaryEmbedding, "head_dim"),
    "alibi": (ALiBiBias, "num_heads"),
}
INPUT_SCHEMES = tuple(n for n, (c, _) in SCHEMES.items() if c.where == "inputs")
ATTENTION_SCHEMES = tuple(n for n, (c, _) in SCHEMES.items() if c.where == "attention")


def _options(cls: Callable) -> list[str]:
    params = list(inspect.signature(cls.__init__).parameters.values())[2:]  # self, size
    return [p.name for p in params]


def build_positional(name: str, *, d_model: int, num_heads: int = 1, **options: Any) -> nn.Module:
    """The scheme ``name`` for a model of width ``d_model`` with ``num_heads`` heads.

    Returns a module with ``.where`` (``"inputs"`` or ``"attention"``): an
    ``AbsoluteEncoding`` (call it on the inputs) or a scheme to hand to attention (see
    ``PositionalScheme.attention_kwargs`` and ``PositionedEncoder``).
    """
    if name not in SCHEMES:
        raise ValueError(f"name: expected one of {list(SCHEMES)}, got {name!r}")
    if d_model < 1 or num_heads < 1:
        raise ValueError(f"d_model, num_heads: expected positive sizes, got {d_model} and "
                         f"{num_heads}")
    cls, size = SCHEMES[name]
    if size == "head_dim" and d_model % num_heads:
        raise ValueError(f"num_heads: expected a divisor of d_model={d_model} (the {name!r} "
                         f"scheme works per head), got {num_heads}")
    accepted = _options(cls)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"options: the {name!r} scheme accepts {accepted}, got unknown "
                         f"{unknown}")
    first = {"d_model": d_model, "num_heads": num_heads, "head_dim": d_model // num_heads}[size]
    return cls(first, **options)
