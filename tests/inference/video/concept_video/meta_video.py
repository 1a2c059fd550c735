"""Meta's sam3 0.1.4 video concept model (Sam3VideoInference: the detector on every frame, the
tracker propagating, associating and updating) built from the concept tests' miniature
(tests/model/sam3/concept/meta_detector.py: the detector, its text encoder and the vision
backbone; the tracker's weights from the same sam3.pt-layout state dict, as
model_builder.build_sam3_video_model assembles them), run on the CPU. Imports sam3: use only
where it is installed.

What it takes to run on the CPU, the package unedited:
- Tensor.cuda / pin_memory are identities (meta_tracker.cpu_only);
- the tracker states it makes store on the CPU (init_state would put them on "cuda");
- the detector casts the tracker's backbone maps to bfloat16 for its all-gather and the tracker
  reads them under CUDA autocast; here the gather hands them back in float32, so the tracker
  sees the bf16-rounded maps in fp32 (what our driver gives its tracker too);
- hole filling of no masks at all returns them (its CPU connected components stack an empty
  list; the GPU kernels return nothing to fill).
`cpu_patches(monkeypatch)` makes the patches for a test."""

from __future__ import annotations

import torch
from sam3.model import sam3_video_base
from sam3.model.sam3_image import Sam3ImageOnVideoMultiGPU
from sam3.model.sam3_tracking_predictor import Sam3TrackerPredictor
from sam3.model.sam3_video_inference import (
    Sam3VideoInference,
    Sam3VideoInferenceWithInstanceInteractivity,
)

from samhq_train.model.sam3 import VARIANTS
from tests.model.sam3.concept.meta_detector import build_meta_image_model
from tests.model.sam3.meta_reference import VARIANT
from tests.model.sam3.meta_tracker import cpu_only, meta_tracker_module

SCORE_BIAS = "tracker.sam_mask_decoder.pred_obj_score_head.layers.2.bias"
PROMPT_PROJ = "detector.dot_prod_scoring.prompt_proj."
PRESENCE_BIAS = "detector.transformer.decoder.presence_token_head.layers.2.bias"
PROMPT_SCALE = -4.0  # the random detector's query logits (-0.5..-0.2) -> about 0.8..2
PRESENCE_SHIFT = 6.0  # its presence probability 0.5 -> 0.998


@torch.no_grad()
def confident_detector(image_model, state: dict) -> None:
    """Detection scores of the random miniature from about 0.2 to 0.7..0.9, so that some pass
    Meta's fixed high-confidence cut (0.8) of association and reconditioning; in the model and
    its state dict alike."""
    scoring = image_model.dot_prod_scoring.prompt_proj
    presence = image_model.transformer.decoder.presence_token_head.layers[2]
    for tensor in (scoring.weight, scoring.bias):
        tensor.mul_(PROMPT_SCALE)
    presence.bias.add_(PRESENCE_SHIFT)
    for name in ("weight", "bias"):
        state[PROMPT_PROJ + name] = state[PROMPT_PROJ + name] * PROMPT_SCALE
    state[PRESENCE_BIAS] = state[PRESENCE_BIAS] + PRESENCE_SHIFT


def cpu_patches(monkeypatch) -> None:
    cpu_only(monkeypatch)
    fill = sam3_video_base.fill_holes_in_mask_scores

    def fill_some(mask, *args, **kwargs):
        return mask if mask.shape[0] == 0 else fill(mask, *args, **kwargs)

    monkeypatch.setattr(sam3_video_base, "fill_holes_in_mask_scores", fill_some)


class CpuVideoDetector(Sam3ImageOnVideoMultiGPU):
    """The video detector with its one-process all-gather returning float32 (see above)."""

    def _gather_tensor(self, x):
        return [x.float()], None


