"""The opt-in int8 linear layers of an image encoder (model/cpu_int8.py) against its bf16 path, in
one process: the difference of each to fp32, then interleaved rounds (bf16, int8, and for SAM 1's
ViT the matmul floor, each once per round) at each thread count, wall and CPU seconds per image,
the load average before and after, peak RSS, and the int8 path's top ops by self CPU time
(1 thread). Random weights (profile_encoder.randomize), batch 1. SAM 1 ViT (vit_b/l/h) runs its
bf16 CPU blocks at --size (default 1024); any other variant (sam3_hq, sam2.1_hq_hiera_l, ...) its
registry encoder at its own input size.

    PYTHONPATH=. python scripts/profiling/int8_ab.py [--variant vit_b] [--size 1024]
        [--threads 1 2] [--rounds 3] [--no-profile] [--top 12] [--before]

--before adds SAM 3's and SAM 2.1's plain blocks with SDPA (their path before the bf16 CPU
attention) in bf16 and int8 to the rounds.
"""

import argparse
import resource
import sys
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from benchmark_cpu import flops, matmul_floor_call  # noqa: E402
from cpu_blocks_ab import VARIANTS as VIT_VARIANTS  # noqa: E402
from cpu_blocks_ab import interleaved_rounds, print_top_ops, random_encoder  # noqa: E402
from profile_encoder import randomize  # noqa: E402

from samhq_train.model import VARIANTS, build_sam_hq, cpu_int8  # noqa: E402
from samhq_train.model.sam2 import hiera  # noqa: E402
from samhq_train.model.sam3 import cpu_blocks as sam3_cpu_blocks  # noqa: E402


def parse_args(top: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", default="vit_b", choices=sorted({*VIT_VARIANTS, *VARIANTS}))
    parser.add_argument("--size", type=int, default=1024, help="SAM 1 ViT only")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--top", type=int, default=top)
    parser.add_argument("--before", action="store_true",
                        help="also time SAM 3's / SAM 2.1's plain blocks with SDPA (bf16, int8)")
    return parser.parse_args()


def family_encoder(variant: str) -> tuple[torch.nn.Module, torch.Tensor]:
    """The variant's image encoder with random weights and a normalised input at its size."""
    encoder = build_sam_hq(variant).image_encoder.eval()  # the rest of the model is dropped
    randomize(encoder)
    size = VARIANTS[variant].image_size
    return encoder, torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))


def encode(encoder, x, mode: str, new: bool = True):
    """mode: fp32 | bf16 | int8; new False: SAM 3's and SAM 2.1's bf16 CPU attention (and SAM 3's
    CPU blocks) off, their plain blocks with SDPA."""
    sam3_cpu_blocks.ENABLED = sam3_cpu_blocks.CHUNKED_ATTENTION = hiera.CHUNKED_ATTENTION = new
    encoder.int8 = mode == "int8"
    bf16 = torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode != "fp32")
    with torch.inference_mode(), bf16:
        return encoder(x)


def named_maps(out) -> dict[str, torch.Tensor]:
    """The encoder's feature maps by name: SAM 1 (embedding, early); SAM 3 [maps]; SAM 2.1
    ([maps], [position encodings]: the maps only)."""
    if isinstance(out, tuple) and isinstance(out[0], torch.Tensor):
        return dict(zip(("embedding", "early"), out, strict=True))
    maps = out[0] if isinstance(out, tuple) else out
    return {f"level {i} {tuple(m.shape[1:])}": m for i, m in enumerate(maps)}


def differences(encoder, x, before: bool = False) -> None:
    ref = named_maps(encode(encoder, x, "fp32"))
    runs = [(m, n) for n in (True, False)[: 2 if before else 1] for m in ("bf16", "int8")]
    for mode, new in runs:
        label = mode if new else f"{mode} SDPA (before)"
        for name, o in named_maps(encode(encoder, x, mode, new)).items():
            r = ref[name]
            diff = (o.float() - r).abs()
            print(f"{label} vs fp32, {name}: max abs {diff.max():.4f} (fp32 max abs "
                  f"{r.abs().max():.2f}, relative {diff.max() / r.abs().max():.4f}), mean abs "
                  f"{diff.mean():.5f} (fp32 mean abs {r.abs().mean():.4f}, relative "
                  f"{diff.mean() / r.abs().mean():.4f})")


def rounds(encoder, x, floor, threads: int, count: int, before: bool = False) -> None:
    paths = {
        "bf16 eager": lambda: encode(encoder, x, "bf16"),
        "int8 eager (oneDNN)": lambda: encode(encoder, x, "int8"),
    }
    if before:
        paths["bf16 eager, SDPA (before)"] = lambda: encode(encoder, x, "bf16", False)
        paths["int8 eager, SDPA (before)"] = lambda: encode(encoder, x, "int8", False)
    if floor is not None:
        paths["matmul floor (bf16)"] = floor
    base = "matmul floor (bf16)" if floor is not None else "bf16 eager"
    interleaved_rounds(paths, base, threads, count)


def profile(encoder, x, top: int) -> None:
    torch.set_num_threads(1)
    encode(encoder, x, "int8")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        encode(encoder, x, "int8")
    print_top_ops(prof, "int8 encoder", top)


def main() -> None:
    args = parse_args(top=12)
    if args.variant in VIT_VARIANTS:
        encoder, x, gemms = random_encoder(args)
        floor = matmul_floor_call(gemms)
        detail = f"floor {flops(gemms) / 1e9:.0f} GFLOP"
    else:
        encoder, x = family_encoder(args.variant)
        floor, detail = None, type(encoder).__name__
    print(f"{args.variant} at {x.shape[-1]} px, torch {torch.__version__}, oneDNN int8 "
          f"available: {cpu_int8.available()}, {detail}")
    torch.set_num_threads(max(args.threads))
    differences(encoder, x, args.before)
    for threads in args.threads:
        rounds(encoder, x, floor, threads, args.rounds, args.before)
    if not args.no_profile:
        profile(encoder, x, args.top)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\npeak RSS {peak:.2f} GiB")


if __name__ == "__main__":
    main()
