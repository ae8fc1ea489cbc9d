"""Which (query, key) pairs may interact: sparse attention patterns as data.

Every pattern gives ``dense_mask(lq, lk, device=None)``, a bool ``(Lq, Lk)`` mask (True = may
attend) for the reference path and small inputs, and carries the sparse description its
fast kernel needs. Pass one as ``pattern=`` to ``selfattn.functional.attention``: importing
this package registers the sparse kernels, and the dispatcher picks the fastest exact one
(``selfattn.functional.choose_kernel`` says which and why).

* ``WindowPattern(left, right, dilation, causal)``: truncated (sliding-window) attention.
* ``LongformerPattern``, ``BigBirdPattern``, ``BlockSparsePattern``: block-sparse.
* ``StridedPattern``, ``FixedPattern``: the Sparse Transformer's factorised patterns.
* ``Neighborhood2DPattern(height, width, kernel_size, dilation)``: images.
* ``GraphPattern(edge_index, num_nodes)``: attention along graph edges (PyG convention).
"""

from ..functional import sparse as _sparse  # noqa: F401  (registers the kernels)
from .block import BigBirdPattern, BlockSparsePattern, LongformerPattern
from .graph import GraphPattern
from .grid import Neighborhood2DPattern
from .sparse_transformer import FixedPattern, StridedPattern
from .window import WindowPattern

__all__ = [
    "BigBirdPattern",
    "BlockSparsePattern",
    "FixedPattern",
    "GraphPattern",
    "LongformerPattern",
    "Neighborhood2DPattern",
    "StridedPattern",
    "WindowPattern",
]
