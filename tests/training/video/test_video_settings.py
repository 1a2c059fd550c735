"""The `video` group's settings: VideoOptimSettings is the one home of the optimiser's defaults
(the experiment's yaml repeats them), and a video.* key the run would ignore is refused in one
line before the model is built."""

from dataclasses import asdict

import pytest
from hydra import compose, initialize_config_dir

from samhq_train.errors import UserError
from samhq_train.train import train
from samhq_train.training.video.optimizer import VideoOptimSettings
from samhq_train.training.video.run import check_video_config
from tests.training.helpers import CONF

from .test_video_run import shapes, video_cfg  # noqa: F401 (the fixture)


def experiment_cfg(tmp_path, experiment, *overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=[f"experiment={experiment}",
                                           f"paths.output_dir={tmp_path}", *overrides])


def test_the_experiment_holds_the_records_defaults(tmp_path):
    cfg = experiment_cfg(tmp_path, "video_finetune")  # the yaml's keys, not the run's fallback
    assert {key: cfg.video[key] for key in VideoOptimSettings.__dataclass_fields__} == asdict(
        VideoOptimSettings())


@pytest.mark.parametrize("setting, shown", [("video.vision_lr=1e-4", "video.vision_lr=0.0001"),
                                            ("video.layer_decay=1.0", "video.layer_decay=1.0")])
def test_a_frozen_encoders_settings_are_refused(tmp_path, shapes, no_model, setting, shown):  # noqa: F811
    cfg = video_cfg(tmp_path, shapes, "video.freeze_image_encoder=true", setting)
    key = shown.split("=")[0]
    with pytest.raises(UserError, match=rf"^{shown} acts on the image encoder, which "
                       rf"video.freeze_image_encoder=true freezes: remove {key} \(default "
                       r"[0-9e.-]+\), or set video.freeze_image_encoder=false$"):
        train(cfg)


@pytest.mark.parametrize("experiment", ["video_demo", "video_demo_sam3"])
def test_the_demos_freeze_and_keep_the_defaults(tmp_path, experiment):
    check_video_config(experiment_cfg(tmp_path, experiment))  # passes
    with pytest.raises(UserError, match="video.vision_lr=1e-05 acts on the image encoder"):
        check_video_config(experiment_cfg(tmp_path, experiment, "video.vision_lr=1e-5"))


def test_sam3_options_and_unknown_keys_are_refused(tmp_path, shapes, no_model):  # noqa: F811
    with pytest.raises(UserError, match="video.init_missing_video_parts=true is SAM 3's option"):
        train(video_cfg(tmp_path, shapes, "video.init_missing_video_parts=true"))
    with pytest.raises(UserError, match="video.lr_vision is not a setting: use one of use_hq, "):
        train(video_cfg(tmp_path, shapes, "+video.lr_vision=1e-5"))
    with pytest.raises(UserError, match="video.lr=fast: expected a number"):
        train(video_cfg(tmp_path, shapes, "video.lr=fast"))
