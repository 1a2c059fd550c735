"""The matmul floor of SAM 2.1's Hiera encoder (scripts/benchmark_cpu.py encoder_gemms ->
hiera_gemms): its GEMM list holds the trunk's and the neck's linear and convolution FLOPs and the
attention's q k^T and p v FLOPs as torch counts them on the plain bf16 blocks (whose attention
runs as batched products), with the windows' (padded, pooled queries) or the whole map's shapes."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from samhq_train.compat import _release
from samhq_train.model import build_sam_hq
from samhq_train.model.sam2 import cpu_blocks
from tests.script_modules import load_script

VARIANT = "sam2.1_hq_hiera_demo"  # windows 8-4-14-7 at 256 px: the last two stages padded


# torch 2.3's FlopCounterMode counts nothing in inference mode and fails on bmm(out=) under no_grad
@pytest.mark.skipif(_release(torch.__version__) < (2, 4), reason="torch 2.3's FlopCounterMode")
@pytest.mark.parametrize("size", [256, 224])
def test_hiera_floor_gemms_count_the_encoders_matrix_flops(monkeypatch, size):
    bench = load_script("matmul_floor")
    encoder = build_sam_hq(VARIANT, seed=0).image_encoder.eval()
    monkeypatch.setattr(cpu_blocks, "ENABLED", False)  # its fused GEMMs are not counted
    bf16 = torch.autocast("cpu", dtype=torch.bfloat16)
    with torch.inference_mode(), bf16, FlopCounterMode(display=False) as counter:
        encoder(torch.randn(1, 3, size, size))
    counts = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    gemms = bench.encoder_gemms(encoder, size)
    dense = [g for g in gemms if g[0] == 1]
    attention = [g for g in gemms if g[0] > 1]
    assert bench.flops(dense) == counts["aten.addmm"] + counts["aten.convolution"]
    assert bench.flops(attention) == counts["aten.bmm"]
    trunk = encoder.trunk
    assert len(attention) == 2 * len(trunk.blocks)  # (every block: several windows or heads)
    assert dense[0] == (1, (size // 4) ** 2, 3 * 7 * 7, trunk.patch_embed.proj.out_channels)
