"""SAM 3's interactive mask decoder is SAM 2.1's, and its HQ decoder HQ-SAM 2's
(sam2/mask_decoder.py:
hf_token, hf_mlp, embedding_maskfeature under tracker.sam_mask_decoder). This file adds the option
of HQ-SAM 1's early-feature fusion: the output of the ViT's first global block (C_vit wide at the
token grid) and the image embedding, each upscaled 4x to C/8 channels, are added to the HQ mask
feature (HQ-SAM 1's compress_vit_feat and embedding_encoder, same names and shapes)."""

import torch
from torch import nn

from ..common import LayerNorm2d, early_to_nchw
from ..sam2.mask_decoder import MaskDecoderHQ


def _upscale4(in_dim: int, mid: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(in_dim, mid, kernel_size=2, stride=2),
        LayerNorm2d(mid),
        nn.GELU(),
        nn.ConvTranspose2d(mid, out, kernel_size=2, stride=2),
    )


class MaskDecoderHQFusion(MaskDecoderHQ):
    """HQ-SAM 2's decoder plus HQ-SAM 1's early-feature fusion."""

    def __init__(self, *, vit_dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        c = kwargs["transformer_dim"]
        self.compress_vit_feat = _upscale4(vit_dim, c, c // 8)
        self.embedding_encoder = _upscale4(c, c // 4, c // 8)

    def hq_features(self, embedding: torch.Tensor, early: torch.Tensor) -> torch.Tensor:
        """embedding B x C x g x g, early B x g x g x C_vit -> B x C/8 x 4g x 4g."""
        local = self.compress_vit_feat(early_to_nchw(early, self.compress_vit_feat[0]))
        return self.embedding_encoder(embedding) + local
