"""The SAM 2.1 family's input rule: the image squashed to S x S (aspect not kept; torchvision's
Resize on 0-1 floats, antialiased, as SAM2ImagePredictor), normalised, not padded; masks are
resized straight from S/4 to the original size."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..processing import InputProcessing, resize_masks, zero_padding


class SquareProcessing(InputProcessing):
    eval_transform = "resize"
    family_label = "SAM 2"  # in the message for an image that is not the square

    def input_shape(self, original_size) -> tuple[int, int]:
        return self.image_size, self.image_size

    def resize_image(self, image: np.ndarray) -> np.ndarray:
        s = self.image_size
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255
        tensor = F.interpolate(tensor, (s, s), mode="bilinear", align_corners=False, antialias=True)
        return (tensor[0].permute(1, 2, 0) * 255).numpy()

    def model_input(self, images, mean, std, content_sizes=None) -> torch.Tensor:
        """(content_sizes: padded images' content, as for SAM 1, see zero_padding)"""
        s = self.image_size
        if tuple(images.shape[-2:]) != (s, s):
            raise ValueError(
                f"image of {tuple(images.shape[-2:])} is not the model input {s}x{s}: "
                f"{self.family_label} resizes each image to that square first"
            )
        return zero_padding(self.normalize(images, mean, std), content_sizes)

    def postprocess_masks(self, masks, input_size, original_size) -> torch.Tensor:
        """(input_size is unused: SAM 2 does not pad)"""
        del input_size
        return resize_masks(masks, original_size)
