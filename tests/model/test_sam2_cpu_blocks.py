"""bf16 CPU inference of SAM 2.1's Hiera blocks (model/sam2/cpu_blocks.py): run in fp32 they give
the plain fp32 blocks' stage maps (windows with and without padding, stage transitions with pooled
queries, a global block); in bf16 without oneDNN's fused linear layers they give the plain bf16
blocks' maps bit for bit, with them the error to fp32 stays at the plain (SDPA) bf16 level, which a
wrong attention scale or a wrong query / shortcut pooling breaks; int8 runs through them; only bf16
autocast inference of plain layers takes them, and their cached weights follow updates."""

import copy

import pytest
import torch

from samhq_train.model import build_sam_hq, cpu_int8, cpu_kernels
from samhq_train.model.sam2 import cpu_blocks, hiera
from tests.model.cpu_serving import assert_serving_rule
from tests.reference import randomize_

# the demo's Hiera (24 wide, stages 1-1-3-1, windows 8-4-14-7, one global block): at 256 px the
# last two stages pad their windows (16 -> 28, 8 -> 14), at 224 px none but the last stage (7)
VARIANT = "sam2.1_hq_hiera_demo"


def trunk(seed: int = 1) -> hiera.Hiera:
    encoder = build_sam_hq(VARIANT, seed=0).image_encoder.eval()
    return randomize_(encoder, seed=seed, scale=0.3).trunk


def image(size: int = 256, batch: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))


def bf16(model, x) -> list[torch.Tensor]:
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        return model(x)


def fp32(model, x) -> list[torch.Tensor]:
    with torch.inference_mode():
        return model(x)


def tokens(model: hiera.Hiera, x: torch.Tensor) -> torch.Tensor:
    x = model.patch_embed(x)
    return x + model._position_embedding(x.shape[1:3])


@pytest.mark.parametrize(("size", "batch"), [(256, 1), (224, 2)])
def test_blocks_in_fp32_equal_the_plain_blocks(size, batch):
    """The layout work (bf16-side partition, views back, pooling from qkv's output, in-place
    residual) changes no value (fp32 in both)."""
    model = trunk()
    with torch.no_grad():
        x = tokens(model, image(size, batch))
        expected, plain = [], x
        for i, block in enumerate(model.blocks):
            plain = block(plain)
            if i in model.stage_ends:
                expected.append(plain)
        ours = cpu_blocks.run_blocks(model.blocks, x.clone(), model.stage_ends, torch.float32)
    assert len(ours) == len(expected) == 4
    for got, want in zip(ours, expected, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5 * want.abs().max().item(), rtol=0)


def errors(got, want) -> tuple[float, float]:
    error = (got.float() - want).abs()
    return error.mean().item(), error.max().item()


def within_plain_error(got, plain, ref) -> bool:
    """The error of `got` to fp32 is that of the plain bf16 path (mean within 25 %, max within
    2x), for every stage map."""
    for g, p, r in zip(got, plain, ref, strict=True):
        (mean, peak), (base_mean, base_peak) = errors(g, r), errors(p, r)
        if not (mean < 1.25 * base_mean + 1e-6 and peak < 2 * base_peak + 1e-3):
            return False
    return True


def sdpa_bf16(model, x, monkeypatch) -> list[torch.Tensor]:
    """The plain bf16 path before the CPU kernels: plain blocks with SDPA."""
    with monkeypatch.context() as patch:
        patch.setattr(cpu_blocks, "ENABLED", False)
        patch.setattr(hiera, "CHUNKED_ATTENTION", False)
        return bf16(model, x)


def counted_runs(monkeypatch) -> list:
    """The int8 flag of every run_blocks call from here on."""
    calls = []
    run = cpu_blocks.run_blocks
    monkeypatch.setattr(cpu_blocks, "run_blocks", lambda *a: calls.append(a[-1]) or run(*a))
    return calls


@pytest.mark.parametrize("fused_linear", [True, False])
@pytest.mark.parametrize("size", [256, 224])
def test_bf16_as_close_to_fp32_as_the_plain_blocks(monkeypatch, size, fused_linear):
    model, x = trunk(), image(size)
    monkeypatch.setattr(cpu_blocks, "FUSED_LINEAR", fused_linear)
    calls = counted_runs(monkeypatch)
    ref = fp32(model, x)
    ours = bf16(model, x)
    assert calls == [False]
    monkeypatch.setattr(cpu_blocks, "ENABLED", False)
    plain = bf16(model, x)  # the plain blocks, their attention through cpu_kernels.attention
    assert calls == [False]
    for got, base in zip(ours, plain, strict=True):
        # the plain blocks' stream dtypes under autocast: fp32 in stage 1, bf16 after
        assert got.dtype == base.dtype and got.shape == base.shape
        if not fused_linear:  # the same bf16 operations on the same values, in another layout
            assert torch.equal(got, base)
    assert [m.dtype for m in ours] == [torch.float32] + [torch.bfloat16] * 3
    assert within_plain_error(ours, sdpa_bf16(model, x, monkeypatch), ref)


