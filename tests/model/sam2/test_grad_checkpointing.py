"""Gradient checkpointing of the Hiera trunk (model.grad_checkpointing, for policies that train the
encoder): the same features and gradients as the plain path, every block recomputed, fewer
activations kept for backward; set from the config as for SAM 1."""

import copy

import pytest
import torch
from omegaconf import OmegaConf

from samhq_train.model import build_sam_hq
from samhq_train.model.sam2 import hiera
from samhq_train.train import build_model
from tests.spies import count_calls

VARIANT = "sam2.1_hq_hiera_demo"


@pytest.fixture(scope="module")
def encoder():
    return build_sam_hq(VARIANT, seed=0, policy="full").image_encoder.train()


@pytest.fixture(scope="module")
def images():
    return torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(3))


def saved_bytes_and_forward_backward(encoder, x):
    """(bytes the forward pass keeps for backward outside checkpointed blocks, the FPN features,
    the parameter gradients) of a random linear loss on every FPN level."""
    encoder.zero_grad(set_to_none=True)
    saved = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        features, _ = encoder(x)
    gen = torch.Generator().manual_seed(2)
    loss = sum((f * torch.randn(f.shape, generator=gen)).sum() for f in features)
    loss.backward()
    return sum(saved), [f.detach() for f in features], [p.grad for p in encoder.parameters()]


def test_checkpointed_trunk_gives_the_same_features_and_gradients(encoder, images, monkeypatch):
    checkpointed = copy.deepcopy(encoder)
    checkpointed.grad_checkpointing = True
    assert checkpointed.trunk.grad_checkpointing and not encoder.grad_checkpointing
    plain_bytes, out, grads = saved_bytes_and_forward_backward(encoder, images)
    calls = count_calls(monkeypatch, hiera, "checkpoint")
    ckpt_bytes, out_ckpt, grads_ckpt = saved_bytes_and_forward_backward(checkpointed, images)
    assert len(calls) == len(encoder.trunk.blocks)
    assert ckpt_bytes < plain_bytes / 3
    assert sum(g is not None for g in grads) > 0
    for a, b in zip(out + grads, out_ckpt + grads_ckpt, strict=True):
        assert (a is None) == (b is None)  # parameters outside the outputs get no gradient
        assert a is None or (a - b).abs().max() <= 1e-6


def test_no_checkpointing_without_grad(encoder, images, monkeypatch):
    checkpointed = copy.deepcopy(encoder)
    checkpointed.grad_checkpointing = True
    calls = []
    monkeypatch.setattr(hiera, "checkpoint", lambda *a, **k: calls.append(1))
    with torch.no_grad():
        checkpointed(images[:1])
    checkpointed.eval().requires_grad_(False)(images[:1])
    assert calls == []


def test_grad_checkpointing_is_set_from_the_model_config():
    cfg = OmegaConf.create(
        {"variant": VARIANT, "seed": 0, "policy": "full", "grad_checkpointing": True}
    )
    model, _ = build_model(cfg)
    assert model.image_encoder.trunk.grad_checkpointing is True
