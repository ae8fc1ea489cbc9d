"""Boxes for set prediction (DETR): conversions, IoU, generalised IoU, Hungarian matching.

Boxes are ``(..., 4)`` float tensors, either ``xyxy`` (``x0, y0, x1, y1``, corners, ``x1 >= x0``)
or ``cxcywh`` (centre, width, height). torchvision's ``box_convert`` and
``generalized_box_iou`` would do, but no torchvision wheel runs with torch 2.13 on these
machines (0.28 and 0.29 both fail to register their operators), so the few lines are here,
tested against a brute-force pixel count.

Generalised IoU (Rezatofighi et al. 2019): ``GIoU = IoU - |C \\ (A u B)| / |C|`` with ``C``
the smallest box enclosing ``A`` and ``B``; in ``[-1, 1]``, and ``1 - GIoU`` is a loss with
a gradient even when the boxes do not overlap.

``hungarian_match``: DETR's bipartite matching (Carion et al. 2020, section 3.1). The cost
of giving target ``j`` to query ``i`` is ``- w_class p_i(c_j) + w_l1 |b_i - b_j|_1 -
w_giou GIoU(b_i, b_j)``; ``scipy.optimize.linear_sum_assignment`` finds the one-to-one
assignment of least total cost (each target gets a query; the other queries predict "no
object").
"""

from __future__ import annotations

import torch

__all__ = ["box_area", "box_iou", "cxcywh_to_xyxy", "generalized_box_iou", "hungarian_match",
           "match_cost", "xyxy_to_cxcywh"]


def _check(name: str, boxes: torch.Tensor) -> None:
    if boxes.shape[-1:] != (4,):
        raise ValueError(f"{name}: expected boxes (..., 4), got shape {tuple(boxes.shape)}")


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` centre, width, height -> corners."""
    _check("boxes", boxes)
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def xyxy_to_cxcywh(boxes: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` corners -> centre, width, height."""
    _check("boxes", boxes)
    x0, y0, x1, y1 = boxes.unbind(-1)
    return torch.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], -1)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` xyxy -> ``(...)`` areas."""
    _check("boxes", boxes)
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def _pairwise(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    _check("a", a)
    _check("b", b)
    if a.dim() != 2 or b.dim() != 2:
        raise ValueError(f"a, b: expected (N, 4) and (M, 4) xyxy boxes, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    area_a, area_b = box_area(a), box_area(b)
    lo = torch.maximum(a[:, None, :2], b[None, :, :2])
    hi = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (hi - lo).clamp(min=0).prod(-1)
    return inter, area_a[:, None] + area_b[None, :] - inter


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every pair: ``(N, 4)``, ``(M, 4)`` xyxy -> ``(N, M)``."""
    inter, union = _pairwise(a, b)
    return inter / union


def generalized_box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """GIoU of every pair: ``(N, 4)``, ``(M, 4)`` xyxy -> ``(N, M)`` in ``[-1, 1]``."""
    inter, union = _pairwise(a, b)
    lo = torch.minimum(a[:, None, :2], b[None, :, :2])
    hi = torch.maximum(a[:, None, 2:], b[None, :, 2:])
    enclosing = (hi - lo).clamp(min=0).prod(-1)
    return inter / union - (enclosing - union) / enclosing


def match_cost(logits: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, target_boxes: torch.Tensor,
               w_class: float = 1.0, w_l1: float = 5.0, w_giou: float = 2.0) -> torch.Tensor:
    """DETR's matching cost of one image: ``(Q, K+1)`` class logits (last = no object) and
    ``(Q, 4)`` cxcywh boxes of the queries, ``(T,)`` labels and ``(T, 4)`` cxcywh boxes of the
    targets -> ``(Q, T)``."""
    prob = logits.softmax(-1)
    cost_class = -prob[:, labels]
    cost_l1 = torch.cdist(boxes, target_boxes, p=1)
    cost_giou = -generalized_box_iou(cxcywh_to_xyxy(boxes), cxcywh_to_xyxy(target_boxes))
    return w_class * cost_class + w_l1 * cost_l1 + w_giou * cost_giou


@torch.no_grad()
def hungarian_match(cost: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-cost one-to-one assignment of a ``(Q, T)`` cost matrix (``Q >= T`` in DETR).

    Returns ``(rows, cols)`` int64 ``(min(Q, T),)``: row ``rows[n]`` is matched to column
    ``cols[n]``, sorted by row."""
    from scipy.optimize import linear_sum_assignment

    if cost.dim() != 2:
        raise ValueError(f"cost: expected a (queries, targets) matrix, got shape {tuple(cost.shape)}")
    if not torch.isfinite(cost).all():
        raise ValueError("cost: expected finite costs, got NaN or inf")
    rows, cols = linear_sum_assignment(cost.detach().cpu().double().numpy())
    return torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long)
