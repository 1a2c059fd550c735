"""Validation of video fine-tuning: semi-supervised VOS J&F on whole sequences.

Each object's GT mask on the first frame is the prompt (for SAM 3 at its tracker's mask-prompt
size, as samhq-video gives it); the tracker (SAM 2.1's or SAM 3's, the model's inference tracking
settings, eval mode) follows the objects through the other frames; each frame's masks
go back to the GT's size and become one label map (the highest positive logit's object), scored
by evaluation.video's SequenceScorer, first and last frames skipped as DAVIS evaluates.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from samhq_train.data.image_files import DataError
from samhq_train.data.video_clips import VideoSequence, square, squared_clip
from samhq_train.evaluation.video import SequenceScore, SequenceScorer, overall_score
from samhq_train.model.sam2 import Sam2HQ
from samhq_train.model.sam2.tracking_state import Memory
from samhq_train.model.sam3.tracking import video_tracker


class VideoSequenceDataset(Dataset):
    """Whole sequences: {"images": T x 3 x S x S uint8, "first_masks": N x 1 x S x S bool,
    "labels": T x H x W object ids at the GT's size, "object_ids": N, "name"}; max_frames
    keeps the first frames only."""

    def __init__(self, sequences: list[VideoSequence], image_size: int,
                 max_frames: int | None = None) -> None:
        self.sequences, self.image_size, self.max_frames = sequences, image_size, max_frames

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> dict:
        """The sequence, or {"error": one line} for one that cannot be read (said by the loader
        in the main process, data.loaders.SampleLoader, not as a loader worker's traceback)."""
        try:
            return self._sequence(self.sequences[index])
        except DataError as err:
            return {"error": str(err)}

    def _sequence(self, seq: VideoSequence) -> dict:
        count = len(seq.masks) if self.max_frames is None else min(self.max_frames, len(seq.masks))
        s = self.image_size
        # a training clip's checks: each mask its frame's size, the frames one size
        images, labels = squared_clip(seq, range(count), s)
        ids = [int(i) for i in np.unique(labels[0]) if i != 0]
        first = square(labels[0], s, nearest=True)[None, None]  # 1 x 1 x S x S
        return {
            "images": torch.from_numpy(images).permute(0, 3, 1, 2),
            "first_masks": torch.from_numpy(first == np.array(ids)[:, None, None, None]),
            "labels": torch.from_numpy(labels),
            "object_ids": ids,
            "name": seq.name,
        }


def first_item(items: list[dict]) -> dict:
    return items[0]


@torch.no_grad()
def track_from_first_masks(model: Sam2HQ, images: torch.Tensor, first_masks: torch.Tensor,
                           *, use_hq: bool = True) -> torch.Tensor:
    """images T x 3 x S x S (RGB 0-255), first_masks N x 1 x S x S -> T x N x S x S logits."""
    tracker = video_tracker(model, use_hq=use_hq)
    num_frames, objects = images.shape[0], first_masks.shape[0]
    memory, logits = Memory(), []
    size = images.shape[-2:]
    prompt_size = getattr(tracker, "mask_prompt_size", None)
    if prompt_size is not None and first_masks.shape[-1] != prompt_size:
        first_masks = F.interpolate(first_masks.float(), (prompt_size, prompt_size),
                                    mode="bilinear", align_corners=False, antialias=True)
    for t in range(num_frames):
        features = tracker.frame_features(images[t:t + 1].float()).expand(objects)
        out = tracker.track_step(
            t, is_init_cond_frame=t == 0, features=features, points=None,
            mask=first_masks if t == 0 else None, memory=memory, num_frames=num_frames,
        )
        high_res = out.high_res_masks
        if high_res.shape[-2:] != size:  # a SAM 3 mask prompt taken as output
            high_res = F.interpolate(high_res, size, mode="bilinear", align_corners=False)
        logits.append(high_res[:, 0])
        out.high_res_masks = out.high_res_multimasks = None  # the memory keeps the rest
        (memory.cond if t == 0 else memory.non_cond)[t] = out
    return torch.stack(logits)


def label_maps(logits: torch.Tensor, object_ids: list[int], size: tuple[int, int]) -> np.ndarray:
    """T x N x S x S logits -> T x H x W label maps (the GT's size)."""
    logits = F.interpolate(logits.float(), size, mode="bilinear", align_corners=False)
    best, index = logits.max(dim=1)
    ids = torch.tensor([0, *object_ids], device=logits.device)
    return ids[torch.where(best > 0, index + 1, 0)].cpu().numpy()


def score_tracking(model: Sam2HQ, item: dict, *, use_hq: bool = True) -> SequenceScore:
    """One sequence's J&F (first and last frames skipped when it has more than two)."""
    logits = track_from_first_masks(model, item["images"], item["first_masks"], use_hq=use_hq)
    gt = item["labels"].numpy()
    pred = label_maps(logits, item["object_ids"], gt.shape[-2:])
    scored = range(1, len(gt) - 1) if len(gt) > 2 else range(len(gt))
    scorer = SequenceScorer(item["name"])
    for t in scored:
        scorer.add_frame(pred[t], gt[t])
    return scorer.result()


__all__ = ["VideoSequenceDataset", "first_item", "label_maps", "overall_score", "score_tracking",
           "track_from_first_masks"]
