"""When SAM 3's video model re-prompts tracks with their high-confidence detections (the
decision half of Meta's run_tracker_update_planning_phase step 3 and _recondition_masklets)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .planning_detections import FrameDetections
from .planning_masks import mask_box
from .settings import ConceptVideoSettings

HIGH_CONF_OBJ_SCORE = 0.8  # compared with the tracker's object score *logit*, as Meta does


@dataclass(frozen=True)
class Recondition:
    """obj_to_det: track id -> detection index whose mask re-prompts the track on this frame
    (the tracker adds it as a new mask, then re-encodes that state's memory), before memory
    encoding. bbox_obj_ids: tracks re-prompted for a box mismatch; on this frame their output
    mask is their detection's (not the tracker's)."""

    obj_to_det: dict[int, int]
    bbox_obj_ids: set[int]


def recondition_decision(
    settings: ConceptVideoSettings,
    frame_idx: int,
    detections: FrameDetections,
    trk_to_high_conf_det: dict[int, int],
    obj_ids: np.ndarray,
    trk_mask_logits: torch.Tensor,
    trk_score_logits: torch.Tensor,
) -> Recondition:
    """Periodic (frame_idx a multiple of recondition_every_nth_frame > 0) or box-IoU
    (reconstruction_bbox_iou_thresh > 0: the track mask's box vs its detection's box) decision;
    when either fires, every track of trk_to_high_conf_det whose tracker object score logit
    exceeds 0.8 is re-prompted. obj_ids int64 (N,), trk_mask_logits float (N, H, W) before
    occlusion suppression, trk_score_logits float (N,) the tracker's object score logits."""
    bbox_obj_ids = _box_mismatches(
        settings, detections, trk_to_high_conf_det, obj_ids, trk_mask_logits
    )
    periodic = (
        settings.recondition_every_nth_frame > 0
        and frame_idx % settings.recondition_every_nth_frame == 0
        and len(trk_to_high_conf_det) > 0
    )
    obj_to_det = {}
    if periodic or bbox_obj_ids:
        for obj_id, det_idx in trk_to_high_conf_det.items():
            index = np.where(obj_ids == obj_id)[0].item()
            if trk_score_logits[index] > HIGH_CONF_OBJ_SCORE:
                obj_to_det[obj_id] = det_idx
    return Recondition(obj_to_det, bbox_obj_ids)


def _box_mismatches(
    settings: ConceptVideoSettings,
    detections: FrameDetections,
    trk_to_high_conf_det: dict[int, int],
    obj_ids: np.ndarray,
    trk_mask_logits: torch.Tensor,
) -> set[int]:
    """Tracks whose (non-empty) mask's box has IoU below reconstruction_bbox_iou_thresh with
    their high-confidence detection's box, the detection scoring at least
    reconstruction_bbox_det_score."""
    mismatched: set[int] = set()
    if settings.reconstruction_bbox_iou_thresh <= 0:
        return mismatched
    for obj_id, det_idx in trk_to_high_conf_det.items():
        where = np.nonzero(obj_ids == obj_id)[0]
        if len(where) == 0:
            continue
        mask = trk_mask_logits[where[0]] > 0
        if mask.sum().item() == 0:
            continue
        x0, y0, x1, y1 = mask_box(mask)
        height, width = mask.shape[-2:]
        trk_box = torch.stack([x0 / width, y0 / height, x1 / width, y1 / height])
        iou = _box_iou(detections.boxes_xyxy[det_idx], trk_box)
        if (
            iou < settings.reconstruction_bbox_iou_thresh
            and detections.scores[det_idx] >= settings.reconstruction_bbox_det_score
        ):
            mismatched.add(obj_id)
    return mismatched


def _box_iou(box_a: torch.Tensor, box_b: torch.Tensor) -> torch.Tensor:
    """IoU of two x0 y0 x1 y1 boxes (0-dim)."""
    area_a = (box_a[2:] - box_a[:2]).prod(-1)
    area_b = (box_b[2:] - box_b[:2]).prod(-1)
    top_left = torch.max(box_a[:2], box_b[:2])
    bottom_right = torch.min(box_a[2:], box_b[2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(-1)
    return inter / (area_a + area_b - inter)
