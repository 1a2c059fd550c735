"""video.prompts.* and video.loss.* are checked as the other records' keys are: a bad, unknown or
mistyped value is one SettingError line naming the full key and what it takes, before the model
is built; a hand-written config without the groups (or without video.freeze_image_encoder)
runs on the records' defaults, as experiment=video_finetune composes them; VideoTrainModule's
own drop_path_rate / dropout defaults are VideoRegularisation's."""

import pytest
from omegaconf import open_dict

from samhq_train.model import build_sam_hq
from samhq_train.settings import SettingError
from samhq_train.train import train
from samhq_train.training.video.config_checks import check_video_config
from samhq_train.training.video.loss import MultiStepMaskLoss
from samhq_train.training.video.module import VideoTrainModule
from samhq_train.training.video.run import build_video_module
from samhq_train.video_settings import ClipPromptSettings, VideoRegularisation

from .test_video_run import random_build, shapes, video_cfg  # noqa: F401 (the fixture)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("video.prompts.prob_to_use_pt_input=1.5",
         r"video.prompts.prob_to_use_pt_input=1.5: expected a number in \[0, 1\]"),
        ("video.prompts.rand_frames_to_correct=abc",
         "video.prompts.rand_frames_to_correct=abc: expected true or false"),
        ("video.prompts.num_init_cond_frames=0",
         r"video.prompts.num_init_cond_frames=0: expected an integer >= 1"),
        ("video.prompts.click_sampling=random",
         "video.prompts.click_sampling=random: expected one of uniform, center"),
        ("+video.prompts.foo=1", "video.prompts.foo is not a setting here: use prob_to_use_pt_"),
        ("video.loss.weight_mask=-1", r"video.loss.weight_mask=-1: expected a number >= 0"),
        ("video.loss.weight_dice=abc", r"video.loss.weight_dice=abc: expected a number >= 0"),
        ("+video.loss.focal_gamma=-2", r"video.loss.focal_gamma=-2: expected a number >= 0"),
        ("+video.loss.focal_alpha=1.5", r"video.loss.focal_alpha=1.5: expected a number in"),
        ("+video.loss.weight=1", "video.loss.weight is not a setting here: use weight_mask, "),
        ("video.prompts=3", "video.prompts=3: expected settings"),
    ],
)
def test_a_bad_prompt_or_loss_setting_is_one_line_naming_its_key(
        tmp_path, shapes, no_model, setting, message):  # noqa: F811
    with pytest.raises(SettingError, match=f"^{message}") as caught:
        train(video_cfg(tmp_path, shapes, setting))
    assert "\n" not in str(caught.value)
    assert caught.value.key == setting.lstrip("+").split("=")[0]


def test_a_config_without_the_groups_runs_on_the_records_defaults(tmp_path, shapes):  # noqa: F811
    cfg = video_cfg(tmp_path, shapes)
    with open_dict(cfg):
        for key in ("prompts", "loss", "freeze_image_encoder"):
            del cfg.video[key]
    check_video_config(cfg)  # passes
    module = build_video_module(cfg, random_build())
    assert module.prompts == ClipPromptSettings() and module.loss == MultiStepMaskLoss()
    assert not module.freeze_image_encoder


def test_the_modules_regularisation_defaults_are_the_records():
    model = build_sam_hq("sam2.1_hq_hiera_demo", seed=0)
    VideoTrainModule(model, prompts=ClipPromptSettings(), loss=MultiStepMaskLoss())
    expected = VideoRegularisation()
    assert model.image_encoder.trunk.blocks[-1].drop_path == pytest.approx(expected.drop_path_rate)
    assert all(layer.dropout == expected.dropout for layer in model.memory_attention.layers)
