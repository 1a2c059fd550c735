"""The per-frame output of SAM 3's video concept model that needs no tracker (Meta's
build_outputs and Sam3VideoInference._postprocess_output): each object's binary mask at video
size, which objects are shown, their scores and boxes, and the non-overlap rule."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .planning import FramePlan
from .planning_detections import FrameDetections
from .planning_masks import fill_holes_and_sprinkles, masks_to_boxes, object_wise_non_overlapping
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
    size = (height, width)
    tracked = _resize(plan.masks_to_encode.unsqueeze(1), size) > 0
    obj_id_to_mask = {obj_id: mask for obj_id, mask in zip(map(int, plan.prev_obj_ids), tracked)}
    new_inds = torch.from_numpy(plan.new_det_inds)
    new_logits = detections.mask_logits[new_inds].unsqueeze(1)
    new_logits = fill_holes_and_sprinkles(new_logits, settings.fill_hole_area)
    for obj_id, mask in zip(map(int, plan.new_obj_ids), _resize(new_logits, size) > 0):
        obj_id_to_mask[obj_id] = mask
    high_conf = plan.association.trk_to_high_conf_det
    for obj_id in plan.recondition.bbox_obj_ids:
        if obj_id in high_conf:
            det_logits = detections.mask_logits[high_conf[obj_id]][None, None].float()
            obj_id_to_mask[obj_id] = (_resize(det_logits, size) > 0).squeeze(0)
    return obj_id_to_mask


def _resize(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


def video_masks(logits: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """B x 1 x h x w mask logits -> bool B x 1 x height x width (bilinear, > 0)."""
    return _resize(logits.float(), (height, width)) > 0


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
    ids = sorted(obj_id_to_mask)
    if not ids:
        return FrameOutput(
            obj_ids=np.zeros(0, np.int64),
            probs=np.zeros(0, np.float32),
            boxes_xywh=np.zeros((0, 4), np.float32),
            masks=np.zeros((0, height, width), bool),
        )
    obj_ids = torch.tensor(ids, dtype=torch.int64)
    probs = torch.tensor([obj_id_to_score[obj_id] for obj_id in ids])
    tracker_probs = torch.tensor([obj_id_to_tracker_score.get(obj_id, 0.0) for obj_id in ids])
    masks = torch.cat([obj_id_to_mask[obj_id] for obj_id in ids], dim=0)
    keep = masks.any(dim=(1, 2)).cpu()
    hidden = list(hidden)
    if hidden:
        keep &= ~torch.isin(obj_ids, torch.tensor(hidden, dtype=torch.int64))
    kept = torch.nonzero(keep, as_tuple=True)[0]
    obj_ids, probs, tracker_probs = obj_ids[kept], probs[kept], tracker_probs[kept]
    masks = masks[kept.to(masks.device)]
    x0, y0, x1, y1 = masks_to_boxes(masks).unbind(-1)
    boxes = torch.stack([x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height], -1)
    if masks.shape[0] > 1:
        masks = object_wise_non_overlapping(masks, tracker_probs.to(masks.device))
    return FrameOutput(
        obj_ids=obj_ids.numpy(),
        probs=probs.numpy(),
        boxes_xywh=boxes.cpu().numpy(),
        masks=masks.cpu().numpy(),
    )
