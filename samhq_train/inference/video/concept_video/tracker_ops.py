"""The tracker side of SAM 3's video concept model (Meta's Sam3VideoBase with its
Sam3TrackerPredictor, one process): one image encoding per frame shared by the detector and the
tracker, objects propagated one frame without encoding memory, their memories encoded after
the frame's plan, objects added from detection masks, removed, and re-prompted from detections.

Objects are kept in groups as Meta keeps tracker inference states: the objects a frame adds form
one group (tracked as one batch; SAM 3's memory selection scores a frame over its whole group),
a group goes when its last object is removed. Each group is an ObjectGroup of the video
predictor, whose SAM 3 mask-prompt, consolidation and removal rules (Sam3TrackerPredictor's
add_new_mask, propagate_in_video_preflight, remove_object) are reused as they are.

Meta's detector hands the tracker its backbone maps through a bfloat16 all-gather (even on one
process), so the tracker reads them rounded to bfloat16; the detector reads them unrounded.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from samhq_train.model.sam2.image_encoder import sine_position_encoding
from samhq_train.model.sam2.tracking import non_overlapping
from samhq_train.model.sam2.tracking_state import FrameFeatures
from samhq_train.model.sam3.concept.detector import ConceptDetector, DetectorImage

from ..objects import ObjectGroup
from ..predictor import VideoPredictor

SHRINK_THRESHOLD = 0.3  # Sam3TrackerPredictor._suppress_shrinked_masks
PRESENT_LOGIT = 10.0  # the object score a memory is encoded with: mask area as the proxy


def suppress_area_shrinkage(high_res: torch.Tensor) -> torch.Tensor:
    """Sam3TrackerPredictor._suppress_object_pw_area_shrinkage: B x 1 x H x W logits; an object
    keeping under 30 % of its area once every pixel goes to its highest-scoring object has its
    logits clamped to at most -10 (the others are unchanged: the result may still overlap)."""
    after = non_overlapping(high_res)
    before_area = (high_res > 0).sum(dim=(-1, -2)).clamp(min=1.0)
    keep = (after > 0).sum(dim=(-1, -2)) / before_area >= SHRINK_THRESHOLD
    return torch.where(keep[..., None, None], high_res, high_res.clamp(max=-10.0))


class ConceptVideoTracker(VideoPredictor):
    """The tracker of the video concept model on a Sam3HQ with its detector; set_video first.
    use_hq=False is plain SAM 3. Memory selection is on (Meta's video model builds its tracker
    with apply_temporal_disambiguation)."""

    def __init__(self, model, detector: ConceptDetector, *, use_hq: bool = True) -> None:
        super().__init__(model, use_hq=use_hq, memory_selection=True)
        self.detector = detector

    @torch.inference_mode()
    def encode_frame(self, frame: int) -> DetectorImage:
        """One trunk pass for the frame: the tracker's features cached for the operations on
        it, the detector's image returned."""
        model = self.tracker.model
        image = self.frames[frame].permute(2, 0, 1)[None].float().to(self.device)
        trunk_map = model.image_encoder.trunk(model.preprocess(image))
        levels = model.image_encoder.neck(trunk_map)
        levels = [x.to(torch.bfloat16).float() for x in levels]
        decoder = model.sam_mask_decoder
        embedding = levels[-1]
        pos = sine_position_encoding(embedding, embedding.shape[1]).to(embedding.dtype)
        features = FrameFeatures(
            embedding, pos, (decoder.conv_s0(levels[0]), decoder.conv_s1(levels[1]))
        )
        self._cached = (frame, features)
        return self.detector.encode_image(trunk_map)

    @torch.inference_mode()
    def propagate_one(self, frame: int, reverse: bool):
        """Every group tracked onto the frame (Meta's _propogate_tracker_one_frame_local_gpu
        without hole filling): a conditioning frame gives its stored output, another frame is
        tracked and kept without memory (update_memories encodes it). Returns (obj ids int64
        (N,), mask logits N x h x w at the low-res size, object score logits (N,))."""
        ids, masks, scores = [], [], []
        for group in self.groups:
            group.tracked[frame] = reverse
            if frame in group.memory.cond:
                out = group.memory.cond[frame]
            else:
                out = self._track_unprompted(group, frame, reverse, run_memory_encoder=False)
            ids += group.obj_ids
            masks.append(out.pred_masks[:, 0])
            scores.append(out.object_score_logits[:, 0])
        size = self.tracker.model.mask_input_size
        if not ids:
            empty = torch.zeros(0, size, size, device=self.device)
            return np.zeros(0, np.int64), empty, torch.zeros(0, device=self.device)
        return np.array(ids, np.int64), torch.cat(masks), torch.cat(scores)

    @torch.inference_mode()
    def update_memories(self, frame: int, masks: torch.Tensor) -> None:
        """Meta's _tracker_update_memories: the objects' low-res logits (N x h x w, in group
        order) resized to the memory encoder's mask size, shrunk objects suppressed, encoded
        with object scores +-10 by mask area, group by group, into the frame's stored output
        (conditioning or not)."""
        if not self.groups:
            return
        size = self.tracker.mask_prompt_size  # the memory encoder's interpol_size
        high_res = F.interpolate(masks[:, None], (size, size), mode="bilinear", align_corners=False)
        high_res = suppress_area_shrinkage(high_res)
        present = (high_res > 0).any(dim=(-1, -2))
        scores = torch.where(present, PRESENT_LOGIT, -PRESENT_LOGIT)
        start = 0
        for group in self.groups:
            n = len(group.obj_ids)
            rows = slice(start, start + n)
            memory, pos = self.tracker.encode_memory(
                self._features(frame, n), high_res[rows], scores[rows], False
            )
            for outputs in (group.memory.cond, group.memory.non_cond):
                if frame in outputs:
                    outputs[frame].memory = memory.to(self.memory_dtype)
                    outputs[frame].memory_pos = self._shared(pos)
            start += n

    @torch.inference_mode()
    def add_objects(self, frame: int, obj_ids, mask_logits: torch.Tensor) -> None:
        """Meta's _tracker_add_new_objects: one new group of the objects, each prompted on the
        frame with its detection's mask (low-res logits K x h x w, resized to the mask-prompt
        size and thresholded at 0), then consolidated with its memory encoded."""
        if len(obj_ids) == 0:
            return
        group = ObjectGroup([])
        self.groups.append(group)
        for obj_id, mask in zip(obj_ids, self._binary_prompts(mask_logits)):
            group.obj_ids.append(int(obj_id))
            self._add_sam3_mask(frame, int(obj_id), mask[None, None].float())
        self._consolidate(group)

    @torch.inference_mode()
    def recondition(self, frame: int, obj_to_det: dict[int, int], mask_logits: torch.Tensor):
        """Meta's _recondition_masklets (the decision made): each object re-prompted on the frame
        with its detection's mask, then each group touched consolidated with memory."""
        touched = []
        for obj_id, det in obj_to_det.items():
            mask = self._binary_prompts(mask_logits[det : det + 1])[0]
            self._add_sam3_mask(frame, int(obj_id), mask[None, None].float())
            group = self._group_of(int(obj_id))
            if group not in touched:
                touched.append(group)
        for group in touched:
            self._consolidate(group)

    def remove_objects(self, obj_ids) -> None:
        """Meta's _tracker_remove_objects: each object out of its group (the group goes with
        its last object; memory-selection scores of the others recomputed)."""
        for obj_id in obj_ids:
            self.remove_object(int(obj_id))

    def _binary_prompts(self, mask_logits: torch.Tensor) -> torch.Tensor:
        """K x h x w logits -> K x s x s bool at the mask-prompt size (bilinear, > 0)."""
        s = self.tracker.mask_prompt_size
        resized = F.interpolate(
            mask_logits[:, None].float(), (s, s), mode="bilinear", align_corners=False
        )
        return resized[:, 0] > 0
