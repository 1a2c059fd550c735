"""Side-by-side speed of samhq_train, the official segment_anything_hq and transformers' SamHQModel
on the same (random) weights: image encoder and prompt decoding, images/s.

    python scripts/benchmark.py --variant vit_b --batch 4 --iters 10 [--dtype bf16] [--device cuda]

Prints a Markdown table; no assertions. The official package and transformers are optional.
"""

import argparse
import time
from collections.abc import Callable

import torch

from samhq_train.model import CheckpointError, build_sam_hq
from samhq_train.reference import official_twin, transformers_twin

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def timed(fn: Callable[[], object], iters: int, device: str) -> float:
    """Seconds per call, after two warm-up calls."""
    for _ in range(2):
        fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters


def build_competitors(variant: str, device: str) -> dict[str, torch.nn.Module]:
    with torch.device(device):  # random init directly on the device: minutes faster for vit_h
        ours = build_sam_hq(variant, seed=0)
    models = {"samhq_train": ours}
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="vit_b", choices=["vit_demo", "vit_tiny", "vit_b", "vit_l", "vit_h"])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--boxes", type=int, default=8, help="box prompts per image for the decoder")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--dtype", default="fp32", choices=sorted(DTYPES))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    models = build_competitors(args.variant, args.device)
    ours = models["samhq_train"]
    size = ours.image_size
    pixels = torch.randn(args.batch, 3, size, size, device=args.device)
    xy0 = torch.rand(args.batch, args.boxes, 2, device=args.device) * size / 2
    boxes = torch.cat([xy0, xy0 + size / 4], dim=-1)
    dtype = DTYPES[args.dtype]
    device_type = "cuda" if args.device.startswith("cuda") else "cpu"

    print(f"\n{args.variant}, batch {args.batch}, {args.boxes} boxes/image, {args.dtype}, {args.device}")
    print("| implementation | encoder images/s | decoder images/s |")
    print("|---|---|---|")
    for name, model in models.items():
        with torch.inference_mode(), torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
            enc = timed(encoder_call(name, model, pixels), args.iters, args.device)
            dec = timed(decoder_call(name, model, pixels, boxes), args.iters, args.device)
        print(f"| {name} | {args.batch / enc:.2f} | {args.batch / dec:.2f} |")
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
