"""experiment=concept_demo's other settings as the README's demo section states them (audit 12):
policy detector (trunk and text encoder frozen), lrs 1e-3 / 1e-4 / 1e-3, a fresh detector,
validation after 4 and 8 epochs, 48 training / 16 validation images of 224 px; activation
checkpointing off in the CPU demo and on in concept_finetune (Meta's recipe)."""

from hydra import compose, initialize_config_dir

from samhq_train.training.concept.run import concept_settings
from tests.training.helpers import CONF


def composed(experiment: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=[f"experiment={experiment}"])


def test_demo_settings_are_the_readmes():
    cfg = composed("concept_demo")
    policy, optim, _ = concept_settings(cfg)
    assert policy.name == "detector" and cfg.concept.init_missing_detector is True
    assert (optim.lr_transformer, optim.lr_vision_backbone, optim.lr_language_backbone) == (
        1e-3, 1e-4, 1e-3)
    assert cfg.trainer.check_val_every_n_epoch == 4 and cfg.trainer.max_epochs == 8
    demo = cfg.data.concept_demo
    assert (demo.num_train, demo.num_val, demo.size) == (48, 16, 224)
    assert cfg.model.grad_checkpointing is False
    assert composed("concept_finetune").model.grad_checkpointing is True
