"""The differentiable forward of SAM 2.1 / HQ-SAM 2 over a training clip (SAM2Train.forward).

Every frame of the clip is encoded at once; the initial conditioning frames are tracked first
(their prompts from the ClipPlan, no memory), then the other frames in time order, each
conditioned on the memory of the conditioning frames and of the frames before it (the tracker's
memory attention, Sam2Tracker in training settings). On the frames the plan corrects, clicks are
drawn from the error of the current prediction one at a time (num_correction_pt_per_frame), each
decoded with all clicks so far and the previous low-res logits as the mask prompt; every step's
masks are kept for the loss (MultiStepMaskLoss), the last one is the frame's output and goes into
its memory. A corrected frame joins the conditioning frames (add_all_frames_to_correct_as_cond).

HQ-SAM 2 (use_hq=True): the decoder runs as the HQ-SAM 2 video predictor runs it
(hq_token_only=False), each candidate mask being SAM's mask plus the HQ mask. Those sums are what
is supervised, what picks the best mask, what the memory encodes and what the predictor returns:
the loss trains the masks that tracking uses. Supervising the HQ mask alone (as image training
does with hq_token_only) would leave the memory fed by masks no loss looks at.

SAM 3 / HQ-SAM 3 (a Sam3HQ): the same forward on SAM 3's tracker (Sam3Tracker: its features, mask
sizes and at most 4 attended conditioning frames), as Meta's Sam3TrackerBase computes it in
training mode (its training branches are SAM2Base's: memory stride 1, every selected
conditioning frame's pointer, soft masks into the memory, no non-overlap; no memory selection,
the interactive tracker's). SAM 3 adds teacher_force_object_scores (its
teacher_force_obj_scores_for_mem): whether an object is there is read from the GT mask (the mask
prompt, on a frame that takes it as output) rather than from the object score, for the masks
(NO_OBJ_SCORE where absent, also those supervised) and the object pointers; the memory's
no-object embedding still follows the score. Meta's spatial-memory dropout is not supported
(off: sam3 ships no value for it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from samhq_train.model.sam2 import Sam2HQ
from samhq_train.model.sam2.tracking_state import FrameFeatures, Memory, TrackOutput
from samhq_train.model.sam3.tracking import video_tracker
from samhq_train.video_settings import ClipPromptSettings

from .prompts import ClipPlan, add_points, next_click


@dataclass
class FrameSteps:
    """One frame's prediction steps (1 + its correction clicks) for B objects."""

    multimasks: list[torch.Tensor] = field(default_factory=list)  # B x M x S x S logits
    ious: list[torch.Tensor] = field(default_factory=list)  # B x M predicted IoUs
    object_scores: list[torch.Tensor] = field(default_factory=list)  # B x 1 logits
    output: TrackOutput | None = None  # the last step (what tracking keeps)

    def add(self, out: TrackOutput) -> None:
        self.multimasks.append(out.high_res_multimasks)
        self.ious.append(out.ious)
        self.object_scores.append(out.object_score_logits)
        self.output = out


def training_tracking(model: Sam2HQ):
    """The model's tracking settings as SAM2Base applies them in training mode: memory stride 1,
    object pointers of every selected conditioning frame (also later ones), soft (sigmoid) masks
    into the memory encoder, no non-overlap constraint."""
    return dataclasses.replace(
        model.tracking,
        memory_temporal_stride_for_eval=1,
        only_obj_ptrs_in_the_past_for_eval=False,
        binarize_mask_from_pts_for_mem_enc=False,
        non_overlap_masks_for_mem_enc=False,
    )


def select_rows(features: FrameFeatures, rows: torch.Tensor) -> FrameFeatures:
    return FrameFeatures(
        features.embedding[rows], features.pos[rows], tuple(t[rows] for t in features.high_res)
    )


def present_in(gt: torch.Tensor) -> torch.Tensor:
    """B x 1 x S x S GT -> B x 1 bool: whether each object is in the frame."""
    return (gt.flatten(1) > 0).any(dim=1, keepdim=True)


