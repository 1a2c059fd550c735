"""samhq-predict: masks for prompts on images with trained SAM-HQ weights (mask and overlay PNGs).

    samhq-predict IMAGE [IMAGE|FOLDER ...] --checkpoint CKPT --box X0 Y0 X1 Y1 --out DIR
    samhq-predict photo.jpg --checkpoint sam_hq_vit_b.pth --point 300 200 1 \\
        --point 50 60 0
    samhq-predict images/ --checkpoint last.ckpt --prompts prompts/ --bf16

--checkpoint takes any format load_checkpoint reads (official .pth, transformers directory,
safetensors, a training .ckpt; an HQ-only file together with --base; --format overrides the
detection). Prompts are in original image pixels. Each --box gives one mask (several boxes are
decoded as a batch); --point X Y LABEL (1 foreground, 0 background) adds a point to every prompt
(or makes the prompt when there is no box). --prompts is a json file (for a single image) or a
folder of <image stem>.json files (samhq_train.inference.prompt_file).
Writes <out>/<stem>_mask.png (<stem>_mask<i>.png for several boxes), <stem>_overlay.png and
<out>/predictions.json (files and scores of every image written, also when the run stops early).
<i> is the box's entry number (among the --box options, or in its prompt file); in the overlay,
mask i, its box and its number share one colour of a colour-blind-safe palette, foreground
points are discs and background points X marks. The printed and listed score is SAM's predicted
IoU (the IoU head scores SAM's mask; the HQ token has none), also with --hq-token-only.
Small holes are filled as the family's official image predictor fills them (SAM 3's
SAM3InteractiveImagePredictor: up to 256 pixels of the low-res mask; SAM 1 and SAM 2.1: none);
--fill-hole-area N sets the area (0: off).
A checkpoint without trained HQ parts (an official SAM / SAM 2.1 / SAM 3 file, a shipped demo
base) decodes as that plain model, after a note line saying so; --no-hq does so for any
checkpoint (--multimask then writes SAM's best-scored of its 3 masks).
Inputs that share a stem (a.jpg and a.png, or two folders) get distinct names: <stem>_<ext>, then
<folder>_<stem>_<ext>. A folder's subfolders are not read (a note counts them: pass them as
inputs). Images are used as stored: an EXIF orientation flag is not applied (a note says so).
Existing outputs are never replaced unless --overwrite (a rerun into the same --out is refused
and the message names a fresh folder); the parent of --out must exist. While the run goes,
<out>/predictions.jsonl lists each finished image, so that a run stopped early (a full disk: one
error line, exit 2) keeps its listing; predictions.json replaces it at the end.

Exit status:
  0  every image was read and every prompt used.
  2  an image that cannot be read (damaged, not an image, over the --max-pixels limit, or with
     no memory left for it) is one error line naming the file and what is wrong; a prompt that
     cannot be used (a box entry that is not 4 numbers, a box outside its image, a point label
     other than 0 / 1, a missing or unreadable prompt file) is one error line naming the image,
     the file and the entry. The other images and prompts go on; when some masks were written, a
     last line counts both kinds and names the output folder; the status is 2 at the end
     (--strict: stop at the first unreadable image). Also 2: bad arguments (argparse's usage
     line), and, in one error line with nothing written, a missing image or folder, a checkpoint
     that does not load, an output file that exists (without --overwrite) or an output folder
     that cannot be made; a full disk during the run (one error line saying where the finished
     images are listed).
"""

from __future__ import annotations

from samhq_train.errors import run_as_main

if __name__ == "__main__":  # python -m: started as the installed command (one line on Ctrl-C)
    run_as_main("samhq_train.cli.predict")

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

from samhq_train.errors import SETUP_ERROR_EXIT, exit_on_user_error
from samhq_train.inference import SamHQPredictor
from samhq_train.inference.batch_predict import (
    DEFAULT_MAX_PIXELS,
    MAX_PIXELS_ENV,
    BatchOptions,
    plan,
    predict_images,
)
from samhq_train.inference.command_options import (
    add_device_options,
    add_hq_option,
    add_weights_options,
    check_device_options,
    check_hq_options,
    decode_with_hq,
    flag_hints,
)
from samhq_train.model import load_checkpoint


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_device_options(parser, args)
    check_hq_options(parser, args)
    check_limits(parser, args)
    check_prompt_options(parser, args)
    return args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("images", nargs="+", help="image files and/or folders of images")
    parser.add_argument(
        "--checkpoint", required=True, help="weights in any format load_checkpoint reads"
    )
    parser.add_argument("--base", help="base SAM / SAM-HQ checkpoint for an HQ-only --checkpoint")
    add_weights_options(parser)
    add_prompt_options(parser)
    add_output_options(parser)
    add_device_options(parser, int8=True)
    add_decoding_options(parser)
    return parser


