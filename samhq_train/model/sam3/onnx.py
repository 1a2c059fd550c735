"""The SAM 3 family's ONNX graphs: SAM 2.1's image encoder outputs and prompt decoder (same
features, prompt inputs and point padding; the tracker's decoder is SAM 2.1's), plus
early_features 1 x S/14 x S/14 x C_vit (the first global ViT block's output) for the
early-fusion variants."""

import torch

from ..sam2.onnx import FEATURE_NAMES, Sam2OnnxDecoder, Sam2OnnxEncoder

EARLY_FEATURE_NAMES = {**FEATURE_NAMES, "early": "early_features"}


class Sam3OnnxEncoder(Sam2OnnxEncoder):
    def __init__(self, model) -> None:
        super().__init__(model)
        if model.early_fusion:
            self.feature_outputs = EARLY_FEATURE_NAMES


class Sam3OnnxDecoder(Sam2OnnxDecoder):
    def __init__(self, model, **kwargs) -> None:
        super().__init__(model, **kwargs)
        if model.early_fusion:
            self.feature_inputs = EARLY_FEATURE_NAMES

    def example_features(self, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        features = super().example_features(gen)
        if not self.model.early_fusion:
            return features
        h, w = self.prompt_encoder.image_embedding_size
        vit_dim = self.model.sam_mask_decoder.compress_vit_feat[0].in_channels
        return (*features, torch.randn(1, h, w, vit_dim, generator=gen))
