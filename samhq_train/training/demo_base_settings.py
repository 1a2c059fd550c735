"""samhq-make-demo-base's options (DemoBaseSettings) and default output file, apart from the
training (demo_base.py), so that the command checks them, or prints --help, without importing
what trains (albumentations, torchmetrics)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEMO_BASE_DIR = Path("data/demo_base")
DEFAULT_OUT = DEMO_BASE_DIR / "vit_demo_base.safetensors"


@dataclass(frozen=True)
class DemoBaseSettings:
    """The command's options (samhq-make-demo-base --help)."""

    out: Path = DEFAULT_OUT  # the cli's default: default_out(variant)
    variant: str = "vit_demo_base"
    seed: int = 0  # model init and training seed
    image_seed: int = 1  # data seed of the base images (the demo's is 0)
    num_images: int = 1024
    steps: int = 8000  # length of the lr schedule
    stop_at: int | None = None  # stop (and save) after this step of the schedule
    init: Path | None = None  # start from these weights (a previous stage's file)
    batch_size: int = 8
    lr: float = 1e-3
    warmup: int = 250
    scale_range: tuple[float, float] = (0.75, 1.25)
    all_prompts: bool = False  # decode box, points and noisy mask of every sample
    eval_every: int = 1000
    num_val: int = 16  # demo val images monitored (data seed 0)


def default_out(variant: str) -> Path:
    """data/demo_base/<variant>.safetensors for a variant made to be a base (vit_demo_base), else
    data/demo_base/<variant>_base.pt (the family's official layout: every HQ design loads it)."""
    if variant.endswith("_base"):
        return DEMO_BASE_DIR / f"{variant}.safetensors"
    return DEMO_BASE_DIR / f"{variant}_base.pt"


__all__ = ["DEFAULT_OUT", "DEMO_BASE_DIR", "DemoBaseSettings", "default_out"]
