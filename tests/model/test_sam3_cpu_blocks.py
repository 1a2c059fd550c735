"""bf16 CPU inference of SAM 3's ViT (model/sam3/cpu_blocks.py): the RoPE attention equals
rope + SDPA, the blocks run in fp32 give the plain fp32 blocks' outputs (windows with and without
padding), in bf16 without oneDNN's fused linear layers they give the plain bf16 blocks' outputs bit
for bit, with them the error to fp32 stays at the plain (SDPA) bf16 level, which a wrong attention
scale breaks; int8 runs through them unchanged; only bf16 autocast inference of plain layers takes
them."""

import pytest
import torch
import torch.nn.functional as F

from samhq_train.model import build_sam_hq, cpu_int8, cpu_kernels
from samhq_train.model.sam3 import cpu_blocks
from samhq_train.model.sam3.vit import ViT, apply_rope, rope_angles
from tests.model.cpu_serving import assert_serving_rule
from tests.reference import randomize_
from tests.spies import count_calls

# grid 16 (windows of 8: none padded) and 14 (padded to 16)
SMALL = dict(
    patch_size=14, embed_dim=64, depth=4, num_heads=2, mlp_dim=128, window_size=8,
    global_att_blocks=(1, 3), pretrain_img_size=112,
)


def vit(img_size: int = 224, seed: int = 0) -> ViT:
    return randomize_(ViT(img_size=img_size, **SMALL), seed=seed, scale=0.3).eval()


def image(size: int, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))


def bf16(model, x, early_block=None):
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        return model(x, early_block)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(("length", "side"), [(64, 8), (256, 16)])
def test_rope_attention_equals_rope_then_sdpa(dtype, length, side):
    gen = torch.Generator().manual_seed(0)
    qkv = torch.randn(3, length, 3, 2, 32, generator=gen).to(dtype)
    angles = rope_angles(32, side, theta=10000.0, scale=0.5)
    cos, sin = angles.cos(), angles.sin()
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
    expected = F.scaled_dot_product_attention(
        apply_rope(q.float(), cos, sin), apply_rope(k.float(), cos, sin), v.float()
    ).transpose(1, 2)
    got = cpu_blocks.rope_attention(qkv, cos, sin)
    assert got.dtype == dtype and got.shape == expected.shape
    tol = dict(atol=2e-5, rtol=1e-5) if dtype == torch.float32 else dict(atol=0.03, rtol=0.02)
    torch.testing.assert_close(got.float(), expected, **tol)


def plain_blocks(model: ViT, x: torch.Tensor, early_index: int) -> list[torch.Tensor]:
    early = x
    for i, block in enumerate(model.blocks):
        x = block(x)
        early = x if i == early_index else early
    return [x, early]


