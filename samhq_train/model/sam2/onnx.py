"""The SAM 2.1 family's ONNX graphs. The image encoder takes the S x S resized image, any batch,
and outputs the features below. For the prompt decoder, the features are what SAM2ImagePredictor
keeps, as in Meta's SAM 2 ONNX exports: image_embeddings 1 x C x S/16 x S/16 (no_mem_embed added),
high_res_feats_0 1 x C/8 x S/4 x S/4, high_res_feats_1 1 x C/4 x S/8 x S/8. The prompt inputs are
SAM 1's, box corners first as SAM 2 orders them, except that the graph appends the padding point
SAM 2 always adds (so none is given without a box)."""

import torch
from torch import nn

from ..onnx_decoder import OnnxPromptDecoder
from ..onnx_encoder import OnnxImageEncoder

# Sam2Features' fields -> their ONNX names (encoder outputs, decoder inputs)
FEATURE_NAMES = {
    "embedding": "image_embeddings",
    "high_res_0": "high_res_feats_0",
    "high_res_1": "high_res_feats_1",
}


class Sam2OnnxEncoder(OnnxImageEncoder):
    feature_outputs = FEATURE_NAMES


class Sam2OnnxDecoder(OnnxPromptDecoder):
    feature_inputs = FEATURE_NAMES

    @property
    def prompt_encoder(self) -> nn.Module:
        return self.model.sam_prompt_encoder

    def embed_points(self, coords: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.prompt_encoder.embed_points(coords, labels, pad=True)

    def example_features(self, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        h, w = self.prompt_encoder.image_embedding_size
        decoder = self.model.sam_mask_decoder
        return (
            torch.randn(1, self.prompt_encoder.embed_dim, h, w, generator=gen),
            torch.randn(1, decoder.conv_s0.out_channels, 4 * h, 4 * w, generator=gen),
            torch.randn(1, decoder.conv_s1.out_channels, 2 * h, 2 * w, generator=gen),
        )
