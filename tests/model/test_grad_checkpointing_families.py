"""model.grad_checkpointing through the whole model of each family (SAM 1 ViT, SAM 2.1 Hiera,
SAM 3 ViT), under the policies that train the encoder: every encoder block is recomputed in
backward, and the loss and every parameter's gradient equal those of the plain path (fp32,
within 1e-6); parameter names are unchanged; eval / no_grad forwards never recompute and give the
same outputs."""

import pytest
import torch

from samhq_train.model import build_sam_hq
from samhq_train.model.sam1 import image_encoder as sam1_encoder
from samhq_train.model.sam2 import hiera
from samhq_train.model.sam3 import vit
from tests.spies import count_calls

# variant -> (the module whose `checkpoint` its encoder calls, the encoder's block list)
FAMILIES = {
    "vit_demo": (sam1_encoder, lambda encoder: encoder.blocks),
    "sam2.1_hq_hiera_demo": (hiera, lambda encoder: encoder.trunk.blocks),
    "sam3_hq_demo": (vit, lambda encoder: encoder.trunk.blocks),
}


def images_and_box(model):
    size = model.image_size
    images = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(3)) * 255
    box = torch.tensor([[[size * 0.2, size * 0.25, size * 0.7, size * 0.8]]])
    return images, box


def feature_maps(features) -> list[torch.Tensor]:
    values = [v for v in vars(features).values()]
    return [t for v in values for t in (v if isinstance(v, list | tuple) else [v])
            if isinstance(t, torch.Tensor) and t.is_floating_point()]


def loss_and_gradients(model, images, box):
    """A loss that reaches the encoder's outputs through the decoder (masks and IoU) and
    directly (every feature map), and each parameter's gradient (None where none)."""
    model.zero_grad(set_to_none=True)
    features = model.encode(images)
    low, iou = model.decode(features, boxes=box)
    gen = torch.Generator().manual_seed(2)
    loss = low.square().mean() + iou.sum() + sum((m * torch.randn(m.shape, generator=gen)).mean()
                                                 for m in feature_maps(features))
    loss.backward()
    return loss.detach(), {n: p.grad for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize(("variant", "policy"), [
    ("vit_demo", "full"), ("sam2.1_hq_hiera_demo", "full"), ("sam3_hq_demo", "full"),
    ("vit_demo", "hq+lora"),
])
def test_recomputed_blocks_give_the_same_loss_and_gradients(variant, policy, monkeypatch):
    module, blocks = FAMILIES[variant]
    model = build_sam_hq(variant, seed=0, policy=policy).train()
    names = list(model.state_dict())
    images, box = images_and_box(model)
    loss, grads = loss_and_gradients(model, images, box)
    model.image_encoder.grad_checkpointing = True
    assert list(model.state_dict()) == names  # wrapped at call time: no module inserted
    calls = count_calls(monkeypatch, module, "checkpoint")
    loss_ckpt, grads_ckpt = loss_and_gradients(model, images, box)
    assert len(calls) == len(blocks(model.image_encoder))
    assert (loss_ckpt - loss).abs() <= 1e-6 * max(1.0, loss.abs())
    assert grads_ckpt.keys() == grads.keys()
    encoder = {id(p) for p in model.image_encoder.parameters()}
    assert any(grads[n] is not None for n, p in model.named_parameters() if id(p) in encoder
               and p.requires_grad)  # the encoder's trained parameters get gradients
    for name, grad in grads.items():
        assert (grad is None) == (grads_ckpt[name] is None), name
        assert grad is None or (grad - grads_ckpt[name]).abs().max() <= 1e-6, name


@pytest.mark.parametrize("variant", list(FAMILIES))
def test_eval_and_no_grad_forwards_are_untouched(variant, monkeypatch):
    module, _ = FAMILIES[variant]
    model = build_sam_hq(variant, seed=0, policy="full")
    images, _ = images_and_box(model)
    with torch.no_grad():
        plain = feature_maps(model.eval().encode(images))
    model.image_encoder.grad_checkpointing = True
    calls = count_calls(monkeypatch, module, "checkpoint")
    with torch.no_grad():
        in_train_mode = feature_maps(model.train().encode(images))
    model.requires_grad_(False)
    frozen = feature_maps(model.eval().encode(images))  # eval mode, nothing requires grad
    assert calls == []
    assert len(plain) == len(in_train_mode) == len(frozen) > 0
    for a, b, c in zip(plain, in_train_mode, frozen, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)
