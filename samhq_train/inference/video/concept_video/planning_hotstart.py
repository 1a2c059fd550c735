"""The hotstart rules of SAM 3's video concept model (Meta's _process_hotstart): objects that
start within the last hotstart_delay frames are removed when they go unmatched too often or keep
sharing a detection with an earlier object; keep-alive counts hide long-unmatched objects."""

from __future__ import annotations

import numpy as np

from .masklets import MaskletState
from .planning_association import Association
from .settings import ConceptVideoSettings


def process_hotstart(
    settings: ConceptVideoSettings,
    state: MaskletState,
    frame_idx: int,
    reverse: bool,
    association: Association,
    new_obj_ids: np.ndarray,
) -> set[int]:
    """The object ids newly removed on `frame_idx`. Updates `state` in place (plan_frame passes
    its own copy): first_frame and keep_alive of the new objects, keep_alive of matched /
    unmatched ones, unmatched_frames, overlap_frames, removed_ids and suppressed_ids[frame_idx]
    (created empty if nothing is hidden). new_obj_ids: int64, the ids the new detections get."""
    raise NotImplementedError
