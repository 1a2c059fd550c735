"""samhq-video-eval: J (region similarity), F (contour accuracy) and J&F of video object
segmentation masks against the ground truth, equal to vos-benchmark 0.1.0 (DAVIS conventions).

    samhq-video-eval --gt DAVIS/ --pred predictions/ --json scores.json
    samhq-video-eval --gt DAVIS/ --pred predictions/ --score-all-frames
    samhq-video-eval --gt DAVIS/Annotations/480p/bmx-trees --pred masks/bmx-trees

--gt: a folder of <sequence>/<frame>.png masks, a DAVIS root (Annotations/480p/<sequence>/, the
sequences of ImageSets/2017/<--split>.txt), or one sequence's folder of PNGs. --pred: the same
shape (one sequence: the folder samhq-video wrote for it), a PNG of the same name for every
scored GT frame. Masks are indexed (palette) PNGs, pixel value = object id, 0 = background.
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
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from samhq_train.errors import exit_on_user_error
from samhq_train.evaluation.video import (
    plan_evaluation,
    results_record,
    results_table,
    score_sequences,
)
from samhq_train.files import atomic_write_text
from samhq_train.output_check import OutputError, check_writable_folder


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gt", required=True, help="ground-truth root (or a DAVIS root)")
    parser.add_argument("--pred", required=True, help="predicted masks' root")
    parser.add_argument("--json", help="also write the scores to this JSON file")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json")
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
    return parser.parse_args(argv)


def check_json_out(path: Path, overwrite: bool) -> None:
    """--json names a file in a writable folder; an existing one is replaced only with
    --overwrite."""
    if path.is_dir():
        raise OutputError(f"--json {path} is a folder; give the file to write, e.g. {path}.json")
    check_writable_folder(path.parent, "--json's folder")
    if path.exists() and not overwrite:
        raise OutputError(
            f"--json {path} already exists: pass --overwrite to replace it, or give another --json"
        )


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.json is not None:
        check_json_out(Path(args.json), args.overwrite)
    plans = plan_evaluation(
        args.gt, args.pred, skip_first_and_last=args.skip_first_and_last, split=args.split
    )
    which = "first and last frames not scored" if args.skip_first_and_last else "all frames"
    print(f"{len(plans)} sequences, {sum(len(p.gt) for p in plans)} frames scored ({which})")
    sequences, overall = score_sequences(plans)
    print(results_table(sequences, overall))
    record = results_record(
        sequences, overall, skip_first_and_last=args.skip_first_and_last, gt=args.gt,
        pred=args.pred,
    )
    if args.json is not None:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(record, indent=1) + "\n")
        print(f"scores -> {path}")
    return record


if __name__ == "__main__":
    main()
