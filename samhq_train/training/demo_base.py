"""Train a demo's base SAM: every SAM parameter of a small model of any family, on COARSE demo
labels (samhq-make-demo-base; the shipped files in data/demo_base/: the commands in
data/demo_base/README.md).

What `python train.py` (the demo) starts from, as the official SAM checkpoints are what SAM-HQ
training starts from: SAM trained on coarse, SA-1B-style masks. The demo then trains the HQ parts
alone on the FINE masks, so the before/after table shows what SAM-HQ adds.

- images: demo-style images (samhq_train.data.demo.DemoSource) of data seed --image-seed
  (default 1); the demo's own train and val sets use data seed 0, so none of these is a demo image;
- labels: their masks coarsened by samhq_train.data.coarsen.coarsen_mask (closing with a 15 px
  ellipse, holes under 1% of the image filled, specks dropped, polygons within 2 px);
- model: build_sam_hq(--variant, seed=--seed) (any family's variant), or the weights of --init (a
  previous stage), with everything trained but the HQ parts: the `base` group of the `full`
  policy (model/policy.py); the HQ parts keep their seeded init and are not used (decode with
  use_hq=False);
- batches: the project's data pipeline (PromptedDataset + Collate: box / point / noisy-mask
  prompts, one drawn per sample, 1/3 each, as in training) with flips and a mild scale jitter;
  with --all-prompts every sample's three prompts are decoded from its one image embedding (three
  losses, as SAM's own training decodes several prompts per embedding); the project's loss
  (PointSampledMaskLoss); Adam with a linear warm-up and a cosine decay to 1% over --steps
  (--stop-at ends early, saving that step's state), gradient norm clipped at 1;
- prints SAM's mIoU / mBIoU on the demo val set (FINE masks, box prompts) every --eval-every steps
  (monitoring only: nothing is selected on it) and writes the model at each of those points and
  at the end, atomically, with its sha256: a `.safetensors` --out is the full model (official key
  names, the untrained HQ parts included: vit_demo_base's file), any other suffix the family's
  official SAM file without HQ keys (format `sam`, e.g. Meta's sam3.pt layout), which every HQ
  design of the family loads, its HQ parts then drawn fresh as from an official file.

The result depends on the torch build and the number of threads only through float rounding; the
sha256 in data/demo_base/README.md is of the shipped file.
"""

from __future__ import annotations

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
)
from samhq_train.data.demo import DemoSource
from samhq_train.data.transform_builders import build_eval_transform, build_train_transform
from samhq_train.evaluation.evaluate import DatasetMetrics, decode_prompts, predict_batch
from samhq_train.files import atomic_write
from samhq_train.model import (
    FAMILIES,
    build_sam_hq,
    file_sha256,
    parameter_groups,
    save_checkpoint,
)
from samhq_train.training.demo_base_settings import DemoBaseSettings
from samhq_train.training.losses import PointSampledMaskLoss


def save_base(model: torch.nn.Module, out: Path, variant: str) -> None:
    """The full model as safetensors for a `.safetensors` out, else the family's official file
    without the HQ parts (format `sam`)."""
    model = model.eval()
    if out.suffix == ".safetensors":
        save_checkpoint(model, out, "safetensors", variant=variant)
        return
    family = FAMILIES[model.family]
    state = {
        k: v.detach().cpu().contiguous()
        for k, v in model.state_dict().items()
        if not family.is_hq_key(k)
    }
    out.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: str) -> None:
        # through a handle: torch.save names the archive's root folder after a path it is given
        # (here a random temporary name), which would change the bytes at every save
        with open(tmp, "wb") as handle:
            torch.save(family.official_layout(state), handle)

    atomic_write(out, write)


def base_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """Every SAM parameter but the HQ parts, the only ones left trainable: the `base` group of
    the `full` policy (model/policy.py's rule, so the HQ key set is the family's)."""
    groups = {g["name"]: g["params"] for g in parameter_groups(model, "full")}
    trained = groups["base"]
    keep = {id(p) for p in trained}
    for param in model.parameters():
        param.requires_grad_(id(param) in keep)
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


