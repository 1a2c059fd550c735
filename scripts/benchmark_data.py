"""Samples/s of the training data pipeline (read, flip + jitter, prompts, collate) next to those of
the training step it feeds, and the bytes of one batch (uint8 images now, float32 before), on demo
data.

    python scripts/benchmark.py data [--variant vit_b] [--batches 30] [--workers 0 2]
        [--steps 10] [--device cuda] [--precision bf16-mixed] [--epoch] [overrides]

The loader runs at the variant's input size S. The training step is SamHQModule.training_step (the
frozen encoder, the HQ decoder, the official loss) with backward and an Adam step, on random
weights, each batch first moved to the device as Lightning moves it. Hydra overrides of the
``data=demo`` group may follow, e.g. ``data.root=/tmp/demo``. --epoch also times one epoch of the
demo training set uncached and from the embedding cache (built first, its time printed apart).
Prints a Markdown table; no assertions.
"""

import argparse
import functools
import tempfile
import time
import warnings

import torch
from lightning.fabric.utilities.apply_func import move_data_to_device

from samhq_train.cache.build import EmbeddingCache
from samhq_train.cli.hydra_command import compose_checked
from samhq_train.data.datamodule import build_datamodule
from samhq_train.errors import exit_on_user_error
from samhq_train.evaluation.device import PRECISIONS, autocast
from samhq_train.model import VARIANTS, Provenance, build_sam_hq, variant_config
from samhq_train.training.module import SamHQModule

# training_step logs through self.log, which only warns without a Trainer
warnings.filterwarnings("ignore", message=r"You are trying to `self\.log\(\)`")


def loader_samples_per_second(cfg, image_size: int, workers: int, batches: int) -> float:
    loader = training_loader(cfg, image_size, workers)
    next(iter(loader))  # worker start-up and the first batch are not timed
    seen, start = 0, time.perf_counter()
    while seen < batches:
        for _ in loader:
            seen += 1
            if seen == batches:
                break
    return batches * loader.batch_size / (time.perf_counter() - start)


def training_loader(cfg, image_size: int, workers: int):
    dm = build_datamodule(
        cfg, image_size=image_size, num_workers=workers, persistent_workers=workers > 0
    )
    dm.prepare_data()
    dm.setup("fit")
    return dm.train_dataloader()


def batch_bytes(batch) -> int:
    """Bytes of every tensor in a batch (what travels to the device)."""
    if isinstance(batch, torch.Tensor):
        return batch.nbytes
    if isinstance(batch, dict):
        return sum(batch_bytes(v) for v in batch.values())
    if isinstance(batch, (list, tuple)):
        return sum(batch_bytes(v) for v in batch)
    return 0


def training_module(
    variant: str, device: torch.device
) -> tuple[SamHQModule, torch.optim.Optimizer]:
    """The LightningModule on random weights of `variant` and its Adam optimiser."""
    with torch.device(device):  # random init directly on the device
        model = build_sam_hq(variant, seed=0, policy="hq")
    module = SamHQModule(model, optimizer=functools.partial(torch.optim.Adam, lr=1e-3)).to(device)
    module.train()
    return module, module.configure_optimizers()


def train_step(
    module, optimizer, batch: dict, i: int, device: torch.device, precision: str
) -> None:
    """SamHQModule.training_step + backward + optimiser step, the batch moved to `device` first."""
    with autocast(device, precision):
        loss = module.training_step(move_data_to_device(batch, device), i)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_samples_per_second(
    module, optimizer, batches: list[dict], device: torch.device, precision: str
) -> float:
    """Training steps on `batches` (2 warm-up steps first), each batch moved to `device` first."""
    for i, batch in enumerate(batches[:2]):
        train_step(module, optimizer, batch, i, device, precision)
    synchronize(device)
    start = time.perf_counter()
    for i, batch in enumerate(batches):
        train_step(module, optimizer, batch, i, device, precision)
    synchronize(device)
    return sum(len(b["name"]) for b in batches) / (time.perf_counter() - start)


