"""The SAM 3 family's ONNX prompt decoder: SAM 2.1's (same features, prompt inputs and point
padding; the tracker's decoder is SAM 2.1's), plus the input early_features 1 x S/14 x S/14 x C_vit
(the first global ViT block's output) for the early-fusion variants."""

import torch

from ..sam2.onnx import Sam2OnnxDecoder


class Sam3OnnxDecoder(Sam2OnnxDecoder):
    def __init__(self, model, **kwargs) -> None:
        super().__init__(model, **kwargs)
        if model.early_fusion:
            self.feature_inputs = {**Sam2OnnxDecoder.feature_inputs, "early": "early_features"}

    def example_features(self, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        features = super().example_features(gen)
        if not self.model.early_fusion:
            return features
        h, w = self.prompt_encoder.image_embedding_size
        vit_dim = self.model.sam_mask_decoder.compress_vit_feat[0].in_channels
        return (*features, torch.randn(1, h, w, vit_dim, generator=gen))
