"""The ONNX image encoder table: per variant and precision, file size, difference from the fp32
torch encoder and onnxruntime CPU latency against torch, at full size with random weights.

    python scripts/benchmark_onnx_encoder.py --variants vit_b sam2.1_hq_hiera_t --runs 3
    python scripts/benchmark_onnx_encoder.py --demo-masks outputs/<run>/checkpoints/last.ckpt

Differences are the largest |onnxruntime - torch fp32| over the encoder's outputs on one random
S x S image, absolute and relative to the output's largest |value| (the measure and tolerances of
check_onnx_encoder, which the tests run on batches and other shapes of small models). Latency:
median (wall and process CPU seconds) of --runs calls after a warm-up call (the one compared;
--runs 0 times that call: one call per engine for vit_h and SAM 3 on a loaded machine), torch
fp32 eager (no_grad) against onnxruntime's CPU provider, same machine and --threads (default 1:
on a machine shared with other work, 2-thread OpenMP runs were 5-30x slower than 1-thread ones,
so one thread gives the comparable figure).
Self-contained: the files go to a temporary folder (or --out) and the table is printed as
markdown; --json writes the rows. int8 (onnx_encoder_int8) is the fp32 graph quantized by
onnxruntime; its ORT_ENABLE_ALL session has no fp32 equivalent to compare it with in torch.

--demo-masks CHECKPOINT: what int8 costs in masks, on a trained model (e.g. the Quickstart demo's
export) and the demo val set (data/demo, made by samhq-make-demo-data): the GT box of each image
through the encoder file of each --precisions + the decoder ONNX; mean mask IoU of each precision's
masks with the fp32 encoder's, and mIoU / mean boundary IoU against the ground truth.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from PIL import Image

from samhq_train.data.prompts import tight_box
from samhq_train.evaluation.metrics import boundary_iou, mask_iou
from samhq_train.inference.onnx_decoder_export import export_onnx
from samhq_train.inference.onnx_encoder_export import (
    FP16_TOLERANCE,
    FP32_TOLERANCE,
    INT8_TOLERANCE,
    export_onnx_encoder,
    onnx_encoder,
)
from samhq_train.model import build_sam_hq, load_checkpoint
from samhq_train.model.onnx_encoder import ONNX_IMAGE_INPUT

TOLERANCES = {"fp32": FP32_TOLERANCE, "fp16": FP16_TOLERANCE, "int8": INT8_TOLERANCE}


def timed(fn, runs: int) -> tuple[object, float, float]:
    """(the first call's result, median wall seconds and median process CPU seconds of `runs`
    further calls): the first call is the warm-up and gives the outputs to compare; runs=0 times
    that call itself (one call). With one thread the CPU seconds hardly move with the machine's
    load, the wall seconds do."""
    times = []

    def call():
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - start, time.process_time() - cpu))
        return result

    result = call()
    if runs > 0:
        times.clear()
    for _ in range(runs):
        call()
    return result, *(statistics.median(column) for column in zip(*times))


def differences(got: list[np.ndarray], expected: list[np.ndarray]) -> tuple[float, float]:
    """(largest |got - expected|, the same relative to each output's largest |expected|)."""
    absolute = [float(np.abs(a - b).max()) for a, b in zip(got, expected)]
    relative = [d / float(np.abs(b).max()) for d, b in zip(absolute, expected)]
    return max(absolute), max(relative)


def benchmark_variant(variant: str, out: Path, runs: int, precisions: list[str]) -> list[dict]:
    model = build_sam_hq(variant, seed=0).eval()  # PyTorch's default init: random weights
    reference = onnx_encoder(model)
    image = reference.example_image(1, seed=123)
    with torch.no_grad():
        expected, torch_s, torch_cpu_s = timed(lambda: [t.numpy() for t in reference(image)], runs)
    print(f"{variant}: torch fp32 {torch_s:.2f} s ({torch_cpu_s:.2f} CPU s)", flush=True)
    rows = []
    for precision in precisions:
        path = out / f"{variant}_encoder_{precision}.onnx"
        start = time.perf_counter()
        export_onnx_encoder(model, path, **precision_options(precision))
        export_s = time.perf_counter() - start
        size = sum(p.stat().st_size for p in out.glob(f"{path.name}*"))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = torch.get_num_threads()
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        feed = {ONNX_IMAGE_INPUT: image.numpy()}
        run = functools.partial(session.run, list(reference.output_names), feed)
        got, ort_s, ort_cpu_s = timed(run, runs)
        absolute, relative = differences(got, expected)
        tolerance = TOLERANCES[precision]
        row = dict(
            variant=variant,
            precision=precision,
            file_mb=round(size / 2**20, 1),
            max_abs_diff=absolute,
            max_rel_diff=relative,
            within_tolerance=relative <= tolerance,
            ort_s=round(ort_s, 3),
            torch_s=round(torch_s, 3),
            speedup=round(torch_s / ort_s, 2),
            ort_cpu_s=round(ort_cpu_s, 3),
            torch_cpu_s=round(torch_cpu_s, 3),
            cpu_speedup=round(torch_cpu_s / ort_cpu_s, 2),
            export_s=round(export_s, 1),
        )
        print(row, flush=True)
        rows.append(row)
        del session, run
        for p in out.glob(f"{path.name}*"):
            p.unlink()
        gc.collect()
    return rows


def precision_options(precision: str) -> dict[str, bool]:
    """export_onnx_encoder's keyword for a precision name (fp32: none)."""
    return {} if precision == "fp32" else {precision: True}


def onnx_mask(encoder, decoder, model, image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """H x W bool mask of one box through an encoder and a decoder session (as the documented
    onnxruntime example, with the model's own resize rule)."""
    pixels = model.processing.resize_image(image).transpose(2, 0, 1)[None]
    names = [o.name for o in encoder.get_outputs()]
    features = dict(zip(names, encoder.run(None, {ONNX_IMAGE_INPUT: pixels})))
    low = model.image_size // 4
    coords = model.processing.scale_coords(box.reshape(1, 2, 2), image.shape[:2])
    masks, _, _ = decoder.run(None, {
        **features,
        "point_coords": coords.astype(np.float32),
        "point_labels": np.array([[2, 3]], np.float32),
        "mask_input": np.zeros((1, 1, low, low), np.float32),
        "has_mask_input": np.zeros(1, np.float32),
        "orig_im_size": np.array(image.shape[:2], np.float32),
    })
    return masks[0, 0] > 0


def demo_mask_agreement(checkpoint: Path, root: Path, precisions: list[str], out: Path) -> dict:
    """Per precision: mean IoU of its masks with the fp32 encoder's, mIoU and mean boundary IoU
    against the ground truth, on every image of root/val (GT boxes)."""
    model = load_checkpoint(checkpoint).eval()
    # the HQ mask alone, as samhq-evaluate scores SAM-HQ
    decoder = session(export_onnx(model, out / "decoder.onnx", hq_token_only=True))
    encoders = {
        p: session(export_onnx_encoder(model, out / f"encoder_{p}.onnx", **precision_options(p)))
        for p in dict.fromkeys(["fp32", *precisions])
    }
    found = {p: [] for p in encoders}
    truth = []
    for image_file in sorted((root / "val" / "images").iterdir()):
        image = np.asarray(Image.open(image_file).convert("RGB"))
        gt = np.asarray(Image.open(root / "val" / "masks" / f"{image_file.stem}.png")) > 127
        truth.append(torch.from_numpy(gt))
        box = tight_box(gt)
        for p, encoder in encoders.items():
            found[p].append(torch.from_numpy(onnx_mask(encoder, decoder, model, image, box)))
    rows = {}
    for p, masks in found.items():
        pairs = list(zip(masks, truth, found["fp32"]))
        rows[p] = dict(
            images=len(masks),
            iou_with_fp32=statistics.mean(mask_iou(m[None], f[None]).item() for m, _, f in pairs),
            miou=100 * statistics.mean(mask_iou(m[None], g[None]).item() for m, g, _ in pairs),
            mbiou=100 * statistics.mean(boundary_iou(m[None], g[None]).item() for m, g, _ in pairs),
        )
        print(p, rows[p], flush=True)
    return rows


def session(path: Path):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = torch.get_num_threads()
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def markdown(rows: list[dict]) -> str:
    lines = [
        "| variant | precision | file | max abs diff | max diff / max abs | onnxruntime CPU | "
        "torch fp32 CPU | torch / onnxruntime |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['precision']} | {r['file_mb']} MB | {r['max_abs_diff']:.2g} "
            f"| {r['max_rel_diff']:.2g} | {r['ort_s']:.2f} s | {r['torch_s']:.2f} s | "
            f"{r['speedup']:.2f}x |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=["vit_b", "sam2.1_hq_hiera_t"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "fp16", "int8"],
                        choices=list(TOLERANCES))
    parser.add_argument(
        "--runs", type=int, default=3,
        help="timed calls after the warm-up; 0: time the warm-up call (the largest models)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU threads of torch and onnxruntime alike"
    )
    parser.add_argument("--out", type=Path, help="folder for the ONNX files (default: temporary)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--demo-masks", type=Path, metavar="CHECKPOINT",
                        help="instead: mask agreement of the precisions on the demo val set")
    parser.add_argument("--demo-root", type=Path, default=Path("data/demo"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"threads: {args.threads} (torch and onnxruntime)", flush=True)
    if args.demo_masks:
        with tempfile.TemporaryDirectory() as tmp:
            rows = demo_mask_agreement(args.demo_masks, args.demo_root, args.precisions, Path(tmp))
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        for variant in args.variants:
            rows += benchmark_variant(variant, out, args.runs, args.precisions)
            if args.json:
                args.json.write_text(json.dumps(rows, indent=1))
    print(markdown(rows))


if __name__ == "__main__":
    main()
