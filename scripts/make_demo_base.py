"""Train the demo's base SAM: every SAM parameter of a small model, on COARSE demo labels.

    python scripts/make_demo_base.py [--steps N --lr LR ...] --out FILE
    (the shipped data/demo_base/vit_demo_base.safetensors: the two commands in data/demo_base/README.md)

What `python train.py` (the demo) starts from, as the official SAM checkpoints are what SAM-HQ
training starts from: SAM trained on coarse, SA-1B-style masks. The demo then trains the HQ parts
alone on the FINE masks, so the before/after table shows what SAM-HQ adds.

- images: demo-style images (samhq_train.data.demo.DemoSource) of data seed --image-seed
  (default 1); the demo's own train and val sets use data seed 0, so none of these is a demo image;
- labels: their masks coarsened by samhq_train.data.coarsen.coarsen_mask (closing with a 15 px
  ellipse, holes under 1% of the image filled, specks dropped, polygons within 2 px);
- model: build_sam_hq(--variant, seed=--seed), or the weights of --init (a previous stage), with
  everything trained but the HQ parts (the family's HQ key set), which keep their seeded init and
  are not used (decode with use_hq=False);
- batches: the project's data pipeline (PromptedDataset + Collate: box / point / noisy-mask
  prompts, one drawn per sample, 1/3 each, as in training) with flips and a mild scale jitter;
  with --all-prompts every sample's three prompts are decoded from its one image embedding (three
  losses, as SAM's own training decodes several prompts per embedding); the project's loss
  (PointSampledMaskLoss); Adam with a linear warm-up and a cosine decay to 1% over --steps
  (--stop-at ends early, saving that step's state), gradient norm clipped at 1;
- prints SAM's mIoU / mBIoU on the demo val set (FINE masks, box prompts) every --eval-every steps
  (monitoring only: nothing is selected on it) and writes the full model (official key names) as
  safetensors, atomically, at each of those points and at the end, with its sha256.

The result depends on the torch build and the number of threads only through float rounding; the
sha256 in data/demo_base/README.md is of the shipped file.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from samhq_train.data import (
    Collate,
    PromptConfig,
    PromptedDataset,
    SampleLoader,
    build_eval_transform,
    build_train_transform,
)
from samhq_train.data.demo import DemoSource
from samhq_train.evaluation.evaluate import DatasetMetrics, decode_prompts, predict_batch
from samhq_train.model import FAMILIES, build_sam_hq, file_sha256, save_checkpoint
from samhq_train.training.losses import PointSampledMaskLoss

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "data" / "demo_base" / "vit_demo_base.safetensors"


def freeze_hq(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """requires_grad on everything but the HQ parts; returns the trained parameters."""
    is_hq = FAMILIES[model.family].is_hq_key
    trained = []
    for name, param in model.named_parameters():
        param.requires_grad_(not is_hq(name))
        if param.requires_grad:
            trained.append(param)
    return trained


@torch.no_grad()
def evaluate(model, loader, name: str = "demo-val") -> dict:
    """SAM (no HQ token) and SAM-HQ mIoU / mBIoU on `loader` (the demo's box protocol)."""
    model.eval()
    metrics = {k: DatasetMetrics([name]) for k in ("sam", "hq")}
    for batch in loader:
        logits = predict_batch(model, batch, prompt="box", sam_baseline=True)
        for k in metrics:
            metrics[k].update(batch["dataset"], logits[k], batch["gt_original"])
    return {k: m.compute()[name] for k, m in metrics.items()}


def prompt_rounds(batch: dict, all_prompts: bool, num_points: int = 10) -> list[list[str]]:
    """The prompt types decoded from one image embedding: the batch's drawn types (official
    SAM-HQ training), or with all_prompts every kind of prompt of each sample, box, points and
    noisy mask, one decode each (SAM's own training also decodes several prompts per embedding)."""
    drawn = list(batch["prompt_type"])
    if not all_prompts:
        return [drawn]
    # the official batch rule: no point prompts when a mask has fewer pixels than points
    points_ok = bool(((batch["mask"] > 128).flatten(1).sum(1) >= num_points).all())
    kinds = ["box", "noise_mask"] + (["point"] if points_ok else [])
    return [[k] * len(drawn) for k in kinds]


def lr_factor(step: int, steps: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--variant", default="vit_demo_base")
    ap.add_argument("--seed", type=int, default=0, help="model init and training seed")
    ap.add_argument(
        "--image-seed", type=int, default=1, help="data seed of the base images (the demo's is 0)"
    )
    ap.add_argument("--num-images", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=8000, help="length of the lr schedule")
    ap.add_argument(
        "--stop-at", type=int, default=None, help="stop (and save) after this step of the schedule"
    )
    ap.add_argument(
        "--init", type=Path, default=None, help="start from these weights (a previous stage's file)"
    )
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=250)
    ap.add_argument("--scale-range", type=float, nargs=2, default=(0.75, 1.25))
    ap.add_argument(
        "--all-prompts",
        action="store_true",
        help="decode box, points and noisy mask of every sample (3 losses per embedding)",
    )
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument(
        "--num-val", type=int, default=16, help="demo val images monitored (data seed 0)"
    )
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    start = time.time()

    model = build_sam_hq(args.variant, args.init, seed=args.seed, policy="full")
    size = model.image_size
    params = freeze_hq(model)
    prompts = PromptConfig()
    train_set = PromptedDataset(
        DemoSource(args.image_seed, "train", args.num_images, coarse=True, name="demo-base"),
        build_train_transform(size, scale_range=tuple(args.scale_range)),
        prompts,
        train=True,
        strict=False,
        seed=args.seed,
        name="demo-base",
    )
    val_set = PromptedDataset(
        DemoSource(0, "val", args.num_val, name="demo-val"),
        build_eval_transform(size),
        prompts,
        train=False,
        strict=True,
        name="demo-val",
    )
    generator = torch.Generator().manual_seed(args.seed)
    train_loader = SampleLoader(
        train_set,
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        generator=generator,
        collate_fn=Collate(prompts, train=True),
    )
    val_loader = SampleLoader(val_set, batch_size=8, collate_fn=Collate(prompts, train=False))
    n_params = sum(p.numel() for p in params)
    print(
        f"{args.variant}: {n_params:,} trained parameters (HQ parts excluded), {len(train_set)} coarse "
        f"images (data seed {args.image_seed}), {args.steps} steps of {args.batch_size}; "
        f"data ready in {time.time() - start:.0f} s",
        flush=True,
    )

    loss_fn = PointSampledMaskLoss()
    optimizer = torch.optim.Adam(params, lr=args.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, args.steps, args.warmup)
    )
    last = min(args.steps, args.stop_at or args.steps)
    step, running, tick = 0, [], time.time()
    while step < last:
        for batch in train_loader:
            model.train()
            features = model.encode(batch["image"])
            loss = 0.0
            for kinds in prompt_rounds(batch, args.all_prompts, prompts.num_points):
                low_res, _ = decode_prompts(
                    model, features, batch, prompt_types=kinds, use_hq=False
                )
                loss = loss + loss_fn(low_res, batch["mask"] / 255.0)["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            running.append(loss.item())
            step += 1
            if step % 100 == 0:
                print(
                    f"step {step}: loss {np.mean(running):.4f}, lr {scheduler.get_last_lr()[0]:.2e}, "
                    f"{(time.time() - tick) / 100:.3f} s/step, {time.time() - start:.0f} s",
                    flush=True,
                )
                running, tick = [], time.time()
            if step % args.eval_every == 0 or step == last:
                r = evaluate(model, val_loader)
                print(
                    f"step {step}: demo-val SAM mIoU {r['sam']['mIoU']:.4f} mBIoU {r['sam']['mBIoU']:.4f} "
                    f"(fine masks, box prompts)",
                    flush=True,
                )
                save_checkpoint(model.eval(), args.out, "safetensors", variant=args.variant)
                tick = time.time()
            if step >= last:
                break
    size_mb = args.out.stat().st_size / 2**20
    print(
        f"wrote {args.out} ({size_mb:.2f} MiB) in {time.time() - start:.0f} s\nsha256 {file_sha256(args.out)}"
    )


if __name__ == "__main__":
    main()
