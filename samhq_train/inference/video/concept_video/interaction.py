"""Clicks on the objects of SAM 3's video concept model (Meta's
Sam3VideoInferenceWithInstanceInteractivity, one process), the parts that need no model: the
user's actions and which propagation they call for, what a click or a removal changes in the
masklet state, and the per-frame masks shown so far (what a propagation after clicks merges the
clicked objects into).

Meta's rule for the next propagation (parse_action_history_for_propagation): the first one
after a text prompt is the full detect-and-track one; after clicks, only the groups of the
clicked (refined or added) objects are tracked, with memory, and their masks replace those
shown; with nothing to track, the shown masks are served again. After a propagation the next one
repeats its kind (the other direction), unless two propagations ran in a row or the last one
started on the first or last frame: then the shown masks are served again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .masklets import UNCONFIRMED, MaskletState
from .settings import ConceptVideoSettings

FULL, PARTIAL, FETCH = "full", "partial", "fetch"  # the propagation kinds
ADD, REFINE, REMOVE = "add", "refine", "remove"  # the user's actions on objects


@dataclass(frozen=True)
class Action:
    """One entry of Meta's action_history: kind (ADD / REFINE / REMOVE or a propagation kind),
    the frame (a click's frame or a propagation's start frame), the objects."""

    kind: str
    frame: int | None = None
    obj_ids: tuple[int, ...] = ()


def next_propagation(history: list[Action], num_frames: int) -> tuple[str, tuple[int, ...]]:
    """(FULL / PARTIAL / FETCH, the objects a PARTIAL propagation is for)."""
    if not history:
        return FULL, ()
    last = history[-1]
    if last.kind == FETCH:
        return FETCH, ()
    if last.kind in (FULL, PARTIAL):
        twice = len(history) > 1 and history[-2].kind in (FULL, PARTIAL)
        if twice or last.frame in (0, num_frames - 1):
            return FETCH, ()
        return last.kind, last.obj_ids
    clicked: set[int] = set()
    for action in reversed(history):
        if action.kind in (FULL, PARTIAL, FETCH):
            break
        if action.kind in (ADD, REFINE):
            clicked.update(action.obj_ids)
    return (PARTIAL, tuple(sorted(clicked))) if clicked else (FETCH, ())


def mark_clicked(
    settings: ConceptVideoSettings, state: MaskletState, frame: int, obj_id: int, is_new: bool
) -> None:
    """A click on `obj_id` at `frame` (in place): a new object joins the tracked ones; the
    object scores 1.0 (its starting score and its tracker score on the frame) and is neither
    removed nor hidden on any frame any more. With masklet confirmation its row is set as Meta
    sets it (status value 1, which is UNCONFIRMED, and a full run of detections)."""
    run = settings.masklet_confirmation_consecutive_det_thresh
    if is_new:
        state.obj_ids = np.concatenate([state.obj_ids, np.array([obj_id], np.int64)])
        state.max_obj_id = max(state.max_obj_id, obj_id)
        if state.confirmation_status is not None:
            state.confirmation_status = np.append(state.confirmation_status, UNCONFIRMED)
            state.consecutive_det_num = np.append(state.consecutive_det_num, run)
    state.obj_id_to_score[obj_id] = 1.0
    state.tracker_scores.setdefault(frame, {})[obj_id] = 1.0
    state.removed_ids.discard(obj_id)
    for hidden in state.suppressed_ids.values():
        hidden.discard(obj_id)
    if state.confirmation_status is not None and not is_new:
        row = int(np.flatnonzero(state.obj_ids == obj_id)[0])
        state.confirmation_status[row] = UNCONFIRMED
        state.consecutive_det_num[row] = run


def forget_object(state: MaskletState, obj_id: int) -> None:
    """The user removed `obj_id` (in place): no longer tracked, its starting score dropped (its
    id is not handed out again)."""
    keep = state.obj_ids != obj_id
    state.obj_ids = state.obj_ids[keep]
    if state.confirmation_status is not None:
        state.confirmation_status = state.confirmation_status[keep]
        state.consecutive_det_num = state.consecutive_det_num[keep]
    state.obj_id_to_score.pop(obj_id, None)


class ShownMasks:
    """frame -> {obj id: bool 1 x H x W mask at the video's size} (Meta's
    cached_frame_outputs): set when a frame is processed, then without the objects hidden when
    it is shown."""

    def __init__(self) -> None:
        self.frames: dict[int, dict[int, torch.Tensor]] = {}

    def __contains__(self, frame: int) -> bool:
        return frame in self.frames

    def get(self, frame: int) -> dict[int, torch.Tensor]:
        """A copy of the frame's masks (none for a frame never processed)."""
        return dict(self.frames.get(frame, {}))

    def store(self, frame: int, obj_id_to_mask: dict[int, torch.Tensor], hidden=()) -> None:
        hidden = set(hidden)
        self.frames[frame] = {k: v for k, v in obj_id_to_mask.items() if k not in hidden}

    def drop(self, obj_id: int) -> None:
        for masks in self.frames.values():
            masks.pop(obj_id, None)
