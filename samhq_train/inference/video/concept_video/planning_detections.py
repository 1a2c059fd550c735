"""The detector's answer on one frame turned into the detections the video model plans with
(the score threshold and mask NMS of Meta's run_backbone_and_detection), and the two filters on
new detections (boundary, object limit)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .planning_masks import mask_iou
from .settings import ConceptVideoSettings

BOUNDARY_MARGIN = 0.025  # fraction of the image


@dataclass(frozen=True)
class FrameDetections:
    """The detections kept on one frame, in detector query order (D of them, D may be 0).

    boxes_xyxy: float (D, 4) x0 y0 x1 y1 normalised to [0, 1] (the detector's pred_boxes_xyxy).
    mask_logits: float (D, h, w) low-res mask logits (the detector's masks: 4g x 4g for a
      g x g ViT grid, 288 x 288 at 1008 px), not binarised.
    scores: float (D,) probabilities: sigmoid of the joint logit (detection x presence), each
      above score_threshold_detection.
    """

    boxes_xyxy: torch.Tensor
    mask_logits: torch.Tensor
    scores: torch.Tensor

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @property
    def scores_np(self) -> np.ndarray:
        """The scores as float32 numpy (what association and new-object scores use)."""
        return self.scores.float().cpu().numpy()


def joint_logits(logits: torch.Tensor, presence_logit: torch.Tensor | None) -> torch.Tensor:
    """The detector's per-query logits (Q,) and its presence logit (a 0-dim tensor, or None for
    a detector without presence token) -> Meta's pred_logits (Q,): the logit of sigmoid(logit) *
    sigmoid(presence) (inverse sigmoid with eps 1e-3), clamped to [-10, 10]."""
    if presence_logit is None:
        return logits
    probs = (logits.sigmoid() * presence_logit.sigmoid()).clamp(min=0, max=1)
    eps = 1e-3
    inverse = torch.log(probs.clamp(min=eps) / (1 - probs).clamp(min=eps))
    return inverse.clamp(min=-10.0, max=10.0)


def nms_keep(
    probs: torch.Tensor, mask_logits: torch.Tensor, prob_threshold: float, iou_threshold: float
) -> torch.Tensor:
    """Meta's nms_masks: probabilities (Q,), mask logits (Q, h, w) -> bool (Q,) kept: above
    `prob_threshold` and not overlapping (mask IoU > iou_threshold) a higher-scoring kept one."""
    is_valid = probs > prob_threshold
    valid_probs = probs[is_valid]
    if valid_probs.numel() == 0:
        return is_valid
    binary = mask_logits[is_valid] > 0
    ious = mask_iou(binary, binary).cpu().numpy()
    order = valid_probs.float().cpu().numpy().argsort()[::-1]
    kept = []
    while order.size > 0:
        best = order.item(0)
        kept.append(best)
        order = order[1:][ious[best, order[1:]] <= iou_threshold]
    valid_index = torch.where(is_valid, is_valid.cumsum(dim=0) - 1, -1)
    return torch.isin(valid_index, torch.tensor(kept, dtype=torch.int64, device=probs.device))


def filter_detections(
    settings: ConceptVideoSettings,
    logits: torch.Tensor,
    presence_logit: torch.Tensor | None,
    boxes_xyxy: torch.Tensor,
    mask_logits: torch.Tensor,
    allow_new_detections: bool = True,
) -> FrameDetections:
    """One prompt's raw detector outputs on a frame -> the detections above
    score_threshold_detection after mask NMS (when det_nms_thresh > 0).

    logits: (Q,) per-query logits before the presence score; presence_logit: 0-dim or None;
    boxes_xyxy: (Q, 4) normalised; mask_logits: (Q, h, w). allow_new_detections False (no text
    and no box prompt): no detection is kept (Meta subtracts 1e8 from the probabilities)."""
    pred_logits = joint_logits(logits, presence_logit)
    if settings.det_nms_thresh > 0.0:
        keep = nms_keep(
            pred_logits.sigmoid(),
            mask_logits,
            settings.score_threshold_detection,
            settings.det_nms_thresh,
        )
        pred_logits = pred_logits - 1e4 * (~keep).float()  # Meta's way of dropping one
    probs = pred_logits.sigmoid()
    if not allow_new_detections:
        probs = probs - 1e8
    kept = torch.where(probs > settings.score_threshold_detection)[0]
    return FrameDetections(boxes_xyxy[kept], mask_logits[kept], probs[kept])


def near_boundary_keep(boxes_xyxy: torch.Tensor, margin: float = BOUNDARY_MARGIN) -> torch.Tensor:
    """Normalised boxes (K, 4) -> bool (K,): the box centre is more than `margin` inside every
    edge (Meta's _suppress_detections_close_to_boundary)."""
    x0, y0, x1, y1 = boxes_xyxy.unbind(-1)
    cx = (x0 + x1) / 2
    cy = (y0 + y1) / 2
    return (cx > margin) & (cx < 1.0 - margin) & (cy > margin) & (cy < 1.0 - margin)


def limit_new_detections(
    new_det_inds: np.ndarray, det_scores: np.ndarray, num_to_keep: int
) -> np.ndarray:
    """The `num_to_keep` highest-scoring of the new detection indices, highest first (all of
    them, in their order, when they fit; Meta's _drop_new_det_with_obj_limit)."""
    if num_to_keep == 0:
        return np.array([], np.int64)
    if num_to_keep == len(new_det_inds):
        return new_det_inds
    order = np.argsort(det_scores[new_det_inds])[::-1]
    return new_det_inds[order[:num_to_keep]]
