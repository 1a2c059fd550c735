"""The fp32 CPU training step's speed-up (model/common.py early_to_nchw, SAM 1 and SAM 3): the HQ
fusion's first transposed convolution gets a contiguous NCHW copy of the early feature where its
fp32 weight gradient is computed on the CPU, and the permuted view everywhere else; the step's
logits and loss stay bitwise the same and its gradients the same within fp32 rounding."""

import pytest
import torch
from torch import nn

import samhq_train.model.sam1.mask_decoder as sam1_decoder
from samhq_train.model import build_sam_hq
from samhq_train.model.common import early_to_nchw
from tests.training.cached_step import cached_batch, cached_step


def permuted_view(early: torch.Tensor, conv: nn.Module) -> torch.Tensor:
    return early.permute(0, 3, 1, 2)  # what the decoder read before


def test_contiguous_copy_only_for_an_fp32_cpu_weight_gradient():
    conv = nn.ConvTranspose2d(8, 4, 2, 2)
    early = torch.randn(1, 5, 6, 8)
    assert early_to_nchw(early, conv).is_contiguous()
    with torch.no_grad():
        assert not early_to_nchw(early, conv).is_contiguous()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not early_to_nchw(early, conv).is_contiguous()
    conv.requires_grad_(False)
    assert not early_to_nchw(early, conv).is_contiguous()
    for dtype in (torch.float64, torch.bfloat16):  # only fp32 weights' gradients are slow
        other = nn.ConvTranspose2d(8, 4, 2, 2).to(dtype)
        assert not early_to_nchw(early.to(dtype), other).is_contiguous()
    conv.requires_grad_(True)
    with torch.device("meta"):  # another device (no GPU here): its kernels are not oneDNN's
        meta_conv = nn.ConvTranspose2d(8, 4, 2, 2)
        assert not early_to_nchw(torch.empty(1, 5, 6, 8), meta_conv).is_contiguous()
    traced = []  # a traced graph (the ONNX export) keeps the view

    def record(x):
        traced.append(early_to_nchw(x, conv).is_contiguous())
        return x * 1

    torch.jit.trace(record, early, check_trace=False)
    assert traced == [False]
    for fn in (early_to_nchw, permuted_view):
        assert torch.equal(fn(early, conv), early.permute(0, 3, 1, 2))


def assert_same_within_fp32_rounding(before, after) -> None:
    """(output, parameter gradients) of the permuted view's run and of early_to_nchw's."""
    (out_before, grads_before), (out_after, grads_after) = before, after
    torch.testing.assert_close(out_after, out_before, rtol=1e-5, atol=1e-6)
    for old, new in zip(grads_before, grads_after, strict=True):
        torch.testing.assert_close(new, old, rtol=1e-5, atol=1e-6 * old.abs().max().item())


def test_vit_b_width_fusion_gradients_within_fp32_rounding():
    """vit_b's compress_vit_feat widths (768 -> 256 -> 32), where oneDNN's kernels differ."""
    torch.manual_seed(0)
    fusion = nn.Sequential(nn.ConvTranspose2d(768, 256, 2, 2), nn.GELU(),
                           nn.ConvTranspose2d(256, 32, 2, 2))
    early = torch.randn(2, 16, 16, 768)
    results = []
    for fn in (permuted_view, early_to_nchw):
        fusion.zero_grad(set_to_none=True)
        out = fusion(fn(early, fusion[0]))
        out.square().mean().backward()
        results.append((out.detach(), [p.grad.clone() for p in fusion.parameters()]))
    assert_same_within_fp32_rounding(*results)


@pytest.mark.parametrize("variant", ["vit_demo", "vit_demo_base"])
def test_hq_step_same_loss_and_gradients(monkeypatch, variant):
    model = build_sam_hq(variant, seed=0)
    features, boxes, target = cached_batch(model)
    results = []
    for fn in (permuted_view, early_to_nchw):
        monkeypatch.setattr(sam1_decoder, "early_to_nchw", fn)
        results.append(cached_step(model, features, boxes, target))
    (logits0, loss0, grads0), (logits1, loss1, grads1) = results
    assert torch.equal(logits1, logits0) and torch.equal(loss1, loss0)
    assert grads1.keys() == grads0.keys() and any("compress_vit_feat" in n for n in grads0)
    for name, old in grads0.items():
        torch.testing.assert_close(grads1[name], old, rtol=1e-5, atol=1e-6 * old.abs().max().item())


def test_sam3_fusion_reads_the_early_feature_the_same_way(monkeypatch):
    """HQ-SAM 3's fusion (MaskDecoderHQFusion.hq_features) takes the same copy: same output,
    gradients within fp32 rounding."""
    from samhq_train.model.sam3 import mask_decoder as sam3_decoder

    torch.manual_seed(0)
    fusion = nn.Module()
    fusion.compress_vit_feat = sam3_decoder._upscale4(96, 32, 4)
    fusion.embedding_encoder = sam3_decoder._upscale4(32, 8, 4)
    embedding, early = torch.randn(2, 32, 6, 6), torch.randn(2, 6, 6, 96)
    results = []
    for fn in (permuted_view, early_to_nchw):
        monkeypatch.setattr(sam3_decoder, "early_to_nchw", fn)
        fusion.zero_grad(set_to_none=True)
        out = sam3_decoder.MaskDecoderHQFusion.hq_features(fusion, embedding, early)
        out.square().mean().backward()
        results.append((out.detach(), [p.grad.clone() for p in fusion.parameters()]))
    assert_same_within_fp32_rounding(*results)
