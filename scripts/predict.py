"""Masks for prompts on images with trained SAM-HQ weights: mask PNGs and overlay PNGs.

    python scripts/predict.py IMAGE [IMAGE|FOLDER ...] --checkpoint CKPT --box X0 Y0 X1 Y1 --out DIR
    python scripts/predict.py photo.jpg --checkpoint sam_hq_vit_b.pth --point 300 200 1 \\
        --point 50 60 0
    python scripts/predict.py images/ --checkpoint last.ckpt --prompts prompts/ --device cuda --bf16

--checkpoint takes any format load_checkpoint reads (official .pth, transformers directory,
safetensors, a training .ckpt; an HQ-only file together with --base). Prompts are in original image
pixels. Each --box gives one mask (several boxes are decoded as a batch); --point X Y LABEL (1
foreground, 0 background) adds a point to every prompt (or makes the prompt when there is no box).
--prompts is a json file (for a single image) or a folder of <image stem>.json files, each
{"boxes": [[x0, y0, x1, y1], ...], "points": [[x, y, label], ...]} ("box": [...] for one box).
Writes <out>/<stem>_mask.png (<stem>_mask<i>.png for several boxes), <stem>_overlay.png and
<out>/predictions.json (files and scores).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from samhq_train.inference import ImageReadError, PromptError, SamHQPredictor, load_image
from samhq_train.model import VARIANTS, CheckpointError, is_hq_only_file, load_checkpoint

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
COLORS = np.array(
    [[30, 144, 255], [255, 99, 71], [50, 205, 50], [238, 130, 238], [255, 215, 0]], np.uint8
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("images", nargs="+", help="image files and/or folders of images")
    parser.add_argument(
        "--checkpoint", required=True, help="weights in any format load_checkpoint reads"
    )
    parser.add_argument("--base", help="base SAM / SAM-HQ checkpoint for an HQ-only --checkpoint")
    parser.add_argument(
        "--variant", choices=sorted(VARIANTS), help="model size (default: from the file)"
    )
    parser.add_argument(
        "--box", nargs=4, type=float, action="append", metavar=("X0", "Y0", "X1", "Y1")
    )
    parser.add_argument(
        "--point", nargs=3, type=float, action="append", metavar=("X", "Y", "LABEL")
    )
    parser.add_argument("--prompts", help="json file (one image) or folder of <image stem>.json")
    parser.add_argument("--out", default="predictions", help="output folder (default: predictions)")
    parser.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="cpu or cuda (default: cuda when available)",
    )
    parser.add_argument(
        "--bf16", action="store_true", help="run the model in bfloat16 autocast (GPU)"
    )
    parser.add_argument(
        "--hq-token-only",
        action="store_true",
        help="the HQ mask alone (default: SAM mask + HQ mask, as the official predictor)",
    )
    parser.add_argument(
        "--multimask",
        action="store_true",
        help="pick SAM's best of 3 masks to add to the HQ mask (official multimask_output)",
    )
    args = parser.parse_args(argv)
    if args.bf16 and not args.device.startswith("cuda"):
        parser.error("--bf16 needs --device cuda")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: CUDA is not available here; use --device cpu")
    if args.prompts and (args.box or args.point):
        parser.error("give prompts either with --box/--point or with --prompts, not both")
    if not (args.prompts or args.box or args.point):
        parser.error("no prompt: give --box, --point or --prompts")
    return args


def list_images(inputs: list[str]) -> list[Path]:
    images = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ImageReadError(
                    f"folder {item} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
                )
            images += found
        elif item.is_file():
            images.append(item)
        else:
            raise ImageReadError(f"image file not found: {item}")
    return images


def read_prompt_file(path: Path) -> dict:
    """{"boxes": B x 4 or None, "points": N x 3 or None} from a prompt json."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise PromptError(f"cannot read prompt file {path}: {err}") from err
    if not isinstance(data, dict) or not set(data) <= {"box", "boxes", "points"} or not data:
        raise PromptError(
            f'prompt file {path} must be a json object with "boxes" (or "box") and/or "points", '
            f"got {data if not isinstance(data, dict) else sorted(data)}"
        )
    boxes = data.get("boxes", [data["box"]] if "box" in data else None)
    try:
        boxes = None if boxes is None else np.asarray(boxes, np.float64).reshape(-1, 4)
        points = (
            None
            if data.get("points") is None
            else np.asarray(data["points"], np.float64).reshape(-1, 3)
        )
    except ValueError as err:
        raise PromptError(
            f'prompt file {path}: "boxes" must be [x0, y0, x1, y1] lists and "points" '
            f"[x, y, label] lists ({err})"
        ) from err
    return {"boxes": boxes, "points": points}


