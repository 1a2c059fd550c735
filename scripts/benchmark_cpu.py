"""CPU inference table in one run: vit_b image encoder per image (ours bf16 and fp32 eager, ours in
onnxruntime's CPU provider, transformers' SamVisionEncoder bf16, the official segment_anything_hq
encoder bf16), the matmul floor, and our decoder and automatic mask generation per image.

    python scripts/benchmark.py --cpu-table [--threads 2] [--reps 3] [--variant vit_b] [--json F]
    python scripts/benchmark.py --cpu-table --train        # + the hq training step's rows
    python scripts/benchmark.py --cpu-table --train-only   # those rows alone
    python scripts/benchmark.py --cpu-table --eager-only   # our eager, transformers', floor rows

All random weights, batch 1, `--threads` torch / onnxruntime threads. The paths are timed in
rounds (every path once per round, --reps rounds, after a warm-up call each), so that a busy
machine slows them alike; the table gives the median wall seconds and the median CPU seconds (all
threads). bf16 is CPU autocast, as `samhq-predict --bf16` / SamHQPredictor(amp_dtype=) run it;
int8 eager is the same with the blocks' linear layers as oneDNN int8 GEMMs (ImageEncoderViT.int8).

The matmul floor is the encoder's matrix products alone (scripts/matmul_floor.py), timed at the
same thread count.
onnxruntime runs the fp32 export (samhq-export's onnx_encoder) and its int8 quantization
(onnx_encoder_int8: int8 linear layers on the CPU's integer dot-product units): its CPU provider
has no bf16 matrix kernels on x86, and the fp16 file runs slower than fp32 there
(docs/deployment.md, ONNX encoders).

The training-step rows (--train, --train-only; training_step_paths) time the hq policy's step on
one image with scripts/benchmark.py's step code: ours in bf16 autocast and fp32, ours from
embedding-cache files, and the official modules on the same weights, in the same rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import runpy
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from samhq_train.data.demo import make_demo_sample
from samhq_train.inference import AutomaticMaskGenerator
from samhq_train.model import build_sam_hq

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when run through runpy
from matmul_floor import encoder_gemms, flops, matmul_floor_call  # noqa: E402

BF16 = torch.bfloat16


def autocast(enabled: bool = True):
    return torch.autocast("cpu", dtype=BF16) if enabled else contextlib.nullcontext()


def under(fn: Callable[[], object], bf16: bool) -> Callable[[], None]:
    def run() -> None:
        with torch.inference_mode(), autocast(bf16):
            fn()

    return run


def transformers_encoder(encoder):
    from transformers import SamVisionConfig
    from transformers.models.sam.modeling_sam import SamVisionEncoder

    dim = encoder.pos_embed.shape[-1]
    config = SamVisionConfig(
        hidden_size=dim, num_hidden_layers=len(encoder.blocks),
        num_attention_heads=encoder.blocks[0].attn.num_heads, image_size=encoder.img_size,
        window_size=max(b.window_size for b in encoder.blocks),
        global_attn_indexes=[i for i, b in enumerate(encoder.blocks) if b.window_size == 0],
        output_channels=encoder.neck[0].out_channels, use_rel_pos=True,
        mlp_dim=encoder.blocks[0].mlp.lin1.out_features, attn_implementation="sdpa",
    )
    return SamVisionEncoder(config).eval()


def onnxruntime_calls(model, threads: int, folder: str, size: int) -> dict[str, Callable[[], None]]:
    """The encoder in onnxruntime's CPU provider: the fp32 export (samhq-export's onnx_encoder)
    and its int8 quantization (onnx_encoder_int8, from the same file)."""
    from samhq_train.inference.onnx_encoder_export import (
        export_onnx_encoder,
        quantize_onnx_encoder,
    )

    fp32 = export_onnx_encoder(model, Path(folder) / "encoder.onnx")
    calls = {"samhq_train encoder, onnxruntime fp32": onnxruntime_call(fp32, threads, size)}
    try:
        int8 = quantize_onnx_encoder(fp32, Path(folder) / "encoder_int8.onnx")
        calls["samhq_train encoder, onnxruntime int8"] = onnxruntime_call(int8, threads, size)
    except ImportError as err:  # onnxruntime without its quantization tools
        print(f"skipping onnxruntime int8: {err}")
    return calls


def onnxruntime_call(path: Path, threads: int, size: int) -> Callable[[], None]:
    """One S x S image through an encoder file; without onnxruntime's memory arena, which would
    hold each session's peak (GBs of vit_b global attention) for the whole run: the CPU times were
    the same without it."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = False
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    image = np.random.default_rng(0).uniform(0, 255, (1, 3, size, size)).astype(np.float32)
    return lambda: session.run(None, {name: image})


