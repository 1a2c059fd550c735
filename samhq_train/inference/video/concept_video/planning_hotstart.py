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
    removed_now: set[int] = set()
    suppressed = state.suppressed_ids.setdefault(frame_idx, set())
    delay = settings.hotstart_delay
    hotstart_start = frame_idx + delay if reverse else frame_idx - delay
    _count_keep_alive(settings, state, frame_idx, association, new_obj_ids)
    for obj_id, frames in state.unmatched_frames.items():
        if obj_id in state.removed_ids or obj_id in removed_now:
            continue
        if len(frames) >= settings.hotstart_unmatch_thresh and _within_hotstart(
            state.first_frame[obj_id], hotstart_start, reverse
        ):
            removed_now.add(obj_id)
        if (
            state.keep_alive.get(obj_id, 0) <= 0
            and not settings.suppress_unmatched_only_within_hotstart
            and obj_id not in state.removed_ids
            and obj_id not in removed_now
        ):
            suppressed.add(obj_id)
    _count_overlaps(state, frame_idx, reverse, association)
    for (_, obj_id), frames in state.overlap_frames.items():
        if obj_id in state.removed_ids or obj_id in removed_now:
            continue
        if _within_hotstart(state.first_frame[obj_id], hotstart_start, reverse):
            if len(frames) >= settings.hotstart_dup_thresh:
                removed_now.add(obj_id)
    state.removed_ids.update(removed_now)
    return removed_now


def _within_hotstart(first_frame: int, hotstart_start: int, reverse: bool) -> bool:
    """The object first appeared within the last hotstart_delay frames (in processing order)."""
    return first_frame < hotstart_start if reverse else first_frame > hotstart_start


def _count_keep_alive(
    settings: ConceptVideoSettings,
    state: MaskletState,
    frame_idx: int,
    association: Association,
    new_obj_ids: np.ndarray,
) -> None:
    """New objects start at init_trk_keep_alive; matched ones count up, unmatched (and empty,
    if so set) ones down; unmatched frames are recorded."""
    keep_alive = state.keep_alive
    for obj_id in map(int, new_obj_ids):
        state.first_frame.setdefault(obj_id, frame_idx)
        keep_alive[obj_id] = settings.init_trk_keep_alive
    matched = {int(i) for ids in association.det_to_matched_obj_ids.values() for i in ids}
    for obj_id in matched:
        keep_alive[obj_id] = min(settings.max_trk_keep_alive, keep_alive.get(obj_id, 0) + 1)
    count_down = list(map(int, association.unmatched_obj_ids))
    for obj_id in count_down:
        state.unmatched_frames.setdefault(obj_id, []).append(frame_idx)
    if settings.decrease_trk_keep_alive_for_empty_masklets:
        count_down += list(map(int, association.empty_obj_ids))
    for obj_id in count_down:
        keep_alive[obj_id] = max(settings.min_trk_keep_alive, keep_alive.get(obj_id, 0) - 1)


def _count_overlaps(
    state: MaskletState, frame_idx: int, reverse: bool, association: Association
) -> None:
    """A detection matched by several tracks: each later-starting track overlaps the first
    (earliest, or latest in reverse) one on this frame."""
    for matched in association.det_to_matched_obj_ids.values():
        if len(matched) < 2:
            continue
        ids = list(map(int, matched))
        pick = max if reverse else min
        first = pick(ids, key=lambda obj_id: state.first_frame[obj_id])
        for obj_id in ids:
            if obj_id != first:
                state.overlap_frames.setdefault((first, obj_id), []).append(frame_idx)
