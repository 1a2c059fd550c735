"""The prompts of a training clip, drawn as SAM 2's video training (SAM2Train) draws them.

plan_clip decides, per clip: mask or point input; 1 to num_init_cond_frames initial conditioning
frames (the first frame, then random others); on each of them the GT mask, or a noisy GT box
(two corner points) or one point from the GT; and, for point input, the frames that receive
correction clicks. The draws come from a numpy Generator in SAM2Train's order (and torch's
global generator for the box noise and the click positions), so the same seeds give the same
plan. Correction clicks are drawn on the fly from the error of the current prediction
(next_click).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from samhq_train.model.sam2.tracking_state import Points
from samhq_train.video_settings import ClipPromptSettings


@dataclass
class ClipPlan:
    """Which frames are prompted and how (frame indices within the clip)."""

    use_points: bool
    init_cond_frames: list[int]
    frames_to_correct: list[int]
    masks: dict[int, torch.Tensor] = field(default_factory=dict)  # B x 1 x S x S bool
    points: dict[int, Points] = field(default_factory=dict)

    def processing_order(self, num_frames: int) -> list[int]:
        """The initial conditioning frames first, then the others in time order."""
        return self.init_cond_frames + [t for t in range(num_frames)
                                        if t not in self.init_cond_frames]

    def is_cond(self, frame: int, add_corrected: bool) -> bool:
        """Whether the frame's output joins the conditioning memory."""
        return frame in self.init_cond_frames or (add_corrected and frame in self.frames_to_correct)


def mask_box_corners(masks: torch.Tensor) -> torch.Tensor:
    """B x 1 x H x W bool -> B x 1 x 4 (x0, y0, x1, y1) inclusive pixel bounds; an empty mask
    gives (W, H, -1, -1)."""
    b, _, h, w = masks.shape
    xs = torch.arange(w, device=masks.device).view(1, 1, 1, w).expand(b, 1, h, w)
    ys = torch.arange(h, device=masks.device).view(1, 1, h, 1).expand(b, 1, h, w)
    x0 = torch.where(masks, xs, w).flatten(-2).amin(-1)
    x1 = torch.where(masks, xs, -1).flatten(-2).amax(-1)
    y0 = torch.where(masks, ys, h).flatten(-2).amin(-1)
    y1 = torch.where(masks, ys, -1).flatten(-2).amax(-1)
    return torch.stack([x0, y0, x1, y1], dim=-1)


def sample_box_points(masks: torch.Tensor, noise: float = 0.1, noise_bound: float = 20.0) -> Points:
    """A noisy GT box as two corner points (labels 2, 3): each side moves by up to noise x the
    box's width / height (at most noise_bound pixels), clamped to the image."""
    b, _, h, w = masks.shape
    box = mask_box_corners(masks).float()
    if noise > 0:
        bound = torch.tensor(noise_bound, device=masks.device)
        max_dx = torch.minimum((box[..., 2] - box[..., 0]) * noise, bound)
        max_dy = torch.minimum((box[..., 3] - box[..., 1]) * noise, bound)
        jitter = 2 * torch.rand(b, 1, 4, device=masks.device) - 1
        box = box + jitter * torch.stack([max_dx, max_dy, max_dx, max_dy], dim=-1)
        upper = torch.tensor([w, h, w, h], device=masks.device) - 1
        box = torch.maximum(torch.minimum(box, upper), torch.zeros_like(upper))
    labels = torch.tensor([2, 3], dtype=torch.int32, device=masks.device).repeat(b, 1)
    return Points(box.reshape(b, 2, 2), labels)


def _error_regions(gt: torch.Tensor, pred: torch.Tensor | None):
    pred = torch.zeros_like(gt) if pred is None else pred
    return gt & ~pred, ~gt & pred, pred  # false negatives, false positives, prediction