def int8_call(encoder, pixels) -> Callable[[], object]:
    """The encoder with its opt-in int8 linear layers (ImageEncoderViT.int8), set for this call."""

    def run() -> object:
        encoder.int8 = True
        try:
            return encoder(pixels)
        finally:
            encoder.int8 = False

    return run


def encoder_paths(model, args, folder: str) -> dict[str, Callable[[], None]]:
    encoder = model.image_encoder
    size = encoder.img_size
    pixels = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    paths = {
        "samhq_train encoder, bf16 eager": under(lambda: encoder(pixels), True),
        "samhq_train encoder, int8 eager (oneDNN)": under(int8_call(encoder, pixels), True),
        "samhq_train encoder, fp32 eager": under(lambda: encoder(pixels), False),
    }
    try:
        if not args.eager_only:
            paths |= onnxruntime_calls(model, args.threads, folder, size)
    except ImportError as err:
        print(f"skipping onnxruntime: {err}")
    try:
        theirs = transformers_encoder(encoder)
        paths["transformers SamVisionEncoder, bf16"] = under(lambda: theirs(pixels), True)
    except ImportError as err:
        print(f"skipping transformers: {err}")
    try:
        if args.eager_only:
            raise ImportError("--eager-only")
        from samhq_train.reference import build_official

        official = build_official(args.variant).image_encoder
        paths["official segment_anything_hq encoder, bf16"] = under(lambda: official(pixels), True)
    except ImportError as err:
        print(f"skipping the official package: {err}")
    paths["matmul floor (bf16 GEMMs alone)"] = matmul_floor_call(encoder_gemms(encoder))
    return paths


def decoder_and_amg_paths(model, args) -> dict[str, Callable[[], None]]:
    """Our per-image costs after the encoder: 8 box prompts decoded from cached features (bf16),
    and automatic mask generation (encoder included, the generator's default thresholds) on a
    768 x 1024 demo image, bf16 (AutomaticMaskGenerator(amp_dtype=), as `samhq-amg --bf16`) and
    fp32."""
    size = model.image_size
    pixels = torch.randn(1, 3, size, size)
    with torch.inference_mode(), autocast():
        features = model.encode(pixels)
    xy0 = torch.rand(1, 8, 2, generator=torch.Generator().manual_seed(0)) * size / 2
    boxes = torch.cat([xy0, xy0 + size / 4], dim=-1)
    image, _ = make_demo_sample(0, "val", 1, 768, 1024)
    points = args.points_per_side
    paths = {
        "samhq_train decoder, 8 boxes, bf16": under(
            lambda: model.decode(features, boxes=boxes), True
        ),
    }
    for label, dtype in (("bf16", BF16), ("fp32", None)):
        generator = AutomaticMaskGenerator(model, points_per_side=points, amp_dtype=dtype)
        name = f"samhq_train AMG, {points}x{points} points, {label} (encoder included)"
        paths[name] = lambda generator=generator: generator.generate_candidates(image)
    return paths


def training_step_paths(model, args, folder: str) -> dict[str, Callable[[], None]]:
    """--train: one hq-policy training step on one image (scripts/benchmark.py's step code: the
    encoder under no_grad, one box, HQ decoder forward, point-sampled BCE + dice, backward, Adam),
    ours in bf16 autocast and fp32, ours from embedding-cache files (the demo's path), and the
    official segment_anything_hq modules on the same weights as its train.py calls them."""
    benchmark = step_code()
    size = model.image_size
    gen = torch.Generator().manual_seed(0)
    pixels = torch.rand(1, 3, size, size, generator=gen) * 255
    boxes = torch.tensor([[[0.2, 0.25, 0.7, 0.8]]]) * size
    steps = {
        "samhq_train training step": benchmark.train_step_call("samhq_train", model, pixels, boxes),
        "samhq_train training step, cached": benchmark.cached_step_call(
            model, pixels, boxes, folder
        ),
    }
    try:
        from samhq_train.reference import official_twin

        twin = official_twin(model, args.variant)
        steps["official training step"] = benchmark.train_step_call("official", twin, pixels, boxes)
    except ImportError as err:
        print(f"skipping the official package: {err}")
    return {f"{name}, {label}": with_autocast(step, bf16)
            for name, step in steps.items() for label, bf16 in (("bf16", True), ("fp32", False))}