@pytest.mark.parametrize("img_size", [224, 196])
def test_blocks_in_fp32_equal_the_plain_blocks(img_size):
    """The layout work (bf16-side partition, views back, in-place residual, RoPE as a complex
    product, chunked attention) changes no value (fp32 in both)."""
    model = vit(img_size)
    with torch.no_grad():
        tokens = model.ln_pre(model.patch_embed(image(img_size)) + model._position_embedding(
            img_size // 14, img_size // 14))
        expected = plain_blocks(model, tokens, 1)
        ours = cpu_blocks.run_blocks(model.blocks, tokens.clone(), 1, dtype=torch.float32)
    for got, want in zip(ours, expected, strict=True):  # fp32 rounding of values up to ~70
        torch.testing.assert_close(got, want, atol=1e-5 * want.abs().max().item(), rtol=0)


def errors(got, want) -> tuple[float, float]:
    error = (got.float() - want).abs()
    return error.mean().item(), error.max().item()


def within_plain_error(got, plain, ref) -> bool:
    """The error of `got` to fp32 is that of the plain bf16 path (mean within 25 %, max within
    2x), for every output."""
    for g, p, r in zip(got, plain, ref, strict=True):
        (mean, peak), (base_mean, base_peak) = errors(g, r), errors(p, r)
        if not (mean < 1.25 * base_mean + 1e-6 and peak < 2 * base_peak + 1e-3):
            return False
    return True


def sdpa_bf16(model, x, monkeypatch):
    """The plain bf16 path before the CPU kernels: plain blocks, RoPE and SDPA."""
    with monkeypatch.context() as patch:
        patch.setattr(cpu_blocks, "ENABLED", False)
        patch.setattr(cpu_blocks, "CHUNKED_ATTENTION", False)
        return bf16(model, x, 1)


@pytest.mark.parametrize("fused_linear", [True, False])
@pytest.mark.parametrize("img_size", [224, 196])
def test_vit_bf16_as_close_to_fp32_as_the_plain_blocks(monkeypatch, img_size, fused_linear):
    model, x = vit(img_size, seed=1), image(img_size)
    monkeypatch.setattr(cpu_blocks, "FUSED_LINEAR", fused_linear)
    calls = count_calls(monkeypatch, cpu_blocks, "run_blocks")
    with torch.inference_mode():
        ref = model(x, 1)
    ours = bf16(model, x, 1)
    assert calls == [1]
    monkeypatch.setattr(cpu_blocks, "ENABLED", False)
    plain = bf16(model, x, 1)  # the plain blocks, their attention through rope_attention
    assert calls == [1]
    for got, base in zip(ours, plain, strict=True):
        assert got.dtype == base.dtype == torch.float32 and got.shape == base.shape
        if not fused_linear:  # the same bf16 operations on the same values, in another layout
            assert torch.equal(got, base)
    assert within_plain_error(ours, sdpa_bf16(model, x, monkeypatch), ref)
    assert within_plain_error(plain, sdpa_bf16(model, x, monkeypatch), ref)


def test_the_error_bound_fails_for_a_wrong_attention_scale(monkeypatch):
    """The bound above is not loose: q rotated with a 15 % larger scale breaks it."""
    model, x = vit(224, seed=1), image(224)
    with torch.inference_mode():
        ref = model(x, 1)
    baseline = sdpa_bf16(model, x, monkeypatch)
    rotate = cpu_blocks.rotate

    def rotate_wrong(x, angles, name, workspace):
        return rotate(x, angles * (1.15 if name == "q" else 1.0), name, workspace)

    monkeypatch.setattr(cpu_blocks, "rotate", rotate_wrong)
    assert not within_plain_error(bf16(model, x, 1), baseline, ref)


@pytest.mark.skipif(not cpu_int8.available(), reason="no oneDNN int8 linear")
def test_int8_runs_through_the_blocks_as_close_to_fp32_as_the_plain_layers(monkeypatch):
    """Every block linear layer runs as an int8 GEMM through the blocks too, and the features'
    error to fp32 stays that of the plain layers' int8 (which quantize the fp32 normed tokens
    where the blocks quantize them after their one cast to bf16)."""
    model = build_sam_hq("sam3_hq_demo", seed=0).eval()
    encoder = randomize_(model.image_encoder, seed=1, scale=0.3)
    x = image(224, batch=1)
    with torch.inference_mode():
        ref = encoder(x)
    encoder.int8 = True
    linears = [m for m in encoder.trunk.blocks.modules() if isinstance(m, torch.nn.Linear)]
    calls = []
    run = cpu_blocks.run_blocks
    monkeypatch.setattr(cpu_blocks, "run_blocks", lambda *a: calls.append(a[-1]) or run(*a))
    ours = bf16(encoder, x)
    assert calls == [True] and all(layer in cpu_int8._packed for layer in linears)
    monkeypatch.setattr(cpu_blocks, "ENABLED", False)
    plain = bf16(encoder, x)
    assert calls == [True]
    assert within_plain_error(ours, plain, ref)


def test_serves_bf16_autocast_inference_of_plain_layers_only():
    model, x = vit(224), torch.randn(1, 16, 16, 64)
    block = model.blocks[1]
    assert_serving_rule(cpu_blocks.serves, model, x, block.attn.proj, model.blocks[2].mlp, "fc1")


def test_attention_keeps_sdpa_with_autograd_and_in_fp32(monkeypatch):
    """Training and fp32 inference never reach the chunked kernels (fp32 parity stays SDPA's)."""
    monkeypatch.setattr(cpu_blocks, "rope_attention", lambda *a: pytest.fail("chunked kernel"))
    model = vit(224)
    with torch.no_grad():
        model(image(224, batch=1))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(image(224, batch=1)).float().sum().backward()
    assert model.blocks[0].attn.qkv.weight.grad is not None


@pytest.mark.skipif(not cpu_kernels.fused_linear_available(), reason="no oneDNN bf16 linear")
def test_packed_weights_give_the_cast_weights_outputs_and_follow_updates(monkeypatch):
    """The fused linear layers' bf16 weights in oneDNN's layout, kept per layer: the same values
    as casting on every call, re-made after an in-place update of the weight."""
    layer = randomize_(torch.nn.Linear(48, 40), scale=0.5)
    x = torch.randn(37, 48, generator=torch.Generator().manual_seed(0)).bfloat16()

    def both() -> tuple[torch.Tensor, torch.Tensor]:
        monkeypatch.setattr(cpu_kernels, "PACKED_WEIGHTS", True)
        packed = cpu_kernels.linear(x, layer, gelu=True)
        monkeypatch.setattr(cpu_kernels, "PACKED_WEIGHTS", False)
        return packed, cpu_kernels.linear(x, layer, gelu=True)

    packed, cast = both()
    assert layer in cpu_kernels._packed and torch.equal(packed, cast)
    with torch.no_grad():
        layer.weight.mul_(2)
    new_packed, new_cast = both()
    assert torch.equal(new_packed, new_cast) and not torch.equal(new_packed, packed)
