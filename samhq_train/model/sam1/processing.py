"""The SAM 1 family's input rule: the long side resized to S (PIL bilinear, as the official
predictor's ResizeLongestSide.apply_image), normalised, zero-padded bottom / right to S x S; masks
are upsampled to S, cropped to the resized image and resized to the original size."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from samhq_train.resizing import resize_image, resize_longest_side_shape

from ..processing import InputProcessing, resize_masks, zero_padding


class LongestSideProcessing(InputProcessing):
    eval_transform = "longest_side"

    def input_shape(self, original_size) -> tuple:
        """(h, w) with the long side S (SAM's rule, int(x * scale + 0.5)); a 2-element tensor
        (the ONNX graph's sizes) gives the same rule in float64 as two int64 scalars."""
        if isinstance(original_size, torch.Tensor):
            size = original_size.to(torch.float64)
            shape = torch.floor(size * (self.image_size / size.max()) + 0.5).to(torch.int64)
            return shape[0], shape[1]
        return resize_longest_side_shape(
            int(original_size[0]), int(original_size[1]), self.image_size
        )

    def resize_image(self, image: np.ndarray) -> np.ndarray:
        return resize_image(image, self.input_shape(image.shape[:2])).astype(np.float32)

    def model_input(self, images, mean, std, content_sizes=None) -> torch.Tensor:
        images = zero_padding(self.normalize(images, mean, std), content_sizes)
        h, w = images.shape[-2:]
        s = self.image_size
        if h > s or w > s:
            raise ValueError(
                f"image of {h}x{w} is larger than the model input {s}x{s}: resize its longest side "
                "to the model input first"
            )
        return F.pad(images, (0, s - w, 0, s - h))

    def postprocess_masks(self, masks, input_size, original_size) -> torch.Tensor:
        lead = masks.shape[:-2]
        s = self.image_size
        masks = masks.reshape(-1, 1, *masks.shape[-2:])
        masks = F.interpolate(masks, (s, s), mode="bilinear", align_corners=False)
        if input_size is None:
            input_size = self.input_shape(original_size)
        masks = resize_masks(masks[..., : input_size[0], : input_size[1]], original_size)
        return masks.reshape(*lead, *masks.shape[-2:])