def training_table(model, args) -> None:
    """--train-only: the training-step rows alone, in interleaved rounds, against the official
    fp32 step (what the official train.py runs)."""
    with tempfile.TemporaryDirectory() as folder:
        times = time_rounds(training_step_paths(model, args, folder), args.reps, set())
    print(f"\n{args.variant} training step at {model.image_size} px, batch 1, {args.threads} "
          f"threads, torch {torch.__version__}; median of {args.reps} interleaved rounds")
    cpu = {name: statistics.median(c for _, c in runs) for name, runs in times.items()}
    official = cpu.get("official training step, fp32", float("nan"))
    print("| path | s / step (wall) | CPU s / step | official fp32 / this (CPU s) |")
    print("|---|---:|---:|---:|")
    rows = []
    for name, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        rows.append({"path": name, "wall_s": wall, "cpu_s": cpu[name], "runs": runs})
        print(f"| {name} | {wall:.2f} | {cpu[name]:.2f} | {official / cpu[name]:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=1))


def step_code() -> SimpleNamespace:
    """scripts/benchmark.py, beside this file: the training step's one home (loaded by its path,
    as a bare `import benchmark` can find onnxruntime's module of that name)."""
    return SimpleNamespace(**runpy.run_path(str(Path(__file__).with_name("benchmark.py"))))


def with_autocast(fn: Callable[[], object], bf16: bool) -> Callable[[], None]:
    def run() -> None:
        with autocast(bf16):
            fn()

    return run


def time_rounds(paths: dict[str, Callable[[], None]], reps: int, once: set[str]) -> dict[str, list]:
    """(wall, CPU) seconds of each path per round; paths in `once` run in the first round only."""
    for name, fn in paths.items():
        if name not in once:
            fn()  # warm-up
    times = {name: [] for name in paths}
    for r in range(reps):
        for name, fn in paths.items():
            if name in once and r:
                continue
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
        print(f"round {r + 1}/{reps} done", flush=True)
    return times


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", default="vit_b")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--points-per-side", type=int, default=16,
                        help="AMG point grid (32 x 32 with random weights: minutes per image)")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--train", action="store_true", help="also the training-step rows")
    parser.add_argument("--train-only", action="store_true", help="only the training-step rows")
    parser.add_argument("--eager-only", action="store_true", help="only our eager encoders, "
                        "transformers' and the floor (no ONNX, official, decoder or AMG rows)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = build_sam_hq(args.variant, seed=0).eval()
    if args.train_only:
        return training_table(model, args)
    gemms = encoder_gemms(model.image_encoder)
    with tempfile.TemporaryDirectory() as folder:
        encoders = encoder_paths(model, args, folder)
        encoder_names = set(encoders)
        paths = encoders if args.eager_only else {**encoders, **decoder_and_amg_paths(model, args)}
        if args.train:
            paths |= training_step_paths(model, args, folder)
        amg = [n for n in paths if "AMG" in n]
        times = time_rounds(paths, args.reps, set(amg))
    print(f"\n{args.variant} at {model.image_size} px, batch 1, {args.threads} threads, torch "
          f"{torch.__version__}; median of {args.reps} interleaved rounds (AMG: one run); "
          f"matmul floor = {flops(gemms) / 1e9:.1f} GFLOP of bf16 GEMMs")
    floor = statistics.median(w for w, _ in times["matmul floor (bf16 GEMMs alone)"])
    theirs = times.get("transformers SamVisionEncoder, bf16", [(float("nan"), 0.0)])
    ref = statistics.median(w for w, _ in theirs)
    print("| path | s / image (wall) | CPU s / image | x matmul floor | transformers bf16 / this |")
    print("|---|---:|---:|---:|---:|")
    rows = []
    for name, runs in times.items():
        wall, cpu = statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)
        encoder = name in encoder_names
        rows.append({"path": name, "wall_s": wall, "cpu_s": cpu, "runs": runs})
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {f'{wall / floor:.2f}' if encoder else '-'} | "
              f"{f'{ref / wall:.2f}' if encoder else '-'} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
