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
from ..point_prompts import model_points
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
        return self.detector.encode_image(self._encode_tracker_features(frame))

    def _encode_tracker_features(self, frame: int) -> torch.Tensor:
        """The frame's tracker features (bf16-rounded, see above) cached; returns the trunk's
        map for the detector."""
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
        return trunk_map

    def _features(self, frame: int, batch: int = 1) -> FrameFeatures:
        """As the video predictor's, from the features the detector's backbone hands over."""
        if self._cached is None or self._cached[0] != frame:
            self._encode_tracker_features(frame)
        return self._cached[1].expand(batch)

    @torch.inference_mode()
    def propagate_one(self, frame: int, reverse: bool, obj_ids=None, encode_memory=False):
        """Every group (with obj_ids: those holding any of them) tracked onto the frame (Meta's
        _propogate_tracker_one_frame_local_gpu without hole filling): a conditioning frame gives
        its stored output, another frame is tracked and kept, its memory encoded only with
        encode_memory (else update_memories encodes it). Returns (obj ids int64 (N,), mask
        logits N x h x w at the low-res size, object score logits (N,))."""
        ids, masks, scores = [], [], []
        for group in self.groups:
            if obj_ids is not None and not set(obj_ids) & set(group.obj_ids):
                continue
            self._track_group(group, frame, reverse, run_memory_encoder=encode_memory)
            outputs = group.memory.cond if frame in group.memory.cond else group.memory.non_cond
            out = outputs[frame]
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

    @torch.inference_mode()
    def add_points(self, frame: int, obj_id: int, points, labels, window: int) -> torch.Tensor:
        """Meta's add_tracker_new_points on the tracker (a click on a tracked object refines it
        in its group; an unknown id starts a group of its own): the points (K x 2, x y in video
        pixels; labels 1 / 0) replace the object's prompt on the frame, the group's prompts go
        into memory, and the detector's mask prompts of the object within `window` frames are
        taken back (for every object of the group: Meta's
        clear_detector_added_cond_frame_in_tracker). Returns the object's mask logits on the
        frame, 1 x H x W at the video's size, before the memory update."""
        model_points(frame, obj_id, points, labels, None, self.video_size, 1)  # checked first
        group = self._group_of(obj_id)
        if group is None:
            group = ObjectGroup([obj_id])
            self.groups.append(group)
        _, ids, masks = self.add_points_or_box(frame, obj_id, points, labels)
        self._consolidate(group)
        obj = group.obj_ids.index(obj_id)
        near = sorted(f for f in group.mask_input_frames(obj) if abs(f - frame) <= window)
        for mask_frame in near:
            for other in range(len(group.obj_ids)):
                self._clear_input(group, other, mask_frame)
        return masks[ids.index(obj_id)]

    def _binary_prompts(self, mask_logits: torch.Tensor) -> torch.Tensor:
        """K x h x w logits -> K x s x s bool at the mask-prompt size (bilinear, > 0)."""
        s = self.tracker.mask_prompt_size
        resized = F.interpolate(
            mask_logits[:, None].float(), (s, s), mode="bilinear", align_corners=False
        )
        return resized[:, 0] > 0