def prompts_for(image: Path, args: argparse.Namespace, n_images: int) -> dict:
    if not args.prompts:
        return {
            "boxes": None if not args.box else np.asarray(args.box, np.float64),
            "points": None if not args.point else np.asarray(args.point, np.float64),
        }
    source = Path(args.prompts)
    if source.is_dir():
        path = source / f"{image.stem}.json"
        if not path.is_file():
            raise PromptError(f"no prompt for image {image}: expected the file {path}")
        return read_prompt_file(path)
    if n_images > 1:
        raise PromptError(
            f"--prompts {source} is one file but {n_images} images were given: "
            "pass a folder of <image stem>.json files"
        )
    return read_prompt_file(source)


def overlay(image: np.ndarray, masks: np.ndarray, boxes, points) -> np.ndarray:
    """RGB image with each mask tinted and outlined, the boxes and points drawn on top."""
    out = image.astype(np.float32)
    for i, mask in enumerate(masks):
        out[mask] = 0.45 * out[mask] + 0.55 * COLORS[i % len(COLORS)]
    out = out.astype(np.uint8)
    for i, mask in enumerate(masks):
        contours, _ = cv2.findContours(
            mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
        )
        cv2.drawContours(out, contours, -1, COLORS[i % len(COLORS)].tolist(), 1)
    for x0, y0, x1, y1 in [] if boxes is None else boxes:
        cv2.rectangle(out, (round(x0), round(y0)), (round(x1), round(y1)), (255, 255, 0), 2)
    for x, y, label in [] if points is None else points:
        cv2.circle(out, (round(x), round(y)), 4, (0, 255, 0) if label == 1 else (255, 0, 0), -1)
    return out


def write_png(path: Path, image: np.ndarray) -> None:
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")


def predict_image(
    predictor: SamHQPredictor, image_path: Path, prompts: dict, args, out_dir: Path
) -> dict:
    image = load_image(image_path)
    predictor.set_image(image)
    boxes, points = prompts["boxes"], prompts["points"]
    try:
        masks, scores, _ = predictor.predict(
            point_coords=None if points is None else points[:, :2],
            point_labels=None if points is None else points[:, 2],
            box=boxes,  # B x 4: one mask per box
            multimask_output=args.multimask,
            hq_token_only=args.hq_token_only,
        )
    except PromptError as err:
        raise PromptError(f"{image_path}: {err}") from err
    masks, scores = masks.reshape(-1, *masks.shape[-2:]), scores.reshape(-1)
    files = []
    for i, mask in enumerate(masks):
        path = out_dir / (
            f"{image_path.stem}_mask.png" if len(masks) == 1 else f"{image_path.stem}_mask{i}.png"
        )
        write_png(path, mask.astype(np.uint8) * 255)
        files.append(str(path))
    overlay_path = out_dir / f"{image_path.stem}_overlay.png"
    write_png(overlay_path, overlay(image, masks, boxes, points))
    return {
        "masks": files,
        "overlay": str(overlay_path),
        "scores": [round(float(s), 6) for s in scores],
    }


def load_model(args: argparse.Namespace):
    if not args.base and is_hq_only_file(args.checkpoint):
        raise CheckpointError(
            f"--checkpoint {args.checkpoint} holds only the HQ parameters: also give --base, the "
            "official SAM (sam_vit_*.pth) or SAM-HQ file of the same variant"
        )
    return load_checkpoint(args.checkpoint, variant=args.variant, base_checkpoint=args.base)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    try:
        images = list_images(args.images)
        prompts = {image: prompts_for(image, args, len(images)) for image in images}
        model = load_model(args).to(args.device)
        predictor = SamHQPredictor(model, amp_dtype=torch.bfloat16 if args.bf16 else None)
        out_dir = Path(args.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        results = {}
        for image in images:
            result = results[str(image)] = predict_image(
                predictor, image, prompts[image], args, out_dir
            )
            print(f"{image}: {', '.join(result['masks'])} scores {result['scores']}")
    except (CheckpointError, ImageReadError, PromptError, OSError) as err:
        sys.exit(f"error: {err}")
    (out_dir / "predictions.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
