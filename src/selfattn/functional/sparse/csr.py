"""Sparse primitives on one CSR pattern shared by every head, with their gradients.

The edges of a graph, grouped by target, form a CSR matrix ``A`` of shape
``(num_targets, num_sources)``. Attention along them needs two products, each O(E * D)
time and O(E) extra memory (no ``(E, D)`` gather is ever materialised):

* ``sddmm(a, b)``: the sampled product ``(a @ b^T)`` at the edges only: per edge
  ``e = (j -> i)``, ``a[i] . b[j]``. Scores are ``sddmm(q, k)``.
* ``spmm(w, x)``: ``A_w @ x``, the weighted sum over each target's incoming edges.
  Outputs are ``spmm(weights, v)``.

Their backward passes are the same two products, on ``A`` or its transpose (edges grouped
by source). Heads are a leading axis: ``a (H, Nt, D)``, ``x (H, Ns, D)``, per-edge values
``(H, E)`` in CSR order. Both call PyTorch's CPU sparse CSR kernels
(``torch.sparse.sampled_addmm`` and CSR @ dense).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

__all__ = ["CSR", "sddmm", "spmm"]


@dataclass
class CSR:
    """Edges grouped by target (``crow``, ``col`` = sources) and by source (``crow_t``,
    ``col_t`` = targets); ``order_t`` maps transposed slots to CSR slots; ``rows`` is the
    target of each CSR slot."""

    crow: torch.Tensor
    col: torch.Tensor
    crow_t: torch.Tensor
    col_t: torch.Tensor
    order_t: torch.Tensor
    rows: torch.Tensor
    num_targets: int
    num_sources: int

    @property
    def num_edges(self) -> int:
        return int(self.col.shape[0])

    def matrix(self, values: torch.Tensor, transposed: bool = False) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
            if transposed:
                return torch.sparse_csr_tensor(self.crow_t, self.col_t, values[self.order_t],
                                               (self.num_sources, self.num_targets),
                                               check_invariants=False)
            return torch.sparse_csr_tensor(self.crow, self.col, values,
                                           (self.num_targets, self.num_sources), check_invariants=False)


def _sddmm(csr: CSR, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(H, Nt, D)``, ``(H, Ns, D)`` -> ``(H, E)``."""
    zero = csr.matrix(a.new_zeros(csr.num_edges))
    out = a.new_empty(a.shape[0], csr.num_edges)
    for h in range(a.shape[0]):
        out[h] = torch.sparse.sampled_addmm(zero, a[h], b[h].T, beta=0.0).values()
    return out


def _spmm(csr: CSR, w: torch.Tensor, x: torch.Tensor, transposed: bool = False) -> torch.Tensor:
    """``(H, E)``, ``(H, Ns, D)`` -> ``(H, Nt, D)`` (or with ``A^T``: ``(H, Nt, D)`` -> ``(H, Ns, D)``)."""
    n = csr.num_sources if transposed else csr.num_targets
    out = x.new_empty(x.shape[0], n, x.shape[-1])
    for h in range(x.shape[0]):
        out[h] = csr.matrix(w[h], transposed) @ x[h]
    return out


class _SDDMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, csr):  # type: ignore[override]
        ctx.save_for_backward(a, b)
        ctx.csr = csr
        return _sddmm(csr, a, b)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        a, b = ctx.saved_tensors
        g = g.contiguous()
        da = _spmm(ctx.csr, g, b) if ctx.needs_input_grad[0] else None
        db = _spmm(ctx.csr, g, a, transposed=True) if ctx.needs_input_grad[1] else None
        return da, db, None


class _SpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, x, csr):  # type: ignore[override]
        ctx.save_for_backward(w, x)
        ctx.csr = csr
        return _spmm(csr, w, x)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        w, x = ctx.saved_tensors
        g = g.contiguous()
        dw = _sddmm(ctx.csr, g, x) if ctx.needs_input_grad[0] else None
        dx = _spmm(ctx.csr, w, g, transposed=True) if ctx.needs_input_grad[1] else None
        return dw, dx, None


def sddmm(csr: CSR, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per edge ``(j -> i)`` and head ``h``: ``a[h, i] . b[h, j]``; ``(H, E)`` in CSR order."""
    return _SDDMM.apply(a.contiguous(), b.contiguous(), csr)


def spmm(csr: CSR, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per target ``i`` and head ``h``: ``sum_{e = (j -> i)} w[h, e] * x[h, j]``; ``(H, Nt, D)``."""
    return _SpMM.apply(w.contiguous(), x.contiguous(), csr)
