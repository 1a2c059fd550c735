"""The parity cases of the SAM 3 miniature (shared by the fixture generator, the fixture test and
the live test against Meta's package) and how our model answers them; no sam3 import here."""

import numpy as np
import torch
import torch.nn.functional as F

IMAGE_HW = (160, 208)  # not square: the predictor resizes it to the model's square
BOX = [30.0, 24.0, 170.0, 130.0]
POINTS = [[90.0, 70.0], [40.0, 120.0], [150.0, 40.0]]
LABELS = [1, 0, 1]
# name -> which prompts; "mask" cases feed the low-res logits of the box case's single mask back
PROMPTS = {
    "box": ("box",),
    "points": ("points",),
    "box+points": ("box", "points"),
    "mask": ("mask",),
    "points+mask": ("points", "mask"),
}
CASES = [(name, multimask) for name in PROMPTS for multimask in (False, True)]


def make_image(seed: int = 0) -> np.ndarray:
    """A smooth random H x W x 3 uint8 image (blobs, so masks are not pure noise)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 10, 13, generator=g)
    image = F.interpolate(coarse, IMAGE_HW, mode="bicubic", align_corners=False).clamp(0, 1)
    return (image[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()


def model_input(image: np.ndarray, size: int) -> torch.Tensor:
    """What SAM3InteractiveImagePredictor feeds its backbone, on encode's 0-255 scale: to 0-1
    float, Resize to the square (bilinear, antialias), 1 x 3 x S x S."""
    x = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255
    x = F.interpolate(x, (size, size), mode="bilinear", align_corners=False, antialias=True)
    return x * 255


def decode_kwargs(name: str, size: int, mask_input: torch.Tensor | None) -> dict:
    """One case's prompts as Sam3HQ.decode's keyword arguments (B = P = 1), scaled to the input."""
    h, w = IMAGE_HW
    scale = torch.tensor([size / w, size / h])
    kwargs = {}
    parts = PROMPTS[name]
    if "box" in parts:
        kwargs["boxes"] = (torch.tensor(BOX).view(2, 2) * scale).view(1, 1, 4)
    if "points" in parts:
        kwargs["points"] = (
            (torch.tensor(POINTS) * scale)[None, None],
            torch.tensor(LABELS)[None, None],
        )
    if "mask" in parts:
        kwargs["mask_inputs"] = mask_input.view(1, 1, 1, *mask_input.shape[-2:])
    return kwargs


@torch.no_grad()
def our_outputs(model, image: np.ndarray, mask_input: torch.Tensor) -> dict:
    """Our model's answers to every case: features and, per case, low-res logits (clamped to
    +-32 as the predictor returns them), IoU, object score and mask logits at the image size."""
    features = model.encode(model_input(image, model.image_size))
    out = {
        "image_embed": features.embedding,
        "high_res_feat_0": features.high_res_0,
        "high_res_feat_1": features.high_res_1,
    }
    decoder = model.sam_mask_decoder
    scores = []
    handle = decoder.register_forward_hook(lambda m, a, o: scores.append(o.object_score_logits))
    try:
        for name, multimask in CASES:
            kwargs = decode_kwargs(name, model.image_size, mask_input)
            low, iou = model.decode(features, multimask_output=multimask, use_hq=False, **kwargs)
            low, iou = low[0, 0], iou[0, 0]
            out[f"{name}/{multimask}"] = {
                "low_res": low.clamp(-32.0, 32.0),
                "iou": iou,
                "object_score": scores[-1][0],
                "masks": model.postprocess_masks(low, (model.image_size,) * 2, IMAGE_HW),
            }
    finally:
        handle.remove()
    return out
