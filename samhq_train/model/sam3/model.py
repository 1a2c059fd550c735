"""Sam3HQ: SAM 3's interactive ("SAM 1 task") image path with the HQ-SAM 2 decoder.

Official layout: the ViT trunk and the sam2 neck under detector.backbone.vision_backbone, the
prompt encoder, mask decoder, no_mem_embed and the video memory parts (memory attention at
tracker.transformer.encoder, memory encoder at tracker.maskmem_backbone, the object-pointer
projections and the learned embeddings; the video tracker in tracking.py uses them) under
tracker. Everything else of a Meta sam3.pt (the detector's heads, text encoder and own neck) is
carried as buffers (carried.py) and returned unchanged by state_dict()."""

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..prompt_encoder import PromptEncoder
from ..sam2.config import TrackingConfig
from ..sam2.layers import MLP
from ..sam2.mask_decoder import MaskDecoderHQ
from ..sam2.memory import MemoryAttention, MemoryEncoder
from ..sam2.model import Sam2Features, Sam2PromptSide
from .concept.config import ConceptConfig
from .image_encoder import VisionBackbone
from .mask_decoder import MaskDecoderHQFusion
from .processing import Sam3Processing

# module paths of what the model computes; any other detector. / tracker. key of a file is carried
# (adopted before loading: the family record's adopt_state)
COMPUTED_PREFIXES = (
    "detector.backbone.vision_backbone.trunk.",
    "detector.backbone.vision_backbone.sam2_convs.",
    "tracker.sam_prompt_encoder.",
    "tracker.sam_mask_decoder.",
    "tracker.no_mem_embed",
)
# the tracker's video parts (Sam3HQ.tracker children), computed too
VIDEO_PARTS = (
    "maskmem_tpos_enc",
    "no_mem_pos_enc",
    "no_obj_ptr",
    "no_obj_embed_spatial",
    "mask_downsample",
    "transformer",
    "maskmem_backbone",
    "obj_ptr_proj",
    "obj_ptr_tpos_proj",
)
VIDEO_PREFIXES = tuple(f"tracker.{part}." for part in VIDEO_PARTS) + tuple(
    f"tracker.{part}" for part in VIDEO_PARTS[:4]
)
COMPUTED_PREFIXES += VIDEO_PREFIXES
CARRIED_BUFFER_SUFFIX = ".attn.freqs_cis"  # Meta's precomputed RoPE rotations (ours: rope_cos/sin)


@dataclass(frozen=True)
class Sam3Features(Sam2Features):
    """SAM 3 family: what SAM3InteractiveImagePredictor.set_image stores (same fields as SAM 2.1:
    embedding with no_mem_embed added at S/14, high_res_0 at 4x and high_res_1 at 2x that grid,
    after conv_s0 / conv_s1)."""


@dataclass(frozen=True)
class Sam3EarlyFeatures(Sam3Features):
    """With HQ-SAM 1's early-feature fusion: also the first global ViT block's output."""

    early: torch.Tensor  # B x S/14 x S/14 x C_vit


class VideoParts(NamedTuple):
    """The tracker's video modules (the family's build draws them apart from the image path)."""

    memory_attention: MemoryAttention
    memory_encoder: MemoryEncoder
    mask_downsample: nn.Conv2d  # a mask prompt to the decoder's mask input (object pointers)
    obj_ptr_proj: MLP  # SAM's output token -> the object pointer
    obj_ptr_tpos_proj: nn.Linear  # the pointers' temporal encoding -> memory width
    num_maskmem: int = 7


def is_carried_key(key: str) -> bool:
    """Whether a file's key belongs to what the model carries rather than computes."""
    if not key.startswith(("detector.", "tracker.")):
        return False
    return not key.startswith(COMPUTED_PREFIXES) or key.endswith(CARRIED_BUFFER_SUFFIX)


