"""The opt-in int8 linear layers of an image encoder (model/cpu_int8.py) against its bf16 path, in
one process: the difference of each to fp32, then interleaved rounds (bf16, int8 and the matmul
floor, each once per round) at each thread count, wall and CPU seconds per image, the load average
before and after, peak RSS, and the int8 path's top ops by self CPU time (1 thread). Random weights
(profile_encoder.randomize), batch 1. SAM 1 ViT (vit_b/l/h) runs its bf16 CPU blocks at --size
(default 1024); any other variant (sam3_hq, sam2.1_hq_hiera_l, ...) its registry encoder at its own
input size, its floor scripts/matmul_floor.py's encoder_gemms (trunk + neck).

    PYTHONPATH=. python scripts/profiling/int8_ab.py [--variant vit_b] [--size 1024]
        [--threads 1 2] [--rounds 3] [--no-profile] [--top 12] [--before] [--sdpa]

--before adds SAM 3's and SAM 2.1's plain blocks (their bf16 CPU blocks off, the chunked CPU
attention on: SAM 2.1's path before its CPU blocks) in bf16 and int8 to the differences and the
rounds; --sdpa the plain blocks with SDPA (no CPU kernels at all); --constants bf16 and int8 with
the per-forward constants made again in every call (model/inference_constants.py: as before they
were kept) to the rounds.
"""

import argparse
import resource
import sys
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from cpu_blocks_ab import VARIANTS as VIT_VARIANTS  # noqa: E402
from cpu_blocks_ab import interleaved_rounds, profile_call, random_encoder  # noqa: E402
from matmul_floor import encoder_gemms, flops, matmul_floor_call  # noqa: E402
from profile_encoder import randomize  # noqa: E402

from samhq_train.model import VARIANTS, build_sam_hq, cpu_int8  # noqa: E402
from samhq_train.model.inference_constants import forget_constants  # noqa: E402
from samhq_train.model.sam2 import cpu_blocks as sam2_cpu_blocks  # noqa: E402
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
                        help="also SAM 3's / SAM 2.1's plain blocks (chunked attention)")
    parser.add_argument("--constants", action="store_true",
                        help="also bf16 / int8 with the per-forward constants made every call")
    parser.add_argument("--sdpa", action="store_true",
                        help="also SAM 3's / SAM 2.1's plain blocks with SDPA (bf16, int8)")
    return parser.parse_args()


def family_encoder(variant: str) -> tuple[torch.nn.Module, torch.Tensor]:
    """The variant's image encoder with random weights and a normalised input at its size."""
    encoder = build_sam_hq(variant).image_encoder.eval()  # the rest of the model is dropped
    randomize(encoder)
    size = VARIANTS[variant].image_size
    return encoder, torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))


# path -> (SAM 3's and SAM 2.1's bf16 CPU blocks, their chunked CPU attention), with a label
PATHS = {
    "new": ((True, True), ""),
    "plain": ((False, True), " (before: plain blocks)"),
    "sdpa": ((False, False), " (plain blocks, SDPA)"),
}


def encode(encoder, x, mode: str, path: str = "new"):
    """mode: fp32 | bf16 | int8; path (PATHS): SAM 3's and SAM 2.1's bf16 CPU blocks and their
    chunked attention on (new), the blocks off (plain) or both off (sdpa)."""
    blocks, chunked = PATHS[path][0]
    sam3_cpu_blocks.ENABLED = sam2_cpu_blocks.ENABLED = blocks
    sam3_cpu_blocks.CHUNKED_ATTENTION = hiera.CHUNKED_ATTENTION = chunked
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


def compared_paths(args) -> list[str]:
    return ["new"] + ["plain"] * args.before + ["sdpa"] * args.sdpa


def differences(encoder, x, paths: list[str]) -> None:
    ref = named_maps(encode(encoder, x, "fp32"))
    for path in paths:
        for mode in ("bf16", "int8"):
            label = f"{mode}{PATHS[path][1]}"
            for name, o in named_maps(encode(encoder, x, mode, path)).items():
                r = ref[name]
                diff = (o.float() - r).abs()
                print(f"{label} vs fp32, {name}: max abs {diff.max():.4f} (fp32 max abs "
                      f"{r.abs().max():.2f}, relative {diff.max() / r.abs().max():.4f}), mean abs "
                      f"{diff.mean():.5f} (fp32 mean abs {r.abs().mean():.4f}, relative "
                      f"{diff.mean() / r.abs().mean():.4f})")


def rounds(
    encoder, x, floor, threads: int, count: int, paths: list[str], constants: bool = False
) -> None:
    timed = {
        f"{mode if mode == 'bf16' else 'int8 (oneDNN)'} eager{PATHS[path][1]}": (
            lambda mode=mode, path=path: encode(encoder, x, mode, path)
        )
        for path in paths
        for mode in ("bf16", "int8")
    }
    if constants:
        for mode in ("bf16", "int8"):
            timed[f"{mode} eager, constants made every call"] = (
                lambda mode=mode: (forget_constants(encoder), encode(encoder, x, mode))
            )
    timed["matmul floor (bf16)"] = floor
    interleaved_rounds(timed, "matmul floor (bf16)", threads, count)


def profile(encoder, x, top: int) -> None:
    profile_call(lambda: encode(encoder, x, "int8"), "int8 encoder", top)


def main() -> None:
    args = parse_args(top=12)
    if args.variant in VIT_VARIANTS:
        encoder, x, gemms = random_encoder(args)
    else:
        encoder, x = family_encoder(args.variant)
        gemms = encoder_gemms(encoder, x.shape[-1])
    print(f"{args.variant} at {x.shape[-1]} px, torch {torch.__version__}, oneDNN int8 "
          f"available: {cpu_int8.available()}, {type(encoder).__name__}, floor "
          f"{flops(gemms) / 1e9:.0f} GFLOP", flush=True)
    torch.set_num_threads(max(args.threads))
    paths = compared_paths(args)
    differences(encoder, x, paths)
    floor = matmul_floor_call(gemms)
    for threads in args.threads:
        rounds(encoder, x, floor, threads, args.rounds, paths, args.constants)
    if not args.no_profile:
        profile(encoder, x, args.top)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\npeak RSS {peak:.2f} GiB")


if __name__ == "__main__":
    main()
