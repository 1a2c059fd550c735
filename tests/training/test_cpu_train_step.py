"""The hq policy's training step on the CPU in bf16 autocast runs its frozen encoder (no_grad)
through the bf16 CPU inference blocks (model/sam1/cpu_blocks.py): the features equal the inference
path's to the bit, so the trainable parameters' gradients do too; policies that train the encoder
keep the plain blocks (how close the two are in bf16: tests/model/test_cpu_blocks.py). Checked on
the features the training step computes (batch_forward.image_features) and through a Lightning
run in bf16-mixed."""

import pytest
import torch

from samhq_train.batch_forward import image_features
from samhq_train.model import build_sam_hq, encoder_needs_grad, parameter_groups
from samhq_train.model.sam1 import cpu_blocks
from samhq_train.train import train
from samhq_train.training.losses import PointSampledMaskLoss
from samhq_train.training.module import SamHQModule
from tests.training.helpers import compose_cfg

BF16 = torch.bfloat16


@pytest.fixture
def block_runs(monkeypatch):
    """Records every call of cpu_blocks.run_blocks (the bf16 CPU blocks) as it happens."""
    runs = []
    original = cpu_blocks.run_blocks

    def spy(*args, **kwargs):
        runs.append(torch.is_grad_enabled())
        return original(*args, **kwargs)

    monkeypatch.setattr(cpu_blocks, "run_blocks", spy)
    return runs


def batch_for(model, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    size = model.image_size
    image = torch.rand(2, 3, size, size, generator=gen) * 255
    boxes = torch.tensor([[0.2, 0.2, 0.7, 0.8], [0.1, 0.3, 0.5, 0.9]]) * size
    mask = torch.zeros(2, 1, size, size)
    mask[0, :, size // 4 : size // 2, size // 4 : size // 2] = 255
    mask[1, :, size // 3 :, : size // 2] = 255
    return {"image": image, "boxes": boxes, "mask": mask}


def decoder_gradients(model, features, batch) -> dict[str, torch.Tensor]:
    """The hq step's gradients from these features: HQ decode of one box each, the recipe's loss."""
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=BF16):
        low_res, _ = model.decode(features, boxes=batch["boxes"][:, None], hq_token_only=True)
        loss = PointSampledMaskLoss(num_points=256)(
            low_res[:, :, 0], batch["mask"] / 255, generator=torch.Generator().manual_seed(0)
        )["loss"]
    loss.backward()
    trained = {id(p) for g in parameter_groups(model, "hq") for p in g["params"]}
    return {n: p.grad.clone() for n, p in model.named_parameters() if id(p) in trained}


def test_hq_training_features_take_the_cpu_blocks_and_equal_inference(block_runs):
    model = build_sam_hq("vit_demo", seed=0, policy="hq").train()
    batch = batch_for(model)
    with torch.autocast("cpu", dtype=BF16):
        trained = image_features(model, batch, grad=encoder_needs_grad("hq"))
    assert block_runs == [False]  # the training step's encoder ran the bf16 CPU blocks
    model.eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=BF16):
        served = model.encode(batch["image"])
    assert len(block_runs) == 2
    for name, tensor in trained.tensors().items():
        assert torch.equal(tensor, served.tensors()[name]), name
    model.train()
    from_training = decoder_gradients(model, trained, batch)
    inference_copy = type(served).from_tensors({k: v.clone() for k, v in served.tensors().items()})
    from_inference = decoder_gradients(model, inference_copy, batch)
    assert from_training.keys() == from_inference.keys() and from_training
    for name, grad in from_training.items():
        assert torch.equal(grad, from_inference[name]), name


def test_encoder_training_policy_keeps_the_plain_blocks(block_runs):
    model = build_sam_hq("vit_demo", seed=0, policy="full").train()
    with torch.autocast("cpu", dtype=BF16):
        features = image_features(model, batch_for(model), grad=encoder_needs_grad("full"))
    assert block_runs == [] and features.embedding.requires_grad


def test_lightning_bf16_mixed_training_step_runs_the_cpu_blocks(tmp_path, monkeypatch, block_runs):
    """trainer.precision=bf16-mixed on the CPU: the training step itself (not only validation)
    encodes through the bf16 CPU blocks."""
    in_step = []
    step = SamHQModule.training_step

    def flagged_step(self, batch, batch_idx):
        in_step.append(len(block_runs))
        loss = step(self, batch, batch_idx)
        in_step.append(len(block_runs))
        return loss

    monkeypatch.setattr(SamHQModule, "training_step", flagged_step)
    overrides = ("debug=fdr", "trainer.precision=bf16-mixed")
    train(compose_cfg(tmp_path / "out", tmp_path / "data", *overrides))
    assert len(in_step) == 2 and in_step[1] == in_step[0] + 1
