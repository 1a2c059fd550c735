"""Side-by-side speed of samhq_train, the official segment_anything_hq and transformers' SamHQModel
on the same (random) weights: image encoder, prompt decoding and one training step, images/s.

    python scripts/benchmark.py --variant vit_b --batch 4 --iters 10 [--dtype bf16] [--device cuda] [--json out.json]
    python scripts/benchmark.py --variant vit_l sam2.1_hq_hiera_l --iters 2   # two families, one run
    python scripts/benchmark.py --variant vit_b --epoch 8   # + one demo training epoch, uncached vs cached

The training step is the official recipe's: the encoder under no_grad, one box prompt per image,
the HQ decoder forward, the point-sampled BCE + dice loss (samhq_train.training.losses) against a
full-resolution target, backward and an Adam step on the HQ parameters; for the official package
it is built from its modules the way the official train.py calls them (one image at a time through
the prompt encoder and decoder). The "samhq_train, cached" row is the same step with the
encoder's features read from the embedding cache's on-disk entries (samhq_train.cache.FeatureStore,
one safetensors file per image, written once before timing) instead of computed. SAM 2.1 variants
(sam2.1_hq_hiera_*) have no installable reference: only samhq_train is timed.

The other suites run through this entry too, each with its own flags (--help):
    python scripts/benchmark.py data ...       loader vs training-step samples/s, bytes per batch
    python scripts/benchmark.py policies ...   step time and peak memory per trainable policy
    python scripts/benchmark.py metrics ...    mask / boundary IoU throughput
    python scripts/benchmark.py concept ...    text prompts on SAM 3: image, detector, refinement
    python scripts/benchmark.py profile ...    our ViT encoder vs its pre-optimisation version, op profile
    python scripts/benchmark.py --cpu-table    the CPU inference table: encoders (ours bf16 / fp32 /
                                               onnxruntime, transformers, official), the matmul
                                               floor, decoder and AMG per image, in one run
                                               (--train: + the training step's rows, from the
                                               step code here; --train-only: those alone)

Times are the best of --iters calls after --warmup calls (default 2: robust to a busy machine;
the mean is in the JSON). --profile prints the top ops of one encoder and one decoder call of
ours. Prints a Markdown table and optionally writes JSON; no assertions. The official package and
transformers are optional. Loader vs step samples/s and bytes per batch: scripts/benchmark_data.py;
training step per trainable policy: scripts/benchmark_policies.py.
"""

import argparse
import json
import runpy
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from samhq_train.cache.store import FeatureStore
from samhq_train.cli import CONFIG_DIR
from samhq_train.model import (
    ATTENTION_KERNELS,
    VARIANTS,
    CheckpointError,
    build_sam_hq,
    parameter_groups,
    set_attention_kernel,
)
from samhq_train.reference import official_twin, transformers_twin
from samhq_train.training.losses import PointSampledMaskLoss

SCRIPTS = Path(__file__).resolve().parent
SUITES = {  # subcommand -> the script that implements it
    "data": SCRIPTS / "benchmark_data.py",
    "policies": SCRIPTS / "benchmark_policies.py",
    "metrics": SCRIPTS / "benchmark_metrics.py",
    "concept": SCRIPTS / "benchmark_concept.py",
    "profile": SCRIPTS / "profiling" / "profile_encoder.py",
    "cpu-table": SCRIPTS / "benchmark_cpu.py",
}
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def timed(fn: Callable[[], object], iters: int, device: str, warmup: int = 2) -> tuple[float, float]:
    """(best, mean) seconds per call over `iters` calls, after `warmup` calls."""

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times), sum(times) / len(times)


def build_competitors(variant: str, device: str) -> dict[str, torch.nn.Module]:
    with torch.device(device):  # random init directly on the device: minutes faster for vit_h
        ours = build_sam_hq(variant, seed=0)
    models = {"samhq_train": ours}
    if ours.family != "sam1":
        return models
    try:
        models["official"] = official_twin(ours, variant)
    except ImportError as err:
        print(f"skipping the official model: {err}")
    try:
        models["transformers"] = transformers_twin(ours, variant, attn_implementation="sdpa")
    except (ImportError, CheckpointError) as err:
        print(f"skipping transformers' SamHQModel: {err}")
    return {name: model.to(device) for name, model in models.items()}


