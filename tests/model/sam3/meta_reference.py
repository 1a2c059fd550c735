"""Meta's sam3 0.1.4 classes built at the miniature's shapes (the sam3_hq_demo variant), every
tensor perturbed by N(0, 0.02^2) so no zero or constant init hides a wrong wire, and its
interactive predictor. Imports sam3: use only where it is installed (the live parity test, the
fixture generator). The position-encoding caches Meta precomputes on `cuda` are turned off by
constructing PositionEmbeddingSine with precompute_resolution=None (the interactive path does not
read them)."""

import numpy as np
import torch
from sam3.model.decoder import TransformerDecoderLayerv2, TransformerEncoderCrossAttention
from sam3.model.memory import CXBlock, SimpleFuser, SimpleMaskDownSampler, SimpleMaskEncoder
from sam3.model.model_misc import TransformerWrapper
from sam3.model.necks import Sam3DualViTDetNeck
from sam3.model.position_encoding import PositionEmbeddingSine
from sam3.model.sam1_task_predictor import SAM3InteractiveImagePredictor
from sam3.model.sam3_tracker_base import Sam3TrackerBase
from sam3.model.vitdet import ViT
from sam3.model.vl_combiner import SAM3VLBackbone
from sam3.sam.transformer import RoPEAttention

from samhq_train.model.sam3 import VARIANTS

VARIANT = "sam3_hq_demo"
MEM_DIM = 16


def _vit(cfg) -> ViT:
    v = cfg.vit
    return ViT(
        img_size=v.img_size,
        pretrain_img_size=v.pretrain_img_size,
        patch_size=v.patch_size,
        embed_dim=v.embed_dim,
        depth=v.depth,
        num_heads=v.num_heads,
        mlp_ratio=v.mlp_ratio,
        norm_layer="LayerNorm",
        drop_path_rate=0.0,
        qkv_bias=True,
        use_abs_pos=True,
        tile_abs_pos=True,
        global_att_blocks=v.global_att_blocks,
        rel_pos_blocks=(),
        use_rope=True,
        use_interp_rope=True,
        window_size=v.window_size,
        pretrain_use_cls_token=True,
        retain_cls_token=False,
        ln_pre=True,
        ln_post=False,
        return_interm_layers=False,
        bias_patch_embed=False,
        use_act_checkpoint=False,
    )


def _memory_transformer(d: int, grid: int) -> TransformerWrapper:
    def rope(**kw):
        return RoPEAttention(
            embedding_dim=d,
            num_heads=1,
            downsample_rate=1,
            dropout=0.0,
            rope_theta=10000.0,
            feat_sizes=[grid, grid],
            use_fa3=False,
            use_rope_real=False,
            **kw,
        )

    layer = TransformerDecoderLayerv2(
        cross_attention_first=False,
        activation="relu",
        dim_feedforward=128,
        dropout=0.0,
        pos_enc_at_attn=False,
        pre_norm=True,
        self_attention=rope(),
        d_model=d,
        pos_enc_at_cross_attn_keys=True,
        pos_enc_at_cross_attn_queries=False,
        cross_attention=rope(kv_in_dim=MEM_DIM, rope_k_repeat=True),
    )
    encoder = TransformerEncoderCrossAttention(
        remove_cross_attention_layers=[],
        batch_first=True,
        d_model=d,
        frozen=False,
        pos_enc_at_input=True,
        layer=layer,
        num_layers=1,
        use_act_checkpoint=False,
    )
    return TransformerWrapper(encoder=encoder, decoder=None, d_model=d)


def _mask_encoder(d: int, image_size: int) -> SimpleMaskEncoder:
    return SimpleMaskEncoder(
        out_dim=MEM_DIM,
        in_dim=d,
        position_encoding=PositionEmbeddingSine(num_pos_feats=MEM_DIM, normalize=True),
        mask_downsampler=SimpleMaskDownSampler(
            embed_dim=d, kernel_size=3, stride=2, padding=1, interpol_size=[image_size, image_size]
        ),
        fuser=SimpleFuser(
            layer=CXBlock(dim=d, kernel_size=7, padding=3, use_dwconv=True), num_layers=1
        ),
    )


def vision_neck(cfg) -> Sam3DualViTDetNeck:
    """The ViT and its two necks (SAM 3's and the sam2 one), as model_builder makes them."""
    return Sam3DualViTDetNeck(
        trunk=_vit(cfg),
        position_encoding=PositionEmbeddingSine(num_pos_feats=cfg.d_model, normalize=True),
        d_model=cfg.d_model,
        scale_factors=list(cfg.neck_scale_factors),
        add_sam2_neck=True,
    )


