"""Readers of the official SAM 2.1 / HQ-SAM 2 files that only the tests need: the official
(hydra yaml) model config and a strict load that lets a Meta SAM 2.1 file lack the HQ keys.
The package reads these files through its checkpoint formats."""

import torch
from torch import nn

from samhq_train.model.sam2 import FAMILY
from samhq_train.model.sam2.config import (
    DecoderConfig,
    HieraConfig,
    MemoryConfig,
    NeckConfig,
    Sam2Config,
    TrackingConfig,
)

is_hq_key = FAMILY.is_hq_key


def load_official_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load an official state dict strictly, except that a Meta SAM 2.1 file may lack the HQ
    keys (they keep their init); one line naming the first offending key otherwise."""
    own = model.state_dict()
    for key, value in state.items():
        if key in own and own[key].shape != value.shape:
            raise ValueError(
                f"{key} has shape {tuple(value.shape)}, the model {tuple(own[key].shape)}: "
                "another variant?"
            )
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not is_hq_key(k)]
    if missing:
        raise ValueError(f"state dict lacks {missing[0]} ({len(missing)} model keys missing)")
    if result.unexpected_keys:
        raise ValueError(
            f"state dict has {result.unexpected_keys[0]}, which this model does not "
            f"({len(result.unexpected_keys)} unexpected keys)"
        )
    if result.missing_keys and len(result.missing_keys) != sum(is_hq_key(k) for k in own):
        raise ValueError(
            f"state dict has only part of the HQ parts: it lacks {result.missing_keys[0]}"
        )


# SAM2Base's defaults of the TrackingConfig options (an official yaml may leave any out)
SAM2BASE_TRACKING_DEFAULTS = {
    "sigmoid_scale_for_mem_enc": 1.0,
    "sigmoid_bias_for_mem_enc": 0.0,
    "binarize_mask_from_pts_for_mem_enc": False,
    "use_mask_input_as_output_without_sam": False,
    "multimask_output_in_sam": False,
    "multimask_min_pt_num": 1,
    "multimask_max_pt_num": 1,
    "multimask_output_for_tracking": False,
    "add_tpos_enc_to_obj_ptrs": True,
    "use_signed_tpos_enc_to_obj_ptrs": False,
    "only_obj_ptrs_in_the_past_for_eval": False,
    "fixed_no_obj_ptr": False,
    "soft_no_obj_ptr": False,
    "max_obj_ptrs_in_encoder": 16,
    "max_cond_frames_in_attn": -1,
    "memory_temporal_stride_for_eval": 1,
    "non_overlap_masks_for_mem_enc": False,
}


def _get(node: dict, path: str, default=None):
    """node["a"]["b"] for path "a.b"; default when a part is missing."""
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def _tuple(value) -> tuple:
    return tuple(value) if value is not None else ()


def config_from_official(config: dict) -> Sam2Config:
    """From an official model config as a dict (the yaml's `model:` node, or the whole yaml with
    one); checks that the widths agree and names the key that does not."""
    if "image_encoder" not in config and isinstance(config.get("model"), dict):
        config = config["model"]
    if _get(config, "image_encoder.trunk") is None:
        raise ValueError("official SAM 2 config has no image_encoder.trunk")
    t = "image_encoder.trunk."
    trunk_defaults = HieraConfig(96, 1, (2, 3, 16, 3), (12, 16, 20), (14, 14))  # Hiera's defaults
    trunk = HieraConfig(
        embed_dim=_get(config, t + "embed_dim", trunk_defaults.embed_dim),
        num_heads=_get(config, t + "num_heads", trunk_defaults.num_heads),
        stages=_tuple(_get(config, t + "stages", trunk_defaults.stages)),
        global_att_blocks=_tuple(
            _get(config, t + "global_att_blocks", trunk_defaults.global_att_blocks)
        ),
        window_pos_embed_bkg_spatial_size=_tuple(
            _get(
                config,
                t + "window_pos_embed_bkg_spatial_size",
                trunk_defaults.window_pos_embed_bkg_spatial_size,
            )
        ),
        window_spec=_tuple(_get(config, t + "window_spec", trunk_defaults.window_spec)),
        q_pool=_get(config, t + "q_pool", 3),
        dim_mul=_get(config, t + "dim_mul", 2.0),
        head_mul=_get(config, t + "head_mul", 2.0),
    )
    n = "image_encoder.neck."
    d_model = _get(config, n + "d_model", 256)
    neck = NeckConfig(
        backbone_channel_list=_tuple(_get(config, n + "backbone_channel_list")),
        d_model=d_model,
        fpn_top_down_levels=_tuple(_get(config, n + "fpn_top_down_levels", range(4))),
        fpn_interp_model=_get(config, n + "fpn_interp_model", "bilinear"),
        num_pos_feats=_get(config, n + "position_encoding.num_pos_feats", d_model),
        scalp=_get(config, "image_encoder.scalp", 0),
    )
    if neck.backbone_channel_list != trunk.channel_list:
        raise ValueError(
            f"image_encoder.neck.backbone_channel_list {list(neck.backbone_channel_list)} does "
            f"not match image_encoder.trunk.embed_dim {trunk.embed_dim} (its stages give "
            f"{list(trunk.channel_list)})"
        )
    extra = config.get("sam_mask_decoder_extra_args") or {}
    decoder = DecoderConfig(
        use_high_res_features=config.get("use_high_res_features_in_sam", False),
        iou_prediction_use_sigmoid=config.get("iou_prediction_use_sigmoid", False),
        pred_obj_scores=config.get("pred_obj_scores", False),
        pred_obj_scores_mlp=config.get("pred_obj_scores_mlp", False),
        use_multimask_token_for_obj_ptr=config.get("use_multimask_token_for_obj_ptr", False),
        dynamic_multimask_via_stability=extra.get("dynamic_multimask_via_stability", False),
        dynamic_multimask_stability_delta=extra.get("dynamic_multimask_stability_delta", 0.05),
        dynamic_multimask_stability_thresh=extra.get("dynamic_multimask_stability_thresh", 0.98),
    )
    a, layer, e = "memory_attention.", "memory_attention.layer.", "memory_encoder."
    in_dim = _get(config, e + "in_dim", 256)
    memory = MemoryConfig(
        num_maskmem=config.get("num_maskmem", 7),
        attention_layers=_get(config, a + "num_layers", 0),
        attention_dim_feedforward=_get(config, layer + "dim_feedforward", 2048),
        attention_num_heads=_get(config, layer + "self_attention.num_heads", 1),
        attention_kv_in_dim=_get(config, layer + "cross_attention.kv_in_dim", d_model),
        encoder_in_dim=in_dim,
        encoder_out_dim=_get(config, e + "out_dim", in_dim),
        downsampler_embed_dim=_get(config, e + "mask_downsampler.embed_dim", 256),
        downsampler_kernel_size=_get(config, e + "mask_downsampler.kernel_size", 4),
        downsampler_stride=_get(config, e + "mask_downsampler.stride", 4),
        downsampler_padding=_get(config, e + "mask_downsampler.padding", 0),
        fuser_layers=_get(config, e + "fuser.num_layers", 0),
        fuser_dim=_get(config, e + "fuser.layer.dim", in_dim),
        fuser_kernel_size=_get(config, e + "fuser.layer.kernel_size", 7),
        fuser_padding=_get(config, e + "fuser.layer.padding", 3),
        fuser_use_dwconv=_get(config, e + "fuser.layer.use_dwconv", True),
        use_obj_ptrs_in_encoder=config.get("use_obj_ptrs_in_encoder", False),
        use_mlp_for_obj_ptr_proj=config.get("use_mlp_for_obj_ptr_proj", False),
        proj_tpos_enc_in_obj_ptrs=config.get("proj_tpos_enc_in_obj_ptrs", False),
        no_obj_embed_spatial=config.get("no_obj_embed_spatial", False),
        rope_theta=_get(config, layer + "self_attention.rope_theta", 10000.0),
    )
    tracking = TrackingConfig(**{
        name: config.get(name, default) for name, default in SAM2BASE_TRACKING_DEFAULTS.items()
    })
    widths = {
        a + "d_model": _get(config, a + "d_model"),
        layer + "d_model": _get(config, layer + "d_model"),
        layer + "self_attention.embedding_dim": _get(
            config, layer + "self_attention.embedding_dim"
        ),
        layer + "cross_attention.embedding_dim": _get(
            config, layer + "cross_attention.embedding_dim"
        ),
        e + "in_dim": in_dim,
    }
    for key, width in widths.items():
        if width is not None and width != d_model:
            raise ValueError(f"{key} {width} does not match image_encoder.neck.d_model {d_model}")
    for key, width in {
        e + "mask_downsampler.embed_dim": memory.downsampler_embed_dim,
        e + "fuser.layer.dim": memory.fuser_dim,
    }.items():
        if width != in_dim:
            raise ValueError(f"{key} {width} does not match memory_encoder.in_dim {in_dim}")
    return Sam2Config(
        trunk=trunk,
        neck=neck,
        decoder=decoder,
        memory=memory,
        tracking=tracking,
        image_size=config.get("image_size", 512),
        backbone_stride=config.get("backbone_stride", 16),
        directly_add_no_mem_embed=config.get("directly_add_no_mem_embed", False),
    )
