"""The hotstart delay on the outputs of SAM 3's video concept model (the yield loop of Meta's
Sam3VideoInference.propagate_in_video): with hotstart_delay > 0 a frame's output is shown only
hotstart_delay frames later (all at the last frame), so that objects hotstart removes in the
meantime never show; unconfirmed objects are hidden by their status a few frames ahead."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from .masklets import MaskletState
from .planning_outputs import FrameOutput, hidden_obj_ids, postprocess_frame
from .settings import ConceptVideoSettings


@dataclass(frozen=True)
class PlannedFrame:
    """One planned frame's output material (Meta's per-frame `out`): frame_masks' masks and,
    from the state after the frame, the objects' scores, tracker probabilities, hidden and
    removed ids, unconfirmed ids."""

    frame_idx: int
    obj_id_to_mask: dict[int, torch.Tensor]
    obj_id_to_score: dict[int, float]
    obj_id_to_tracker_score: dict[int, float]
    suppressed_ids: set[int]
    removed_ids: set[int]
    unconfirmed_ids: list[int]

    @classmethod
    def of(
        cls, frame_idx: int, obj_id_to_mask: dict[int, torch.Tensor], state: MaskletState
    ) -> PlannedFrame:
        """`state` is plan_frame's new state for `frame_idx` (copied from, not kept)."""
        return cls(
            frame_idx=frame_idx,
            obj_id_to_mask=obj_id_to_mask,
            obj_id_to_score=dict(state.obj_id_to_score),
            obj_id_to_tracker_score=dict(state.frame_tracker_scores(frame_idx)),
            suppressed_ids=set(state.suppressed_ids.get(frame_idx, ())),
            removed_ids=set(state.removed_ids),
            unconfirmed_ids=state.unconfirmed_obj_ids(),
        )

    def output(self, height: int, width: int, hidden=()) -> FrameOutput:
        """This frame's output with `hidden` ids left out (add_prompt's frame: none hidden)."""
        return postprocess_frame(
            self.obj_id_to_mask, self.obj_id_to_score, self.obj_id_to_tracker_score,
            height, width, hidden,
        )


class HotstartBuffer:
    """Feed it every planned frame in processing order; it answers the frames to show now."""

    def __init__(
        self,
        settings: ConceptVideoSettings,
        num_frames: int,
        end_frame_idx: int,
        reverse: bool,
        height: int,
        width: int,
    ) -> None:
        """end_frame_idx: the last frame this propagation processes (it flushes the buffer)."""
        self.settings = settings
        self.num_frames = num_frames
        self.end_frame_idx = end_frame_idx
        self.reverse = reverse
        self.size = (height, width)
        self.held: list[PlannedFrame] = []
        self.removed: set[int] = set()
        self.unconfirmed: dict[int, list[int]] = {}

    def push(self, frame: PlannedFrame) -> list[tuple[int, FrameOutput]]:
        """(frame index, output) of the frames released by `frame`, oldest first."""
        return [
            (held.frame_idx, held.output(*self.size, hidden))
            for held, hidden in self.release(frame)
        ]

    def release(self, frame: PlannedFrame) -> list[tuple[PlannedFrame, list[int]]]:
        """push()'s frames before post-processing: (the frame, the ids hidden on it)."""
        delay = self.settings.hotstart_delay
        if delay <= 0:  # no buffer; Meta then hides neither removed nor unconfirmed objects
            released = [frame]
        else:
            self.held.append(frame)
            self.removed.update(frame.removed_ids)
            self.unconfirmed[frame.frame_idx] = copy.copy(frame.unconfirmed_ids)
            if frame.frame_idx == self.end_frame_idx:
                released, self.held = self.held, []
            elif len(self.held) >= delay:
                released, self.held = self.held[:1], self.held[1:]
            else:
                released = []
        return [(held, self._hidden(held)) for held in released]

    def _hidden(self, frame: PlannedFrame) -> list[int]:
        ahead = self.settings.masklet_confirmation_consecutive_det_thresh - 1
        status_frame = frame.frame_idx - ahead if self.reverse else frame.frame_idx + ahead
        status_frame = max(0, min(status_frame, self.num_frames - 1))
        unconfirmed = self.unconfirmed.get(status_frame, ())
        return hidden_obj_ids(frame.suppressed_ids, self.removed, unconfirmed)
