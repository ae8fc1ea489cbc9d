"""Long recordings in bounded memory: encode in chunks, each with its receptive field as context.

A window-attention encoder of ``depth`` layers with ``|i - j| <= W`` sees ``depth * W``
frames each side, no further: an output frame's value depends on those input frames only.
So a recording can be cut into chunks of ``C`` output frames, each encoded together with
``R = depth * W`` frames of context on either side (clipped at the recording's ends), and
only the chunk's own ``C`` rows kept: the result is the whole-utterance encoding, not an
approximation (``tests/test_chunked_encoding.py`` checks float64 equality). Peak memory
is that of a ``C + 2R`` frame utterance whatever the recording's length.

The model's own ``forward`` is run on each slice, so nothing about its layers is repeated
here; what this module knows is the geometry:

* :class:`~selfattn.nn.ctc.CTCModel` (``asr``): two stride-2 convolutions (kernel 3,
  padding 1) make output frame ``k`` read input frames ``4k - 3 .. 4k + 3``. A slice
  starting at input frame ``4s`` (``s > 0``) zero-pads where the whole recording has real
  frames, which spoils its first output frame only; one extra output frame of context on
  the left, dropped with the rest of the context, keeps every kept frame exact. Slices end
  at multiples of 4 input frames (or the recording's end), where no padding is used.
* :class:`~selfattn.nn.model.SetModel` (``phonemes``): a per-frame projection, the
  encoder and a per-frame head: context ``R`` frames, no subsampling.

Positions must be relative for the chunks to agree with the whole: a slice numbers its
frames from 0. Rotary, ALiBi, T5 and Shaw schemes (inside the attention) qualify; an
absolute input encoding (``sinusoidal``, ``learned``, ...) does not. Where a model's
receptive field is unbounded or unknown (full attention, a BiLSTM, an efficient attention
variant, absolute positions, an attention decoder that reads every frame),
:func:`chunk_plan` says why, and :func:`chunked_forward` encodes the whole utterance with
that reason as a warning (the choice documented in ``docs/tasks.md``'s predict notes): a
short file still gets its answer, a long one a clear note of why its memory grows.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["ChunkPlan", "chunk_plan", "chunked_forward", "iter_chunks"]


@dataclass(frozen=True)
class ChunkPlan:
    """How to cut a recording for ``model``: ``stride`` input frames per output frame,
    ``context`` output frames each side (the receptive field), ``margin`` extra output
    frames of context on the left spoiled by the subsampling's padding."""

    stride: int
    context: int
    margin: int


def _relative_positions(encoder: nn.Module) -> bool:
    from ..positional.none import NoEncoding

    inputs = getattr(encoder, "inputs", None)
    return inputs is None or isinstance(inputs, NoEncoding)


def chunk_plan(model: nn.Module) -> ChunkPlan | str:
    """A :class:`ChunkPlan` for a window-attention ``CTCModel`` or per-frame ``SetModel``,
    else the reason (a string) why its output frames depend on the whole recording."""
    from .ctc import CTCModel
    from .model import AttentionEncoder, SetModel

    if isinstance(model, CTCModel):
        if hasattr(model, "joint_step"):
            return "an attention decoder reads every encoder frame"
        stride, margin = 4, 1
    elif isinstance(model, SetModel):
        if model.task != "vector" or model.cls is not None:
            return "a per-set output reads every frame"
        from .heads import VectorHead
        from .model import InputEmbedding

        if not isinstance(model.head, VectorHead) or not isinstance(model.embed, InputEmbedding):
            return "its input or output layer is not per frame"
        stride, margin = 1, 0
    else:
        return f"{type(model).__name__} is not a CTC or per-frame model"
    encoder = model.encoder
    if not isinstance(encoder, AttentionEncoder):
        return f"its encoder ({type(encoder).__name__}) sees the whole recording"
    if model.pattern != "window":
        return "full attention (model.pattern=none) sees the whole recording"
    if not encoder.takes_patterns:
        return "an efficient attention variant is not exact under a window mask"
    if not _relative_positions(encoder):
        return "absolute input positions (model.positional) differ in a chunk"
    return ChunkPlan(stride, len(encoder.layers) * int(model.window), margin)


def iter_chunks(model: nn.Module, x: torch.Tensor, chunk: int, plan: ChunkPlan):
    """Yield ``(start, outputs)``: the model's outputs ``(1, n, ...)`` for output frames
    ``start .. start + n`` of ``x (T, F)`` (``T`` input frames), ``chunk`` output frames at a
    time, each computed from its slice with context (module doc)."""
    if chunk < 1:
        raise ValueError(f"chunk: expected >= 1 output frames, got {chunk}")
    frames = x.shape[0]
    total = math.ceil(frames / plan.stride) if plan.stride > 1 else frames
    for a in range(0, total, chunk):
        b = min(a + chunk, total)
        lo = max(a - plan.context - plan.margin, 0)
        hi = min(b + plan.context, total)
        piece = x[lo * plan.stride: min(hi * plan.stride, frames)]
        out = model(piece[None])
        yield a, out[:, a - lo: b - lo]


@torch.no_grad()
def chunked_forward(model: nn.Module, x: torch.Tensor, chunk: int, warn: bool = True) -> torch.Tensor:
    """The model's outputs ``(1, T', ...)`` for one recording ``x (T, F)``, ``chunk`` output
    frames at a time; the whole utterance at once (with a warning) where :func:`chunk_plan`
    finds no bounded receptive field. The same values as ``model(x[None])`` either way."""
    plan = chunk_plan(model)
    if isinstance(plan, str):
        if warn:
            warnings.warn(f"chunked encoding: {plan}; encoding the whole recording at once "
                          "(memory grows with its length)", stacklevel=2)
        return model(x[None])
    return torch.cat([out for _, out in iter_chunks(model, x, chunk, plan)], dim=1)
