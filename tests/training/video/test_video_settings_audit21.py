"""Audit 21: the video.prompts / video.loss records' bounds, each at its edge (video_settings.py,
training/video/loss.py's focal terms) and group_values' reading of a group."""

import pytest
from omegaconf import OmegaConf

from samhq_train.settings import SettingError
from samhq_train.training.video.loss import MultiStepMaskLoss
from samhq_train.video_settings import ClipPromptSettings, VideoLossSettings, group_values


def refused(key, make):
    with pytest.raises(SettingError) as err:
        make()
    assert err.value.key == key
    return str(err.value)


def test_a_probability_of_exactly_1_is_one():
    assert ClipPromptSettings(prob_to_use_box_input=1.0).prob_to_use_box_input == 1.0
    assert ClipPromptSettings(prob_to_use_pt_input=0).prob_to_use_pt_input == 0
    refused("video.prompts.prob_to_sample_from_gt",
            lambda: ClipPromptSettings(prob_to_sample_from_gt=1.01))


def test_initial_conditioning_frames_start_at_1_the_other_counts_at_0():
    refused("video.prompts.num_init_cond_frames",
            lambda: ClipPromptSettings(num_init_cond_frames=0))
    ok = ClipPromptSettings(num_correction_pt_per_frame=0, num_init_cond_frames=1,
                            num_frames_to_correct=1)
    assert ok.num_correction_pt_per_frame == 0
    refused("video.prompts.num_correction_pt_per_frame",
            lambda: ClipPromptSettings(num_correction_pt_per_frame=-1))


def test_frames_to_correct_at_least_the_initial_ones_unless_no_clicks():
    """Equal is enough; with prob_to_use_pt_input=0 (no corrections) any count passes."""
    assert ClipPromptSettings(num_frames_to_correct=3, num_init_cond_frames=3)
    said = refused("video.prompts.num_frames_to_correct",
                   lambda: ClipPromptSettings(num_frames_to_correct=2, num_init_cond_frames=3))
    assert "an integer >= video.prompts.num_init_cond_frames=3" in said
    assert ClipPromptSettings(prob_to_use_pt_input=0, num_frames_to_correct=0,
                              num_init_cond_frames=3)


def test_flags_must_be_booleans_and_sampling_a_known_one():
    refused("video.prompts.rand_init_cond_frames",
            lambda: ClipPromptSettings(rand_init_cond_frames=1))
    refused("video.loss.iou_use_l1_loss", lambda: VideoLossSettings(iou_use_l1_loss="yes"))
    refused("video.prompts.click_sampling", lambda: ClipPromptSettings(click_sampling="edge"))


def test_unknown_keys_are_refused_by_name():
    said = refused("video.prompts.num_frames", lambda: ClipPromptSettings.from_config(
        num_frames=3))
    assert said.startswith("video.prompts.num_frames is not a setting here: use ")
    refused("video.loss.weight_bce", lambda: MultiStepMaskLoss.from_config(weight_bce=1.0))


def test_a_loss_weight_of_0_turns_its_term_off_and_negative_is_refused():
    assert VideoLossSettings(weight_iou=0).weight_iou == 0
    refused("video.loss.weight_dice", lambda: VideoLossSettings(weight_dice=-0.5))


def test_focal_alpha_negative_means_no_weighting_and_gamma_0_is_plain_bce():
    loss = MultiStepMaskLoss.from_config(focal_alpha=-1.0, focal_gamma=0.0)
    assert (loss.focal_alpha, loss.focal_gamma) == (-1.0, 0.0)
    refused("video.loss.focal_alpha", lambda: MultiStepMaskLoss.from_config(focal_alpha=1.5))
    refused("video.loss.focal_gamma_obj_score",
            lambda: MultiStepMaskLoss.from_config(focal_gamma_obj_score=-0.1))


def test_group_values_left_out_empty_or_not_a_mapping():
    video = OmegaConf.create({"prompts": None, "loss": {}, "bad": False, "list": [1]})
    assert group_values(video, "prompts") == {}
    assert group_values(video, "missing") == {}
    assert group_values(video, "loss") == {}
    for key in ("bad", "list"):
        said = refused(f"video.{key}", lambda key=key: group_values(video, key))
        assert f"settings (video.{key}.<name>=...; leave it out for the defaults)" in said
