"""The one sample recipe: what makes a source item a usable sample in the model frame.

Uncached training and evaluation (prompted.PromptedDataset), the embedding cache's builder and its
training samples all go through these functions, so they refuse and redraw the same samples and
say so in the same words:

- a mask without an object pixel (> MASK_THRESHOLD) is refused: EmptyMaskError naming the file;
- a random transform is drawn again, up to ``tries`` draws, while the object vanishes under it
  (tiny, or cropped away);
- training refuses a sample whose object never shows (``require_object``); evaluation prompts
  from the object's area average instead (``object_area_mask``), since a thin object can vanish
  under bilinear downscaling.

What a refused sample costs (the next index, a warning, an error) is the dataset's policy
(PromptedDataset.__getitem__), not the recipe's.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from .image_files import EmptyMaskError
from .prompts import MASK_THRESHOLD
from .transforms import PairTransform, Transformed

MAX_TRIES = 10  # augmentation redraws / next-index substitutions before giving up


def has_object(mask: np.ndarray) -> bool:
    """Whether a 0-255 mask (soft after resizing) holds an object pixel (> MASK_THRESHOLD)."""
    return bool(mask.max() > MASK_THRESHOLD)


def require_nonempty_mask(item: Mapping) -> None:
    """EmptyMaskError naming the item's file when no pixel of its mask is object."""
    peak = int(item["mask"].max())
    if peak <= MASK_THRESHOLD:
        raise EmptyMaskError(
            f"{item['where']}: empty mask (no pixel > {MASK_THRESHOLD}; max value {peak}); "
            "remove the pair, or fix the mask values (0 = background, 255 = object)"
        )


def object_mask(item: Mapping) -> np.ndarray:
    """A source item's mask as float32 0-255 (the transforms' input); EmptyMaskError naming the
    item's file when no pixel is object."""
    require_nonempty_mask(item)
    return item["mask"].astype(np.float32)


def transformed_sample(item: Mapping, transform: PairTransform, *, tries: int = 1) -> Transformed:
    """A source item in the model frame: its mask refused when empty (``object_mask``), then
    ``transform`` drawn up to ``tries`` times while the object vanishes. When it never shows, the
    last draw: the caller decides (``require_object`` in training)."""
    mask = object_mask(item)
    for _ in range(tries):
        out = transform(item["image"], mask)
        if has_object(out.mask):
            break
    return out


def require_object(mask: np.ndarray, where: str) -> None:
    """EmptyMaskError when the object is gone from a training sample's model-frame mask."""
    if not has_object(mask):
        raise EmptyMaskError(f"{where}: the object vanishes under augmentation")


def object_area_mask(item: Mapping, out: Transformed) -> np.ndarray:
    """The item's mask area-averaged into the model frame of ``out`` (zero padding): a thin object
    that bilinear downscaling lost still has its area there, to prompt from with threshold 0."""
    h, w = out.input_size
    area = np.zeros_like(out.mask)
    area[:h, :w] = cv2.resize(item["mask"].astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    return area
