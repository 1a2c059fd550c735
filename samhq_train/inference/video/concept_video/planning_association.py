"""Matching one frame's detections with the tracked objects (Meta's _associate_det_trk)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

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
    raise NotImplementedError
