"""bf16 CPU inference blocks of the SAM ViT (model/sam1/cpu_blocks.py): the window partition with
the qkv bias on padded tokens and its inverse equal the plain layout exactly, the blocks run in fp32
give the plain fp32 blocks' outputs, in bf16 they stay as close to fp32 as the plain bf16 blocks,
oneDNN's fused linear + GELU agrees with linear then GELU (skipped where the build lacks it, with
the fallback checked), and only bf16 autocast inference without autograd takes them."""

import pytest
import torch
import torch.nn.functional as F

from samhq_train.model.sam1 import cpu_attention, cpu_blocks
from samhq_train.model.sam1.image_encoder import (
    ImageEncoderViT,
    decomposed_rel_pos,
    window_partition,
)
from tests.model.cpu_serving import assert_serving_rule
from tests.reference import randomize_
from tests.spies import count_calls

# img_size 96: a 6 x 6 grid padded to 8 x 8 for windows of 4; 128: 8 x 8, no padding
SMALL = dict(embed_dim=32, depth=3, num_heads=2, window_size=4, global_attn_indexes=(1,))


def encoder(img_size: int, seed: int = 0) -> ImageEncoderViT:
    model = randomize_(ImageEncoderViT(img_size=img_size, **SMALL), seed=seed, scale=0.3)
    return model.eval()


def image(size: int, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize(("h", "w", "window"), [(6, 6, 4), (8, 8, 4), (5, 7, 3), (2, 3, 4)])
def test_partition_and_unpartition_equal_the_plain_layout(h, w, window):
    x = torch.randn(2, h, w, 5, generator=torch.Generator().manual_seed(0))
    pad_value = torch.arange(5.0) + 100
    expected, _ = window_partition(x, window)  # padded with zeros
    padded, _ = window_partition(torch.ones(2, h, w, 1), window)
    expected = torch.where(padded == 0, pad_value, expected)
    ours = cpu_blocks.partition(x, window, pad_value)
    assert torch.equal(ours.reshape(expected.shape), expected)
    back = cpu_blocks.unpartition(ours.view(-1, window * window, 5), window, (2, h, w))
    assert torch.equal(back, x.reshape(-1, 5))


def run_plain_blocks(model: ImageEncoderViT, x: torch.Tensor) -> list[torch.Tensor]:
    early = x
    for i, block in enumerate(model.blocks):
        x = block(x)
        early = x if i == model.early_block_index else early
    return [x, early]


@pytest.mark.parametrize("contiguous_from", [0, 1 << 30])
@pytest.mark.parametrize("img_size", [96, 128])
def test_blocks_in_fp32_equal_the_plain_blocks(monkeypatch, img_size, contiguous_from):
    """The layout work (qkv on the real tokens, padded tokens given the qkv bias, proj on the real
    tokens, head-contiguous q k v or views, in-place residual) changes no value (fp32 in both)."""
    monkeypatch.setattr(cpu_blocks, "CONTIGUOUS_HEADS_FROM", contiguous_from)
    model = encoder(img_size)
    with torch.no_grad():
        tokens = model.patch_embed(image(img_size)) + model.pos_embed
        expected = run_plain_blocks(model, tokens)
        ours = cpu_blocks.run_blocks(model.blocks, tokens.clone(), model.early_block_index,
                                     dtype=torch.float32)
    for got, want in zip(ours, expected, strict=True):
        torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("fused_linear", [True, False])
@pytest.mark.parametrize("img_size", [96, 128])
def test_encoder_bf16_as_close_to_fp32_as_the_plain_blocks(monkeypatch, img_size, fused_linear):
    """Through oneDNN's fused linear layers (bias and GELU applied before the bf16 rounding) the
    error to fp32 stays that of the plain bf16 blocks; without them the outputs are identical."""
    model, x = encoder(img_size, seed=1), image(img_size)
    monkeypatch.setattr(cpu_blocks, "FUSED_LINEAR", fused_linear)
    calls = count_calls(monkeypatch, cpu_blocks, "run_blocks")
    with torch.inference_mode():
        ref = model(x)

    def bf16_outputs(enabled: bool) -> tuple[torch.Tensor, ...]:
        monkeypatch.setattr(cpu_blocks, "ENABLED", enabled)
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            return model(x)

    ours, plain = bf16_outputs(True), bf16_outputs(False)
    assert calls == [1]
    for got, base, want in zip(ours, plain, ref, strict=True):
        assert got.dtype == base.dtype and got.shape == base.shape
        error, base_error = ((t.float() - want).abs() for t in (got, base))
        assert error.mean() < 1.25 * base_error.mean() + 1e-6
        assert error.max() < 2 * base_error.max() + 1e-3
        if not fused_linear:  # the same bf16 operations on the same values, in another layout:
            # bit for bit on AVX-512 CPUs; on an AVX2-only one the bf16 matmuls round a few
            # sums otherwise by layout (19 of 32,768 values, one bf16 step of the larger)
            assert (got != base).float().mean() < 1e-3


@pytest.mark.skipif(not cpu_blocks.fused_linear_available(), reason="no oneDNN bf16 linear+GELU")
@pytest.mark.parametrize("gelu", [True, False])
def test_fused_linear_matches_linear_then_gelu(gelu):
    gen = torch.Generator().manual_seed(0)
    layer = torch.nn.Linear(48, 40)
    randomize_(layer, scale=0.5)
    x = torch.randn(37, 48, generator=gen).bfloat16()
    got = cpu_blocks.linear(x, layer, gelu=gelu)
    w, b = layer.weight.bfloat16().float(), layer.bias.bfloat16().float()
    want = F.linear(x.float(), w, b)
    want = F.gelu(want) if gelu else want
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want, atol=0.02, rtol=0.01)  # bf16 output rounding


