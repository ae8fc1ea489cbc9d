"""COCO mean average precision of box predictions, with ``pycocotools``.

torchmetrics' ``MeanAveragePrecision`` needs torchvision for boxes (``iou_type="bbox"``),
and no torchvision wheel runs with torch 2.13 here, so the COCO evaluation is called
directly: ``map`` is mAP@[.5:.95] (IoU thresholds 0.5, 0.55, ..., 0.95), ``map_50`` mAP at
IoU 0.5, ``map_75`` at 0.75, all areas, up to 100 detections per image (COCOeval's
``stats[0:3]``). Boxes are ``xyxy`` pixels; COCO's own box format (``x, y, w, h``) is
formed here.
"""

from __future__ import annotations

import contextlib
import io

import torch

__all__ = ["mean_average_precision"]


def mean_average_precision(predictions: list[dict], targets: list[dict], num_classes: int
                           ) -> dict[str, float]:
    """``predictions[i]``: ``boxes`` ``(P, 4)`` xyxy, ``scores`` ``(P,)``, ``labels`` ``(P,)``;
    ``targets[i]``: ``boxes`` ``(T, 4)`` xyxy, ``labels`` ``(T,)``. Returns ``map``, ``map_50``,
    ``map_75`` (``-1`` where there is no target at all, as COCO reports)."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as error:
        raise ImportError("mAP needs pycocotools: pip install pycocotools") from error
    if len(predictions) != len(targets):
        raise ValueError(f"predictions, targets: expected one each per image, got {len(predictions)} "
                         f"and {len(targets)}")

    def xywh(b: torch.Tensor) -> list[float]:
        x0, y0, x1, y1 = (float(v) for v in b)
        return [x0, y0, x1 - x0, y1 - y0]

    images, annotations, results = [], [], []
    for i, (p, t) in enumerate(zip(predictions, targets, strict=True)):
        images.append({"id": i})
        for b, c in zip(t["boxes"], t["labels"], strict=True):
            box = xywh(b)
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": int(c),
                                "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
        for b, s, c in zip(p["boxes"], p["scores"], p["labels"], strict=True):
            results.append({"image_id": i, "category_id": int(c), "bbox": xywh(b), "score": float(s)})
    if not annotations:
        return {"map": -1.0, "map_50": -1.0, "map_75": -1.0}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": annotations,
                      "categories": [{"id": c} for c in range(num_classes)]}
        gt.createIndex()
        if not results:
            return {"map": 0.0, "map_50": 0.0, "map_75": 0.0}
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"map": float(ev.stats[0]), "map_50": float(ev.stats[1]), "map_75": float(ev.stats[2])}
