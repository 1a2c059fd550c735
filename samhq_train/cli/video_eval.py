"""samhq-video-eval: J (region similarity), F (contour accuracy) and J&F of video object
segmentation masks against the ground truth, equal to vos-benchmark 0.1.0 (DAVIS conventions).

    samhq-video-eval --gt DAVIS/ --pred predictions/ --json scores.json
    samhq-video-eval --gt DAVIS/ --pred predictions/ --score-all-frames
    samhq-video-eval --gt DAVIS/Annotations/480p/bmx-trees --pred masks/bmx-trees
    samhq-video-eval --gt DAVIS/ --checkpoint sam2.1_hq_hiera_l.pt --out vos/ --json vos.json
    samhq-video-eval --gt /path/to/sav_val/ --pred /path/to/sav_val_pred/
    samhq-video-eval --gt /path/to/sav_val/ --pred preds/ --video-list /path/to/sav_val/sav_val.txt

--gt: a folder of <sequence>/<frame>.png masks, a DAVIS root (Annotations/480p/<sequence>/, the
sequences of ImageSets/2017/<--split>.txt), or one sequence's folder of PNGs. --pred: the same
shape (one sequence: the folder samhq-video wrote for it), a PNG of the same name for every
scored GT frame. Masks are indexed (palette) PNGs, pixel value = object id, 0 = background,
255 in the GT = void (DAVIS: no object, its pixels not scored; a note line counts them).
The SA-V layout (--layout sav; auto tells it apart, or asks for --layout in one line): one
binary mask per object, <video>/<object>/<frame>.png (an SA-V root: Annotations_6fps/), scored as
SAM 2's sav_dataset/sav_evaluator.py: each object on its own annotated frames, the first and last
of them skipped, nonzero = the object (a PNG with several nonzero values is refused), every GT
object folder needed in --pred; the same averaging as below.
--video-list FILE: only the videos it lists (one a line: SA-V's sav_val.txt / sav_test.txt, as
vos_inference.py's --video_list_file), in its order, instead of every sequence folder (a DAVIS
root's --split file); each must be in --gt. Not read unless given.
The first and last frame of each sequence are not scored (the DAVIS semi-supervised protocol,
vos-benchmark's default); --score-all-frames scores them too.
An object is scored from the first scored frame where it shows (in the GT or the prediction) to
the end; ids only in the prediction are ignored; an object missing from a prediction is an empty
mask. Prints one row per sequence (means over its objects) and the global J, F, J&F: the means
over every object of every sequence, in percent. --json writes the same, unrounded, with each
object's scores (an existing file is kept unless --overwrite).
Exit status 0, or 2 with one error line naming the file or folder, before anything is scored: a
missing folder or sequence, a missing predicted frame, a size mismatch, a mask that is not an
indexed PNG, a folder without masks, an existing --json.

With --checkpoint (instead of --pred) it first runs the semi-supervised benchmark (DAVIS 2017
protocol, as SAM 2's tools/vos_inference.py: each object's first annotated mask is its prompt,
tracked forward; samhq_train/inference/video/benchmark.py) on the frames of --frames (default: the
--gt root, DAVIS JPEGImages/480p/<seq>/; else <frames>/<seq>/), writes <out>/<decoder>/<seq>/
<frame>.png and scores each decoder. An HQ-SAM 2 file runs both decoders of the same weights:
sam2.1 (HQ token off: plain SAM 2.1) and hq-sam2 (on); a file without trained HQ parts (Meta's
SAM 2.1, the demo base): sam2.1 only, after a note line. The table: J&F / J / F of each per
sequence and overall, and HQ-SAM 2 minus SAM 2.1; --json: each decoder's record and the overall
difference. An HQ-SAM 3 / SAM 3 file runs the same way, into sam3 and hq-sam3. Also exit 2
before the model loads: an annotation without its frame or of another size, a first annotated
frame without objects, a --variant of another family, masks already in --out (without
--overwrite); after loading, a checkpoint that is not an HQ-SAM 2 / SAM 2.1 or HQ-SAM 3 / SAM 3
model.
On per-object annotations (SA-V: JPEGImages_24fps/ beside Annotations_6fps/) it runs as
vos_inference.py --per_obj_png_file: no non-overlap constraint, <out>/<decoder>/<video>/<object>/
<frame>.png, one 0 / 1 mask per object and frame.
"""

