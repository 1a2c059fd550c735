"""Opt-in int8 linear layers of SAM 3's ViT and SAM 2.1's Hiera (model/cpu_int8.py: `scope` and
`call`): off by default and outside CPU bf16 inference (outputs unchanged to the bit), when on every
block linear layer runs as an int8 GEMM (its packed weight cached) and the features stay within a
stated tolerance of fp32's, which a 10 % wrong activation scale breaks."""

import pytest
import torch
from torch import nn

from samhq_train.model import build_sam_hq, cpu_int8
from tests.reference import randomize_

needs_int8 = pytest.mark.skipif(not cpu_int8.available(), reason="no oneDNN int8 linear")
FAMILIES = {"sam3_hq_demo": 224, "sam2.1_hq_hiera_demo": 256}  # variant -> input side
# Error of the int8 features to fp32's, relative to the fp32 features' mean / max |value| (random
# miniatures, weights drawn at scale 0.3): measured mean 0.014-0.097, max 0.019-0.18 over the
# three maps of both families (bf16: mean <= 0.027, max <= 0.049); a 10 % wrong activation scale:
# mean 0.16-0.49
MEAN_TOLERANCE, MAX_TOLERANCE = 0.12, 0.25


def model_and_image(variant: str) -> tuple[nn.Module, torch.Tensor]:
    model = build_sam_hq(variant, seed=0).eval()
    randomize_(model.image_encoder, seed=1, scale=0.3)
    size = FAMILIES[variant]
    return model, torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1)) * 255


def features(model: nn.Module, x: torch.Tensor, bf16: bool = True) -> list[torch.Tensor]:
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = model.encode(x)
    return [out.embedding, out.high_res_0, out.high_res_1]


def int8_features(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    model.image_encoder.int8 = True
    try:
        return features(model, x)
    finally:
        model.image_encoder.int8 = False


def block_linears(model: nn.Module) -> list[nn.Linear]:
    blocks = model.image_encoder.trunk.blocks
    return [m for m in blocks.modules() if isinstance(m, nn.Linear)]


def within_tolerance(got: list[torch.Tensor], want: list[torch.Tensor]) -> bool:
    for g, w in zip(got, want, strict=True):
        error = (g.float() - w).abs()
        if error.mean() >= MEAN_TOLERANCE * w.abs().mean():
            return False
        if error.max() >= MAX_TOLERANCE * w.abs().max():
            return False
    return True


@pytest.mark.parametrize("variant", FAMILIES)
def test_int8_is_off_by_default_and_packs_nothing(variant):
    model, x = model_and_image(variant)
    assert model.image_encoder.int8 is False and cpu_int8.int8_encoder(model) is not None
    features(model, x)
    assert not any(layer in cpu_int8._packed for layer in block_linears(model))


@pytest.mark.parametrize("variant", FAMILIES)
def test_int8_switch_leaves_fp32_and_training_untouched(variant):
    model, x = model_and_image(variant)
    fp32 = features(model, x, bf16=False)
    model.image_encoder.int8 = True
    assert all(map(torch.equal, features(model, x, bf16=False), fp32))  # fp32: no int8
    model.train().image_encoder.requires_grad_(True)  # (the default policy freezes it)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autograd on: the plain layers
        trained = model.encode(x).embedding
    trained.float().sum().backward()
    assert model.image_encoder.trunk.blocks[0].attn.qkv.weight.grad is not None
    assert not any(layer in cpu_int8._packed for layer in block_linears(model))


@needs_int8
@pytest.mark.parametrize("variant", FAMILIES)
def test_int8_features_close_to_fp32_and_every_block_linear_ran_int8(variant):
    model, x = model_and_image(variant)
    fp32, bf16 = features(model, x, bf16=False), features(model, x)
    int8 = int8_features(model, x)
    assert all(layer in cpu_int8._packed for layer in block_linears(model))
    for got, base in zip(int8, bf16, strict=True):
        assert got.shape == base.shape and got.dtype == base.dtype
        assert not torch.equal(got, base)
    assert within_tolerance(bf16, fp32) and within_tolerance(int8, fp32)
    assert all(map(torch.equal, features(model, x), bf16))  # switched off: bf16 to the bit


@needs_int8
@pytest.mark.parametrize("variant", FAMILIES)
def test_a_wrong_activation_scale_fails_the_tolerance(variant, monkeypatch):
    model, x = model_and_image(variant)
    fp32 = features(model, x, bf16=False)
    quantize = cpu_int8.quantize_activation

    def wrong_scale(x, workspace=None):
        quantized, scale = quantize(x, workspace)
        return quantized, scale * 1.1

    monkeypatch.setattr(cpu_int8, "quantize_activation", wrong_scale)
    assert not within_tolerance(int8_features(model, x), fp32)


@needs_int8
def test_call_runs_plain_linears_only_inside_a_scope():
    class Lora(nn.Linear):  # a subclass (LoRA's kind): its own forward is kept
        pass

    plain, lora = randomize_(nn.Linear(16, 8)), randomize_(Lora(16, 8))
    x = torch.randn(2, 3, 16, generator=torch.Generator().manual_seed(0)).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outside = cpu_int8.call(plain, x, nn.GELU())
        with cpu_int8.scope(True):
            inside, kept = cpu_int8.call(plain, x, nn.GELU()), cpu_int8.call(lora, x)
        with cpu_int8.scope(False):
            disabled = cpu_int8.call(plain, x, nn.GELU())
        assert torch.equal(outside, nn.GELU()(plain(x))) and torch.equal(disabled, outside)
        assert torch.equal(kept, lora(x)) and lora not in cpu_int8._packed
    assert plain in cpu_int8._packed and inside.shape == outside.shape == (2, 3, 8)
    torch.testing.assert_close(inside.float(), outside.float(), atol=0.05, rtol=0.05)
