"""Gradient checkpointing of the encoder blocks (for policies that train the encoder): the same
outputs, gradients and BatchNorm statistics as the plain path, with every block recomputed."""

import copy

import pytest
import torch

from samhq_train.model import build_sam_hq
from samhq_train.model.sam1 import image_encoder, tiny_vit
from tests.spies import count_calls


def forward_backward(encoder, x):
    encoder.zero_grad(set_to_none=True)
    embedding, early = encoder(x)
    gen = torch.Generator().manual_seed(2)
    loss = (embedding * torch.randn(embedding.shape, generator=gen)).sum()
    loss = loss + (early * torch.randn(early.shape, generator=gen)).sum()
    loss.backward()
    return [embedding.detach(), early.detach()], [p.grad for p in encoder.parameters()]


def tiny_vit_encoder():
    torch.manual_seed(0)
    return tiny_vit.TinyViT(img_size=128, embed_dims=(16, 32, 48, 64), depths=(2, 2, 2, 1),
                   num_heads=(1, 2, 3, 4), window_sizes=(7, 7, 5, 7), out_chans=32,
                   mlp_ratio=4.0, mbconv_expand_ratio=4.0, local_conv_size=3)


@pytest.mark.parametrize("family", ["vit", "tiny_vit"])
def test_checkpointed_blocks_give_the_same_outputs_and_gradients(family, monkeypatch):
    if family == "vit":
        plain, size, module = build_sam_hq("vit_demo", seed=0, policy="full").image_encoder, 256, image_encoder
        blocks = len(plain.blocks)
    else:
        plain, size, module = tiny_vit_encoder(), 128, tiny_vit
        blocks = sum(len(layer.blocks) for layer in plain.layers)
    plain.train()
    checkpointed = copy.deepcopy(plain)
    checkpointed.grad_checkpointing = True
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(3))
    out, grads = forward_backward(plain, x)
    calls = count_calls(monkeypatch, module, "checkpoint")
    out_ckpt, grads_ckpt = forward_backward(checkpointed, x)
    assert len(calls) == blocks
    for a, b in zip(out + grads, out_ckpt + grads_ckpt, strict=True):
        assert (a is None) == (b is None)  # parameters outside the outputs get no gradient
        assert a is None or (a - b).abs().max() <= 1e-6
    for a, b in zip(plain.buffers(), checkpointed.buffers(), strict=True):  # BatchNorm statistics
        assert torch.equal(a, b)


def test_no_checkpointing_without_grad():
    encoder = build_sam_hq("vit_demo", seed=0).image_encoder
    encoder.grad_checkpointing = True
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        assert not image_encoder.use_checkpointing(encoder, x)
    assert not image_encoder.use_checkpointing(encoder.eval().requires_grad_(False), x)


def test_compile_switch_compiles_the_encoder_in_place():
    """model.compile=true: the encoder's forward is compiled lazily (nothing is compiled here) and
    the parameter names checkpoints and exports use are unchanged."""
    from omegaconf import OmegaConf

    from samhq_train.train import build_model

    cfg = {"variant": "vit_demo", "seed": 0}
    plain, _ = build_model(OmegaConf.create(cfg))
    compiled, _ = build_model(OmegaConf.create({**cfg, "compile": True}))
    assert compiled.image_encoder._compiled_call_impl is not None
    assert plain.image_encoder._compiled_call_impl is None
    assert list(compiled.state_dict()) == list(plain.state_dict())