def sample_uniform_click(gt: torch.Tensor, pred: torch.Tensor | None) -> Points:
    """One click per object drawn uniformly from its error region (B x 1 x H x W bool): positive
    in a false negative, negative in a false positive; where the prediction is exact, a negative
    click on the background."""
    b, _, h, w = gt.shape
    missed, extra, pred = _error_regions(gt, pred)
    exact = (gt == pred).flatten(2).all(dim=2)[..., None, None]
    draws = torch.rand(b, 1, h, w, 2, device=gt.device)
    draws[..., 0] *= extra | (exact & ~gt)
    draws[..., 1] *= missed
    index = draws.flatten(2).argmax(dim=2)
    labels = (index % 2).to(torch.int32)
    pixel = index // 2
    coords = torch.stack([pixel % w, pixel // w], dim=2).float()
    return Points(coords, labels)


def sample_center_click(gt: torch.Tensor, pred: torch.Tensor | None) -> Points:
    """One click per object at the pixel of its error region farthest from the region's border
    (L2 distance transform, the image border counting as region): positive when the false
    negatives' farthest pixel is strictly farther than the false positives'."""
    b, _, _, w = gt.shape
    missed, extra, _ = _error_regions(gt, pred)
    coords = torch.zeros(b, 1, 2)
    labels = torch.ones(b, 1, dtype=torch.int32)
    for i in range(b):
        depth = []
        for region in (missed[i, 0], extra[i, 0]):
            padded = np.pad(region.cpu().numpy().astype(np.uint8), 1)
            depth.append(cv2.distanceTransform(padded, cv2.DIST_L2, 0)[1:-1, 1:-1].reshape(-1))
        best = [int(np.argmax(d)) for d in depth]
        positive = depth[0][best[0]] > depth[1][best[1]]
        pixel = best[0] if positive else best[1]
        coords[i, 0] = torch.tensor([pixel % w, pixel // w], dtype=torch.float32)
        labels[i, 0] = int(positive)
    return Points(coords.to(gt.device), labels.to(gt.device))


def next_click(gt: torch.Tensor, pred: torch.Tensor | None, method: str) -> Points:
    if method == "uniform":
        return sample_uniform_click(gt, pred)
    return sample_center_click(gt, pred)


def add_points(old: Points | None, new: Points) -> Points:
    if old is None:
        return new
    return Points(torch.cat([old.coords, new.coords], dim=1),
                  torch.cat([old.labels, new.labels.to(old.labels.dtype)], dim=1))


def plan_clip(gt_masks: torch.Tensor, settings: ClipPromptSettings,
              rng: np.random.Generator) -> ClipPlan:
    """The prompts of a clip whose GT is T x B x 1 x S x S (bool): see the module docstring. A
    one-frame clip is an image: point input, one frame, corrected."""
    s = settings
    num_frames = gt_masks.shape[0]
    prob_points, num_correct, num_init = (
        (1.0, 1, 1) if num_frames == 1
        else (s.prob_to_use_pt_input, s.num_frames_to_correct, s.num_init_cond_frames)
    )
    use_points = bool(rng.random() < prob_points)
    if s.rand_init_cond_frames and num_init > 1:
        num_init = int(rng.integers(1, num_init, endpoint=True))
    if use_points and s.rand_frames_to_correct and num_correct > num_init:
        num_correct = int(rng.integers(num_init, num_correct, endpoint=True))
    init = [0]
    if num_init > 1:
        init += rng.choice(range(1, num_frames), num_init - 1, replace=False).tolist()
    plan = ClipPlan(use_points, init, [])
    for t in init:
        if not use_points:
            plan.masks[t] = gt_masks[t]
        elif rng.random() < s.prob_to_use_box_input:
            plan.points[t] = sample_box_points(gt_masks[t])
        else:
            plan.points[t] = next_click(gt_masks[t], None, s.click_sampling)
    if use_points:
        others = [t for t in range(num_frames) if t not in init]
        extra = num_correct - num_init
        plan.frames_to_correct = init + (
            rng.choice(others, extra, replace=False).tolist() if extra > 0 else []
        )
    return plan
