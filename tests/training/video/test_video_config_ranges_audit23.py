"""Mutation audit (round 23) of training/video/config_checks.py's ranges, at their edges:
video.dropout / drop_path_rate in [0, 1) (1 drops everything), video.layer_decay in (0, 1]
(0 zeroes every block's learning rate)."""

import pytest
from hydra import compose, initialize_config_dir

from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.errors import UserError
from samhq_train.training.video.config_checks import check_video_config


def video_cfg(tmp_path, *overrides):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("train", overrides=["experiment=video_finetune", f"data.root={tmp_path}",
                                           f"paths.output_dir={tmp_path}",
                                           "video.freeze_image_encoder=false", *overrides])


@pytest.mark.parametrize("key", ["dropout", "drop_path_rate"])
def test_a_regularisation_of_one_is_refused(tmp_path, key):
    check_video_config(video_cfg(tmp_path, f"video.{key}=0.99"))  # passes
    with pytest.raises(UserError, match=rf"^video.{key}=1.0: must be in \[0, 1\) \(0: off\)$"):
        check_video_config(video_cfg(tmp_path, f"video.{key}=1.0"))


def test_a_layer_decay_of_zero_is_refused(tmp_path):
    check_video_config(video_cfg(tmp_path, "video.layer_decay=1.0"))  # passes
    with pytest.raises(UserError, match=r"^video.layer_decay=0.0: must be in \(0, 1\]"):
        check_video_config(video_cfg(tmp_path, "video.layer_decay=0.0"))


def test_a_bad_augmentation_is_refused_by_the_config_check_itself(tmp_path):
    """samhq-train's check stage runs check_video_config: data.augmentation is refused there,
    not only by the run's loaders after the training stack is imported."""
    with pytest.raises(UserError, match=r"^data.augmentation.degrees=-1"):
        check_video_config(video_cfg(tmp_path, "data.augmentation.degrees=-1"))
