"""Mask arithmetic of SAM 3's video concept model: IoU of binary masks, hole filling with
sprinkle removal on mask logits, boxes of binary masks, and the per-object non-overlap rule."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from samhq_train.inference.holes import SAM2_VIDEO_FILL, fill_holes

SPRINKLE_FILL = -0.1  # logit given to removed foreground sprinkles


def mask_iou(masks_a: torch.Tensor, masks_b: torch.Tensor) -> torch.Tensor:
    """Bool N x H x W and M x H x W -> float32 N x M IoU (0 where both are empty)."""
    n, m = masks_a.shape[0], masks_b.shape[0]
    a = masks_a.reshape(n, 1, -1)
    b = masks_b.reshape(1, m, -1)
    intersection = (a & b).sum(dim=2).float()
    union = (a | b).sum(dim=2).float()
    return intersection / union.clamp(min=1)


def fill_holes_and_sprinkles(logits: torch.Tensor, max_area: int) -> torch.Tensor:
    """B x 1 x H x W mask logits: background regions of at most `max_area` pixels (8-connected)
    set to 0.1, then foreground regions of at most min(max_area, foreground area // 2) pixels
    set to -0.1 (Meta's fill_holes_in_mask_scores with both steps; max_area <= 0: unchanged).
    The tracker's propagated masks get this too (the driver applies it before planning)."""
    if max_area <= 0:
        return logits
    logits = fill_holes(logits, max_area, SAM2_VIDEO_FILL)
    foreground = (logits > 0).cpu().numpy().astype(np.uint8)
    sprinkles = np.zeros(foreground.shape, dtype=bool)
    for i, mask in enumerate(foreground[:, 0]):
        limit = min(int(mask.sum()) // 2, max_area)
        _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        small = stats[:, cv2.CC_STAT_AREA] <= limit
        small[0] = False  # label 0: the background
        sprinkles[i, 0] = small[labels]
    return torch.where(torch.from_numpy(sprinkles).to(logits.device), SPRINKLE_FILL, logits)


def mask_box(mask: torch.Tensor) -> torch.Tensor:
    """Bool H x W -> int (4,) x0 y0 x1 y1 of its pixels, inclusive, in mask pixels (zeros when
    empty), as Meta's mask_to_box."""
    if not mask.any():
        return torch.zeros(4, dtype=torch.int32, device=mask.device)
    rows = torch.nonzero(mask.any(dim=1))[:, 0]
    cols = torch.nonzero(mask.any(dim=0))[:, 0]
    return torch.stack((cols.min(), rows.min(), cols.max(), rows.max())).to(torch.int32)


def masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Bool N x H x W -> float32 N x 4 x0 y0 x1 y1 in pixels, inclusive (x1 is the last column,
    not one past it); an empty mask gives (W, H, 0, 0) as Meta's perflib masks_to_boxes."""
    n, h, w = masks.shape
    if masks.numel() == 0:
        return torch.zeros((0, 4), dtype=torch.float32, device=masks.device)
    cols = masks.any(dim=1)  # N x W
    rows = masks.any(dim=2)  # N x H
    x = torch.arange(w, device=masks.device)
    y = torch.arange(h, device=masks.device)
    x0 = torch.where(cols, x, w).amin(dim=1)
    y0 = torch.where(rows, y, h).amin(dim=1)
    x1 = (cols * x).amax(dim=1)
    y1 = (rows * y).amax(dim=1)
    return torch.stack((x0, y0, x1, y1), dim=1).float()


def object_wise_non_overlapping(masks: torch.Tensor, obj_probs: torch.Tensor) -> torch.Tensor:
    """Bool N x H x W masks and float (N,) tracker probabilities -> bool N x H x W where each
    pixel claimed by several objects stays only with the highest-probability one (the first of
    equals); with several objects one of probability <= 0 keeps no pixel (Meta's
    _apply_object_wise_non_overlapping_constraints with background 0, then > 0)."""
    if masks.shape[0] <= 1:
        return masks
    scores = torch.where(masks, obj_probs.float()[:, None, None], 0.0)
    best = scores.argmax(dim=0, keepdim=True)
    keep = best == torch.arange(masks.shape[0], device=masks.device)[:, None, None]
    return masks & keep & (scores > 0)  # an object with probability 0 loses every pixel


__all__ = [
    "SAM2_VIDEO_FILL",
    "fill_holes",
    "fill_holes_and_sprinkles",
    "mask_box",
    "mask_iou",
    "masks_to_boxes",
    "object_wise_non_overlapping",
]
