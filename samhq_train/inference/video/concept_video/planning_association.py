"""Matching one frame's detections with the tracked objects (Meta's _associate_det_trk)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .planning_masks import mask_iou
from .settings import ConceptVideoSettings

HIGH_CONF_THRESH = 0.8  # detection probability for a recondition candidate
HIGH_IOU_THRESH = 0.8  # mask IoU of such a detection with its best track


@dataclass(frozen=True)
class Association:
    """new_det_inds: int64 (K,) indices of the detections that start new objects (ascending).
    unmatched_obj_ids: int64, tracks with a non-empty mask matching no detection
      (IoU >= trk_assoc_iou_thresh), in tracker order.
    det_to_matched_obj_ids: det index -> int64 array of the track ids it matches
      (IoU >= assoc_iou_thresh), one entry per detection (empty dict without tracks or dets).
    trk_to_high_conf_det: track id -> the one high-confidence detection (prob >= 0.8, not new,
      its best IoU >= 0.8) whose best track it is (the later detection wins a tie).
    empty_obj_ids: int64, tracks whose mask is empty, in tracker order.
    """

    new_det_inds: np.ndarray
    unmatched_obj_ids: np.ndarray
    det_to_matched_obj_ids: dict[int, np.ndarray]
    trk_to_high_conf_det: dict[int, int]
    empty_obj_ids: np.ndarray


def associate(
    settings: ConceptVideoSettings,
    det_mask_logits: torch.Tensor,
    det_scores: np.ndarray,
    trk_mask_logits: torch.Tensor,
    trk_obj_ids: np.ndarray,
) -> Association:
    """det_mask_logits: float (D, h, w) logits; det_scores: float32 (D,) probabilities;
    trk_mask_logits: float (N, H, W) the tracker's logits on this frame (hole-filled);
    trk_obj_ids: int64 (N,). Masks of different sizes are compared at the smaller size
    (bilinear, align_corners False), binarised at > 0."""
    if trk_mask_logits.shape[0] == 0:
        empty = np.array([], np.int64)
        return Association(np.arange(det_mask_logits.shape[0]), empty, {}, {}, empty.copy())
    if det_mask_logits.shape[0] == 0:
        nonempty = (trk_mask_logits > 0).any(dim=(1, 2)).cpu().numpy()
        return Association(
            np.array([], np.int64), trk_obj_ids[nonempty], {}, {}, trk_obj_ids[~nonempty]
        )
    det_mask_logits, trk_mask_logits = _same_size(det_mask_logits, trk_mask_logits)
    trk_binary = trk_mask_logits > 0
    ious = mask_iou(det_mask_logits > 0, trk_binary).cpu().numpy()  # D x N
    trk_matched = _tracks_matched(ious, settings)
    nonempty = trk_binary.any(dim=(1, 2)).cpu().numpy()
    is_new = (det_scores >= settings.new_det_thresh) & ~np.any(
        ious >= settings.assoc_iou_thresh, axis=1
    )
    best_trk = np.argmax(ious, axis=1)
    high_conf = (det_scores >= HIGH_CONF_THRESH) & ~is_new & (ious.max(axis=1) >= HIGH_IOU_THRESH)
    det_to_matched = {}
    trk_to_high_conf_det = {}
    for d in range(ious.shape[0]):
        det_to_matched[d] = trk_obj_ids[ious[d] >= settings.assoc_iou_thresh]
        if high_conf[d]:
            trk_to_high_conf_det[trk_obj_ids[best_trk[d]].item()] = d
    return Association(
        new_det_inds=np.nonzero(is_new)[0],
        unmatched_obj_ids=trk_obj_ids[nonempty & ~trk_matched],
        det_to_matched_obj_ids=det_to_matched,
        trk_to_high_conf_det=trk_to_high_conf_det,
        empty_obj_ids=trk_obj_ids[~nonempty],
    )


def _same_size(det: torch.Tensor, trk: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both mask stacks at the smaller of their two sizes (the tracks' when equal in area)."""
    if det.shape[-2:] == trk.shape[-2:]:
        return det, trk
    if np.prod(det.shape[-2:]) < np.prod(trk.shape[-2:]):
        return det, _resize(trk, det.shape[-2:])
    return _resize(det, trk.shape[-2:]), trk


def _resize(masks: torch.Tensor, size) -> torch.Tensor:
    resized = F.interpolate(masks.unsqueeze(1), size=size, mode="bilinear", align_corners=False)
    return resized.squeeze(1)


def _tracks_matched(ious: np.ndarray, settings: ConceptVideoSettings) -> np.ndarray:
    """bool (N,): a detection matches the track at trk_assoc_iou_thresh (one to one by the
    Hungarian assignment with o2o_matching_masklets_enable)."""
    if not settings.o2o_matching_masklets_enable:
        return (ious >= settings.trk_assoc_iou_thresh).any(axis=0)
    from scipy.optimize import linear_sum_assignment

    matched = np.zeros(ious.shape[1], dtype=bool)
    for d, t in zip(*linear_sum_assignment(1 - ious)):
        if ious[d, t] >= settings.trk_assoc_iou_thresh:
            matched[t] = True
    return matched
