"""samhq-video-concept-eval: SAM 3's video concept segmentation metrics on SA-Co/VEval (a GT JSON
of videos, masklets and video x noun-phrase pairs, negatives included): cgF1, IL_MCC, positive
micro F1, phrase AP and pHOTA, masks and boxes, equal to Meta's sam3 VideoCGF1Evaluator,
VideoPhraseApEvaluator and VideoPhraseHotaEvaluator (saco_veval_eval.py).

    samhq-video-concept-eval --gt saco_veval_sav_val.json --pred veval_preds.json --json scores.json
    samhq-video-concept-eval --gt saco_veval_sav_val.json --masks veval_masks/ --write-pred p.json
    samhq-video-concept-eval --gt /path/to/saco_veval_sav_val.json --frames /path/to/JPEGImages/ \\
        --checkpoint /path/to/sam3.pt --bpe /path/to/bpe_simple_vocab_16e6.txt.gz --out veval_masks/

--pred: a YT-VIS result list (Meta's YTVISResultsWriter format: video_id, category_id, score and
per-frame segmentations and bboxes). --masks: samhq-video --text ... --detect-every-frame output
folders, <masks>/<video folder>/<category id>/ (PNGs named as the GT frames, concept.json), one
per pair the GT asks; each object shown is a masklet with concept.json's score. --checkpoint:
first runs the video concept model (HQ-SAM 3 / SAM 3 with its detector) on each pair, the text on
the first of the GT's frames (<frames>/<file name>), into that layout under --out, then scores it.
A predicted masklet counts for cgF1 when its score is at least 0.5 (for pHOTA: above 0.5);
phrase AP ranks them all by score. The table: cgF1, positive micro F1, phrase AP (percent) and
IL_MCC over IoU 0.50:0.95, at 0.50 and at 0.75; pHOTA with DetA, AssA, LocA (percent). --json:
Meta's eval_res layout (dataset_results under Meta's key names, video_np_results per pair);
--write-pred: the YT-VIS result list scored (Meta's evaluator takes it as --pred_file). Exit
status 0, or 2 with one error line naming the file and entry before anything is scored or the
model loads.
"""

from __future__ import annotations

from samhq_train.errors import run_as_main

if __name__ == "__main__":  # python -m: started as the installed command (one line on Ctrl-C)
    run_as_main("samhq_train.cli.video_concept_eval")

import argparse
import json
from pathlib import Path

from samhq_train.errors import exit_on_user_error
from samhq_train.evaluation.video.concept_ap import video_phrase_ap
from samhq_train.evaluation.video.concept_hota import video_phrase_hota
from samhq_train.evaluation.video.concept_inputs import (
    asked_pairs,
    predicted_masklets,
    read_ground_truth,
    read_json,
)
from samhq_train.evaluation.video.concept_masks import predictions_from_masks
from samhq_train.evaluation.video.concept_metrics import SCORE_THRESHOLD, video_cgf1
from samhq_train.files import atomic_write_text
from samhq_train.inference.command_options import (
    add_device_options,
    add_hq_option,
    add_weights_options,
    check_device_options,
)
from samhq_train.output_check import check_output_file

from .video_concept_run import run_pairs

RUN_ONLY = ("frames", "out", "bpe", "concept_settings", "base", "variant", "format", "hq")
ROWS = [("cgF1", "demo_cgf1_micro", 100), ("positive micro F1", "demo_positive_micro_f1", 100),
        ("IL_MCC", "demo_ilmcc", 1), ("phrase AP", "phrase_ap", 100)]
