"""Meta's sam3 0.1.4 video tracker (Sam3TrackerPredictor with model_builder.build_tracker's
settings) at the sam3_hq_demo shapes, every tensor perturbed by N(0, 0.02^2), and what it needs
to run on CPU. Imports sam3: use only where it is installed.

Meta's predictor moves tensors with .cuda() (memories, earlier logits, frames), pins the
object pointers' temporal positions (pin_memory) and enters a CUDA bf16 autocast in __init__ (off
without CUDA; it is left again here). `cpu_only(monkeypatch)` makes Tensor.cuda and
Tensor.pin_memory identities for the test; the package itself is not edited."""

import torch
from sam3.model.memory import CXBlock, SimpleFuser, SimpleMaskDownSampler, SimpleMaskEncoder
from sam3.model.position_encoding import PositionEmbeddingSine
from sam3.model.sam3_tracking_predictor import Sam3TrackerPredictor
from sam3.model.vl_combiner import SAM3VLBackbone

from samhq_train.model.sam3 import VARIANTS

from .meta_reference import VARIANT, _memory_transformer, meta_layout, vision_neck


def cpu_only(monkeypatch) -> None:
    monkeypatch.setattr(torch.Tensor, "cuda", lambda self, *args, **kwargs: self)
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self, *args, **kwargs: self)


def _mask_encoder(cfg) -> SimpleMaskEncoder:
    """_create_tracker_maskmem_backbone at the miniature's shapes: interpol_size 16 x the token
    grid (1152 for 1008 px), so the memory map is the grid."""
    m, size = cfg.memory, cfg.memory_mask_size
    return SimpleMaskEncoder(
        out_dim=m.encoder_out_dim,
        in_dim=cfg.d_model,
        position_encoding=PositionEmbeddingSine(num_pos_feats=m.encoder_out_dim, normalize=True),
        mask_downsampler=SimpleMaskDownSampler(
            embed_dim=cfg.d_model, kernel_size=3, stride=2, padding=1, interpol_size=[size, size]
        ),
        fuser=SimpleFuser(
            layer=CXBlock(dim=cfg.d_model, kernel_size=7, padding=3, use_dwconv=True),
            num_layers=m.fuser_layers,
        ),
    )


def meta_tracker_module(backbone, *, use_memory_selection: bool) -> Sam3TrackerPredictor:
    """Sam3TrackerPredictor with model_builder.build_tracker's arguments at the miniature's sizes
    (use_memory_selection: build_tracker's apply_temporal_disambiguation), autocast left."""
    cfg = VARIANTS[VARIANT]
    tracker = Sam3TrackerPredictor(
        image_size=cfg.image_size,
        num_maskmem=7,
        backbone=backbone,
        backbone_stride=cfg.vit.patch_size,
        transformer=_memory_transformer(cfg.d_model, cfg.vit.grid),
        maskmem_backbone=_mask_encoder(cfg),
        multimask_output_in_sam=True,
        forward_backbone_per_frame_for_eval=True,
        trim_past_non_cond_mem_for_eval=False,
        multimask_output_for_tracking=True,
        multimask_min_pt_num=0,
        multimask_max_pt_num=1,
        always_start_from_first_ann_frame=False,
        non_overlap_masks_for_mem_enc=False,
        non_overlap_masks_for_output=False,
        max_cond_frames_in_attn=4,
        offload_output_to_cpu_for_eval=False,
        sam_mask_decoder_extra_args={
            "dynamic_multimask_via_stability": True,
            "dynamic_multimask_stability_delta": 0.05,
            "dynamic_multimask_stability_thresh": 0.98,
        },
        clear_non_cond_mem_around_input=True,
        fill_hole_area=0,
        use_memory_selection=use_memory_selection,
    )
    tracker.bf16_context.__exit__(None, None, None)
    return tracker


def build_meta_tracker(seed: int = 0) -> tuple[Sam3TrackerPredictor, dict]:
    """(the predictor in eval mode, its sam3.pt-layout state dict)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        neck = vision_neck(VARIANTS[VARIANT])
        tracker = meta_tracker_module(
            SAM3VLBackbone(visual=neck, text=None, scalp=1), use_memory_selection=False
        )
        with torch.no_grad():
            for tensor in tracker.state_dict().values():
                if tensor.is_floating_point():
                    tensor.add_(torch.randn_like(tensor) * 0.02)
    return tracker.eval(), meta_layout(tracker)
