"""DETR: detection as set prediction with self-attention (Carion et al. 2020).

A CNN turns a ``(B, C, H, W)`` image into a ``h x w`` map of ``d``-vectors; with fixed 2-D
sine positions added, the ``h * w`` vectors go through an encoder of self-attention layers
(every image region attends to every other). A decoder of ``N`` learned **object queries**
then attends to itself (self-attention among the queries: they agree who takes which
object) and to the encoded image (cross-attention), and each query predicts a class,
or "no object", and a box ``(cx, cy, w, h)`` in ``[0, 1]`` of the image size. No anchors
and no NMS: training matches the ``N`` predictions one-to-one to the targets (Hungarian
matching, ``selfattn.nn.boxes``) and scores each query against its match:

    loss = CE(classes; no-object weighted by ``eos_weight``) + w_l1 |b - b*|_1 + w_giou (1 - GIoU)

summed over the matched queries, divided by the number of targets, and repeated on each
decoder layer's output (the paper's auxiliary losses). As in the paper the positions
enter at every layer: added to the queries and keys of the decoder's attention
(``query_pos`` for the queries, ``pos`` for the image); in the encoder they are added once
to its input (``selfattn.nn.Encoder``'s layers take no separate position input).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .attention import MultiHeadAttention
from .boxes import cxcywh_to_xyxy, generalized_box_iou, hungarian_match, match_cost
from .encoder import Encoder, EncoderLayer

__all__ = ["DETR", "DETRDecoderLayer", "detr_loss", "sine_positions_2d"]


def sine_positions_2d(height: int, width: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """DETR's fixed 2-D positions: ``(height * width, dim)``, row-major; the first ``dim / 2``
    features are sinusoids of the row (normalised to ``[0, 2 pi]``), the rest of the column."""
    if dim % 4:
        raise ValueError(f"dim: expected a multiple of 4 (sin and cos of two axes), got {dim}")
    quarter = dim // 4
    freq = temperature ** (torch.arange(quarter, dtype=torch.float32) / quarter)

    def axis(n: int) -> torch.Tensor:
        t = (torch.arange(n, dtype=torch.float32) + 0.5) / n * 2 * math.pi
        a = t[:, None] / freq
        return torch.cat([a.sin(), a.cos()], -1)          # (n, dim / 2)

    ys, xs = axis(height), axis(width)
    return torch.cat([ys[:, None].expand(height, width, -1), xs[None].expand(height, width, -1)],
                     -1).reshape(height * width, dim)


class DETRDecoderLayer(nn.Module):
    """Pre-norm: self-attention among the queries, cross-attention to the image, feed-forward.

    ``forward(x (B, N, d), memory (B, S, d), query_pos (N, d), pos (S, d))`` -> ``(B, N, d)``,
    and with ``return_weights`` also the cross-attention weights ``(B, heads, N, S)``."""

    def __init__(self, d_model: int, num_heads: int, dim_feedforward: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.ff = nn.Sequential(nn.Linear(d_model, dim_feedforward), nn.ReLU(), nn.Dropout(dropout),
                                nn.Linear(dim_feedforward, d_model))
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(3))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, memory, query_pos, pos, return_weights: bool = False):
        h = self.norms[0](x)
        q = h + query_pos
        x = x + self.drop(self.self_attn(q, q, value=h))
        h = self.norms[1](x)
        res = self.cross_attn(h + query_pos, memory + pos, value=memory, return_weights=return_weights)
        a, w = res if return_weights else (res, None)
        x = x + self.drop(a)
        x = x + self.drop(self.ff(self.norms[2](x)))
        return (x, w) if return_weights else x


def _backbone(in_channels: int, widths: tuple[int, ...]) -> nn.Sequential:
    """A stride-1 stem, then one stride-2 3x3 convolution and one stride-1 per width."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1), nn.GroupNorm(8, widths[0]),
                               nn.ReLU()]
    prev = widths[0]
    for w in widths:
        layers += [nn.Conv2d(prev, w, 3, stride=2, padding=1), nn.GroupNorm(8, w), nn.ReLU(),
                   nn.Conv2d(w, w, 3, padding=1), nn.GroupNorm(8, w), nn.ReLU()]
        prev = w
    return nn.Sequential(*layers)