def encoder_call(name: str, model, pixels: torch.Tensor) -> Callable[[], object]:
    if name == "transformers":
        return lambda: model.vision_encoder(pixels)
    return lambda: model.image_encoder(pixels)


def decoder_call(name: str, model, pixels: torch.Tensor, boxes: torch.Tensor) -> Callable[[], object]:
    """Masks for P boxes per image from cached embeddings (the part a predictor repeats)."""
    if name == "samhq_train":
        features = model.encode(pixels * 0)  # shapes only; values do not change the cost
        return lambda: model.decode(features, boxes=boxes)
    if name == "official":
        emb, interm = model.image_encoder(pixels)

        def run():
            for i in range(pixels.shape[0]):
                sparse, dense = model.prompt_encoder(points=None, boxes=boxes[i], masks=None)
                model.mask_decoder(
                    image_embeddings=emb[i : i + 1],
                    image_pe=model.prompt_encoder.get_dense_pe(),
                    sparse_prompt_embeddings=sparse,
                    dense_prompt_embeddings=dense,
                    multimask_output=False,
                    hq_token_only=False,
                    interm_embeddings=[interm[0][i : i + 1]],
                )

        return run
    vision = model.vision_encoder(pixels)
    return lambda: model(
        image_embeddings=vision.last_hidden_state,
        intermediate_embeddings=vision.intermediate_embeddings,
        input_boxes=boxes,
        multimask_output=False,
    )


