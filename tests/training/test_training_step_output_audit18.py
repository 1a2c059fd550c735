"""Mutation audit 18: the image training step trains the output the benchmark reads, the HQ mask
alone (hq_token_only=True), not SAM's mask plus the HQ one (test_demo_base's short run passed with
that wiring; this pins it in a step of a tiny model)."""

from types import SimpleNamespace

import torch

from samhq_train.batch_forward import decode_prompts, image_features
from samhq_train.model import build_sam_hq
from samhq_train.training.module import SamHQModule


def _batch(size: int) -> dict:
    image = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0)) * 255
    mask = torch.zeros(2, 1, size, size)
    mask[:, :, size // 4: size // 2, size // 4: size // 2] = 255
    boxes = torch.tensor([[0.2, 0.2, 0.7, 0.8], [0.1, 0.3, 0.5, 0.9]]) * size
    return {"image": image, "boxes": boxes, "mask": mask, "prompt_type": ["box", "box"]}


def test_the_training_step_takes_the_hq_mask_alone():
    model = build_sam_hq("vit_demo", seed=0, policy="hq").eval()
    batch = _batch(model.image_size)
    seen = []
    step_self = SimpleNamespace(
        model=model, policy="hq", prompts=SimpleNamespace(correction_clicks=0),
        loss_fn=lambda low_res, target: seen.append(low_res) or {"loss": low_res.mean()},
        log=lambda *a, **k: None, log_dict=lambda *a, **k: None,
    )
    with torch.no_grad():
        SamHQModule.training_step(step_self, batch, 0)
        features = image_features(model, batch)
        hq_alone = decode_prompts(model, features, batch, hq_token_only=True)[0]
        with_sam = decode_prompts(model, features, batch, hq_token_only=False)[0]
    assert not torch.allclose(hq_alone, with_sam)  # the two outputs differ in this model
    torch.testing.assert_close(seen[0], hq_alone)