class Sam3HQ(Sam2PromptSide):
    family = "sam3"
    features_type = Sam3Features
    processing_type = Sam3Processing

    def __init__(
        self,
        *,
        vision_backbone: VisionBackbone,
        prompt_encoder: PromptEncoder,
        mask_decoder: MaskDecoderHQ,
        video: VideoParts,
        tracking: TrackingConfig | None = None,
        concept: ConceptConfig | None = None,
        pixel_mean: tuple[float, ...] = Sam3Processing.pixel_mean,
        pixel_std: tuple[float, ...] = Sam3Processing.pixel_std,
    ) -> None:
        super().__init__()
        self.detector = nn.Module()
        self.detector.backbone = nn.Module()
        self.detector.backbone.vision_backbone = vision_backbone
        hidden = prompt_encoder.embed_dim
        mem_dim = video.obj_ptr_tpos_proj.out_features
        # Sam3TrackerBase's registration order (its state_dict order)
        t = self.tracker = nn.Module()
        t.maskmem_tpos_enc = nn.Parameter(torch.zeros(video.num_maskmem, 1, 1, mem_dim))
        t.no_mem_embed = nn.Parameter(torch.zeros(1, 1, hidden))
        t.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, hidden))
        t.no_obj_ptr = nn.Parameter(torch.zeros(1, hidden))
        t.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, mem_dim))
        t.mask_downsample = video.mask_downsample
        t.transformer = nn.Module()
        t.transformer.encoder = video.memory_attention
        t.maskmem_backbone = video.memory_encoder
        t.sam_prompt_encoder = prompt_encoder
        t.sam_mask_decoder = mask_decoder
        t.obj_ptr_proj = video.obj_ptr_proj
        t.obj_ptr_tpos_proj = video.obj_ptr_tpos_proj
        self.num_maskmem, self.mem_dim = video.num_maskmem, mem_dim
        self.tracking = TrackingConfig() if tracking is None else tracking
        self.concept_config = concept  # the detector's sizes (concept.detector.concept_detector)
        self.early_fusion = isinstance(mask_decoder, MaskDecoderHQFusion)
        if self.early_fusion:
            self.features_type = Sam3EarlyFeatures
        self.register_pixel_stats(pixel_mean, pixel_std)

    # the parts by their roles (what train.py, the cache and the ONNX export ask for)
    @property
    def image_encoder(self) -> VisionBackbone:
        return self.detector.backbone.vision_backbone

    @property
    def sam_prompt_encoder(self) -> PromptEncoder:
        return self.tracker.sam_prompt_encoder

    @property
    def sam_mask_decoder(self) -> MaskDecoderHQ:
        return self.tracker.sam_mask_decoder

    # the video parts under the names Sam2HQ gives them (what the tracker step reads)
    directly_add_no_mem_embed = True

    @property
    def has_video_parts(self) -> bool:
        return hasattr(self.tracker, "maskmem_backbone")

    def attach_video_parts(self, video: VideoParts) -> None:
        """Give a model without video parts (loaded from an image-only file) these modules and
        fresh learned embeddings, drawn as Sam3TrackerBase.__init__ draws them (truncated
        normal, std 0.02); no_mem_embed (an image-path tensor) is kept."""
        if self.has_video_parts:
            raise ValueError("this SAM 3 model already has its video parts")
        t, hidden = self.tracker, self.sam_prompt_encoder.embed_dim
        mem_dim = video.obj_ptr_tpos_proj.out_features
        device = t.no_mem_embed.device
        embeddings = {
            "maskmem_tpos_enc": (video.num_maskmem, 1, 1, mem_dim),
            "no_mem_pos_enc": (1, 1, hidden),
            "no_obj_ptr": (1, hidden),
            "no_obj_embed_spatial": (1, mem_dim),
        }
        for name, shape in embeddings.items():
            setattr(t, name, nn.Parameter(nn.init.trunc_normal_(torch.zeros(shape), std=0.02)))
        t.mask_downsample = video.mask_downsample
        t.transformer = nn.Module()
        t.transformer.encoder = video.memory_attention
        t.maskmem_backbone = video.memory_encoder
        t.obj_ptr_proj = video.obj_ptr_proj
        t.obj_ptr_tpos_proj = video.obj_ptr_tpos_proj
        self.num_maskmem, self.mem_dim = video.num_maskmem, mem_dim
        self.tracker.to(device)

    def drop_video_parts(self) -> None:
        """Remove the video parts (for a file that has none: it loads and saves back as is)."""
        for part in VIDEO_PARTS:
            if hasattr(self.tracker, part):
                delattr(self.tracker, part)

    @property
    def memory_attention(self) -> MemoryAttention:
        return self.tracker.transformer.encoder

    @property
    def memory_encoder(self) -> MemoryEncoder:
        return self.tracker.maskmem_backbone

    @property
    def mask_downsample(self) -> nn.Conv2d:
        return self.tracker.mask_downsample

    @property
    def obj_ptr_proj(self) -> MLP:
        return self.tracker.obj_ptr_proj

    @property
    def obj_ptr_tpos_proj(self) -> nn.Linear:
        return self.tracker.obj_ptr_tpos_proj

    @property
    def maskmem_tpos_enc(self) -> nn.Parameter:
        return self.tracker.maskmem_tpos_enc

    @property
    def no_mem_embed(self) -> nn.Parameter:
        return self.tracker.no_mem_embed

    @property
    def no_mem_pos_enc(self) -> nn.Parameter:
        return self.tracker.no_mem_pos_enc

    @property
    def no_obj_ptr(self) -> nn.Parameter:
        return self.tracker.no_obj_ptr

    @property
    def no_obj_embed_spatial(self) -> nn.Parameter:
        return self.tracker.no_obj_embed_spatial

    def encode(self, images: torch.Tensor, content_sizes=None) -> Sam3Features:
        """B x 3 x S x S RGB 0-255 (already resized to the square) -> Sam3Features."""
        x = self.preprocess(images, content_sizes)
        early = None
        if self.early_fusion:
            features, early = self.image_encoder(x, self.early_block)
        else:
            features = self.image_encoder(x)
        return self.features_from_neck(features, early)

    @property
    def early_block(self) -> int:
        """The trunk block whose output early fusion reads (the first global one)."""
        return self.image_encoder.trunk.global_att_blocks[0]

    def features_from_neck(self, features: list[torch.Tensor], early=None) -> Sam3Features:
        """What the interactive path decodes from the sam2 neck's maps (no_mem_embed added, the
        decoder's high-res convs applied; early: the early-fusion block's output)."""
        decoder = self.sam_mask_decoder
        fields = dict(
            embedding=features[-1] + self.tracker.no_mem_embed.view(1, -1, 1, 1),
            high_res_0=decoder.conv_s0(features[0]),
            high_res_1=decoder.conv_s1(features[1]),
        )
        return Sam3Features(**fields) if early is None else Sam3EarlyFeatures(**fields, early=early)

    def embed_prompts(self, *, points, boxes, masks, count: int):
        """SAM 2.1's (see Sam2PromptSide.embed_prompts). Mask prompts of another size than
        S/14 * 4 are resized to it first (bilinear, antialiased), as Meta's tracker does: the data
        pipeline draws them at S / 4, SAM 1's and SAM 2's size."""
        size = (self.mask_input_size,) * 2
        if masks is not None and tuple(masks.shape[-2:]) != size:
            masks = F.interpolate(
                masks.float(),
                size,
                mode="bilinear",
                align_corners=False,
                antialias=True,
            ).to(masks.dtype)
        return super().embed_prompts(points=points, boxes=boxes, masks=masks, count=count)

    def image_inputs(self, features: Sam3Features, per_image: int, use_hq: bool) -> dict:
        """SAM 2.1's; with early fusion the HQ mask feature also gets the fused early /
        embedding features."""
        inputs = super().image_inputs(features, per_image, use_hq)
        if use_hq and self.early_fusion:
            fused = self.sam_mask_decoder.hq_features(features.embedding, features.early)
            inputs["hq_features"] = fused.repeat_interleave(per_image, dim=0)
        return inputs
