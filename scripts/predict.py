"""Masks for prompts on images with trained SAM-HQ weights: mask PNGs and overlay PNGs.

    python scripts/predict.py IMAGE [IMAGE|FOLDER ...] --checkpoint CKPT --box X0 Y0 X1 Y1 --out DIR
    python scripts/predict.py photo.jpg --checkpoint sam_hq_vit_b.pth --point 300 200 1 \\
        --point 50 60 0
    python scripts/predict.py images/ --checkpoint last.ckpt --prompts prompts/ --device cuda --bf16

--checkpoint takes any format load_checkpoint reads (official .pth, transformers directory,
safetensors, a training .ckpt; an HQ-only file together with --base; --format overrides the
detection). Prompts are in original image pixels. Each --box gives one mask (several boxes are
decoded as a batch); --point X Y LABEL (1 foreground, 0 background) adds a point to every prompt
(or makes the prompt when there is no box). --prompts is a json file (for a single image) or a
folder of <image stem>.json files (samhq_train.inference.prompt_file).
Writes <out>/<stem>_mask.png (<stem>_mask<i>.png for several boxes), <stem>_overlay.png and
<out>/predictions.json (files and scores of every image written, also when the run stops early).
<i> is the box's entry number (among the --box options, or in its prompt file).
Inputs that share a stem (a.jpg and a.png, or two folders) get distinct names: <stem>_<ext>, then
<folder>_<stem>_<ext>. Existing outputs are never replaced unless --overwrite; the parent of
--out must exist.

Exit status:
  0  every image was read and every prompt used.
  2  an image that cannot be read (damaged, not an image) is one error line naming the file and
     what is wrong; a prompt that cannot be used (a box entry that is not 4 numbers, a box outside
     its image, a point label other than 0 / 1, a missing or unreadable prompt file) is one error
     line naming the image, the file and the entry. The other images and prompts go on; when
     some masks were written, a last line counts both kinds and names the output folder; the
     status is 2 at the end (--strict: stop at the first unreadable image).
     Also 2: bad arguments (argparse's usage line), and, in one error line with nothing written,
     a missing image or folder, a checkpoint that does not load, an output file that exists
     (without --overwrite) or an output folder that cannot be made.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from samhq_train.config_check import SETUP_ERROR_EXIT
from samhq_train.imaging import draw_overlay
from samhq_train.inference import ImageReadError, PromptError, SamHQPredictor, load_image
from samhq_train.inference.export import OutputError, check_output_dir
from samhq_train.inference.prompt_file import ImagePrompts, check_prompt_source
from samhq_train.inference.prompt_file import prompts_for as prompts_from_source
from samhq_train.model import (
    FORMAT_ALIASES,
    FORMATS,
    VARIANTS,
    CheckpointError,
    atomic_write,
    load_checkpoint,
)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
RESULTS_FILE = "predictions.json"
TAKEN_HINT = "pass --overwrite to replace it, or give another --out"


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
    parser.add_argument("--format", choices=[*FORMATS, *FORMAT_ALIASES], help="checkpoint format (default: detected)")
    parser.add_argument(
        "--box", nargs=4, type=float, action="append", metavar=("X0", "Y0", "X1", "Y1")
    )
    parser.add_argument(
        "--point", nargs=3, type=float, action="append", metavar=("X", "Y", "LABEL")
    )
    parser.add_argument("--prompts", help="json file (one image) or folder of <image stem>.json")
    parser.add_argument("--out", default="predictions", help="output folder (default: predictions)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace output files that already exist"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="stop at an unreadable image (default: report it, go on, exit status 2 at the end)",
    )
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
    """The image files of `inputs` (files, and folders' images sorted by name), each once."""
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
    unique = {}
    for image in images:
        unique.setdefault(image.resolve(), image)
    return list(unique.values())


def output_stems(images: list[Path]) -> dict[Path, str]:
    """A distinct output stem per image, deterministic in the input order: the image's stem, or
    for stems shared by several inputs (compared case-insensitively) <stem>_<ext>, then
    <folder>_<stem>_<ext>, then a number."""
    groups: dict[str, list[Path]] = {}
    for image in images:
        groups.setdefault(image.stem.lower(), []).append(image)
    used = {stem for stem, group in groups.items() if len(group) == 1}
    stems = {}
    for image in images:
        if len(groups[image.stem.lower()]) == 1:
            stems[image] = image.stem
            continue
        ext = image.suffix.lstrip(".").lower()
        candidates = [f"{image.stem}_{ext}", f"{image.parent.name}_{image.stem}_{ext}"]
        candidates += [f"{image.stem}_{ext}_{i}" for i in range(2, len(images) + 2)]
        stems[image] = next(c for c in candidates if c.lower() not in used)
        used.add(stems[image].lower())
    return stems


def output_files(out_dir: Path, stem: str, prompts: ImagePrompts) -> tuple[list[Path], Path]:
    """<stem>_mask.png for one prompt, else <stem>_mask<i>.png for box entry i; the overlay."""
    masks = (
        [out_dir / f"{stem}_mask.png"]
        if prompts.box_entries <= 1
        else [out_dir / f"{stem}_mask{i}.png" for i in prompts.box_ids]
    )
    return masks, out_dir / f"{stem}_overlay.png"


def prompts_for(image: Path, args: argparse.Namespace) -> ImagePrompts:
    """The prompts of one image: --box / --point, or its entry in --prompts (when that cannot be
    read: no prompt, and the reason as its problem)."""
    if not args.prompts:
        boxes = None if not args.box else np.asarray(args.box, np.float64)
        n = 0 if boxes is None else len(boxes)
        points = None if not args.point else np.asarray(args.point, np.float64)
        return ImagePrompts(boxes, points, box_ids=list(range(n)), box_entries=n)
    try:
        return prompts_from_source(image, args.prompts)
    except PromptError as err:
        return ImagePrompts(np.zeros((0, 4)), None, problems=[str(err)])


def decode(predictor: SamHQPredictor, prompts: ImagePrompts, args) -> tuple[np.ndarray, np.ndarray]:
    """Masks K x H x W and scores K for the prompts (the boxes as one batch); PromptError when the
    predictor refuses one."""
    points = prompts.points
    masks, scores, _ = predictor.predict(
        point_coords=None if points is None else points[:, :2],
        point_labels=None if points is None else points[:, 2],
        box=prompts.boxes,  # B x 4: one mask per box
        multimask_output=args.multimask,
        hq_token_only=args.hq_token_only,
    )
    return masks.reshape(-1, *masks.shape[-2:]), scores.reshape(-1)


def refusal(predictor: SamHQPredictor, prompts: ImagePrompts, args) -> str | None:
    """Why the predictor refuses these prompts, or None."""
    try:
        decode(predictor, prompts, args)
    except PromptError as err:
        return str(err)
    return None


def decode_usable(predictor: SamHQPredictor, prompts: ImagePrompts, args):
    """(the prompts the predictor takes or None, their masks, scores) and a line for each prompt it
    refuses (its checks need the image: a box outside it, a point label). The points are checked
    on their own first: every box holds them."""
    try:
        return (prompts, *decode(predictor, prompts, args)), []
    except PromptError as err:
        if prompts.boxes is None:
            return (None, None, None), [prompts.where("points") + str(err)]
    points_only = ImagePrompts(None, prompts.points)
    if prompts.points is not None and (why := refusal(predictor, points_only, args)):
        return (None, None, None), [prompts.where("points") + why]
    keep, problems = [], []
    for i, box_id in enumerate(prompts.box_ids):
        why = refusal(predictor, prompts.select([i]), args)
        if why is None:
            keep.append(i)
        else:
            problems.append(prompts.where(f"boxes[{box_id}]") + why)
    if not keep:
        return (None, None, None), problems
    kept = prompts.select(keep)
    return (kept, *decode(predictor, kept, args)), problems


def overlay(image: np.ndarray, masks: np.ndarray, boxes, points) -> np.ndarray:
    """RGB image with each mask tinted and outlined, the boxes and points drawn on top."""
    return draw_overlay(image, masks, boxes=boxes, points=points)


def write_png(path: Path, image: np.ndarray) -> None:
    """Write a PNG atomically (a temporary file renamed over the target)."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"could not encode {path} as PNG")
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data.tobytes()))


def predict_image(
    predictor: SamHQPredictor,
    image_path: Path,
    stem: str,
    prompts: ImagePrompts,
    args,
    out_dir: Path,
) -> tuple[dict | None, list[str]]:
    """Predict and write one image's masks and overlay (None when no prompt could be used) and a
    line for each prompt left out; on failure none of its files remain."""
    image = load_image(image_path)
    predictor.set_image(image)
    (prompts, masks, scores), problems = decode_usable(predictor, prompts, args)
    problems = [f"{image_path}: {line}" for line in problems]
    if prompts is None:
        return None, problems
    mask_paths, overlay_path = output_files(out_dir, stem, prompts)
    if not args.overwrite:
        check_output_dir(out_dir, [*mask_paths, overlay_path], taken_hint=TAKEN_HINT)
    written = []
    try:
        for path, mask in zip(mask_paths, masks):
            write_png(path, mask.astype(np.uint8) * 255)
            written.append(path)
        write_png(overlay_path, overlay(image, masks, prompts.boxes, prompts.points))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    result = {
        "masks": [str(p) for p in mask_paths],
        "overlay": str(overlay_path),
        "scores": [round(float(s), 6) for s in scores],
    }
    return result, problems


def load_model(args: argparse.Namespace):
    return load_checkpoint(
        args.checkpoint, variant=args.variant, format=args.format, base_checkpoint=args.base
    )


def plan(args: argparse.Namespace) -> tuple[list[Path], dict, dict]:
    """Images, their prompts and output stems, and the output folder checked, before any
    weights are read."""
    images = list_images(args.images)
    if args.prompts:
        check_prompt_source(args.prompts, len(images))
    prompts = {image: prompts_for(image, args) for image in images}
    stems = output_stems(images)
    for stem in sorted(set(p.stem for p in images)):
        shared = [p for p in images if p.stem == stem and stems[p] != stem]
        if shared:
            names = ", ".join(f"{p} -> {stems[p]}_*" for p in shared)
            print(f"note: {len(shared)} inputs share the stem {stem!r}: {names}", file=sys.stderr)
    out_dir = Path(args.out)
    planned = [out_dir / RESULTS_FILE]
    for image in images:
        if prompts[image].count:
            masks, overlay_path = output_files(out_dir, stems[image], prompts[image])
            planned += [*masks, overlay_path]
    check_output_dir(out_dir, planned, overwrite=args.overwrite, taken_hint=TAKEN_HINT)
    return images, prompts, stems


def report_prompt_problems(lines: list[str]) -> int:
    """One stderr line per unusable prompt; returns how many."""
    for line in lines:
        print(f"error: {line}", file=sys.stderr)
    return len(lines)


def summary(unreadable: int, unusable: int, out_dir: Path) -> str:
    """The last line after reported images / prompts, when the masks of others were written."""
    counts = [f"{unreadable} unreadable image(s)"] if unreadable else []
    counts += [f"{unusable} unusable prompt(s)"] if unusable else []
    return (
        f"error: {' and '.join(counts)}, listed above; the masks of the others are in {out_dir} "
        f"({RESULTS_FILE})"
    )


def fail(err: Exception) -> None:
    print(f"error: {err}", file=sys.stderr)
    sys.exit(SETUP_ERROR_EXIT)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    out_dir = Path(args.out)
    results: dict[str, dict] = {}
    created = False
    try:
        images, prompts, stems = plan(args)
        model = load_model(args).to(args.device)
        predictor = SamHQPredictor(model, amp_dtype=torch.bfloat16 if args.bf16 else None)
        created = not out_dir.exists()
        out_dir.mkdir(exist_ok=True)
        unreadable = 0  # images reported as unreadable
        failed = 0  # prompts reported as unusable
        for image in images:
            failed += report_prompt_problems(prompts[image].problems)
            if not prompts[image].count:
                continue
            try:
                result, problems = predict_image(
                    predictor, image, stems[image], prompts[image], args, out_dir
                )
            except ImageReadError as err:
                if args.strict:
                    raise
                print(f"error: {err}", file=sys.stderr)
                unreadable += 1
                continue
            failed += report_prompt_problems(problems)
            if result is None:
                continue
            results[str(image)] = result
            print(f"{image}: {', '.join(result['masks'])} scores {result['scores']}")
        if unreadable or failed:
            if results:
                print(summary(unreadable, failed, out_dir), file=sys.stderr)
            sys.exit(SETUP_ERROR_EXIT)
    except (CheckpointError, ImageReadError, PromptError, OutputError, OSError) as err:
        fail(err)
    finally:  # what was written is listed, also when the run stops early
        if results:
            text = json.dumps(results, indent=2) + "\n"
            atomic_write(out_dir / RESULTS_FILE, lambda tmp: Path(tmp).write_text(text))
        elif created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
    return results


if __name__ == "__main__":
    main()
