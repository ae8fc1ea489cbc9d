"""DETR: canvases, the set loss, a tiny model that overfits four canvases, mAP of a perfect prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selfattn.data.canvas import make_canvases
from selfattn.nn.boxes import box_iou, cxcywh_to_xyxy, hungarian_match, match_cost
from selfattn.nn.detr import DETR, detr_loss, sine_positions_2d
from selfattn.train.tasks.detection import canvas_targets, predictions


def _items(n=40, seed=0):
    """Fake 28x28 items: a bright rectangle of random size per image (class = its index % 10)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    for i in range(n):
        h, w = rng.integers(8, 28, 2)
        y, x = (28 - h) // 2, (28 - w) // 2
        images[i, y:y + h, x:x + w] = 200
    return images, np.arange(n) % 10


def test_canvases_are_seeded_and_boxes_tight():
    images, labels = _items()
    a = make_canvases(images, labels, 6, size=48, max_objects=4, seed=3)
    b = make_canvases(images, labels, 6, size=48, max_objects=4, seed=3)
    assert torch.equal(a.images, b.images) and all(torch.equal(x, y) for x, y in zip(a.boxes, b.boxes, strict=True))
    assert not torch.equal(a.images, make_canvases(images, labels, 6, size=48, max_objects=4, seed=4).images)
    for image, boxes in zip(a.images, a.boxes, strict=True):
        assert 1 <= len(boxes) <= 4
        on = image[0] > 0.1
        covered = torch.zeros_like(on)
        for x0, y0, x1, y1 in boxes.long().tolist():
            assert 0 <= x0 < x1 <= 48 and 0 <= y0 < y1 <= 48
            covered[y0:y1, x0:x1] = True
            assert on[y0:y1, x0].any() and on[y0:y1, x1 - 1].any() and on[y0, x0:x1].any()
        assert not (on & ~covered).any()       # every bright pixel lies in some box
        iou = box_iou(boxes, boxes) - torch.eye(len(boxes))
        assert (iou <= 0.2 + 1e-6).all()
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        inter = iou * (area[:, None] + area[None, :]) / (1 + iou)     # from IoU = I / (A + B - I)
        assert (inter / torch.minimum(area[:, None], area[None, :]) <= 0.3 + 1e-6).all()


def test_sine_positions_shape_and_distinct():
    p = sine_positions_2d(4, 5, 16)
    assert p.shape == (20, 16)
    assert torch.cdist(p, p).add(torch.eye(20)).min() > 0


def test_loss_is_zero_matching_for_a_perfect_prediction():
    boxes = torch.tensor([[0.3, 0.3, 0.2, 0.2], [0.7, 0.6, 0.3, 0.2]])
    labels = torch.tensor([4, 1])
    logits = torch.full((1, 5, 11), -20.0)
    logits[0, :, 10] = 20.0                 # "no object" everywhere ...
    logits[0, 3, 10], logits[0, 3, 4] = -20.0, 20.0     # ... but query 3 -> class 4, query 0 -> class 1
    logits[0, 0, 10], logits[0, 0, 1] = -20.0, 20.0
    pred_boxes = torch.full((1, 5, 4), 0.5)
    pred_boxes[0, 3], pred_boxes[0, 0] = boxes[0], boxes[1]
    loss = detr_loss({"logits": logits, "boxes": pred_boxes}, [{"boxes": boxes, "labels": labels}])
    assert loss["l1"].item() == pytest.approx(0, abs=1e-6)
    assert loss["giou"].item() == pytest.approx(0, abs=1e-6)
    assert loss["class"].item() == pytest.approx(0, abs=1e-6)
    rows, cols = hungarian_match(match_cost(logits[0], pred_boxes[0], labels, boxes))
    assert dict(zip(rows.tolist(), cols.tolist(), strict=True)) == {0: 1, 3: 0}


def test_mean_average_precision_of_a_perfect_prediction_is_one():
    pytest.importorskip("pycocotools")
    from selfattn.train.tasks.detection_metrics import mean_average_precision

    images, labels = _items()
    data = make_canvases(images, labels, 5, size=64, seed=0)
    targets = [{"boxes": b, "labels": c} for b, c in zip(data.boxes, data.labels, strict=True)]
    perfect = [{"boxes": b, "scores": torch.ones(len(b)), "labels": c}
               for b, c in zip(data.boxes, data.labels, strict=True)]
    got = mean_average_precision(perfect, targets, 10)
    assert got["map"] == pytest.approx(1.0) and got["map_50"] == pytest.approx(1.0)
    # every box shifted by half its width (IoU 1/3 with its target) and off the canvas
    shifted = [{"boxes": b + torch.stack([(b[:, 2] - b[:, 0]) / 2 + 100, 0 * b[:, 0]] * 2, 1),
                "scores": torch.ones(len(b)), "labels": c} for b, c in zip(data.boxes, data.labels, strict=True)]
    assert mean_average_precision(shifted, targets, 10)["map_50"] == 0.0
    # the right boxes with the wrong classes score 0
    wrong = [dict(p, labels=(p["labels"] + 1) % 10) for p in perfect]
    assert mean_average_precision(wrong, targets, 10)["map"] == pytest.approx(0.0)


def test_tiny_detr_overfits_four_canvases():
    torch.manual_seed(0)
    images, labels = _items(20)
    data = make_canvases(images, labels, 4, size=32, min_objects=1, max_objects=2, min_side=10, max_side=16,
                         seed=1)
    targets = canvas_targets(data.boxes, data.labels, 32)
    model = DETR(10, width=32, heads=2, encoder_depth=1, decoder_depth=2, ff=64, queries=4, dropout=0.0,
                 backbone=(8, 16))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(250):
        loss = detr_loss(model(data.images), targets)
        opt.zero_grad()
        loss["total"].backward()
        opt.step()
        losses.append(loss["total"].item())
    assert losses[-1] < 0.25 * losses[0]
    model.eval()
    out = model(data.images)
    preds = predictions(out, 32)
    for p, t, b in zip(preds, data.labels, data.boxes, strict=True):
        # each target's best-scoring matching prediction has its class and overlaps it well
        iou = box_iou(p["boxes"], b)
        for j in range(len(t)):
            best = (p["scores"] * (p["labels"] == t[j])).argmax()
            assert p["labels"][best] == t[j]
            assert iou[best, j] > 0.5
    assert cxcywh_to_xyxy(out["boxes"]).shape == (4, 4, 4)
