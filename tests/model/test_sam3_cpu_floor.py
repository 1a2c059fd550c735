"""The matmul floor of SAM 3's ViT (scripts/benchmark_cpu.py encoder_gemms, a module with a trunk):
its GEMM list holds the trunk's and the neck's linear and convolution FLOPs as torch counts them,
and q k^T, p v of every block with the windows' or the whole grid's shapes."""


import torch
from torch.utils.flop_counter import FlopCounterMode

from samhq_train.model import VARIANTS, build_sam_hq
from tests.script_modules import load_script


def test_sam3_floor_gemms_count_the_encoders_matrix_flops():
    bench = load_script("matmul_floor")
    encoder = build_sam_hq("sam3_hq_demo", seed=0).image_encoder.eval()
    size = VARIANTS["sam3_hq_demo"].image_size
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        encoder(torch.randn(1, 3, size, size))
    counts = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    gemms = bench.encoder_gemms(encoder, size)
    dense = [g for g in gemms if g[0] == 1]
    assert bench.flops(dense) == counts["aten.addmm"] + counts["aten.convolution"]
    trunk = encoder.trunk
    grid, heads = size // 14, trunk.blocks[0].attn.num_heads
    head_dim = trunk.pos_embed.shape[-1] // heads
    attention = [g for g in gemms if g[0] > 1 or g[1] == g[3] == grid * grid]
    assert len(attention) == 2 * len(trunk.blocks)
    for block, (qk, pv) in zip(trunk.blocks, zip(attention[::2], attention[1::2]), strict=True):
        windows = (grid // block.window) ** 2 if block.window else 1
        length = block.window**2 if block.window else grid * grid
        assert qk == (windows * heads, length, head_dim, length)
        assert pv == (windows * heads, length, length, head_dim)
