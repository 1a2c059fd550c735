"""The opt-in int8 linear layers of the CPU blocks (model/sam1/cpu_int8.py) against the bf16 blocks
and the matmul floor, in one process: the difference of each to fp32, then interleaved rounds (bf16,
int8, floor, each once per round) at each thread count, wall and CPU seconds per image, the load
average before and after, peak RSS, and the int8 path's top ops by self CPU time (1 thread).
Random weights (profile_encoder.randomize), batch 1.

    PYTHONPATH=. python scripts/profiling/int8_ab.py [--variant vit_b] [--size 1024]
        [--threads 1 2] [--rounds 3] [--no-profile] [--top 12]
"""

import os
import resource
import statistics
import sys
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from benchmark_cpu import flops, matmul_floor_call  # noqa: E402
from cpu_blocks_ab import parse_args, print_top_ops, random_encoder, timed  # noqa: E402

from samhq_train.model import cpu_int8  # noqa: E402


def encode(encoder, x, mode: str):
    """mode: fp32 | bf16 | int8."""
    encoder.int8 = mode == "int8"
    bf16 = torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode != "fp32")
    with torch.inference_mode(), bf16:
        return encoder(x)


def differences(encoder, x) -> None:
    ref = encode(encoder, x, "fp32")
    for mode in ("bf16", "int8"):
        out = encode(encoder, x, mode)
        for name, o, r in zip(("embedding", "early"), out, ref, strict=True):
            diff = (o.float() - r).abs()
            print(f"{mode} vs fp32, {name}: max abs {diff.max():.4f} (fp32 max abs "
                  f"{r.abs().max():.2f}), mean abs {diff.mean():.5f} (fp32 mean abs "
                  f"{r.abs().mean():.4f}, relative {diff.mean() / r.abs().mean():.4f})")


def rounds(encoder, x, floor, threads: int, count: int) -> None:
    torch.set_num_threads(threads)
    paths = {
        "bf16 eager blocks": lambda: encode(encoder, x, "bf16"),
        "int8 eager blocks (oneDNN)": lambda: encode(encoder, x, "int8"),
        "matmul floor (bf16)": floor,
    }
    for fn in paths.values():
        fn()
    load = os.getloadavg()[0]
    times = {name: [] for name in paths}
    for _ in range(count):
        for name, fn in paths.items():
            times[name].append(timed(fn))
    floor_wall = statistics.median(w for w, _ in times["matmul floor (bf16)"])
    floor_cpu = statistics.median(c for _, c in times["matmul floor (bf16)"])
    print(f"\n{threads} thread(s), median of {count} interleaved rounds, load average "
          f"{load:.2f} before, {os.getloadavg()[0]:.2f} after:")
    print("| path | s / image (wall) | CPU s / image | x floor (wall) | x floor (CPU) |")
    print("|---|---:|---:|---:|---:|")
    for name, values in times.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {wall / floor_wall:.2f} | "
              f"{cpu / floor_cpu:.2f} |")


def profile(encoder, x, top: int) -> None:
    torch.set_num_threads(1)
    encode(encoder, x, "int8")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        encode(encoder, x, "int8")
    print_top_ops(prof, "int8 blocks", top)


def main() -> None:
    args = parse_args(top=12)
    encoder, x, gemms = random_encoder(args)
    print(f"{args.variant} at {args.size} px, torch {torch.__version__}, oneDNN int8 available: "
          f"{cpu_int8.available()}, floor {flops(gemms) / 1e9:.0f} GFLOP")
    differences(encoder, x)
    floor = matmul_floor_call(gemms)
    for threads in args.threads:
        rounds(encoder, x, floor, threads, args.rounds)
    if not args.no_profile:
        profile(encoder, x, args.top)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\npeak RSS {peak:.2f} GiB")


if __name__ == "__main__":
    main()
