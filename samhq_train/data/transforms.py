"""The pair transform: an image, its mask and boxes through albumentations stages into the model's
S x S frame (Transformed). The stages themselves are built in transform_builders (the training
jitter, the evaluation resizes): this module does not import albumentations, so that what only
names a transform (the samples' recipe, the config check, the cache) starts without it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import albumentations as A

EVAL_MODES = ("resize", "longest_side")


@dataclass
class Transformed:
    """Output of a pair transform, in the S x S model frame."""

    image: np.ndarray  # S x S x 3 uint8 RGB
    mask: np.ndarray  # S x S float32, 0-255 (soft after resizing)
    input_size: tuple[int, int]  # (h, w) of the resized image inside S x S (the rest is padding)
    # (h, w) from which the model zeroes the normalised image (the official predictor's padding);
    # (S, S) where the padding belongs to the image (training's 128, the square resize)
    content_size: tuple[int, int]
    boxes: np.ndarray  # M x 4 float32 xyxy (pixel edges), the input boxes that survived
    box_ids: np.ndarray  # M int64: index of each surviving box in the input


class PairTransform:
    """Applies albumentations stages to an (image, mask[, boxes]) pair; one RNG for all stages."""

    def __init__(self, stages: Sequence[A.Compose], image_size: int, *, keep_aspect: bool = True,
                 zero_pad: bool = False):
        self.stages = list(stages)
        self.image_size = int(image_size)
        self.keep_aspect = keep_aspect
        self.zero_pad = zero_pad  # the padding is zero after normalising (Transformed.content_size)
        self.py_random: random.Random | None = None  # set by set_random_state

    def set_random_state(self, rng: np.random.Generator, py_random: random.Random | None = None) -> None:
        """Draw all randomness from ``rng`` (albumentations would otherwise seed from the OS) and
        from a Python generator seeded from it (or the given one, to restore a saved state)."""
        if py_random is None:
            py_random = random.Random(int(rng.integers(2**63)))
        self.py_random = py_random
        for stage in self.stages:
            stage.set_random_state(rng, py_random)

    def __call__(self, image: np.ndarray, mask: np.ndarray, boxes=None) -> Transformed:
        """image H x W x 3 uint8, mask H x W float32 0-255, boxes N x 4 xyxy (pixel edges)."""
        if mask.dtype != np.float32:
            mask = mask.astype(np.float32)
        boxes = np.zeros((0, 4), np.float32) if boxes is None else np.asarray(boxes, np.float32)
        data = {"image": image, "mask": mask, "bboxes": boxes, "box_ids": np.arange(len(boxes))}
        for i, stage in enumerate(self.stages):
            data = stage(**data)
            if i == 0:  # the first stage resizes; later ones only pad / crop
                h, w = data["image"].shape[:2]
        s = self.image_size
        input_size = (min(s, h), min(s, w)) if self.keep_aspect else (s, s)
        return Transformed(
            image=np.ascontiguousarray(data["image"]),
            mask=np.ascontiguousarray(data["mask"], dtype=np.float32),
            input_size=input_size,
            content_size=input_size if self.zero_pad else (s, s),
            boxes=np.asarray(data["bboxes"], np.float32).reshape(-1, 4),
            box_ids=np.asarray(data["box_ids"], np.int64),
        )
