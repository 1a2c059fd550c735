"""Video object segmentation with a SAM 2.1 / HQ-SAM 2 model: prompts (points, box or mask) for
one or more objects on one or more frames, then propagation forward or in reverse, with the
official video predictor's rules.

objects="batched" (default) is the official HQ-SAM 2 video predictor (SysCV/sam-hq, sam-hq2,
the SAM 2.1 release's predictor): all objects track as one batch, and a frame that holds a prompt
for any object is a conditioning frame for all of them (an object without a prompt there gets no
mask on it and the pointer of an empty mask). objects="independent" is Meta's sam2 1.1.0
predictor: each object tracks on its own, conditioned only on its own prompts. Both keep each
object's own memory, store memories in bfloat16 (memory_dtype) and fill small holes
(fill_hole_area) as the official code does.

Prompts after propagation correct a tracked frame, as in the official predictors: the object is
decoded there with its memory and its earlier mask logits; the frame joins the memory (not as a
conditioning frame) at the next propagate(), which keeps that output in batched mode and, as Meta
1.1.0 does, tracks the frame again in independent mode; on a conditioning frame the click is
dropped there (the official preflight keeps the first output). New objects after propagation:
only in independent mode (the official batched predictor refuses them too).

An HQ-SAM 3 / SAM 3 model tracks with Meta's sam3 0.1.4 Sam3TrackerPredictor as build_tracker
makes it (model/sam3/tracking.py lists how its tracker differs from SAM 2.1's), batched only,
with its predictor's rules: a prompt on a tracked frame makes it a conditioning frame and is
decoded without memory (with the object's earlier logits); a mask prompt is resized to 16 x the
token grid, unthresholded, and its output is the mask itself at the video's size (+-1024, taken
off other objects' mask prompts there); the consolidated masks are always made non-overlapping
before the memory encoder; at most 16 points per prompt (the first 8 and the last 8); no hole
filling (fill_hole_area 0); reverse propagation from frame 0 tracks frame 0; with a single
object, a click on a tracked frame within num_maskmem frames of a prompted one starts without
earlier logits (Meta's clear_non_cond_mem_around_input empties its per-object store there).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from samhq_train.model.sam2.tracking import Sam2Tracker, non_overlapping
from samhq_train.model.sam2.tracking_state import (
    NO_OBJ_SCORE,
    FrameFeatures,
    Memory,
    Points,
    TrackOutput,
)
from samhq_train.model.sam3.tracking import Sam3Tracker

from ..holes import fill_holes
from .editing import PromptEditing
from .frames import VideoFrames, load_video, open_video
from .objects import ObjectGroup
from .point_prompts import SAM3_MAX_POINTS, VideoPromptError, model_points
from .propagation import Propagation

OBJECT_MODES = ("batched", "independent")


class VideoPredictor(PromptEditing, Propagation):
    """predictor.set_video(folder or video file); add_points_or_box / add_mask; then propagate()
    (propagation.py); clear_prompts / remove_object take prompts back (editing.py), reset()
    forgets them all."""

    def __init__(
        self,
        model,
        *,
        use_hq: bool = True,
        objects: str = "batched",
        fill_hole_area: int | None = None,
        non_overlap_masks: bool = False,
        memory_dtype: torch.dtype = torch.bfloat16,
        memory_selection: bool = False,
    ) -> None:
        """use_hq=False: plain SAM 2.1 / SAM 3 from the same weights. fill_hole_area (official
        8 for SAM 2, 0 for SAM 3: the default None) and non_overlap_masks (official False) are
        the official predictor's post-processing; memory_dtype is how memories are stored (the
        official predictors: bfloat16). memory_selection (SAM 3 only): Meta's
        use_memory_selection, see model/sam3/tracking.py (its interactive tracker: off)."""
        if objects not in OBJECT_MODES:
            raise ValueError(f"objects={objects!r}: use one of {OBJECT_MODES}")
        self.sam3 = getattr(model, "family", None) == "sam3"
        if self.sam3 and objects != "batched":
            raise VideoPromptError(
                f"objects={objects!r}: SAM 3 tracks objects batched only (Meta's "
                "Sam3TrackerPredictor); use batched"
            )
        if self.sam3:
            self.tracker = Sam3Tracker(
                model.eval(), use_hq=use_hq, memory_selection=memory_selection
            )
        elif memory_selection:
            raise ValueError("memory_selection is SAM 3's option (Meta's use_memory_selection)")
        else:
            self.tracker = Sam2Tracker(model.eval(), use_hq=use_hq)
        self.objects = objects
        if fill_hole_area is None:
            fill_hole_area = 0 if self.sam3 else 8
        self.fill_hole_area = fill_hole_area
        self.non_overlap_masks = non_overlap_masks
        self.memory_dtype = memory_dtype
        self.frames: torch.Tensor | None = None
        self.video_size = (0, 0)
        self.reset()

    @property
    def device(self) -> torch.device:
        return self.tracker.model.no_mem_embed.device

    @property
    def num_frames(self) -> int:
        return 0 if self.frames is None else len(self.frames)

    @property
    def obj_ids(self) -> list[int]:
        return [i for group in self.groups for i in group.obj_ids]

    def set_video(self, path: str | Path | VideoFrames) -> None:
        """Read a folder of frames or a video file (see frames.py) and forget all prompts."""
        video = path if isinstance(path, VideoFrames) else open_video(path)
        self.video_size = video.size
        self.frames = load_video(video, self.tracker.image_size)
        self.reset()

    def reset(self) -> None:
        """Forget every object and prompt (the official reset_state); the video stays."""
        self.groups: list[ObjectGroup] = []
        self.started = False  # propagate() has run
        self._cached: tuple[int, FrameFeatures] | None = None
        self._memory_pos: torch.Tensor | None = None

    @torch.inference_mode()
    def add_points_or_box(self, frame: int, obj_id: int, points=None, labels=None, box=None):
        """Points (K x 2, x y in video pixels) with labels (K: 1 foreground, 0 background) and/or
        a box (x0 y0 x1 y1) for one object on one frame, replacing its earlier points there.
        Returns (frame, obj_ids, mask logits N_obj x 1 x H x W at the video's size)."""
        max_points = SAM3_MAX_POINTS if self.sam3 else None
        coords, labels = model_points(
            frame, obj_id, points, labels, box, self.video_size, self.tracker.image_size,
            max_points,
        )
        prompt = Points(coords[None].to(self.device), labels[None].to(self.device))
        group, obj = self._slot(frame, obj_id)
        previous = group.prompted.get(obj, {}).get(frame, (None,))[0]
        if previous is None and (frame not in group.cleared or frame in group.memory.cond):
            previous = group.stored(obj, frame)
        if (obj, frame) in group.video_masks:  # SAM 3: a mask prompt's output has no logits
            previous = None
        prev_logits = None if previous is None else previous.pred_masks.clamp(-32.0, 32.0)
        group.video_masks.pop((obj, frame), None)
        return self._run_prompt(group, obj, frame, prompt, None, prev_logits)

    @torch.inference_mode()
    def add_mask(self, frame: int, obj_id: int, mask):
        """A binary mask (H x W, any size: resized to the model's) for one object on one frame."""
        mask = torch.as_tensor(np.asarray(mask)).bool()
        if mask.ndim != 2:
            raise VideoPromptError(f"frame {frame}, object {obj_id}: a mask is one H x W array")
        mask = mask[None, None].float().to(self.device)
        if self.sam3:
            return self._add_sam3_mask(frame, obj_id, mask)
        s = self.tracker.image_size
        if tuple(mask.shape[-2:]) != (s, s):
            mask = F.interpolate(mask, (s, s), mode="bilinear", align_corners=False, antialias=True)
            mask = (mask >= 0.5).float()
        group, obj = self._slot(frame, obj_id)
        return self._run_prompt(group, obj, frame, None, mask, None)

    def _add_sam3_mask(self, frame: int, obj_id: int, mask: torch.Tensor):
        """Sam3TrackerPredictor.add_new_mask: the mask resized (not thresholded) to the tracker's
        mask-prompt size is decoded; the output shown (and consolidated) is the mask at the
        video's size, +-1024, and other objects' mask prompts on the frame lose its pixels."""
        group, obj = self._slot(frame, obj_id)
        s = self.tracker.mask_prompt_size
        prompt = mask
        if tuple(mask.shape[-2:]) != (s, s):
            prompt = F.interpolate(
                mask, (s, s), mode="bilinear", align_corners=False, antialias=True
            )
        at_video = mask
        if tuple(mask.shape[-2:]) != self.video_size:
            at_video = F.interpolate(
                mask, self.video_size, mode="bilinear", align_corners=False, antialias=True
            )
        group.add_video_mask(obj, frame, at_video > 0.5)
        return self._run_prompt(group, obj, frame, None, prompt, None)

    def _slot(self, frame: int, obj_id: int) -> tuple[ObjectGroup, int]:
        """The group of an object (made for a new one) and the object's index in it."""
        if not 0 <= frame < self.num_frames:
            raise VideoPromptError(
                f"frame {frame} does not exist: the video has frames 0 to {self.num_frames - 1}"
            )
        for group in self.groups:
            if obj_id in group.obj_ids:
                return group, group.obj_ids.index(obj_id)
        if self.started and self.objects == "batched":
            raise VideoPromptError(
                f"object {obj_id} is new after propagation: batched tracking (the official "
                "HQ-SAM 2 rule) takes new objects only before; reset() and prompt all again"
            )
        if self.objects == "independent" or not self.groups:
            self.groups.append(ObjectGroup([]))
        self.groups[-1].obj_ids.append(obj_id)
        return self.groups[-1], len(self.groups[-1].obj_ids) - 1

    def _run_prompt(self, group, obj, frame, points, mask, prev_logits):
        """The object decoded on the frame: a new conditioning frame if the frame was not
        tracked, else a correction with the object's memory (no memory encoded yet)."""
        is_init = frame not in group.tracked
        use_memory = not (is_init or self.sam3)  # SAM 3 decodes corrections without memory
        out = self.tracker.track_step(
            frame,
            is_init_cond_frame=is_init,
            features=self._features(frame),
            points=points,
            mask=mask,
            memory=group.object_memory(obj) if use_memory else Memory(),
            num_frames=self.num_frames,
            reverse=group.tracked.get(frame, False),
            run_memory_encoder=False,
            prev_mask_logits=prev_logits,
            use_memory=use_memory,
        )
        is_cond = is_init or self.sam3  # SAM 3: every prompted frame conditions
        group.prompted.setdefault(obj, {})[frame] = (self._stored(out), is_cond)
        group.add_input(obj, frame, is_points=points is not None)
        return frame, self.obj_ids, self._prompted_masks(frame, is_cond)

    def _prompted_masks(self, frame: int, is_cond: bool) -> torch.Tensor:
        """Every object's logits on a prompted frame at the video's size: its new output (of a
        conditioning frame or not, as is_cond), else the one in memory, else NO_OBJ_SCORE."""
        h, w = self.video_size
        rows = []
        for group in self.groups:
            for obj in range(len(group.obj_ids)):
                new = group.prompted.get(obj, {}).get(frame)
                out = new[0] if new is not None and new[1] == is_cond else None
                out = out or group.shown(obj, frame)
                if (obj, frame) in group.video_masks:
                    rows.append(group.video_masks[(obj, frame)])
                elif out is None:
                    rows.append(torch.full((1, 1, h, w), NO_OBJ_SCORE, device=self.device))
                else:
                    rows.append(self._video_size(out.pred_masks))
        return self._output(torch.cat(rows))

    def _features(self, frame: int, batch: int = 1) -> FrameFeatures:
        """The frame's image features (the last frame's are cached), expanded to `batch`."""
        if self._cached is None or self._cached[0] != frame:
            image = self.frames[frame].permute(2, 0, 1)[None].float().to(self.device)
            self._cached = (frame, self.tracker.frame_features(image))
        return self._cached[1].expand(batch)

    def _stored(self, out: TrackOutput) -> TrackOutput:
        """What a frame keeps: holes filled in its low-res masks, the memory in memory_dtype, no
        full-size masks."""
        masks = out.pred_masks
        if self.fill_hole_area > 0:
            masks = fill_holes(masks, self.fill_hole_area)
        kept = TrackOutput(masks, out.obj_ptr, out.object_score_logits,
                           iou_score=out.iou_score, memory_score=out.memory_score)
        if out.memory is not None:
            kept.memory = out.memory.to(self.memory_dtype)
            kept.memory_pos = self._shared(out.memory_pos)
        return kept

    def _shared(self, memory_pos: torch.Tensor) -> torch.Tensor:
        """The memories' position encoding, one copy for all frames and objects (it depends on
        the map's size only), expanded to the batch."""
        if self._memory_pos is None:
            self._memory_pos = memory_pos[:1].clone()
        return self._memory_pos.expand(memory_pos.shape[0], -1, -1, -1)

    def _video_size(self, logits: torch.Tensor) -> torch.Tensor:
        return F.interpolate(logits, self.video_size, mode="bilinear", align_corners=False)

    def _output(self, logits: torch.Tensor) -> torch.Tensor:
        return non_overlapping(logits) if self.non_overlap_masks else logits
