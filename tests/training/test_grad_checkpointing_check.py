"""model.grad_checkpointing=true in an image run whose policy keeps the encoder frozen (hq,
hq+decoder; the embedding cache serves those only) is refused by the config check in one line
naming the key: there is no backward through the encoder, and the switch would be ignored in
silence. Concept and video runs read it for their own trained parts and keep it."""

import pytest
from hydra import compose, initialize_config_dir

from samhq_train.config_check import ConfigError, check_config
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
