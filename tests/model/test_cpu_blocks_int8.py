"""Opt-in int8 linear layers of the bf16 CPU blocks (model/cpu_int8.py): off by default (the
bf16 outputs unchanged to the bit), when on close to fp32 but not the bf16 outputs (int8 ran), the
weights quantized once and again after an update, and without the oneDNN ops the default path."""

import pytest
import torch
import torch.nn.functional as F

from samhq_train.model import cpu_int8
from samhq_train.model.sam1 import cpu_blocks
from samhq_train.model.sam1.image_encoder import ImageEncoderViT
from tests.reference import randomize_

SMALL = dict(embed_dim=64, depth=3, num_heads=2, window_size=4, global_attn_indexes=(1,))
needs_int8 = pytest.mark.skipif(not cpu_int8.available(), reason="no oneDNN int8 linear")


def encoder(img_size: int = 96) -> ImageEncoderViT:
    return randomize_(ImageEncoderViT(img_size=img_size, **SMALL), seed=1, scale=0.3).eval()


def image(size: int = 96) -> torch.Tensor:
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))


def bf16_outputs(model: ImageEncoderViT, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        return model(x)


def test_int8_is_off_by_default():
    model = encoder()
    assert model.int8 is False
    x = image()
    default = bf16_outputs(model, x)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        tokens = model.patch_embed(x) + model.pos_embed
        last, early = cpu_blocks.run_blocks(model.blocks, tokens, model.early_block_index)
        neck = model.neck(last.permute(0, 3, 1, 2))
    assert torch.equal(default[1], early) and torch.equal(default[0], neck)


@needs_int8
@pytest.mark.parametrize("img_size", [96, 128])
def test_int8_encoder_close_to_fp32_and_not_the_bf16_path(img_size):
    model, x = encoder(img_size), image(img_size)
    with torch.inference_mode():
        ref = model(x)
    bf16 = bf16_outputs(model, x)
    model.int8 = True
    int8 = bf16_outputs(model, x)
    for got, base, want in zip(int8, bf16, ref, strict=True):
        assert got.dtype == base.dtype and got.shape == base.shape
        assert not torch.equal(got, base)  # the int8 GEMMs ran
        error, base_error = ((t.float() - want).abs() for t in (got, base))
        # per-tensor uint8 activations of a tiny random model: measured ~3.3x bf16's mean error
        # (mean 3-4 %, max 4-11 % of the signal's, bf16: 1 %, 2 %)
        assert error.mean() < 0.08 * want.abs().mean()
        assert error.max() < 0.2 * want.abs().max()
        assert error.mean() < 6 * base_error.mean()
    model.int8 = False
    assert all(torch.equal(a, b) for a, b in zip(bf16_outputs(model, x), bf16, strict=True))


@needs_int8
@pytest.mark.parametrize("without_vnni", [True, False])
@pytest.mark.parametrize("gelu", [True, False])
def test_int8_linear_close_to_the_fp32_linear(monkeypatch, gelu, without_vnni):
    """Both ways: one GEMM with a bf16 output (VNNI), two of the weights' halves in fp32 (without
    VNNI, where one is oneDNN's reference kernel: that way is only checked on a VNNI CPU)."""
    if cpu_int8.without_vnni() and not without_vnni:
        pytest.skip("one int8 GEMM writing bf16 is oneDNN's slow reference kernel without VNNI")
    monkeypatch.setattr(cpu_int8, "without_vnni", lambda: without_vnni)
    gen = torch.Generator().manual_seed(0)
    layer = randomize_(torch.nn.Linear(96, 40), scale=0.5)
    x = torch.randn(37, 96, generator=gen).bfloat16()
    got = cpu_int8.linear(x, layer, gelu=gelu)
    want = F.linear(x.float(), layer.weight, layer.bias)
    want = F.gelu(want) if gelu else want
    assert got.dtype == torch.bfloat16 and got.shape == want.shape
    # weights within max|w| / 254 per channel, inputs within max|x| / 254, bf16 output rounding
    torch.testing.assert_close(
        got.float(), want.detach(), atol=0.05 * float(want.detach().abs().max()), rtol=0.02
    )


@needs_int8
def test_quantize_activation_rounds_to_nearest():
    x = torch.randn(50, 33, generator=torch.Generator().manual_seed(0)).bfloat16()
    q, scale = cpu_int8.quantize_activation(x)
    assert q.dtype == torch.uint8 and scale == pytest.approx(float(x.float().abs().max()) / 127)
    expected = torch.round(x.float() / scale).clamp(-127, 127) + cpu_int8.ZERO_POINT
    assert (q.float() - expected).abs().max() <= 1  # ties may go up
    assert ((q.float() - cpu_int8.ZERO_POINT) * scale - x.float()).abs().max() <= scale * 0.51


@needs_int8
def test_packed_weights_cached_and_refreshed_after_an_update():
    layer = randomize_(torch.nn.Linear(32, 16))
    x = torch.randn(8, 32, generator=torch.Generator().manual_seed(0)).bfloat16()
    first = cpu_int8.packed_weight(layer)
    assert cpu_int8.packed_weight(layer) is first
    before = cpu_int8.linear(x, layer)
    with torch.no_grad():
        layer.weight.mul_(-1)  # in place: the version changes
    assert cpu_int8.packed_weight(layer) is not first
    torch.testing.assert_close(
        cpu_int8.linear(x, layer).float(),
        -before.float() + 2 * (layer.bias.bfloat16().float()),
        atol=0.05,
        rtol=0.02,
    )


def test_without_the_onednn_ops_int8_falls_back_to_bf16(monkeypatch):
    model, x = encoder(), image()
    bf16 = bf16_outputs(model, x)
    monkeypatch.setattr(cpu_int8, "_ops", lambda: None)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    cpu_int8.available.cache_clear()
    try:
        assert not cpu_int8.available()
        model.int8 = True
        assert all(torch.equal(a, b) for a, b in zip(bf16_outputs(model, x), bf16, strict=True))
    finally:
        cpu_int8.available.cache_clear()


def test_the_availability_probe_leaves_the_global_rng_alone():
    cpu_int8.available.cache_clear()
    state = torch.get_rng_state()
    cpu_int8.available()
    assert torch.equal(torch.get_rng_state(), state)


@needs_int8
def test_weights_made_under_inference_mode_are_quantized_too():
    with torch.inference_mode():
        layer = randomize_(torch.nn.Linear(32, 16))
        x = torch.randn(8, 32, generator=torch.Generator().manual_seed(0)).bfloat16()
        got = cpu_int8.linear(x, layer)
        want = F.linear(x.float(), layer.weight, layer.bias)
    torch.testing.assert_close(got.float(), want, atol=0.05 * float(want.abs().max()), rtol=0.02)


def test_the_probe_answers_when_first_asked_under_autocast():
    cpu_int8.available.cache_clear()
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            first = cpu_int8.available()
    finally:
        cpu_int8.available.cache_clear()
    assert first == cpu_int8.available()
