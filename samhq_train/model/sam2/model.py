"""Sam2HQ: SAM 2.1 (Hiera) image encoder + prompt encoder + HQ-SAM 2 mask decoder, with batched
prompts and the conventions of the SAM 1 family's SamHQ (PromptableModel.decode). Its prompt side
(Sam2PromptSide) is also SAM 3's."""

from dataclasses import dataclass

import torch
from torch import nn

from ..features import ImageFeatures
from ..prompt_encoder import PromptEncoder
from ..promptable import PromptableModel
from .config import TrackingConfig
from .image_encoder import ImageEncoder
from .layers import MLP
from .mask_decoder import MaskDecoderHQ
from .memory import MemoryAttention, MemoryEncoder
from .processing import SquareProcessing


@dataclass(frozen=True)
class Sam2Features(ImageFeatures):
    """SAM 2.1 family: what SAM2ImagePredictor.set_image stores."""

    embedding: torch.Tensor  # B x C x S/16 x S/16, with no_mem_embed added
    high_res_0: torch.Tensor  # B x C/8 x S/4 x S/4, the stride-4 FPN map after conv_s0
    high_res_1: torch.Tensor  # B x C/4 x S/8 x S/8, the stride-8 FPN map after conv_s1


class Sam2PromptSide(PromptableModel):
    """The prompt side of SAM 2.1's image predictor, which SAM 3's interactive path shares: boxes
    enter as two corner points ahead of the points, and the decoder takes each prompt's image
    embedding and high-res maps (Sam2Features). Subclasses hold sam_prompt_encoder and
    sam_mask_decoder (HQ-SAM 2's MaskDecoderHQ: see its forward for M and M_iou)."""

    @property
    def image_size(self) -> int:
        """Side S of the square model input."""
        return self.sam_prompt_encoder.input_image_size[0]

    @property
    def mask_input_size(self) -> int:
        """Side of the low-res logits and of dense mask prompts (S / 4)."""
        return self.sam_prompt_encoder.mask_input_size[0]

    @property
    def prompt_parts(self) -> tuple[PromptEncoder, MaskDecoderHQ]:
        return self.sam_prompt_encoder, self.sam_mask_decoder

    def embed_prompts(self, *, points, boxes, masks, count: int):
        """See PromptableModel.embed_prompts; a box is the points (x0, y0) labelled 2 and
        (x1, y1) labelled 3, ahead of the prompt's points, as SAM2ImagePredictor feeds it."""
        coords = labels = None
        if boxes is not None:
            coords = boxes.reshape(count, 2, 2)
            labels = torch.tensor([2, 3], device=boxes.device).expand(count, 2)
        if points is not None:
            pc, pl = points
            coords = pc if coords is None else torch.cat([coords, pc], dim=1)
            labels = pl if labels is None else torch.cat([labels, pl.to(labels.dtype)], dim=1)
        return self.sam_prompt_encoder(
            points=None if coords is None else (coords, labels), masks=masks, batch_size=count
        )

    def image_inputs(self, features: Sam2Features, per_image: int, use_hq: bool) -> dict:
        """Each prompt gets its image's embedding and high-res maps (repeated per prompt)."""

        def per_prompt(t: torch.Tensor) -> torch.Tensor:
            return t.repeat_interleave(per_image, dim=0)

        return {
            "image_embeddings": per_prompt(features.embedding),
            "high_res_features": (per_prompt(features.high_res_0), per_prompt(features.high_res_1)),
        }


class Sam2HQ(Sam2PromptSide):
    """The image-segmentation model of SAM 2.1 / HQ-SAM 2.

    memory_attention, memory_encoder, mask_downsample, obj_ptr_proj, obj_ptr_tpos_proj,
    maskmem_tpos_enc, no_mem_pos_enc, no_obj_ptr and no_obj_embed_spatial are the video parts of
    the official model, used by the video tracker (tracking.py, with the `tracking` settings);
    image segmentation leaves them out. no_mem_embed is used by both: encode adds it to the image
    embedding, as the tracker does on a frame without memory.
    """

    family = "sam2"
    features_type = Sam2Features
    processing_type = SquareProcessing

    def __init__(
        self,
        *,
        image_encoder: ImageEncoder,
        prompt_encoder: PromptEncoder,
        mask_decoder: MaskDecoderHQ,
        memory_attention: MemoryAttention,
        memory_encoder: MemoryEncoder,
        num_maskmem: int,
        mem_dim: int,
        use_obj_ptrs_in_encoder: bool = True,
        use_mlp_for_obj_ptr_proj: bool = True,
        proj_tpos_enc_in_obj_ptrs: bool = True,
        no_obj_embed_spatial: bool = True,
        directly_add_no_mem_embed: bool = True,
        tracking: TrackingConfig | None = None,
        pixel_mean: tuple[float, ...] = SquareProcessing.pixel_mean,
        pixel_std: tuple[float, ...] = SquareProcessing.pixel_std,
    ) -> None:
        super().__init__()
        hidden = prompt_encoder.embed_dim
        # registration order = the official state_dict order (own tensors first, then modules)
        self.image_encoder = image_encoder
        self.mask_downsample = (
            nn.Conv2d(1, 1, kernel_size=4, stride=4) if use_obj_ptrs_in_encoder else None
        )
        self.memory_attention = memory_attention
        self.memory_encoder = memory_encoder
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(num_maskmem, 1, 1, mem_dim))
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, hidden))
        self.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, hidden))
        if mask_decoder.pred_obj_scores and use_obj_ptrs_in_encoder:
            self.no_obj_ptr = nn.Parameter(torch.zeros(1, hidden))
        if no_obj_embed_spatial:
            self.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, mem_dim))
        self.sam_prompt_encoder = prompt_encoder
        self.sam_mask_decoder = mask_decoder
        if use_obj_ptrs_in_encoder:
            if use_mlp_for_obj_ptr_proj:
                self.obj_ptr_proj = MLP(hidden, hidden, hidden, 3)
            else:
                self.obj_ptr_proj = nn.Linear(hidden, hidden)
        if proj_tpos_enc_in_obj_ptrs:
            self.obj_ptr_tpos_proj = nn.Linear(hidden, mem_dim)
        self.directly_add_no_mem_embed = directly_add_no_mem_embed
        self.num_maskmem, self.mem_dim = num_maskmem, mem_dim
        self.tracking = TrackingConfig() if tracking is None else tracking
        self.register_pixel_stats(pixel_mean, pixel_std)

    def encode(self, images: torch.Tensor, content_sizes=None) -> Sam2Features:
        """B x 3 x S x S RGB 0-255 (already resized to the square) -> Sam2Features."""
        decoder = self.sam_mask_decoder
        if not decoder.use_high_res_features:
            raise ValueError(
                "this SAM 2 model has no high-res decoder features (conv_s0 / conv_s1)"
            )
        features, _ = self.image_encoder(self.preprocess(images, content_sizes))
        embedding = features[-1]
        if self.directly_add_no_mem_embed:
            embedding = embedding + self.no_mem_embed.view(1, -1, 1, 1)
        return Sam2Features(
            embedding=embedding,
            high_res_0=decoder.conv_s0(features[0]),
            high_res_1=decoder.conv_s1(features[1]),
        )