class DETR(nn.Module):
    """A small DETR (see the module doc).

    Args:
        num_classes: ``K`` object classes (the class head has ``K + 1`` outputs: the last is
            "no object").
        width: ``d``. heads, ff, dropout: of every attention layer.
        encoder_depth, decoder_depth: layers. queries: ``N``, at least the most objects an
            image holds.
        backbone: channels of the CNN stages; each halves the resolution (3 stages: a 64x64
            image becomes an 8x8 map of 64 vectors).
        in_channels: of the image.

    ``forward(images (B, C, H, W), return_weights=False)`` -> dict with ``logits`` ``(B, N, K+1)``,
    ``boxes`` ``(B, N, 4)`` cxcywh in ``[0, 1]``, ``aux`` (the same per earlier decoder layer)
    and, with ``return_weights``, ``cross_weights`` ``(B, heads, N, h*w)`` of the last layer and
    ``grid`` ``(h, w)``.
    """

    def __init__(self, num_classes: int, width: int = 128, heads: int = 4, encoder_depth: int = 2,
                 decoder_depth: int = 2, ff: int = 256, queries: int = 10, dropout: float = 0.1,
                 backbone: tuple[int, ...] = (32, 64, 128), in_channels: int = 1) -> None:
        super().__init__()
        if num_classes < 1 or queries < 1:
            raise ValueError(f"num_classes, queries: expected positive integers, got {num_classes}, "
                             f"{queries}")
        self.num_classes, self.width, self.queries = num_classes, width, queries
        self.backbone = _backbone(in_channels, tuple(backbone))
        self.project = nn.Conv2d(backbone[-1], width, 1)
        self.encoder = Encoder(EncoderLayer(width, heads, ff, dropout, activation="relu"), encoder_depth)
        self.decoder = nn.ModuleList(DETRDecoderLayer(width, heads, ff, dropout)
                                     for _ in range(decoder_depth))
        self.decoder_norm = nn.LayerNorm(width)
        self.query_pos = nn.Parameter(torch.randn(queries, width))
        self.class_head = nn.Linear(width, num_classes + 1)
        self.box_head = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                      nn.Linear(width, 4))

    def _heads(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.decoder_norm(x)
        return {"logits": self.class_head(x), "boxes": self.box_head(x).sigmoid()}

    def forward(self, images: torch.Tensor, return_weights: bool = False) -> dict:
        if images.dim() != 4:
            raise ValueError(f"images: expected (batch, channels, height, width), got {tuple(images.shape)}")
        f = self.project(self.backbone(images))                       # (B, d, h, w)
        b, d, h, w = f.shape
        pos = sine_positions_2d(h, w, d).to(f)
        memory = self.encoder(f.flatten(2).transpose(1, 2) + pos)    # (B, h*w, d)
        x = torch.zeros(b, self.queries, d, dtype=f.dtype, device=f.device)
        outputs, weights = [], None
        for i, layer in enumerate(self.decoder):
            last = i == len(self.decoder) - 1
            if return_weights and last:
                x, weights = layer(x, memory, self.query_pos, pos, return_weights=True)
            else:
                x = layer(x, memory, self.query_pos, pos)
            outputs.append(self._heads(x))
        out = dict(outputs[-1], aux=outputs[:-1])
        if return_weights:
            out.update(cross_weights=weights, grid=(h, w))
        return out


def _one_loss(logits, boxes, targets, num_boxes, eos_weight, w_class, w_l1, w_giou):
    k = logits.shape[-1] - 1
    classes = torch.full(logits.shape[:2], k, dtype=torch.long, device=logits.device)
    matched_pred, matched_true = [], []
    for i, t in enumerate(targets):
        if len(t["labels"]) == 0:
            continue
        rows, cols = hungarian_match(match_cost(logits[i].detach(), boxes[i].detach(), t["labels"],
                                                t["boxes"], w_class, w_l1, w_giou))
        classes[i, rows] = t["labels"][cols]
        matched_pred.append(boxes[i, rows])
        matched_true.append(t["boxes"][cols])
    weight = torch.ones(k + 1, device=logits.device)
    weight[k] = eos_weight
    loss_class = F.cross_entropy(logits.transpose(1, 2), classes, weight=weight)
    if matched_pred:
        p, g = torch.cat(matched_pred), torch.cat(matched_true)
        loss_l1 = (p - g).abs().sum() / num_boxes
        giou = generalized_box_iou(cxcywh_to_xyxy(p), cxcywh_to_xyxy(g)).diagonal()
        loss_giou = (1 - giou).sum() / num_boxes
    else:
        loss_l1 = loss_giou = boxes.sum() * 0.0
    return {"class": loss_class, "l1": loss_l1, "giou": loss_giou,
            "total": w_class * loss_class + w_l1 * loss_l1 + w_giou * loss_giou}


def detr_loss(out: dict, targets: list[dict], eos_weight: float = 0.1, w_class: float = 1.0,
              w_l1: float = 5.0, w_giou: float = 2.0) -> dict[str, torch.Tensor]:
    """DETR's set loss of a batch (see the module doc), over the last and the auxiliary outputs.

    ``targets[i]``: ``labels`` int64 ``(T_i,)`` and ``boxes`` ``(T_i, 4)`` cxcywh in ``[0, 1]``.
    Returns the parts of the last layer (``class``, ``l1``, ``giou``) and ``total`` (all layers)."""
    num_boxes = max(1, sum(len(t["labels"]) for t in targets))
    last = _one_loss(out["logits"], out["boxes"], targets, num_boxes, eos_weight, w_class, w_l1, w_giou)
    total = last["total"]
    for aux in out.get("aux", []):
        total = total + _one_loss(aux["logits"], aux["boxes"], targets, num_boxes, eos_weight, w_class,
                                  w_l1, w_giou)["total"]
    return dict(last, total=total)
