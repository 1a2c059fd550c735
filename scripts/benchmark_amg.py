"""Automatic mask generation on the CPU: seconds per image and the process's peak RSS.

    python scripts/benchmark_amg.py                                   # demo model, demo image
    python scripts/benchmark_amg.py --size 3000 4000 --crop-n-layers 1 --points-per-side 16
    python scripts/benchmark_amg.py --variant vit_b --size 768 1024 --points-per-side 16 \
        --dtype fp32 bf16 --runs 2 --threads 1     # random vit_b, fp32 and bf16 runs alternating

The image is a demo sample (samhq_train.data.demo, 256 x 320) resized to --size (height width).
The model is --checkpoint, --variant (random weights, seed 0, decoded with the HQ token), or the
shipped demo base run as plain SAM (its HQ parts, multimask tokens and IoU head are untrained:
hence --pred-iou-thresh 0 by default). --dtype bf16 runs the generator under bfloat16 autocast
(AutomaticMaskGenerator(amp_dtype=)); with several dtypes each run goes through them in turn, so
that a busy machine slows them alike. Prints one line per run and dtype, the peak resident memory
of the process and what it held before generating (imports, model, image). --overlay PATH saves
the picture (of the last run).
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
from samhq_train.model import build_sam_hq, load_checkpoint

DTYPES = {"fp32": None, "bf16": torch.bfloat16}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--checkpoint", default=str(DEMO_CHECKPOINT))
    ap.add_argument("--variant", help="random weights of this variant instead of --checkpoint")
    ap.add_argument("--dtype", nargs="+", choices=sorted(DTYPES), default=["fp32"])
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
    demo = args.variant is None and args.checkpoint == str(DEMO_CHECKPOINT)
    if args.variant:
        model, name = build_sam_hq(args.variant, seed=0).eval(), f"random {args.variant}"
    else:
        model, name = load_checkpoint(args.checkpoint).eval(), args.checkpoint.split("/")[-1]
    image, _ = make_demo_sample(0, "val", args.sample, 256, 320)
    if tuple(args.size) != image.shape[:2]:  # resized up: no full-size float temporaries
        image = cv2.resize(image, tuple(args.size[::-1]), interpolation=cv2.INTER_LINEAR)
    generators = {
        dtype: AutomaticMaskGenerator(
            model,
            points_per_side=args.points_per_side,
            crop_n_layers=args.crop_n_layers,
            pred_iou_thresh=args.pred_iou_thresh,
            stability_score_thresh=args.stability_score_thresh,
            use_hq=not demo,
            multimask_output=not demo,
            amp_dtype=DTYPES[dtype],
        )
        for dtype in args.dtype
    }
    before_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for run in range(args.runs):
        for dtype, generator in generators.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            found = generator.generate_candidates(image)
            seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
            print(
                f"run {run} {dtype}: {model.family} {name} image {args.size[0]}x{args.size[1]} "
                f"points_per_side {args.points_per_side} crop_n_layers {args.crop_n_layers} "
                f"threads {args.threads}: {len(found)} masks in {seconds:.2f} s "
                f"({cpu_seconds:.2f} s of CPU time)",
                flush=True,
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