from __future__ import annotations

from samhq_train.errors import run_as_main

if __name__ == "__main__":  # python -m: started as the installed command (one line on Ctrl-C)
    run_as_main("samhq_train.cli.video_eval")

import argparse
import json
import sys
from pathlib import Path

from samhq_train.errors import UserError, exit_on_user_error
from samhq_train.evaluation.video import (
    LAYOUTS,
    gt_layout,
    plan_evaluation,
    read_video_list,
    results_record,
    results_table,
    score_sequences,
    void_note,
)
from samhq_train.evaluation.video.comparison import comparison_record, comparison_table
from samhq_train.files import atomic_write_text
from samhq_train.inference.command_options import (
    add_device_options,
    add_weights_options,
    check_device_options,
    untrained_hq_note,
)
from samhq_train.inference.video.benchmark import benchmark_predictor, plan_benchmark, run_sequence
from samhq_train.inference.video.command_model import check_variant
from samhq_train.inference.video.command_model import load_model as load_video_model
from samhq_train.output_check import (
    OutputError,
    check_output_dir,
    check_output_file,
)
from samhq_train.progress import track

# what the lines count, per layout: DAVIS frames hold every object, SA-V ones one object each
UNITS = {"davis": ("sequences", "frames"), "sav": ("videos", "object masks")}
# per family, output folder -> (table label, use_hq): the same weights with the HQ token off and on
DECODERS = {
    "sam2": {"sam2.1": ("SAM 2.1", False), "hq-sam2": ("HQ-SAM 2", True)},
    "sam3": {"sam3": ("SAM 3", False), "hq-sam3": ("HQ-SAM 3", True)},
}
DECODER_FOLDERS = [folder for decoders in DECODERS.values() for folder in decoders]


