"""Samples/s of the training data pipeline (read, flip + jitter, prompts, collate) on demo data.

    python scripts/benchmark_data.py [--image-size 1024] [--batches 30] [--workers 0 2] [overrides]

Hydra overrides of the ``data=demo`` group may follow, e.g. ``data.root=/tmp/demo``.
"""

import argparse
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from samhq_train.data import build_datamodule

CONF = Path(__file__).resolve().parents[1] / "conf"


def samples_per_second(cfg, image_size: int, workers: int, batches: int) -> float:
    dm = build_datamodule(
        cfg, image_size=image_size, num_workers=workers, persistent_workers=workers > 0
    )
    dm.prepare_data()
    dm.setup("fit")
    loader = dm.train_dataloader()
    next(iter(loader))  # worker start-up and the first batch are not timed
    seen, start = 0, time.perf_counter()
    while seen < batches:
        for _ in loader:
            seen += 1
            if seen == batches:
                break
    return batches * dm.batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=1024)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args, overrides = parser.parse_known_args()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose(overrides=["+data=demo", *overrides]).data
    torch.manual_seed(0)
    print(
        f"training pipeline, demo data, S={args.image_size}, batch {cfg.batch_size}, "
        f"{torch.get_num_threads()} torch threads, {args.batches} batches timed"
    )
    for workers in args.workers:
        rate = samples_per_second(cfg, args.image_size, workers, args.batches)
        print(f"num_workers={workers}: {rate:.1f} samples/s")


if __name__ == "__main__":
    main()
