"""SamHQ: image encoder + prompt encoder + HQ mask decoder, with batched prompts."""

import torch

from ..features import SamFeatures
from ..prompt_encoder import PromptEncoder
from ..promptable import PromptableModel, prompts_per_image
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
        self.register_buffer(
            "pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), persistent=False
        )
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), persistent=False)

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

    def decode(
        self,
        features: SamFeatures,
        *,
        points: tuple[torch.Tensor, torch.Tensor] | None = None,
        boxes: torch.Tensor | None = None,
        mask_inputs: torch.Tensor | None = None,
        multimask_output: bool = False,
        hq_token_only: bool = False,
        use_hq: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode P prompts on each of B images.

        points: (coords B x P x N x 2 as (x, y) in input pixels, labels B x P x N with 1 = positive,
        0 = negative, -1 = padding); boxes: B x P x 4 (x0, y0, x1, y1); mask_inputs: B x P x 1 x
        S/4 x S/4 logits. Returns low-res logits B x P x M x S/4 x S/4 and IoU predictions B x P x M
        (see MaskDecoderHQ.forward for M).
        """
        b = features.batch_size
        per_image = prompts_per_image(b, points, boxes, mask_inputs)
        sparse, dense = self.prompt_encoder(
            points=None if points is None else (points[0].flatten(0, 1), points[1].flatten(0, 1)),
            boxes=None if boxes is None else boxes.flatten(0, 1),
            masks=None if mask_inputs is None else mask_inputs.flatten(0, 1),
            batch_size=b * per_image,
        )
        masks, iou = self.decode_embedded(
            features,
            sparse,
            dense,
            multimask_output=multimask_output,
            hq_token_only=hq_token_only,
            use_hq=use_hq,
        )
        return masks.unflatten(0, (b, per_image)), iou.unflatten(0, (b, per_image))

    def decode_embedded(
        self,
        features: SamFeatures,
        sparse: torch.Tensor,
        dense: torch.Tensor,
        *,
        multimask_output: bool = False,
        hq_token_only: bool = False,
        use_hq: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The mask decoder on already-embedded prompts: sparse (B*P) x K x C, dense
        (B*P) x C x h x w (prompts of one image contiguous) -> low-res logits
        (B*P) x M x 4h x 4w, IoU (B*P) x M."""
        return self.mask_decoder(
            image_embeddings=features.embedding,
            early_features=features.early,
            image_pe=self.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
            hq_token_only=hq_token_only,
            use_hq=use_hq,
        )