def epoch_seconds(
    cfg, module, optimizer, device: torch.device, precision: str, cache_dir=None
) -> tuple[float, float]:
    """(build, epoch) seconds: one training epoch of the demo set through the real datamodule (0
    workers), from the images or, with cache_dir, from the embedding cache built there first
    (views=0: the benchmark resize; the build is timed apart)."""
    dm = build_datamodule(cfg, image_size=module.model.image_size, num_workers=0)
    dm.prepare_data()
    dm.setup("fit")
    build = 0.0
    if cache_dir is not None:
        start = time.perf_counter()
        cache = EmbeddingCache.for_model(
            module.model, Provenance(variant="benchmark", seed=0), dir=cache_dir, progress=False
        )
        dm.use_cache(cache)
        cache.build(module.model, device=device)
        build = time.perf_counter() - start
    synchronize(device)
    start = time.perf_counter()
    for i, batch in enumerate(dm.train_dataloader()):
        train_step(module, optimizer, batch, i, device, precision)
    synchronize(device)
    return build, time.perf_counter() - start


def megabytes(n: int) -> str:
    return f"{n / 2**20:.2f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--variant", default="vit_b", choices=sorted(VARIANTS), help="the model (and S)"
    )
    parser.add_argument("--batches", type=int, default=30, help="loader batches timed")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument(
        "--steps", type=int, default=10, help="training steps timed (0: no step rows)"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="32", choices=sorted(PRECISIONS))
    parser.add_argument(
        "--epoch",
        action="store_true",
        help="also time one training epoch uncached and from the cache",
    )
    args, overrides = parser.parse_known_args()
    flags = [o for o in overrides if o.startswith("-")]
    if flags:  # the rest are data config overrides
        parser.error(f"unrecognized arguments: {' '.join(flags)} (config overrides such as "
                     "data.demo.num_train=8 go without dashes)")
    cfg = compose_checked(None, ["+data=demo", *overrides], hydra=False).data  # one line, exit 2
    torch.manual_seed(0)
    device = torch.device(args.device)
    size = variant_config(args.variant).image_size
    print(
        f"{args.variant} (S={size}), demo data, batch {cfg.batch_size}, {device}, precision "
        f"{args.precision}, {torch.get_num_threads()} torch threads; {args.batches} loader "
        f"batches and {args.steps} training steps timed"
    )
    batches = [b for b, _ in zip(training_loader(cfg, size, 0), range(max(args.steps, 1)))]
    as_float = [{**b, "image": b["image"].float()} for b in batches]
    now, before = batch_bytes(batches[0]), batch_bytes(as_float[0])
    rows = [
        (
            f"loader, num_workers={workers}",
            loader_samples_per_second(cfg, size, workers, args.batches),
            now,
        )
        for workers in args.workers
    ]
    module, optimizer = training_module(args.variant, device)
    for name, timed, size_bytes in (
        (
            ("uint8 images (now)", batches, now),
            ("float32 images (before)", as_float, before),
        )
        if args.steps
        else ()
    ):
        rate = step_samples_per_second(module, optimizer, timed, device, args.precision)
        rows.append((f"training step, {name}", rate, size_bytes))
    print("| stage | samples/s | bytes per batch |")
    print("|---|---|---|")
    for name, rate, size_bytes in rows:
        print(f"| {name} | {rate:.1f} | {megabytes(size_bytes)} |")
    image = batches[0]["image"]
    print(
        f"images: {megabytes(image.nbytes)} per batch as uint8, "
        f"{megabytes(image.nbytes * 4)} as float32"
    )
    if args.steps:
        print(
            f"the fastest loader feeds {max(r[1] for r in rows[:-2]) / rows[-2][1]:.2f}x "
            "the step's samples/s"
        )
    if args.epoch:
        uncached = epoch_seconds(cfg, module, optimizer, device, args.precision)[1]
        with tempfile.TemporaryDirectory() as folder:
            build, cached = epoch_seconds(cfg, module, optimizer, device, args.precision, folder)
        print(
            f"one epoch of the demo training set: {uncached:.1f} s uncached, {cached:.1f} s from "
            f"the cache ({uncached / cached:.1f}x cheaper; building the cache took {build:.1f} s, "
            "once)"
        )


if __name__ == "__main__":
    exit_on_user_error(main)()
