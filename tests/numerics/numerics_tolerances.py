"""The one tolerance table of the numerics tests: how far a kernel may be from float64.

Every kernel is compared with the float64 oracle run on the *same rounded inputs* (q, k, v,
bias and the output cotangent are rounded to the dtype first), so only the kernel's own
arithmetic counts, never the rounding of the inputs. For each compared tensor ``x``:

    max |x - x_ref|  <=  relative_bound(...) * magnitude(x)

``magnitude`` is a Hoelder bound on the tensor's size from the inputs (``MAGNITUDES``
below); ``relative_bound`` is the sum of three terms, each a classical worst-case bound
(Higham, "Accuracy and Stability of Numerical Algorithms", sec. 3.1: a sum of ``n`` terms is
off by at most ``gamma_n ~ n * u`` of the sum of the terms' sizes, ``u`` = unit roundoff):

1. ``ROUNDINGS * u_io``: values stored in the input dtype. In half precision: the weights
   rounded before ``P @ V`` (the flash op), the output, ``O`` in ``rowsum(dO * O)``, the
   score gradient before its products, and each gradient itself: at most 8 roundings of
   relative size ``u_io`` on any path (one for float32/float64, where ``u_io = u_acc``).
2. ``SUMS * (Lq + Lk + D + Dv) * u_acc``: the sums over keys (outputs), over queries (key
   and value gradients) and over the head dimensions, each ``gamma_n`` in the
   accumulation dtype (float32 for half inputs: ``ACCUMULATES_IN``).
3. ``SCORES * (D + 4) * S * u_acc``: the score error. A score ``s = scale * q . k + bias``
   is off by ``|ds| <= (D + 4) * u_acc * S`` (``gamma_D`` for the dot product, one rounding
   each for the scale, the bias, the row maximum or log-sum-exp subtracted and the
   exponent), with ``S = scale * max|q_i|_2 * max|k_j|_2 + max|bias|`` the largest score
   size (Cauchy-Schwarz). A softmax row moves by ``|dw|_1 <= 2 max|ds|`` (its Jacobian
   ``diag(w) - w w^T`` maps max-norm to 1-norm with norm <= 2, whatever the scores, ties
   included), and its backward ``ds = w * (dP - rowsum(w * dP))`` by at most 3x that:
   ``SCORES = 6``. **This is the only term that grows with the logit scale**: with
   ``q, k ~ sqrt(c) N(0, 1)`` (scores of standard deviation ``c``) ``S`` is about
   ``2 c sqrt(D)``, so at ``c = 1e4`` it dominates in float32 and half precision alike
   (half inputs accumulate in float32) and the bound is loose by design; at ``c = 1`` the
   rounding terms dominate.

The constants are upper bounds, not fits: a kernel that is right passes with margin for
every seed, a kernel that gets a weight or a mask wrong misses by O(1) at small scales.
"""

from __future__ import annotations

import torch

# Unit roundoff u = 2^-(significand bits): float64 53, float32 24, bfloat16 8, float16 11.
UNIT_ROUNDOFF = {
    torch.float64: 2.0**-53,
    torch.float32: 2.0**-24,
    torch.bfloat16: 2.0**-8,
    torch.float16: 2.0**-11,
}
# Where scores, exponentials and sums are formed (selfattn.functional.precision).
ACCUMULATES_IN = {
    torch.float64: torch.float64,
    torch.float32: torch.float32,
    torch.bfloat16: torch.float32,
    torch.float16: torch.float32,
}
ROUNDINGS = 8
SUMS = 4
SCORES = 6

# Logit scales of the matrix: the standard deviation of the scores.
LOGIT_SCALES = (1.0, 30.0, 1e3, 1e4)
DTYPES = (torch.float64, torch.float32, torch.bfloat16, torch.float16)


def relative_bound(dtype: torch.dtype, lq: int, lk: int, d: int, dv: int, score_max: float) -> float:
    """The relative error allowed for a call of these sizes (see the module docstring)."""
    u_io = UNIT_ROUNDOFF[dtype]
    u_acc = UNIT_ROUNDOFF[ACCUMULATES_IN[dtype]]
    return ROUNDINGS * u_io + SUMS * (lq + lk + d + dv) * u_acc + SCORES * (d + 4) * score_max * u_acc


def score_max(q: torch.Tensor, k: torch.Tensor, scale: float, bias: torch.Tensor | None) -> float:
    """``S = scale * max|q_i|_2 * max|k_j|_2 + max|bias|``: a bound on every score's size."""
    q, k = q.detach().double(), k.detach().double()
    s = scale * float(q.norm(dim=-1).max()) * float(k.norm(dim=-1).max())
    return s + (float(bias.detach().double().abs().max()) if bias is not None and bias.numel() else 0.0)


def magnitudes(q, k, v, g, scale: float, bias_broadcast: int) -> dict[str, float]:
    """Hoelder bounds of each compared tensor (``MAGNITUDES``), all >= a tiny floor.

    With ``V, G, Q, K`` the largest entries of v, the output cotangent, q and k, ``Dv``
    the value size and ``Lq`` the number of queries: an output is a convex combination of
    values (``V``); ``dv_j = sum_i w_ij g_i`` (``Lq G``); the score gradient of one query
    has ``|ds_i|_1 <= 2 max_j |g_i . v_j| <= 2 Dv G V``, so ``dq_i = scale sum_j ds_ij k_j``
    (``2 scale Dv G V K``), ``dk_j = scale sum_i ds_ij q_i`` (``Lq`` times that with ``Q``),
    and the bias gradient is ``ds`` summed over the axes it was broadcast over.
    """
    vmax, gmax = float(v.abs().max()), float(g.abs().max())
    qmax, kmax = float(q.abs().max()), float(k.abs().max())
    lq, dv = q.shape[-2], v.shape[-1]
    ds = 2 * dv * gmax * vmax
    out = {"out": vmax, "weights": 1.0, "dv": lq * gmax, "dq": scale * ds * kmax,
           "dk": scale * ds * qmax * lq, "dbias": ds * bias_broadcast}
    return {n: max(m, 1e-30) for n, m in out.items()}