def scaled_attention(q, k, v, workspace=None):
    return ATTENTION(q * 1.15, k, v, workspace)


def subsampled(x, stride):
    """A pooling bug: every stride-th token instead of the max of each patch."""
    picked = x[:, :: stride[0], :: stride[1]]
    return picked[:, : x.shape[1] // stride[0], : x.shape[2] // stride[1]].contiguous()


def mean_pooled(x, stride):
    """A pooling bug: the mean of each patch instead of its max."""
    sh, sw = stride
    x = x[:, : x.shape[1] // sh * sh, : x.shape[2] // sw * sw]
    return x.unflatten(2, (-1, sw)).unflatten(1, (-1, sh)).float().mean(dim=(2, 4)).to(x.dtype)


ATTENTION = cpu_kernels.attention


@pytest.mark.parametrize(
    ("name", "mutant"),
    [("attention", scaled_attention), ("max_pool", subsampled), ("max_pool", mean_pooled)],
)
def test_the_error_bound_fails_for_a_wrong_scale_or_pooling(monkeypatch, name, mutant):
    """The bound above is not loose: scores 15 % too large, or queries and shortcuts pooled by
    picking a token or by the mean, break it."""
    model, x = trunk(), image()
    ref = fp32(model, x)
    baseline = sdpa_bf16(model, x, monkeypatch)
    assert within_plain_error(bf16(model, x), baseline, ref)
    target = cpu_kernels if name == "attention" else cpu_blocks
    monkeypatch.setattr(target, name, mutant)
    assert not within_plain_error(bf16(model, x), baseline, ref)


@pytest.mark.skipif(not cpu_int8.available(), reason="no oneDNN int8 linear")
def test_int8_runs_through_the_blocks_as_close_to_fp32_as_the_plain_layers(monkeypatch):
    """Every block linear layer (the transitions' proj too) runs as an int8 GEMM through the
    blocks, and the maps' error to fp32 stays that of the plain layers' int8 (which quantize the
    fp32 normed tokens of stage 1 where the blocks quantize them after their one cast to bf16)."""
    model, x = trunk(), image()
    ref = fp32(model, x)
    model.int8 = True
    linears = [m for m in model.blocks.modules() if isinstance(m, torch.nn.Linear)]
    calls = counted_runs(monkeypatch)
    ours = bf16(model, x)
    assert calls == [True] and all(layer in cpu_int8._packed for layer in linears)
    assert any(block.proj in linears for block in model.blocks)
    monkeypatch.setattr(cpu_blocks, "ENABLED", False)
    plain = bf16(model, x)
    assert calls == [True]
    assert within_plain_error(ours, plain, ref)


def test_serves_bf16_autocast_inference_of_plain_layers_only():
    model = trunk().requires_grad_(False)
    blocks, x = model.blocks, torch.randn(1, 64, 64, 24)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        handle = blocks[2].pool.register_forward_pre_hook(lambda *a: None)
        assert not cpu_blocks.serves(blocks, x)
        handle.remove()
        assert cpu_blocks.serves(blocks, x)
        blocks[2].pool.ceil_mode = True  # a pool max_pool does not compute
        assert not cpu_blocks.serves(blocks, x)
        blocks[2].pool.ceil_mode = False
    assert_serving_rule(cpu_blocks.serves, model, x, blocks[1].proj, blocks[3].mlp.layers, "0")


def test_training_tracing_and_fp32_keep_the_plain_blocks(monkeypatch):
    monkeypatch.setattr(cpu_blocks, "run_blocks", lambda *a: pytest.fail("CPU blocks"))
    model, x = trunk(), image(224)
    fp32(model, x)
    model.train().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(x)[-1].float().sum().backward()
    assert model.blocks[0].attn.qkv.weight.grad is not None
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False):
        torch.jit.trace(model, x, check_trace=False, strict=False)


@pytest.mark.skipif(not cpu_kernels.fused_linear_available(), reason="no oneDNN bf16 linear")
@pytest.mark.parametrize("int8", [False, True])
def test_cached_weights_are_remade_after_an_update(int8):
    """The layers' bf16 (int8) weights kept for the fused (int8) GEMMs: after an in-place update
    of the weights (an optimizer step, load_state_dict) the maps are those of a fresh copy."""
    if int8 and not cpu_int8.available():
        pytest.skip("no oneDNN int8 linear")
    model, x = trunk(), image(224)
    model.int8 = int8
    before = bf16(model, x)
    with torch.no_grad():
        for layer in model.blocks.modules():
            if isinstance(layer, torch.nn.Linear):
                layer.weight.mul_(1.5)
    after, fresh = bf16(model, x), bf16(copy.deepcopy(model), x)
    assert all(map(torch.equal, after, fresh))
    assert not any(map(torch.equal, after, before))
