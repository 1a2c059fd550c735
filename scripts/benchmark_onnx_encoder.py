"""The ONNX image encoder table: per variant and precision, file size, difference from the fp32
torch encoder and onnxruntime CPU latency against torch, at full size with random weights.

    python scripts/benchmark_onnx_encoder.py --variants vit_b sam2.1_hq_hiera_t --runs 3

Differences are the largest |onnxruntime - torch fp32| over the encoder's outputs on one random
S x S image, absolute and relative to the output's largest |value| (the measure and tolerances of
check_onnx_encoder, which the tests run on batches and other shapes of small models). Latency:
median of --runs calls after a warm-up call (the one compared), torch fp32 eager (no_grad)
against onnxruntime's CPU provider, same machine and --threads (default 1: on a machine shared
with other work, 2-thread OpenMP runs were 5-30x slower than 1-thread ones, so one thread gives
the comparable figure).
Self-contained: the files go to a temporary folder (or --out) and the table is printed as
markdown; --json writes the rows.
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

from samhq_train.inference.onnx_encoder_export import (
    FP16_TOLERANCE,
    FP32_TOLERANCE,
    export_onnx_encoder,
    onnx_encoder,
)
from samhq_train.model import build_sam_hq
from samhq_train.model.onnx_encoder import ONNX_IMAGE_INPUT


def timed(fn, runs: int) -> tuple[object, float]:
    """(the first call's result, median seconds of `runs` further calls): the first call is the
    warm-up and gives the outputs to compare."""
    result = fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


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
        expected, torch_s = timed(lambda: [t.numpy() for t in reference(image)], runs)
    print(f"{variant}: torch fp32 {torch_s:.2f} s", flush=True)
    rows = []
    for precision in precisions:
        fp16 = precision == "fp16"
        path = out / f"{variant}_encoder{'_fp16' if fp16 else ''}.onnx"
        start = time.perf_counter()
        export_onnx_encoder(model, path, fp16=fp16)
        export_s = time.perf_counter() - start
        size = sum(p.stat().st_size for p in out.glob(f"{path.name}*"))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = torch.get_num_threads()
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        feed = {ONNX_IMAGE_INPUT: image.numpy()}
        run = functools.partial(session.run, list(reference.output_names), feed)
        got, ort_s = timed(run, runs)
        absolute, relative = differences(got, expected)
        tolerance = FP16_TOLERANCE if fp16 else FP32_TOLERANCE
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
            export_s=round(export_s, 1),
        )
        print(row, flush=True)
        rows.append(row)
        del session, run
        for p in out.glob(f"{path.name}*"):
            p.unlink()
        gc.collect()
    return rows


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
    parser.add_argument("--precisions", nargs="+", default=["fp32", "fp16"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU threads of torch and onnxruntime alike"
    )
    parser.add_argument("--out", type=Path, help="folder for the ONNX files (default: temporary)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"threads: {args.threads} (torch and onnxruntime)", flush=True)
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
