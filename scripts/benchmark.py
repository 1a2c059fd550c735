"""Side-by-side speed of samhq_train, the official segment_anything_hq and transformers' SamHQModel
on the same (random) weights: image encoder, prompt decoding and one training step, images/s.

    python scripts/benchmark.py --variant vit_b --batch 4 --iters 10 [--dtype bf16] [--device cuda] [--json out.json]

The training step is the official recipe's: the encoder under no_grad, one box prompt per image,
the HQ decoder forward + backward and an Adam step on the HQ parameters; for the official package
it is built from its modules the way the official train.py calls them (one image at a time through
the prompt encoder and decoder). SAM 2.1 variants (sam2.1_hq_hiera_*) have no installable
reference: only samhq_train is timed. Prints a Markdown table and optionally writes JSON; no
assertions. The official package and transformers are optional.
"""

import argparse
import json
import time
from collections.abc import Callable

import torch

from samhq_train.model import VARIANTS, CheckpointError, build_sam_hq, parameter_groups
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


def train_step_call(name: str, model, pixels: torch.Tensor, boxes: torch.Tensor):
    """One training step (HQ parameters only), or None where the implementation has no such step."""
    if name == "transformers":
        return None
    target = torch.zeros(pixels.shape[0], 1, 256, 256, device=pixels.device)
    if name == "samhq_train":
        optimizer = torch.optim.Adam(parameter_groups(model, "hq"), lr=1e-3)

        def run():
            with torch.no_grad():
                features = model.encode(pixels)
            low_res, _ = model.decode(features, boxes=boxes[:, :1], hq_token_only=True)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                low_res[:, :, 0], target[..., : low_res.shape[-2], : low_res.shape[-1]]
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return run
    hq = [p for n, p in model.mask_decoder.named_parameters() if n.split(".")[0] in (
        "hf_token", "hf_mlp", "compress_vit_feat", "embedding_encoder", "embedding_maskfeature")]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in hq:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(hq, lr=1e-3)

    def run_official():
        with torch.no_grad():
            emb, interm = model.image_encoder(pixels)
            prompts = [model.prompt_encoder(points=None, boxes=boxes[i, :1], masks=None) for i in range(len(pixels))]
        losses = []
        for i, (sparse, dense) in enumerate(prompts):
            masks, _ = model.mask_decoder(
                image_embeddings=emb[i : i + 1], image_pe=model.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                multimask_output=False, hq_token_only=True, interm_embeddings=[interm[0][i : i + 1]],
            )
            losses.append(torch.nn.functional.binary_cross_entropy_with_logits(
                masks[:, 0], target[i : i + 1, 0, : masks.shape[-2], : masks.shape[-1]]
            ))
        optimizer.zero_grad(set_to_none=True)
        torch.stack(losses).mean().backward()
        optimizer.step()

    return run_official


def peak_memory(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MB CUDA"
    import resource

    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB RSS"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="vit_b", choices=sorted(VARIANTS))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--boxes", type=int, default=8, help="box prompts per image for the decoder")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--dtype", default="fp32", choices=sorted(DTYPES))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", help="also write the rows to this file")
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
    print("| implementation | encoder images/s | decoder images/s | training step images/s | peak memory so far |")
    print("|---|---|---|---|---|")
    rows = []
    autocast = lambda: torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None)  # noqa: E731
    for name, model in models.items():
        with torch.inference_mode(), autocast():
            enc = timed(encoder_call(name, model, pixels), args.iters, args.device)
            dec = timed(decoder_call(name, model, pixels, boxes), args.iters, args.device)
        step_fn = train_step_call(name, model, pixels, boxes)
        with autocast():
            step = timed(step_fn, args.iters, args.device) if step_fn else None
        row = {"implementation": name, "encoder": args.batch / enc, "decoder": args.batch / dec,
               "train_step": args.batch / step if step else None, "memory": peak_memory(args.device)}
        rows.append(row)
        step_text = f"{row['train_step']:.2f}" if step else "-"
        print(f"| {name} | {row['encoder']:.2f} | {row['decoder']:.2f} | {step_text} | {row['memory']} |")
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    ours_step = rows[0]["train_step"]
    for row in rows[1:]:
        if row["train_step"]:
            print(f"training step speed-up vs {row['implementation']}: {ours_step / row['train_step']:.2f}x")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"settings": vars(args), "rows": rows}, handle, indent=1)


if __name__ == "__main__":
    main()
