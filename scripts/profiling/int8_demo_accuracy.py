"""Masks of the int8 CPU encoder (SamHQPredictor(int8=True)) against fp32 and bf16 on the shipped
demo base (data/demo_base/vit_demo_base.safetensors, 384 px) and the 16 demo validation images
(samhq_train.data.demo, seed 0, 256 x 320) with their ground-truth boxes: the base's plain SAM
(use_hq=False, single mask), IoU of each path's mask with the fp32 mask and with the ground truth
(mIoU), and the image embeddings' max abs difference to fp32.

    PYTHONPATH=. python scripts/profiling/int8_demo_accuracy.py [--threads 2]
"""

import argparse
import statistics

import numpy as np
import torch

from samhq_train.data.demo import make_demo_sample
from samhq_train.inference import SamHQPredictor
from samhq_train.model import load_checkpoint

PATHS = {"fp32": {}, "bf16": {"amp_dtype": torch.bfloat16}, "int8": {"int8": True}}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", default="data/demo_base/vit_demo_base.safetensors")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--count", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_checkpoint(args.checkpoint).eval()
    predictors = {name: SamHQPredictor(model, **kwargs) for name, kwargs in PATHS.items()}
    to_fp32 = {name: [] for name in PATHS}
    to_truth = {name: [] for name in PATHS}
    embedding_diff = {name: 0.0 for name in PATHS}
    for i in range(args.count):
        image, truth = make_demo_sample(0, "val", i, 256, 320)
        truth = truth > 127
        ys, xs = np.nonzero(truth)
        box = np.array([xs.min(), ys.min(), xs.max(), ys.max()])
        masks, embeddings = {}, {}
        for name, predictor in predictors.items():
            predictor.set_image(image)
            embeddings[name] = predictor.features.embedding.float()
            masks[name] = predictor.predict(box=box, multimask_output=False, use_hq=False)[0][0]
        for name in PATHS:
            to_fp32[name].append(iou(masks[name], masks["fp32"]))
            to_truth[name].append(iou(masks[name], truth))
            diff = float((embeddings[name] - embeddings["fp32"]).abs().max())
            embedding_diff[name] = max(embedding_diff[name], diff)
    scale = float(embeddings["fp32"].abs().max())
    print(f"{args.checkpoint}, {args.count} demo val images, GT boxes, plain SAM (use_hq=False), "
          f"{args.threads} threads; last fp32 embedding max abs {scale:.2f}")
    print("| path | mIoU vs GT | mean IoU vs fp32 | min IoU vs fp32 | embedding max abs diff |")
    print("|---|---:|---:|---:|---:|")
    for name in PATHS:
        print(f"| {name} | {100 * statistics.mean(to_truth[name]):.2f} | "
              f"{100 * statistics.mean(to_fp32[name]):.2f} | {100 * min(to_fp32[name]):.2f} | "
              f"{embedding_diff[name]:.4f} |")


if __name__ == "__main__":
    main()
