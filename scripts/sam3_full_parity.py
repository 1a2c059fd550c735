"""Full-size parity of our SAM 3 interactive path against Meta's sam3 package, random weights.

Builds Meta's vision backbone (ViT-1024 x 32 + dual neck) and tracker as model_builder does (the
tracker path only: no text encoder or detector heads), perturbs every float tensor by
N(0, 0.02^2), runs SAM3InteractiveImagePredictor (set_image + predict) on one image and a few
prompts, loads the same weights into our sam3_hq model through its Meta-layout rule, and prints
the max abs differences. Needs `pip install sam3==0.1.4 --no-deps` (plus its small deps) and
about 8 GB of memory; a few minutes on a CPU.

    python scripts/sam3_full_parity.py [--device cuda] [--seed 0]

Measured (CPU, fp32, seed 0, 720 x 540 image): embedding 6.1e-05 (values up to 32.6), high-res
maps 9.9e-06 / 2.4e-05; over box, points, box+points, mask, points+mask with multimask off / on:
low-res logits <= 9.3e-06, IoU <= 6.0e-08, object score <= 2.0e-07, mask logits <= 8.1e-06, at
most 2 of 388,800 mask pixels flipped (logits within 1e-5 of 0); 773 keys on both sides.
"""

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

BOX = [120.0, 90.0, 610.0, 470.0]
POINTS = [[300.0, 260.0], [150.0, 420.0], [560.0, 130.0]]
LABELS = [1, 0, 1]
IMAGE_HW = (540, 720)
PROMPTS = {
    "box": ("box",),
    "points": ("points",),
    "box+points": ("box", "points"),
    "mask": ("mask",),
    "points+mask": ("points", "mask"),
}


def build_meta(seed: int, device: str):
    from sam3 import model_builder
    from sam3.model.position_encoding import PositionEmbeddingSine
    from sam3.model.sam1_task_predictor import SAM3InteractiveImagePredictor
    from sam3.model.vl_combiner import SAM3VLBackbone

    def no_precompute(*args, **kwargs):  # Meta precomputes these caches on `cuda`; unused here
        kwargs["precompute_resolution"] = None
        return PositionEmbeddingSine(*args, **kwargs)

    model_builder.PositionEmbeddingSine = no_precompute
    torch.manual_seed(seed)
    neck = model_builder._create_vit_neck(
        no_precompute(num_pos_feats=256, normalize=True, scale=None, temperature=10000),
        model_builder._create_vit_backbone(),
        enable_inst_interactivity=True,
    )
    tracker = model_builder.build_tracker(apply_temporal_disambiguation=False)
    tracker.backbone = SAM3VLBackbone(visual=neck, text=None, scalp=1)
    with torch.no_grad():
        for tensor in tracker.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(torch.randn_like(tensor) * 0.02)
    tracker = tracker.eval().to(device)
    state = {}
    for key, value in tracker.state_dict().items():
        if key.startswith("backbone.vision_backbone."):
            state["detector." + key] = value
        elif not key.startswith("backbone."):
            state["tracker." + key] = value
    return tracker, SAM3InteractiveImagePredictor(tracker, max_hole_area=0.0), state


def meta_kwargs(parts, mask_input):
    kwargs = {}
    if "box" in parts:
        kwargs["box"] = np.array(BOX)
    if "points" in parts:
        kwargs["point_coords"], kwargs["point_labels"] = np.array(POINTS), np.array(LABELS)
    if "mask" in parts:
        kwargs["mask_input"] = mask_input.cpu().numpy()[None]
    return kwargs


def our_kwargs(parts, mask_input, size, device):
    h, w = IMAGE_HW
    scale = torch.tensor([size / w, size / h])
    kwargs = {}
    if "box" in parts:
        kwargs["boxes"] = (torch.tensor(BOX).view(2, 2) * scale).view(1, 1, 4).to(device)
    if "points" in parts:
        kwargs["points"] = (
            (torch.tensor(POINTS) * scale)[None, None].to(device),
            torch.tensor(LABELS)[None, None].to(device),
        )
    if "mask" in parts:
        kwargs["mask_inputs"] = mask_input.view(1, 1, 1, *mask_input.shape[-2:]).to(device)
    return kwargs


def diff(a, b) -> float:
    a, b = torch.as_tensor(a).float().cpu(), torch.as_tensor(b).float().cpu()
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from samhq_train.model.registry import FAMILIES, build_model

    start = time.time()
    tracker, predictor, state = build_meta(args.seed, args.device)
    image = (np.random.default_rng(args.seed).random((*IMAGE_HW, 3)) * 255).astype(np.uint8)
    predictor.set_image(image)
    print(f"Meta built and encoded in {time.time() - start:.0f} s")

    ours = build_model("sam3_hq")
    computed = set(ours.state_dict())
    FAMILIES["sam3"].adopt_state(ours, state)
    carried = set(ours.state_dict()) - computed
    result = ours.load_state_dict(state, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys[:5]
    assert all(
        ours.family == "sam3" and ("hf_" in k or "maskfeature" in k) for k in result.missing_keys
    )
    ours = ours.eval().to(args.device)
    n_ours = len([k for k in ours.state_dict() if not ("hf_" in k or "maskfeature" in k)])
    print(
        f"keys: Meta tracker path {len(state)}, ours without HQ {n_ours} ({len(carried)} carried), "
        f"HQ {len(result.missing_keys)}"
    )
    x = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255
    x = (
        F.interpolate(
            x, (ours.image_size,) * 2, mode="bilinear", align_corners=False, antialias=True
        )
        * 255
    )
    features = ours.encode(x.to(args.device))
    ref = predictor._features
    print(
        f"embedding {diff(features.embedding, ref['image_embed']):.1e}  "
        f"high_res_0 {diff(features.high_res_0, ref['high_res_feats'][0]):.1e}  "
        f"high_res_1 {diff(features.high_res_1, ref['high_res_feats'][1]):.1e}  "
        f"(embedding max |x| {ref['image_embed'].abs().max().item():.2f})"
    )
    _, _, box_low = predictor.predict(box=np.array(BOX), multimask_output=False, return_logits=True)
    mask_input = torch.from_numpy(box_low[0])
    scores = []
    hooks = [
        tracker.sam_mask_decoder.register_forward_hook(lambda m, a, o: scores.append(o[3])),
        ours.sam_mask_decoder.register_forward_hook(
            lambda m, a, o: scores.append(o.object_score_logits)
        ),
    ]
    print(
        "| prompt | multimask | low-res logits | IoU | object score | mask logits "
        "| mask pixels differing |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, parts in PROMPTS.items():
        for multimask in (False, True):
            masks, iou, low = predictor.predict(
                multimask_output=multimask, return_logits=True, **meta_kwargs(parts, mask_input)
            )
            o_low, o_iou = ours.decode(
                features,
                multimask_output=multimask,
                use_hq=False,
                **our_kwargs(parts, mask_input, ours.image_size, args.device),
            )
            o_masks = ours.postprocess_masks(o_low[0, 0], None, IMAGE_HW)
            flips = ((o_masks.cpu() > 0) != torch.from_numpy(masks > 0)).sum().item()
            print(
                f"| {name} | {multimask} | {diff(o_low[0, 0].clamp(-32, 32), low):.1e} | "
                f"{diff(o_iou[0, 0], iou):.1e} | {diff(scores[-1], scores[-2]):.1e} | "
                f"{diff(o_masks, masks):.1e} | {flips} |"
            )
    for hook in hooks:
        hook.remove()
    print(f"done in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
