"""model.grad_checkpointing=true with video.freeze_image_encoder=true: the encoder runs without
gradients, so nothing would be recomputed; refused in one line before the model is built, as an
image run with a frozen-encoder policy is."""

import pytest

from samhq_train.errors import UserError
from samhq_train.train import train
from samhq_train.training.video import run as video_run

from .test_video_run import shapes, video_cfg  # noqa: F401 (the fixture)


def test_grad_checkpointing_with_a_frozen_encoder_is_refused(tmp_path, shapes, no_model):  # noqa: F811
    cfg = video_cfg(tmp_path, shapes, "video.freeze_image_encoder=true",
                    "model.grad_checkpointing=true")
    with pytest.raises(UserError) as info:
        train(cfg)
    assert str(info.value) == (
        "model.grad_checkpointing=true recomputes the image encoder's blocks in backward, but "
        "video.freeze_image_encoder=true runs the encoder without gradients: remove "
        "model.grad_checkpointing, or set video.freeze_image_encoder=false")


def test_grad_checkpointing_with_a_trained_encoder_passes_the_check(tmp_path, shapes):  # noqa: F811
    video_run.check_video_config(video_cfg(tmp_path, shapes, "video.freeze_image_encoder=false",
                                           "model.grad_checkpointing=true"))
