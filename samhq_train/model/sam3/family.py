"""The SAM 3 family's builder and format rules: HQ key set, official file layout, variant
detection. Meta's sam3.pt is a flat state dict (detector.* / tracker.*; a {"model": ...} wrapper
is read too); an HQ-SAM 3 file is the same plus the HQ keys under tracker.sam_mask_decoder."""

import torch

from ..prompt_encoder import PromptEncoder
from ..sam2.mask_decoder import MaskDecoderHQ
from ..two_way_transformer import TwoWayTransformer
from .config import VARIANTS, Sam3Config
from .image_encoder import VisionBackbone
from .mask_decoder import MaskDecoderHQFusion
from .model import Sam3HQ
from .vit import ViT

# HQ-SAM 2's three HQ modules, under tracker.sam_mask_decoder. (+ HQ-SAM 1's two of early fusion)
HQ_MODULES = ("hf_token", "hf_mlp", "embedding_maskfeature", "compress_vit_feat", "embedding_encoder")
_FUSION_KEY = "tracker.sam_mask_decoder.compress_vit_feat."
_HQ_PREFIXES = tuple(f"tracker.sam_mask_decoder.{m}." for m in HQ_MODULES)
TRUNK = "detector.backbone.vision_backbone.trunk."
_PATCH_KEY = TRUNK + "patch_embed.proj.weight"
DECODER_PREFIX = "tracker.sam_mask_decoder."


def build(cfg: Sam3Config) -> Sam3HQ:
    """A model of these shapes with PyTorch's default init (and nothing carried yet)."""
    v, d, c = cfg.vit, cfg.decoder, cfg.d_model
    trunk = ViT(
        img_size=v.img_size, patch_size=v.patch_size, embed_dim=v.embed_dim, depth=v.depth,
        num_heads=v.num_heads, mlp_dim=v.mlp_dim, window_size=v.window_size,
        global_att_blocks=v.global_att_blocks, pretrain_img_size=v.pretrain_img_size,
        rope_theta=v.rope_theta,
    )
    grid = v.grid
    # the backbone and prompt encoder are drawn before the decoder, so a seeded model has the
    # same SAM 3 in both HQ designs (the fusion modules are drawn last)
    vision_backbone = VisionBackbone(trunk=trunk, d_model=c, scale_factors=cfg.neck_scale_factors)
    prompt_encoder = PromptEncoder(
        embed_dim=c, image_embedding_size=(grid, grid), input_image_size=(v.img_size, v.img_size),
        mask_in_chans=d.mask_in_chans,
    )
    fusion = {"vit_dim": v.embed_dim} if cfg.hq_early_fusion else {}
    decoder = (MaskDecoderHQFusion if fusion else MaskDecoderHQ)(
        **fusion,
        transformer_dim=c,
        # SAM 3's two-way transformer has SAM 1's token MLP (lin1 / lin2), the default
        transformer=TwoWayTransformer(depth=d.depth, embedding_dim=c, num_heads=d.num_heads, mlp_dim=d.mlp_dim),
        num_multimask_outputs=d.num_multimask_outputs,
        iou_head_depth=d.iou_head_depth,
        iou_head_hidden_dim=d.iou_head_hidden_dim,
        use_high_res_features=d.use_high_res_features,
        iou_prediction_use_sigmoid=d.iou_prediction_use_sigmoid,
        dynamic_multimask_via_stability=d.dynamic_multimask_via_stability,
        dynamic_multimask_stability_delta=d.dynamic_multimask_stability_delta,
        dynamic_multimask_stability_thresh=d.dynamic_multimask_stability_thresh,
        pred_obj_scores=d.pred_obj_scores,
        pred_obj_scores_mlp=d.pred_obj_scores_mlp,
        use_multimask_token_for_obj_ptr=d.use_multimask_token_for_obj_ptr,
    )
    return Sam3HQ(vision_backbone=vision_backbone, prompt_encoder=prompt_encoder, mask_decoder=decoder)


def is_hq_key(name: str) -> bool:
    return any(f".{prefix}" in f".{name}" for prefix in _HQ_PREFIXES)


def owns_state(state: dict) -> bool:
    """Whether a (full or HQ-only) state dict has SAM 3 key names."""
    return any(k.startswith((TRUNK, DECODER_PREFIX)) for k in state)


def official_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The object to torch.save for an official-format file: the flat state dict, as sam3.pt."""
    return state


def detect_variant(state: dict[str, torch.Tensor], variants: dict[str, Sam3Config] = VARIANTS) -> str | None:
    """The variant whose trunk a full state dict has (width, patch, depth, position-embedding grid)
    and HQ design (early-fusion keys or none: Meta's file gets the default design); None for
    HQ-only state dicts and other families."""
    patch = state.get(_PATCH_KEY)
    if patch is None:
        return None
    depth = 1 + max(int(k[len(TRUNK):].split(".")[1]) for k in state if k.startswith(TRUNK + "blocks."))
    positions = state[TRUNK + "pos_embed"].shape[1]
    fusion = any(k.startswith(_FUSION_KEY) for k in state)
    matches = [
        name
        for name, cfg in variants.items()
        if cfg.vit.embed_dim == patch.shape[0]
        and cfg.vit.patch_size == patch.shape[-1]
        and cfg.vit.depth == depth
        and (cfg.vit.pretrain_img_size // cfg.vit.patch_size) ** 2 + 1 == positions
        and cfg.hq_early_fusion == fusion
    ]
    return matches[0] if len(matches) == 1 else None
