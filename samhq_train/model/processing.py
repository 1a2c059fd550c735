"""A family's input rule as one object: how an image becomes the S x S model input, how prompt
coordinates follow it, how low-res masks go back to the image, and the normalisation.

Each family folder has a processing.py with one InputProcessing subclass (SAM 1: long side S,
padded; SAM 2.1: squashed to S x S). The model (`model.processing`), the predictor, the
evaluation step, the ONNX wrapper and the COCO runner's transform choice all ask it, so each
number has one home.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from samhq_train.constants import PIXEL_MEAN, PIXEL_STD


class InputProcessing:
    """The input rule of one family at model input side `image_size` (S)."""

    # the evaluation transform that applies this rule to (image, mask) pairs
    # (samhq_train.data.transforms.EVAL_MODES)
    eval_transform: str
    pixel_mean: tuple[float, ...] = PIXEL_MEAN  # RGB, 0-255 scale
    pixel_std: tuple[float, ...] = PIXEL_STD

    def __init__(self, image_size: int) -> None:
        self.image_size = int(image_size)

    def input_shape(self, original_size: tuple[int, int]) -> tuple[int, int]:
        """(h, w) of an image of (H, W) once resized for the model."""
        raise NotImplementedError

    def resize_image(self, image: np.ndarray) -> np.ndarray:
        """H x W x 3 uint8 RGB -> h x w x 3 float32 on the 0-255 scale, as the family's official
        predictor resizes (float: a rule may not round to uint8)."""
        raise NotImplementedError

    def model_input(
        self, images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, content_sizes=None
    ) -> torch.Tensor:
        """Resized B x 3 x h x w RGB 0-255 -> the normalised B x 3 x S x S model input. mean / std:
        the model's 3 x 1 x 1 buffers (they follow its device and dtype); content_sizes: per
        image (h, w) of the content of already padded images (zero_padding)."""
        raise NotImplementedError

    def postprocess_masks(self, masks: torch.Tensor, input_size, original_size) -> torch.Tensor:
        """Low-res logits ... x S/4 x S/4 -> logits ... x H x W at the original size. input_size:
        (h, w) of the resized image in the model input, or None to compute it from
        original_size, which may be a 2-element tensor (the ONNX graph's)."""
        raise NotImplementedError

    def scale_coords(self, coords: np.ndarray, original_size: tuple[int, int]) -> np.ndarray:
        """(x, y) pairs in original pixels (last dim 2) -> pixels of the resized model input."""
        old_h, old_w = original_size
        new_h, new_w = self.input_shape(original_size)
        coords = np.array(coords, dtype=np.float64)
        coords[..., 0] *= new_w / old_w
        coords[..., 1] *= new_h / old_h
        return coords

    def normalize(
        self, images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor
    ) -> torch.Tensor:
        return (images - mean) / std


def resize_masks(masks: torch.Tensor, size) -> torch.Tensor:
    """... x h x w logits -> ... x H x W, one bilinear resize; size (H, W) as ints or a 2-element
    tensor (indexed, not iterated, so that it traces into ONNX)."""
    if isinstance(size, torch.Tensor):
        size = size.to(torch.int64)
    lead = masks.shape[:-2]
    masks = masks.reshape(-1, 1, *masks.shape[-2:])
    masks = F.interpolate(masks, (size[0], size[1]), mode="bilinear", align_corners=False)
    return masks.reshape(*lead, *masks.shape[-2:])


def zero_padding(images: torch.Tensor, content_sizes) -> torch.Tensor:
    """Normalised B x 3 x S x S images with each image's pixels outside its content (h_i, w_i)
    set to 0, the official predictor's padding; content_sizes None: unchanged."""
    if content_sizes is None:
        return images
    s_h, s_w = images.shape[-2:]
    cut = [(i, int(h), int(w)) for i, (h, w) in enumerate(content_sizes) if (h, w) != (s_h, s_w)]
    if cut:
        images = images.clone()
        for i, h, w in cut:
            images[i, :, h:] = 0
            images[i, :, :, w:] = 0
    return images
