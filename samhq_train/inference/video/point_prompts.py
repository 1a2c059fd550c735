"""Point and box prompts of the video predictor in the model's input pixels."""

from __future__ import annotations

import torch

from samhq_train.errors import UserError

SAM3_MAX_POINTS = 16  # Sam3TrackerPredictor's max_point_num_in_prompt_enc


class VideoPromptError(UserError):
    """A prompt the video predictor cannot take; the message says which and why."""


def model_points(frame: int, obj_id: int, points, labels, box, video_size: tuple[int, int],
                 image_size: int, max_points: int | None = None):
    """Points (K x 2, x y in video pixels) with labels (K: 1 foreground, 0 background) and/or a
    box (x0 y0 x1 y1, first as labels 2 / 3) -> (coords P x 2 in model-input pixels, labels P
    int32); with max_points (SAM 3) only the first and last max_points / 2 are kept."""
    coords = torch.zeros(0, 2) if points is None else torch.as_tensor(points).float()
    labels = torch.zeros(0, dtype=torch.int32) if labels is None else torch.as_tensor(labels)
    if len(coords) != len(labels):
        raise VideoPromptError(f"frame {frame}, object {obj_id}: one label per point")
    labels = labels.to(torch.int32)
    if box is not None:
        coords = torch.cat([torch.as_tensor(box).float().reshape(2, 2), coords])
        labels = torch.cat([torch.tensor([2, 3], dtype=torch.int32), labels])
    if not len(coords):
        raise VideoPromptError(f"frame {frame}, object {obj_id}: give points or a box")
    h, w = video_size
    coords = coords / torch.tensor([w, h]) * image_size
    if max_points is not None and len(coords) > max_points:
        keep = max_points // 2
        coords = torch.cat([coords[:keep], coords[keep - max_points:]])
        labels = torch.cat([labels[:keep], labels[keep - max_points:]])
    return coords, labels
