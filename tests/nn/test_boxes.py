"""Box conversions, IoU and GIoU against a brute-force pixel count; Hungarian vs brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from selfattn.nn.boxes import (
    box_iou,
    cxcywh_to_xyxy,
    generalized_box_iou,
    hungarian_match,
    match_cost,
    xyxy_to_cxcywh,
)


def _random_int_boxes(rng, n, size=12):
    x0 = rng.integers(0, size - 1, n)
    y0 = rng.integers(0, size - 1, n)
    x1 = x0 + rng.integers(1, size - x0 + 1)
    y1 = y0 + rng.integers(1, size - y0 + 1)
    return np.stack([x0, y0, x1, y1], 1)


def _cells(box, size=12):
    """The unit cells a box with integer corners covers, as a boolean image."""
    grid = np.zeros((size, size), dtype=bool)
    grid[box[1]:box[3], box[0]:box[2]] = True
    return grid


def _brute_giou(a, b):
    """Areas by counting covered cells; the enclosing box from the corners."""
    A, B = _cells(a), _cells(b)
    inter, union = (A & B).sum(), (A | B).sum()
    c = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
    enclosing = _cells(c).sum()
    return inter / union, inter / union - (enclosing - union) / enclosing


def test_iou_and_giou_equal_a_pixel_count():
    rng = np.random.default_rng(0)
    a, b = _random_int_boxes(rng, 30), _random_int_boxes(rng, 20)
    iou = box_iou(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))
    giou = generalized_box_iou(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))
    for i, j in itertools.product(range(len(a)), range(len(b))):
        want_iou, want_giou = _brute_giou(a[i], b[j])
        assert iou[i, j].item() == pytest.approx(want_iou, abs=1e-12)
        assert giou[i, j].item() == pytest.approx(want_giou, abs=1e-12)
    assert (giou <= iou + 1e-12).all() and (giou >= -1).all()


def test_giou_known_values():
    a = torch.tensor([[0.0, 0, 2, 2]])
    assert generalized_box_iou(a, a).item() == 1.0
    # disjoint, touching at nothing: IoU 0, enclosing 2x6=12, union 8 -> -4/12
    far = torch.tensor([[4.0, 0, 6, 2]])
    assert generalized_box_iou(a, far).item() == pytest.approx(-4 / 12)
    # far apart: GIoU -> -1
    assert generalized_box_iou(a, torch.tensor([[1e6, 1e6, 1e6 + 2, 1e6 + 2]])).item() == pytest.approx(-1, abs=1e-5)


def test_conversions_round_trip():
    rng = np.random.default_rng(1)
    b = torch.tensor(_random_int_boxes(rng, 50), dtype=torch.float64)
    c = xyxy_to_cxcywh(b)
    torch.testing.assert_close(cxcywh_to_xyxy(c), b)
    torch.testing.assert_close(c[:, 2], b[:, 2] - b[:, 0])
    torch.testing.assert_close(c[:, 0], (b[:, 0] + b[:, 2]) / 2)
    with pytest.raises(ValueError, match="boxes: expected"):
        cxcywh_to_xyxy(torch.zeros(3, 5))


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (5, 3), (6, 4), (7, 1), (2, 4)])
def test_hungarian_equals_brute_force(shape):
    q, t = shape
    g = torch.Generator().manual_seed(q * 10 + t)
    for _ in range(5):
        cost = torch.rand(q, t, generator=g, dtype=torch.float64)
        rows, cols = hungarian_match(cost)
        assert len(rows) == min(q, t) and len(set(rows.tolist())) == len(rows)
        assert len(set(cols.tolist())) == len(cols)
        got = cost[rows, cols].sum().item()
        if q >= t:
            best = min(sum(cost[p[j], j].item() for j in range(t)) for p in itertools.permutations(range(q), t))
        else:
            best = min(sum(cost[i, p[i]].item() for i in range(q)) for p in itertools.permutations(range(t), q))
        assert got == pytest.approx(best, abs=1e-12)


def test_match_cost_prefers_the_right_query():
    # query 1 predicts target 0 exactly (class and box); query 0 predicts target 1
    logits = torch.tensor([[0.0, 5.0, 0.0], [5.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    boxes = torch.tensor([[0.7, 0.7, 0.2, 0.2], [0.3, 0.3, 0.2, 0.2], [0.5, 0.5, 0.1, 0.1]])
    labels = torch.tensor([0, 1])
    target = torch.tensor([[0.3, 0.3, 0.2, 0.2], [0.7, 0.7, 0.2, 0.2]])
    rows, cols = hungarian_match(match_cost(logits, boxes, labels, target))
    assert dict(zip(rows.tolist(), cols.tolist(), strict=True)) == {0: 1, 1: 0}
    with pytest.raises(ValueError, match="cost: expected finite"):
        hungarian_match(torch.tensor([[float("nan")]]))
