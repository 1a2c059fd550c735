"""scripts/benchmark_cpu.py (`scripts/benchmark.py --cpu-table`): the matmul floor's GEMM list
(scripts/matmul_floor.py)
holds the encoder's linear and convolution FLOPs as torch counts them, and the table runs end to
end at a tiny size."""

import torch
from torch.utils.flop_counter import FlopCounterMode

from samhq_train.model import build_sam_hq
from tests.script_modules import load_script, run_script_here


def test_floor_gemms_count_the_encoders_matrix_flops():
    bench = load_script("matmul_floor")
    encoder = build_sam_hq("vit_demo", seed=0).image_encoder.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        encoder(torch.randn(1, 3, 256, 256))
    counts = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    gemms = bench.encoder_gemms(encoder)
    # linear layers and convolutions exactly (the CPU attention kernel and the small rel-pos
    # products, left out of the list, are not what torch's counter sees as these ops)
    dense = [g for g in gemms if g[0] == 1]
    assert bench.flops(dense) == counts["aten.addmm"] + counts["aten.convolution"]
    heads = encoder.blocks[0].attn.num_heads
    assert len(gemms) - len(dense) == 2 * len(encoder.blocks)  # q k^T and p v of every block
    assert all(g[0] % heads == 0 for g in gemms if g[0] > 1)


def test_cpu_table_runs(capsys, monkeypatch):
    out = run_script_here("benchmark", "--cpu-table", "--variant", "vit_demo", "--reps", "1",
                          "--points-per-side", "2", "--threads", "1", capsys=capsys,
                          monkeypatch=monkeypatch)
    for row in ("samhq_train encoder, bf16 eager", "matmul floor", "samhq_train decoder",
                "samhq_train encoder, onnxruntime int8",
                "samhq_train AMG", "transformers SamVisionEncoder", "official segment_anything_hq"):
        assert f"| {row}" in out
