"""One frame's plan of SAM 3's video concept model (Meta's run_tracker_update_planning_phase and
the metadata half of _det_track_one_frame, one process): which detections start objects and with
which ids, which objects the hotstart rules remove, which tracks are re-prompted, and the masks
the tracker encodes into memory after occlusion suppression.

The driver runs per frame: detector -> filter_detections; tracker propagation (no memory
encoding) -> fill_holes_and_sprinkles on its masks; plan_frame; then executes the plan in Meta's
order: recondition (plan.recondition.obj_to_det), memory encoding of plan.masks_to_encode
(only with tracked objects), add plan.new_obj_ids from the detections' masks
(plan.new_det_inds), remove plan.removed_obj_ids; then frame_masks / postprocess_frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .masklets import MaskletState
from .planning_association import Association
from .planning_detections import FrameDetections
from .planning_recondition import Recondition
from .settings import ConceptVideoSettings


@dataclass(frozen=True)
class FramePlan:
    """What the tracker does on `frame_idx` (Meta's tracker_update_plan without GPU ids).

    prev_obj_ids: int64 (N,), the tracked objects on entry (the order of the tracker's masks).
    association: the det / track matching (unmatched, empty, det -> matched track ids, track id
      -> high-confidence det index).
    new_det_inds: int64 (K,) detection indices that start objects (after the boundary filter
      and object limit; highest score first when the limit dropped some).
    new_obj_ids: int64 (K,) their ids (max_obj_id + 1 ...), in the same order.
    removed_obj_ids: ids newly removed by hotstart on this frame (the tracker drops them).
    num_dropped: new detections dropped by max_num_objects.
    recondition: which tracks are re-prompted with which detection before memory encoding,
      and those whose output mask is their detection's.
    masks_to_encode: float (N, H, W) the tracker's logits after occlusion suppression
      (suppressed ones -10), what the memory encoder gets; the tracker's masks themselves
      when nothing is suppressed.
    suppressed: bool (N,) the tracks occlusion suppression set to -10.
    """

    frame_idx: int
    prev_obj_ids: np.ndarray
    association: Association
    new_det_inds: np.ndarray
    new_obj_ids: np.ndarray
    removed_obj_ids: set[int]
    num_dropped: int
    recondition: Recondition
    masks_to_encode: torch.Tensor
    suppressed: torch.Tensor


def plan_frame(
    settings: ConceptVideoSettings,
    state: MaskletState,
    frame_idx: int,
    num_frames: int,
    reverse: bool,
    detections: FrameDetections,
    tracker_masks: torch.Tensor,
    tracker_scores: torch.Tensor,
    is_image_only: bool = False,
) -> tuple[FramePlan, MaskletState]:
    """Plan `frame_idx` and return (the plan, the state after it); `state` is not changed.

    tracker_masks: float (N, H, W) the tracker's mask logits propagated to this frame for
    state.obj_ids (in that order), hole-filled (fill_holes_and_sprinkles), not binarised;
    tracker_scores: float (N,) the tracker's object score logits (sigmoid -> the probabilities
    kept in state.tracker_scores[frame_idx]). N = 0 on the first frame. is_image_only: a single
    image (no object limit)."""
    raise NotImplementedError


def update_confirmation(
    settings: ConceptVideoSettings,
    state: MaskletState,
    prev_obj_ids: np.ndarray,
    det_to_matched_obj_ids: dict[int, np.ndarray],
    new_obj_ids: np.ndarray,
) -> None:
    """Masklet confirmation (Meta's update_masklet_confirmation_status): realign
    state.confirmation_status / consecutive_det_num from prev_obj_ids to state.obj_ids (new ones
    UNCONFIRMED, 0), count a matched or new object's run up (others back to 0) and confirm
    those with a run >= masklet_confirmation_consecutive_det_thresh. In place."""
    raise NotImplementedError
