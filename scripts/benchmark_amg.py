"""Automatic mask generation on the CPU: seconds per image and the process's peak RSS.

    python scripts/benchmark_amg.py                                   # demo model, demo image
    python scripts/benchmark_amg.py --size 3000 4000 --crop-n-layers 1 --points-per-side 16

The image is a demo sample (samhq_train.data.demo, 256 x 320) resized to --size (height width).
The model is
--checkpoint, or the shipped demo base run as plain SAM (its HQ parts, multimask tokens and IoU
head are untrained: hence --pred-iou-thresh 0 by default). Prints one line per run, the peak
resident memory of the process and what it held before generating (imports, model, image).
--overlay PATH saves the picture.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import cv2
import torch

from samhq_train.data.demo import make_demo_sample
from samhq_train.inference import AutomaticMaskGenerator
from samhq_train.inference.amg_command import DEMO_CHECKPOINT, draw_masks
from samhq_train.model import load_checkpoint


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--checkpoint", default=str(DEMO_CHECKPOINT))
    ap.add_argument("--size", nargs=2, type=int, default=[256, 320], metavar=("H", "W"))
    ap.add_argument("--sample", type=int, default=1, help="demo sample index (val split)")
    ap.add_argument("--points-per-side", type=int, default=32)
    ap.add_argument("--crop-n-layers", type=int, default=0)
    ap.add_argument("--pred-iou-thresh", type=float, default=0.0)
    ap.add_argument("--stability-score-thresh", type=float, default=0.9)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--overlay", help="save the overlay picture here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    demo = args.checkpoint == str(DEMO_CHECKPOINT)
    model = load_checkpoint(args.checkpoint).eval()
    image, _ = make_demo_sample(0, "val", args.sample, 256, 320)
    if tuple(args.size) != image.shape[:2]:  # resized up: no full-size float temporaries
        image = cv2.resize(image, tuple(args.size[::-1]), interpolation=cv2.INTER_LINEAR)
    generator = AutomaticMaskGenerator(
        model,
        points_per_side=args.points_per_side,
        crop_n_layers=args.crop_n_layers,
        pred_iou_thresh=args.pred_iou_thresh,
        stability_score_thresh=args.stability_score_thresh,
        use_hq=not demo,
        multimask_output=not demo,
    )
    before_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for run in range(args.runs):
        start, cpu_start = time.perf_counter(), time.process_time()
        found = generator.generate_candidates(image)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        print(
            f"run {run}: {model.family} {args.checkpoint.split('/')[-1]} image {args.size[0]}x"
            f"{args.size[1]} points_per_side {args.points_per_side} crop_n_layers "
            f"{args.crop_n_layers} threads {args.threads}: {len(found)} masks in {seconds:.2f} s "
            f"({cpu_seconds:.2f} s of CPU time)"
        )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"RSS before generating {before_mib:.0f} MiB (imports, model, image); "
        f"peak RSS {peak_mib:.0f} MiB"
    )
    if args.overlay:
        cv2.imwrite(args.overlay, cv2.cvtColor(draw_masks(image, found.rles), cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    sys.exit(main())