HOTA_SHOWN = ("HOTA", "DetA", "AssA", "LocA")
IOUS = ("50_95", "50", "75")  # Meta's key suffixes: over IoU 0.50:0.95, at 0.50, at 0.75


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gt", required=True, help="SA-Co/VEval GT JSON (YT-VIS style)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pred", help="YT-VIS result JSON of predicted masklets")
    source.add_argument("--masks", help="samhq-video --detect-every-frame outputs' root")
    source.add_argument("--checkpoint", help="HQ-SAM 3 / SAM 3 weights: run every pair, then score")
    parser.add_argument("--frames", help="with --checkpoint: the frames' root (GT file names)")
    parser.add_argument("--out", help="with --checkpoint: where each pair's masks go")
    parser.add_argument("--bpe", help="with --checkpoint: CLIP's BPE merges file (.txt.gz)")
    parser.add_argument(
        "--threshold", type=float, default=0.5,
        help="with --checkpoint: the detection threshold (default 0.5)",
    )
    parser.add_argument(
        "--concept-settings", help="with --checkpoint: JSON file of the video model's settings"
    )
    parser.add_argument("--base", help="with --checkpoint: base checkpoint of an HQ-only file")
    add_weights_options(parser)
    add_device_options(parser)
    add_hq_option(parser)
    parser.add_argument("--json", help="also write the scores to this JSON file")
    parser.add_argument("--write-pred", help="also write the scored predictions (YT-VIS JSON)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace existing --json / --write-pred / masks"
    )
    args = parser.parse_args(argv)
    if args.checkpoint is None:
        given = [f for f in RUN_ONLY if getattr(args, f) is not None]
        if given:
            parser.error(f"--{given[0].replace('_', '-')} goes with --checkpoint")
    else:
        missing = [f for f in ("frames", "out", "bpe") if getattr(args, f) is None]
        if missing:
            parser.error(f"--checkpoint needs --{missing[0]}")
        if not 0.0 <= args.threshold < 1.0:
            parser.error(f"--threshold must be in [0, 1), got {args.threshold}")
    check_device_options(parser, args)
    return args


def results_table(dataset: dict[str, float]) -> str:
    """cgF1, positive micro F1 and phrase AP in percent, IL_MCC as is; masks, then boxes."""
    lines = [f"{'':24}{'IoU 0.50:0.95':>14}{'0.50':>9}{'0.75':>9}"]
    for kind in ("mask", "bbox"):
        for label, key, scale in ROWS:
            if f"video_{kind}_{key}_50" not in dataset:
                continue  # cgF1 and IL_MCC without video_np_pairs
            values = [dataset[f"video_{kind}_{key}_{at}"] * scale for at in IOUS]
            digits = 2 if scale == 100 else 4
            cells = [f"{values[0]:14.{digits}f}"] + [f"{v:9.{digits}f}" for v in values[1:]]
            lines.append(f"{kind} {label:19}" + "".join(cells))
    for kind in ("mask", "bbox"):
        if f"video_{kind}_all_phrase_HOTA" not in dataset:
            continue  # neither GT nor predictions: no sequence
        hota = {f: dataset[f"video_{kind}_all_phrase_{f}"] * 100 for f in HOTA_SHOWN}
        lines.append(f"{kind} pHOTA {hota['HOTA']:6.2f} (" + ", ".join(
            f"{f} {v:.2f}" for f, v in hota.items() if f != "HOTA") + "; mean over alpha)")
    return "\n".join(lines)


def score(gt, entries: list[dict], where: str) -> dict:
    """The numbers of the predictions `entries`, printed; Meta's eval_res record."""
    preds = predicted_masklets(entries, gt, where)
    pairs = asked_pairs(gt)
    positive = {(m.video_id, m.category_id) for m in gt.masklets}
    kept = sum(p.score >= SCORE_THRESHOLD for p in preds)
    print(f"{len(pairs)} video x phrase pairs ({sum(p in positive for p in pairs)} with GT), "
          f"{len(preds)} predicted masklets ({kept} of score >= {SCORE_THRESHOLD})")
    dataset, per_pair = video_cgf1(gt, preds)
    if not dataset:
        print(f"--gt {gt.path} has no video_np_pairs: IL_MCC and cgF1 are not defined")
    dataset.update(video_phrase_ap(gt, preds))
    hota, hota_per_pair = video_phrase_hota(gt, preds)
    dataset.update(hota)
    for pair, numbers in hota_per_pair.items():
        per_pair.setdefault(pair, {}).update(numbers)
    print(results_table(dataset))
    return {
        "dataset_results": dataset,
        "video_np_results": [{"video_id": v, "category_id": c, **numbers}
                             for (v, c), numbers in per_pair.items()],
    }


def write_json(path: str | None, data, what: str) -> None:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(path), json.dumps(data) + "\n")
        print(f"{what} -> {path}")


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    for flag, path in (("--json", args.json), ("--write-pred", args.write_pred)):
        if path is not None:
            check_output_file(path, flag, overwrite=args.overwrite)
    gt = read_ground_truth(args.gt)
    if args.pred is not None:
        entries, where = read_json(args.pred, "--pred"), f"--pred {args.pred}"
    else:
        masks = run_pairs(args, gt) if args.checkpoint is not None else args.masks
        entries, where = predictions_from_masks(masks, gt), f"--masks {masks}"
    record = score(gt, entries, where)
    write_json(args.write_pred, entries, "predictions")
    write_json(args.json, {"gt": args.gt, **record}, "scores")
    return record
