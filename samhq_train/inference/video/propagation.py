"""The video predictor's propagation: every prompted frame consolidated into its group's memory
(the objects' outputs batched, their memory encoded together), then each group tracked frame by
frame, forward or in reverse, with the official predictors' rules (predictor.py describes them)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from samhq_train.model.sam2.tracking import non_overlapping
from samhq_train.model.sam2.tracking_state import NO_OBJ_SCORE, Memory, TrackOutput

from .objects import ObjectGroup
from .point_prompts import VideoPromptError


class Propagation:
    """VideoPredictor's propagate() and the memory it builds (mixed into it; they use its state:
    the tracker, the groups, the frame features and the output rules)."""

    def _consolidate(self, group: ObjectGroup) -> None:
        """Every prompted frame into the group's memory (corrections, then conditioning frames):
        the objects' outputs batched (an object without a prompt on the frame: its output in
        memory, else NO_OBJ_SCORE masks, score 10 and the pointer of an empty mask), and their
        memory encoded together."""
        for cond in (False, True):
            frames = sorted(
                {f for outs in group.prompted.values() for f, (_, c) in outs.items() if c == cond}
            )
            for frame in frames:
                self._consolidate_frame(group, frame, cond)
                self._clear_around(group, frame)
        for frame in group.memory.cond:  # a later click on a conditioning frame is dropped
            group.memory.non_cond.pop(frame, None)
            group.kept.discard(frame)
        group.prompted.clear()
        group.video_masks.clear()

    def _consolidate_frame(self, group: ObjectGroup, frame: int, cond: bool) -> None:
        s, n = self.tracker.image_size, len(group.obj_ids)
        rows = []
        for obj in range(n):
            new = group.prompted.get(obj, {}).get(frame)
            rows.append(new[0] if new is not None and new[1] == cond else group.stored(obj, frame))
        template = next(r for r in rows if r is not None)
        size = (self.tracker.model.mask_input_size,) * 2  # the low-res logits' side
        masks = torch.full((n, 1, *size), NO_OBJ_SCORE, device=self.device)
        ptrs = torch.full((n, template.obj_ptr.shape[1]), NO_OBJ_SCORE, device=self.device)
        scores = torch.full((n, 1), 10.0, device=self.device)
        # SAM 3's memory selection: kept to score the frame again if an object is removed
        selection = getattr(self.tracker, "memory_selection", False)
        ious = torch.zeros(n, 1, device=self.device) if selection else None
        empty_ptr = None
        for obj, out in enumerate(rows):
            if out is None:
                empty_ptr = self._empty_mask_pointer(frame) if empty_ptr is None else empty_ptr
                ptrs[obj] = empty_ptr[0]
                continue
            at_video = group.video_masks.get((obj, frame))
            if at_video is not None:  # SAM 3's mask prompt: its video-size output, downsampled
                masks[obj] = F.interpolate(
                    at_video, size, mode="bilinear", align_corners=False, antialias=True
                )[0]
            else:
                masks[obj] = out.pred_masks[0]
            ptrs[obj], scores[obj] = out.obj_ptr[0], out.object_score_logits[0]
            if ious is not None:
                ious[obj] = out.iou_score.reshape(-1)[0]
        high_res = F.interpolate(masks, (s, s), mode="bilinear", align_corners=False)
        if self.tracker.cfg.non_overlap_masks_for_mem_enc or self.sam3:
            high_res = non_overlapping(high_res)
        memory, pos = self.tracker.encode_memory(self._features(frame, n), high_res, scores, True)
        memory, pos = memory.to(self.memory_dtype), self._shared(pos)
        out = TrackOutput(masks, ptrs, scores, None, memory, pos, iou_score=ious)
        if cond:
            group.memory.cond[frame] = out
            group.memory.non_cond.pop(frame, None)
            group.kept.discard(frame)
        else:
            group.memory.non_cond[frame] = out
            group.kept.add(frame)

    def _empty_mask_pointer(self, frame: int) -> torch.Tensor:
        s = self.tracker.image_size
        out = self.tracker.track_step(
            frame, is_init_cond_frame=True, features=self._features(frame), points=None,
            mask=torch.zeros(1, 1, s, s, device=self.device), memory=Memory(),
            num_frames=self.num_frames, run_memory_encoder=False,
        )
        return out.obj_ptr

    @torch.inference_mode()
    def propagate(
        self, start_frame: int | None = None, max_frames: int | None = None, reverse: bool = False
    ) -> Iterator[tuple[int, list[int], torch.Tensor]]:
        """Track every object from start_frame (default: the first prompted frame) for up to
        max_frames frames, forward or in reverse; yields (frame, obj_ids, mask logits
        N_obj x 1 x H x W at the video's size) per frame."""
        if not self.groups:
            raise VideoPromptError("no prompts: add points, a box or a mask first")
        self._check_conditioning()
        for group in self.groups:
            self._consolidate(group)
        if start_frame is None:
            start_frame = min(f for g in self.groups for f in g.memory.cond)
        max_frames = self.num_frames if max_frames is None else max_frames
        if reverse:
            end = max(start_frame - max_frames, 0)
            order = range(start_frame, end - 1, -1) if start_frame > 0 else range(int(self.sam3))
        else:
            order = range(start_frame, min(start_frame + max_frames, self.num_frames - 1) + 1)
        self.started = True
        for frame in order:
            masks = [self._track_group(group, frame, reverse) for group in self.groups]
            yield frame, self.obj_ids, self._output(self._video_size(torch.cat(masks)))

    def _track_group(self, group: ObjectGroup, frame: int, reverse: bool, **options):
        """The group's low-res logits on a frame: stored for a prompted frame (in batched mode
        also for a corrected one), else tracked (and kept as memory; options: track_step's)."""
        group.tracked[frame] = reverse
        if frame in group.memory.cond:
            self._clear_around(group, frame)
            return group.memory.cond[frame].pred_masks
        if self.objects == "batched" and frame in group.kept:
            return group.memory.non_cond[frame].pred_masks
        out = self._track_unprompted(group, frame, reverse, **options)
        group.cleared.discard(frame)
        return out.pred_masks

    def _track_unprompted(self, group: ObjectGroup, frame: int, reverse: bool, **options):
        """The group tracked onto a frame without its prompts, kept as non-conditioning memory
        (options: track_step's, e.g. run_memory_encoder=False)."""
        out = self.tracker.track_step(
            frame,
            is_init_cond_frame=False,
            features=self._features(frame, len(group.obj_ids)),
            points=None,
            mask=None,
            memory=group.memory,
            num_frames=self.num_frames,
            reverse=reverse,
            **options,
        )
        out = self._stored(out)
        group.memory.non_cond[frame] = out
        return out

    def _clear_around(self, group: ObjectGroup, frame: int) -> None:
        """SAM 3, a group of one object: Meta's predictor forgets the object's own outputs of
        the frames within num_maskmem of a prompted one (its tracking memory keeps them)."""
        if self.sam3 and len(group.obj_ids) == 1:
            n = self.tracker.model.num_maskmem * self.tracker.cfg.memory_temporal_stride_for_eval
            group.cleared.update(range(frame - n, frame + n + 1))
