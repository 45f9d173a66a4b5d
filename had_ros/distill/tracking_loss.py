"""Tracking losses of a center-head tracker (OSTrack recipe): weighted focal loss on the Gaussian
center map, L1 and GIoU on the box read at the ground-truth center cell."""
from __future__ import annotations

import torch


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0,
               beta: float = 4.0) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss. ``logits`` (B,1,G,G), ``target`` (B,1,G,G) Gaussian
    with peak exactly 1 at the center cell. Negatives near the center are down-weighted by
    (1 - target)^beta; the sum is divided by the number of positives."""
    p = torch.sigmoid(logits.float()).clamp(1e-4, 1 - 1e-4)
    t = target.float()
    pos = t.eq(1).float()
    neg = 1.0 - pos
    pos_loss = -torch.log(p) * (1 - p) ** alpha * pos
    neg_loss = -torch.log(1 - p) * p ** alpha * (1 - t) ** beta * neg
    num_pos = pos.sum().clamp_min(1.0)
    return (pos_loss.sum() + neg_loss.sum()) / num_pos


def box_at_cells(size_map: torch.Tensor, offset_map: torch.Tensor, iy: torch.Tensor,
                 ix: torch.Tensor) -> torch.Tensor:
    """Normalised cx,cy,w,h (B,4) read from the head maps at cells (iy, ix) per sample."""
    b, _, g, _ = size_map.shape
    idx = torch.arange(b, device=size_map.device)
    off = offset_map[idx, :, iy, ix]
    size = size_map[idx, :, iy, ix]
    cx = (ix.to(off.dtype) + off[:, 0]) / g
    cy = (iy.to(off.dtype) + off[:, 1]) / g
    return torch.stack([cx, cy, size[:, 0], size[:, 1]], dim=1)


def gt_cells(box: torch.Tensor, g: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The cell (iy, ix) holding each normalised cx,cy box center, as the center map marks it."""
    ix = (box[:, 0] * g).floor().long().clamp(0, g - 1)
    iy = (box[:, 1] * g).floor().long().clamp(0, g - 1)
    return iy, ix


def cxcywh_to_xyxy(b: torch.Tensor) -> torch.Tensor:
    return torch.stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2,
                        b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2], dim=1)


def giou_loss(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean 1 - GIoU, IoU per sample) for cx,cy,w,h boxes (B,4)."""
    p, t = cxcywh_to_xyxy(pred.float()), cxcywh_to_xyxy(target.float())
    area_p = (p[:, 2] - p[:, 0]).clamp_min(0) * (p[:, 3] - p[:, 1]).clamp_min(0)
    area_t = (t[:, 2] - t[:, 0]).clamp_min(0) * (t[:, 3] - t[:, 1]).clamp_min(0)
    lt = torch.max(p[:, :2], t[:, :2])
    rb = torch.min(p[:, 2:], t[:, 2:])
    inter = (rb - lt).clamp_min(0).prod(dim=1)
    union = (area_p + area_t - inter).clamp_min(1e-9)
    iou = inter / union
    lt_c = torch.min(p[:, :2], t[:, :2])
    rb_c = torch.max(p[:, 2:], t[:, 2:])
    hull = (rb_c - lt_c).clamp_min(0).prod(dim=1).clamp_min(1e-9)
    giou = iou - (hull - union) / hull
    return (1.0 - giou).mean(), iou


def tracking_losses(out: dict, batch: dict, weights: dict[str, float]) -> dict[str, torch.Tensor]:
    """The weighted terms ``focal``, ``l1``, ``giou`` (only those with weight > 0) and ``iou``
    (mean IoU at the ground-truth cell, a monitor, not a loss)."""
    box = batch["search_box"].to(out["size_map"].device)
    g = out["score_map"].shape[-1]
    iy, ix = gt_cells(box, g)
    pred = box_at_cells(out["size_map"], out["offset_map"], iy, ix)
    terms: dict[str, torch.Tensor] = {}
    if weights.get("focal", 0) > 0:
        terms["focal"] = weights["focal"] * focal_loss(out["score_map"], batch["center_map"].to(box.device))
    g_loss, iou = giou_loss(pred, box)
    if weights.get("l1", 0) > 0:
        terms["l1"] = weights["l1"] * (pred.float() - box.float()).abs().mean()
    if weights.get("giou", 0) > 0:
        terms["giou"] = weights["giou"] * g_loss
    terms["iou"] = iou.mean().detach()
    return terms
