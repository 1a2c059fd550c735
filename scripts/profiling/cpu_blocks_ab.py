"""The bf16 CPU blocks (model/sam1/cpu_blocks.py) against the plain autocast blocks, in one process:
interleaved rounds (plain, fused, matmul floor, each once per round), wall and CPU seconds per image
at each thread count (with the load average), the ratio to the matmul floor measured in the same
rounds, the max difference of each bf16 path to fp32, and the top ops by self CPU time (1 thread).
Random weights, batch 1. interleaved_rounds is the timing loop of the A/B scripts.

    PYTHONPATH=. python scripts/profiling/cpu_blocks_ab.py [--variant vit_b] [--size 1024]
        [--threads 1 2] [--rounds 3] [--no-profile] [--top 14]

The floor is scripts/matmul_floor.py's (the encoder's GEMM shapes as bf16 torch.matmul calls).
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from matmul_floor import encoder_gemms, flops, matmul_floor_call  # noqa: E402
from profile_encoder import randomize  # noqa: E402

from samhq_train.model.sam1 import cpu_blocks  # noqa: E402
from samhq_train.model.sam1.image_encoder import ImageEncoderViT  # noqa: E402

VARIANTS = {
    "vit_b": dict(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11)),
    "vit_l": dict(embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23)),
    "vit_h": dict(embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31)),
}


def encode(encoder, x, fused: bool | None):
    """fused None: fp32; else bf16 autocast with the fused blocks on or off."""
    cpu_blocks.ENABLED = bool(fused)
    bf16 = torch.autocast("cpu", dtype=torch.bfloat16, enabled=fused is not None)
    with torch.inference_mode(), bf16:
        return encoder(x)


def timed(fn) -> tuple[float, float]:
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - start_cpu


def max_diffs(encoder, x) -> None:
    ref = encode(encoder, x, None)
    outs = {"plain": encode(encoder, x, False), "fused": encode(encoder, x, True)}
    for name, out in outs.items():
        diffs = [(o.float() - r).abs().max().item() for o, r in zip(out, ref, strict=True)]
        print(f"bf16 {name:>5} vs fp32: max abs diff embedding {diffs[0]:.4f}, early {diffs[1]:.4f}"
              f" (fp32 max abs {ref[0].abs().max().item():.2f}, {ref[1].abs().max().item():.2f})")
    pairs = zip(*outs.values(), strict=True)
    diffs = [(a.float() - b.float()).abs().max().item() for a, b in pairs]
    print(f"bf16 fused vs plain: max abs diff embedding {diffs[0]:.4f}, early {diffs[1]:.4f}")


def rounds(encoder, x, floor, threads: int, count: int) -> None:
    paths = {
        "plain bf16 blocks": lambda: encode(encoder, x, False),
        "fused bf16 blocks": lambda: encode(encoder, x, True),
        "matmul floor": floor,
    }
    interleaved_rounds(paths, "matmul floor", threads, count)


def interleaved_rounds(paths: dict, floor_name: str, threads: int, count: int) -> None:
    """Time each of `paths` (name -> call) once per round, `count` rounds after one warm-up call
    each, and print a table of median wall and CPU seconds, also as ratios to paths[floor_name]."""
    torch.set_num_threads(threads)
    for fn in paths.values():
        fn()
    load = os.getloadavg()[0]
    times = {name: [] for name in paths}
    for _ in range(count):
        for name, fn in paths.items():
            times[name].append(timed(fn))
    floor_wall = statistics.median(w for w, _ in times[floor_name])
    floor_cpu = statistics.median(c for _, c in times[floor_name])
    print(f"\n{threads} thread(s), median of {count} interleaved rounds, load average "
          f"{load:.2f} before, {os.getloadavg()[0]:.2f} after:")
    ratio = f"x {floor_name}"
    print(f"| path | s / image (wall) | CPU s / image | {ratio} (wall) | {ratio} (CPU) |")
    print("|---|---:|---:|---:|---:|")
    for name, values in times.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        ratios = f"{wall / floor_wall:.2f} | {cpu / floor_cpu:.2f}"
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {ratios} |")


def print_top_ops(prof, title: str, top: int) -> None:
    """The `top` ops of a torch.profiler run by self CPU time, with their shares."""
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    print(f"\n{title}, 1 thread, self CPU {total / 1e6:.2f} s:")
    for e in events[:top]:
        seconds, share = e.self_cpu_time_total / 1e6, 100 * e.self_cpu_time_total / total
        print(f"  {e.key:<36} {share:5.1f} %  {seconds:6.3f} s  {e.count:5d} calls")


def profile_call(call: Callable[[], object], title: str, top: int) -> None:
    """One warm-up call, then one under torch.profiler at 1 thread: its `top` ops."""
    torch.set_num_threads(1)
    call()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        call()
    print_top_ops(prof, title, top)


def profile(encoder, x, top: int) -> None:
    for fused in (False, True):
        title = f"{'fused' if fused else 'plain'} bf16 blocks"
        profile_call(lambda fused=fused: encode(encoder, x, fused), title, top)


def parse_args(top: int):
    """The options both A/B scripts take."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", default="vit_b", choices=sorted(VARIANTS))
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--top", type=int, default=top)
    return parser.parse_args()


def random_encoder(args):
    """A random-weight encoder of --variant at --size, its input and its GEMM shapes."""
    encoder = ImageEncoderViT(img_size=args.size, **VARIANTS[args.variant]).eval()
    randomize(encoder)
    x = torch.randn(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(1))
    return encoder, x, encoder_gemms(encoder)


def main() -> None:
    args = parse_args(top=14)
    encoder, x, gemms = random_encoder(args)
    print(f"{args.variant} at {args.size} px, torch {torch.__version__}, fused linear available: "
          f"{cpu_blocks.fused_linear_available()}, floor {flops(gemms) / 1e9:.0f} GFLOP")
    max_diffs(encoder, x)
    floor = matmul_floor_call(gemms)
    for threads in args.threads:
        rounds(encoder, x, floor, threads, args.rounds)
    if not args.no_profile:
        profile(encoder, x, args.top)


if __name__ == "__main__":
    main()
