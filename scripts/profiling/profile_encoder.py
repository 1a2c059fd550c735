"""Speed and profile of the SAM ViT image encoder: the reference (commit e94e7c5, before the
layout-copy work) vs the current one, optionally transformers' SamVisionEncoder; random weights.

    python scripts/profiling/profile_encoder.py --size 1024 --embed 768 --depth 12 --threads 2 [--bf16]
        [--transformers] [--no-profile] [--iters 2]

Prints s/img (min over iters) per encoder, the max abs diff of ours vs the reference, and the top
ops by self CPU time. The modules are loaded by file path, so a half-refactored package is fine.
"""

import argparse
import contextlib
import importlib.util
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
REF_COMMIT = "e94e7c543b94206a55e59460c1f86edfe39426a9"


def load_module(name: str, path: Path) -> types.ModuleType:
    """Load `path` as `_enc.<name>` so that its `.common` / `..common` imports resolve to common.py."""
    for pkg, where in (("_enc", ROOT / "samhq_train/model"), ("_enc.sam1", ROOT / "samhq_train/model/sam1")):
        if pkg not in sys.modules:
            module = types.ModuleType(pkg)
            module.__path__ = [str(where)]
            sys.modules[pkg] = module
    if "_enc.common" not in sys.modules:
        load_file("_enc.common", ROOT / "samhq_train/model/common.py")
    return load_file(name, path)


def load_file(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def reference_source(path: str | None) -> Path:
    if path:
        return Path(path)
    text = subprocess.run(
        ["git", "show", f"{REF_COMMIT}:samhq_train/model/image_encoder.py"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    out = Path(tempfile.gettempdir()) / "ref_image_encoder_e94e7c5.py"
    out.write_text(text)
    return out


def randomize(model: torch.nn.Module, seed: int = 0) -> None:
    """Random weights everywhere, rel-pos tables and pos_embed included (they init to zeros)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.02 if p.ndim > 1 else 0.1
            centre = 1.0 if p.ndim == 1 and name.endswith("weight") else 0.0  # the norms' gains
            p.copy_(torch.randn(p.shape, generator=gen) * scale + centre)


def transformers_encoder(args) -> torch.nn.Module:
    from transformers import SamVisionConfig
    from transformers.models.sam.modeling_sam import SamVisionEncoder

    config = SamVisionConfig(
        hidden_size=args.embed, num_hidden_layers=args.depth, num_attention_heads=args.heads,
        image_size=args.size, window_size=args.window, global_attn_indexes=list(args.global_blocks),
        output_channels=256, use_rel_pos=True, mlp_dim=4 * args.embed,
    )
    return SamVisionEncoder(config).eval()


def seconds_per_image(fn, x: torch.Tensor, iters: int) -> tuple[float, float]:
    """(wall, CPU) seconds per image, each the min over `iters` calls after a warm-up. CPU time
    (all threads) is the steadier of the two on a shared machine."""
    fn(x)
    wall, cpu = [], []
    for _ in range(iters):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(x)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall) / x.shape[0], min(cpu) / x.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--embed", type=int, default=768)
    parser.add_argument("--depth", type=int, default=12)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--window", type=int, default=14)
    parser.add_argument("--global-blocks", type=int, nargs="+", default=None, help="default: every depth/4-th")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iters", type=int, default=2)
    parser.add_argument("--bf16", action="store_true", help="CPU bf16 autocast")
    parser.add_argument("--transformers", action="store_true", help="also time transformers' SamVisionEncoder")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--ref", default=None, help="reference image_encoder.py (default: from git)")
    parser.add_argument("--skip-ref", action="store_true", help="time only the current encoder")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.global_blocks is None:
        step = max(args.depth // 4, 1)
        args.global_blocks = [i for i in range(step - 1, args.depth, step)]
    kwargs = dict(
        img_size=args.size, embed_dim=args.embed, depth=args.depth, num_heads=args.heads,
        window_size=args.window, global_attn_indexes=tuple(args.global_blocks),
    )
    new = load_module("_enc.sam1.image_encoder", ROOT / "samhq_train/model/sam1/image_encoder.py")
    torch.manual_seed(0)
    encoders = {"new": new.ImageEncoderViT(**kwargs).eval()}
    randomize(encoders["new"])
    if not args.skip_ref:
        ref = load_module("_enc.ref_image_encoder", reference_source(args.ref))
        encoders["reference"] = ref.ImageEncoderViT(**kwargs).eval()
        encoders["reference"].load_state_dict(encoders["new"].state_dict())
    if args.transformers:
        encoders["transformers"] = transformers_encoder(args)
    x = torch.randn(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(1))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()
    print(f"size {args.size} embed {args.embed} depth {args.depth} heads {args.heads} window {args.window} "
          f"global {args.global_blocks} threads {args.threads} batch {args.batch} "
          f"{'bf16 autocast' if args.bf16 else 'fp32'} torch {torch.__version__}")

    def call(name):
        def fn(inp):
            with torch.inference_mode(), autocast:
                return encoders[name](inp)
        return fn

    outputs = {}
    for name in encoders:
        outputs[name] = call(name)(x)
        wall, cpu = seconds_per_image(call(name), x, args.iters)
        print(f"{name:>12}: {wall:.3f} s/img wall, {cpu:.3f} s/img CPU", flush=True)
    if "reference" in outputs:
        for i, what in enumerate(("embedding", "early")):
            diff = (outputs["new"][i].float() - outputs["reference"][i].float()).abs().max().item()
            print(f"max abs diff new vs reference, {what}: {diff:.3e}")
    if args.no_profile:
        return
    for name in [n for n in ("reference", "new") if n in encoders]:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            call(name)(x)
        print(f"\n== {name}: top ops by self CPU time ==")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))


if __name__ == "__main__":
    main()