def box_targets(pixels: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """B x 1 x S x S full-resolution targets in [0, 1] (as a training batch's mask / 255): ones
    inside each image's first box."""
    b, _, h, w = pixels.shape
    ys = torch.arange(h, device=pixels.device)[:, None]
    xs = torch.arange(w, device=pixels.device)
    x0, y0, x1, y1 = (boxes[:, 0, i, None, None] for i in range(4))
    return ((xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)).float()[:, None]


def train_step_call(name: str, model, pixels: torch.Tensor, boxes: torch.Tensor):
    """One training step (HQ parameters only), or None where the implementation has no such step."""
    if name == "transformers":
        return None
    target = box_targets(pixels, boxes)
    if name == "samhq_train":
        decoder_step = hq_decoder_step(model, boxes, target)

        def run():
            with torch.no_grad():
                features = model.encode(pixels)
            decoder_step(features)

        return run
    hq = [p for n, p in model.mask_decoder.named_parameters() if n.split(".")[0] in (
        "hf_token", "hf_mlp", "compress_vit_feat", "embedding_encoder", "embedding_maskfeature")]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in hq:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(hq, lr=1e-3)
    loss_fn = PointSampledMaskLoss()

    def run_official():  # official train.py: one image per decoder call, one loss over them all
        with torch.no_grad():
            emb, interm = model.image_encoder(pixels)
            prompts = [model.prompt_encoder(points=None, boxes=boxes[i, :1], masks=None) for i in range(len(pixels))]
        masks_hq = []
        for i, (sparse, dense) in enumerate(prompts):
            masks, _ = model.mask_decoder(
                image_embeddings=emb[i : i + 1], image_pe=model.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                multimask_output=False, hq_token_only=True, interm_embeddings=[interm[0][i : i + 1]],
            )
            masks_hq.append(masks)
        loss = loss_fn(torch.cat(masks_hq), target)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return run_official


def hq_decoder_step(model, boxes: torch.Tensor, target: torch.Tensor, policy: str = "hq") -> Callable[[object], None]:
    """Ours from the image features on, as SamHQModule's step: HQ decode of one box per image, the
    recipe's point-sampled BCE + dice against the full-resolution target, backward, Adam on the
    policy's parameters."""
    optimizer = torch.optim.Adam(parameter_groups(model, policy), lr=1e-3)
    loss_fn = PointSampledMaskLoss()

    def step(features) -> None:
        low_res, _ = model.decode(features, boxes=boxes[:, :1], hq_token_only=True)
        loss = loss_fn(low_res[:, :, 0], target)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def cached_step_call(model, pixels: torch.Tensor, boxes: torch.Tensor, folder: str):
    """The training step with the features read from embedding-cache entries on disk (written
    here once from the encoder), as a cached training batch gets them."""
    store = FeatureStore(folder, {"variant": "benchmark", "dtype": "float32"})
    store.open()
    with torch.no_grad():
        features = model.encode(pixels)
    keys = []
    for i in range(pixels.shape[0]):
        material = store.entry_material(f"image {i}", "benchmark")
        key = store.entry_key(f"image {i}", "benchmark")
        tensors = {**{name: t[i] for name, t in features.tensors().items()}, "mask": torch.zeros(pixels.shape[-2:])}
        store.write(key, material, tensors, input_size=pixels.shape[-2:])
        keys.append(key)
    decoder_step = hq_decoder_step(model, boxes, box_targets(pixels, boxes))
    fields = model.features_type.field_names()

    def run():
        entries = [store.read(key)["tensors"] for key in keys]
        stacked = {f: torch.stack([e[f] for e in entries]) for f in fields}
        decoder_step(model.features_type.from_tensors(stacked).to(pixels.device))

    return run


def profile_ours(model, pixels: torch.Tensor, boxes: torch.Tensor, device: str) -> None:
    """Top ops by self time of one encoder and one decoder call (after a warm-up call each)."""
    sort = "self_cuda_time_total" if device.startswith("cuda") else "self_cpu_time_total"
    for what, fn in (("encoder", encoder_call("samhq_train", model, pixels)),
                     ("decoder", decoder_call("samhq_train", model, pixels, boxes))):
        fn()
        with torch.profiler.profile() as prof:
            fn()
        print(f"\n== samhq_train {what}: top ops ==")
        print(prof.key_averages().table(sort_by=sort, row_limit=12))


def peak_memory(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MB CUDA"
    import resource

    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB RSS"


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--cpu-table" in argv:
        argv = ["cpu-table", *(a for a in argv if a != "--cpu-table")]
    if argv and argv[0] in SUITES:
        script = SUITES[argv[0]]
        sys.argv = [str(script), *argv[1:]]
        runpy.run_path(str(script), run_name="__main__")
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", nargs="+", default=["vit_b"], choices=sorted(VARIANTS),
                        help="one or more variants, benchmarked one after the other in this run")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--boxes", type=int, default=8, help="box prompts per image for the decoder")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls before the timed ones")
    parser.add_argument("--dtype", default="fp32", choices=sorted(DTYPES))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--profile", action="store_true", help="print the top ops of our encoder and decoder")
    parser.add_argument("--attention", default="auto", choices=ATTENTION_KERNELS,
                        help="our ViT encoder's rel-pos attention kernel (model.attention)")
    parser.add_argument("--epoch", type=int, default=0, metavar="N",
                        help="also time one training epoch of N demo images uncached and from the embedding cache")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile our image encoder in place (model.compile); the warm-up calls compile")
    args = parser.parse_args(argv)

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    rows = []
    for variant in args.variant:
        rows += benchmark_variant(variant, args)
        if args.epoch:
            rows.append(epoch_row(variant, args))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"settings": vars(args), "threads": torch.get_num_threads(), "rows": rows}, handle, indent=1)


def epoch_row(variant: str, args) -> dict:
    """One training epoch of `args.epoch` demo images (scripts/benchmark_data.py's epoch_seconds:
    the real datamodule and SamHQModule step), uncached and from an embedding cache built first."""
    import benchmark_data  # scripts/benchmark_data.py, beside this file
    from hydra import compose, initialize_config_dir

    device = torch.device(args.device)
    precision = {"fp32": "32", "bf16": "bf16-mixed", "fp16": "16-mixed"}[args.dtype]
    with tempfile.TemporaryDirectory() as folder:
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(overrides=["+data=demo", f"data.demo.num_train={args.epoch}",
                                     f"data.root={folder}/demo"]).data
        module, optimizer = benchmark_data.training_module(variant, device)
        uncached = benchmark_data.epoch_seconds(cfg, module, optimizer, device, precision)[1]
        build, cached = benchmark_data.epoch_seconds(cfg, module, optimizer, device, precision, f"{folder}/cache")
    print(f"one epoch of {args.epoch} demo images (batch {cfg.batch_size}): {uncached:.1f} s uncached, "
          f"{cached:.1f} s from the cache ({uncached / cached:.1f}x cheaper; building it took {build:.1f} s, once)")
    return {"variant": variant, "implementation": "samhq_train, demo epoch", "epoch_images": args.epoch,
            "epoch_uncached_s": uncached, "epoch_cached_s": cached, "cache_build_s": build}


