"""SAM 3 interactive-path shapes: the ViT trunk, the SAM 2-style neck and heads, the tracker's
memory parts and tracking settings, and the variants.

What the point / box ("SAM 1 task") path and the tracker compute is configured here, and the
concept detector's sizes (text and exemplar prompts): its tensors are carried by the model
(carried.py) and computed on demand (concept/detector.py).
"""

from dataclasses import dataclass, field, replace

from ..sam2.config import DecoderConfig, MemoryConfig, TrackingConfig
from .concept.config import ConceptConfig

# model_builder.build_tracker's settings where they differ from SAM 2.1's (the rest are equal)
SAM3_TRACKING = TrackingConfig(max_cond_frames_in_attn=4)


@dataclass(frozen=True)
class VitConfig:
    """detector.backbone.vision_backbone.trunk (sam3's vitdet.ViT as model_builder builds it)."""

    img_size: int = 1008
    patch_size: int = 14
    embed_dim: int = 1024
    depth: int = 32
    num_heads: int = 16
    mlp_ratio: float = 4.625
    window_size: int = 24
    global_att_blocks: tuple[int, ...] = (7, 15, 23, 31)
    pretrain_img_size: int = 336  # the absolute position embedding's grid (plus a cls slot), tiled
    rope_theta: float = 10000.0

    @property
    def grid(self) -> int:
        return self.img_size // self.patch_size

    @property
    def mlp_dim(self) -> int:
        return int(self.embed_dim * self.mlp_ratio)


@dataclass(frozen=True)
class Sam3Config:
    vit: VitConfig = field(default_factory=VitConfig)
    d_model: int = 256  # the sam2 neck's width = the tracker's hidden_dim
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    neck_scale_factors: tuple[float, ...] = (
        4.0,
        2.0,
        1.0,
        0.5,
    )  # the last one is dropped (scalp 1)
    # HQ design: False = HQ-SAM 2's (HQ token + mask-feature block on the high-res-fused upscaled
    # embedding); True adds HQ-SAM 1's fusion of the first global ViT block's output
    hq_early_fusion: bool = False
    # the tracker's memory attention and memory encoder (model_builder's
    # _create_tracker_transformer / _create_tracker_maskmem_backbone: SAM 2.1's shapes)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    tracking: TrackingConfig = SAM3_TRACKING
    # the concept detector (text / exemplar prompts), built on demand from a file's detector
    # tensors (concept/detector.py: concept_detector)
    concept: ConceptConfig = field(default_factory=ConceptConfig)

    @property
    def image_size(self) -> int:
        return self.vit.img_size

    @property
    def memory_mask_size(self) -> int:
        """Side masks are resized to before the memory encoder (its stride 16 reaches the token
        grid): 1152 for 1008 px, Meta's interpol_size and the tracker's input_mask_size."""
        return self.vit.grid * 16

    @property
    def base_config(self) -> "Sam3Config":
        """The same SAM 3 without the HQ design choice: what a Meta file (no HQ keys) fits."""
        return replace(self, hq_early_fusion=False)


VARIANTS: dict[str, Sam3Config] = {
    # sam3.pt (model_builder: _create_vit_backbone, _create_vit_neck, build_tracker)
    "sam3_hq": Sam3Config(),
    # for tests and the demo: a miniature (224 px, 16 x 16 tokens, windows of 8, 4 blocks of width
    # 64, heads 64 wide with the two-way transformer's official 8 heads and 2048-wide MLP, as
    # Meta's _build_sam_heads hard-codes them)
    "sam3_hq_demo": Sam3Config(
        vit=VitConfig(
            img_size=224,
            embed_dim=64,
            depth=4,
            num_heads=2,
            window_size=8,
            global_att_blocks=(1, 3),
            pretrain_img_size=112,
        ),
        d_model=64,
        decoder=DecoderConfig(iou_head_hidden_dim=256),
        # memories 16 wide, one memory-attention layer and one fuser block
        memory=MemoryConfig(
            attention_layers=1,
            attention_dim_feedforward=128,
            attention_kv_in_dim=16,
            encoder_in_dim=64,
            encoder_out_dim=16,
            downsampler_embed_dim=64,
            fuser_layers=1,
            fuser_dim=64,
        ),
        # 4 heads of 16, 2 layers each, 12 queries, a 64-wide 2-layer text encoder on a small
        # vocabulary (tests build Meta's detector at these sizes)
        concept=ConceptConfig(
            d_model=64,
            num_heads=4,
            dim_feedforward=128,
            encoder_layers=2,
            decoder_layers=2,
            geometry_layers=2,
            num_queries=12,
            text_width=64,
            text_heads=2,
            text_layers=2,
            vocab_size=764,  # tests: the synthetic merges file of 250 merges
        ),
    ),
}

# the same sizes with HQ-SAM 1's early-feature fusion added to the HQ decoder
VARIANTS["sam3_hq_ef"] = replace(VARIANTS["sam3_hq"], hq_early_fusion=True)
VARIANTS["sam3_hq_ef_demo"] = replace(VARIANTS["sam3_hq_demo"], hq_early_fusion=True)

# Meta's checkpoint name -> the variant with its shapes
META_VARIANTS = {"sam3": "sam3_hq"}
