"""samhq-make-demo-base [--variant V --steps N --lr LR ...] [--out FILE]: train a demo's base SAM
(any family's small variant) on coarse demo labels (samhq_train/training/demo_base.py says how;
data/demo_base/README.md has the commands that made the shipped files)."""

from samhq_train.errors import run_as_main

if __name__ == "__main__":  # python -m: started as the installed command (one line on Ctrl-C)
    run_as_main("samhq_train.cli.make_demo_base")

import argparse
import math
from pathlib import Path

import torch

from samhq_train.errors import UserError, exit_on_user_error
from samhq_train.model import VARIANTS
from samhq_train.output_check import check_output_file
from samhq_train.training.demo_base_settings import DemoBaseSettings, default_out

# each numeric option's valid values: (test, what to give); checked before the model is built
RANGES = {
    "num_images": (lambda v: v >= 1, "a number of images >= 1"),
    "steps": (lambda v: v >= 1, "a number of steps >= 1"),
    "batch_size": (lambda v: v >= 1, "a batch size >= 1"),
    "lr": (lambda v: 0 < v < math.inf, "a learning rate > 0"),
    "warmup": (lambda v: v >= 0, "a number of steps >= 0"),
    "eval_every": (lambda v: v >= 1, "a number of steps >= 1"),
    "num_val": (lambda v: v >= 1, "a number of images >= 1"),
}


class DemoBaseArgumentError(UserError):
    """An option of samhq-make-demo-base that cannot work; the message names the flag."""


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


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
    ap.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out (the variant's default file under data/demo_base/ is "
        "always remade in place)",
    )
    args = vars(ap.parse_args(argv))
    overwrite = args.pop("overwrite")
    threads = args.pop("threads")
    args["scale_range"] = tuple(args["scale_range"])
    if args["out"] is None:
        args["out"] = default_out(args["variant"])
    settings = DemoBaseSettings(**args)
    check_settings(settings, threads, overwrite)
    return settings, threads


def check_settings(s: DemoBaseSettings, threads: int, overwrite: bool) -> None:
    """One line naming the flag for an option that cannot work, before the model is built."""
    if s.variant not in VARIANTS:
        raise DemoBaseArgumentError(
            f"--variant {s.variant}: not a model variant; give one of {', '.join(sorted(VARIANTS))}"
        )
    for name, (valid, wanted) in RANGES.items():
        if not valid(getattr(s, name)):
            raise DemoBaseArgumentError(f"{flag(name)} {getattr(s, name)}: give {wanted}")
    if s.num_images < s.batch_size:
        raise DemoBaseArgumentError(
            f"--num-images {s.num_images} is fewer than one batch (--batch-size {s.batch_size}): "
            "give more images or a smaller batch"
        )
    if s.stop_at is not None and not 1 <= s.stop_at <= s.steps:
        raise DemoBaseArgumentError(
            f"--stop-at {s.stop_at}: give a step from 1 to --steps ({s.steps})"
        )
    low, high = s.scale_range
    if not 0 < low <= high < math.inf:
        raise DemoBaseArgumentError(
            f"--scale-range {low} {high}: give two scale factors 0 < low <= high, e.g. 0.75 1.25"
        )
    if threads < 0:
        raise DemoBaseArgumentError(f"--threads {threads}: give a number >= 0 (0: torch's default)")
    if s.init is not None and not s.init.exists():
        raise DemoBaseArgumentError(
            f"--init {s.init}: file not found; give the weights to start from"
        )
    check_out(s.out, s.variant, overwrite)


def check_out(out: Path, variant: str, overwrite: bool) -> None:
    """--out must be a file path in a writable folder; a file there is replaced only with
    --overwrite, or when it is the variant's default file (what this command remakes)."""
    remade = out.resolve() == default_out(variant).resolve()
    check_output_file(out, "--out", overwrite=overwrite or remade,
                      example=str(out / "base.safetensors"))


@exit_on_user_error
def main(argv: list[str] | None = None) -> Path:
    settings, threads = parse_args(argv)
    if threads:
        torch.set_num_threads(threads)
    # deferred: the training (albumentations, torchmetrics: seconds of CPU) is imported only by a
    # run whose options passed the checks, not by --help or a refused command line
    from samhq_train.training.demo_base import train_demo_base

    return train_demo_base(settings)
