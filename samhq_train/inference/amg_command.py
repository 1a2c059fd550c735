"""Every mask of an image ("segment everything") with trained SAM-HQ weights: COCO-style JSON and
an overlay picture (each mask in its own colour) per image.

    python scripts/amg.py --image photo.jpg --checkpoint sam_hq_vit_b.pth --out masks/
    python scripts/amg.py --images photos/ --checkpoint last.ckpt --crop-n-layers 1 --out masks/
    python scripts/amg.py --image photo.jpg --out masks/          # the shipped demo model
    python scripts/amg.py --image photo.jpg --checkpoint sam3_hq.pt --bf16 --out masks/

--checkpoint takes any format load_checkpoint reads (an HQ-only file together with --base;
--variant and --format override what the file says).
Without it, the shipped demo base (data/demo_base/vit_demo_base.safetensors). A checkpoint with
trained HQ parts decodes with the HQ token (SAM mask + HQ mask, as the official SAM-HQ generator);
one without (an official SAM / SAM 2.1 / SAM 3 file, a shipped demo base) decodes as that plain
model, after a note line saying so; --no-hq gives the plain SAM / SAM 2.1 / SAM 3 of any weights.
A shipped demo base also decodes single-mask (--no-multimask): its multimask tokens are
untrained. --bf16 runs the encoder and the decoder under bfloat16 autocast (CPU or GPU); scores
and masks come from float32 logits.
Writes <out>/<stem>.json (COCO style: images, annotations with segmentation in --output-mode,
area, bbox x y w h, predicted_iou, stability_score, point_coords, crop_box; categories) and
<out>/<stem>_overlay.png; with --output-mode binary_mask the masks are PNGs in <out>/<stem>_masks/
and each segmentation names its file; the JSON's info.samhq_amg records the settings. Existing
outputs are kept unless --overwrite; --skip-existing skips the images an earlier run with the same
settings finished (after Ctrl-C or a fixed image: the rest are made; outputs of other settings
are refused, or with --overwrite as well redone).
Exit status 0, or 2 with one error line for bad input (a missing or unreadable image, a folder
without images, a checkpoint that does not load, an option out of range, outputs that exist); an
unreadable image of several is its error line, the others go on, and a last line counts both.
Ctrl-C (SIGTERM alike) stops with one line counting the images whose files were written (each
whole: none of the interrupted image's stays), exit 130 (143); --skip-existing then finishes.
"""

from __future__ import annotations

from samhq_train.errors import run_as_main

if __name__ == "__main__":  # python -m: started as the installed command (one line on Ctrl-C)
    run_as_main("samhq_train.inference.amg_command")

import argparse
import colorsys
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from samhq_train.constants import DEMO_BASE_DIR
from samhq_train.errors import UserError, exit_on_user_error
from samhq_train.files import all_or_none, atomic_write_text
from samhq_train.imaging import IMAGE_SUFFIXES
from samhq_train.model import CheckpointError, load_checkpoint
from samhq_train.model.formats import is_shipped_demo_base
from samhq_train.progress import track

from . import resume_records
from .amg import OUTPUT_MODES, AutomaticMaskGenerator, rle_to_mask
from .amg.generator import OPTION_RANGES, check_options
from .amg_resume import RECORD_KEY, amg_result, recorded_mask_files, run_record
from .command_options import (
    add_device_options,
    add_hq_option,
    add_weights_options,
    check_device_options,
    check_hq_options,
    checkpoint_refusal,
    flag_hints,
    hq_choice,
)
from .export import OutputError, check_output_dir
from .interrupted import exit_interrupted
from .mask_folders import write_mask_folder
from .predict_files import write_png
from .predictor import ImageReadError, load_image
from .resume_records import SKIP_EXISTING_AGAIN, taken_hint

DEMO_CHECKPOINT = DEMO_BASE_DIR / "vit_demo_base.safetensors"
TINT = 0.5  # weight of a mask's colour over the image


