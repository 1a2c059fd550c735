"""Evaluation: mask IoU / boundary IoU metrics and COCO mask / boundary AP."""

from samhq_train.evaluation.metrics import (
    BoundaryIoU,
    MaskIoU,
    boundary_dilation,
    boundary_iou,
    mask_iou,
    mask_to_boundary,
)

__all__ = [
    "BoundaryIoU",
    "MaskIoU",
    "boundary_dilation",
    "boundary_iou",
    "mask_iou",
    "mask_to_boundary",
]
