"""Compare samhq_train's SAM-HQ with the official segment_anything_hq (and optionally transformers)
at full size, on a real checkpoint you have locally; prints max abs differences.

    python scripts/check_parity.py --variant vit_b --checkpoint /path/sam_hq_vit_b.pth [--image img.jpg]
        [--transformers] [--device cuda]

Not run in CI (needs real weights); tests/model/ does the same on tiny random weights.
"""

import argparse

import torch

from samhq_train.errors import exit_on_user_error
from samhq_train.inference import load_image
from samhq_train.model import build_sam_hq
from samhq_train.model.registry import FAMILIES
from samhq_train.model.sam1 import LongestSideProcessing
from samhq_train.reference import official_twin, transformers_twin


def model_input(image, size: int) -> torch.Tensor:
    """1 x 3 x h x w RGB 0-255: the image (H x W x 3 uint8, or None) resized as the predictor
    does, or random pixels."""
    if image is None:
        return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)) * 255
    image = LongestSideProcessing(size).resize_image(image)
    return torch.from_numpy(image).permute(2, 0, 1)[None]


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()


def compare_bf16(ours, official, image: torch.Tensor, box: torch.Tensor) -> None:
    """How far bf16 autocast moves the HQ logits from fp32, for our model and the official one."""
    device_type = image.device.type
    h, w = image.shape[-2:]

    def ours_logits():
        return ours(image, boxes=box, hq_token_only=True)[0][0].float()

    def official_logits():
        record = {"image": image[0], "original_size": (h, w), "boxes": box[0]}
        return official([record], multimask_output=False, hq_token_only=True)[0]["low_res_logits"].float()

    for name, run in (("ours", ours_logits), ("official", official_logits)):
        reference = run()
        with torch.autocast(device_type, dtype=torch.bfloat16):
            low = run()
        agree = ((low > 0) == (reference > 0)).float().mean().item()
        print(f"bf16 vs fp32 {name:8} max|diff| {max_diff(low, reference):.3e}, mask pixels agreeing {agree:.4%}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sam1 = sorted(FAMILIES["sam1"].variants)  # the official code builds every SAM 1 size
    parser.add_argument("--variant", required=True, choices=sam1)
    parser.add_argument("--checkpoint", required=True, help="official sam_hq_vit_*.pth (or sam_vit_*.pth)")
    parser.add_argument("--image", help="an image file; default: random pixels")
    parser.add_argument("--transformers", action="store_true", help="also compare transformers' SamHQModel")
    parser.add_argument("--bf16", action="store_true", help="also compare bf16 autocast with fp32, ours and official")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    picture = None if args.image is None else load_image(args.image)  # before the models
    ours = build_sam_hq(args.variant, checkpoint=args.checkpoint).to(args.device)
    official = official_twin(ours, args.variant)

    image = model_input(picture, ours.image_size).to(args.device)
    h, w = image.shape[-2:]
    box = torch.tensor([[[w * 0.25, h * 0.25, w * 0.75, h * 0.75]]], device=args.device)
    with torch.no_grad():
        features = ours.encode(image)
        emb, early = features.embedding, features.early
        ref_emb, ref_interm = official.image_encoder(official.preprocess(image))
        print(f"image embedding   max|diff| {max_diff(emb, ref_emb):.3e}")
        print(f"early feature     max|diff| {max_diff(early, ref_interm[0]):.3e}")
        for hq_token_only in (False, True):
            masks, iou = ours.decode(features, boxes=box, hq_token_only=hq_token_only)
            ref = official(
                [{"image": image[0], "original_size": (h, w), "boxes": box[0]}],
                multimask_output=False,
                hq_token_only=hq_token_only,
            )[0]
            print(
                f"hq_token_only={hq_token_only!s:5} low-res masks max|diff| "
                f"{max_diff(masks[0], ref['low_res_logits']):.3e}, iou {max_diff(iou[0], ref['iou_predictions']):.3e}"
            )
        if args.bf16:
            compare_bf16(ours, official, image, box)
        if args.transformers:
            hf = transformers_twin(ours, args.variant).to(args.device)
            out = hf(pixel_values=ours.preprocess(image), input_boxes=box, multimask_output=False)
            masks, iou = ours.decode(features, boxes=box)
            print(f"transformers iou  max|diff| {max_diff(out.iou_scores[0], iou[0]):.3e}")
            print(
                f"transformers masks max|diff| {max_diff(out.pred_masks[0], masks[0]):.3e} "
                "(large: transformers' SamHQ decoder defect, see README)"
            )


if __name__ == "__main__":
    exit_on_user_error(main)()  # a missing or wrong checkpoint: one error line, exit 2
