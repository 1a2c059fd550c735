"""Prompt sampling from a GT mask in the S x S model frame (official SAM-HQ training recipe).

- box: the tight xyxy box of ``mask > 128`` (x_max/y_max are the last foreground pixel indices,
  as in the official ``masks_to_boxes``); optional noise (the official, unused ``box_noise``).
- point: ``num_points`` foreground pixels drawn without replacement, (x, y), all positive.
- noise_mask: the GT resized bilinearly to S/4, ``m = GT / 255``; pixels where ``m`` differs from
  its S/32 bilinear round trip by >= 0.01 get N(0, 1) noise; ``(m + noise) > 0.5`` times 255.
- The prompt type is drawn per sample (1/3 each by default). If any mask of a batch has fewer than
  ``num_points`` foreground pixels, the whole batch draws from the other types (official).

Every sample carries all three prompts; the collate picks the type (the rule is batch-level).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from samhq_train.constants import GT_THRESHOLD
from samhq_train.settings import int_at_least, is_number, number, one_of, require

MASK_THRESHOLD = GT_THRESHOLD  # the name the data layer exports
PROMPT_TYPES = ("box", "point", "noise_mask")


@dataclass(frozen=True)
class PromptConfig:
    """How prompts are drawn: the config's ``data.prompts`` (these defaults are the config's,
    through samhq_train/config_check.py). A bad field is a SettingError naming its full key."""

    # relative weights per training sample over PROMPT_TYPES (normalised)
    probs: Mapping[str, float] = field(
        default_factory=lambda: {"box": 1.0, "point": 1.0, "noise_mask": 1.0}
    )
    num_points: int = 10  # positive points; a batch with a mask under this many pixels gets none
    box_noise_scale: float = 0.0  # 0: the tight box (official)
    noise_downscale: int = 8  # noisy mask: incoherent regions vs an S/32 round trip
    noise_std: float = 1.0
    eval_prompt: str = "box"  # box (benchmark protocol) | point | noise_mask
    # correction-click training (training/correction.py): after the first prompt, this many
    # rounds, each adding a click at the largest error (data/clicks.py); 0: the official recipe
    correction_clicks: int = 0
    # per round, the previous round's low-res logits are the mask input with this probability
    mask_feedback_prob: float = 0.5

    def __post_init__(self):
        key = "data.prompts"
        require(
            f"{key}.probs",
            self.probs,
            lambda v: (
                isinstance(v, Mapping)
                and set(v) <= set(PROMPT_TYPES)
                and all(is_number(p) and p >= 0 for p in v.values())
                and sum(v.values()) > 0
            ),
            f"weights >= 0 with a positive sum over the prompt types {', '.join(PROMPT_TYPES)}, "
            "e.g. {box: 1.0, point: 1.0, noise_mask: 1.0}",
        )
        int_at_least(f"{key}.num_points", self.num_points, 1)
        number(f"{key}.box_noise_scale", self.box_noise_scale, lambda v: v >= 0, "a number >= 0")
        int_at_least(f"{key}.noise_downscale", self.noise_downscale, 1)
        number(f"{key}.noise_std", self.noise_std, lambda v: v >= 0, "a number >= 0")
        one_of(f"{key}.eval_prompt", self.eval_prompt, PROMPT_TYPES)
        int_at_least(f"{key}.correction_clicks", self.correction_clicks, 0)
        number(
            f"{key}.mask_feedback_prob", self.mask_feedback_prob, lambda v: 0 <= v <= 1,
            "a probability in [0, 1]",
        )


@dataclass
class Prompts:
    """All prompts of one sample, in the S x S frame."""

    box: np.ndarray  # (4,) float32 xyxy
    points: np.ndarray  # (N, 2) float32 (x, y)
    point_labels: np.ndarray  # (N,) float32, 1 = positive
    noise_mask: np.ndarray  # (S/4, S/4) float32, values 0 / 255
    type_draw: float  # U(0, 1): turned into a prompt type by choose_prompt_types
    foreground_pixels: int  # number of pixels > threshold


def foreground(mask: np.ndarray, threshold: float = MASK_THRESHOLD) -> np.ndarray:
    """``mask > threshold``; a bool mask is already foreground and is returned as it is."""
    return mask if mask.dtype == bool else mask > threshold


def tight_box(mask: np.ndarray, threshold: float = MASK_THRESHOLD) -> np.ndarray | None:
    """xyxy box of ``mask > threshold`` (max = last foreground index); None if empty."""
    fg = foreground(mask, threshold)
    cols = np.flatnonzero(fg.any(axis=0))
    if cols.size == 0:
        return None
    rows = np.flatnonzero(fg.any(axis=1))
    return np.array([cols[0], rows[0], cols[-1], rows[-1]], np.float32)


def jitter_box(
    box: np.ndarray, scale: float, rng: np.random.Generator, image_size: int
) -> np.ndarray:
    """The official ``box_noise``: centre moves by up to scale * half the size, size by up to
    scale * size (uniform), then clamped to [0, S]."""
    if scale <= 0:
        return box
    x0, y0, x1, y1 = box
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    d = rng.uniform(-1.0, 1.0, 4) * np.array([w / 2, h / 2, w, h]) * scale
    cx, cy, w, h = cx + d[0], cy + d[1], w + d[2], h + d[3]
    out = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    return np.clip(out, 0, image_size).astype(np.float32)


def sample_points(
    mask: np.ndarray, num_points: int, rng: np.random.Generator, threshold: float = MASK_THRESHOLD
) -> np.ndarray:
    """``num_points`` (x, y) foreground pixels, without replacement when the mask has enough
    (with replacement otherwise). Raises ValueError on an empty mask."""
    idx = np.flatnonzero(foreground(mask, threshold))
    if idx.size == 0:
        raise ValueError("cannot sample points from an empty mask")
    pick = rng.choice(idx.size, size=num_points, replace=idx.size < num_points)
    y, x = np.divmod(idx[pick], mask.shape[1])
    return np.stack([x, y], axis=1).astype(np.float32)


def noisy_mask(
    mask: np.ndarray, rng: np.random.Generator, out_size: int, downscale: int = 8, std: float = 1.0
) -> np.ndarray:
    """The official noisy-mask prompt (Mask Transfiner's incoherent-region noise), 0 / 255.

    cv2's INTER_LINEAR is torch's bilinear (align_corners=False) within 3e-5 and, unlike torch
    ops, cheap in a busy main process.
    """

    def resize(x, n):
        return cv2.resize(x, (n, n), interpolation=cv2.INTER_LINEAR)

    m = resize(np.asarray(mask, np.float32), out_size) / 255.0
    coarse = resize(resize(m, max(1, out_size // downscale)), out_size)
    incoherent = np.abs(m - coarse) >= 0.01
    noise = rng.standard_normal((out_size, out_size), dtype=np.float32) * std
    return ((m + noise * incoherent) > 0.5).astype(np.float32) * 255.0


def sample_prompts(
    mask: np.ndarray,
    rng: np.random.Generator,
    cfg: PromptConfig,
    threshold: float = MASK_THRESHOLD,
) -> Prompts:
    """All prompts for one S x S GT mask (float 0-255). The mask must have foreground."""
    size = mask.shape[0]
    fg = foreground(mask, threshold)  # thresholded once for the box, the points and the count
    box = tight_box(fg)
    if box is None:
        raise ValueError("cannot draw prompts from an empty mask")
    points = sample_points(fg, cfg.num_points, rng)
    return Prompts(
        box=jitter_box(box, cfg.box_noise_scale, rng, size),
        points=points,
        point_labels=np.ones(len(points), np.float32),
        noise_mask=noisy_mask(mask, rng, size // 4, cfg.noise_downscale, cfg.noise_std),
        type_draw=float(rng.random()),
        foreground_pixels=int(np.count_nonzero(fg)),
    )


def choose_prompt_types(
    type_draws: Sequence[float], foreground_pixels: Sequence[int], cfg: PromptConfig
) -> list[str]:
    """One training prompt type per sample, with the official batch rule: if any mask has fewer
    than ``num_points`` foreground pixels, "point" is dropped for the whole batch."""
    probs = {k: float(cfg.probs.get(k, 0.0)) for k in PROMPT_TYPES}
    if any(n < cfg.num_points for n in foreground_pixels):
        probs["point"] = 0.0
        if sum(probs.values()) == 0:
            probs["box"] = 1.0
    names = [k for k in PROMPT_TYPES if probs[k] > 0]
    cumulative = np.cumsum([probs[k] for k in names])
    cumulative /= cumulative[-1]
    picks = np.searchsorted(cumulative, np.asarray(type_draws, np.float64), side="right")
    return [names[min(int(i), len(names) - 1)] for i in picks]