def _video_tracker(state: dict) -> Sam3TrackerPredictor:
    """build_tracker(apply_temporal_disambiguation=True) at the miniature's shapes, no backbone
    (the detector's is shared), the tracker.* tensors of `state`."""
    tracker = meta_tracker_module(None, use_memory_selection=True)
    own = {k[len("tracker."):]: v for k, v in state.items() if k.startswith("tracker.")}
    tracker.load_state_dict(own, strict=True)
    init_state = tracker.init_state

    def init_state_on_cpu(**kwargs):
        inference_state = init_state(**kwargs)
        inference_state["storage_device"] = torch.device("cpu")
        return inference_state

    tracker.init_state = init_state_on_cpu
    return tracker.eval()


def build_meta_video_model(bpe_path, settings: dict, seed: int = 0, interactive: bool = False):
    """(Sam3VideoInference with Meta's settings overridden by `settings` (its __init__'s
    keyword arguments), the sam3.pt-layout state dict our loader reads). interactive: its
    subclass with clicks, Sam3VideoInferenceWithInstanceInteractivity, with the defaults
    build_sam3_video_model gives it (what the playground runs)."""
    image_model, state = build_meta_image_model(bpe_path, seed=seed)
    state[SCORE_BIAS] = state[SCORE_BIAS] + 4.0  # objects present while tracked
    confident_detector(image_model, state)
    detector = CpuVideoDetector(
        num_feature_levels=1,
        backbone=image_model.backbone,
        transformer=image_model.transformer,
        segmentation_head=image_model.segmentation_head,
        semantic_segmentation_head=None,
        input_geometry_encoder=image_model.geometry_encoder,
        use_early_fusion=True,
        use_dot_prod_scoring=True,
        dot_prod_scoring=image_model.dot_prod_scoring,
        supervise_joint_box_scores=True,
    )
    tracker = _video_tracker(state)
    meta_settings = dict(
        score_threshold_detection=0.5,
        assoc_iou_thresh=0.1,
        det_nms_thresh=0.1,
        new_det_thresh=0.7,
        hotstart_delay=15,
        hotstart_unmatch_thresh=8,
        hotstart_dup_thresh=8,
        suppress_unmatched_only_within_hotstart=True,
        min_trk_keep_alive=-1,
        max_trk_keep_alive=30,
        init_trk_keep_alive=30,
        suppress_overlapping_based_on_recent_occlusion_threshold=0.7,
        suppress_det_close_to_boundary=False,
        fill_hole_area=16,
        recondition_every_nth_frame=16,
        masklet_confirmation_enable=False,
        decrease_trk_keep_alive_for_empty_masklets=False,
    )
    meta_settings.update(settings)
    model_class = (
        Sam3VideoInferenceWithInstanceInteractivity if interactive else Sam3VideoInference
    )
    model = model_class(
        detector=detector,
        tracker=tracker,
        image_size=VARIANTS[VARIANT].image_size,
        image_mean=(0.5, 0.5, 0.5),
        image_std=(0.5, 0.5, 0.5),
        compile_model=False,
        **meta_settings,
    )
    return model.eval(), state


def meta_video_state(model: Sam3VideoInference, frames: torch.Tensor, video_hw) -> dict:
    """Sam3VideoInference.init_state on frames already loaded (N x S x S x 3 uint8, as our
    loader gives them), normalised as its loader does."""
    images = (frames.permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.5
    state = {
        "image_size": model.image_size,
        "num_frames": len(images),
        "orig_height": video_hw[0],
        "orig_width": video_hw[1],
        "constants": {},
    }
    model._construct_initial_input_batch(state, images)
    state.update(
        tracker_inference_states=[],
        tracker_metadata={},
        feature_cache={},
        cached_frame_outputs={},
        action_history=[],
        is_image_only=False,
    )
    return state


@torch.inference_mode()
def run_meta_video(model, frames, video_hw, text: str, frame: int = 0, reverse=(False,)):
    """add_prompt(text) on `frame`, then propagate_in_video from it in each direction of
    `reverse`: [(("prompt" | direction), frame, outputs dict)] in the order yielded."""
    state = meta_video_state(model, frames, video_hw)
    out = [("prompt", *model.add_prompt(state, frame_idx=frame, text_str=text))]
    for direction in reverse:
        for t, result in model.propagate_in_video(state, frame, None, direction):
            out.append((direction, t, result))
    return out
