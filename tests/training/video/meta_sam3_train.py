"""Meta's SAM 3 tracker in training mode, runnable: sam3 0.1.4's Sam3TrackerBase.forward_tracking
over the miniature tracker of tests/model/sam3/meta_tracker.py, with the per-frame training step
it calls supplied from SAM 2's own training code.

sam3 0.1.4 ships the training branches of Sam3TrackerBase (forward_tracking, the memory's
training rules, teacher_force_obj_scores_for_mem in _forward_sam_heads) but not the training
model around them: forward_tracking calls track_step with gt_masks and
frames_to_add_correction_pt, which Sam3TrackerBase.track_step does not take (a TypeError), no
sam3 code samples correction clicks, and the attributes its training branches read
(teacher_force_obj_scores_for_mem, prob_to_dropout_spatial_mem, add_all_frames_to_correct_as_cond,
rng) are set nowhere. Sam3TrainReference fills exactly those gaps and nothing else:
- track_step is SAM2Train.track_step (sam2 1.1.0 `training`: SAM2Base._track_step, then
  SAM2Train._iter_correct_pt_sampling on the corrected frames, then the memory encoder), every
  part it calls being Sam3TrackerBase's own (_prepare_memory_conditioned_features,
  _forward_sam_heads, _use_mask_as_output, _encode_new_memory: the SAM 3 computation);
- the frame's GT masks reach every _forward_sam_heads call of the step (SAM2Train's correction
  loop passes none), which is what teacher forcing reads;
- the attributes above are set from the test's settings (spatial-memory dropout 0).
The prompts (init_cond_frames, point / mask inputs) come from our plan_clip, as sam3 has no
prompt preparation: the backbone_out dict forward_tracking reads is built from the plan.
"""

import types

import torch
from sam2.modeling.sam2_base import SAM2Base
from sam3.model.sam3_tracker_base import Sam3TrackerBase
from sam3.model.sam3_tracking_predictor import Sam3TrackerPredictor
from training.model.sam2 import SAM2Train

from samhq_train.training.video import ClipPlan
from samhq_train.video_settings import ClipPromptSettings


class Sam3TrainReference(Sam3TrackerPredictor):
    """Sam3TrackerBase's training forward with SAM2Train's per-frame step (see the module)."""

    _track_step = SAM2Base._track_step
    _encode_memory_in_output = SAM2Base._encode_memory_in_output
    _iter_correct_pt_sampling = SAM2Train._iter_correct_pt_sampling

    def track_step(self, *, image, gt_masks, **kwargs):
        self._frame_gt_masks = gt_masks
        return SAM2Train.track_step(self, gt_masks=gt_masks, **kwargs)

    def _forward_sam_heads(self, *args, gt_masks=None, **kwargs):
        gt_masks = self._frame_gt_masks if gt_masks is None else gt_masks
        return Sam3TrackerBase._forward_sam_heads(self, *args, gt_masks=gt_masks, **kwargs)

    def _encode_new_memory(self, image=None, **kwargs):
        return Sam3TrackerBase._encode_new_memory(self, image, **kwargs)


def to_training_reference(tracker: Sam3TrackerPredictor, settings: ClipPromptSettings, *,
                           teacher_force: bool) -> Sam3TrainReference:
    """The built predictor (same weights) as the training reference, in training mode."""
    s = settings
    tracker.__class__ = Sam3TrainReference
    tracker.use_mask_input_as_output_without_sam = True  # Sam3TrackerBase.track_step always does
    tracker.teacher_force_obj_scores_for_mem = teacher_force
    tracker.prob_to_dropout_spatial_mem = 0.0
    tracker.add_all_frames_to_correct_as_cond = s.add_all_frames_to_correct_as_cond
    tracker.num_correction_pt_per_frame = s.num_correction_pt_per_frame
    tracker.prob_to_sample_from_gt_for_train = s.prob_to_sample_from_gt
    tracker.pt_sampling_for_eval = "center"
    tracker.use_act_ckpt_iterative_pt_sampling = False
    return tracker.train()


def forward_tracking(meta: Sam3TrainReference, inputs: torch.Tensor, gt: torch.Tensor,
                     plan: ClipPlan, rng) -> list[dict]:
    """inputs N x 3 x S x S (normalised, one video of N frames), gt N x B x 1 x S x S -> Meta's
    per-frame outputs (forward_tracking's list). rng: the Generator the correction loop draws
    its GT-or-error choices from."""
    num_frames, objects = gt.shape[:2]
    meta.rng = rng
    backbone_out = meta.forward_image(inputs)
    backbone_out.update(
        num_frames=num_frames,
        init_cond_frames=plan.init_cond_frames,
        frames_not_in_init_cond=[t for t in range(num_frames) if t not in plan.init_cond_frames],
        frames_to_add_correction_pt=plan.frames_to_correct,
        point_inputs_per_frame={
            t: {"point_coords": p.coords, "point_labels": p.labels} for t, p in plan.points.items()
        },
        mask_inputs_per_frame=dict(plan.masks),
        gt_masks_per_frame={t: gt[t] for t in range(num_frames)},
    )
    batch = types.SimpleNamespace(
        img_batch=inputs,
        find_inputs=[types.SimpleNamespace(img_ids=torch.full((objects,), t))
                     for t in range(num_frames)],
    )
    return meta.forward_tracking(backbone_out, batch)
