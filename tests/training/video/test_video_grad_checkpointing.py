"""model.grad_checkpointing in video fine-tuning (the encoder trained: freeze_image_encoder=false):
the switch reaches the video run's model (build_model_from_config), and the clip forward's loss
and every parameter gradient equal those of the plain path, each Hiera block recomputed once per
encoded batch of frames."""

import numpy as np
import torch
from omegaconf import OmegaConf

from samhq_train.model.policy import TrainablePolicy
from samhq_train.model.sam2 import hiera
from samhq_train.model_from_config import build_model_from_config
from samhq_train.training.video import ClipForward, plan_clip
from samhq_train.training.video.loss import MultiStepMaskLoss
from samhq_train.video_settings import ClipPromptSettings
from tests.spies import count_calls

FRAMES, SIZE = 2, 256
MASK_PROMPTS = ClipPromptSettings(prob_to_use_pt_input=0.0, num_init_cond_frames=1,
                                  rand_init_cond_frames=False)


def clip():
    """One clip of one object: images T x 1 x 3 x S x S, masks T x 1 x 1 x S x S."""
    gen = torch.Generator().manual_seed(2)
    images = torch.randint(0, 256, (FRAMES, 1, 3, SIZE, SIZE), generator=gen).float()
    masks = torch.zeros(FRAMES, 1, 1, SIZE, SIZE, dtype=torch.bool)
    for t in range(FRAMES):
        masks[t, 0, 0, 40 + 8 * t: 120 + 8 * t, 50:150] = True
    return images, masks, torch.tensor([0])


def loss_and_gradients(model):
    model.zero_grad(set_to_none=True)
    images, masks, video = clip()
    rng = np.random.default_rng(0)
    plan = plan_clip(masks, MASK_PROMPTS, rng)
    frames = ClipForward(model, MASK_PROMPTS, use_hq=True)(images, masks, video, plan, rng)
    loss = MultiStepMaskLoss()(frames, masks)["loss"]
    loss.backward()
    return loss.detach(), {n: p.grad for n, p in model.named_parameters()}


def test_recomputed_hiera_blocks_give_the_same_video_loss_and_gradients(monkeypatch):
    cfg = OmegaConf.create({"variant": "sam2.1_hq_hiera_demo", "seed": 0,
                            "grad_checkpointing": True})
    model = build_model_from_config(cfg, TrainablePolicy(name="full")).model
    assert model.image_encoder.grad_checkpointing  # the video run's builder sets it
    model.train().requires_grad_(True)
    calls = count_calls(monkeypatch, hiera, "checkpoint")
    loss_ckpt, grads_ckpt = loss_and_gradients(model)
    assert len(calls) == len(model.image_encoder.trunk.blocks)
    model.image_encoder.grad_checkpointing = False
    loss, grads = loss_and_gradients(model)
    assert (loss - loss_ckpt).abs() <= 1e-6 * max(1.0, loss.abs())
    assert any(g is not None for n, g in grads.items() if n.startswith("image_encoder.trunk."))
    for name, grad in grads.items():
        assert (grad is None) == (grads_ckpt[name] is None), name
        assert grad is None or (grad - grads_ckpt[name]).abs().max() <= 1e-6, name