def build_meta_mini(seed: int = 0):
    """(tracker with its backbone, the predictor, the sam3.pt-layout state dict), perturbed,
    eval."""
    cfg = VARIANTS[VARIANT]
    d, grid = cfg.d_model, cfg.vit.grid
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        neck = vision_neck(cfg)
        tracker = Sam3TrackerBase(
            backbone=SAM3VLBackbone(visual=neck, text=None, scalp=1),
            transformer=_memory_transformer(d, grid),
            maskmem_backbone=_mask_encoder(d, cfg.image_size),
            num_maskmem=7,
            image_size=cfg.image_size,
            backbone_stride=cfg.vit.patch_size,
            multimask_output_in_sam=True,
            sam_mask_decoder_extra_args={
                "dynamic_multimask_via_stability": True,
                "dynamic_multimask_stability_delta": 0.05,
                "dynamic_multimask_stability_thresh": 0.98,
            },
        )
        with torch.no_grad():
            for tensor in tracker.state_dict().values():
                if tensor.is_floating_point():
                    tensor.add_(torch.randn_like(tensor) * 0.02)
    tracker.eval()
    predictor = meta_predictor(tracker, max_hole_area=0.0)
    return tracker, predictor, meta_layout(tracker)


def meta_predictor(tracker: Sam3TrackerBase, **kwargs) -> SAM3InteractiveImagePredictor:
    """Meta's interactive predictor on the miniature tracker: its defaults unless kwargs say
    (max_hole_area 256, max_sprinkle_area 0)."""
    grid = VARIANTS[VARIANT].vit.grid
    predictor = SAM3InteractiveImagePredictor(tracker, **kwargs)
    predictor._bb_feat_sizes = [(4 * grid, 4 * grid), (2 * grid, 2 * grid), (grid, grid)]
    return predictor


def meta_layout(tracker: Sam3TrackerBase) -> dict[str, torch.Tensor]:
    """sam3.pt's keys: the vision backbone under detector.backbone.vision_backbone, the tracker
    (which in sam3.pt has no backbone of its own) under tracker."""
    state = {}
    for key, value in tracker.state_dict().items():
        if key.startswith("backbone.vision_backbone."):
            state["detector." + key] = value.clone()
        elif not key.startswith("backbone."):
            state["tracker." + key] = value.clone()
    return state


def _predict_kwargs(name: str, mask_input: torch.Tensor | None) -> dict:
    from .cases import BOX, LABELS, POINTS, PROMPTS

    parts, kwargs = PROMPTS[name], {}
    if "box" in parts:
        kwargs["box"] = np.array(BOX)
    if "points" in parts:
        kwargs["point_coords"], kwargs["point_labels"] = np.array(POINTS), np.array(LABELS)
    if "mask" in parts:
        kwargs["mask_input"] = mask_input.numpy()[None]
    return kwargs


@torch.no_grad()
def meta_outputs(tracker, predictor, image: np.ndarray) -> tuple[dict, torch.Tensor]:
    """Meta's answers to every case (set_image + predict, return_logits=True), in the layout of
    cases.our_outputs, and the mask input the "mask" cases used (the box case's single mask)."""
    from .cases import CASES

    predictor.set_image(image)
    feats = predictor._features
    out = {
        "image_embed": feats["image_embed"].clone(),
        "high_res_feat_0": feats["high_res_feats"][0].clone(),
        "high_res_feat_1": feats["high_res_feats"][1].clone(),
    }
    _, _, box_low = predictor.predict(
        box=_predict_kwargs("box", None)["box"], multimask_output=False, return_logits=True
    )
    mask_input = torch.from_numpy(box_low[0]).float()
    scores = []
    handle = tracker.sam_mask_decoder.register_forward_hook(lambda m, a, o: scores.append(o[3]))
    try:
        for name, multimask in CASES:
            masks, iou, low = predictor.predict(
                multimask_output=multimask, return_logits=True, **_predict_kwargs(name, mask_input)
            )
            out[f"{name}/{multimask}"] = {
                "low_res": torch.from_numpy(low),
                "iou": torch.from_numpy(iou),
                "object_score": scores[-1][0].clone(),
                "masks": torch.from_numpy(masks),
            }
    finally:
        handle.remove()
    return out, mask_input
