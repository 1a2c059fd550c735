"""One frame's plan of SAM 3's video concept model (Meta's run_tracker_update_planning_phase and
the metadata half of _det_track_one_frame, one process): which detections start objects and with
which ids, which objects the hotstart rules remove, which tracks are re-prompted, and the masks
the tracker encodes into memory after occlusion suppression.

The driver runs per frame: detector -> filter_detections; tracker propagation (no memory
encoding) -> fill_holes_and_sprinkles on its masks; plan_frame; then executes the plan in Meta's
order: recondition (plan.recondition.obj_to_det), memory encoding of plan.masks_to_encode
(only with tracked objects), add plan.new_obj_ids from the detections' masks
(plan.new_det_inds), remove plan.removed_obj_ids; then frame_masks -> PlannedFrame.of ->
HotstartBuffer.push gives the frames to show (PlannedFrame.output alone for add_prompt's frame)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .masklets import CONFIRMED, UNCONFIRMED, MaskletState
from .planning_association import Association, associate
from .planning_detections import FrameDetections, limit_new_detections, near_boundary_keep
from .planning_hotstart import process_hotstart
from .planning_occlusion import suppress_recent_occlusion
from .planning_recondition import Recondition, recondition_decision
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
      (suppressed ones -10), what the memory encoder gets and frame_masks shows; a copy, or
      the given tensor itself when occlusion suppression is off or nothing is tracked.
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
    image (no object limit). num_frames is not used (Meta's planning takes it too)."""
    new_state = state.copy()
    prev_obj_ids = state.obj_ids
    association = associate(
        settings, detections.mask_logits, detections.scores_np, tracker_masks, prev_obj_ids
    )
    new_det_inds, num_dropped = _new_detections(
        settings, association, detections, len(prev_obj_ids), is_image_only
    )
    new_obj_ids = state.max_obj_id + 1 + np.arange(len(new_det_inds), dtype=np.int64)
    removed = process_hotstart(settings, new_state, frame_idx, reverse, association, new_obj_ids)
    recondition = recondition_decision(
        settings, frame_idx, detections, association.trk_to_high_conf_det, prev_obj_ids,
        tracker_masks, tracker_scores,
    )
    masks_to_encode = tracker_masks
    suppressed = torch.zeros(len(prev_obj_ids), dtype=torch.bool, device=tracker_masks.device)
    new_state.last_occluded = {}
    threshold = settings.suppress_overlapping_based_on_recent_occlusion_threshold
    if len(prev_obj_ids) > 0 and threshold > 0.0:
        masks_to_encode, suppressed, new_state.last_occluded = suppress_recent_occlusion(
            settings, frame_idx, tracker_masks, prev_obj_ids, state.last_occluded, removed,
            reverse,
        )
    _update_objects(new_state, frame_idx, new_obj_ids, detections.scores_np[new_det_inds], removed)
    if settings.masklet_confirmation_enable:
        update_confirmation(
            settings, new_state, prev_obj_ids, association.det_to_matched_obj_ids, new_obj_ids
        )
    if len(prev_obj_ids) > 0:  # the tracker's own scores, removed objects' included
        probs = tracker_scores.sigmoid().tolist()
        new_state.tracker_scores[frame_idx].update(zip(map(int, prev_obj_ids), probs))
    plan = FramePlan(
        frame_idx=frame_idx,
        prev_obj_ids=prev_obj_ids,
        association=association,
        new_det_inds=new_det_inds,
        new_obj_ids=new_obj_ids,
        removed_obj_ids=removed,
        num_dropped=num_dropped,
        recondition=recondition,
        masks_to_encode=masks_to_encode,
        suppressed=suppressed,
    )
    return plan, new_state


def _new_detections(
    settings: ConceptVideoSettings,
    association: Association,
    detections: FrameDetections,
    num_tracked: int,
    is_image_only: bool,
) -> tuple[np.ndarray, int]:
    """The detections that start objects after the boundary filter and the object limit, and
    how many the limit dropped."""
    new_det_inds = association.new_det_inds
    if settings.suppress_det_close_to_boundary:
        keep = near_boundary_keep(detections.boxes_xyxy[new_det_inds])
        new_det_inds = new_det_inds[keep.cpu().numpy()]
    limit = settings.object_limit
    if is_image_only or num_tracked + len(new_det_inds) <= limit:
        return new_det_inds, 0
    num_to_keep = limit - num_tracked
    dropped = len(new_det_inds) - num_to_keep
    return limit_new_detections(new_det_inds, detections.scores_np, num_to_keep), dropped


def _update_objects(
    state: MaskletState,
    frame_idx: int,
    new_obj_ids: np.ndarray,
    new_scores: np.ndarray,
    removed: set[int],
) -> None:
    """New objects appended (with their detection probabilities), removed ones dropped from
    the tracked ids and their scores set to -1e4."""
    obj_ids = np.concatenate([state.obj_ids, new_obj_ids]) if len(new_obj_ids) else state.obj_ids
    if removed:
        obj_ids = obj_ids[~np.isin(obj_ids, list(removed))]
    state.obj_ids = obj_ids
    frame_scores = state.tracker_scores.setdefault(frame_idx, {})
    if len(new_obj_ids) > 0:
        pairs = list(zip(map(int, new_obj_ids), map(float, new_scores)))
        state.obj_id_to_score.update(pairs)
        frame_scores.update(pairs)
        state.max_obj_id = max(state.max_obj_id, int(new_obj_ids.max()))
    for obj_id in removed:
        state.obj_id_to_score[obj_id] = -1e4
        frame_scores[obj_id] = -1e4
        state.last_occluded.pop(obj_id, None)


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
    prev_index = {obj_id: i for i, obj_id in enumerate(map(int, prev_obj_ids))}
    obj_ids = state.obj_ids
    status = np.full_like(obj_ids, UNCONFIRMED)
    run = np.zeros_like(obj_ids)
    for i, obj_id in enumerate(map(int, obj_ids)):
        if obj_id in prev_index:
            status[i] = state.confirmation_status[prev_index[obj_id]]
            run[i] = state.consecutive_det_num[prev_index[obj_id]]
    matched = np.isin(obj_ids, new_obj_ids)
    for ids in det_to_matched_obj_ids.values():
        matched |= np.isin(obj_ids, ids)
    run = np.where(matched, run + 1, 0)
    status[run >= settings.masklet_confirmation_consecutive_det_thresh] = CONFIRMED
    state.confirmation_status = status
    state.consecutive_det_num = run
