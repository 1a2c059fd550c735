"""The video predictor's operations that take prompts back: clear an object's prompt on a frame,
remove an object, with the official predictors' rules (each tracking mode its own predictor's).

objects="independent" (Meta's sam2 1.1.0 SAM2VideoPredictor: clear_all_prompts_in_frame,
remove_object): only that object changes. A cleared conditioning frame stays in its memory as a
tracked frame and is tracked again by the next propagate(); an object left without a
conditioning frame cannot propagate (VideoPromptError naming it) until it is prompted again or
removed.

objects="batched" (the official HQ-SAM 2 predictor; SAM 3 / HQ-SAM 3: Meta's
Sam3TrackerPredictor clear_all_points_in_frame, remove_object): the frame changes only once no
object holds a prompt there; then it is downgraded as above for all objects. Once no conditioning
frame is left in memory, every prompt and output of every object is forgotten (the objects stay;
new ones may join again). Before the first propagate() nothing is in memory yet, so there any
clear that leaves its frame without prompts forgets every other object's prompts too: the
official rule, kept for parity. Removing an object takes its rows out of every stored output; the
others' memories, encoded while it was there, stay as they are.

Removing the last object is reset(). Nothing here runs the model.
"""

from __future__ import annotations

import torch

from samhq_train.model.sam3.tracking import memory_score

from .objects import ObjectGroup
from .point_prompts import VideoPromptError


class PromptEditing:
    """VideoPredictor's clear_prompts and remove_object (mixed into it; they use its state)."""

    @torch.inference_mode()
    def clear_prompts(self, frame: int, obj_id: int):
        """Forget the object's points, box or mask on the frame. Returns (frame, obj_ids, mask
        logits N_obj x 1 x H x W at the video's size) as add_points_or_box: each object's output
        not yet in memory, else its output in memory, else NO_OBJ_SCORE."""
        group = self._group_of(obj_id)
        if group is None:
            raise VideoPromptError(
                f"object {obj_id} has no prompts to clear: the objects are {self.obj_ids}"
            )
        self._slot(frame, obj_id)  # checks the frame
        self._clear_input(group, group.obj_ids.index(obj_id), frame)
        return frame, self.obj_ids, self._frame_masks(frame)

    @torch.inference_mode()
    def remove_object(self, obj_id: int, strict: bool = False):
        """Forget an object: its prompts (cleared as clear_prompts does), then its rows of the
        memory. Returns (obj_ids left, [(frame, mask logits of the objects left)] for each frame
        it held a prompt on, in frame order). An unknown obj_id: nothing changes, or
        VideoPromptError with strict=True."""
        group = self._group_of(obj_id)
        if group is None:
            if strict:
                raise VideoPromptError(
                    f"object {obj_id} does not exist: the objects are {self.obj_ids}"
                )
            return self.obj_ids, []
        if len(self.obj_ids) == 1:
            self.reset()
            return self.obj_ids, []
        obj = group.obj_ids.index(obj_id)
        frames = sorted(group.inputs.get(obj, ()))
        for frame in frames:
            self._clear_input(group, obj, frame)
        if len(group.obj_ids) == 1:
            self.groups.remove(group)
        else:
            group.drop(obj)
            if getattr(self.tracker, "memory_selection", False):  # scores averaged over objects
                for out in (*group.memory.cond.values(), *group.memory.non_cond.values()):
                    out.memory_score = memory_score(out.object_score_logits, out.iou_score)
        return self.obj_ids, [(frame, self._frame_masks(frame)) for frame in frames]

    def _group_of(self, obj_id: int) -> ObjectGroup | None:
        return next((g for g in self.groups if obj_id in g.obj_ids), None)

    def _clear_input(self, group: ObjectGroup, obj: int, frame: int) -> None:
        group.clear_input(obj, frame)
        if self.objects == "independent":
            group.downgrade(frame)
        elif not group.has_input(frame):
            group.downgrade(frame)
            if not group.memory.cond:
                group.forget_tracking()
                self.started = False

    def _check_conditioning(self) -> None:
        """Before propagation: every group (independent: every object) has a conditioning frame,
        in memory or prompted; else VideoPromptError (Meta's predictors raise there too)."""
        for group in self.groups:
            if group.memory.cond or any(
                c for outs in group.prompted.values() for _, c in outs.values()
            ):
                continue
            if self.objects == "batched":
                raise VideoPromptError(
                    "no prompt is left (once no conditioning frame is, the official rule forgets "
                    "them all): add points, a box or a mask"
                )
            obj_id = group.obj_ids[0]
            raise VideoPromptError(
                f"object {obj_id} has no prompt on a frame it was not tracked on (its prompts "
                f"were cleared): prompt it on such a frame, or remove_object({obj_id})"
            )

    def _frame_masks(self, frame: int) -> torch.Tensor:
        """The official consolidation at the video's size after a clear: the outputs not yet in
        memory of the kind (conditioning or not) that any object has on the frame."""
        is_cond = any(
            frame in outs and outs[frame][1] for g in self.groups for outs in g.prompted.values()
        )
        return self._prompted_masks(frame, is_cond)
