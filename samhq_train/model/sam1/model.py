"""SamHQ: image encoder + prompt encoder + HQ mask decoder, with batched prompts."""

import torch

from ..features import SamFeatures
from ..prompt_encoder import PromptEncoder
from ..promptable import PromptableModel
from .image_encoder import ImageEncoderViT
from .mask_decoder import MaskDecoderHQ
from .processing import LongestSideProcessing
from .tiny_vit import TinyViT


class SamHQ(PromptableModel):
    family = "sam1"
    features_type = SamFeatures
    processing_type = LongestSideProcessing

    def __init__(
        self,
        *,
        image_encoder: ImageEncoderViT | TinyViT,
        prompt_encoder: PromptEncoder,
        mask_decoder: MaskDecoderHQ,
        pixel_mean: tuple[float, ...] = LongestSideProcessing.pixel_mean,
        pixel_std: tuple[float, ...] = LongestSideProcessing.pixel_std,
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        self.register_pixel_stats(pixel_mean, pixel_std)

    @property
    def image_size(self) -> int:
        """Side S of the square model input."""
        return self.image_encoder.img_size

    @property
    def mask_input_size(self) -> int:
        """Side of the low-res logits and of dense mask prompts (S / 4)."""
        return self.prompt_encoder.mask_input_size[0]

    def encode(self, images: torch.Tensor, content_sizes=None) -> SamFeatures:
        """B x 3 x H x W RGB 0-255 -> embedding B x C x S/16 x S/16 and early
        B x S/16 x S/16 x C_vit."""
        embedding, early = self.image_encoder(self.preprocess(images, content_sizes))
        return SamFeatures(embedding=embedding, early=early)

    @property
    def prompt_parts(self) -> tuple[PromptEncoder, MaskDecoderHQ]:
        return self.prompt_encoder, self.mask_decoder

    def embed_prompts(self, *, points, boxes, masks, count: int):
        """See PromptableModel.embed_prompts (boxes as SAM 1's prompt encoder takes them)."""
        return self.prompt_encoder(points=points, boxes=boxes, masks=masks, batch_size=count)

    def image_inputs(self, features: SamFeatures, per_image: int, use_hq: bool) -> dict:
        """SAM-HQ's decoder takes each image once (it repeats them per prompt itself)."""
        return {"image_embeddings": features.embedding, "early_features": features.early}
