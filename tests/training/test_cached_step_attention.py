"""The bf16 CPU training step's decoder attention (model/two_way_transformer.py,
token_attention_in_fp32): where a backward follows, the token <-> image attentions run SDPA in fp32
and round the result to bf16, instead of the bf16 flash kernel (2.5-3x slower backward on these
shapes); inference, fp32 and other devices keep the kernel they had. Checked against an fp64
reference: the new path is within bf16 rounding of it (no worse than the old one), gradients too."""

import pytest
import torch
import torch.nn.functional as F

import samhq_train.model.two_way_transformer as twt
from samhq_train.model import build_sam_hq
from tests.training.cached_step import cached_batch, cached_step

BF16 = torch.bfloat16


def heads(nq: int, nk: int, dtype=BF16, grad: bool = True):
    gen = torch.Generator().manual_seed(0)
    shapes = [(1, 8, n, 16) for n in (nq, nk, nk)]
    return [torch.randn(s, generator=gen).to(dtype).requires_grad_(grad) for s in shapes]


def test_fp32_only_for_a_bf16_cpu_attention_with_a_backward_and_few_tokens():
    assert twt.token_attention_in_fp32(*heads(8, 4096))
    assert twt.token_attention_in_fp32(*heads(4096, 8))
    q, k, v = heads(8, 4096, grad=False)
    assert twt.token_attention_in_fp32(q, k, v.requires_grad_())  # any input needing a gradient
    assert not twt.token_attention_in_fp32(*heads(8, 4096, grad=False))  # nothing to backward
    with torch.no_grad():
        assert not twt.token_attention_in_fp32(*heads(8, 4096))
    assert not twt.token_attention_in_fp32(*heads(8, 4096, torch.float32))
    assert not twt.token_attention_in_fp32(*heads(8, 4096, torch.float16))
    assert not twt.token_attention_in_fp32(*heads(200, 300))  # no prompt-token side (SAM 2 memory)
    meta = [torch.empty(1, 8, n, 16, dtype=BF16, device="meta", requires_grad=True)
            for n in (8, 64, 64)]
    assert not twt.token_attention_in_fp32(*meta)
    traced = []

    def record(x):
        traced.append(twt.token_attention_in_fp32(*heads(8, 64)))
        return x * 1

    torch.jit.trace(record, torch.ones(1), check_trace=False)
    assert traced == [False]


def attention_run(attention, inputs, dtype):
    """Output (in fp64 and its own dtype) and input gradients of `attention` on `inputs` (cast to
    dtype; under bf16 autocast unless fp64)."""
    leaves = [x.detach().to(dtype).requires_grad_() for x in inputs]
    with torch.autocast("cpu", dtype=BF16, enabled=dtype != torch.float64):
        out = attention(*leaves)
    gen = torch.Generator().manual_seed(1)
    (out.double() * torch.randn(out.shape, generator=gen, dtype=torch.float64)).sum().backward()
    return out.detach().double(), [x.grad.double() for x in leaves], out.dtype


@pytest.mark.parametrize("nq, nk", [(8, 1024), (1024, 8), (8, 8)])
def test_attention_within_bf16_rounding_of_fp64(monkeypatch, nq, nk):
    torch.manual_seed(0)
    attention = twt.Attention(64, 4, downsample_rate=2)
    gen = torch.Generator().manual_seed(2)
    inputs = [torch.randn(2, n, 64, generator=gen) for n in (nq, nk, nk)]
    calls = []
    original_sdpa = F.scaled_dot_product_attention

    def sdpa_spy(q, k, v, **kwargs):
        calls.append(q.dtype)
        return original_sdpa(q, k, v, **kwargs)

    monkeypatch.setattr(twt.F, "scaled_dot_product_attention", sdpa_spy)
    new = attention_run(attention, inputs, torch.float32)  # fp32 inputs, bf16 autocast
    assert calls == [torch.float32] and new[2] == BF16  # the fp32 kernel
    monkeypatch.setattr(twt, "token_attention_in_fp32", lambda *args: False)
    old = attention_run(attention, inputs, torch.float32)
    assert calls[1:] == [BF16]
    reference = attention_run(attention.double(), inputs, torch.float64)
    outputs = zip([new[0], *new[1]], [old[0], *old[1]], [reference[0], *reference[1]])
    for got, before, want in outputs:
        scale = want.abs().max().item()
        error, error_before = (got - want).abs().max().item(), (before - want).abs().max().item()
        # a few bf16 roundings of the projections and the output: 2^-8 relative each
        assert error <= 4 * 2**-8 * scale
        assert error <= 1.5 * error_before + 2**-9 * scale


