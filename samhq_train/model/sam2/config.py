"""SAM 2.1 / HQ-SAM 2 shapes: the config dataclasses and the four official sizes.

Plain SAM 2.1 and HQ-SAM 2 share one architecture (the HQ parts are extra modules, switched off
with use_hq=False), so each size has one config.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HieraConfig:
    """image_encoder.trunk (hieradet.Hiera)."""

    embed_dim: int
    num_heads: int
    stages: tuple[int, ...]
    global_att_blocks: tuple[int, ...]
    window_pos_embed_bkg_spatial_size: tuple[int, int]
    window_spec: tuple[int, ...] = (8, 4, 14, 7)
    q_pool: int = 3
    dim_mul: float = 2.0
    head_mul: float = 2.0

    @property
    def channel_list(self) -> tuple[int, ...]:
        """Stage widths, coarsest first (the order of the neck's backbone_channel_list)."""
        widths = [self.embed_dim]
        for _ in self.stages[1:]:
            widths.append(int(widths[-1] * self.dim_mul))
        return tuple(reversed(widths))


@dataclass(frozen=True)
class NeckConfig:
    """image_encoder.neck (FpnNeck) and image_encoder.scalp."""

    backbone_channel_list: tuple[int, ...]
    d_model: int = 256
    fpn_top_down_levels: tuple[int, ...] = (2, 3)
    fpn_interp_model: str = "nearest"
    num_pos_feats: int = 256
    scalp: int = 1


@dataclass(frozen=True)
class DecoderConfig:
    """The SAM heads (built in SAM2Base._build_sam_heads); width = the neck's d_model.

    dynamic_multimask_via_stability: official SAM 2 inference (build_sam2 with
    apply_postprocessing) turns it on; the bare model class (and so an official config without
    sam_mask_decoder_extra_args) has it off. It only acts in eval mode.
    """

    depth: int = 2
    num_heads: int = 8
    mlp_dim: int = 2048
    num_multimask_outputs: int = 3
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    mask_in_chans: int = 16
    use_high_res_features: bool = True
    iou_prediction_use_sigmoid: bool = True
    pred_obj_scores: bool = True
    pred_obj_scores_mlp: bool = True
    use_multimask_token_for_obj_ptr: bool = True
    dynamic_multimask_via_stability: bool = True
    dynamic_multimask_stability_delta: float = 0.05
    dynamic_multimask_stability_thresh: float = 0.98


@dataclass(frozen=True)
class MemoryConfig:
    """Shapes of the video parts (memory.py)."""

    num_maskmem: int = 7
    attention_layers: int = 4
    attention_dim_feedforward: int = 2048
    attention_num_heads: int = 1
    attention_kv_in_dim: int = 64
    encoder_in_dim: int = 256
    encoder_out_dim: int = 64  # mem_dim
    downsampler_embed_dim: int = 256
    downsampler_kernel_size: int = 3
    downsampler_stride: int = 2
    downsampler_padding: int = 1
    fuser_layers: int = 2
    fuser_dim: int = 256
    fuser_kernel_size: int = 7
    fuser_padding: int = 3
    fuser_use_dwconv: bool = True
    use_obj_ptrs_in_encoder: bool = True
    use_mlp_for_obj_ptr_proj: bool = True
    proj_tpos_enc_in_obj_ptrs: bool = True
    no_obj_embed_spatial: bool = True
    rope_theta: float = 10000.0


@dataclass(frozen=True)
class TrackingConfig:
    """How the video tracker (tracking.py) uses memory: the SAM 2.1 / HQ-SAM 2 yaml values (the
    SAM2Base argument of the same name; an official yaml leaves the last three at these values).

    binarize_mask_from_pts_for_mem_enc: the official video-predictor builder turns it on (with
    apply_postprocessing); the bare model class has it off.
    """

    sigmoid_scale_for_mem_enc: float = 20.0
    sigmoid_bias_for_mem_enc: float = -10.0
    binarize_mask_from_pts_for_mem_enc: bool = True
    use_mask_input_as_output_without_sam: bool = True
    multimask_output_in_sam: bool = True
    multimask_min_pt_num: int = 0
    multimask_max_pt_num: int = 1
    multimask_output_for_tracking: bool = True
    add_tpos_enc_to_obj_ptrs: bool = True
    use_signed_tpos_enc_to_obj_ptrs: bool = True
    only_obj_ptrs_in_the_past_for_eval: bool = True
    fixed_no_obj_ptr: bool = True
    soft_no_obj_ptr: bool = False
    max_obj_ptrs_in_encoder: int = 16
    max_cond_frames_in_attn: int = -1
    memory_temporal_stride_for_eval: int = 1
    non_overlap_masks_for_mem_enc: bool = False


@dataclass(frozen=True)
class Sam2Config:
    trunk: HieraConfig
    neck: NeckConfig
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    image_size: int = 1024
    backbone_stride: int = 16
    directly_add_no_mem_embed: bool = True

    @property
    def d_model(self) -> int:
        return self.neck.d_model


def _variant(
    embed_dim, num_heads, stages, global_att, bkg, window_spec=(8, 4, 14, 7)
) -> Sam2Config:
    trunk = HieraConfig(embed_dim, num_heads, stages, global_att, bkg, window_spec)
    return Sam2Config(trunk=trunk, neck=NeckConfig(backbone_channel_list=trunk.channel_list))


# configs/sam2.1/sam2.1_hiera_{t,s,b+,l}.yaml (HQ-SAM 2: sam2.1_hq_hiera_*.yaml, same shapes)
VARIANTS: dict[str, Sam2Config] = {
    "sam2.1_hq_hiera_t": _variant(96, 1, (1, 2, 7, 2), (5, 7, 9), (7, 7)),
    "sam2.1_hq_hiera_s": _variant(96, 1, (1, 2, 11, 2), (7, 10, 13), (7, 7)),
    "sam2.1_hq_hiera_b+": _variant(112, 2, (2, 3, 16, 3), (12, 16, 20), (14, 14)),
    "sam2.1_hq_hiera_l": _variant(144, 2, (2, 6, 36, 4), (23, 33, 43), (7, 7), (8, 4, 16, 8)),
    # for tests and the demo: the reference fixtures' miniature of Hiera-L (24 wide, stages
    # 1-1-3-1, heads and neck 64 wide, one memory-attention layer) at 256 px
    "sam2.1_hq_hiera_demo": Sam2Config(
        trunk=HieraConfig(24, 1, (1, 1, 3, 1), (3,), (7, 7)),
        neck=NeckConfig(backbone_channel_list=(192, 96, 48, 24), d_model=64, num_pos_feats=64),
        memory=MemoryConfig(
            attention_layers=1,
            attention_dim_feedforward=128,
            encoder_in_dim=64,
            downsampler_embed_dim=64,
            fuser_dim=64,
        ),
        image_size=256,
    ),
}

# Meta's SAM 2.1 checkpoint / config names -> the variant with the same shapes
META_VARIANTS = {
    "sam2.1_hiera_tiny": "sam2.1_hq_hiera_t",
    "sam2.1_hiera_small": "sam2.1_hq_hiera_s",
    "sam2.1_hiera_base_plus": "sam2.1_hq_hiera_b+",
    "sam2.1_hiera_large": "sam2.1_hq_hiera_l",
}
