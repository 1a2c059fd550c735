"""Speed of SAM 3's text prompts (ConceptPredictor): the image encoding (one ViT pass, both necks),
the detector on a text prompt, and the refinement of every kept box by the HQ decoder.

    python scripts/benchmark.py concept                      # full size (sam3_hq), CPU, fp32
    python scripts/benchmark.py concept --dtype bf16 --iters 3 --json concept.json
    python scripts/benchmark.py concept --variant sam3_hq_demo --device cuda
    python scripts/benchmark.py concept --onnx       # + the text prompt in onnxruntime (CPU)

Random weights (the shapes are what count) and a merges file of the full vocabulary's size whose
merges spell nothing (the text's ids are bytes); the threshold keeps --boxes instances, so the
refinement decodes that many boxes. Times are the best of --iters calls after --warmup calls (1)
(the mean is in the JSON). Prints a Markdown table; no assertions. --onnx exports the text
encoder and detector graphs of `--to onnx_concept` (fp32; the time and file sizes are printed)
and times the same text prompt in onnxruntime's CPU provider on the image's detector levels.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from samhq_train.clip_tokenizer import ClipTokenizer
from samhq_train.inference.concept import ConceptPredictor
from samhq_train.inference.onnx_concept_export import DETECTOR_FILE, TEXT_FILE, export_onnx_concept
from samhq_train.inference.onnx_encoder_export import graph_bytes, onnx_session
from samhq_train.model.sam3 import VARIANTS, build
from samhq_train.model.sam3.concept.detector import ConceptDetector
from samhq_train.model.sam3.family import adopt_carried

DTYPES = {"fp32": None, "bf16": torch.bfloat16}


def random_model(variant: str, device: str):
    """The variant with a detector of its sizes, PyTorch's default init, detector tensors carried
    as a loaded file's would be."""
    cfg = VARIANTS[variant]
    model = build(cfg)
    detector = ConceptDetector(
        cfg.concept, vit_dim=cfg.vit.embed_dim, scale_factors=cfg.neck_scale_factors
    )
    state = model.state_dict()
    state.update({"detector." + k: v for k, v in detector.state_dict().items()})
    adopt_carried(model, state)
    model.load_state_dict(state)
    return model.to(device).eval()


def merges_file(folder: Path, vocab_size: int) -> Path:
    """A file in CLIP's merges format giving vocab_size ids (merges of symbols no text spells)."""
    count = vocab_size - 2 * 256 - 2
    lines = ["#version: benchmark"] + [f"q{i} zz" for i in range(count)]
    path = folder / "bpe_simple_vocab_16e6.txt.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode("utf-8")))
    return path


def timed(fn, iters: int, device: str, warmup: int = 1) -> tuple[float, float]:
    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times), sum(times) / len(times)


def onnx_prompt(predictor: ConceptPredictor, text: str, folder: Path):
    """Export the text encoder and detector graphs into folder (printing the time and sizes);
    returns a call running the text prompt through them in onnxruntime on the set image."""
    start = time.perf_counter()
    export_onnx_concept(predictor.model, folder, graphs=(TEXT_FILE, DETECTOR_FILE))
    sizes = ", ".join(
        f"{name} {graph_bytes(folder / name) / 2**20:.0f} MB" for name in (TEXT_FILE, DETECTOR_FILE)
    )
    print(f"ONNX export (text encoder + detector): {time.perf_counter() - start:.1f} s; {sizes}")
    text_graph, detector = onnx_session(folder / TEXT_FILE), onnx_session(folder / DETECTOR_FILE)
    tokens = predictor.tokenizer.token_array(text)
    levels = {
        f"detector_level_{i}": level.float().cpu().numpy()
        for i, level in enumerate(predictor.image.levels)
    }
    no_exemplars = {
        "exemplar_boxes": np.zeros((1, 0, 4), np.float32),
        "exemplar_labels": np.zeros((1, 0), np.int64),
    }

    def run():
        features, padding = text_graph.run(None, {"token_ids": tokens})
        feed = {**levels, "text_features": features, "text_padding": padding, **no_exemplars}
        return detector.run(None, feed)

    return run


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", default="sam3_hq", choices=sorted(VARIANTS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    parser.add_argument("--iters", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls before the timed ones")
    parser.add_argument("--boxes", type=int, default=8, help="instances refined per prompt")
    parser.add_argument("--size", type=int, nargs=2, default=(768, 1024), metavar=("H", "W"))
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--onnx", action="store_true", help="+ the text prompt in onnxruntime")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = random_model(args.variant, args.device)
    cfg = VARIANTS[args.variant].concept
    image = (np.random.RandomState(0).rand(*args.size, 3) * 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = ClipTokenizer(merges_file(Path(folder), cfg.vocab_size), vocab_size=None)
    predictor = ConceptPredictor(model, tokenizer, amp_dtype=DTYPES[args.dtype])
    predictor.set_image(image)
    text = "a striped cat"
    # the threshold that keeps the --boxes best-scored instances
    scores = np.sort(predictor.predict(text, refine=False, threshold=0.0).scores)[::-1]
    predictor.threshold = float(scores[min(args.boxes, len(scores)) - 1]) - 1e-6
    def detect_afresh():
        predictor.last_detection = None  # the predictor keeps its last detection
        return predictor.predict(text, refine=False)

    rows = {
        "set_image (ViT + both necks)": lambda: predictor.set_image(image),
        "text prompt: text encoder + detector": detect_afresh,
        f"{args.boxes} boxes refined (HQ decoder)": lambda: predictor.predict(text, use_hq=True),
    }
    onnx_folder = tempfile.TemporaryDirectory() if args.onnx else None
    if onnx_folder is not None:
        onnx_run = onnx_prompt(predictor, text, Path(onnx_folder.name))
        rows["text prompt in onnxruntime (CPU): text encoder + detector"] = onnx_run
    results = {}
    print(f"| {args.variant} {args.dtype} on {args.device}, image {args.size[1]} x "
          f"{args.size[0]} | best s | mean s |")
    print("|---|---:|---:|")
    for name, fn in rows.items():
        with torch.no_grad():
            best, mean = timed(fn, args.iters, args.device, args.warmup)
        results[name] = {"best_s": best, "mean_s": mean}
        print(f"| {name} | {best:.3f} | {mean:.3f} |")
    if onnx_folder is not None:
        onnx_folder.cleanup()
    if args.json:
        record = {"args": vars(args), "torch": torch.__version__, "results": results}
        Path(args.json).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
