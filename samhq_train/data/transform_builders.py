"""The albumentations stages of the pair transforms (transforms.PairTransform) into the model's
S x S frame.

Training (official): horizontal flip, then large-scale jitter: resize so the long side is
round(s * S) with s ~ U(0.1, 2.0) (aspect kept, bilinear for image AND mask), random crop to at
most S x S, pad bottom/right to S x S (image 128, mask 0).

Evaluation: ``mode="resize"`` is the official benchmark protocol (S x S, aspect NOT kept);
``mode="longest_side"`` is SAM's predictor rule (long side S, aspect kept, the image resized with
PIL bilinear as the official predictor does, padded bottom/right). The official predictor pads
with zeros after normalising, which no uint8 value gives: the uint8 image is padded with the pixel
mean and its ``content_size`` tells the model where its normalised padding starts, which it zeroes.

Masks are float32 0-255 and resized bilinearly, so they are soft after resizing (official
handling); callers threshold them at > 128. The untouched original mask is kept by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import cv2

from samhq_train.constants import PIXEL_MEAN
from samhq_train.resizing import resize_image, resize_longest_side_shape

from .transforms import EVAL_MODES, PairTransform


class LongestSideResize(A.DualTransform):
    """Resize so the long side is ``round(s * long_side)``, ``s ~ U(scale_range)``, aspect kept.

    Image and mask are both resized bilinearly (the mask is expected as float, 0-255), with
    OpenCV; ``predictor_resize=True`` resizes the image as the official predictor does
    (resizing.resize_image, PIL bilinear). ``scale_range=(1, 1)`` gives SAM's deterministic
    long-side resize.
    """

    def __init__(self, long_side: int, scale_range: Sequence[float] = (1.0, 1.0), p: float = 1.0,
                 predictor_resize: bool = False):
        super().__init__(p=p)
        self.predictor_resize = predictor_resize
        lo, hi = float(scale_range[0]), float(scale_range[1])
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < min <= max, got {scale_range}")
        self.long_side = int(long_side)
        self.scale_range = (lo, hi)

    def get_params_dependent_on_data(self, params, data):
        height, width = params["shape"][:2]
        lo, hi = self.scale_range
        s = lo if lo == hi else self.py_random.uniform(lo, hi)
        long_side = max(1, round(s * self.long_side))
        return {"target_shape": resize_longest_side_shape(height, width, long_side)}

    def apply(self, img, target_shape, **params):
        if self.predictor_resize:
            return resize_image(img, target_shape)
        return cv2.resize(img, target_shape[::-1], interpolation=cv2.INTER_LINEAR)

    def apply_to_mask(self, mask, target_shape, **params):
        return cv2.resize(mask, target_shape[::-1], interpolation=cv2.INTER_LINEAR)

    def apply_to_bboxes(self, bboxes, **params):
        return bboxes  # albumentations keeps boxes normalised: a resize leaves them unchanged

    def get_transform_init_args_names(self):
        return ("long_side", "scale_range", "predictor_resize")


def _compose(transforms) -> A.Compose:
    bbox_params = A.BboxParams(format="pascal_voc", label_fields=["box_ids"], clip=True)
    return A.Compose(transforms, bbox_params=bbox_params, seed=0)


def build_train_transform(
    image_size: int,
    *,
    scale_range: Sequence[float] = (0.1, 2.0),
    hflip_p: float = 0.5,
    image_pad: float = 128,
    mask_pad: float = 0,
) -> PairTransform:
    """Official training augmentation: flip, large-scale jitter, pad bottom/right to S x S.

    Padding first and then cropping S x S is the same as the official crop-then-pad: a side
    longer than S is cropped at a random offset, a shorter one is padded at the bottom/right.
    """
    s = int(image_size)
    resize = _compose([A.HorizontalFlip(p=hflip_p), LongestSideResize(s, scale_range)])
    pad_crop = _compose(
        [
            A.RandomCrop(
                s,
                s,
                pad_if_needed=True,
                pad_position="top_left",
                border_mode=cv2.BORDER_CONSTANT,
                fill=image_pad,
                fill_mask=mask_pad,
            )
        ]
    )
    return PairTransform([resize, pad_crop], s)


def build_eval_transform(
    image_size: int,
    *,
    mode: str = "resize",
    image_pad: float | Sequence[float] = PIXEL_MEAN,
) -> PairTransform:
    """Evaluation resize: ``"resize"`` (official benchmark: S x S, aspect not kept) or
    ``"longest_side"`` (SAM predictor: long side S, pad bottom/right with ``image_pad``)."""
    s = int(image_size)
    if mode == "resize":
        resize = A.Resize(s, s, interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_LINEAR)
        return PairTransform([_compose([resize])], s, keep_aspect=False)
    if mode == "longest_side":
        fill = tuple(image_pad) if isinstance(image_pad, Sequence) else image_pad
        pad = A.PadIfNeeded(
            s, s, position="top_left", border_mode=cv2.BORDER_CONSTANT, fill=fill, fill_mask=0
        )
        resize = LongestSideResize(s, predictor_resize=True)
        return PairTransform([_compose([resize]), _compose([pad])], s, zero_pad=True)
    raise ValueError(f"eval_transform.mode must be one of {EVAL_MODES}, got {mode!r}")
