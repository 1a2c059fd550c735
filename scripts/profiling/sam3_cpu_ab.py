"""SAM 3's ViT encoder (trunk + the sam2 neck) on the CPU, its bf16 inference path
(model/sam3/cpu_blocks.py) against the path before it (plain blocks, RoPE then SDPA), in one
process: the difference of each to fp32, then interleaved rounds (bf16 and int8 before / after,
Meta's sam3 ViT in bf16 on the same weights followed by the same neck, the matmul floor; each once
per round) at each thread count, wall and CPU seconds per image as ratios to the floor, the load
average, peak RSS, and the top ops of the new bf16 path by self CPU time (1 thread). Random
weights (profile_encoder.randomize), batch 1, 1008 px; the model is built once.

    PYTHONPATH=. python scripts/profiling/sam3_cpu_ab.py [--variant sam3_hq] [--threads 1]
        [--rounds 2] [--no-meta] [--no-int8] [--no-diff] [--no-profile] [--top 14]

The floor is scripts/matmul_floor.py's (the encoder's GEMM shapes as bf16 torch.matmul calls).
`--rounds 0` prints the differences and the profile only.
"""

import argparse
import resource
import sys
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from cpu_blocks_ab import interleaved_rounds, profile_call  # noqa: E402
from int8_ab import family_encoder, named_maps  # noqa: E402
from matmul_floor import encoder_gemms, flops, matmul_floor_call  # noqa: E402

from samhq_train.model import VARIANTS, cpu_int8, cpu_kernels  # noqa: E402
from samhq_train.model.sam3 import cpu_blocks  # noqa: E402

FLOOR = "matmul floor (bf16 GEMMs alone)"


def encode(encoder, x, mode: str, new: bool = True):
    """mode fp32 | bf16 | int8; new: the bf16 CPU path (else the plain blocks with SDPA)."""
    cpu_blocks.ENABLED = cpu_blocks.CHUNKED_ATTENTION = new
    encoder.int8 = mode == "int8"
    bf16 = torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode != "fp32")
    with torch.inference_mode(), bf16:
        return encoder(x)


def meta_call(encoder, x, variant: str):
    """Meta's sam3 ViT (sam3.model_builder's shapes, its own Attention: RoPE then SDPA) holding the
    same weight tensors, then our neck levels on its output, in bf16 autocast; None without sam3."""
    try:
        from sam3.model.vitdet import ViT
    except ImportError as err:
        print(f"skipping Meta's sam3: {err}")
        return None
    v = VARIANTS[variant].vit
    meta = ViT(
        img_size=v.img_size, pretrain_img_size=v.pretrain_img_size, patch_size=v.patch_size,
        embed_dim=v.embed_dim, depth=v.depth, num_heads=v.num_heads, mlp_ratio=v.mlp_ratio,
        norm_layer="LayerNorm", drop_path_rate=0.0, qkv_bias=True, use_abs_pos=True,
        tile_abs_pos=True, global_att_blocks=v.global_att_blocks, rel_pos_blocks=(),
        use_rope=True, use_interp_rope=True, window_size=v.window_size,
        pretrain_use_cls_token=True, retain_cls_token=False, ln_pre=True, ln_post=False,
        return_interm_layers=False, bias_patch_embed=False,
    ).eval()
    result = meta.load_state_dict(encoder.trunk.state_dict(), strict=False, assign=True)
    assert not result.unexpected_keys and all("freqs_cis" in k for k in result.missing_keys)
    levels = encoder.sam2_convs[: encoder.levels]

    def run():
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            trunk = meta(x)[-1]
            return [level(trunk) for level in levels]

    return run


def differences(encoder, x, meta, int8: bool) -> None:
    ref = named_maps(encode(encoder, x, "fp32"))
    outputs = {
        f"{mode} {'after' if new else 'before'}": lambda mode=mode, new=new: encode(
            encoder, x, mode, new
        )
        for mode in ("bf16", "int8")[: 2 if int8 else 1]
        for new in (False, True)
    }
    if meta is not None:
        outputs["Meta sam3 bf16"] = meta
    for name, fn in outputs.items():
        for (level, o), r in zip(named_maps(fn()).items(), ref.values(), strict=True):
            diff = (o.float() - r).abs()
            print(f"{name} vs fp32, {level}: max abs {diff.max():.4f} (fp32 {r.abs().max():.2f}),"
                  f" mean relative {diff.mean() / r.abs().mean():.4f}")


def paths(encoder, x, meta, int8: bool) -> dict:
    out = {
        "bf16 before (plain blocks, SDPA)": lambda: encode(encoder, x, "bf16", False),
        "bf16 after (CPU blocks)": lambda: encode(encoder, x, "bf16", True),
    }
    if int8:
        out["int8 before (plain blocks, SDPA)"] = lambda: encode(encoder, x, "int8", False)
        out["int8 after (CPU blocks)"] = lambda: encode(encoder, x, "int8", True)
    if meta is not None:
        out["Meta sam3 ViT bf16 (+ same neck)"] = meta
    return out


def profile(encoder, x, top: int) -> None:
    profile_call(lambda: encode(encoder, x, "bf16"), "bf16 after (CPU blocks)", top)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sam3 = [v for v in VARIANTS if v.startswith("sam3")]
    parser.add_argument("--variant", default="sam3_hq", choices=sam3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-meta", action="store_true")
    parser.add_argument("--no-int8", action="store_true")
    parser.add_argument("--no-diff", action="store_true")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--top", type=int, default=14)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    int8 = not args.no_int8 and cpu_int8.available()
    encoder, x = family_encoder(args.variant)
    gemms = encoder_gemms(encoder, x.shape[-1])
    print(f"{args.variant} at {x.shape[-1]} px, torch {torch.__version__}, fused linear available:"
          f" {cpu_kernels.fused_linear_available()}, floor {flops(gemms) / 1e9:.0f} GFLOP",
          flush=True)
    meta = None if args.no_meta else meta_call(encoder, x, args.variant)
    torch.set_num_threads(max(args.threads))
    if not args.no_diff:
        differences(encoder, x, meta, int8)
    if not args.no_profile:
        profile(encoder, x, args.top)
    if args.rounds:
        floor = matmul_floor_call(gemms)
        for threads in args.threads:
            interleaved_rounds({**paths(encoder, x, meta, int8), FLOOR: floor}, FLOOR, threads,
                               args.rounds)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\npeak RSS {peak:.2f} GiB")


if __name__ == "__main__":
    main()
