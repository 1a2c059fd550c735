"""The `video` group's settings: the records of samhq_train/video_settings.py are the one home of
their defaults (experiment=video_finetune takes them through the `video_defaults` node, so `--cfg
job` shows them and the run reads them; an experiment sets a record key only to change it), and a
video.* key the run would ignore is refused in one line before the model is built."""

from dataclasses import asdict, replace

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from samhq_train.errors import UserError
from samhq_train.train import train
from samhq_train.training.video.config_checks import (
    check_video_config,
    video_optim_settings,
    video_regularisation,
)
from samhq_train.training.video.loss import MultiStepMaskLoss
from samhq_train.video_settings import (
    ClipPromptSettings,
    VideoLossSettings,
    VideoOptimSettings,
    VideoRegularisation,
)
from tests.training.helpers import CONF

from .test_video_run import shapes, video_cfg  # noqa: F401 (the fixture)


def experiment_cfg(tmp_path, experiment, *overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=[f"experiment={experiment}",
                                           f"paths.output_dir={tmp_path}", *overrides])


RECORDS = (VideoOptimSettings, VideoRegularisation)  # of video.* numbers


def test_the_composed_config_shows_the_records_defaults_and_the_run_reads_them(tmp_path):
    cfg = experiment_cfg(tmp_path, "video_finetune")
    values = OmegaConf.to_container(cfg.video)
    for record in RECORDS:  # the config's keys, not the run's fallback for an absent one
        assert {key: values[key] for key in record.__dataclass_fields__} == asdict(record())
    assert values["prompts"] == asdict(ClipPromptSettings())
    assert values["loss"] == asdict(VideoLossSettings())
    assert video_optim_settings(cfg.video) == VideoOptimSettings()
    assert video_regularisation(cfg.video) == VideoRegularisation()
    assert MultiStepMaskLoss(**cfg.video.loss) == MultiStepMaskLoss()


def test_the_demo_changes_the_records_values_and_keeps_the_others(tmp_path):
    video = experiment_cfg(tmp_path, "video_demo").video
    assert video_optim_settings(video) == VideoOptimSettings(lr=1e-3)
    assert video_regularisation(video) == VideoRegularisation(drop_path_rate=0.0, dropout=0.0)
    assert ClipPromptSettings(**video.prompts) == replace(ClipPromptSettings(),
                                                          num_correction_pt_per_frame=2)
    assert OmegaConf.to_container(video.loss) == asdict(VideoLossSettings())


def test_no_experiment_repeats_a_records_default():
    defaults = {key: value for record in RECORDS for key, value in asdict(record()).items()}
    nested = {"prompts": asdict(ClipPromptSettings()), "loss": asdict(VideoLossSettings())}
    repeats = []
    for path in sorted((CONF / "experiment").glob("*.yaml")):
        group = OmegaConf.to_container(OmegaConf.load(path)).get("video") or {}
        repeats += [f"{path.name}: video.{key}" for key, value in group.items()
                    if key in defaults and value == defaults[key]]
        repeats += [f"{path.name}: video.{name}.{key}" for name, own in nested.items()
                    for key, value in (group.get(name) or {}).items() if value == own.get(key)]
    assert not repeats, f"the records hold these defaults already: {repeats}"


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
