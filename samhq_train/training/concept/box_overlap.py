"""Overlap of boxes (x0, y0, x1, y1) for SAM 3's detection loss and its matchers: IoU and
generalised IoU of every prediction with every target (batched, for the matching costs) and of
matched pairs (row i with row i, for the losses); Meta's box_ops formulas."""

import torch


def _area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def pairwise_box_iou(
    boxes1: torch.Tensor, boxes2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """... x N x 4 and ... x M x 4 -> (IoU, union area), each ... x N x M."""
    top_left = torch.max(boxes1[..., :, None, :2], boxes2[..., None, :, :2])
    bottom_right = torch.min(boxes1[..., :, None, 2:], boxes2[..., None, :, 2:])
    size = (bottom_right - top_left).clamp(min=0)
    inter = size[..., 0] * size[..., 1]
    union = _area(boxes1)[..., None] + _area(boxes2)[..., None, :] - inter
    return inter / union, union


def pairwise_generalized_box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """... x N x 4 and ... x M x 4 -> GIoU ... x N x M: IoU minus the share of the enclosing box
    that the union leaves empty."""
    iou, union = pairwise_box_iou(boxes1, boxes2)
    top_left = torch.min(boxes1[..., :, None, :2], boxes2[..., None, :, :2])
    bottom_right = torch.max(boxes1[..., :, None, 2:], boxes2[..., None, :, 2:])
    size = (bottom_right - top_left).clamp(min=0)
    enclosing = size[..., 0] * size[..., 1]
    return iou - (enclosing - union) / enclosing


def _corners(boxes1: torch.Tensor, boxes2: torch.Tensor):
    if boxes1.shape != boxes2.shape:
        raise ValueError(f"matched boxes differ in shape: {tuple(boxes1.shape)} and "
                         f"{tuple(boxes2.shape)}")
    return boxes1[:, :2], boxes1[:, 2:], boxes2[:, :2], boxes2[:, 2:]


def matched_box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """N x 4 and N x 4 -> N: the IoU of row i with row i."""
    low1, high1, low2, high2 = _corners(boxes1, boxes2)
    area1, area2 = (high1 - low1).prod(-1), (high2 - low2).prod(-1)
    inter = (torch.min(high1, high2) - torch.max(low1, low2)).clamp(min=0).prod(-1)
    return inter / (area1 + area2 - inter)


def matched_generalized_box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """N x 4 and N x 4 -> N: the GIoU of row i with row i."""
    low1, high1, low2, high2 = _corners(boxes1, boxes2)
    area1, area2 = (high1 - low1).prod(-1), (high2 - low2).prod(-1)
    inner_low, outer_low = torch.max(low1, low2), torch.min(low1, low2)
    inner_high, outer_high = torch.min(high1, high2), torch.max(high1, high2)
    inter = (inner_high - inner_low).clamp(min=0).prod(-1)
    enclosing = (outer_high - outer_low).clamp(min=0).prod(-1)
    union = area1 + area2 - inter
    return inter / union - (enclosing - union) / enclosing
