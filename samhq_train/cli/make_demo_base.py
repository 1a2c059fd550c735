"""samhq-make-demo-base [--variant V --steps N --lr LR ...] [--out FILE]: train a demo's base SAM
(any family's small variant) on coarse demo labels (samhq_train/training/demo_base.py says how;
data/demo_base/README.md has the commands that made the shipped files)."""

import argparse
from pathlib import Path

import torch

from samhq_train.errors import exit_on_user_error
from samhq_train.training.demo_base import DemoBaseSettings, default_out, train_demo_base


def parse_args(argv: list[str] | None = None) -> tuple[DemoBaseSettings, int]:
    """The settings, and the torch threads to use (0: torch's default)."""
    d = DemoBaseSettings()
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"default: {d.out} for {d.variant}, else data/demo_base/<variant>_base.pt; a "
        ".safetensors file holds the full model, another suffix the family's official file "
        "without HQ keys",
    )
    ap.add_argument("--variant", default=d.variant)
    ap.add_argument("--seed", type=int, default=d.seed, help="model init and training seed")
    ap.add_argument(
        "--image-seed",
        type=int,
        default=d.image_seed,
        help="data seed of the base images (the demo's is 0)",
    )
    ap.add_argument("--num-images", type=int, default=d.num_images)
    ap.add_argument("--steps", type=int, default=d.steps, help="length of the lr schedule")
    ap.add_argument(
        "--stop-at", type=int, default=None, help="stop (and save) after this step of the schedule"
    )
    ap.add_argument(
        "--init", type=Path, default=None, help="start from these weights (a previous stage's file)"
    )
    ap.add_argument("--batch-size", type=int, default=d.batch_size)
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--warmup", type=int, default=d.warmup)
    ap.add_argument("--scale-range", type=float, nargs=2, default=d.scale_range)
    ap.add_argument(
        "--all-prompts",
        action="store_true",
        help="decode box, points and noisy mask of every sample (3 losses per embedding)",
    )
    ap.add_argument("--eval-every", type=int, default=d.eval_every)
    ap.add_argument(
        "--num-val", type=int, default=d.num_val, help="demo val images monitored (data seed 0)"
    )
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = vars(ap.parse_args(argv))
    threads = args.pop("threads")
    args["scale_range"] = tuple(args["scale_range"])
    if args["out"] is None:
        args["out"] = default_out(args["variant"])
    return DemoBaseSettings(**args), threads


@exit_on_user_error
def main(argv: list[str] | None = None) -> Path:
    settings, threads = parse_args(argv)
    if threads:
        torch.set_num_threads(threads)
    return train_demo_base(settings)


if __name__ == "__main__":
    main()