def test_bf16_weights_without_autocast():
    """A module cast to bf16 (no autocast) takes the fp32 kernel too, and its output projection
    gets the bf16 input its weights need."""
    torch.manual_seed(0)
    attention = twt.Attention(64, 4, downsample_rate=2).to(BF16)
    q, k = torch.randn(1, 8, 64, dtype=BF16), torch.randn(1, 256, 64, dtype=BF16)
    out = attention(q.requires_grad_(), k, k)
    out.float().sum().backward()
    assert out.dtype == BF16 and q.grad.dtype == BF16
    reference = attention.double()(q.double(), k.double(), k.double())
    bound = 4 * 2**-8 * reference.abs().max().item()
    torch.testing.assert_close(out.double(), reference, rtol=0, atol=bound)


def hq_step(model, features, boxes, target, bf16: bool = True) -> tuple:
    # uniform points only: which points the loss reads must not hang on the logits' roundings
    return cached_step(model, features, boxes, target, bf16=bf16, importance_sample_ratio=0.0)


def test_hq_step_in_bf16_takes_fp32_attention_and_stays_within_rounding(monkeypatch):
    """The bf16 step with the fp32 attention is as close to the fp32 step as the bf16 step with
    the bf16 kernel was (its logits, loss and every gradient)."""
    model = build_sam_hq("vit_demo", seed=0, policy="hq")
    features, boxes, target = cached_batch(model)
    exact = hq_step(model, features, boxes, target, bf16=False)
    taken = []
    original = twt.token_attention_in_fp32
    def spy(*args):
        taken.append(original(*args))
        return taken[-1]

    monkeypatch.setattr(twt, "token_attention_in_fp32", spy)
    new = hq_step(model, features, boxes, target)
    assert len(taken) == 7 and all(taken)  # 2 layers x 3 attentions + the final one
    with torch.no_grad(), torch.autocast("cpu", dtype=BF16):  # inference: the bf16 kernel
        model.decode(features, boxes=boxes, hq_token_only=True)
    assert len(taken) == 14 and not any(taken[7:])
    monkeypatch.setattr(twt, "token_attention_in_fp32", lambda *a: False)
    old = hq_step(model, features, boxes, target)
    assert new[2].keys() == old[2].keys() == exact[2].keys()
    assert any("hf_token" in n for n in exact[2])
    for got, before, want in ((new[0], old[0], exact[0]), (new[1], old[1], exact[1])):
        error, error_before = (got - want).norm().item(), (before - want).norm().item()
        assert error <= 1.5 * error_before + 1e-4 * want.norm().item()
    # a parameter gradient of the HQ head is a sum over the mask's pixels that mostly cancels, so
    # a rounding anywhere in the bf16 forward moves it by up to 12-17 % for either attention
    # kernel (seeds 1-3: the same for both); a wrong attention (scale, a lost gradient path)
    # fails this or the checks above
    for name, want in exact[2].items():
        assert (new[2][name] - want).norm() <= 0.25 * want.norm(), name


def test_fp32_step_unchanged_to_the_bit(monkeypatch):
    model = build_sam_hq("vit_demo", seed=0, policy="hq")
    features, boxes, _ = cached_batch(model, n=1)
    results = []
    for gate in (twt.token_attention_in_fp32, lambda *a: False):
        monkeypatch.setattr(twt, "token_attention_in_fp32", gate)
        model.zero_grad(set_to_none=True)
        low_res, _ = model.decode(features, boxes=boxes, hq_token_only=True)
        low_res.square().mean().backward()
        results.append((low_res.detach(), model.mask_decoder.hf_token.weight.grad.clone()))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])
