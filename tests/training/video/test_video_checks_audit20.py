"""Mutation audit 20: the video run's setting checks, term by term. vision_lr / layer_decay away
from their defaults are taken when the image encoder trains (refused only with
video.freeze_image_encoder=true); data.val_sequences=true is no count (a bool is not taken as 1);
the module trains with the config's optimiser settings; a frozen encoder's setting below its
default is refused as one above it is."""

import pytest
from omegaconf import OmegaConf

from samhq_train.errors import UserError
from samhq_train.training.video.config_checks import check_validation_counts, check_video_config
from samhq_train.training.video.run import build_video_module
from samhq_train.video_settings import VideoOptimSettings

from .test_video_run import random_build, video_cfg
from .test_video_settings import experiment_cfg


def test_image_encoder_settings_are_taken_when_the_encoder_trains(tmp_path):
    cfg = experiment_cfg(tmp_path, "video_finetune", f"data.root={tmp_path}",
                         "video.freeze_image_encoder=false", "video.vision_lr=1e-5",
                         "video.layer_decay=0.8")
    check_video_config(cfg)  # passes


def test_a_bool_is_no_validation_count():
    data = OmegaConf.create({"val_root": "/videos/val", "val_sequences": True})
    with pytest.raises(UserError, match=r"^data.val_sequences=True: must be a whole number"):
        check_validation_counts(data)


def test_the_module_takes_the_configs_optimiser_settings(tmp_path):
    cfg = video_cfg(tmp_path, tmp_path, "video.vision_lr=2e-5", "video.weight_decay=0.05",
                    "video.layer_decay=0.8")
    module = build_video_module(cfg, random_build())
    assert module.optim == VideoOptimSettings(lr=1e-4, vision_lr=2e-5, weight_decay=0.05,
                                              layer_decay=0.8)  # video.lr=1e-4: SHORT's


@pytest.mark.parametrize("setting", ["video.vision_lr=1e-6", "video.layer_decay=0.5"])
def test_a_frozen_encoders_setting_below_its_default_is_refused_too(tmp_path, setting):
    cfg = experiment_cfg(tmp_path, "video_finetune", f"data.root={tmp_path}",
                         "video.freeze_image_encoder=true", setting)
    with pytest.raises(UserError, match=f"^{setting.split('=')[0]}=.* acts on the image encoder"):
        check_video_config(cfg)
