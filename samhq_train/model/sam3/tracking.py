"""SAM 3's tracking step (Sam3TrackerBase.track_step of Meta's sam3 0.1.4) on Sam3HQ.

SAM 3's tracker is SAM 2.1's (model/sam2/tracking.py: memory attention over conditioning frames,
earlier frames and object pointers, the SAM heads, the memory encoder), with model_builder's
build_tracker settings (Sam3Config.tracking) and these differences, all handled by the model's
parts or here:
- the frame's features come from the ViT + sam2 neck (stride 14); the memory attention reads the
  stride-14 map with the sine position encoding of the neck;
- the memory encoder first resizes masks to 16 x the token grid (1152 for 1008 px: interpol_size),
  so the memory map is the token grid;
- a mask prompt arrives at that size (input_mask_size, 1152) rather than the image's, and its
  low-res logits are its size // 14 * 4 (SAM 2: a quarter);
- at most 4 conditioning frames are attended (max_cond_frames_in_attn), the temporally closest;
- the predictor decodes correction clicks without memory (use_memory=False), as its
  add_new_points_or_box does with use_prev_mem_frame=False.
Everything else (RoPE, memory selection by frame distance, signed object-pointer temporal
encoding, the no-object pointer and spatial embedding, binarised masks from clicks for memory) is
SAM 2.1's code. memory_selection=True is Meta's use_memory_selection (build_tracker's
apply_temporal_disambiguation, on in its detector-driven video model, off in the interactive
one): the earlier frames and pointers come from the latest frames whose quality (object score
times predicted IoU) exceeds 0.01, rather than the latest frames.
"""

from __future__ import annotations

import torch

from ...constants import SAM3_VIDEO_FILES
from ...errors import UserError
from ..sam2.image_encoder import sine_position_encoding
from ..sam2.model import Sam2HQ
from ..sam2.tracking import Sam2Tracker
from ..sam2.tracking_state import FrameFeatures, Memory, TrackOutput
from .model import Sam3HQ

MEMORY_SELECTION_THRESHOLD = 0.01  # Sam3TrackerBase's mf_threshold


def memory_score(object_score_logits: torch.Tensor, iou_score: torch.Tensor) -> torch.Tensor:
    """A frame's quality for memory selection (Sam3TrackerBase.cal_mem_score): the present
    objects' score rescaled to 0..1 times the predicted IoU, averaged; B x 1 times B broadcast to
    B x B as Meta's code does."""
    norm = torch.where(
        object_score_logits > 0,
        object_score_logits.sigmoid() * 2 - 1,
        torch.zeros_like(object_score_logits),
    )
    return (norm * iou_score).mean()


class VideoPartsMissing(UserError):
    """The model was loaded from a file without the tracker's video parts."""


class Sam3Tracker(Sam2Tracker):
    """The tracking step of a Sam3HQ (its `tracking` settings), in eval mode; use_hq=False is
    plain SAM 3."""

    def __init__(
        self, model: Sam3HQ, *, use_hq: bool = True, memory_selection: bool = False
    ) -> None:
        if not model.has_video_parts:
            raise VideoPartsMissing(
                "this SAM 3 model has no video parts (its checkpoint has no "
                f"tracker.maskmem_backbone.* keys): load {SAM3_VIDEO_FILES}"
            )
        super().__init__(model, use_hq=use_hq)
        self.memory_selection = memory_selection

    def track_step(self, frame: int, **kwargs) -> TrackOutput:
        """Sam2Tracker.track_step; with memory selection the output also has its memory_score."""
        out = super().track_step(frame, **kwargs)
        if self.memory_selection:
            out.memory_score = memory_score(out.object_score_logits, out.iou_score)
        return out

    def _chosen_frames(self, frame, memory: Memory, num_frames, reverse) -> list[int] | None:
        """Sam3TrackerBase.frame_filter: going back from the frame before this one (in the
        tracking direction, every stride-th, frame 0 / the last never), the non-conditioning
        frames scored above the threshold, up to min(num_frames, max_obj_ptrs_in_encoder) - 1,
        oldest first; the frame just before always ends the list."""
        if not self.memory_selection:
            return None
        if frame == (num_frames - 1 if reverse else 0):
            return []
        stride = self.cfg.memory_temporal_stride_for_eval
        limit = min(num_frames, self.cfg.max_obj_ptrs_in_encoder) - 1
        last = frame + 1 if reverse else frame - 1
        scan = range(last, num_frames, stride) if reverse else range(last, 0, -stride)
        chosen: list[int] = []
        for t in scan:
            out = memory.non_cond.get(t)
            if out is None or out.memory_score is None:
                continue
            if out.memory_score > MEMORY_SELECTION_THRESHOLD:
                chosen.insert(0, t)
            if len(chosen) >= limit:
                break
        if last not in chosen:
            chosen.append(last)
        return chosen

    @property
    def mask_prompt_size(self) -> int:
        """The side mask prompts are given at (Meta's input_mask_size: 16 x the token grid)."""
        return self.model.sam_prompt_encoder.image_embedding_size[0] * 16

    def frame_features(self, image: torch.Tensor) -> FrameFeatures:
        """1 x 3 x S x S RGB 0-255 -> its features (batch 1)."""
        model, decoder = self.model, self.model.sam_mask_decoder
        features = model.image_encoder(model.preprocess(image))
        high_res = (decoder.conv_s0(features[0]), decoder.conv_s1(features[1]))
        embedding = features[-1]
        pos = sine_position_encoding(embedding, embedding.shape[1]).to(embedding.dtype)
        return FrameFeatures(embedding, pos, high_res)

    def _mask_low_res_size(self, high_res: torch.Tensor) -> tuple[int, int]:
        stride = self.model.image_size // self.model.sam_prompt_encoder.image_embedding_size[0]
        return high_res.shape[-2] // stride * 4, high_res.shape[-1] // stride * 4


def video_tracker(model: Sam2HQ | Sam3HQ, *, use_hq: bool = True) -> Sam2Tracker:
    """The tracking step of a model of either video family: Sam3Tracker (interactive settings:
    no memory selection) for SAM 3 / HQ-SAM 3, Sam2Tracker for SAM 2.1 / HQ-SAM 2."""
    if getattr(model, "family", None) == "sam3":
        return Sam3Tracker(model, use_hq=use_hq)
    return Sam2Tracker(model, use_hq=use_hq)
