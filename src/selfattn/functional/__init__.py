"""Pure attention functions: the lecture's reference form and the exact fast kernels.

Layout: batch-first ``(batch, heads, length, head_dim)``, as
``torch.nn.functional.scaled_dot_product_attention``. Masks: bool, ``True`` = may attend.
Importing this package registers the sparse kernels (``sparse``) with the dispatcher.
"""

from . import sparse  # noqa: F401  (registers the sparse kernels with the dispatcher)
from .bias import ScoreBias
from .call import AttentionCall, causal_mask, make_call
from .dispatch import (
    Kernel,
    KernelChoice,
    attention,
    choose_kernel,
    kernel_names,
    register_kernel,
)
from .normalize import NORMALIZATIONS, normalize_scores
from .reference import reference_attention, reference_self_attention
from .varlen_attention import varlen_attention

__all__ = [
    "NORMALIZATIONS",
    "AttentionCall",
    "Kernel",
    "KernelChoice",
    "ScoreBias",
    "attention",
    "causal_mask",
    "choose_kernel",
    "kernel_names",
    "make_call",
    "normalize_scores",
    "reference_attention",
    "reference_self_attention",
    "register_kernel",
    "varlen_attention",
]
