"""Mask arithmetic of SAM 3's video concept model: IoU of binary masks, hole filling with
sprinkle removal on mask logits, boxes of binary masks, and the per-object non-overlap rule."""

from __future__ import annotations

import torch

from samhq_train.inference.holes import SAM2_VIDEO_FILL, fill_holes

SPRINKLE_FILL = -0.1  # logit given to removed foreground sprinkles


def mask_iou(masks_a: torch.Tensor, masks_b: torch.Tensor) -> torch.Tensor:
    """Bool N x H x W and M x H x W -> float32 N x M IoU (0 where both are empty)."""
    raise NotImplementedError


def fill_holes_and_sprinkles(logits: torch.Tensor, max_area: int) -> torch.Tensor:
    """B x 1 x H x W mask logits: background regions of at most `max_area` pixels (8-connected)
    set to 0.1, then foreground regions of at most min(max_area, foreground area // 2) pixels
    set to -0.1 (Meta's fill_holes_in_mask_scores with both steps; max_area <= 0: unchanged).
    The tracker's propagated masks get this too (the driver applies it before planning)."""
    raise NotImplementedError


def mask_box(mask: torch.Tensor) -> torch.Tensor:
    """Bool H x W -> int (4,) x0 y0 x1 y1 of its pixels, inclusive, in mask pixels (zeros when
    empty), as Meta's mask_to_box."""
    raise NotImplementedError


def masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Bool N x H x W -> float32 N x 4 x0 y0 x1 y1 in pixels, inclusive (x1 is the last column,
    not one past it); an empty mask gives (W, H, 0, 0) as Meta's perflib masks_to_boxes."""
    raise NotImplementedError


def object_wise_non_overlapping(masks: torch.Tensor, obj_probs: torch.Tensor) -> torch.Tensor:
    """Bool N x H x W masks and float (N,) tracker probabilities -> bool N x H x W where each
    pixel claimed by several objects stays only with the highest-probability one (Meta's
    _apply_object_wise_non_overlapping_constraints with background 0, then > 0)."""
    raise NotImplementedError


__all__ = [
    "SAM2_VIDEO_FILL",
    "fill_holes",
    "fill_holes_and_sprinkles",
    "mask_box",
    "mask_iou",
    "masks_to_boxes",
    "object_wise_non_overlapping",
]