def test_linear_falls_back_without_the_fused_op(monkeypatch):
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    cpu_blocks.fused_linear_available.cache_clear()
    try:
        assert not cpu_blocks.fused_linear_available()
        layer = randomize_(torch.nn.Linear(16, 8))
        x = torch.randn(5, 16, generator=torch.Generator().manual_seed(0)).bfloat16()
        expected = F.gelu(F.linear(x, layer.weight.bfloat16(), layer.bias.bfloat16()))
        assert torch.equal(cpu_blocks.linear(x, layer, gelu=True), expected)
    finally:
        cpu_blocks.fused_linear_available.cache_clear()


def test_serves_bf16_autocast_inference_of_plain_layers_only():
    model, x = encoder(96), torch.randn(1, 6, 6, 32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        model.attention_kernel = "flex"
        assert not cpu_blocks.serves(model.blocks, x)
        model.attention_kernel = "auto"
    block = model.blocks[1]
    assert_serving_rule(cpu_blocks.serves, model, x, block.attn.proj, model.blocks[2].mlp, "lin1")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_one_hot_queries_equal_the_concatenated_ones(dtype):
    """Both rel-pos terms from one product with the reversed tables, read back as strided views."""
    gen = torch.Generator().manual_seed(0)
    b, heads, window, c = 3, 2, 5, 16
    qkv = torch.randn(b, window * window, 3, heads, c, generator=gen).to(dtype)
    q = qkv.permute(2, 0, 3, 1, 4)[0]  # a strided view, as in the blocks
    rel_pos_h, rel_pos_w = (torch.randn(2 * window - 1, c, generator=gen) for _ in range(2))
    rel_h, rel_w = decomposed_rel_pos(q, rel_pos_h, rel_pos_w, (window, window))
    expected = torch.cat([q * c**-0.5, rel_h.flatten(2, 3), rel_w.flatten(2, 3)], dim=-1)
    ours = cpu_blocks.one_hot_queries(q, rel_pos_h, rel_pos_w)
    rtol = 1e-5 if dtype == torch.float32 else 0.01  # bf16: the products' accumulation order
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=rtol)


def test_workspace_reuses_a_buffer_by_name():
    workspace = cpu_attention.Workspace()
    first = workspace.empty("a", (4, 6), torch.bfloat16)
    again = workspace.empty("a", (3, 5), torch.bfloat16)  # smaller: the same memory
    assert again.data_ptr() == first.data_ptr() and again.shape == (3, 5)
    assert workspace.empty("b", (4, 6), torch.bfloat16).data_ptr() != first.data_ptr()
    assert workspace.empty("a", (5, 6), torch.bfloat16).numel() == 30  # larger: a new buffer
    assert workspace.empty("a", (2, 2), torch.float32).dtype == torch.float32
