"""The ONNX image encoder shared by the families: normalisation (and SAM 1's padding) + the image
encoder, in a form torch.onnx traces. Each family folder's onnx.py subclasses it with its output
names (the inputs of its OnnxPromptDecoder, so the encoder's outputs feed the decoder by name) and
what may vary; inference/onnx_encoder_export.py writes and checks the graph.

Input: image B x 3 x h x w float32, RGB on the 0-255 scale, already resized by the family's rule
(the model's `processing.resize_image`: SAM 1 long side S, SAM 2.1 S x S); the graph normalises
and pads. Outputs: the image features' tensors, batch first, float32, in field order.
The resize stays outside the graph: SAM 1's is PIL's bilinear filter on uint8 (rounded), which ONNX
Resize does not reproduce.
"""

import torch
from torch import nn

from .promptable import PromptableModel

ONNX_IMAGE_INPUT = "image"


class OnnxImageEncoder(nn.Module):
    """Subclasses set `feature_outputs` (the features' fields -> output names) and may set
    `dynamic_size` (h, w of the input free: the graph pads; else S x S) and `dynamic_batch`."""

    feature_outputs: dict[str, str]
    dynamic_size: bool = False
    dynamic_batch: bool = True

    def __init__(self, model: PromptableModel) -> None:
        super().__init__()
        self.model = model

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(self.feature_outputs[name] for name in self.model.features_type.field_names())

    @property
    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        axes = {name: {0: "batch"} for name in self.output_names} if self.dynamic_batch else {}
        image = {0: "batch"} if self.dynamic_batch else {}
        if self.dynamic_size:
            image |= {2: "height", 3: "width"}
        return {ONNX_IMAGE_INPUT: image, **axes} if image else axes

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """image B x 3 x h x w float32 RGB 0-255 -> the features' tensors, float32. The model may
        be half precision: the image is cast to its dtype and the features back to float32."""
        dtype = self.model.pixel_mean.dtype
        features = self.model.encode(image.to(dtype)).tensors()
        return tuple(features[name].float() for name in self.model.features_type.field_names())

    def example_image(self, batch: int = 1, seed: int = 0, size=None) -> torch.Tensor:
        """A random B x 3 x h x w image on the 0-255 scale; size (h, w) defaults to S x S."""
        s = self.model.image_size
        h, w = size or (s, s)
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(batch, 3, h, w, generator=gen) * 255

    def example_sizes(self) -> list[tuple[int, int]]:
        """Input sizes a check should try (the graph is traced at S x S): with dynamic_size a
        portrait and a landscape long-side shape, else S x S."""
        s = self.model.image_size
        return [(s, s * 3 // 4), (s * 2 // 3, s)] if self.dynamic_size else [(s, s)]
