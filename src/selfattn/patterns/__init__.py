"""Which (query, key) pairs may interact: sparse attention patterns as data.

Every pattern is a ``Pattern`` (``base.py``): it gives ``dense_mask(lq, lk, device=None)``, a
bool ``(Lq, Lk)`` mask (True = may attend) for the reference path and small inputs,
``allows``, ``keys_per_query``, the sparse kernel that computes it and that kernel's
measured crossovers. Pass one as ``pattern=`` to ``selfattn.functional.attention``: the
dispatcher picks the fastest exact kernel (``selfattn.functional.choose_kernel`` says which
and why). This package imports nothing from ``selfattn.functional``; importing that one
registers the kernels.

* ``WindowPattern(left, right, dilation, causal)``: truncated (sliding-window) attention.
* ``LongformerPattern``, ``BigBirdPattern``, ``BlockSparsePattern``: block-sparse.
* ``StridedPattern``, ``FixedPattern``: the Sparse Transformer's factorised patterns.
* ``Neighborhood2DPattern(height, width, kernel_size, dilation)``: images.
* ``GraphPattern(edge_index, num_nodes)``: attention along graph edges (PyG convention).
* and every other module of this package: each one-file pattern registers itself by its
  ``name`` (``PATTERNS``, ``get_pattern(name)``) and is exported here by its class name.
"""

import importlib as _importlib
import pkgutil as _pkgutil

from .base import PATTERNS, Pattern, get_pattern, pattern_names

# One pattern per file: importing every module registers its patterns (no list to join).
for _module in _pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        _importlib.import_module(f"{__name__}.{_module.name}")
globals().update({cls.__name__: cls for cls in PATTERNS.values()})

__all__ = ["PATTERNS", "Pattern", "get_pattern", "pattern_names",
           *sorted(cls.__name__ for cls in PATTERNS.values())]
