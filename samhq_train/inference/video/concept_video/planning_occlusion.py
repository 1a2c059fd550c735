"""Suppressing the more recently occluded of two overlapping tracks before their masks go into
memory (Meta's _suppress_overlapping_based_on_recent_occlusion)."""

from __future__ import annotations

import numpy as np
import torch

from .planning_masks import mask_iou
from .settings import ConceptVideoSettings

NEVER_OCCLUDED = -1
ALWAYS_OCCLUDED = 100000  # removed by hotstart: loses every overlap
NO_OBJ_LOGIT = -10.0  # the logit a suppressed mask gets


def objects_to_suppress(
    binary_masks: torch.Tensor, last_occluded: torch.Tensor, iou_threshold: float, reverse: bool
) -> torch.Tensor:
    """binary_masks: bool (N, H, W); last_occluded: int64 (N,) frame index (-1 never) -> bool
    (N,): of each pair with mask IoU >= iou_threshold, the one occluded later (earlier when
    reverse) is suppressed if the other was ever occluded (Meta's
    _get_objects_to_suppress_based_on_most_recently_occluded)."""
    count = binary_masks.shape[0]
    if count <= 1:
        return torch.zeros(count, dtype=torch.bool, device=binary_masks.device)
    overlapping = torch.triu(mask_iou(binary_masks, binary_masks) >= iou_threshold, diagonal=1)
    later = torch.lt if reverse else torch.gt
    row, col = last_occluded[:, None], last_occluded[None, :]
    suppress_row = overlapping & later(row, col) & (col > NEVER_OCCLUDED)
    suppress_col = overlapping & later(col, row) & (row > NEVER_OCCLUDED)
    return suppress_row.any(dim=1) | suppress_col.any(dim=0)


def suppress_recent_occlusion(
    settings: ConceptVideoSettings,
    frame_idx: int,
    trk_mask_logits: torch.Tensor,
    obj_ids: np.ndarray,
    last_occluded: dict[int, int],
    removed_now: set[int],
    reverse: bool,
) -> tuple[torch.Tensor, torch.Tensor, dict[int, int]]:
    """trk_mask_logits: float (N, H, W) the tracker's logits, obj_ids int64 (N,) in the same
    order, last_occluded: the state's (ids missing: never occluded, or always when in
    `removed_now`). Returns (a copy of the logits with suppressed masks set to -10, bool (N,)
    suppressed, the new last_occluded: every id in obj_ids -> its last occluded frame, this
    frame when its mask is empty or suppressed)."""
    binary = trk_mask_logits > 0
    last = torch.tensor(
        [
            last_occluded.get(
                obj_id, ALWAYS_OCCLUDED if obj_id in removed_now else NEVER_OCCLUDED
            )
            for obj_id in map(int, obj_ids)
        ],
        dtype=torch.long,
        device=binary.device,
    )
    threshold = settings.suppress_overlapping_based_on_recent_occlusion_threshold
    suppressed = objects_to_suppress(binary, last, threshold, reverse)
    occluded = ~binary.any(dim=(-1, -2))
    last[occluded | suppressed] = frame_idx
    masks = trk_mask_logits.clone()
    masks[suppressed] = NO_OBJ_LOGIT
    new_last = {obj_id: int(t) for obj_id, t in zip(map(int, obj_ids), last.tolist())}
    return masks, suppressed, new_last