def benchmark_variant(variant: str, args) -> list[dict]:
    """One table: every implementation of `variant` on the same input; returns its rows."""
    models = build_competitors(variant, args.device)
    ours = models["samhq_train"]
    try:
        set_attention_kernel(ours, args.attention)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    if args.compile:
        ours.image_encoder.compile()
    size = ours.image_size
    pixels = torch.randn(args.batch, 3, size, size, device=args.device, generator=torch.Generator(args.device).manual_seed(0))
    xy0 = torch.rand(args.batch, args.boxes, 2, device=args.device) * size / 2
    boxes = torch.cat([xy0, xy0 + size / 4], dim=-1)
    dtype = DTYPES[args.dtype]
    device_type = "cuda" if args.device.startswith("cuda") else "cpu"

    print(f"\n{variant}, batch {args.batch}, {args.boxes} boxes/image, {args.dtype}, {args.device}, "
          f"{torch.get_num_threads()} threads, best of {args.iters}, attention {args.attention}"
          f"{', encoder compiled' if args.compile else ''}")
    print("| implementation | encoder images/s | decoder images/s | training step images/s | peak memory so far |")
    print("|---|---|---|---|---|")
    rows = []
    autocast = lambda: torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None)  # noqa: E731

    def add_row(name, enc=None, dec=None, step=None) -> None:
        row = {"variant": variant, "implementation": name, "memory": peak_memory(args.device)}
        cells = []
        for key, times in (("encoder", enc), ("decoder", dec), ("train_step", step)):
            row[key] = args.batch / times[0] if times else None
            row[f"{key}_mean"] = args.batch / times[1] if times else None
            cells.append(f"{row[key]:.2f}" if times else "-")
        rows.append(row)
        print(f"| {name} | {' | '.join(cells)} | {row['memory']} |")

    for name, model in models.items():
        with torch.inference_mode(), autocast():
            enc = timed(encoder_call(name, model, pixels), args.iters, args.device, args.warmup)
            dec = timed(decoder_call(name, model, pixels, boxes), args.iters, args.device, args.warmup)
        step_fn = train_step_call(name, model, pixels, boxes)
        with autocast():
            step = timed(step_fn, args.iters, args.device, args.warmup) if step_fn else None
        add_row(name, enc, dec, step)
        if name == "samhq_train":
            with tempfile.TemporaryDirectory() as folder, autocast():
                add_row("samhq_train, cached", step=timed(
                    cached_step_call(model, pixels, boxes, folder), args.iters, args.device, args.warmup))
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    by_name = {row["implementation"]: row for row in rows}
    for ours_name in ("samhq_train", "samhq_train, cached"):
        for other in ("samhq_train", "official"):
            if other != ours_name and other in by_name and by_name[other]["train_step"]:
                ratio = by_name[ours_name]["train_step"] / by_name[other]["train_step"]
                print(f"training step, {ours_name} vs {other}: {ratio:.2f}x")
    for other in ("official", "transformers"):
        if other in by_name:
            print(f"encoder, samhq_train vs {other}: {by_name['samhq_train']['encoder'] / by_name[other]['encoder']:.2f}x; "
                  f"decoder: {by_name['samhq_train']['decoder'] / by_name[other]['decoder']:.2f}x")
    if args.profile:
        with torch.inference_mode(), autocast():
            profile_ours(ours, pixels, boxes, args.device)
    return rows


if __name__ == "__main__":
    main()
