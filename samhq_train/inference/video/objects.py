"""What the video predictor keeps per group of objects tracked as one batch (and how a prompt or
an object is taken out of it again)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from samhq_train.model.sam2.tracking_state import NO_OBJ_SCORE, Memory, TrackOutput


@dataclass
class ObjectGroup:
    """Objects that track as one batch: the single-object outputs of prompted frames not yet in
    memory (obj -> frame -> (output, whether the frame conditions)), the batched memory, the
    frames tracked (-> in reverse) and the corrected frames whose outputs propagation keeps."""

    obj_ids: list[int]
    prompted: dict[int, dict[int, tuple[TrackOutput, bool]]] = field(default_factory=dict)
    memory: Memory = field(default_factory=Memory)
    tracked: dict[int, bool] = field(default_factory=dict)
    kept: set[int] = field(default_factory=set)
    # SAM 3: (obj, frame) -> the mask prompt's output at the video's size, not yet in memory
    video_masks: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)
    # SAM 3, one object: tracked frames whose output Meta's predictor has cleared from its
    # per-object store (clear_non_cond_mem_around_input), so a click there starts afresh
    cleared: set[int] = field(default_factory=set)
    # obj -> the frames it holds prompts on (the official point_inputs / mask_inputs: kept after
    # propagation, until the prompt is cleared)
    inputs: dict[int, set[int]] = field(default_factory=dict)
    # obj -> the frames of `inputs` whose prompt is points or a box (the others hold a mask)
    point_inputs: dict[int, set[int]] = field(default_factory=dict)

    def stored(self, obj: int, frame: int) -> TrackOutput | None:
        """The object's row of the frame's output in memory (a conditioning one first)."""
        for outputs in (self.memory.cond, self.memory.non_cond):
            if frame in outputs:
                return outputs[frame].select(slice(obj, obj + 1))
        return None

    def shown(self, obj: int, frame: int) -> TrackOutput | None:
        """stored(), as the official per-object store has it: SAM 3 forgets a single object's
        tracked outputs around a prompted frame there (not the conditioning ones)."""
        if frame in self.cleared and frame not in self.memory.cond:
            return None
        return self.stored(obj, frame)

    def object_memory(self, obj: int) -> Memory:
        """The object's rows of the memory (views)."""
        rows = slice(obj, obj + 1)
        return Memory(
            {f: o.select(rows) for f, o in self.memory.cond.items()},
            {f: o.select(rows) for f, o in self.memory.non_cond.items()},
        )

    def add_video_mask(self, obj: int, frame: int, mask: torch.Tensor) -> None:
        """SAM 3's mask prompt (1 x 1 x H x W bool at the video's size) as the object's output on
        the frame (+-NO_OBJ_SCORE); other objects' mask prompts there lose its pixels."""
        for key, other in self.video_masks.items():
            if key[1] == frame and key[0] != obj:
                self.video_masks[key] = torch.where(mask, NO_OBJ_SCORE, other)
        self.video_masks[(obj, frame)] = torch.where(mask, -NO_OBJ_SCORE, NO_OBJ_SCORE)

    def add_input(self, obj: int, frame: int, is_points: bool) -> None:
        """The object holds a prompt on the frame: points / a box, or a mask (either replaces
        the other there)."""
        self.inputs.setdefault(obj, set()).add(frame)
        point_frames = self.point_inputs.setdefault(obj, set())
        if is_points:
            point_frames.add(frame)
        else:
            point_frames.discard(frame)

    def has_input(self, frame: int) -> bool:
        return any(frame in frames for frames in self.inputs.values())

    def clear_input(self, obj: int, frame: int) -> None:
        """The object's prompt on the frame and its output not yet in memory forgotten."""
        self.inputs.get(obj, set()).discard(frame)
        self.point_inputs.get(obj, set()).discard(frame)
        self.prompted.get(obj, {}).pop(frame, None)
        self.video_masks.pop((obj, frame), None)

    def downgrade(self, frame: int) -> None:
        """A frame left without prompts: its conditioning output stays in memory as a tracked
        one, the frame counts as untracked (a prompt there conditions again) and propagation
        tracks it anew."""
        self.kept.discard(frame)
        out = self.memory.cond.pop(frame, None)
        if out is not None:
            self.memory.non_cond[frame] = out
            self.tracked.pop(frame, None)
            self.cleared.discard(frame)  # the official per-object store gets the output back

    def forget_tracking(self) -> None:
        """Every prompt, output and tracked frame forgotten; the objects stay (the official
        _reset_tracking_results)."""
        self.prompted.clear()
        self.memory = Memory()
        self.tracked.clear()
        self.kept.clear()
        self.video_masks.clear()
        self.cleared.clear()
        self.inputs.clear()
        self.point_inputs.clear()

    def mask_input_frames(self, obj: int) -> set[int]:
        """The frames where the object's prompt is a mask (Meta's mask_inputs_per_obj)."""
        return self.inputs.get(obj, set()) - self.point_inputs.get(obj, set())

    def drop(self, obj: int) -> None:
        """The object taken out: its rows of every output in memory, its prompts; the later
        objects move up one index. (`cleared` is empty here: it fills only while a single
        object tracks.)"""
        keep = [i for i in range(len(self.obj_ids)) if i != obj]
        del self.obj_ids[obj]

        def moved(index: int) -> int:
            return index - (index > obj)

        self.prompted = {moved(i): v for i, v in self.prompted.items() if i != obj}
        self.inputs = {moved(i): v for i, v in self.inputs.items() if i != obj}
        self.point_inputs = {moved(i): v for i, v in self.point_inputs.items() if i != obj}
        self.video_masks = {
            (moved(i), f): v for (i, f), v in self.video_masks.items() if i != obj
        }
        for outputs in (self.memory.cond, self.memory.non_cond):
            for frame, out in outputs.items():
                outputs[frame] = rows_of(out, keep)


def rows_of(out: TrackOutput, keep: list[int]) -> TrackOutput:
    """These objects' rows of a stored output (the memories' shared position encoding: its
    first rows, all alike)."""

    def rows(t):
        return None if t is None else t[keep]

    pos = None if out.memory_pos is None else out.memory_pos[: len(keep)]
    return TrackOutput(
        out.pred_masks[keep], out.obj_ptr[keep], out.object_score_logits[keep],
        memory=rows(out.memory), memory_pos=pos, iou_score=rows(out.iou_score),
        memory_score=out.memory_score,
    )
