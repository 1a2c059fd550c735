"""The SAM 1 family's ONNX graphs. The image encoder takes the resized image of any h x w with the
long side S (it normalises and pads to S x S) and any batch. The prompt decoder takes features
image_embeddings 1 x C x S/16 x S/16 and early_features 1 x S/16 x S/16 x C_vit; without a box,
append a padding point (0, 0) with label -1 (as SAM's ONNX export)."""

import torch
from torch import nn

from ..onnx_decoder import OnnxPromptDecoder
from ..onnx_encoder import OnnxImageEncoder

# SamFeatures' fields -> their ONNX names (encoder outputs, decoder inputs)
FEATURE_NAMES = {"embedding": "image_embeddings", "early": "early_features"}


class Sam1OnnxEncoder(OnnxImageEncoder):
    feature_outputs = FEATURE_NAMES
    dynamic_size = True


class Sam1OnnxDecoder(OnnxPromptDecoder):
    feature_inputs = FEATURE_NAMES

    @property
    def prompt_encoder(self) -> nn.Module:
        return self.model.prompt_encoder

    def embed_points(self, coords: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # labels 2 / 3 are the box corners, as in SAM's ONNX export
        return self.prompt_encoder.embed_points(coords, labels, pad=False)

    def example_features(self, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        grid = self.prompt_encoder.image_embedding_size
        vit_dim = self.model.mask_decoder.compress_vit_feat[0].in_channels
        return (
            torch.randn(1, self.prompt_encoder.embed_dim, *grid, generator=gen),
            torch.randn(1, *grid, vit_dim, generator=gen),
        )