class ClipForward:
    """SAM2Train's forward on a Sam2HQ or Sam3HQ (its parameters are the ones trained)."""

    def __init__(self, model: Sam2HQ, settings: ClipPromptSettings, *, use_hq: bool = True,
                 teacher_force_object_scores: bool = False):
        if teacher_force_object_scores and getattr(model, "family", None) != "sam3":
            raise ValueError("teacher_force_object_scores is SAM 3's option (Meta's "
                             "teacher_force_obj_scores_for_mem); SAM 2.1 has none")
        self.model = model
        self.settings = settings
        self.teacher_force = teacher_force_object_scores
        self.tracker = video_tracker(model, use_hq=use_hq)
        self.tracker.cfg = training_tracking(model)

    def encode(self, images: torch.Tensor) -> FrameFeatures:
        """N x 3 x S x S RGB 0-255 -> the N images' features (one pass of the encoder)."""
        return self.tracker.frame_features(images)

    def __call__(self, images: torch.Tensor, gt_masks: torch.Tensor, object_video: torch.Tensor,
                 plan: ClipPlan, rng: np.random.Generator,
                 features: FrameFeatures | None = None) -> list[FrameSteps]:
        """images T x V x 3 x S x S (V clips of T frames, RGB 0-255), gt_masks T x B x 1 x S x S
        bool (B objects), object_video B (each object's clip) -> the T frames' steps. features:
        encode(images.flatten(0, 1)) when the caller has it (a frozen encoder under no_grad)."""
        num_frames, videos = images.shape[:2]
        if features is None:
            features = self.encode(images.flatten(0, 1))
        memory = Memory()
        frames: dict[int, FrameSteps] = {}
        for t in plan.processing_order(num_frames):
            rows = object_video + t * videos
            steps = self._frame(t, select_rows(features, rows), gt_masks[t], plan, memory,
                                num_frames, rng)
            frames[t] = steps
            cond = plan.is_cond(t, self.settings.add_all_frames_to_correct_as_cond)
            (memory.cond if cond else memory.non_cond)[t] = steps.output
        return [frames[t] for t in range(num_frames)]

    def _frame(self, t, features, gt, plan: ClipPlan, memory, num_frames, rng) -> FrameSteps:
        tracker, steps = self.tracker, FrameSteps()
        is_init = t in plan.init_cond_frames
        points, mask = plan.points.get(t), plan.masks.get(t)
        present = present_in(gt) if self.teacher_force else None
        if mask is not None and tracker.cfg.use_mask_input_as_output_without_sam:
            out = tracker.mask_as_output(features, mask, self.teacher_force)
            out.high_res_multimasks = out.high_res_masks
            out.ious = out.high_res_masks.new_ones(mask.shape[0], 1)
            steps.add(out)
        else:
            conditioned = tracker.conditioned_features(
                t, is_init, features, memory, num_frames, False
            )
            multimask = tracker.use_multimask(is_init, points)
            steps.add(tracker.sam_heads(conditioned, features.high_res, points, mask, multimask,
                                        present))
            if t in plan.frames_to_correct:
                points = self._correct(steps, conditioned, features, points, gt, is_init, rng,
                                       present)
        out = steps.output
        if self.model.num_maskmem > 0:
            out.memory, out.memory_pos = tracker.encode_memory(
                features, out.high_res_masks, out.object_score_logits, points is not None
            )
        return steps

    def _correct(self, steps: FrameSteps, conditioned, features, points, gt, is_init, rng,
                 present):
        """num_correction_pt_per_frame clicks, each from the error of the last step (or, with
        probability prob_to_sample_from_gt, from the GT alone); returns all the points."""
        s, tracker = self.settings, self.tracker
        for _ in range(s.num_correction_pt_per_frame):
            from_gt = s.prob_to_sample_from_gt > 0 and rng.random() < s.prob_to_sample_from_gt
            last = steps.output
            pred = None if from_gt else last.high_res_masks > 0
            points = add_points(points, next_click(gt, pred, s.click_sampling))
            multimask = tracker.use_multimask(is_init, points)
            steps.add(tracker.sam_heads(conditioned, features.high_res, points, last.pred_masks,
                                        multimask, present))
        return points
