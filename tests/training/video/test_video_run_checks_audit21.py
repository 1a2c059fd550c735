"""Audit 21: the video run's readers of the config (training/video/run.py) called directly:
data.augmentation's refusals and the video.* numbers' defaults, without a run."""

import pytest
from omegaconf import OmegaConf

from samhq_train.errors import ConfigValueError
from samhq_train.training.video.config_checks import (
    clip_augmentation,
    video_numbers,
    video_regularisation,
)
from samhq_train.video_settings import VideoOptimSettings, VideoRegularisation


def augmentation(value):
    return clip_augmentation(OmegaConf.create({"augmentation": value}))


def test_no_augmentation_and_a_bad_value_named_by_its_full_key():
    assert augmentation(None) is None
    with pytest.raises(ConfigValueError) as err:
        augmentation({"degrees": -1})
    assert str(err.value).startswith("data.augmentation.degrees=-1: expected a number in [0, 180]")


def test_a_value_that_is_no_mapping_is_refused_as_such():
    """Mutant: no mapping check (OmegaConf's own error for a number or a list)."""
    for value in (True, 3, [1]):
        with pytest.raises(ConfigValueError, match=r"^data.augmentation=.*: a mapping of "
                                                   "degrees, shear"):
            augmentation(value)


def test_the_first_unknown_key_is_named():
    """Mutant: the last one named."""
    with pytest.raises(ConfigValueError, match=r"^data.augmentation.degree: not an "
                                               "augmentation setting; known: degrees"):
        augmentation({"degree": 5, "zoom": 2})


def test_numbers_left_out_take_the_records_defaults():
    """Mutant: 0 for a key left out (drop_path_rate / dropout would be off)."""
    assert video_regularisation(OmegaConf.create({})) == VideoRegularisation()
    assert video_numbers(OmegaConf.create({"lr": 1e-4}), VideoOptimSettings) == (
        VideoOptimSettings(lr=1e-4))
    with pytest.raises(ConfigValueError, match=r"^video.dropout=abc: expected a number "
                                               r"\(default 0.1\)"):
        video_regularisation(OmegaConf.create({"dropout": "abc"}))
