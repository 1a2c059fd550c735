"""model.grad_checkpointing=true in an image run whose policy keeps the encoder frozen (hq,
hq+decoder; the embedding cache serves those only) is refused by the config check in one line
naming the key: there is no backward through the encoder, and the switch would be ignored in
silence. Concept and video runs read it for their own trained parts and keep it. A run with it
on recomputes the encoder's blocks in its training step."""

import pytest
import torch
from hydra import compose, initialize_config_dir

from samhq_train.config_check import ConfigError, check_config
from samhq_train.model.sam1 import image_encoder as sam1_encoder
from samhq_train.train import train
from tests.spies import count_calls
from tests.training.helpers import CONF, compose_cfg


def config(tmp_path, *overrides):
    return compose_cfg(tmp_path / "run", tmp_path / "data", "model.grad_checkpointing=true",
                       *overrides)


@pytest.mark.parametrize(("overrides", "policy"), [
    ([], "hq"),
    (["experiment=finetune_decoder"], r"hq\+decoder"),
    (["data.cache.enabled=true"], "hq"),
])
def test_grad_checkpointing_with_a_frozen_encoder_is_refused(tmp_path, overrides, policy):
    with pytest.raises(ConfigError, match=(
            r"^model.grad_checkpointing=true recomputes the image encoder's blocks in backward, "
            rf"but model.policy={policy} keeps the encoder frozen \(no backward through it\): "
            r"remove model.grad_checkpointing, or use model.policy=hq\+lora or full$")):
        check_config(config(tmp_path, *overrides))


def test_grad_checkpointing_with_a_trained_encoder_passes(tmp_path):
    check_config(config(tmp_path, "model.policy=full"))
    check_config(config(tmp_path, "model.policy=hq+lora"))
    check_config(compose_cfg(tmp_path / "run", tmp_path / "data", "model.grad_checkpointing=false"))


@pytest.mark.parametrize("experiment", ["concept_demo", "video_demo"])
def test_concept_and_video_runs_keep_the_switch(tmp_path, experiment):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}",
                                          f"paths.output_dir={tmp_path}",
                                          "model.grad_checkpointing=true"])
    check_config(cfg)


def test_a_training_step_recomputes_the_encoder_blocks(tmp_path, data_root, monkeypatch):
    """One step of a real run (SamHQModule, Lightning, hq+lora): the encoder's blocks run through
    checkpoint in the training step only (validation runs without grad) and the step trains."""
    calls = count_calls(monkeypatch, sam1_encoder, "checkpoint")
    _, objects = train(compose_cfg(
        tmp_path, data_root, "model.policy=hq+lora", "model.grad_checkpointing=true",
        "debug=fdr", "export=false"))
    blocks = len(objects["model"].image_encoder.blocks)
    assert objects["trainer"].global_step == 1
    assert len(calls) > 0 and len(calls) % blocks == 0
    assert all(torch.isfinite(p).all() for p in objects["model"].parameters())
