"""The per-frame output of SAM 3's video concept model that needs no tracker (Meta's
build_outputs and Sam3VideoInference._postprocess_output): each object's binary mask at video
size, which objects are shown, their scores and boxes, and the non-overlap rule."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from .planning import FramePlan
from .planning_detections import FrameDetections
from .settings import ConceptVideoSettings


@dataclass(frozen=True)
class FrameOutput:
    """The objects shown on one frame, by ascending id (K of them, K may be 0).

    obj_ids: int64 (K,); probs: float32 (K,) each object's starting detection probability;
    boxes_xywh: float32 (K, 4) x y w h of its mask normalised by the video width / height
    (x1 - x0 of the inclusive pixel box, before the non-overlap rule); masks: bool (K, H, W) at
    video size after the non-overlap rule (one object per pixel, by tracker probability)."""

    obj_ids: np.ndarray
    probs: np.ndarray
    boxes_xywh: np.ndarray
    masks: np.ndarray


def frame_masks(
    settings: ConceptVideoSettings,
    plan: FramePlan,
    detections: FrameDetections,
    height: int,
    width: int,
) -> dict[int, torch.Tensor]:
    """obj id -> bool (1, height, width) (Meta's build_outputs): tracked objects from
    plan.masks_to_encode (bilinear to video size, > 0), new objects from their detection masks
    (hole-filled first), box-reconditioned ones from their detection mask."""
    raise NotImplementedError


def hidden_obj_ids(
    suppressed: Iterable[int], removed: Iterable[int], unconfirmed: Iterable[int]
) -> list[int]:
    """The ids not shown on a frame: hidden on it (state.suppressed_ids[frame]), removed by
    hotstart so far (state.removed_ids of the newest planned frame: with a hotstart delay the
    frame shown is older than that), unconfirmed (state.unconfirmed_obj_ids() of the frame
    masklet_confirmation_consecutive_det_thresh - 1 ahead, clamped to the video)."""
    return [*suppressed, *removed, *unconfirmed]


def postprocess_frame(
    obj_id_to_mask: dict[int, torch.Tensor],
    obj_id_to_score: dict[int, float],
    obj_id_to_tracker_score: dict[int, float],
    height: int,
    width: int,
    hidden: Iterable[int] = (),
) -> FrameOutput:
    """Meta's _postprocess_output: objects sorted by id, those with an empty mask or in `hidden`
    left out; probs from obj_id_to_score (state.obj_id_to_score), the non-overlap rule by
    obj_id_to_tracker_score (state.tracker_scores[frame], 0 for a missing id)."""
    raise NotImplementedError