class AmgInputError(UserError):
    """An input of the amg command that cannot be used; the message names it."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--image", action="append", default=[], help="an image file (repeatable)")
    parser.add_argument("--images", help="a folder of images")
    parser.add_argument("bare", nargs="*", help=argparse.SUPPRESS)  # samhq-predict's habit
    parser.add_argument("--checkpoint", help="weights in any format (default: the demo base)")
    parser.add_argument("--base", help="base SAM / SAM-HQ checkpoint for an HQ-only --checkpoint")
    add_weights_options(parser)
    parser.add_argument("--out", default="amg", help="output folder (default: amg)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="skip the images an earlier run with the same settings finished in --out (with "
        "--overwrite: redo the others)",
    )
    add_device_options(parser, int8=True)
    parser.add_argument("--output-mode", choices=OUTPUT_MODES, default="coco_rle")
    add_hq_option(parser)
    parser.add_argument("--hq-token-only", action="store_true", help="the HQ mask alone")
    parser.add_argument(
        "--multimask",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="multimask output per point (default: on; off for a shipped demo base, whose "
        "multimask tokens are untrained)",
    )
    parser.add_argument("--points-per-side", type=int, default=32)
    parser.add_argument("--points-per-batch", type=int, default=64)
    parser.add_argument(
        "--pred-iou-thresh",
        type=float,
        help="default: the family's (SAM 0.88, SAM 2.1 and SAM 3 0.8)",
    )
    parser.add_argument("--stability-score-thresh", type=float, default=0.95)
    parser.add_argument("--stability-score-offset", type=float, default=1.0)
    parser.add_argument("--box-nms-thresh", type=float, default=0.7)
    parser.add_argument("--crop-n-layers", type=int, default=0)
    parser.add_argument("--crop-nms-thresh", type=float, default=0.7)
    parser.add_argument("--crop-overlap-ratio", type=float, default=512 / 1500)
    parser.add_argument("--crop-n-points-downscale-factor", type=int, default=1)
    parser.add_argument("--min-mask-region-area", type=int, default=0)
    args = parser.parse_args(argv)
    if args.bare:
        name = args.bare[0]
        given = f"--images {name}" if Path(name).is_dir() else f"--image {name}"
        parser.error(f"give images with their flag: {given} (--image FILE is repeatable, "
                     "--images FOLDER)")
    if not args.image and not args.images:
        parser.error("give --image FILE (repeatable) and/or --images FOLDER")
    check_device_options(parser, args)
    check_hq_options(parser, args)
    check_generator_options(args)
    return args


def flag_of(option: str) -> str:
    return "--" + option.replace("_", "-")


def check_generator_options(args: argparse.Namespace) -> None:
    """The generator's options checked as the flags they came from, before anything is read:
    one error line naming the flag (AmgOptionError is a UserError)."""
    check_options({name: getattr(args, name) for name in OPTION_RANGES}, named=flag_of)


def list_images(files: list[str], folder: str | None) -> list[Path]:
    """The images of --image (files) and --images (a folder's), refused in one line each: a
    folder given as --image or a file as --images names the other option."""
    images = []
    for name in files:
        if Path(name).is_dir():
            raise AmgInputError(f"--image {name} is a folder: give an image file, or pass the "
                                f"folder as --images {name}")
        if not Path(name).is_file():
            raise AmgInputError(f"--image {name}: file not found")
        images.append(Path(name))
    if folder is not None:
        if Path(folder).is_file():
            raise AmgInputError(f"--images {folder} is a file: give a folder of images, or pass "
                                f"the file as --image {folder}")
        if not Path(folder).is_dir():
            raise AmgInputError(f"--images {folder}: folder not found")
        found = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise AmgInputError(
                f"--images {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        images += found
    stems = [p.stem for p in images]
    repeated = sorted({s for s in stems if stems.count(s) > 1})
    if repeated:
        raise AmgInputError(
            f"several images share the name {repeated[0]!r}: outputs are named by it; rename one"
        )
    return images


def load_model(args: argparse.Namespace):
    path = args.checkpoint or DEMO_CHECKPOINT
    if args.checkpoint is None and not DEMO_CHECKPOINT.is_file():
        raise AmgInputError(f"the demo model {DEMO_CHECKPOINT} is not here: give --checkpoint")
    try:
        with flag_hints():
            return load_checkpoint(
                path, variant=args.variant, format=args.format, base_checkpoint=args.base
            )
    except (CheckpointError, FileNotFoundError) as err:
        raise AmgInputError(checkpoint_refusal(f"--checkpoint {path}", path, err)) from None


def mask_colours(n: int) -> np.ndarray:
    """n distinct RGB colours (hues a golden angle apart)."""
    hues = (np.arange(n) * 0.618033988749895) % 1.0
    return np.array([colorsys.hsv_to_rgb(h, 0.75, 1.0) for h in hues]).reshape(-1, 3) * 255


def draw_masks(image: np.ndarray, rles: list[dict]) -> np.ndarray:
    """The image with every mask tinted in its own colour and outlined, largest first (small
    masks stay visible on top); one full-size mask decoded at a time."""
    picture = image.astype(np.float32)
    areas = [sum(r["counts"][1::2]) for r in rles]
    colours = mask_colours(len(rles))
    for i in np.argsort(areas)[::-1]:
        mask = rle_to_mask(rles[i])
        picture[mask] = (1 - TINT) * picture[mask] + TINT * colours[i]
        outline = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        picture[outline] = colours[i] * 0.6
    return np.clip(picture + 0.5, 0, 255).astype(np.uint8)


def write_image_result(
    out: Path, image_path: Path, image: np.ndarray, generator, found, run: dict
) -> int:
    """<stem>.json (recording `run`; <stem>_masks/NNNN.png with --output-mode binary_mask) and
    <stem>_overlay.png, each written whole; a signal or a write error removes the image's files
    written so far. Returns the number of masks."""
    with all_or_none([]) as written:
        return _write_image_result(out, image_path, image, generator, found, run, written)


def _write_image_result(out, image_path, image, generator, found, run, written) -> int:
    records = generator.records(found)
    stem = image_path.stem
    if generator.output_mode == "binary_mask":
        earlier = recorded_mask_files(out / f"{stem}.json", stem)
        masks = [record["segmentation"] for record in records]
        for record, name in zip(records, write_mask_folder(out, stem, masks, earlier, written)):
            record["segmentation"] = name
    annotations = [
        {"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, **record}
        for i, record in enumerate(records)
    ]
    h, w = image.shape[:2]
    coco = {
        "images": [{"id": 1, "file_name": image_path.name, "height": h, "width": w}],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "object"}],
        "info": {"description": "samhq-amg", RECORD_KEY: run},
    }
    written.append(out / f"{stem}.json")
    atomic_write_text(written[-1], json.dumps(coco))
    written.append(out / f"{stem}_overlay.png")
    write_png(written[-1], draw_masks(image, found.rles))
    return len(records)


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    images = list_images(args.image, args.images)
    out = Path(args.out)
    run = run_record(args)
    if args.skip_existing:
        images, redone = skip_finished(images, out, run, args.overwrite)
    else:
        redone = []
    if not images:
        return 0
    fresh = [p for p in images if p not in redone]  # a begun image's own files are replaced
    targets = [out / f"{p.stem}{suffix}" for p in fresh for suffix in (".json", "_overlay.png")]
    mask_folders = [out / f"{p.stem}_masks" for p in fresh if args.output_mode == "binary_mask"]
    try:
        check_output_dir(
            out,
            targets + mask_folders,
            overwrite=args.overwrite,
            create_parents=False,
            folder_targets=mask_folders,
            taken_hint=taken_hint(args.skip_existing),
            elsewhere="give another --out",
        )
    except OutputError as err:
        raise AmgInputError(str(err)) from None
    model = load_model(args).to(args.device)
    demo = is_shipped_demo_base(args.checkpoint or DEMO_CHECKPOINT)
    use_hq, note = hq_choice(model, args.hq)  # the note once an image was read (errors alone)
    generator = AutomaticMaskGenerator(
        model,
        points_per_side=args.points_per_side,
        points_per_batch=args.points_per_batch,
        pred_iou_thresh=args.pred_iou_thresh,
        stability_score_thresh=args.stability_score_thresh,
        stability_score_offset=args.stability_score_offset,
        box_nms_thresh=args.box_nms_thresh,
        crop_n_layers=args.crop_n_layers,
        crop_nms_thresh=args.crop_nms_thresh,
        crop_overlap_ratio=args.crop_overlap_ratio,
        crop_n_points_downscale_factor=args.crop_n_points_downscale_factor,
        min_mask_region_area=args.min_mask_region_area,
        output_mode=args.output_mode,
        multimask_output=(not demo) if args.multimask is None else args.multimask,
        hq_token_only=args.hq_token_only,
        use_hq=use_hq,
        amp_dtype=torch.bfloat16 if args.bf16 else None,
        int8=args.int8,
    )
    out.mkdir(exist_ok=True)
    segment_images(images, out, generator, note, run)
    return 0


def skip_finished(
    images: list[Path], out: Path, run: dict, overwrite: bool
) -> tuple[list[Path], list[Path]]:
    """resume_records.skip_finished of samhq-amg's JSONs: a JSON of other settings or of another
    image is an AmgInputError unless `overwrite`."""
    try:
        return resume_records.skip_finished(images, out, run, amg_result, overwrite, "masks")
    except ValueError as err:
        raise AmgInputError(str(err)) from None


def print_empty_note(generator) -> bool:
    """After the run's first image without masks: which filters dropped them and how to loosen
    them (a small or briefly trained model predicts low IoUs). True once said."""
    iou, stability = generator.pred_iou_thresh, generator.stability_score_thresh
    if iou <= 0 and stability <= 0:
        return False
    print(
        f"note: no mask passed --pred-iou-thresh {iou:g} and --stability-score-thresh "
        f"{stability:g}; a small or briefly trained model scores its masks low: try e.g. "
        "--pred-iou-thresh 0 --stability-score-thresh 0.5",
        file=sys.stderr,
    )
    return True


def segment_images(images: list[Path], out: Path, generator, note: str | None, run: dict) -> None:
    """Every image's files in `out`. An unreadable image of several is one error line and the
    others go on (AmgInputError counting them at the end); one image alone stops at once."""
    done, unreadable, told_empty = 0, 0, False
    try:
        for path in track(images, "amg", bar=False, leave=False):  # piped: a line now and then
            try:
                image = load_image(path)
            except ImageReadError as err:
                if len(images) == 1:
                    raise AmgInputError(str(err)) from None
                print(f"error: {err}", file=sys.stderr)
                unreadable += 1
                continue
            if note is not None:
                print(note, file=sys.stderr)
                note = None
            count = write_image_result(
                out, path, image, generator, generator.generate_candidates(image), run
            )
            print(f"{path}: {count} masks -> {out / (path.stem + '.json')}")
            done += 1
            if count == 0 and not told_empty:
                told_empty = print_empty_note(generator)
    except KeyboardInterrupt as stop:
        exit_interrupted(stop, done, len(images), "images' masks", out, SKIP_EXISTING_AGAIN)
    if unreadable:
        raise AmgInputError(
            f"{unreadable} of {len(images)} images could not be read (listed above); the masks "
            f"of the other {done} are in {out} (once fixed, --skip-existing makes the rest)"
        )
