"""When SAM 3's video model re-prompts tracks with their high-confidence detections (the
decision half of Meta's run_tracker_update_planning_phase step 3 and _recondition_masklets)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .planning_detections import FrameDetections
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
    raise NotImplementedError