class VideoBenchmarkError(UserError):
    """A --checkpoint, --frames or --out the benchmark cannot use; the message names it."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gt", required=True, help="ground-truth root (or a DAVIS root)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pred", help="predicted masks' root")
    source.add_argument(
        "--checkpoint", help="HQ-SAM 2 / SAM 2.1 weights: track every sequence, then score"
    )
    parser.add_argument("--frames", help="with --checkpoint: the frames' root (default: --gt)")
    parser.add_argument("--out", help="with --checkpoint: where the tracked masks go")
    parser.add_argument("--base", help="base SAM 2.1 checkpoint for an HQ-only --checkpoint")
    add_weights_options(parser)
    add_device_options(parser, bf16=False)
    parser.add_argument("--json", help="also write the scores to this JSON file")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing --json and --out masks"
    )
    frames = parser.add_mutually_exclusive_group()
    frames.add_argument(
        "--skip-first-last",
        dest="skip_first_and_last",
        action="store_true",
        default=True,
        help="leave the first and last frame of each sequence unscored (the default: DAVIS)",
    )
    frames.add_argument(
        "--score-all-frames",
        dest="skip_first_and_last",
        action="store_false",
        help="score every frame",
    )
    parser.add_argument(
        "--split", default="val", help="a DAVIS root's ImageSets/2017/<split>.txt (default: val)"
    )
    parser.add_argument(
        "--video-list", metavar="FILE",
        help="score (with --checkpoint: track) only the videos this file lists, one a line "
        "(SA-V's sav_val.txt / sav_test.txt); each must be in --gt",
    )
    parser.add_argument(
        "--layout", choices=LAYOUTS, default="auto",
        help="davis: <sequence>/<frame>.png masks of object ids; sav: <video>/<object>/<frame>.png "
        "binary masks (SA-V); auto (default): what --gt holds",
    )
    args = parser.parse_args(argv)
    if args.checkpoint is None:
        given = [f for f in ("frames", "out", "base", "variant", "format") if getattr(args, f)]
        if given:
            parser.error(f"--{given[0]} goes with --checkpoint; with --pred only scores are made")
    elif args.out is None:
        parser.error("--checkpoint needs --out: the folder the tracked masks are written to")
    check_device_options(parser, args)
    return args


def load_model(args: argparse.Namespace):
    """(model, its decoders as DECODERS has them): both with trained HQ parts, the plain one alone
    (and a note) without."""
    model = load_video_model(args)
    note = untrained_hq_note(model)
    if note is not None:
        print(note, file=sys.stderr)
    decoders = DECODERS[model.family]
    if note is not None:
        decoders = {folder: (label, hq) for folder, (label, hq) in decoders.items() if not hq}
    return model.to(args.device), decoders


def check_out(out: Path, overwrite: bool) -> None:
    try:
        check_output_dir(
            out, [out / d for d in DECODER_FOLDERS], overwrite=overwrite, create_parents=True,
            folder_targets=[out / d for d in DECODER_FOLDERS],
            taken_hint="pass --overwrite to replace the masks there, or give another --out",
            elsewhere="give another --out",
        )
    except OutputError as err:
        raise VideoBenchmarkError(str(err)) from None


def run_benchmark(args: argparse.Namespace) -> dict:
    """Track every sequence with each decoder, score each, print the comparison."""
    check_variant(args.variant)
    videos = _video_list(args)
    layout = gt_layout(args.gt, args.split, args.layout, videos)
    per_object = layout == "sav"
    names = None if videos is None else videos.names
    sequences = plan_benchmark(args.frames or args.gt, args.gt, args.split, per_object, names)
    out = Path(args.out)
    check_out(out, args.overwrite)
    model, decoders = load_model(args)
    results, preds = {}, {}
    for decoder, (label, use_hq) in decoders.items():
        predictor = benchmark_predictor(model, use_hq, per_object)
        for seq in track(sequences, f"{label} tracking", unit="video"):
            run_sequence(predictor, seq, out / decoder)
        preds[label] = str(out / decoder)
        plans = plan_evaluation(
            args.gt, out / decoder, skip_first_and_last=args.skip_first_and_last, split=args.split,
            layout=layout, videos=videos,
        )
        results[label] = score_sequences(plans)
    _print_void_note(next(iter(results.values()))[0])
    print(f"{len(sequences)} {UNITS[layout][0]} tracked -> {out}")
    print(comparison_table(results))
    record = comparison_record(
        results, skip_first_and_last=args.skip_first_and_last, gt=args.gt, preds=preds,
        layout=layout,
    )
    for label in results if videos is not None else ():
        record[label]["video_list"] = str(videos.path)  # as score_folders' record
    return record


def _print_void_note(sequences) -> None:
    note = void_note(sequences)
    if note is not None:
        print(note, file=sys.stderr)


def _video_list(args: argparse.Namespace):
    return None if args.video_list is None else read_video_list(args.video_list)


def score_folders(args: argparse.Namespace) -> dict:
    videos = _video_list(args)
    layout = gt_layout(args.gt, args.split, args.layout, videos)
    plans = plan_evaluation(
        args.gt, args.pred, skip_first_and_last=args.skip_first_and_last, split=args.split,
        layout=layout, videos=videos,
    )
    which = "first and last frames not scored" if args.skip_first_and_last else "all frames"
    units, frames = UNITS[layout]
    print(f"{len(plans)} {units}, {sum(len(p.gt) for p in plans)} {frames} scored ({which})")
    sequences, overall = score_sequences(plans)
    _print_void_note(sequences)
    print(results_table(sequences, overall))
    record = results_record(
        sequences, overall, skip_first_and_last=args.skip_first_and_last, gt=args.gt,
        pred=args.pred, layout=layout,
    )
    return record if videos is None else record | {"video_list": str(videos.path)}


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.json is not None:
        check_output_file(
            args.json, "--json", overwrite=args.overwrite, example=f"{args.json}.json"
        )
    record = score_folders(args) if args.checkpoint is None else run_benchmark(args)
    if args.json is not None:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(record, indent=1) + "\n")
        print(f"scores -> {path}")
    return record
