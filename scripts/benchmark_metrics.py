"""Throughput of the evaluation metrics: images/s of mask IoU + boundary IoU on square masks.

    python scripts/benchmark_metrics.py                 # CPU, and CUDA when available
    python scripts/benchmark_metrics.py --size 1024 --batch 8 --device cpu

Each image is a (prediction, GT) pair of smooth random blobs; one step computes both metrics
for a batch. For reference, the official per-image OpenCV/numpy implementation is timed on CPU.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from samhq_train.evaluation.metrics import boundary_dilation, boundary_iou, mask_iou


def make_pairs(batch: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(batch, 1, size // 32, size // 32, generator=g)
    gt = F.interpolate(low, (size, size), mode="bilinear")[:, 0] > 0.5
    noise = F.interpolate(torch.rand(batch, 1, size // 8, size // 8, generator=g), (size, size))
    pred = gt ^ (noise[:, 0] > 0.97)  # flip a few patches
    return pred, gt


def official_reference(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """mask IoU and boundary IoU of one pair, the way the official code computes them."""
    h, w = gt.shape
    d = boundary_dilation(h, w)
    kernel = np.ones((3, 3), np.uint8)

    def boundary(m):
        padded = cv2.copyMakeBorder(m, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
        return m - cv2.erode(padded, kernel, iterations=d)[1 : h + 1, 1 : w + 1]

    p, g = pred.astype(np.uint8), gt.astype(np.uint8)
    iou = (p & g).sum() / max((p | g).sum(), 1)
    bp, bg = boundary(p), boundary(g)
    return iou, (bp & bg).sum() / max((bp | bg).sum(), 1)


def timed(fn, iters: int, sync) -> float:
    fn()  # warm-up
    sync()
    best = float("inf")
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iters", type=int, default=5, help="timed repetitions (best is kept)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (both if possible)")
    args = parser.parse_args()

    pred, gt = make_pairs(args.batch, args.size)
    devices = (
        [args.device]
        if args.device != "auto"
        else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    )
    print(
        f"{args.batch} pairs of {args.size}x{args.size} masks, "
        f"boundary width d={boundary_dilation(args.size, args.size)}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
    )
    for device in devices:
        p, g = pred.to(device), gt.to(device)
        sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
        seconds = timed(lambda p=p, g=g: (mask_iou(p, g), boundary_iou(p, g)), args.iters, sync)
        print(
            f"{device:5s} ({name}): mask_iou + boundary_iou  {args.batch / seconds:8.1f} images/s"
        )

    p_np, g_np = pred.numpy(), gt.numpy()
    seconds = timed(
        lambda: [official_reference(a, b) for a, b in zip(p_np, g_np)], args.iters, lambda: None
    )
    print(f"cpu   (official OpenCV per-image reference)   {args.batch / seconds:8.1f} images/s")
    ours = torch.stack([mask_iou(pred, gt), boundary_iou(pred, gt)], 1).double()
    ref = torch.tensor([official_reference(a, b) for a, b in zip(p_np, g_np)])
    print(f"max |ours - reference| = {(ours - ref).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
