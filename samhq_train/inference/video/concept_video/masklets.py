"""What SAM 3's video concept model remembers about its objects between frames (Meta's
tracker metadata with its rank-0 part, for one process)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from .settings import ConceptVideoSettings

UNCONFIRMED = 1  # Meta's MaskletConfirmationStatus values
CONFIRMED = 2


@dataclass
class MaskletState:
    """Per-object bookkeeping; every id is an int object id (the tracker's obj_id).

    obj_ids: int64 (N,), the tracked objects in tracker order (the order of the tracker's
      masks / scores on the next frame): older objects first, new ones appended by detection.
    max_obj_id: the largest id handed out so far (-1 before any); ids are never reused.
    obj_id_to_score: the detection probability an object started with (-1e4 once removed);
      removed objects stay in it.
    tracker_scores: frame -> {obj id: probability}: sigmoid of the tracker's object score
      logit, the detection probability on the frame an object starts, -1e4 when removed
      (Meta's obj_id_to_tracker_score_frame_wise).
    last_occluded: obj id -> the last frame its tracker mask was empty or suppressed
      (-1: never; 100000: removed by hotstart). Rebuilt every frame with tracked objects.
    first_frame: obj id -> the frame it was first detected.
    unmatched_frames: obj id -> frames its (non-empty) tracker mask matched no detection.
    keep_alive: obj id -> keep-alive count (matched +1 up to max, unmatched -1 down to min).
    overlap_frames: (earlier obj id, later obj id) -> frames both matched one detection.
    removed_ids: objects removed by hotstart (never output again).
    suppressed_ids: frame -> objects hidden on that frame (still tracked).
    confirmation_status / consecutive_det_num: int64 (N,) aligned with obj_ids, only with
      masklet confirmation on (UNCONFIRMED / CONFIRMED; frames matched in a row), else None.
    """

    obj_ids: np.ndarray = field(default_factory=lambda: np.array([], np.int64))
    max_obj_id: int = -1
    obj_id_to_score: dict[int, float] = field(default_factory=dict)
    tracker_scores: dict[int, dict[int, float]] = field(default_factory=dict)
    last_occluded: dict[int, int] = field(default_factory=dict)
    first_frame: dict[int, int] = field(default_factory=dict)
    unmatched_frames: dict[int, list[int]] = field(default_factory=dict)
    keep_alive: dict[int, int] = field(default_factory=dict)
    overlap_frames: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    removed_ids: set[int] = field(default_factory=set)
    suppressed_ids: dict[int, set[int]] = field(default_factory=dict)
    confirmation_status: np.ndarray | None = None
    consecutive_det_num: np.ndarray | None = None

    @classmethod
    def initial(cls, settings: ConceptVideoSettings) -> MaskletState:
        """No objects yet (Meta's _initialize_metadata)."""
        if not settings.masklet_confirmation_enable:
            return cls()
        empty = np.array([], np.int64)
        return cls(confirmation_status=empty, consecutive_det_num=empty.copy())

    def copy(self) -> MaskletState:
        """A deep copy: planning a frame never changes the state it was given."""
        return copy.deepcopy(self)

    def frame_tracker_scores(self, frame_idx: int) -> dict[int, float]:
        """{obj id: probability} on `frame_idx` (empty for a frame not planned)."""
        return self.tracker_scores.get(frame_idx, {})

    def unconfirmed_obj_ids(self) -> list[int]:
        """Objects not yet confirmed (empty with confirmation off)."""
        if self.confirmation_status is None:
            return []
        return self.obj_ids[self.confirmation_status == UNCONFIRMED].tolist()