class MemoSource(torch.utils.data.Dataset):
    """A source's samples, each made once and then kept in memory (the demo images and their
    coarsened masks are a pure function of the index; remaking them every epoch was a quarter of
    a step's CPU time). 1,024 base images take ~330 MB."""

    def __init__(self, source) -> None:
        self.source, self.name, self.samples = source, source.name, {}

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> dict:
        if i not in self.samples:
            self.samples[i] = self.source[i]
        return dict(self.samples[i])


def demo_loaders(s: DemoBaseSettings, size: int, prompts: PromptConfig):
    """The coarse-label training loader (data seed s.image_seed) and the fine demo val loader."""
    train_set = PromptedDataset(
        MemoSource(DemoSource(s.image_seed, "train", s.num_images, coarse=True, name="demo-base")),
        build_train_transform(size, scale_range=tuple(s.scale_range)),
        prompts,
        train=True,
        strict=False,
        seed=s.seed,
        name="demo-base",
    )
    val_set = PromptedDataset(
        DemoSource(0, "val", s.num_val, name="demo-val"),
        build_eval_transform(size),
        prompts,
        train=False,
        strict=True,
        name="demo-val",
    )
    train_loader = SampleLoader(
        train_set,
        batch_size=s.batch_size,
        shuffle=True,
        drop_last=True,
        generator=torch.Generator().manual_seed(s.seed),
        collate_fn=Collate(prompts, train=True),
    )
    val_loader = SampleLoader(val_set, batch_size=8, collate_fn=Collate(prompts, train=False))
    return train_loader, val_loader


def train_demo_base(s: DemoBaseSettings) -> Path:
    """Train, monitor and save per the module docstring; returns the written file."""
    torch.manual_seed(s.seed)
    start = time.time()
    model = build_sam_hq(s.variant, s.init, seed=s.seed, policy="full")
    params = base_parameters(model)
    prompts = PromptConfig()
    train_loader, val_loader = demo_loaders(s, model.image_size, prompts)
    print(
        f"{s.variant}: {sum(p.numel() for p in params):,} trained parameters (HQ parts "
        f"excluded), {len(train_loader.dataset)} coarse images (data seed {s.image_seed}), "
        f"{s.steps} steps of {s.batch_size}; data ready in {time.time() - start:.0f} s",
        flush=True,
    )
    loss_fn = PointSampledMaskLoss()
    optimizer = torch.optim.Adam(params, lr=s.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, s.steps, s.warmup)
    )
    last = min(s.steps, s.stop_at or s.steps)
    step, running, tick = 0, [], time.time()
    while step < last:
        for batch in train_loader:
            model.train()
            features = model.encode(batch["image"])
            loss = 0.0
            for kinds in prompt_rounds(batch, s.all_prompts, prompts.num_points):
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
                    f"step {step}: loss {np.mean(running):.4f}, lr "
                    f"{scheduler.get_last_lr()[0]:.2e}, {(time.time() - tick) / 100:.3f} s/step, "
                    f"{time.time() - start:.0f} s",
                    flush=True,
                )
                running, tick = [], time.time()
            if step % s.eval_every == 0 or step == last:
                r = evaluate(model, val_loader)["sam"]
                print(
                    f"step {step}: demo-val SAM mIoU {r['mIoU']:.4f} mBIoU {r['mBIoU']:.4f} "
                    "(fine masks, box prompts)",
                    flush=True,
                )
                save_base(model, s.out, s.variant)
                tick = time.time()
            if step >= last:
                break
    size_mb = s.out.stat().st_size / 2**20
    print(
        f"wrote {s.out} ({size_mb:.2f} MiB) in {time.time() - start:.0f} s\n"
        f"sha256 {file_sha256(s.out)}"
    )
    return s.out


__all__ = [
    "base_parameters",
    "save_base",
    "train_demo_base",
]
