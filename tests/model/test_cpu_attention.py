"""bf16 CPU inference kernels of the ViT's rel-pos attention (model/sam1/cpu_attention.py): the
one-hot (windowed) and per-head (global) kernels give the fp32 SDPA path's outputs within bf16
rounding, in chunks of any size; they serve bf16 without autograd only, and the encoder's bf16
outputs stay as close to its fp32 outputs as through the SDPA path."""

import pytest
import torch

from samhq_train.model.sam1 import cpu_attention as ca
from samhq_train.model.sam1 import cpu_blocks
from samhq_train.model.sam1.image_encoder import rel_pos_attention
from tests.reference import random_tiny_model


def attention_inputs(b, heads, h, w, c, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(b, heads, h * w, c, generator=gen) for _ in range(3))
    rel_h = torch.randn(b, heads, h, w, h, generator=gen)
    rel_w = torch.randn(b, heads, h, w, w, generator=gen)
    return q, k, v, rel_h, rel_w


@pytest.mark.parametrize("chunk_bytes", [ca.SCORE_CHUNK_BYTES, 1, 3000])
@pytest.mark.parametrize(
    ("shape", "kernel"),
    [((3, 2, 4, 5, 16), "one_hot_attention"), ((2, 3, 7, 5, 8), "per_head_attention")],
)
def test_kernels_match_the_fp32_sdpa_path(monkeypatch, chunk_bytes, shape, kernel):
    monkeypatch.setattr(ca, "SCORE_CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(ca, "HEADS_PER_CHUNK", 2)  # 3 heads: a full group and a partial one
    inputs = attention_inputs(*shape)
    used = []
    original = getattr(ca, kernel)
    monkeypatch.setattr(ca, kernel, lambda *a: used.append(kernel) or original(*a))
    ref = rel_pos_attention(*inputs)
    with torch.inference_mode():
        out = rel_pos_attention(*(t.bfloat16() for t in inputs))
    assert used == [kernel] and out.dtype == torch.bfloat16 and out.shape == ref.shape
    torch.testing.assert_close(out.float(), ref, atol=0.03, rtol=0.03)


def test_in_place_softmax_equals_softmax():
    """The kernels run aten's softmax with its output aliasing its input."""
    for n in (196, 4096):
        x = torch.randn(64, n, generator=torch.Generator().manual_seed(n)).bfloat16() * 8
        expected = torch.softmax(x, -1)
        assert torch.equal(torch.ops.aten._softmax.out(x, -1, False, out=x), expected)


def test_serves_bf16_without_autograd_only():
    q, k, v, rel_h, rel_w = (t.bfloat16() for t in attention_inputs(1, 2, 4, 4, 8))
    assert ca.serves(q, rel_h, rel_w)
    assert not ca.serves(q.float(), rel_h, rel_w)
    assert not ca.serves(q.requires_grad_(), rel_h, rel_w)
    with torch.no_grad():
        assert ca.serves(q, rel_h, rel_w)


def test_encoder_bf16_outputs_as_close_to_fp32_as_through_sdpa(monkeypatch):
    encoder = random_tiny_model(seed=3).image_encoder
    for block in encoder.blocks:  # the rel-pos tables start at zero: give them values
        block.attn.rel_pos_h.data.normal_(0, 0.5)
        block.attn.rel_pos_w.data.normal_(0, 0.5)
    x = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(1))

    def errors() -> list[float]:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            outs = encoder(x)
        return [(o.float() - r).abs().mean().item() for o, r in zip(outs, ref, strict=True)]

    with torch.inference_mode():
        ref = encoder(x)
    ours = errors()
    monkeypatch.setattr(ca, "serves", lambda *a: False)
    monkeypatch.setattr(cpu_blocks, "ENABLED", False)  # its blocks call the kernels directly
    through_sdpa = errors()
    for mine, theirs in zip(ours, through_sdpa, strict=True):
        assert mine < 1.25 * theirs + 1e-6