def add_prompt_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--box", nargs=4, type=float, action="append", metavar=("X0", "Y0", "X1", "Y1")
    )
    parser.add_argument(
        "--point", nargs=3, type=float, action="append", metavar=("X", "Y", "LABEL")
    )
    parser.add_argument("--prompts", help="json file (one image) or folder of <image stem>.json")


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """Where the masks go, and which images are refused or stop the run."""
    parser.add_argument("--out", default="predictions", help="output folder (default: predictions)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace output files that already exist"
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        metavar="N",
        help="refuse images over N pixels (width x height), read from the file header before "
        f"decoding (default: {DEFAULT_MAX_PIXELS:,}, or ${MAX_PIXELS_ENV}; 0: no limit)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="stop at an unreadable image (default: report it, go on, exit status 2 at the end)",
    )


def add_decoding_options(parser: argparse.ArgumentParser) -> None:
    """Which masks the decoder gives: with or without the HQ token, and their hole filling."""
    add_hq_option(parser)
    parser.add_argument(
        "--hq-token-only",
        action="store_true",
        help="the HQ mask alone (default: SAM mask + HQ mask, as the official predictor); the "
        "score stays SAM's predicted IoU (the HQ token has no IoU head)",
    )
    parser.add_argument(
        "--multimask",
        action="store_true",
        help="pick SAM's best of 3 masks to add to the HQ mask (official multimask_output; "
        "without the HQ token: SAM's best of 3 alone)",
    )
    parser.add_argument(
        "--fill-hole-area",
        type=int,
        metavar="N",
        help="fill background holes of up to N pixels of the low-res mask before it is upsampled "
        "(default: the official image predictor's, 256 for SAM 3, 0 for SAM 1 and SAM 2.1; "
        "0: off)",
    )


def check_limits(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--fill-hole-area and --max-pixels are counts of pixels (0: off / no limit)."""
    if args.fill_hole_area is not None and args.fill_hole_area < 0:
        parser.error(f"--fill-hole-area {args.fill_hole_area}: give 0 (off) or more")
    if args.max_pixels is not None and args.max_pixels < 0:
        parser.error(f"--max-pixels {args.max_pixels}: give a number of pixels >= 0 (0: no limit)")


def check_prompt_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Prompts come from --box / --point or from --prompts; a point's label is 0 or 1."""
    if args.prompts and (args.box or args.point):
        parser.error("give prompts either with --box/--point or with --prompts, not both")
    if not (args.prompts or args.box or args.point):
        parser.error("no prompt: give --box, --point or --prompts")
    for x, y, label in args.point or []:
        if label not in (0, 1):
            parser.error(f"--point {x:g} {y:g} {label:g}: LABEL must be 1 (foreground) or 0 "
                         "(background)")


def options_of(args: argparse.Namespace) -> BatchOptions:
    return BatchOptions(
        out=Path(args.out),
        boxes=args.box,
        points=args.point,
        prompts=args.prompts,
        multimask=args.multimask,
        hq_token_only=args.hq_token_only,
        fill_hole_area=args.fill_hole_area,
        overwrite=args.overwrite,
        strict=args.strict,
        max_pixels=args.max_pixels,
    )


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    """Returns {image: its masks, overlay and scores}; exits with status 2 when an image or a
    prompt was reported (after the others were written)."""
    args = parse_args(argv)
    options = options_of(args)
    images, prompts, stems = plan(args.images, options)
    with flag_hints():
        model = load_checkpoint(
            args.checkpoint, variant=args.variant, format=args.format, base_checkpoint=args.base
        )
    options = dataclasses.replace(options, use_hq=decode_with_hq(model, args.hq))
    predictor = SamHQPredictor(
        model.to(args.device),
        amp_dtype=torch.bfloat16 if args.bf16 or args.int8 else None,
        int8=args.int8,
    )
    batch = predict_images(predictor, images, prompts, stems, options)
    if not batch.complete:
        sys.exit(SETUP_ERROR_EXIT)
    return batch.results
